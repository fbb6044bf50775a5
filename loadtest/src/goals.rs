//! The table of the workload benchmarks (`jobs`, `sandbox`): one line per measurement, a
//! distribution (n, median, p90, p99, max, in ms) or a single figure, each with the issue's
//! goal and whether this run met it.

use crate::measure::nearest_rank;
use std::fmt::Write;

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
