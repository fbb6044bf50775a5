//! The chaos run's result as a markdown table: the faults (kills per service, infrastructure
//! restarts), the commands (acknowledged, refused, lost, duplicated), each invariant's check,
//! the calls (made, failed, and for each fault how many failed and how long service was
//! degraded), and the details of anything that failed.

use crate::chaos::check::{AuditFindings, CommandFindings, EdgeFindings, StreamFindings};
use crate::chaos::faults::ReadyzDuringNats;
use crate::chaos::jobs::JobsVerdict;
use crate::chaos::ledger::{CallRecord, CommandKind, CommandRecord, FaultRecord, Outcome};
use std::collections::BTreeMap;
use std::fmt::Write;

pub struct Result {
    pub started: chrono::DateTime<chrono::Utc>,
    pub seed: u64,
    pub duration: u64,
    pub load_end: f64,
    pub settled_after: f64,
    pub outbox_left: i64,
    pub commands: CommandFindings,
    pub stream: StreamFindings,
    pub edges: EdgeFindings,
    pub audit: AuditFindings,
    pub readyz: ReadyzDuringNats,
    pub jobs: JobsVerdict,
    pub faults: Vec<FaultRecord>,
    pub calls: Vec<CallRecord>,
    pub command_log: Vec<CommandRecord>,
    pub unexpected_exits: Vec<String>,
    pub infra_restarts: bool,
    pub canopy: String,
}

impl Result {
    /// Why the run failed; empty when every check passed.
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        let c = &self.commands;
        let mut add = |what: &str, n: usize| {
            if n > 0 {
                failures.push(format!("{what}: {n}"));
            }
        };
        add("acknowledged commands lost", c.lost.len());
        add("commands duplicated in the log", c.duplicated.len());
        add("commands that must be refused but left a trace", c.wrongly_accepted.len());
        add("read-model mismatches", c.read_model_mismatches.len());
        add("events missing from the EVENTS stream", self.stream.missing.len());
        add("events duplicated in the EVENTS stream", self.stream.duplicated.len());
        add("stream messages that are no event", self.stream.not_in_table.len());
        add("edge views wrong", self.edges.mismatches.len());
        add("group endpoints wrong at an edge", self.edges.group_mismatches.len());
        add("users' tokens answered wrong at an edge", self.edges.user_mismatches.len());
        add("tenants' tokens answered wrong at an edge", self.edges.tenant_mismatches.len());
        add("returned calls without an audit record", self.audit.missing.len());
        add("calls with more than one audit record", self.audit.duplicated.len());
        add("outbox rows never published", self.outbox_left.max(0) as usize);
        for (what, n) in self.jobs.failures() {
            add(&what, n);
        }
        if self.infra_restarts {
            add(
                "edges whose /readyz did not say 503 naming nats while NATS was down",
                self.readyz.saw_503_naming_nats.iter().filter(|(_, saw)| !saw).count(),
            );
            add(
                "edges whose /readyz did not recover within a minute of NATS's return",
                self.readyz.recovered_after.iter().filter(|(_, after)| after.is_none()).count(),
            );
        }
        failures
    }

    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }
}

/// Per fault: the calls it may have touched (those running when it happened, and those started
/// after it and before the next fault), how many failed, and the longest
/// stretch in it during which calls failed and none succeeded (how long service was degraded):
/// a run of consecutive failed calls (by start time, over every caller), from the first one's
/// start to the last one's end.
struct FaultWindow {
    calls: usize,
    failed: usize,
    degraded: f64,
    /// Admin commands sent in the stretch whose answer was lost at least once.
    commands_retried: usize,
}

