//! `canopy-fixture-mcp`: run the Canopy fixture MCP server over stdio, Streamable HTTP or the
//! legacy HTTP+SSE transport.
//!
//! ```text
//! canopy-fixture-mcp [--transport stdio|http|sse] [--listen ADDR] [--bearer-token TOKEN] [--extra-tools N] [--page-size N]
//!                    [--allow-host HOST]... [--stateless] [--json-response] [--conformance]
//! ```
//! Logs go to stderr only (`RUST_LOG`, default `warn`); stdout carries MCP in stdio mode.

use std::net::SocketAddr;

use canopy_fixture_server::{serve_http, serve_sse, serve_stdio, FixtureOptions};

const USAGE: &str = "\
usage: canopy-fixture-mcp [options]
  --transport stdio|http|sse
                           transport (default: stdio); sse: legacy HTTP+SSE of MCP
                           2024-11-05, GET /sse and POST /messages
  --listen ADDR            HTTP listen address (default: 127.0.0.1:3001)
  --bearer-token TOKEN     sse: refuse requests without Authorization: Bearer TOKEN
  --extra-tools N          add tools extra_0 .. extra_{N-1} (default: 0)
  --page-size N            tools/list page size (default: no pagination)
  --allow-host HOST        extra accepted Host header value (repeatable; '*' = any)
  --stateless              HTTP without sessions
  --json-response          HTTP stateless: plain JSON responses instead of SSE
  --conformance            also serve the MCP conformance suite's fixtures (test_* tools,
                           prompts, test:// resources, completion, logging, subscriptions)
  -h, --help               this help";

#[derive(Debug, PartialEq)]
enum Transport {
    Stdio,
    Http,
    Sse,
}

#[derive(Debug)]
struct Args {
    transport: Transport,
    listen: SocketAddr,
    options: FixtureOptions,
    bearer_token: Option<String>,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut args = Args {
        transport: Transport::Stdio,
        listen: SocketAddr::from(([127, 0, 0, 1], 3001)),
        options: FixtureOptions::default(),
        bearer_token: None,
    };
    while let Some(arg) = it.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline.clone().or_else(|| it.next()).ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--transport" => {
                args.transport = match value("--transport")?.as_str() {
                    "stdio" => Transport::Stdio,
                    "http" => Transport::Http,
                    "sse" => Transport::Sse,
                    other => return Err(format!("unknown transport {other:?} (stdio|http|sse)")),
                }
            }
            "--listen" => {
                let v = value("--listen")?;
                args.listen = v.parse().map_err(|e| format!("--listen {v:?}: {e}"))?;
            }
            "--extra-tools" => {
                let v = value("--extra-tools")?;
                args.options.extra_tools = v.parse().map_err(|e| format!("--extra-tools {v:?}: {e}"))?;
            }
            "--page-size" => {
                let v = value("--page-size")?;
                let n: usize = v.parse().map_err(|e| format!("--page-size {v:?}: {e}"))?;
                args.options.page_size = Some(n);
            }
            "--allow-host" => {
                let v = value("--allow-host")?;
                args.options.allowed_hosts.push(v);
            }
            "--bearer-token" => args.bearer_token = Some(value("--bearer-token")?),
            "--stateless" => args.options.stateless = true,
            "--json-response" => args.options.json_response = true,
            "--conformance" => args.options.conformance = true,
            "--exit-after-calls" => {
                let v = value("--exit-after-calls")?;
                args.options.exit_after_calls = Some(v.parse().map_err(|e| format!("--exit-after-calls {v:?}: {e}"))?);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(args))
}

fn main() -> std::process::ExitCode {
    // Test hook: tests count how often a hosting gateway started this server.
    if let Some(path) = std::env::var_os("FIXTURE_START_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(f, "{}", std::process::id());
        }
    }
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            eprintln!("{USAGE}");
            return std::process::ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("canopy-fixture-mcp: {e}\n{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };

    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("canopy-fixture-mcp: tokio runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match args.transport {
            Transport::Stdio => serve_stdio(args.options).await,
            Transport::Http => {
                let handle = serve_http(args.listen, args.options).await?;
                eprintln!("canopy-fixture-mcp: serving {}", handle.url());
                wait_for_stop_signal().await?;
                handle.shutdown().await
            }
            Transport::Sse => {
                let handle = serve_sse(args.listen, args.options, args.bearer_token).await?;
                eprintln!("canopy-fixture-mcp: serving {} (legacy HTTP+SSE)", handle.url());
                wait_for_stop_signal().await?;
                handle.shutdown().await
            }
        }
    });
    // Serving is over: do not wait for leftover blocking work (e.g. a blocked stdin read).
    runtime.shutdown_background();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("canopy-fixture-mcp: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// SIGINT or (on Unix) SIGTERM.
async fn wait_for_stop_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Result<Option<Args>, String> {
        parse_args(v.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults() {
        let a = parse(&[]).unwrap().unwrap();
        assert_eq!(a.transport, Transport::Stdio);
        assert_eq!(a.listen, "127.0.0.1:3001".parse().unwrap());
        assert_eq!(a.options, FixtureOptions::default());
    }

    #[test]
    fn all_flags() {
        let a = parse(&[
            "--transport",
            "http",
            "--listen=0.0.0.0:9000",
            "--extra-tools",
            "7",
            "--page-size",
            "3",
            "--allow-host",
            "fixture",
            "--stateless",
            "--conformance",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(a.transport, Transport::Http);
        assert_eq!(a.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(a.options.extra_tools, 7);
        assert_eq!(a.options.page_size, Some(3));
        assert_eq!(a.options.allowed_hosts, vec!["fixture".to_string()]);
        assert!(a.options.stateless);
        assert!(a.options.conformance);
    }

    #[test]
    fn legacy_sse() {
        let a = parse(&["--transport=sse", "--bearer-token", "t0k"]).unwrap().unwrap();
        assert_eq!(a.transport, Transport::Sse);
        assert_eq!(a.bearer_token.as_deref(), Some("t0k"));
    }

    #[test]
    fn errors() {
        assert!(parse(&["--transport", "ws"]).is_err());
        assert!(parse(&["--extra-tools"]).is_err());
        assert!(parse(&["--page-size", "x"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--help"]).unwrap().is_none());
    }
}
