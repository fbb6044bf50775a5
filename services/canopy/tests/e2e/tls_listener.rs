//! HTTPS without a proxy: `canopy start --tls-cert --tls-key` with a certificate issued by a CA
//! the test makes (the `openssl` command), `/healthz` and the MCP endpoint called over https by
//! a client trusting only that CA, then the certificate files replaced: first with garbage (the
//! server keeps its certificate and says so in its log), then with a new certificate (another
//! serial and SAN), which the server presents to new connections within seconds, without a
//! restart.

use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A CA made for the test, issuing server certificates into one folder.
struct Ca {
    dir: PathBuf,
}

impl Ca {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{name}-tls-listener"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ca = Ca { dir };
        ca.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Canopy TLS listener test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        ca
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("the `openssl` command (Debian package `openssl`) makes the test's certificates");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("ca.pem")).unwrap()
    }

    /// Issues a certificate for 127.0.0.1 and `dns` with `serial`, as `name.pem` and `name.key`
    /// (a fresh key each time); returns the certificate's DER.
    fn issue(&self, name: &str, serial: &str, dns: &str) -> Vec<u8> {
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={dns}"),
        ]);
        std::fs::write(
            self.dir.join(format!("{name}.ext")),
            format!(
                "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n\
                 extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1, DNS:{dns}\n"
            ),
        )
        .unwrap();
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            serial,
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ]);
        self.openssl(&["x509", "-in", &format!("{name}.pem"), "-outform", "DER", "-out", &format!("{name}.der")]);
        std::fs::read(self.dir.join(format!("{name}.der"))).unwrap()
    }
}

/// Replaces `to` with `from`'s content the way deployment tools do: a new file renamed over it.
fn replace_file(from: &Path, to: &Path) {
    let tmp = to.with_extension("tmp");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

/// A client trusting only the test's CA, on a new connection every time (a kept-alive one
/// would keep the certificate its handshake saw).
fn client(ca_pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem).unwrap())
        .tls_info(true)
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// The DER of the certificate the server presents to a new connection.
async fn presented(ca_pem: &[u8], url: &str) -> Vec<u8> {
    let response = client(ca_pem).get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let info = response.extensions().get::<reqwest::tls::TlsInfo>().expect("TLS info");
    info.peer_certificate().expect("a peer certificate").to_vec()
}

#[tokio::test]
async fn https_listener_serves_and_reloads_its_certificate() {
    let d = Deployment::new().await;
    let ca = Ca::new(&d.prefix);
    let first = ca.issue("first", "0x1001", "localhost");
    let second = ca.issue("second", "0x2002", "canopy.test");
    let (cert, key) = (ca.dir.join("server.pem"), ca.dir.join("server.key"));
    replace_file(&ca.dir.join("first.pem"), &cert);
    replace_file(&ca.dir.join("first.key"), &key);

    let port = free_port();
    let log = std::env::temp_dir().join(format!("{}-tls.log", d.prefix));
    let child = d
        .command(&[
            "start",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let base = format!("https://127.0.0.1:{port}");
    let mut process = Process { name: "tls".into(), child, base: base.clone(), log: log.clone() };
    let ca_pem = ca.ca_pem();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = process.child.try_wait().unwrap() {
            panic!("canopy exited with {status}:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        if let Ok(r) = client(&ca_pem).get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "not ready over https:\n{}", std::fs::read_to_string(&log).unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Health and the MCP endpoint over https; the public URL is https by default.
    let (_, health) = {
        let r = client(&ca_pem).get(format!("{base}/healthz")).send().await.unwrap();
        (r.status(), r.json::<serde_json::Value>().await.unwrap())
    };
    assert_eq!(health["status"], "ok", "{health}");
    let initialize = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "tls-test", "version": "1"}}});
    let r = client(&ca_pem)
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("mcp-session-id"));
    let body = r.text().await.unwrap();
    assert!(body.contains("\"serverInfo\""), "{body}");
    // A browser on the https origin is this deployment's own (development mode's loopback origins).
    let r = client(&ca_pem)
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("origin", &base)
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the https origin is allowed");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains(&format!("MCP endpoint https://127.0.0.1:{port}/mcp")), "{logged}");
    // Plain HTTP on the TLS port gets no answer.
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/healthz")).send().await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true), "no plain HTTP on the TLS port");
    assert_eq!(presented(&ca_pem, &format!("{base}/healthz")).await, first);

    // Garbage in place of the certificate: the current one stays, with a warning.
    std::fs::write(ca.dir.join("garbage.pem"), "not a certificate\n").unwrap();
    replace_file(&ca.dir.join("garbage.pem"), &cert);
    let waited = Instant::now();
    while !std::fs::read_to_string(&log).unwrap().contains("keeping the current certificate") {
        assert!(waited.elapsed() < Duration::from_secs(10), "no warning for a bad certificate file");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(presented(&ca_pem, &format!("{base}/healthz")).await, first, "the old certificate is kept");

    // A new certificate (new key, serial and SAN): presented within seconds, same process.
    replace_file(&ca.dir.join("second.key"), &key);
    replace_file(&ca.dir.join("second.pem"), &cert);
    let replaced = Instant::now();
    loop {
        if presented(&ca_pem, &format!("{base}/healthz")).await == second {
            break;
        }
        assert!(replaced.elapsed() < Duration::from_secs(10), "the new certificate was not served within 10 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("new certificate served {:?} after the files were replaced", replaced.elapsed());
    assert!(process.child.try_wait().unwrap().is_none(), "no restart");
    let r = client(&ca_pem).get(format!("https://localhost:{port}/healthz")).send().await;
    assert!(r.is_err(), "the new certificate no longer names localhost");

    Command::new("kill").args(["-TERM", &process.child.id().to_string()]).status().unwrap();
    let status = process.child.wait().unwrap();
    assert!(status.success(), "SIGTERM exits 0, got {status}");
    let _ = std::fs::remove_dir_all(&ca.dir);
}
