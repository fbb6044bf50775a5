//! `canopy jobs estimate|submit|list|get|events|logs [--follow]|cancel|artifacts|download` and
//! `canopy inputs upload FILE|list`: Jungle Grid's workloads from a terminal, against
//! `/api/v0/jobs` and `/api/v0/job-inputs`. Tables and short summaries for people, the API's
//! JSON with `--json`. `logs --follow` reads the `text/event-stream` and prints each line as the
//! job prints it; `inputs upload` creates the slot, streams the file to its signed URL with a
//! progress line on stderr, then completes it. Signed URLs are never printed whole.

use super::output;
use super::servers::decode;
use super::Ctx;
use anyhow::Context;
use canopy_api_types::jobs::{
    ArtifactDownloadView, ArtifactsView, CancelledJobView, EstimateView, JobEventsView, JobInputView, JobInputsView,
    JobListView, JobLogsView, JobView, LogEntryView, UploadSlotView,
};
use futures::StreamExt;
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum JobsCommand {
    /// Estimate a job's route, cost range and availability (creates nothing).
    Estimate(EstimateArgs),
    /// Submit a job: COMMAND... after `--`, or the whole body with -c FILE.json.
    Submit(SubmitArgs),
    /// The tenant's jobs, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
        #[arg(long, value_name = "C", allow_hyphen_values = true)]
        cursor: Option<String>,
    },
    /// One job: status, phase, route, costs, failure, artifacts.
    Get { id: String },
    /// A job's lifecycle events.
    Events { id: String },
    /// A job's log lines; --follow prints new ones as they come, until the job ends.
    Logs {
        id: String,
        #[arg(long, short = 'f')]
        follow: bool,
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
        #[arg(long, value_name = "C", allow_hyphen_values = true)]
        cursor: Option<String>,
    },
    /// Cancel a job (a queued one at once; a running one is asked to stop).
    Cancel {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// A job's artifacts.
    Artifacts { id: String },
    /// Download an artifact (to its filename, or -o FILE; `-o -` for stdout).
    Download {
        id: String,
        artifact_id: String,
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum InputsCommand {
    /// Upload a file as a job input (or --kind script): slot, upload with progress, complete.
    Upload {
        file: PathBuf,
        /// `input` (mounted under /workspace/inputs/) or `script` (/workspace/scripts/).
        #[arg(long, default_value = "input")]
        kind: String,
        #[arg(long, value_name = "TYPE")]
        content_type: Option<String>,
    },
    /// The tenant's inputs and scripts.
    List,
}

#[derive(clap::Args, Debug)]
pub struct EstimateArgs {
    /// inference, training, fine_tuning, batch.
    #[arg(long, default_value = "batch")]
    pub workload_type: String,
    #[arg(long)]
    pub image: Option<String>,
    /// Billions of parameters.
    #[arg(long)]
    pub model_size: Option<f64>,
    /// cost, speed, balanced.
    #[arg(long)]
    pub routing_mode: Option<String>,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    canopy jobs submit --name hello --image python:3.11-slim -- python -c \"print('hi')\"\n  \
    canopy jobs submit -c job.json")]
pub struct SubmitArgs {
    /// The whole `submit_job` body as a JSON file; flags given too replace its fields.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub workload_type: Option<String>,
    #[arg(long)]
    pub image: Option<String>,
    #[arg(long)]
    pub routing_mode: Option<String>,
    /// An uploaded input's id (repeat).
    #[arg(long = "input", value_name = "INPUT_ID")]
    pub inputs: Vec<String>,
    /// An uploaded script's id (repeat).
    #[arg(long = "script", value_name = "INPUT_ID")]
    pub scripts: Vec<String>,
    /// An expected artifact under /workspace/artifacts/ (repeat).
    #[arg(long = "artifact", value_name = "PATH")]
    pub artifacts: Vec<String>,
    /// NAME=VALUE (repeat).
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// The command and its arguments.
    #[arg(last = true)]
    pub command: Vec<String>,
}

impl SubmitArgs {
    fn body(&self) -> anyhow::Result<Value> {
        let mut body = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?
            }
            None => json!({"workload_type": "batch"}),
        };
        let set = |body: &mut Value, key: &str, value: Value| body[key] = value;
        for (key, value) in [("name", &self.name), ("workload_type", &self.workload_type), ("image", &self.image)] {
            if let Some(v) = value {
                set(&mut body, key, json!(v));
            }
        }
        if let Some(mode) = &self.routing_mode {
            set(&mut body, "routing_mode", json!(mode));
        }
        for (key, list) in
            [("input_files", &self.inputs), ("script_files", &self.scripts), ("expected_artifacts", &self.artifacts)]
        {
            if !list.is_empty() {
                set(&mut body, key, json!(list));
            }
        }
        if !self.env.is_empty() {
            let mut env = serde_json::Map::new();
            for pair in &self.env {
                let (k, v) = pair.split_once('=').with_context(|| format!("--env {pair}: expected NAME=VALUE"))?;
                env.insert(k.to_string(), json!(v));
            }
            set(&mut body, "env", Value::Object(env));
        }
        if !self.command.is_empty() {
            set(&mut body, "command", json!(self.command));
        }
        Ok(body)
    }
}

