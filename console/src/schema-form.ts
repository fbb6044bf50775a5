// A form generated from a tool's JSON Schema (its `inputSchema`): one labelled control per
// top-level property. Strings (and string enums), numbers, integers and booleans get inputs of
// their own; anything else (objects, arrays, unions) is typed as JSON in a text area.
import { h, field, uid } from "./dom.js";

function kindOf(schema) {
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  if (Array.isArray(schema.enum) && schema.enum.every((v) => typeof v === "string")) return "enum";
  if (type === "string" || type === "number" || type === "integer" || type === "boolean") return type;
  return "json";
}

function control(name, schema, required) {
  const kind = kindOf(schema);
  const common = { name, "data-kind": kind, required: required && kind !== "boolean" };
  switch (kind) {
    case "enum":
      return h(
        "select",
        common,
        required ? null : h("option", { value: "" }, "(none)"),
        schema.enum.map((v) => h("option", { value: v }, v)),
      );
    case "string":
      return h("input", { ...common, type: "text", autocomplete: "off", value: schema.default ?? "" });
    case "number":
    case "integer":
      return h("input", {
        ...common,
        type: "number",
        step: kind === "integer" ? "1" : "any",
        value: schema.default ?? "",
      });
    case "boolean":
      return h("input", { ...common, type: "checkbox", checked: schema.default === true });
    default:
      return h("textarea", {
        ...common,
        rows: "3",
        spellcheck: "false",
        value: schema.default !== undefined ? JSON.stringify(schema.default) : "",
      });
  }
}

/**
 * The form's fields for `schema`, and `read()`, which returns the arguments object (empty
 * optional fields left out) or throws an Error naming the field that is wrong.
 */
export function schemaFields(schema) {
  const properties = (schema && schema.properties) || {};
  const required = new Set((schema && schema.required) || []);
  const controls = [];
  const fields = Object.entries(properties).map(([name, prop]) => {
    const p: any = prop && typeof prop === "object" ? prop : {};
    const input = control(name, p, required.has(name));
    input.id = uid("arg");
    controls.push([name, input]);
    const label = `${p.title || name}${required.has(name) ? " (required)" : ""}`;
    const kind = input.dataset.kind;
    const hints = [p.description, kind === "json" ? "as JSON" : null].filter(Boolean);
    return field(label, input, hints.join(" · ") || null);
  });
  const read = () => {
    const args = {};
    for (const [name, input] of controls) {
      const kind = input.dataset.kind;
      if (kind === "boolean") {
        args[name] = input.checked;
        continue;
      }
      const raw = input.value;
      if (raw === "") {
        if (required.has(name) && kind !== "string") throw new Error(`${name} is required`);
        if (required.has(name)) args[name] = "";
        continue;
      }
      if (kind === "number" || kind === "integer") {
        const n = Number(raw);
        if (!Number.isFinite(n) || (kind === "integer" && !Number.isInteger(n))) {
          throw new Error(`${name} must be ${kind === "integer" ? "a whole number" : "a number"}`);
        }
        args[name] = n;
      } else if (kind === "json") {
        try {
          args[name] = JSON.parse(raw);
        } catch {
          throw new Error(`${name} is not valid JSON`);
        }
      } else {
        args[name] = raw;
      }
    }
    return args;
  };
  return { fields, read, names: Object.keys(properties) };
}
