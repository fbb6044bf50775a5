//! The upstream MCP server every target ends at: the project's fixture server (its `echo`
//! tool), run by this same binary (`canopy-loadtest upstream`) in a process of its own, so the
//! upstream does not share a runtime with the harness's clients, and Canopy and the direct
//! clients reach the very same server.

use crate::process::Process;
use anyhow::Context;
use canopy_fixture_server::{serve_http, FixtureOptions};
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// The child's side: serve the fixture on a free loopback port, print its URL on stdout, and
/// exit when stdin closes (the harness ended or died).
pub async fn serve() -> anyhow::Result<()> {
    let handle = serve_http("127.0.0.1:0".parse()?, FixtureOptions::default()).await?;
    println!("{}", handle.url());
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    handle.shutdown().await
}

pub struct Upstream {
    /// `http://127.0.0.1:PORT/mcp`
    pub url: String,
    process: Process,
}

impl Upstream {
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}

/// The harness's side: starts `canopy-loadtest upstream` and reads the URL it prints.
pub async fn start(dir: &Path) -> anyhow::Result<Upstream> {
    let exe = std::env::current_exe().context("locating this binary")?;
    let mut command = Command::new(exe);
    command.arg("upstream").stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut process = Process::spawn("upstream", command, &dir.join("upstream.log"))?;
    let stdout = process.child_mut().stdout.take().expect("stdout is piped");
    let first_line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(30), first_line)
        .await
        .context("the upstream did not start within 30 s")???;
    let url = line.trim().to_string();
    if !url.starts_with("http://") {
        anyhow::bail!("the upstream did not start:\n{}", process.log_tail());
    }
    Ok(Upstream { url, process })
}