fn or_dash(value: Option<&str>) -> String {
    value.filter(|v| !v.is_empty()).unwrap_or("-").to_string()
}

pub async fn run(ctx: &Ctx, command: &JobsCommand) -> anyhow::Result<()> {
    let r = &ctx.registry;
    match command {
        JobsCommand::Estimate(args) => {
            let mut body = json!({"workload_type": args.workload_type});
            for (key, value) in [("image", &args.image), ("routing_mode", &args.routing_mode)] {
                if let Some(v) = value {
                    body[key] = json!(v);
                }
            }
            if let Some(size) = args.model_size {
                body["model_size"] = json!(size);
            }
            let raw = r.post(&["jobs", "estimate"], &[], &body).await?;
            ctx.show(raw, |raw| Ok(estimate_text(&decode(raw)?)))
        }
        JobsCommand::Submit(args) => {
            let raw = r.post(&["jobs"], &[], &args.body()?).await?;
            ctx.show(raw, |raw| {
                let job: JobView = decode(raw)?;
                Ok(format!(
                    "Submitted {} ({}), {} on {}; up to {} credits held.\nFollow it: canopy jobs logs {} --follow\n",
                    job.job_id,
                    job.name,
                    job.status,
                    job.scheduling.backend,
                    job.estimated_cost.high.credits,
                    job.job_id
                ))
            })
        }
        JobsCommand::List { status, limit, cursor } => {
            let limit = limit.map(|n| n.to_string());
            let pairs = [("status", status.as_deref()), ("limit", limit.as_deref()), ("cursor", cursor.as_deref())];
            let query: Vec<(&str, &str)> = pairs.iter().filter_map(|(k, v)| v.map(|v| (*k, v))).collect();
            let raw = r.get(&["jobs"], &query).await?;
            ctx.show(raw, |raw| {
                let page: JobListView = decode(raw)?;
                let rows: Vec<Vec<String>> = page
                    .jobs
                    .iter()
                    .map(|j| {
                        vec![
                            j.job_id.clone(),
                            output::truncate(&j.name, 30),
                            j.status.clone(),
                            j.phase.clone(),
                            j.scheduling.backend.clone(),
                            j.submitted_at.clone(),
                        ]
                    })
                    .collect();
                let mut out = if rows.is_empty() {
                    "No jobs.\n".to_string()
                } else {
                    output::table(&["JOB", "NAME", "STATUS", "PHASE", "BACKEND", "SUBMITTED"], &rows)
                };
                if let Some(c) = &page.next_cursor {
                    out.push_str(&format!("More: canopy jobs list --cursor {c}\n"));
                }
                Ok(out)
            })
        }
        JobsCommand::Get { id } => {
            let raw = r.get(&["jobs", id], &[]).await?;
            ctx.show(raw, |raw| Ok(job_text(&decode(raw)?)))
        }
        JobsCommand::Events { id } => {
            let raw = r.get(&["jobs", id, "events"], &[]).await?;
            ctx.show(raw, |raw| {
                let events: JobEventsView = decode(raw)?;
                let rows: Vec<Vec<String>> = events
                    .events
                    .iter()
                    .map(|e| {
                        vec![
                            e.sequence.to_string(),
                            e.created_at.clone(),
                            e.level.clone(),
                            e.title.clone(),
                            output::truncate(&e.message, 80),
                        ]
                    })
                    .collect();
                Ok(output::table(&["#", "TIME", "LEVEL", "EVENT", "MESSAGE"], &rows))
            })
        }
        JobsCommand::Logs { id, follow: false, limit, cursor } => {
            let limit = limit.map(|n| n.to_string());
            let pairs = [("limit", limit.as_deref()), ("cursor", cursor.as_deref())];
            let query: Vec<(&str, &str)> = pairs.iter().filter_map(|(k, v)| v.map(|v| (*k, v))).collect();
            let raw = r.get(&["jobs", id, "logs"], &query).await?;
            ctx.show(raw, |raw| {
                let logs: JobLogsView = decode(raw)?;
                let mut out: String = logs.items.iter().map(line_text).collect();
                if let Some(h) = &logs.failure_highlight {
                    out.push_str(&format!("Failed ({}): {}\n", h.reason, h.message));
                }
                if logs.has_more {
                    out.push_str(&format!(
                        "More: canopy jobs logs {id} --cursor {}\n",
                        or_dash(logs.next_cursor.as_deref())
                    ));
                }
                Ok(out)
            })
        }
        JobsCommand::Logs { id, follow: true, cursor, .. } => follow(ctx, id, cursor.as_deref()).await,
        JobsCommand::Cancel { id, reason } => {
            let body = reason.as_ref().map_or(json!({}), |reason| json!({"reason": reason}));
            let raw = r.post(&["jobs", id, "cancel"], &[], &body).await?;
            ctx.show(raw, |raw| {
                let c: CancelledJobView = decode(raw)?;
                Ok(if c.status == "cancelled" {
                    format!("Cancelled {}.\n", c.job_id)
                } else {
                    format!("Asked {} to stop; it is {} until its runner reports.\n", c.job_id, c.status)
                })
            })
        }
        JobsCommand::Artifacts { id } => {
            let raw = r.get(&["jobs", id, "artifacts"], &[]).await?;
            ctx.show(raw, |raw| {
                let a: ArtifactsView = decode(raw)?;
                if !a.artifacts_ready {
                    return Ok("The job has not ended: its artifacts are collected when it does.\n".to_string());
                }
                let rows: Vec<Vec<String>> = a
                    .artifacts
                    .iter()
                    .map(|x| {
                        vec![
                            x.artifact_id.clone(),
                            x.filename.clone(),
                            x.size_bytes.to_string(),
                            x.content_type.clone(),
                            x.sha256[..12.min(x.sha256.len())].to_string(),
                        ]
                    })
                    .collect();
                let mut out = output::table(&["ARTIFACT", "FILE", "BYTES", "TYPE", "SHA-256"], &rows);
                if !a.missing.is_empty() {
                    out.push_str(&format!("Missing: {}\n", a.missing.join(", ")));
                }
                Ok(out)
            })
        }
        JobsCommand::Download { id, artifact_id, output: target } => {
            download(ctx, id, artifact_id, target.as_ref()).await
        }
    }
}

