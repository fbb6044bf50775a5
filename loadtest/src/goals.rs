//! The table of the workload benchmarks (`jobs`, `sandbox`): one line per measurement, a
//! distribution (n, median, p90, p99, max, in ms) or a single figure, each with the issue's
//! goal and whether this run met it.

use crate::measure::nearest_rank;
use anyhow::Context;
use chrono::{DateTime, Utc};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// What a workload benchmark deploys (the binary), where its deployments get their
/// infrastructure, and where its result file goes.
#[derive(clap::Args, Clone, Debug)]
pub struct BenchEnv {
    /// The canopy binary (`cargo build --release -p canopy`).
    #[arg(long, default_value_os_t = crate::workspace_root().join("target/release/canopy"))]
    pub canopy: PathBuf,
    /// PostgreSQL server where the per-deployment databases are created (then dropped).
    #[arg(long, env = "CANOPY_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub database_url: String,
    #[arg(long, env = "CANOPY_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    #[arg(long, env = "CANOPY_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Where the result file goes.
    #[arg(long, default_value_os_t = crate::workspace_root().join("loadtest/results"))]
    pub out_dir: PathBuf,
}

impl BenchEnv {
    /// The deployments' infrastructure, logs and state under `dir`; refused when there is no
    /// binary to run.
    pub fn infra(&self, dir: &Path, leftovers: crate::deploy::Leftovers) -> anyhow::Result<crate::deploy::Infra> {
        if !self.canopy.is_file() {
            anyhow::bail!(
                "no canopy binary at {} (cargo build --release -p canopy, or pass --canopy)",
                self.canopy.display()
            );
        }
        Ok(crate::deploy::Infra {
            canopy: self.canopy.clone(),
            database_url: self.database_url.clone(),
            nats_url: self.nats_url.clone(),
            redis_url: self.redis_url.clone(),
            worker_keep_alive: false,
            dir: dir.to_path_buf(),
            leftovers,
        })
    }

    pub fn urls(&self) -> [String; 3] {
        [self.database_url.clone(), self.nats_url.clone(), self.redis_url.clone()]
    }

    /// Prints `table` and writes it to `out_dir/{name}-{time}.md`.
    pub fn write(&self, name: &str, started: DateTime<Utc>, table: &str) -> anyhow::Result<()> {
        println!("{table}");
        std::fs::create_dir_all(&self.out_dir).with_context(|| format!("creating {}", self.out_dir.display()))?;
        let file = self.out_dir.join(format!("{name}-{}.md", started.format("%Y-%m-%dT%H%M%SZ")));
        std::fs::write(&file, table).with_context(|| format!("writing {}", file.display()))?;
        eprintln!("wrote {}", file.display());
        Ok(())
    }
}

/// The first lines of a result file: its title, the machine and its load, the binaries and
/// the tree measured.
pub fn header(title: &str, canopy: &Path, started: DateTime<Utc>, load_before: &str) -> Vec<String> {
    vec![
        format!("# {title}, {}\n", started.format("%Y-%m-%d %H:%M:%S UTC")),
        format!(
            "- machine: {} CPUs, load average before {load_before} / after {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            crate::load_average()
        ),
        format!(
            "- canopy binary: `{}`; harness: {}; tree: {}",
            canopy.display(),
            if cfg!(debug_assertions) { "debug" } else { "release" },
            crate::tree_commit()
        ),
    ]
}

/// One line of the table: a distribution (ms), or a single figure.
pub struct GoalLine {
    what: String,
    /// Sorted values, ms; empty for a single figure.
    values: Vec<f64>,
    /// A single figure with its unit, when not a distribution.
    figure: Option<String>,
    goal: String,
    /// Whether the goal is met (`None`: no goal, or not measurable).
    met: Option<bool>,
}

impl GoalLine {
    pub fn distribution(
        what: impl Into<String>,
        mut values: Vec<f64>,
        goal: &str,
        met: impl Fn(&[f64]) -> bool,
    ) -> Self {
        values.sort_by(f64::total_cmp);
        let verdict = (!values.is_empty()).then(|| met(&values));
        GoalLine { what: what.into(), values, figure: None, goal: goal.into(), met: verdict }
    }

    /// A distribution without a goal of its own (a breakdown).
    pub fn unjudged(what: impl Into<String>, values: Vec<f64>) -> Self {
        GoalLine { met: None, ..GoalLine::distribution(what, values, "", |_| true) }
    }

    pub fn figure(what: impl Into<String>, figure: String, goal: &str, met: Option<bool>) -> Self {
        GoalLine { what: what.into(), values: vec![], figure: Some(figure), goal: goal.into(), met }
    }
}

/// The median of sorted values.
pub fn median(sorted: &[f64]) -> f64 {
    nearest_rank(sorted, 0.5)
}

/// `header` lines (each ending the line), then the table of `lines`.
pub fn goal_table(header: &[String], lines: &[GoalLine]) -> String {
    let mut out = String::new();
    let w = &mut out;
    for line in header {
        let _ = writeln!(w, "{line}");
    }
    let _ = writeln!(w, "| measurement | n | median | p90 | p99 | max | goal | met |");
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|---|---|");
    for line in lines {
        let met = match line.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "–",
        };
        match &line.figure {
            Some(figure) => {
                let _ = writeln!(w, "| {} | | {figure} | | | | {} | {met} |", line.what, line.goal);
            }
            None => {
                let v = &line.values;
                let _ = writeln!(
                    w,
                    "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {met} |",
                    line.what,
                    v.len(),
                    median(v),
                    nearest_rank(v, 0.9),
                    nearest_rank(v, 0.99),
                    v.last().copied().unwrap_or(f64::NAN),
                    line.goal
                );
            }
        }
    }
    out
}
