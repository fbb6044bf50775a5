// Building DOM without HTML strings: every piece of data becomes a text node or an attribute
// value, so nothing the API returns can be read as markup.

/**
 * `h("button", { type: "button", onclick: f }, "Save")`. Attributes starting with `on` are
 * listeners; `class`, `for`, `aria-*`, `data-*` and the rest are set as attributes; `false`,
 * `null` and `undefined` attributes are left out. Children: nodes, strings (as text), arrays,
 * or null (skipped).
 */
export function h(tag: string, attrs: Record<string, any> = {}, ...children: any[]): any {
  const el: any = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "value") {
      el.value = value;
    } else if (key === "checked") {
      el.checked = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el: Element, children: any[]) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces everything inside `el` with `children`. */
export function replace(el: Element, ...children: any[]) {
  el.replaceChildren();
  append(el, children);
}

let nextId = 0;
/** A fresh id for pairing a label with its control. */
export function uid(prefix: string): string {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/** A labelled control: `<div class="field"><label for=id>text</label>control hint</div>`. */
export function field(labelText: string, control: any, hint?: string) {
  if (!control.id) control.id = uid("f");
  const parts: any[] = [h("label", { for: control.id }, labelText), control];
  if (hint) {
    const hintId = uid("hint");
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("p", { class: "hint", id: hintId }, hint));
  }
  return h("div", { class: control.type === "checkbox" ? "field check" : "field" }, ...parts);
}

/** A table with a caption, header cells and rows of cells (strings or nodes). */
export function table(caption: string, headers: string[], rows: any[][]) {
  return h(
    "div",
    { class: "table-wrap" },
    // Each cell names its column (`data-label`): at phone width the rows stack as cards, and
    // the explicit roles keep the table a table for screen readers once CSS changes `display`.
    h(
      "table",
      { role: "table" },
      h("caption", {}, caption),
      h(
        "thead",
        { role: "rowgroup" },
        h("tr", { role: "row" }, headers.map((text) => h("th", { scope: "col", role: "columnheader" }, text))),
      ),
      h("tbody", { role: "rowgroup" }, rows.map((cells) => tableRow(headers, cells))),
    ),
  );
}

/** One body row of a `table(...)` (to append rows in place as they come). */
export function tableRow(headers: string[], cells: any[]) {
  return h("tr", { role: "row" }, cells.map((cell, i) => h("td", { role: "cell", "data-label": headers[i] }, cell)));
}

/** Pretty JSON in a `<pre>`, as text. */
export function json(value: unknown, label?: string) {
  return h("pre", { class: "json", tabindex: "0", "aria-label": label || "JSON" }, JSON.stringify(value, null, 2));
}

/** A short status chip: `ready`, `error`, `pending`, `enabled`... */
export function chip(text: string, kind?: string) {
  return h("span", { class: `chip chip-${kind || text}` }, text);
}