fn estimate_text(e: &EstimateView) -> String {
    let route = e.route.as_ref().map_or("none".to_string(), |r| {
        format!("{} ({} routing, capacity {})", r.backend, r.routing_mode, r.capacity_source)
    });
    let cost = e
        .estimated_cost
        .as_ref()
        .map_or("-".to_string(), |c| format!("{} to {} credits", c.low.credits, c.high.credits));
    let mut out = format!(
        "Workload:     {} ({}, {})\nRoute:        {route}\nAvailability: {}\nCost:         {cost}\nQueue ahead:  {}\n",
        e.classification.workload_type,
        e.classification.size_class,
        e.classification.accelerator,
        e.availability,
        e.queue_ahead
    );
    for note in &e.screening {
        out.push_str(&format!("  - {note}\n"));
    }
    out
}

fn job_text(j: &JobView) -> String {
    let mut out = format!(
        "Job:       {} ({})\nStatus:    {} / {}{}\nMessage:   {}\nImage:     {}\nCommand:   {}\nRoute:     {} ({} routing)\nSubmitted: {}\nCost:      estimated {} to {}, actual {}\n",
        j.job_id,
        j.name,
        j.status,
        j.phase,
        j.status_reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default(),
        j.status_message,
        j.image,
        j.command.join(" "),
        j.scheduling.backend,
        j.routing_mode,
        j.submitted_at,
        j.estimated_cost.low.credits,
        j.estimated_cost.high.credits,
        j.actual_cost.as_ref().map_or("-".to_string(), |c| c.credits.clone()),
    );
    if let Some(f) = &j.failure {
        out.push_str(&format!("Failure:   {}: {}\n", f.reason, f.message));
    }
    out.push_str(&format!(
        "Artifacts: {}\n",
        if j.artifacts_ready { "ready (canopy jobs artifacts ID)" } else { "not yet" }
    ));
    out
}

