//! `/healthz` (the process is alive), `/readyz` (its dependencies answer), `/metrics`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use canopy_api_types::Readiness;
use canopy_bus::Bus;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Clone)]
pub struct HealthState {
    pub pool: sqlx::PgPool,
    pub bus: Bus,
    pub redis: redis::aio::ConnectionManager,
    /// The caches this process keeps from the event stream (the edge's catalog, the worker's
    /// registrations): not ready until loaded, and again while the stream is lost.
    pub in_step: Vec<(&'static str, canopy_bus::InStep)>,
    pub services: Vec<&'static str>,
}

pub fn router(state: HealthState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn healthz(State(state): State<HealthState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "services": state.services, "version": env!("CARGO_PKG_VERSION") }))
}

/// Which dependencies a process's services cannot serve without. The others are still
/// checked and reported, but do not make the process unready: a balancer must not take every
/// edge out while Postgres restarts (the call path does not use it), nor every api while NATS
/// does (commands wait in the outbox).
fn required(services: &[&str], dependency: &str) -> bool {
    let needs = |service: &str| match service {
        "api" => ["postgres", "redis"].contains(&dependency),
        "gateway-edge" => ["nats", "redis"].contains(&dependency),
        "session-worker" | "job-poller" => ["postgres", "nats"].contains(&dependency),
        _ => true,
    };
    services.iter().any(|s| needs(s))
}

/// How long `/readyz` waits for a dependency the process can do without: well under a
/// balancer's check timeout (HAProxy's defaults to the check interval: 200 ms in the chaos
/// harness, where an edge's Postgres restart used to take both edges out of the balancer, each
/// probe hanging 250 ms on a Postgres that accepted connections and answered nothing).
const OPTIONAL_CHECK: Duration = Duration::from_millis(50);

async fn readyz(State(state): State<HealthState>) -> impl IntoResponse {
    // A dependency a process needs gets 2 s to answer; one it can do without only a moment
    // ([`OPTIONAL_CHECK`]), so a hung one never delays the answer past a balancer's check.
    let limit = |dependency| {
        if required(&state.services, dependency) {
            Duration::from_secs(2)
        } else {
            OPTIONAL_CHECK
        }
    };
    let mut redis = state.redis.clone();
    let ping = redis::cmd("PING");
    let (pg, nats, ping) = tokio::join!(
        tokio::time::timeout(limit("postgres"), sqlx::query("SELECT 1").execute(&state.pool)),
        tokio::time::timeout(limit("nats"), state.bus.client.flush()),
        tokio::time::timeout(limit("redis"), ping.query_async::<String>(&mut redis)),
    );
    let mut checks = BTreeMap::new();
    checks.insert("postgres".to_string(), verdict(pg.map(|r| r.map(|_| ()).map_err(|e| e.to_string()))));
    checks.insert("nats".to_string(), verdict(nats.map(|r| r.map_err(|e| e.to_string()))));
    checks.insert("redis".to_string(), verdict(ping.map(|r| r.map(|_| ()).map_err(|e| e.to_string()))));
    for (name, in_step) in &state.in_step {
        let verdict = if in_step.get() { "ok" } else { "behind: loading from the event log" };
        checks.insert(name.to_string(), verdict.into());
    }
    let dependencies = ["postgres", "nats", "redis"];
    let ready = checks
        .iter()
        .filter(|(name, _)| !dependencies.contains(&name.as_str()) || required(&state.services, name))
        .all(|(_, v)| v == "ok");
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(Readiness { ready, checks }))
}

fn verdict<E>(r: Result<Result<(), String>, E>) -> String {
    match r {
        Ok(Ok(())) => "ok".into(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => "error: no answer in time".into(),
    }
}

async fn metrics() -> impl IntoResponse {
    match canopy_telemetry::prometheus_handle() {
        Some(handle) => {
            (StatusCode::OK, [("content-type", "text/plain; version=0.0.4")], handle.render()).into_response()
        }
        None => (StatusCode::NOT_FOUND, "metrics are disabled (telemetry.prometheus = false)").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::required;

    #[test]
    fn each_service_is_ready_on_what_it_needs() {
        let needs = |services: &[&str]| -> Vec<&str> {
            ["postgres", "nats", "redis"].into_iter().filter(|d| required(services, d)).collect()
        };
        assert_eq!(needs(&["gateway-edge"]), ["nats", "redis"], "an edge serves calls while Postgres restarts");
        assert_eq!(needs(&["api"]), ["postgres", "redis"], "an api commits while NATS restarts");
        assert_eq!(needs(&["session-worker"]), ["postgres", "nats"]);
        assert_eq!(needs(&["api", "gateway-edge", "session-worker", "job-poller"]), ["postgres", "nats", "redis"]);
    }
}
