// Jobs: the tenant's jobs (GET /api/v0/jobs, cursor paging) and its uploaded inputs and scripts
// (GET /api/v0/job-inputs), one job with the inputs it mounts, its events and status (asked
// again every 2 s while it has not ended: the API has no stream of job events), its logs
// (followed live while it runs: GET /jobs/ID/logs?follow=true; both paused while the tab is
// hidden; once it has ended, read on page after page with the logs' cursor),
// its artifacts (downloaded through a short-lived signed URL the page never shows nor keeps),
// and cancel.
import { h, field, table, tableRow, json, chip, replace } from "../dom.js";
import { api, call, clean, followJobLogs, downloadArtifact, ApiError, type Schemas } from "../api.js";

const TERMINAL = new Set(["completed", "failed", "rejected", "cancelled"]);
const byId = (id: string) => ({ params: { path: { id } } });

export async function jobsPage(ctx) {
  const status = h("input", { type: "text", name: "status", autocomplete: "off", placeholder: "running" });
  const results = h("div", {});
  const more = h("div", {});
  let jobs = [];
  const load = async (cursor?: string) => {
    const page = await call(() =>
      api.GET("/api/v0/jobs", { params: { query: clean({ status: status.value.trim(), limit: "20", cursor }) } }),
    );
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
  const [, inputs] = await Promise.all([load(), call(() => api.GET("/api/v0/job-inputs")).catch((error: ApiError) => error)]);
  return h(
    "section",
    { "aria-labelledby": "jobs-h" },
    h("h1", { id: "jobs-h" }, "Jobs"),
    filters,
    results,
    more,
    h("h2", {}, "Inputs and scripts"),
    uploadsView(inputs),
  );
}

/** The tenant's uploads (GET /job-inputs), which jobs mount by id. */
function uploadsView(view) {
  if (view instanceof ApiError) return h("p", { class: "error" }, `${view.message} (${view.code})`);
  if (!view.inputs.length) {
    return h("p", {}, "No inputs uploaded yet. Agents upload them with the grid tools, or POST /api/v0/job-inputs.");
  }
  return table(
    "Uploaded inputs and scripts",
    ["Input", "File", "Kind", "Status", "Size", "Mounted at", "Created"],
    view.inputs.map((i) => [
      h("code", {}, i.input_id),
      i.filename,
      i.kind,
      chip(i.ready ? "ready" : i.status, i.ready ? "ready" : "pending"),
      i.size_bytes === undefined || i.size_bytes === null ? "" : size(i.size_bytes),
      h("code", {}, i.mount_path),
      i.created_at,
    ]),
  );
}

/** What a job mounts: its input files and its script, where its command finds them. */
function mountedView(job) {
  const mounted = [...(job.input_files || []), ...(job.script_file ? [job.script_file] : [])];
  if (!mounted.length) return h("p", {}, "This job mounts no uploaded input.");
  return table(
    "Inputs",
    ["File", "Kind", "Content type", "Size", "Mounted at", "Input"],
    mounted.map((i) => [i.filename, i.kind, i.content_type, size(i.size_bytes), h("code", {}, i.mount_path), h("code", {}, i.input_id)]),
  );
}

export async function jobPage(ctx, id) {
  const [job, events, logs, artifacts] = await Promise.all([
    call(() => api.GET("/api/v0/jobs/{id}", byId(id))),
    call(() => api.GET("/api/v0/jobs/{id}/events", byId(id))),
    call(() => api.GET("/api/v0/jobs/{id}/logs", { params: { path: { id }, query: { limit: String(LOG_PAGE) } } })),
    call(() => api.GET("/api/v0/jobs/{id}/artifacts", byId(id))).catch((error: ApiError) => error),
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
              const r = await call(() => api.POST("/api/v0/jobs/{id}/cancel", { ...byId(id), body }));
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
  // What changes while the job runs, updated in place.
  const statusDd = h("dd", {});
  const phaseDd = h("dd", {});
  const showState = (j) => {
    replace(statusDd, chip(j.status), j.status_message ? ` ${j.status_message}` : "");
    replace(phaseDd, j.phase);
  };
  showState(job);
  const lifecycle = eventsView(events);
  const section = h(
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
      statusDd,
      h("dt", {}, "Phase"),
      phaseDd,
      h("dt", {}, "Image"),
      h("dd", {}, h("code", {}, job.image)),
      h("dt", {}, "Command"),
      h("dd", {}, h("code", {}, [...(job.command || []), ...(job.args || [])].join(" "))),
      job.failure ? [h("dt", {}, "Failure"), h("dd", {}, json(job.failure, "Failure"))] : null,
    ),
    cancel,
    h("h2", {}, "Inputs"),
    mountedView(job),
    h("h2", {}, "Events"),
    lifecycle.box,
  );
  const refresh = async () => {
    const [fresh, latest] = await Promise.all([
      call(() => api.GET("/api/v0/jobs/{id}", byId(id))),
      call(() => api.GET("/api/v0/jobs/{id}/events", byId(id))),
    ]);
    showState(fresh);
    lifecycle.update(latest);
  };
  section.append(...logsSection(ctx, job, logs, refresh).filter(Boolean));
  section.append(h("h2", {}, "Artifacts"), artifactsView(ctx, job, artifacts));
  return section;
}

const EVENT_HEADERS = ["#", "When", "Level", "Title", "Message"];
const eventCells = (e) => [String(e.sequence), e.created_at, e.level, e.title, e.message];

/** The lifecycle events' table; `update(view)` appends the events it does not show yet. */
function eventsView(view) {
  const box = h("div", {});
  const seen = new Set();
  const render = (events) => {
    for (const e of events) seen.add(e.id);
    replace(box, events.length ? table("Lifecycle events", EVENT_HEADERS, events.map(eventCells)) : h("p", {}, "No events yet."));
  };
  render(view.events);
  const update = (latest) => {
    const added = latest.events.filter((e) => !seen.has(e.id));
    const body = box.querySelector("tbody");
    if (!added.length) return;
    if (!body) return render(latest.events);
    for (const e of added) {
      seen.add(e.id);
      body.append(tableRow(EVENT_HEADERS, eventCells(e)));
    }
  };
  return { box, update };
}

const logLine = (l) => `${l.created_at} ${l.stream}: ${l.message}\n`;
/** Log lines asked for at a time (the API answers at most 1000). */
const LOG_PAGE = 500;

/**
 * An ended job's lines after the first page: "More log lines" reads the next page from the
 * logs' cursor and appends it, until there is none.
 */
function moreLines(ctx, job, logs, pre) {
  let cursor = logs.next_cursor;
  let shown = logs.items.length;
  const count = h("p", { class: "hint", "aria-live": "polite" }, `The first ${shown} lines; the job printed more.`);
  const button = h(
    "button",
    {
      type: "button",
      onclick: async () => {
        button.disabled = true;
        try {
          // Asked for JSON (the route also answers an event stream, hence the type's union).
          const page = (await call(() =>
            api.GET("/api/v0/jobs/{id}/logs", {
              params: { path: { id: job.job_id }, query: clean({ limit: String(LOG_PAGE), cursor }) },
            }),
          )) as Schemas["JobLogsView"];
          pre.append(page.items.map(logLine).join(""));
          shown += page.items.length;
          cursor = page.next_cursor || cursor;
          if (page.has_more) {
            replace(count, `The first ${shown} lines; the job printed more.`);
            button.disabled = false;
          } else {
            replace(count, `All ${shown} lines.`);
            button.remove();
            pre.focus();
          }
        } catch (error) {
          ctx.notifyError(error);
          button.disabled = false;
        }
      },
    },
    "More log lines",
  );
  return h("div", { class: "live" }, count, button);
}

/**
 * The job's log lines; while it runs, a "Live" switch follows new lines as they are stored and
 * calls `refresh` (the job's status and events) every 2 s.
 */
function logsSection(ctx, job, logs, refresh) {
  const pre = h("pre", { class: "logs", tabindex: "0", "aria-label": "Job logs" }, logs.items.map(logLine).join(""));
  const empty = h("p", {}, "No log lines yet.");
  pre.hidden = !logs.items.length;
  empty.hidden = logs.items.length > 0;
  if (TERMINAL.has(job.status)) {
    return [h("h2", {}, "Logs"), pre, empty, logs.has_more ? moreLines(ctx, job, logs, pre) : null];
  }

  let cursor = logs.next_cursor || (logs.items.length ? logs.items[logs.items.length - 1].entry_id : "");
  let controller = null;
  const state = h("p", { class: "hint live-state" });
  const live = h("input", { type: "checkbox", name: "live", checked: true });
  const stop = () => {
    if (controller) controller.abort();
    controller = null;
  };
  // The page was left (or shown again by a reload): this one follows no more.
  const gone = () => !pre.isConnected;
  const follow = async () => {
    if (controller || !live.checked || document.hidden || gone()) return;
    controller = new AbortController();
    const mine = controller;
    replace(state, "Live: following new lines as the job prints them, and its status and events.");
    try {
      let ended = false;
      const finished = await followJobLogs(
        job.job_id,
        cursor,
        (event) => {
          if (gone()) stop();
          else if (event.event === "log" && event.data && typeof event.data === "object") {
            cursor = event.data.entry_id || event.id || cursor;
            pre.append(logLine(event.data));
            pre.hidden = false;
            empty.hidden = true;
          } else if (event.event === "end") {
            ended = TERMINAL.has(event.data && event.data.status);
          }
        },
        mine.signal,
      );
      if (controller === mine) controller = null;
      if (!finished || gone()) return;
      if (ended) {
        // The job is over: show its final state (status, events, artifacts).
        live.checked = false;
        replace(state, "The job has ended.");
        await ctx.reload();
        return;
      }
      // The server ends a follow after a while: follow again from where it stopped.
      setTimeout(follow, 500);
    } catch (error) {
      if (controller === mine) controller = null;
      if (mine.signal.aborted || gone()) return;
      replace(state, `Live updates stopped: ${error.message}. `);
      live.checked = false;
    }
  };
  live.addEventListener("change", () => {
    if (live.checked) follow();
    else {
      stop();
      replace(state, "Paused.");
    }
  });
  const onVisibility = () => {
    if (gone()) return;
    if (document.hidden) {
      stop();
      replace(state, "Paused while the tab is hidden.");
    } else follow();
  };
  document.addEventListener("visibilitychange", onVisibility);
  // The status and events, asked again while live (one question at a time).
  let asking = false;
  const poll = setInterval(async () => {
    if (asking || !live.checked || document.hidden || gone()) return;
    asking = true;
    try {
      await refresh();
    } catch (error) {
      if (!gone()) replace(state, `The job's status could not be read: ${error.message}. `);
    } finally {
      asking = false;
    }
  }, 2000);
  const watchdog = setInterval(() => {
    if (!gone()) return;
    stop();
    clearInterval(poll);
    clearInterval(watchdog);
    document.removeEventListener("visibilitychange", onVisibility);
  }, 2000);
  // Start once the page is shown (the section is attached after this returns).
  setTimeout(follow, 0);
  // Lines past the first page come with the follow, which starts from the page's cursor.
  return [h("h2", {}, "Logs"), h("div", { class: "live" }, field("Live", live), state), pre, empty];
}

function size(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]} (${bytes} bytes)`;
}

// Up to this size an artifact is fetched into the page and saved under its own file name;
// bigger ones are opened from their signed URL (the object store names the file).
const IN_PAGE_MAX = 256 * 1024 * 1024;

/** Saves `href` as `filename` through a link made for the occasion and dropped at once. */
function save(href, filename, newTab) {
  const link = document.createElement("a");
  link.href = href;
  link.download = filename;
  link.rel = "noopener noreferrer";
  if (newTab) link.target = "_blank";
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  link.removeAttribute("href");
}

/**
 * Downloads one artifact through the API's download route (GET …/artifacts/ID/download, a 307 to
 * a short-lived signed URL that fetch follows: the page never sees the URL, a bearer secret).
 * When the bytes live on another origin (an object store the console's CSP does not connect
 * to), or the artifact is big, GET …/artifacts/ID answers the signed URL, which a link made for
 * the occasion opens in a new tab (the console and its session stay) and forgets at once: the
 * URL is never shown, logged nor kept.
 */
async function download(ctx, job, artifact, button) {
  button.disabled = true;
  const path = { id: job.job_id, artifact_id: artifact.artifact_id };
  const filename = artifact.filename.split("/").pop();
  try {
    let blob = null;
    if (artifact.size_bytes <= IN_PAGE_MAX) {
      try {
        blob = await downloadArtifact(path.id, path.artifact_id);
      } catch (error) {
        if (error.code !== "NETWORK") throw error;
      }
    }
    if (blob) {
      const href = URL.createObjectURL(blob);
      save(href, filename, false);
      setTimeout(() => URL.revokeObjectURL(href), 60_000);
    } else {
      const answer = await call(() => api.GET("/api/v0/jobs/{id}/artifacts/{artifact_id}", { params: { path } }));
      save(answer.download_url, filename, new URL(answer.download_url, location.href).origin !== location.origin);
    }
    ctx.notify(`Downloading ${artifact.filename}.`);
  } catch (error) {
    ctx.notifyError(error);
  } finally {
    button.disabled = false;
  }
}

function artifactsView(ctx, job, view) {
  if (view instanceof ApiError) return h("p", { class: "error" }, `${view.message} (${view.code})`);
  const parts = [];
  if (!view.artifacts_ready && !TERMINAL.has(job.status)) {
    parts.push(h("p", {}, "Artifacts appear here once the job has ended (what it leaves under /workspace/artifacts/)."));
  } else if (!view.artifacts.length) {
    parts.push(h("p", {}, "The job left no artifacts."));
  } else {
    parts.push(
      table(
        "Artifacts",
        ["File", "Size", "Content type", "SHA-256", "Created", "Actions"],
        view.artifacts.map((a) => {
          const button = h(
            "button",
            { type: "button", onclick: () => download(ctx, job, a, button), disabled: !a.ready },
            `Download ${a.filename}`,
          );
          return [h("code", {}, a.filename), size(a.size_bytes), a.content_type, h("code", { class: "digest" }, a.sha256), a.created_at, button];
        }),
      ),
    );
  }
  if (view.missing && view.missing.length) {
    parts.push(h("p", { class: "error" }, "Expected but not left by the job: ", view.missing.join(", ")));
  }
  return h("div", {}, parts);
}
