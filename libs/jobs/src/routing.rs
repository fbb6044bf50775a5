//! Routing and prices: which backend a job goes to and what it may cost. [`plan`] is the one
//! function behind both `estimate_job` (which shows its answer) and `submit_job` (which places
//! the job on the backend it picks and holds its upper bound), so an estimate says exactly what a
//! submit would do at that moment.
//!
//! # The price model
//!
//! Each backend has a price table in `[jobs.backends.NAME]`: `credits_per_hour` and
//! `start_fee_credits`. A job costs `start_fee + credits_per_hour x running time`, the running
//! time billed per millisecond (rounded up to the micro-credit), from the start of execution to
//! its end ([`price`]; the job-poller reports the actual cost with it at the end). The estimate's
//! range is:
//!
//! - low: `start_fee + credits_per_hour x typical` where typical is one minute for `inference`
//!   and `batch`, ten minutes for `training` and `fine_tuning` (never above the bound below);
//! - high: `start_fee + credits_per_hour x max_job_duration` (the tenant's quota): a job is
//!   stopped at that bound, so it can never cost more. A submit holds this on the tenant's
//!   credits; the end of the job settles the actual cost and releases the rest.
//!
//! # The route
//!
//! Candidates are the enabled backends whose `images` match the job's image (all of them when an
//! estimate names no image). Live capacity comes from `job_backend_capacity`, which every
//! job-poller updates for the backends it runs; rows older than `capacity_stale_secs` are ignored
//! (a backend without a fresh row is `unreported`, counted as having no free slot).
//!
//! - `cost`: the cheapest backend (price per hour, then start fee, then name), free or not.
//! - `balanced` (the default): the cheapest backend with a free slot; if none has one, the
//!   cheapest.
//! - `speed`: the backend with a free slot that starts fastest (`startup_secs`, then price); if
//!   none has one, the one that starts fastest.
//!
//! The route is `available` when the chosen backend has a free slot now, else `queued` (the job
//! waits for a slot). No candidate: `unavailable` (a submit is `INVALID_REQUEST` naming the
//! images this deployment runs).

use crate::settings::{Backend, JobsSettings, Quotas};
use canopy_api_types::jobs::{BackendOption, Classification, CostRange, CreditAmount, EstimateView, RouteView};
use canopy_domain::job_spec::{RoutingMode, WorkloadType};
use canopy_domain::Credits;
use std::collections::BTreeMap;
use std::time::Duration;

/// What the router was asked.
#[derive(Debug, Clone)]
pub struct PlanRequest<'a> {
    pub workload_type: WorkloadType,
    pub model_size: Option<f64>,
    pub image: Option<&'a str>,
    pub routing_mode: RoutingMode,
}

/// The chosen backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub backend: String,
    /// `live` or `unreported`.
    pub capacity_source: &'static str,
    pub free_slots: Option<u64>,
}

impl Route {
    pub fn has_room(&self) -> bool {
        self.free_slots.unwrap_or(0) > 0
    }
}

/// The router's answer.
#[derive(Debug, Clone)]
pub struct Plan {
    pub classification: Classification,
    pub route: Option<Route>,
    /// (low, high)
    pub cost: Option<(Credits, Credits)>,
    pub options: Vec<BackendOption>,
    pub screening: Vec<String>,
    pub max_duration: Duration,
}

impl Plan {
    pub fn availability(&self) -> &'static str {
        match &self.route {
            None => "unavailable",
            Some(route) if route.has_room() => "available",
            Some(_) => "queued",
        }
    }

    pub fn to_view(&self, mode: RoutingMode, queue_ahead: u64) -> EstimateView {
        let capacity_source = self.route.as_ref().map_or("none", |r| r.capacity_source).to_string();
        EstimateView {
            classification: self.classification.clone(),
            route: self.route.as_ref().map(|r| RouteView {
                backend: r.backend.clone(),
                routing_mode: mode.as_str().to_string(),
                capacity_source: r.capacity_source.to_string(),
                status: if r.has_room() { "available" } else { "queued" }.to_string(),
            }),
            capacity_source,
            estimated_cost: self.cost.map(|(low, high)| cost_range(low, high)),
            availability: self.availability().to_string(),
            queue_ahead,
            max_duration_seconds: self.max_duration.as_secs(),
            alternatives: self.options.clone(),
            screening: self.screening.clone(),
        }
    }
}