fn line_text(e: &LogEntryView) -> String {
    let tag = match e.stream.as_str() {
        "stderr" => "ERR ",
        "platform" => "--- ",
        _ => "",
    };
    format!("{tag}{}\n", e.message)
}

/// Reads `GET /jobs/{id}/logs?follow=true` (`text/event-stream`) and prints each line as it
/// comes, until the `end` event.
async fn follow(ctx: &Ctx, id: &str, cursor: Option<&str>) -> anyhow::Result<()> {
    let mut query = vec![("follow", "true")];
    if let Some(c) = cursor {
        query.push(("cursor", c));
    }
    let response = ctx.registry.send_raw(reqwest::Method::GET, &["jobs", id, "logs"], &query, None).await?;
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let stdout = std::io::stdout();
    while let Some(chunk) = body.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk.context("the log stream broke")?));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let kind = event.lines().find_map(|l| l.strip_prefix("event:")).map(str::trim).unwrap_or("message");
            let data: String = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect::<Vec<_>>()
                .join("\n");
            let mut out = stdout.lock();
            match kind {
                "log" if ctx.json => writeln!(out, "{data}")?,
                "log" => {
                    let entry: LogEntryView = serde_json::from_str(&data).context("a log event is not a log entry")?;
                    write!(out, "{}", line_text(&entry))?;
                }
                "end" => {
                    if ctx.json {
                        writeln!(out, "{data}")?;
                    } else {
                        let end: Value = serde_json::from_str(&data).unwrap_or_default();
                        writeln!(out, "--- the job is {}", end["status"].as_str().unwrap_or("over"))?;
                    }
                    return Ok(());
                }
                _ => {}
            }
            out.flush()?;
        }
    }
    Ok(())
}