fn windows(
    faults: &[FaultRecord],
    calls: &[CallRecord],
    commands: &[CommandRecord],
    load_end: f64,
) -> Vec<FaultWindow> {
    let mut ordered: Vec<&FaultRecord> = faults.iter().collect();
    ordered.sort_by(|a, b| a.at.total_cmp(&b.at));
    // A call belongs to the first fault that happened while it ran (a call in flight on a
    // killed process started before the kill), else to the last fault before it started.
    fn fault_of(ordered: &[&FaultRecord], call: &CallRecord) -> Option<usize> {
        ordered
            .iter()
            .position(|f| f.at >= call.start && f.at <= call.end)
            .or_else(|| ordered.iter().rposition(|f| f.at < call.start))
    }
    ordered
        .iter()
        .enumerate()
        .map(|(i, fault)| {
            let end = ordered.get(i + 1).map_or(load_end, |next| next.at);
            let inside: Vec<&CallRecord> = calls.iter().filter(|c| fault_of(&ordered, c) == Some(i)).collect();
            let failed = inside.iter().filter(|c| c.error.is_some()).count();
            let mut by_start = inside.clone();
            by_start.sort_by(|a, b| a.start.total_cmp(&b.start));
            // A run of failures ends at the last one's end, or earlier when a call that started
            // after them succeeded (service was back by then).
            let (mut degraded, mut run): (f64, Option<(f64, f64)>) = (0.0, None);
            for call in by_start {
                run = match (call.error.is_some(), run) {
                    (true, None) => Some((call.start, call.end)),
                    (true, Some((first, last))) => Some((first, last.max(call.end))),
                    (false, Some((first, last))) => {
                        degraded = degraded.max(last.min(call.start) - first);
                        None
                    }
                    (false, None) => None,
                };
            }
            if let Some((first, last)) = run {
                degraded = degraded.max(last - first);
            }
            let commands_retried = commands.iter().filter(|c| c.at >= fault.at && c.at < end && c.attempts > 1).count();
            FaultWindow { calls: inside.len(), failed, degraded, commands_retried }
        })
        .collect()
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "**no**"
    }
}

