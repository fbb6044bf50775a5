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

async fn readyz(State(state): State<HealthState>) -> impl IntoResponse {
    let limit = Duration::from_secs(2);
    let mut checks = BTreeMap::new();
    let pg = tokio::time::timeout(limit, sqlx::query("SELECT 1").execute(&state.pool)).await;
    checks.insert("postgres".to_string(), verdict(pg.map(|r| r.map(|_| ()).map_err(|e| e.to_string()))));
    let nats = tokio::time::timeout(limit, state.bus.client.flush()).await;
    checks.insert("nats".to_string(), verdict(nats.map(|r| r.map_err(|e| e.to_string()))));
    let mut redis = state.redis.clone();
    let ping = tokio::time::timeout(limit, redis::cmd("PING").query_async::<String>(&mut redis)).await;
    checks.insert("redis".to_string(), verdict(ping.map(|r| r.map(|_| ()).map_err(|e| e.to_string()))));
    for (name, in_step) in &state.in_step {
        let verdict = if in_step.get() { "ok" } else { "behind: loading from the event log" };
        checks.insert(name.to_string(), verdict.into());
    }
    let ready = checks.values().all(|v| v == "ok");
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(Readiness { ready, checks }))
}

fn verdict<E>(r: Result<Result<(), String>, E>) -> String {
    match r {
        Ok(Ok(())) => "ok".into(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => "error: no answer within 2s".into(),
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
