//! The result file: machine facts, one row per (target, concurrency) with the median of the
//! repeated measurements, and Canopy's cost against the direct upstream, checked against the
//! gateway issue's goals.

use crate::measure::{median, Sample, CPU_PARTS};
use crate::Target;
use std::fmt::Write;

/// Canopy's added median latency at concurrency 1 should stay under this (µs).
pub const GOAL_OVERHEAD_US: f64 = 150.0;
/// At concurrency 32 Canopy should keep at least this fraction of direct throughput.
pub const GOAL_THROUGHPUT_RATIO: f64 = 0.5;

pub struct Facts {
    pub started: chrono::DateTime<chrono::Utc>,
    pub nproc: usize,
    pub cpu: String,
    pub load_before: String,
    pub load_after: String,
    pub harness_profile: &'static str,
    pub canopy: String,
    pub canopy_built: String,
    pub commit: String,
    pub calls: usize,
    pub warmup: usize,
    pub repeats: usize,
    pub max_seconds: f64,
    pub keep_alive: bool,
    pub worker_keep_alive: bool,
}

/// Every sample of one (target, concurrency), in the order they were taken.
pub struct Row {
    pub target: Target,
    pub concurrency: usize,
    pub samples: Vec<Sample>,
}

impl Row {
    fn median(&self) -> Sample {
        median(&self.samples)
    }
}

pub fn render(facts: &Facts, rows: &[Row]) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "# Canopy load test, {}\n", facts.started.format("%Y-%m-%d %H:%M:%S UTC"));
    let _ = writeln!(
        w,
        "- machine: {} CPUs ({}), load average before {} / after {}",
        facts.nproc, facts.cpu, facts.load_before, facts.load_after
    );
    let _ = writeln!(
        w,
        "- harness profile: {}; canopy binary: `{}` (built {}); tree: {}",
        facts.harness_profile, facts.canopy, facts.canopy_built, facts.commit
    );
    let _ = writeln!(w, "- tool: `echo` (fixture server, Streamable HTTP, one process on loopback); through Canopy: `fx__echo` at `/mcp`");
    let _ = writeln!(
        w,
        "- harness clients: rmcp Streamable HTTP, {}",
        if facts.keep_alive {
            "reusing HTTP connections (--keep-alive)"
        } else {
            "rmcp's default client (a new TCP connection per request)"
        }
    );
    let _ = writeln!(
        w,
        "- Canopy's session-worker to the upstream: {}",
        if facts.worker_keep_alive {
            "reusing HTTP connections (--worker-keep-alive: CANOPY_UPSTREAM_KEEP_ALIVE=true)"
        } else {
            "a new TCP connection per request (CANOPY_UPSTREAM_KEEP_ALIVE=false)"
        }
    );
    let _ = writeln!(
        w,
        "- each measurement: {} calls spread over the sessions (at most {} s), after {} warm-up calls per session; one MCP session per concurrent client; every figure is the median of {} measurements, targets interleaved\n",
        facts.calls, facts.max_seconds, facts.warmup, facts.repeats
    );

    let _ = writeln!(w, "## Latency and throughput\n");
    let cpu_heads: Vec<String> = CPU_PARTS.iter().map(|p| format!("{p} CPU µs/call")).collect();
    let _ = writeln!(
        w,
        "| target | concurrency | calls | errors | p50 µs | p90 µs | p99 µs | max µs | calls/s | p50 µs of each run | calls/s of each run | {} |",
        cpu_heads.join(" | ")
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|{}", "---:|".repeat(CPU_PARTS.len()));
    for row in rows {
        let m = row.median();
        let each =
            |f: fn(&Sample) -> f64| row.samples.iter().map(|s| format!("{:.0}", f(s))).collect::<Vec<_>>().join(", ");
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {} |",
            row.target.label(),
            row.concurrency,
            m.calls,
            m.errors,
            m.p50,
            m.p90,
            m.p99,
            m.max,
            m.calls_per_sec,
            each(|s| s.p50),
            each(|s| s.calls_per_sec),
            m.cpu.iter().map(|&us| cpu(us)).collect::<Vec<_>>().join(" | "),
        );
    }

    let comparisons = compare(rows);
    if !comparisons.is_empty() {
        let _ = writeln!(w, "\n## Canopy against the direct upstream\n");
        let _ = writeln!(w, "| concurrency | target | p50 overhead µs | p90 overhead µs | throughput ratio |");
        let _ = writeln!(w, "|---:|---|---:|---:|---:|");
        for c in &comparisons {
            let _ = writeln!(
                w,
                "| {} | {} | {:+.0} | {:+.0} | {:.2} |",
                c.concurrency,
                c.target.label(),
                c.p50_overhead,
                c.p90_overhead,
                c.ratio
            );
        }
        let _ = writeln!(w, "\n## Goals\n");
        for c in &comparisons {
            if c.concurrency == 1 {
                let _ = writeln!(
                    w,
                    "- {}: adds {:.0} µs at the median at concurrency 1 (goal: under {GOAL_OVERHEAD_US:.0} µs): **{}**",
                    c.target.label(),
                    c.p50_overhead,
                    verdict(c.p50_overhead < GOAL_OVERHEAD_US)
                );
            }
            if c.concurrency == 32 {
                let _ = writeln!(
                    w,
                    "- {}: keeps {:.0}% of direct throughput at concurrency 32 (goal: at least {:.0}%): **{}**",
                    c.target.label(),
                    c.ratio * 100.0,
                    GOAL_THROUGHPUT_RATIO * 100.0,
                    verdict(c.ratio >= GOAL_THROUGHPUT_RATIO)
                );
            }
        }
    }
    out
}

fn cpu(us: f64) -> String {
    if us.is_nan() {
        "–".into()
    } else {
        format!("{us:.0}")
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "missed"
    }
}

struct Comparison {
    concurrency: usize,
    target: Target,
    p50_overhead: f64,
    p90_overhead: f64,
    ratio: f64,
}

/// Each Canopy row against the direct row of the same concurrency (medians on both sides).
fn compare(rows: &[Row]) -> Vec<Comparison> {
    let mut out = Vec::new();
    for direct in rows.iter().filter(|r| r.target == Target::Direct) {
        let d = direct.median();
        for row in rows.iter().filter(|r| r.target != Target::Direct && r.concurrency == direct.concurrency) {
            let m = row.median();
            out.push(Comparison {
                concurrency: row.concurrency,
                target: row.target,
                p50_overhead: m.p50 - d.p50,
                p90_overhead: m.p90 - d.p90,
                ratio: m.calls_per_sec / d.calls_per_sec,
            });
        }
    }
    out
}
