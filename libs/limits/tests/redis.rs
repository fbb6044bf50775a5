//! The limiter against the real Redis: each test under a prefix of its own, so tests run in
//! parallel. Windows are a few seconds long; a test that needs a window to end waits for the
//! `Retry-After` the refusal named, never for a guessed time.

use canopy_config::{Config, LimitOverrides, LimitsConfig};
use canopy_limits::{Call, LimitKind, Limited, Limiter};
use std::time::Duration;

fn limits(set: impl FnOnce(&mut LimitsConfig)) -> LimitsConfig {
    let mut config = Config::from_layers(None, &[]).unwrap().limits;
    set(&mut config);
    config
}

async fn connection(url: &str) -> redis::aio::ConnectionManager {
    redis::aio::ConnectionManager::new(redis::Client::open(url).unwrap()).await.expect("Redis for tests")
}

/// A limiter on a connection of its own, as each replica has.
async fn replica(config: &LimitsConfig, prefix: &str) -> Limiter {
    Limiter::new(config, connection(&canopy_testkit::redis_url()).await, prefix)
}

fn call<'a>(tenant: &'a str, principal: &'a str, tool: &'a str) -> Call<'a> {
    Call { tenant, principal, server: "fx", tool: Some(tool) }
}

async fn refusal(limiter: &Limiter, call: &Call<'_>) -> Limited {
    limiter.check(call).await.expect_err("the call should be refused")
}

#[tokio::test]
async fn off_by_default_and_with_zero_counts() {
    let config = limits(|_| {});
    assert!(!replica(&config, "unused").await.is_on(), "every count 0: off");
    let off = Limiter::off();
    for _ in 0..100 {
        off.check(&call("default", "user:dev", "echo")).await.unwrap();
    }
    let zero_override = limits(|c| {
        c.tenants.insert("acme".into(), LimitOverrides { tenant_calls: Some(0), ..Default::default() });
    });
    assert!(!replica(&zero_override, "unused").await.is_on());
}

#[tokio::test]
async fn the_call_after_the_limit_is_refused_until_the_window_ends() {
    let prefix = canopy_testkit::unique("lim");
    let config = limits(|c| {
        c.tenant_calls = 3;
        c.window_secs = 2;
    });
    let limiter = replica(&config, &prefix).await;
    let first = call("default", "user:dev", "echo");
    for _ in 0..3 {
        limiter.check(&first).await.unwrap();
    }
    let refused = refusal(&limiter, &first).await;
    assert_eq!(refused.limit, LimitKind::Tenant);
    assert!(refused.retry_after <= Duration::from_secs(2) && !refused.retry_after.is_zero(), "{refused:?}");
    assert!((1..=2).contains(&refused.retry_after_secs()), "{refused:?}");
    // Refused calls count against nothing: still refused, with the same window's end.
    let again = refusal(&limiter, &first).await;
    assert!(again.retry_after <= refused.retry_after, "{again:?} after {refused:?}");

    tokio::time::sleep(again.retry_after + Duration::from_millis(50)).await;
    for _ in 0..3 {
        limiter.check(&first).await.expect("a new window");
    }
    assert_eq!(refusal(&limiter, &first).await.limit, LimitKind::Tenant);
}

#[tokio::test]
async fn replicas_share_one_budget() {
    let prefix = canopy_testkit::unique("lim");
    let config = limits(|c| {
        c.principal_calls = 4;
        c.window_secs = 30;
    });
    let (a, b) = (replica(&config, &prefix).await, replica(&config, &prefix).await);
    let dev = call("default", "user:dev", "echo");
    for i in 0..4 {
        let replica = if i % 2 == 0 { &a } else { &b };
        replica.check(&dev).await.unwrap();
    }
    assert_eq!(refusal(&a, &dev).await.limit, LimitKind::Principal);
    assert_eq!(refusal(&b, &dev).await.limit, LimitKind::Principal);
    // Another deployment (prefix) has a budget of its own.
    replica(&config, &canopy_testkit::unique("lim")).await.check(&dev).await.unwrap();
}