pub fn amount(credits: Credits) -> CreditAmount {
    CreditAmount { credits: credits.to_decimal_string(), micros: credits.micros() }
}

pub fn cost_range(low: Credits, high: Credits) -> CostRange {
    CostRange { low: amount(low), high: amount(high), unit: "credits".into() }
}

/// What running on `backend` for `ran_for` costs: the start fee plus the hourly price, per
/// millisecond, rounded up to the micro-credit.
pub fn price(backend: &Backend, ran_for: Duration) -> Credits {
    let millis = ran_for.as_millis();
    let running = (u128::from(backend.per_hour.micros()) * millis).div_ceil(3_600_000);
    let total = running.saturating_add(u128::from(backend.start_fee.micros()));
    Credits::from_micros(u64::try_from(total).unwrap_or(u64::MAX))
}

/// A typical running time of a workload type, for the low end of an estimate.
fn typical_duration(workload: WorkloadType) -> Duration {
    match workload {
        WorkloadType::Inference | WorkloadType::Batch => Duration::from_secs(60),
        WorkloadType::Training | WorkloadType::FineTuning => Duration::from_secs(600),
    }
}

fn size_class(model_size: Option<f64>) -> &'static str {
    match model_size {
        None => "small",
        Some(b) if b < 3.0 => "small",
        Some(b) if b < 20.0 => "medium",
        Some(_) => "large",
    }
}

