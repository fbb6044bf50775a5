//! Upstreams at https:// URLs: the fixture (Streamable HTTP and legacy SSE) behind a real
//! HAProxy that terminates TLS with a certificate for 127.0.0.1 and localhost, issued by a CA
//! made for the test (the `openssl` command). Trusted through `worker.upstream_ca_file`, the
//! upstreams are discovered and called through `/mcp`; without it, each registration's status is
//! `error`, saying the certificate is not trusted.

use crate::args;
use crate::harness::*;
use canopy_fixture_server::{serve_sse, FixtureOptions, SseFixtureHandle};
use rmcp::model::CallToolRequestParams;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A throwaway CA and a server certificate it issued, in a folder of their own.
struct Pki {
    dir: PathBuf,
    /// The CA's certificate (PEM): what `worker.upstream_ca_file` names.
    ca: PathBuf,
    /// The server's certificate then its key (PEM), as HAProxy's `crt` takes them.
    server: PathBuf,
}

impl Pki {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{name}-pki"));
        let pki = canopy_testkit::tls::ca_and_server(&dir, "Canopy test CA");
        let server = dir.join("server.pem");
        let pem = [std::fs::read(&pki.cert).unwrap(), std::fs::read(&pki.key).unwrap()];
        std::fs::write(&server, pem.concat()).unwrap();
        Self { ca: pki.ca, server, dir }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An `haproxy -db` child process terminating TLS in front of plain-HTTP upstreams (TCP mode:
/// bytes pass through untouched, so SSE streams flow as they come). Killed when dropped.
struct TlsProxy {
    /// For each upstream given, in order, the port HAProxy serves it on over TLS.
    ports: Vec<u16>,
    _child: tokio::process::Child,
}

impl TlsProxy {
    async fn start(d: &Deployment, pki: &Pki, upstreams: &[std::net::SocketAddr]) -> Self {
        let ports: Vec<u16> = upstreams.iter().map(|_| free_port()).collect();
        let mut config = "global\n    maxconn 256\n\ndefaults\n    mode tcp\n    timeout connect 1s\n    \
                          timeout client 1h\n    timeout server 1h\n"
            .to_string();
        for (i, (port, upstream)) in ports.iter().zip(upstreams).enumerate() {
            config += &format!(
                "\nfrontend tls{i}\n    bind 127.0.0.1:{port} ssl crt {}\n    default_backend plain{i}\n\
                 \nbackend plain{i}\n    server upstream{i} {upstream}\n",
                pki.server.display()
            );
        }
        let base = std::env::temp_dir().join(format!("{}-tls-haproxy", d.prefix));
        let (cfg, stderr) = (base.with_extension("cfg"), base.with_extension("stderr"));
        std::fs::write(&cfg, config).unwrap();
        let child = tokio::process::Command::new(haproxy_binary())
            .arg("-f")
            .arg(&cfg)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("start haproxy");
        let deadline = Instant::now() + Duration::from_secs(10);
        for port in &ports {
            while tokio::net::TcpStream::connect(("127.0.0.1", *port)).await.is_err() {
                assert!(
                    Instant::now() < deadline,
                    "haproxy does not listen on {port}: {}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Self { ports, _child: child }
    }
}

/// Debian installs haproxy in /usr/sbin, which a normal user's PATH often lacks.
fn haproxy_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("haproxy"))
        .find(|candidate| candidate.is_file())
        .expect("haproxy (Debian package `haproxy`; scripts/test.sh installs it) terminates TLS for these tests")
}

/// The fixture over Streamable HTTP (10 tools, 2 per page) and over legacy SSE, behind TLS:
/// their https:// URLs, the Streamable one on 127.0.0.1, the SSE one on localhost.
struct SecureUpstreams {
    streamable: String,
    sse: String,
    _fixtures: (canopy_fixture_server::FixtureHandle, SseFixtureHandle),
    _proxy: TlsProxy,
}

async fn secure_upstreams(d: &Deployment, pki: &Pki) -> SecureUpstreams {
    let streamable = fixture().await;
    let options = FixtureOptions { extra_tools: 5, page_size: Some(2), ..Default::default() };
    let sse = serve_sse("127.0.0.1:0".parse().unwrap(), options, None).await.unwrap();
    let proxy = TlsProxy::start(d, pki, &[streamable.addr(), sse.addr()]).await;
    SecureUpstreams {
        streamable: format!("https://127.0.0.1:{}/mcp", proxy.ports[0]),
        sse: format!("https://localhost:{}/sse", proxy.ports[1]),
        _fixtures: (streamable, sse),
        _proxy: proxy,
    }
}

fn config_file(d: &Deployment, ca: &Path) -> PathBuf {
    let path = std::env::temp_dir().join(format!("{}-tls.toml", d.prefix));
    std::fs::write(&path, format!("[worker]\nupstream_ca_file = {:?}\n", ca.to_str().unwrap())).unwrap();
    path
}

#[tokio::test]
async fn https_upstreams_signed_by_the_configured_ca_are_discovered_and_called() {
    let mut d = Deployment::new().await;
    let pki = Pki::new(&d.prefix);
    let config = config_file(&d, &pki.ca);
    let base = d.spawn("all", &["start", "--config", config.to_str().unwrap()]).await;
    let upstreams = secure_upstreams(&d, &pki).await;
    let servers = format!("{base}/api/v0/servers");

    for (name, transport, url) in
        [("secure", "streamable_http", &upstreams.streamable), ("securesse", "sse", &upstreams.sse)]
    {
        let (status, server) = post_json(&servers, json!({"name": name, "transport": transport, "url": url})).await;
        assert_eq!(
            (status, server["status"].as_str(), server["tool_count"].as_u64()),
            (201, Some("ready"), Some(10)),
            "{transport} over TLS: {server}"
        );
    }

    let client = mcp_client(&format!("{base}/mcp")).await;
    for name in ["secure", "securesse"] {
        let echo = client
            .call_tool(
                CallToolRequestParams::new(format!("{name}__echo"))
                    .with_arguments(args(json!({"message": "over tls"}))),
            )
            .await
            .unwrap();
        assert_eq!(echo.content[0].as_text().unwrap().text, "over tls", "{name}");
    }
    let _ = client.cancel().await;
    d.terminate("all").await;
    let _ = std::fs::remove_file(config);
}

#[tokio::test]
async fn without_the_ca_https_upstreams_are_an_error_naming_the_certificate() {
    let mut d = Deployment::new().await;
    let pki = Pki::new(&d.prefix);
    let base = d.spawn("all", &["start"]).await;
    let upstreams = secure_upstreams(&d, &pki).await;
    let servers = format!("{base}/api/v0/servers");

    for (name, transport, url) in
        [("secure", "streamable_http", &upstreams.streamable), ("securesse", "sse", &upstreams.sse)]
    {
        let (status, server) = post_json(&servers, json!({"name": name, "transport": transport, "url": url})).await;
        assert_eq!((status, server["status"].as_str()), (201, Some("error")), "{transport}: {server}");
        let why = server["status_error"].as_str().unwrap();
        eprintln!("{transport}: {why}");
        assert!(why.contains("certificate") && why.contains("UnknownIssuer"), "{transport}: {why}");
    }
    // The worker is still up and serving: nothing panicked.
    let (status, health) = get_json(&format!("{base}/readyz")).await;
    assert_eq!(status, 200, "{health}");
    d.terminate("all").await;

    // The setting is documented, and a file that is not there stops start-up naming it.
    let defaults = d.command(&["config", "defaults"]).output().unwrap();
    assert!(String::from_utf8_lossy(&defaults.stdout).contains("upstream_ca_file = \"\""));
    let missing = pki.dir.join("missing.pem");
    let out = d.command(&["config", "check"]).env("CANOPY_UPSTREAM_CA_FILE", &missing).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("worker.upstream_ca_file (CANOPY_UPSTREAM_CA_FILE)") && stderr.contains("cannot read"),
        "{stderr}"
    );
}
