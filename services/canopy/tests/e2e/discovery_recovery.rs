//! A registration whose discovery was cut short by a worker crash (`kill -9` while the upstream
//! was still answering) is taken up again by the restarted worker within seconds, not after the
//! long redelivery wait it used to sit out as `pending`.

use crate::harness::*;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy in front of an upstream that, until opened, accepts connections and says
/// nothing on them: an upstream that stalls.
struct StallingProxy {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl StallingProxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (open, accepted) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let (open_, accepted_) = (open.clone(), accepted.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                accepted_.fetch_add(1, Ordering::SeqCst);
                let open = open_.clone();
                tokio::spawn(async move {
                    if !open.load(Ordering::SeqCst) {
                        // Stall: hold the connection, answer nothing, until the peer goes.
                        let mut sink = [0u8; 1024];
                        while let Ok(n) = tokio::io::AsyncReadExt::read(&mut inbound, &mut sink).await {
                            if n == 0 {
                                return;
                            }
                        }
                        return;
                    }
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { addr, open, accepted, task }
    }
}

impl Drop for StallingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn status(api: &str, name: &str) -> String {
    let (_, body) = get_json(&format!("{api}/api/v0/servers/{name}")).await;
    body["status"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_discovery_cut_short_by_a_worker_crash_is_resumed_by_the_restarted_worker_at_once() {
    let mut d = Deployment::new().await;
    let api = d.spawn("api", &["serve", "api"]).await;
    d.spawn("worker", &["serve", "worker"]).await;
    let upstream = fixture().await;
    let proxy = StallingProxy::start(upstream.addr()).await;
    let url = upstream.url().replace(&upstream.addr().to_string(), &proxy.addr.to_string());

    // Register: the worker takes the event and connects, and the upstream stalls.
    let register = {
        let api = api.clone();
        tokio::spawn(
            async move { post_json(&format!("{api}/api/v0/servers"), json!({"name": "slow", "url": url})).await },
        )
    };
    eventually(Duration::from_secs(10), || async { proxy.accepted.load(Ordering::SeqCst) > 0 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status(&api, "slow").await, "pending");

    // The worker dies mid-discovery; the upstream recovers; a worker is back at once.
    let killed = Instant::now();
    {
        let worker = d.process("worker");
        worker.child.kill().unwrap();
        worker.child.wait().unwrap();
    }
    proxy.open.store(true, Ordering::SeqCst);
    d.spawn("worker-2", &["serve", "worker"]).await;
    let restarted = Instant::now();
    eprintln!("worker back {:?} after the kill", restarted - killed);

    // Far under the old wait (three connect timeouts, 45 s by default).
    eventually(Duration::from_secs(10), || async { status(&api, "slow").await == "ready" }).await;
    eprintln!("ready {:?} after the restart, {:?} after the kill", restarted.elapsed(), killed.elapsed());
    let (status_code, body) = register.await.unwrap();
    assert_eq!(status_code, 201, "{body}");
    let (_, server) = get_json(&format!("{api}/api/v0/servers/slow")).await;
    assert_eq!(server["tool_count"], 10, "every page of the catalog: {server}");
}