/// The route and price range for a job, given the live free slots per backend (fresh reports
/// only; see [`crate::poller`]).
pub fn plan(
    settings: &JobsSettings,
    quotas: &Quotas,
    request: &PlanRequest<'_>,
    free_slots: &BTreeMap<String, u64>,
) -> Plan {
    let classification = Classification {
        workload_type: request.workload_type.as_str().to_string(),
        size_class: size_class(request.model_size).to_string(),
        accelerator: "cpu".into(),
    };
    let mut screening = Vec::new();
    let runs = |b: &Backend| request.image.is_none_or(|image| b.runs_image(image));
    let options: Vec<BackendOption> = settings
        .backends
        .iter()
        .map(|b| BackendOption {
            backend: b.name.clone(),
            credits_per_hour: amount(b.per_hour),
            start_fee: amount(b.start_fee),
            free_slots: free_slots.get(&b.name).copied(),
            capacity_source: if free_slots.contains_key(&b.name) { "live" } else { "unreported" }.into(),
            runs_image: runs(b),
        })
        .collect();
    let candidates: Vec<&Backend> = settings.backends.iter().filter(|b| runs(b)).collect();
    for b in settings.backends.iter().filter(|b| !runs(b)) {
        screening.push(format!("{} does not run image {}", b.name, request.image.unwrap_or_default()));
    }
    let room = |b: &Backend| free_slots.get(&b.name).copied().unwrap_or(0) > 0;
    let by_price = |b: &&&Backend| (b.per_hour, b.start_fee, b.name.clone());
    let by_speed = |b: &&&Backend| (b.startup, b.per_hour, b.start_fee, b.name.clone());
    let with_room: Vec<&Backend> = candidates.iter().copied().filter(|b| room(b)).collect();
    let pool = if with_room.is_empty() { &candidates } else { &with_room };
    let chosen = match request.routing_mode {
        RoutingMode::Cost => candidates.iter().min_by_key(by_price),
        RoutingMode::Balanced => pool.iter().min_by_key(by_price),
        RoutingMode::Speed => pool.iter().min_by_key(by_speed),
    };
    let max_duration = quotas.max_job_duration;
    let chosen: Option<&Backend> = chosen.copied();
    let route = chosen.map(|b| Route {
        backend: b.name.clone(),
        capacity_source: if free_slots.contains_key(&b.name) { "live" } else { "unreported" },
        free_slots: free_slots.get(&b.name).copied(),
    });
    let cost = chosen.map(|b| {
        let typical = typical_duration(request.workload_type).min(max_duration);
        (price(b, typical), price(b, max_duration))
    });
    match (&route, with_room.is_empty()) {
        (None, _) => screening.push("no enabled backend runs this image".into()),
        (Some(r), true) => screening.push(format!(
            "no backend reports a free slot; {} chosen by {} routing, the job waits for a slot",
            r.backend,
            request.routing_mode.as_str()
        )),
        (Some(r), false) => {
            screening.push(format!("{} chosen by {} routing", r.backend, request.routing_mode.as_str()))
        }
    }
    screening
        .push(format!("the upper bound assumes the job runs for the tenant's maximum of {} s", max_duration.as_secs()));
    Plan { classification, route, cost, options, screening, max_duration }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(name: &str, per_hour: u64, startup: u64) -> Backend {
        Backend {
            name: name.into(),
            per_hour: Credits::from_micros(per_hour),
            start_fee: Credits::from_micros(1_000),
            startup: Duration::from_secs(startup),
            images: vec!["python:3.*".into()],
        }
    }

    fn settings() -> JobsSettings {
        let config = canopy_config::Config::from_layers(None, &[]).unwrap();
        let mut s = JobsSettings::from_config(&config);
        s.backends = vec![backend("local", 1_000_000, 1), backend("ray", 600_000, 6)];
        s
    }

    fn route(mode: RoutingMode, free: &[(&str, u64)]) -> Option<String> {
        let s = settings();
        let free = free.iter().map(|(b, n)| (b.to_string(), *n)).collect();
        let request = PlanRequest {
            workload_type: WorkloadType::Batch,
            model_size: None,
            image: Some("python:3.11-slim"),
            routing_mode: mode,
        };
        plan(&s, &s.quotas, &request, &free).route.map(|r| r.backend)
    }

    #[test]
    fn modes_choose_by_price_capacity_and_startup() {
        use RoutingMode::*;
        // (mode, free slots, expected)
        for (mode, free, expected) in [
            (Cost, vec![], "ray"),
            (Cost, vec![("local", 3)], "ray"),
            (Balanced, vec![], "ray"),
            (Balanced, vec![("local", 3)], "local"),
            (Balanced, vec![("local", 3), ("ray", 1)], "ray"),
            (Speed, vec![], "local"),
            (Speed, vec![("ray", 2)], "ray"),
            (Speed, vec![("local", 1), ("ray", 2)], "local"),
            (Speed, vec![("local", 0), ("ray", 2)], "ray"),
        ] {
            assert_eq!(route(mode, &free).as_deref(), Some(expected), "{mode:?} {free:?}");
        }
    }

    #[test]
    fn prices_and_ranges() {
        let b = backend("local", 3_600_000, 1);
        assert_eq!(price(&b, Duration::ZERO), Credits::from_micros(1_000), "the start fee alone");
        assert_eq!(price(&b, Duration::from_secs(1)), Credits::from_micros(2_000), "1 micro per ms");
        let cheap = backend("cheap", 1_000_000, 1);
        assert_eq!(price(&cheap, Duration::from_millis(1)), Credits::from_micros(1_001), "rounded up");
        let s = settings();
        let request = PlanRequest {
            workload_type: WorkloadType::Training,
            model_size: Some(7.0),
            image: None,
            routing_mode: RoutingMode::Cost,
        };
        let p = plan(&s, &s.quotas, &request, &BTreeMap::new());
        let ray = &s.backends[1];
        assert_eq!(p.cost, Some((price(ray, Duration::from_secs(600)), price(ray, s.quotas.max_job_duration))));
        assert_eq!((p.classification.size_class.as_str(), p.availability()), ("medium", "queued"));
        let none = PlanRequest { image: Some("ubuntu:22.04"), ..request };
        let p = plan(&s, &s.quotas, &none, &BTreeMap::new());
        assert_eq!((p.route.is_none(), p.availability(), p.cost), (true, "unavailable", None));
    }
}
