//! The jobs REST API as the benchmark uses it: submit, read, events, cancel, follow logs, as
//! one tenant (a bearer token in enterprise mode, none in development mode).

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Statuses a job does not leave.
pub const TERMINAL: [&str; 3] = ["completed", "failed", "cancelled"];

#[derive(Clone)]
pub struct JobsClient {
    http: reqwest::Client,
    /// `http://API/api/v0`
    base: String,
    token: Option<String>,
}

/// A submitted job: its id and when the harness had the API's answer.
#[derive(Clone, Debug)]
pub struct Submitted {
    pub id: String,
    pub answered: DateTime<Utc>,
    /// `409 CONFLICT` answers retried before this one was accepted.
    pub conflicts: u32,
}

impl JobsClient {
    pub fn new(api: &str, token: Option<String>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build()
            .context("building the HTTP client")?;
        Ok(Self { http, base: format!("{api}/api/v0"), token })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn json(&self, request: reqwest::RequestBuilder, what: &str) -> anyhow::Result<Value> {
        let response = request.send().await.with_context(|| what.to_string())?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{what} answered {status}: {body}");
        }
        Ok(body)
    }

    /// `POST /jobs` with the `submit_job` arguments `python:3.11` running `command`. A
    /// `409 CONFLICT` (the tenant's ledger changed by a concurrent submit: "retry") is retried
    /// after a short pause, as the API asks; how many times is in [`Submitted::conflicts`].
    pub async fn submit(&self, name: &str, command: &[&str]) -> anyhow::Result<Submitted> {
        let body = json!({"name": name, "workload_type": "batch", "image": "python:3.11", "command": command});
        let mut conflicts = 0;
        loop {
            let response =
                self.request(reqwest::Method::POST, "/jobs").json(&body).send().await.context("submitting a job")?;
            let status = response.status();
            let job: Value = response.json().await.unwrap_or_default();
            let answered = Utc::now();
            if status == reqwest::StatusCode::CONFLICT && job["error"]["code"] == "CONFLICT" && conflicts < 100 {
                conflicts += 1;
                tokio::time::sleep(Duration::from_millis(1 + rand_below(10))).await;
                continue;
            }
            if !status.is_success() {
                bail!("submitting a job answered {status}: {job}");
            }
            let id = job["job_id"].as_str().with_context(|| format!("the submit answered no job_id: {job}"))?;
            return Ok(Submitted { id: id.to_string(), answered, conflicts });
        }
    }

    pub async fn get(&self, id: &str) -> anyhow::Result<Value> {
        self.json(self.request(reqwest::Method::GET, &format!("/jobs/{id}")), "reading a job").await
    }

    pub async fn status(&self, id: &str) -> anyhow::Result<String> {
        Ok(self.get(id).await?["status"].as_str().unwrap_or_default().to_string())
    }

    /// Polls the job every `every` until its status is one of `statuses`; the status seen.
    pub async fn wait_for(
        &self,
        id: &str,
        statuses: &[&str],
        every: Duration,
        within: Duration,
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + within;
        loop {
            let status = self.status(id).await?;
            if statuses.contains(&status.as_str()) {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("job {id} still {status} after {within:?} (waiting for {statuses:?})");
            }
            tokio::time::sleep(every).await;
        }
    }

    /// When each of the job's events was recorded, by type (the first of each type).
    pub async fn event_times(&self, id: &str) -> anyhow::Result<Vec<(String, DateTime<Utc>)>> {
        let view =
            self.json(self.request(reqwest::Method::GET, &format!("/jobs/{id}/events")), "reading events").await?;
        let events = view["events"].as_array().context("no events in the answer")?;
        let mut times = Vec::new();
        for event in events {
            let kind = event["type"].as_str().unwrap_or_default().to_string();
            let at = event["created_at"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok());
            if let Some(at) = at {
                times.push((kind, at.with_timezone(&Utc)));
            }
        }
        Ok(times)
    }

    pub async fn cancel(&self, id: &str) -> anyhow::Result<()> {
        self.json(self.request(reqwest::Method::POST, &format!("/jobs/{id}/cancel")).json(&json!({})), "cancelling")
            .await
            .map(drop)
    }

    /// Jobs of the tenant with `status`, every page: (id, `finished_at`).
    pub async fn list(&self, status: &str) -> anyhow::Result<Vec<(String, Option<DateTime<Utc>>)>> {
        let mut jobs = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/jobs?status={status}&limit=100");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = self.json(self.request(reqwest::Method::GET, &path), "listing jobs").await?;
            for job in page["jobs"].as_array().into_iter().flatten() {
                let finished = job["finished_at"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok());
                jobs.push((
                    job["job_id"].as_str().unwrap_or_default().to_string(),
                    finished.map(|t| t.with_timezone(&Utc)),
                ));
            }
            match page["next_cursor"].as_str() {
                Some(next) if page["has_more"] == true => cursor = Some(next.to_string()),
                _ => return Ok(jobs),
            }
        }
    }

    /// Opens `GET /jobs/{id}/logs?follow=true` and hands each `log` event's message, with when
    /// it arrived, to `on_line`, until the `end` event.
    pub async fn follow_logs(&self, id: &str, mut on_line: impl FnMut(&str, DateTime<Utc>)) -> anyhow::Result<()> {
        let mut response = self
            .request(reqwest::Method::GET, &format!("/jobs/{id}/logs?follow=true"))
            .timeout(Duration::from_secs(600))
            .send()
            .await
            .context("following logs")?;
        if !response.status().is_success() {
            bail!("following logs answered {}", response.status());
        }
        let mut buffer = String::new();
        while let Some(chunk) = response.chunk().await.context("reading the log stream")? {
            let arrived = Utc::now();
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            // SSE events end with a blank line.
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let mut kind = "message";
                let mut data = String::new();
                for line in event.lines() {
                    if let Some(k) = line.strip_prefix("event:") {
                        kind = k.trim();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim_start());
                    }
                }
                match kind {
                    "log" => {
                        let entry: Value = serde_json::from_str(&data).unwrap_or_default();
                        on_line(entry["message"].as_str().unwrap_or_default(), arrived);
                    }
                    "end" => return Ok(()),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// A number in `0..n` that differs between concurrent submitters (the clock's nanoseconds), so
/// that retries after a conflict do not collide again in step.
fn rand_below(n: u64) -> u64 {
    u64::from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos())) % n
}