pub fn render(r: &Result) -> String {
    let mut out = String::new();
    let failures = r.failures();
    let _ = writeln!(out, "# Chaos run {}\n", r.started.format("%Y-%m-%d %H:%M:%S UTC"));
    let _ = writeln!(
        out,
        "Seed **{}** (`--seed {}` repeats the choices), load for {} s, commit {}, `{}`; checks after {:.1} s of settling. \
         Canopy in enterprise mode as 8 processes (2 × api, edge, worker, poller; apis and edges behind HAProxy, \
         round robin, health checks on /readyz) on the run's own PostgreSQL, NATS (JetStream) and Redis.\n",
        r.seed,
        r.seed,
        r.duration,
        crate::git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into()),
        r.canopy,
        r.settled_after,
    );
    let verdict =
        if failures.is_empty() { "**PASS**".to_string() } else { format!("**FAIL**: {}", failures.join("; ")) };
    let _ = writeln!(out, "Verdict: {verdict}\n");

    // Faults.
    let mut per_target: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &r.faults {
        *per_target.entry(f.target.as_str()).or_default() += 1;
    }
    let kills: usize =
        ["api", "edge", "worker", "poller"].iter().map(|s| per_target.get(s).copied().unwrap_or(0)).sum();
    let count = |t: &str| per_target.get(t).copied().unwrap_or(0);
    let _ = writeln!(out, "## Faults\n");
    let _ = writeln!(out, "| kills (`kill -9`) | api | edge | worker | poller | restarts: postgres | nats | redis | processes that exited by themselves |");
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| {kills} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        count("api"),
        count("edge"),
        count("worker"),
        count("poller"),
        count("postgres"),
        count("nats"),
        count("redis"),
        r.unexpected_exits.len()
    );

    // Commands.
    let _ = writeln!(out, "## Commands\n");
    let _ = writeln!(out, "| command | sent | acknowledged (2xx) | answer lost, committed (409/404 on retry) | refused (4xx) | unknown | lost | duplicated |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    let kinds = [
        CommandKind::Register,
        CommandKind::Deregister,
        CommandKind::CreateGroup,
        CommandKind::UpdateGroup,
        CommandKind::DeleteGroup,
        CommandKind::CreateClient,
        CommandKind::DeleteClient,
        CommandKind::CreateUser,
        CommandKind::DeleteUser,
        CommandKind::CreateTenant,
        CommandKind::SuspendTenant,
        CommandKind::ResumeTenant,
        CommandKind::MustRefuse,
    ];
    let mut totals = [0usize; 7];
    for kind in kinds {
        let of: Vec<&CommandRecord> = r.command_log.iter().filter(|c| c.kind == kind).collect();
        let n = |f: &dyn Fn(&Outcome) -> bool| of.iter().filter(|c| f(&c.outcome)).count();
        let label = kind.label();
        let lost = r.commands.lost.iter().filter(|l| l.starts_with(label)).count();
        let duplicated = r.commands.duplicated.iter().filter(|l| l.starts_with(label)).count();
        let row = [
            of.len(),
            n(&|o| matches!(o, Outcome::Acked { .. })),
            n(&|o| matches!(o, Outcome::AckedEarlier { .. })),
            n(&|o| matches!(o, Outcome::Refused { .. })),
            n(&|o| matches!(o, Outcome::Unknown { .. })),
            lost,
            duplicated,
        ];
        for (total, value) in totals.iter_mut().zip(row) {
            *total += value;
        }
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} | {} | {} |",
            row[0], row[1], row[2], row[3], row[4], row[5], row[6]
        );
    }
    let t = totals;
    let _ = writeln!(
        out,
        "| **all** | {} | {} | {} | {} | {} | **{}** | **{}** |\n",
        t[0], t[1], t[2], t[3], t[4], t[5], t[6]
    );
    let retried = r.command_log.iter().filter(|c| c.attempts > 1).count();
    let _ = writeln!(out, "{retried} commands needed more than one attempt (answer lost; retried with the same body and idempotency key).\n");

    // Invariants.
    let c = &r.commands;
    let s = &r.stream;
    let e = &r.edges;
    let a = &r.audit;
    let _ = writeln!(out, "## Invariants\n");
    let _ = writeln!(out, "| check | seen | holds |");
    let _ = writeln!(out, "|---|---|---|");
    let _ = writeln!(
        out,
        "| every acknowledged command is in the event log, once | {} acknowledged, {} lost, {} duplicated | {} |",
        c.acknowledged + c.acknowledged_earlier,
        c.lost.len(),
        c.duplicated.len(),
        yes(c.lost.is_empty() && c.duplicated.is_empty())
    );
    let _ = writeln!(
        out,
        "| nothing refused is in the log or the read models | {} refused as expected, {} left a trace | {} |",
        c.refused_as_expected,
        c.wrongly_accepted.len(),
        yes(c.wrongly_accepted.is_empty())
    );
    let _ = writeln!(
        out,
        "| the read models hold what was acknowledged (servers, groups and their members, MCP clients, users, tenants and their suspension) | {} mismatches | {} |",
        c.read_model_mismatches.len(),
        yes(c.read_model_mismatches.is_empty())
    );
    let _ = writeln!(out, "| the outbox is published | {} rows left | {} |", r.outbox_left, yes(r.outbox_left == 0));
    let _ = writeln!(
        out,
        "| the EVENTS stream holds each event once | {} events, {} messages; {} missing, {} duplicated, {} unknown | {} |",
        s.events_in_table,
        s.messages_in_stream,
        s.missing.len(),
        s.duplicated.len(),
        s.not_in_table.len(),
        yes(s.missing.is_empty() && s.duplicated.is_empty() && s.not_in_table.is_empty())
    );
    let _ = writeln!(
        out,
        "| every edge (asked directly) lists what the read models give each principal, and refuses deleted clients' tokens | {} catalogs compared, {} deleted tokens tried; {} wrong | {} |",
        e.catalogs_compared,
        e.deleted_tokens_tried,
        e.mismatches.len(),
        yes(e.mismatches.is_empty())
    );
    let _ = writeln!(
        out,
        "| every edge serves each group's endpoint as its rules say (`/groups/NAME/mcp` lists the group's effective tools), and deleted groups are gone (404 unknown group) | {} groups compared, {} deleted groups tried, at {} edges; {} wrong | {} |",
        e.groups,
        e.deleted_groups,
        e.group_edges,
        e.group_mismatches.len(),
        yes(e.group_mismatches.is_empty())
    );
    let _ = writeln!(
        out,
        "| every edge accepts each existing user's token and refuses each deleted user's (`initialize` on `/mcp`: 401 `invalid_token` naming the endpoint's metadata) | {} users present, {} deleted, at {} edges; {} wrong | {} |",
        e.users_present,
        e.users_deleted,
        e.user_edges,
        e.user_mismatches.len(),
        yes(e.user_mismatches.is_empty())
    );
    let _ = writeln!(
        out,
        "| every edge refuses every token of a suspended tenant (the same 401) and accepts those of active tenants | {} tenants active, {} suspended, {} tokens, at {} edges; {} wrong | {} |",
        e.tenants_active,
        e.tenants_suspended,
        e.tenant_tokens,
        e.tenant_edges,
        e.tenant_mismatches.len(),
        yes(e.tenant_mismatches.is_empty())
    );
    let _ = writeln!(
        out,
        "| every call that returned has exactly one audit record | {} returned, {} found (caught up after {:.1} s); {} missing, {} duplicated | {} |",
        a.calls_returned,
        a.records_found,
        a.caught_up_after,
        a.missing.len(),
        a.duplicated.len(),
        yes(a.missing.is_empty() && a.duplicated.is_empty())
    );
    if r.infra_restarts {
        let saw: Vec<String> =
            r.readyz.saw_503_naming_nats.iter().map(|(edge, saw)| format!("{edge}: {}", yes(*saw))).collect();
        let back: Vec<String> = r
            .readyz
            .recovered_after
            .iter()
            .map(|(edge, after)| match after {
                Some(s) => format!("{edge}: {s:.1} s"),
                None => format!("{edge}: **not within 60 s**"),
            })
            .collect();
        let holds = r.readyz.saw_503_naming_nats.iter().all(|(_, saw)| *saw)
            && r.readyz.recovered_after.iter().all(|(_, after)| after.is_some());
        let _ = writeln!(
            out,
            "| an edge's /readyz is 503 naming nats while NATS is down, and 200 again after | 503 seen: {}; 200 after NATS returned: {} | {} |",
            saw.join(", "),
            back.join(", "),
            yes(holds)
        );
    } else {
        let _ = writeln!(
            out,
            "| an edge's /readyz names nats while NATS is down | not run (no infrastructure restarts) | – |"
        );
    }
    let _ = writeln!(
        out,
        "| every acknowledged job is one job that reached one terminal state | {} | {} |\n",
        r.jobs.describe(),
        yes(r.jobs.passed())
    );

    // Calls.
    let calls: Vec<&CallRecord> = r.calls.iter().filter(|c| c.message.is_some()).collect();
    let failed = calls.iter().filter(|c| c.error.is_some()).count();
    let reconnects_failed = r.calls.iter().filter(|c| c.message.is_none()).count();
    let ws = windows(&r.faults, &r.calls, &r.command_log, r.load_end);
    let longest = ws.iter().zip(&r.faults).max_by(|a, b| a.0.degraded.total_cmp(&b.0.degraded));
    let _ = writeln!(out, "## Calls (`fx__echo` through HAProxy)\n");
    let timed_out = calls.iter().filter(|c| c.error.as_deref() == Some(crate::chaos::load::TIMED_OUT)).count();
    let _ = writeln!(
        out,
        "| calls made | returned | failed | of which no answer within 15 s | failed sessions (initialize) | longest degraded window |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---|");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} |\n",
        calls.len(),
        calls.len() - failed,
        failed,
        timed_out,
        reconnects_failed,
        longest.map_or("–".to_string(), |(w, f)| format!("{:.1} s after {}", w.degraded, f.what))
    );
    let _ = writeln!(out, "## Faults in order\n");
    let _ = writeln!(out, "Calls and failures are those running when the fault happened or started after it and before the next one; degraded is the longest run of consecutive failed calls (by start time, every caller) in that stretch, from its first call's start to its last one's end or to the start of the next call that succeeded, whichever is first.\n");
    let _ = writeln!(
        out,
        "| # | at (s) | fault | ready again after (s) | calls | failed | degraded (s) | commands retried |"
    );
    let _ = writeln!(out, "|---:|---:|---|---:|---:|---:|---:|---:|");
    let mut ordered: Vec<&FaultRecord> = r.faults.iter().collect();
    ordered.sort_by(|a, b| a.at.total_cmp(&b.at));
    for (i, (fault, w)) in ordered.iter().zip(&ws).enumerate() {
        let back = fault.back_at.map_or("–".to_string(), |b| format!("{:.1}", b - fault.at));
        let _ = writeln!(
            out,
            "| {} | {:.1} | {} | {back} | {} | {} | {:.1} | {} |",
            i + 1,
            fault.at,
            fault.what,
            w.calls,
            w.failed,
            w.degraded,
            w.commands_retried
        );
    }
    let _ = writeln!(out);

    // Details of anything wrong.
    let lists: [(&str, &Vec<String>); 14] = [
        ("Acknowledged commands lost", &c.lost),
        ("Commands duplicated", &c.duplicated),
        ("Commands that must be refused but left a trace", &c.wrongly_accepted),
        ("Read-model mismatches", &c.read_model_mismatches),
        ("Events missing from the stream", &s.missing),
        ("Events duplicated in the stream", &s.duplicated),
        ("Stream messages that are no event", &s.not_in_table),
        ("Edge views wrong", &e.mismatches),
        ("Group endpoints wrong at an edge", &e.group_mismatches),
        ("Users' tokens answered wrong at an edge", &e.user_mismatches),
        ("Tenants' tokens answered wrong at an edge", &e.tenant_mismatches),
        ("Returned calls without an audit record", &a.missing),
        ("Calls with several audit records", &a.duplicated),
        ("Valid commands refused (not an invariant; for reading)", &c.refused_unexpectedly),
    ];
    for (title, list) in lists {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### {title} ({})\n", list.len());
        for item in list.iter().take(20) {
            let _ = writeln!(out, "- {item}");
        }
        if list.len() > 20 {
            let _ = writeln!(out, "- … and {} more", list.len() - 20);
        }
        let _ = writeln!(out);
    }
    // Calls that got no answer at all: when they started, the fault before them and any fault
    // while they waited, so a run says where to look (each call's message is unique: grep the
    // processes' logs for it).
    let silent: Vec<&&CallRecord> =
        calls.iter().filter(|c| c.error.as_deref() == Some(crate::chaos::load::TIMED_OUT)).collect();
    if !silent.is_empty() {
        let _ = writeln!(out, "### Calls with no answer within 15 s ({})\n", silent.len());
        for call in silent.iter().take(20) {
            let before = ordered.iter().filter(|f| f.at <= call.start).max_by(|a, b| a.at.total_cmp(&b.at));
            let fault = before.map_or("before any fault".to_string(), |f| {
                format!("{:.1} s after {} (at {:.1} s)", call.start - f.at, f.what, f.at)
            });
            let during: Vec<String> = ordered
                .iter()
                .filter(|f| f.at > call.start && f.at <= call.start + 15.0)
                .map(|f| format!("{} {:.1} s after it started", f.what, f.at - call.start))
                .collect();
            let during =
                if during.is_empty() { String::new() } else { format!("; while it waited: {}", during.join(", ")) };
            let message = call.message.as_deref().unwrap_or("-");
            let _ = writeln!(out, "- `{message}` started at {:.1} s, {fault}{during}", call.start);
        }
        let _ = writeln!(out);
    }
    if !r.unexpected_exits.is_empty() {
        let _ = writeln!(out, "### Processes that exited by themselves ({})\n", r.unexpected_exits.len());
        for item in r.unexpected_exits.iter().take(20) {
            let _ = writeln!(out, "- {item}");
        }
        let _ = writeln!(out);
    }
    let errors: BTreeMap<String, usize> =
        r.calls.iter().filter_map(|c| c.error.as_deref()).fold(BTreeMap::new(), |mut m, e| {
            let short: String = e.chars().take(100).collect();
            *m.entry(short).or_default() += 1;
            m
        });
    if !errors.is_empty() {
        let _ = writeln!(out, "### Call errors, by message\n");
        let mut by_count: Vec<(String, usize)> = errors.into_iter().collect();
        by_count.sort_by_key(|b| std::cmp::Reverse(b.1));
        for (message, n) in by_count.iter().take(10) {
            let _ = writeln!(out, "- {n} × `{}`", message.replace('`', "'"));
        }
        let _ = writeln!(out);
    }
    out
}
