// Audit: the tenant's audit log (GET /api/v0/audit), newest first, with its filters and its
// cursor: "Older entries" fetches the next page and appends it. "Live" asks every 2 s for what
// was recorded since the newest entry shown (the API has no stream of audit entries) and puts
// it on top, without a reload; it pauses while the tab is hidden.
import { h, field, table, chip, replace } from "../dom.js";
import { api, call, clean } from "../api.js";

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
  const live = h("input", { type: "checkbox", name: "live" });
  const liveState = h("p", { class: "hint live-state" });
  let rows = [];
  let seen = new Set();
  // The filters the rows shown were read with (live updates ask with the same).
  let filters = {};

  const render = () =>
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

  const load = async (cursor?: string) => {
    if (!cursor) filters = { kind: kind.value, outcome: outcome.value, server: server.value.trim(), actor: actor.value.trim() };
    const page = await call(() => api.GET("/api/v0/audit", { params: { query: clean({ ...filters, limit: 25, cursor }) } }));
    if (!cursor) seen = new Set();
    const fresh = page.entries.filter((e) => !seen.has(entryKey(e)));
    for (const e of fresh) seen.add(entryKey(e));
    rows = cursor ? rows.concat(fresh) : fresh;
    render();
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

  // Live: what was recorded since the newest entry shown (with a margin: an entry can be
  // recorded a little after its time), minus what is shown already, on top.
  let polling = false;
  const poll = async () => {
    if (polling || !live.checked || document.hidden || !results.isConnected) return;
    polling = true;
    try {
      const newest = rows.length ? Date.parse(rows[0].at) : Date.now() - 60_000;
      const since = new Date(newest - 30_000).toISOString();
      const fresh = [];
      let cursor;
      for (let pages = 0; pages < 5; pages += 1) {
        const page = await call(() =>
          api.GET("/api/v0/audit", { params: { query: clean({ ...filters, since, limit: 200, cursor }) } }),
        );
        fresh.push(...page.entries.filter((e) => !seen.has(entryKey(e))));
        cursor = page.next_cursor;
        if (!cursor) break;
      }
      for (const e of fresh) seen.add(entryKey(e));
      if (fresh.length) {
        rows = fresh.concat(rows).sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
        render();
      }
      replace(liveState, `Live: checked at ${new Date().toLocaleTimeString()}${fresh.length ? `, ${fresh.length} new` : ""}.`);
    } catch (error) {
      replace(liveState, `Live: the last check failed: ${error.message}.`);
    } finally {
      polling = false;
    }
  };
  const timer = setInterval(() => {
    if (!results.isConnected) {
      clearInterval(timer);
      document.removeEventListener("visibilitychange", onVisibility);
      return;
    }
    poll();
  }, 2000);
  const onVisibility = () => {
    if (!live.checked) return;
    if (document.hidden) replace(liveState, "Live: paused while the tab is hidden.");
    else poll();
  };
  document.addEventListener("visibilitychange", onVisibility);
  live.addEventListener("change", () => {
    if (live.checked) poll();
    else replace(liveState, "Live updates are off.");
  });

  const filterForm = h(
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
  return h(
    "section",
    { "aria-labelledby": "audit-h" },
    h("h1", { id: "audit-h" }, "Audit"),
    filterForm,
    h(
      "div",
      { class: "live" },
      field("Live", live),
      h("p", { class: "hint" }, "Show new entries as they are recorded (checked every 2 s)."),
      liveState,
    ),
    results,
    more,
  );
}

/** What identifies an entry: its call's or event's id. */
function entryKey(e) {
  return e.call_id || e.event_id || `${e.at} ${e.kind} ${e.actor} ${e.server || ""} ${e.name || ""} ${e.event_type || ""}`;
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
