// Jobs: the tenant's jobs (GET /api/v0/jobs, cursor paging), one job with its events and logs,
// and cancel.
import { h, field, table, json, chip, replace } from "../dom.js";
import { request, query } from "../api.js";

const TERMINAL = new Set(["completed", "failed", "rejected", "cancelled"]);
const jobPath = (id) => `/jobs/${encodeURIComponent(id)}`;

export async function jobsPage(ctx) {
  const status = h("input", { type: "text", name: "status", autocomplete: "off", placeholder: "running" });
  const results = h("div", {});
  const more = h("div", {});
  let jobs = [];
  const load = async (cursor) => {
    const page = await request("GET", `/jobs${query({ status: status.value.trim(), limit: 20, cursor })}`);
    jobs = cursor ? jobs.concat(page.jobs) : page.jobs;
    replace(
      results,
      jobs.length
        ? table(
            `Jobs (${jobs.length} shown)`,
            ["Job", "Name", "Status", "Phase", "Submitted", "Finished"],
            jobs.map((j) => [
              h("a", { href: `#/jobs/${encodeURIComponent(j.job_id)}` }, j.job_id),
              j.name,
              chip(j.status),
              j.phase,
              j.submitted_at,
              j.finished_at || "",
            ]),
          )
        : h("p", {}, "No jobs yet. Agents submit them with the grid tools, or POST /api/v0/jobs."),
    );
    replace(
      more,
      page.has_more && page.next_cursor
        ? h("button", { type: "button", onclick: () => load(page.next_cursor).catch(ctx.notifyError) }, "More jobs")
        : null,
    );
  };
  const filters = h(
    "form",
    {
      class: "filters card",
      "aria-label": "Job filters",
      onsubmit: (event) => {
        event.preventDefault();
        load().catch(ctx.notifyError);
      },
    },
    field("Status", status, "pending, queued, running, completed, failed, cancelled…"),
    h("button", { type: "submit" }, "Apply filter"),
  );
  await load();
  return h("section", { "aria-labelledby": "jobs-h" }, h("h1", { id: "jobs-h" }, "Jobs"), filters, results, more);
}

export async function jobPage(ctx, id) {
  const [job, events, logs] = await Promise.all([
    request("GET", jobPath(id)),
    request("GET", `${jobPath(id)}/events`),
    request("GET", `${jobPath(id)}/logs${query({ limit: 500 })}`),
  ]);
  const reason = h("input", { type: "text", name: "reason", autocomplete: "off" });
  const cancel = TERMINAL.has(job.status)
    ? null
    : h(
        "form",
        {
          class: "card",
          "aria-label": "Cancel this job",
          onsubmit: async (event) => {
            event.preventDefault();
            try {
              const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
              const r = await request("POST", `${jobPath(id)}/cancel`, body);
              ctx.notify(`Job ${r.job_id}: ${r.status}${r.cancel_requested ? " (its runner was asked to stop it)" : ""}.`);
              await ctx.reload();
            } catch (error) {
              ctx.notifyError(error);
            }
          },
        },
        field("Reason (optional)", reason),
        h("button", { type: "submit", class: "danger" }, "Cancel job"),
      );
  return h(
    "section",
    { "aria-labelledby": "job-h" },
    h("p", {}, h("a", { href: "#/jobs" }, "← All jobs")),
    h("h1", { id: "job-h" }, job.name || job.job_id),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Job"),
      h("dd", {}, h("code", {}, job.job_id)),
      h("dt", {}, "Status"),
      h("dd", {}, chip(job.status), job.status_message ? ` ${job.status_message}` : ""),
      h("dt", {}, "Phase"),
      h("dd", {}, job.phase),
      h("dt", {}, "Image"),
      h("dd", {}, h("code", {}, job.image)),
      h("dt", {}, "Command"),
      h("dd", {}, h("code", {}, [...(job.command || []), ...(job.args || [])].join(" "))),
      job.failure ? [h("dt", {}, "Failure"), h("dd", {}, json(job.failure, "Failure"))] : null,
    ),
    cancel,
    h("h2", {}, "Events"),
    events.events.length
      ? table(
          "Lifecycle events",
          ["#", "When", "Level", "Title", "Message"],
          events.events.map((e) => [String(e.sequence), e.created_at, e.level, e.title, e.message]),
        )
      : h("p", {}, "No events yet."),
    h("h2", {}, "Logs"),
    logs.items.length
      ? h(
          "pre",
          { class: "logs", tabindex: "0", "aria-label": "Job logs" },
          logs.items.map((l) => `${l.created_at} ${l.stream}: ${l.message}\n`).join(""),
        )
      : h("p", {}, "No log lines yet."),
    logs.has_more ? h("p", { class: "hint" }, "More lines exist: read them with GET /api/v0/jobs/ID/logs?cursor=…") : null,
  );
}