async fn download(ctx: &Ctx, id: &str, artifact_id: &str, target: Option<&PathBuf>) -> anyhow::Result<()> {
    let raw = ctx.registry.get(&["jobs", id, "artifacts", artifact_id], &[]).await?;
    let view: ArtifactDownloadView = decode(raw)?;
    // The signed URL is itself the credential: no bearer token goes to storage.
    let response = reqwest::get(&view.download_url).await.context("downloading the artifact")?;
    if !response.status().is_success() {
        anyhow::bail!("the artifact's storage answered {}", response.status());
    }
    let name = view.artifact.filename.rsplit('/').next().unwrap_or("artifact").to_string();
    let path = target.cloned().unwrap_or_else(|| PathBuf::from(&name));
    let mut body = response.bytes_stream();
    let mut written = 0u64;
    if path.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        while let Some(chunk) = body.next().await {
            out.write_all(&chunk?)?;
        }
        return Ok(());
    }
    let mut file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        written += chunk.len() as u64;
        file.write_all(&chunk)?;
    }
    if ctx.json {
        println!("{}", output::json(&json!({"artifact": view.artifact, "path": path, "bytes": written})));
    } else {
        println!("Saved {} ({written} bytes) to {}", view.artifact.filename, path.display());
    }
    Ok(())
}

pub async fn inputs(ctx: &Ctx, command: &InputsCommand) -> anyhow::Result<()> {
    match command {
        InputsCommand::List => {
            let raw = ctx.registry.get(&["job-inputs"], &[]).await?;
            ctx.show(raw, |raw| {
                let inputs: JobInputsView = decode(raw)?;
                let rows: Vec<Vec<String>> = inputs
                    .inputs
                    .iter()
                    .map(|i| {
                        vec![
                            i.input_id.clone(),
                            i.filename.clone(),
                            i.kind.clone(),
                            i.status.clone(),
                            i.size_bytes.map_or("-".into(), |s| s.to_string()),
                            i.mount_path.clone(),
                        ]
                    })
                    .collect();
                Ok(output::table(&["INPUT", "FILE", "KIND", "STATUS", "BYTES", "MOUNTED AT"], &rows))
            })
        }
        InputsCommand::Upload { file, kind, content_type } => upload(ctx, file, kind, content_type.as_deref()).await,
    }
}

async fn upload(ctx: &Ctx, file: &PathBuf, kind: &str, content_type: Option<&str>) -> anyhow::Result<()> {
    let size = std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?.len();
    let filename = file.file_name().and_then(|n| n.to_str()).context("the file needs a UTF-8 name")?.to_string();
    let mut body = json!({"filename": filename, "kind": kind});
    if let Some(t) = content_type {
        body["content_type"] = json!(t);
    }
    let slot: UploadSlotView = decode(ctx.registry.post(&["job-inputs"], &[], &body).await?)?;
    let slot = slot.upload;
    let handle = tokio::fs::File::open(file).await.with_context(|| format!("opening {}", file.display()))?;
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = sent.clone();
    let stream = tokio_util::io::ReaderStream::new(handle).inspect(move |chunk| {
        if let Ok(chunk) = chunk {
            let done = counter.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed) + chunk.len() as u64;
            let percent = (done * 100).checked_div(size).unwrap_or(100);
            eprint!("\rUploading {filename}: {percent:>3}% ({done} of {size} bytes)");
        }
    });
    let mut request = reqwest::Client::new()
        .put(&slot.upload_url)
        .header("content-length", size)
        .body(reqwest::Body::wrap_stream(stream));
    if let Some(t) = content_type {
        request = request.header("content-type", t);
    }
    let response = request.send().await.context("uploading to the signed URL")?;
    eprintln!();
    if !response.status().is_success() {
        let status = response.status();
        anyhow::bail!("the upload was refused ({status}): {}", response.text().await.unwrap_or_default());
    }
    let complete = json!({"token": slot.token, "filename": slot.filename, "size_bytes": size});
    let raw = ctx.registry.post(&["job-inputs", &slot.input_id, "complete"], &[], &complete).await?;
    ctx.show(raw, |raw| {
        let input: JobInputView = decode(raw)?;
        Ok(format!(
            "Uploaded {} as {} ({} bytes), mounted at {}\n",
            input.filename, input.input_id, size, input.mount_path
        ))
    })
}
