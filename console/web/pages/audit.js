// Audit: the tenant's audit log (GET /api/v0/audit), newest first, with its filters and its
// cursor: "Older entries" fetches the next page and appends it.
import { h, field, table, chip, replace } from "../dom.js";
import { request, query } from "../api.js";

export async function auditPage(ctx) {
  const kind = h(
    "select",
    { name: "kind" },
    h("option", { value: "" }, "All"),
    h("option", { value: "call" }, "Calls"),
    h("option", { value: "admin" }, "Admin actions"),
  );
  const outcome = h(
    "select",
    { name: "outcome" },
    h("option", { value: "" }, "Any"),
    h("option", { value: "ok" }, "ok"),
    h("option", { value: "tool_error" }, "tool_error"),
    h("option", { value: "error" }, "error"),
  );
  const server = h("input", { type: "text", name: "server", autocomplete: "off" });
  const actor = h("input", { type: "text", name: "actor", autocomplete: "off", placeholder: "user:alice" });
  const results = h("div", {});
  const more = h("div", {});
  let rows = [];

  const load = async (cursor) => {
    const q = { kind: kind.value, outcome: outcome.value, server: server.value.trim(), actor: actor.value.trim(), limit: 25, cursor };
    const page = await request("GET", `/audit${query(q)}`);
    rows = cursor ? rows.concat(page.entries) : page.entries;
    replace(
      results,
      rows.length
        ? table(
            `Audit log (${rows.length} shown)`,
            ["When", "Kind", "Actor", "What", "Outcome", "Latency", "Summary"],
            rows.map(entryRow),
          )
        : h("p", {}, "No audit entries match."),
    );
    replace(
      more,
      page.next_cursor
        ? h(
            "button",
            {
              type: "button",
              onclick: () => load(page.next_cursor).catch(ctx.notifyError),
            },
            "Older entries",
          )
        : rows.length
          ? h("p", { class: "hint" }, "That is the oldest entry.")
          : null,
    );
  };

  const filters = h(
    "form",
    {
      class: "filters card",
      "aria-label": "Audit filters",
      onsubmit: (event) => {
        event.preventDefault();
        load().catch(ctx.notifyError);
      },
    },
    field("Kind", kind),
    field("Outcome", outcome),
    field("Server", server),
    field("Actor", actor),
    h("button", { type: "submit" }, "Apply filters"),
  );
  await load();
  return h("section", { "aria-labelledby": "audit-h" }, h("h1", { id: "audit-h" }, "Audit"), filters, results, more);
}

function entryRow(e) {
  const what =
    e.kind === "call"
      ? [e.method || "", " ", h("code", {}, [e.server, e.name].filter(Boolean).join("__"))]
      : [e.event_type || "", " ", h("code", {}, [e.aggregate_type, e.aggregate_id].filter(Boolean).join(" "))];
  const outcome = e.error_code ? [chip(e.outcome), " ", e.error_code] : chip(e.outcome);
  return [
    h("time", { datetime: e.at }, e.at.replace("T", " ").replace(/\.\d+/, "")),
    e.kind,
    e.actor,
    h("span", {}, what),
    outcome,
    e.latency_ms !== undefined && e.latency_ms !== null ? `${e.latency_ms} ms` : "",
    e.summary || "",
  ];
}