#[tokio::test]
async fn an_exhausted_limit_leaves_other_tenants_principals_and_tools_alone() {
    let prefix = canopy_testkit::unique("lim");
    let config = limits(|c| {
        c.principal_calls = 2;
        c.tool_calls = 3;
        c.window_secs = 30;
    });
    let limiter = replica(&config, &prefix).await;
    // The principal's budget.
    for _ in 0..2 {
        limiter.check(&call("acme", "client:cursor", "echo")).await.unwrap();
    }
    assert_eq!(refusal(&limiter, &call("acme", "client:cursor", "add")).await.limit, LimitKind::Principal);
    limiter.check(&call("acme", "client:claude", "echo")).await.expect("another client");
    limiter.check(&call("globex", "client:cursor", "echo")).await.expect("the same name in another tenant");
    // acme's echo has had 3 calls now (2 by cursor, 1 by claude): the tool's budget is used up.
    assert_eq!(refusal(&limiter, &call("acme", "user:alice", "echo")).await.limit, LimitKind::Tool);
    limiter.check(&call("acme", "user:alice", "add")).await.expect("another tool");
    limiter.check(&call("globex", "user:alice", "echo")).await.expect("the same tool in another tenant");
    // Prompts and resources (no tool) are not counted per tool.
    let prompt = Call { tenant: "acme", principal: "user:bob", server: "fx", tool: None };
    limiter.check(&prompt).await.expect("not a tool call");
}

#[tokio::test]
async fn the_tenant_quota_and_per_tenant_overrides() {
    let prefix = canopy_testkit::unique("lim");
    let config = limits(|c| {
        c.tenant_calls = 100;
        c.tenant_quota = 5;
        c.quota_window_secs = 86_400;
        c.tenants.insert("big".into(), LimitOverrides { tenant_quota: Some(8), ..Default::default() });
        c.tenants.insert("tiny".into(), LimitOverrides { tenant_calls: Some(1), ..Default::default() });
    });
    let limiter = replica(&config, &prefix).await;
    for _ in 0..5 {
        limiter.check(&call("default", "user:dev", "echo")).await.unwrap();
    }
    let refused = refusal(&limiter, &call("default", "user:dev", "echo")).await;
    assert_eq!(refused.limit, LimitKind::Quota);
    assert!(refused.retry_after > Duration::from_secs(86_000), "the quota's window is a day: {refused:?}");
    for _ in 0..8 {
        limiter.check(&call("big", "user:dev", "echo")).await.unwrap();
    }
    assert_eq!(refusal(&limiter, &call("big", "user:dev", "echo")).await.limit, LimitKind::Quota);
    limiter.check(&call("tiny", "user:dev", "echo")).await.unwrap();
    assert_eq!(refusal(&limiter, &call("tiny", "user:dev", "echo")).await.limit, LimitKind::Tenant);
}

/// A Redis server of the test's own, so it can be stopped.
struct OwnRedis {
    child: std::process::Child,
    url: String,
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn own_redis() -> OwnRedis {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server on PATH (Debian's redis-server package)");
    let url = format!("redis://127.0.0.1:{port}");
    for _ in 0..100 {
        if let Ok(client) = redis::Client::open(url.as_str()) {
            if client.get_multiplexed_async_connection().await.is_ok() {
                return OwnRedis { child, url };
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("redis-server did not start on port {port}");
}

#[tokio::test]
async fn without_redis_calls_pass_or_are_refused_as_configured() {
    let mut redis = own_redis().await;
    let open = limits(|c| c.tenant_calls = 1);
    let closed = limits(|c| {
        c.tenant_calls = 1;
        c.on_redis_error = "deny".into();
    });
    let (fail_open, fail_closed) = (
        Limiter::new(&open, connection(&redis.url).await, "x"),
        Limiter::new(&closed, connection(&redis.url).await, "y"),
    );
    let dev = call("default", "user:dev", "echo");
    fail_open.check(&dev).await.unwrap();
    assert_eq!(refusal(&fail_open, &dev).await.limit, LimitKind::Tenant, "counted while Redis is up");

    redis.child.kill().unwrap();
    redis.child.wait().unwrap();
    for _ in 0..3 {
        fail_open.check(&dev).await.expect("fail open: allowed, uncounted");
        let refused = refusal(&fail_closed, &dev).await;
        assert_eq!(refused.limit, LimitKind::Unavailable);
        assert_eq!((refused.http_status(), refused.retry_after_secs()), (503, 1));
    }
}
