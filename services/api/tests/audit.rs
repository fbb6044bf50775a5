//! `GET /api/v0/audit` in enterprise mode: the router and the audit consumer in-process, on a
//! fresh real Postgres database and the real NATS (JetStream LOGS stream). Call records are
//! published on the LOGS stream as session-workers publish them (the e2e test `audit.rs` makes
//! real calls through the gateway); admin actions are the REST changes the test makes.
//!
//! Covered: admin actions with their actor and no payload; call records kept once per call id
//! (the same record published twice is one entry); tenants are walls (a second tenant's owner
//! and records); members and MCP clients get 403, admins and owners 200; every filter; cursor
//! paging returns every entry once, also while records arrive; bad filters and cursors are 400.

mod support;

use axum::body::Body;
use axum::http::Request;
use canopy_api::audit::{AuditEntry, AuditKind, AuditOutcome, AuditPage};
use canopy_api::{ApiState, Mode};
use canopy_domain::identity::{Role, User, UserCommand};
use canopy_domain::tenant::{Tenant, TenantCommand};
use canopy_domain::{ServerName, TenantId};
use canopy_eventstore::{CommandContext, CommandExecutor, EventStore};
use canopy_mcp::call::CallRecord;
use canopy_readmodels::CanopyProjector;
use canopy_secrets::Sealer;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

struct Api {
    router: axum::Router,
    state: ApiState,
    db: canopy_testkit::TestDb,
    stop: CancellationToken,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.stop.cancel();
        // This test's JetStream streams, passed or not (Drop cannot await: a runtime of its own).
        let prefix = self.state.bus.subjects.prefix().to_string();
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async {
                if let Ok(bus) =
                    canopy_bus::Bus::connect(&canopy_testkit::nats_url(), &prefix, "api-audit-cleanup").await
                {
                    bus.delete_streams().await;
                }
            });
        })
        .join();
    }
}

impl Api {
    async fn new() -> Api {
        let db = canopy_testkit::fresh_database().await;
        let executor = CommandExecutor::new(EventStore::new(db.pool.clone()), Arc::new(CanopyProjector));
        canopy_api::ensure_default_tenant(&executor).await.unwrap();
        let prefix = canopy_testkit::unique("apiaudit");
        let bus = canopy_bus::Bus::connect(&canopy_testkit::nats_url(), &prefix, "api-audit-test")
            .await
            .expect("NATS for tests (set CANOPY_NATS_URL)");
        bus.ensure_streams().await.unwrap();
        let jobs = support::jobs(&executor, &bus);
        let state = ApiState {
            mode: Mode::Enterprise,
            executor,
            bus,
            sealer: Sealer::from_bytes(&[7u8; 32]).unwrap(),
            access_tokens: None,
            discovery_wait: Duration::from_millis(50),
            call_timeout: Duration::from_secs(2),
            public_url: "http://canopy.test".into(),
            oauth: None,
            jobs,
        };
        let stop = CancellationToken::new();
        tokio::spawn(canopy_api::run_audit_consumer(state.clone(), stop.clone()));
        Api { router: canopy_api::router(state.clone()), state, db, stop }
    }

    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request.header("content-type", "application/json").body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 24).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// A page of the audit log as `token` sees it; panics unless 200.
    async fn audit(&self, token: &str, query: &str) -> AuditPage {
        let (status, body) = self.call("GET", &format!("/api/v0/audit?{query}"), Some(token), None).await;
        assert_eq!(status, 200, "{query}: {body}");
        serde_json::from_value(body).unwrap()
    }

    /// The error code of a refused audit request, after checking its status.
    async fn audit_error(&self, token: &str, query: &str, status: u16) -> String {
        let (got, body) = self.call("GET", &format!("/api/v0/audit?{query}"), Some(token), None).await;
        assert_eq!((got, &body["ok"]), (status, &json!(false)), "{query}: {body}");
        body["error"]["code"].as_str().unwrap().to_string()
    }

    /// Every entry, following cursors `limit` at a time.
    async fn all(&self, token: &str, query: &str, limit: u32) -> Vec<AuditEntry> {
        let mut entries = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = format!("{query}&limit={limit}");
            if let Some(c) = &cursor {
                q.push_str(&format!("&cursor={c}"));
            }
            let page = self.audit(token, &q).await;
            assert!(page.entries.len() <= limit as usize);
            entries.extend(page.entries);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return entries,
            }
        }
    }

    async fn create(&self, owner: &str, route: &str, body: Value) -> String {
        let (status, answer) = self.call("POST", &format!("/api/v0/{route}"), Some(owner), Some(body)).await;
        assert_eq!(status, 201, "{answer}");
        answer["access_token"].as_str().expect("a generated token").to_string()
    }

    /// A second tenant with an owner, created as an operator would (no REST route yet).
    async fn tenant_with_owner(&self, tenant: &str) -> String {
        let id = TenantId::parse(tenant.to_string()).unwrap();
        let ctx = CommandContext::new(id.clone(), "operator:root");
        let create = TenantCommand::Create { id, display_name: tenant.into() };
        self.state.executor.execute::<Tenant>(&ctx, tenant, &create).await.unwrap();
        let token = Sealer::generate_token();
        let name = ServerName::parse("owner".to_string()).unwrap();
        let create = UserCommand::Create { name, role: Role::Owner, token: self.state.sealer.token_digest(&token) };
        self.state.executor.execute::<User>(&ctx, "owner", &create).await.unwrap();
        token
    }

    /// Publishes a call record on the LOGS stream as a worker does (`msg` keeps JetStream from
    /// deduplicating a deliberate repeat).
    async fn publish(&self, record: &CallRecord, msg: &str) {
        let subject = self.state.bus.subjects.log("toolcalls", &record.tenant);
        self.state.bus.publish_durable(subject, msg, serde_json::to_vec(record).unwrap()).await.unwrap();
    }

    async fn kept(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM audit_calls").fetch_one(&self.db.pool).await.unwrap()
    }

    async fn wait_kept(&self, n: i64) {
        let start = Instant::now();
        while self.kept().await < n {
            assert!(start.elapsed() < Duration::from_secs(20), "only {} of {n} call records kept", self.kept().await);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn record(tenant: &str, principal: &str, server: &str, tool: &str, outcome: &str, at: &str) -> CallRecord {
    let op = canopy_mcp::call::UpstreamOp::CallTool {
        tool: tool.into(),
        arguments: json!({"secret_argument": format!("{tenant}-{tool}")}).as_object().cloned(),
    };
    CallRecord {
        call_id: uuid::Uuid::now_v7().to_string(),
        tenant: tenant.into(),
        server: server.into(),
        method: "tools/call".into(),
        target: tool.into(),
        principal: principal.into(),
        outcome: outcome.into(),
        error_code: (outcome == "error").then(|| "UPSTREAM_UNAVAILABLE".to_string()),
        is_error: outcome != "ok",
        arguments_sha256: canopy_mcp::call::arguments_sha256(&op),
        latency_us: 1500,
        at: at.into(),
    }
}

fn keys(entries: &[AuditEntry]) -> Vec<String> {
    entries.iter().map(|e| e.call_id.clone().or(e.event_id.clone()).unwrap()).collect()
}

#[tokio::test]
async fn audit_log_per_tenant() {
    let api = Api::new().await;
    let (status, body) = api.call("POST", "/api/v0/init-server", None, None).await;
    assert_eq!(status, 201, "{body}");
    let owner = body["access_token"].as_str().unwrap().to_string();
    let alice = api.create(&owner, "users", json!({"name": "alice"})).await;
    let bob = api.create(&owner, "users", json!({"name": "bob", "role": "admin"})).await;
    let cursor = api.create(&owner, "mcp-clients", json!({"name": "cursor", "allowed_servers": ["*"]})).await;
    // A change by the admin, with a secret in its (sealed) payload.
    let (status, body) = api
        .call(
            "POST",
            "/api/v0/servers",
            Some(&bob),
            Some(json!({"name": "calc", "url": "http://127.0.0.1:9/mcp", "bearer_token": "upstream-secret-9"})),
        )
        .await;
    assert!(status == 201 || status == 202, "{status} {body}");
    let (status, body) = api.call("POST", "/api/v0/servers/calc/disable", Some(&bob), None).await;
    assert_eq!(status, 200, "{body}");
    let globex = api.tenant_with_owner("globex").await;

    // Calls: default's, and globex's with the same server and tool names.
    let t0 = chrono::Utc::now();
    let at = |s: i64| (t0 + chrono::Duration::milliseconds(s)).to_rfc3339();
    let mut default_calls = vec![
        record("default", "client:cursor", "calc", "add", "ok", &at(1)),
        record("default", "client:cursor", "calc", "add", "tool_error", &at(2)),
        record("default", "user:alice", "calc", "div", "error", &at(3)),
        record("default", "user:alice", "other", "add", "ok", &at(4)),
    ];
    let globex_calls = vec![
        record("globex", "user:owner", "calc", "add", "ok", &at(5)),
        record("globex", "client:cursor", "calc", "add", "error", &at(6)),
    ];
    for r in default_calls.iter().chain(&globex_calls) {
        api.publish(r, &uuid::Uuid::new_v4().to_string()).await;
    }
    // Published twice (a worker's retry, a redelivery): kept once.
    api.publish(&default_calls[0], "repeat-1").await;
    api.wait_kept(6).await;
    // Malformed records are dropped; the consumer carries on.
    api.state
        .bus
        .publish_durable(api.state.bus.subjects.log("toolcalls", "default"), "bad", b"{".to_vec())
        .await
        .unwrap();
    // The same call id in another tenant's record changes nothing either.
    let mut forged = default_calls[1].clone();
    forged.tenant = "globex".into();
    api.publish(&forged, "forged").await;
    // A record under another tenant's subject is not kept.
    let misfiled = record("globex", "user:owner", "calc", "add", "ok", &at(6));
    let subject = api.state.bus.subjects.log("toolcalls", "default");
    api.state.bus.publish_durable(subject, "misfiled", serde_json::to_vec(&misfiled).unwrap()).await.unwrap();
    let late = record("default", "user:alice", "calc", "add", "ok", &at(7));
    api.publish(&late, "late").await;
    default_calls.push(late);
    api.wait_kept(7).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(api.kept().await, 7, "each call once");

    // The owner: default's calls and admin actions, nothing of globex.
    let everything = api.all(&owner, "", 500).await;
    assert!(everything.iter().all(|e| e.tenant == "default"), "{everything:?}");
    let calls: Vec<&AuditEntry> = everything.iter().filter(|e| e.kind == AuditKind::Call).collect();
    let expected: BTreeSet<String> = default_calls.iter().map(|r| r.call_id.clone()).collect();
    let got: BTreeSet<String> = calls.iter().map(|e| e.call_id.clone().unwrap()).collect();
    assert_eq!(got, expected);
    assert_eq!(calls.len(), expected.len(), "no call twice");
    let first = calls.iter().find(|e| e.call_id.as_deref() == Some(&default_calls[0].call_id)).unwrap();
    assert_eq!(
        (first.actor.as_str(), first.server.as_deref(), first.name.as_deref(), first.method.as_deref()),
        ("client:cursor", Some("calc"), Some("add"), Some("tools/call"))
    );
    assert_eq!(first.arguments_sha256, default_calls[0].arguments_sha256);
    assert_eq!((first.outcome, first.latency_ms), (AuditOutcome::Ok, Some(1.5)));
    let failed = calls.iter().find(|e| e.call_id.as_deref() == Some(&default_calls[2].call_id)).unwrap();
    assert_eq!((failed.outcome, failed.error_code.as_deref()), (AuditOutcome::Error, Some("UPSTREAM_UNAVAILABLE")));
    // Newest first.
    let times: Vec<&str> = everything.iter().map(|e| e.at.as_str()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");

    // Admin actions: who did what, never the payload.
    let admin: Vec<&AuditEntry> = everything.iter().filter(|e| e.kind == AuditKind::Admin).collect();
    let did = |actor: &str, event: &str, id: &str| {
        admin.iter().any(|e| {
            e.actor == actor && e.event_type.as_deref() == Some(event) && e.aggregate_id.as_deref() == Some(id)
        })
    };
    assert!(did("user:admin", "user.created", "alice"), "{admin:?}");
    assert!(did("user:admin", "mcp_client.created", "cursor"), "{admin:?}");
    assert!(did("user:bob", "server.registered", "calc"), "{admin:?}");
    assert!(admin.iter().all(|e| e.outcome == AuditOutcome::Ok && e.event_id.is_some()));
    // A summary only from fields that hold no secret.
    let summary = |event: &str, id: &str| {
        let e = admin.iter().find(|e| e.event_type.as_deref() == Some(event) && e.aggregate_id.as_deref() == Some(id));
        e.unwrap_or_else(|| panic!("no {event} of {id}")).summary.clone()
    };
    assert_eq!(summary("server.toggled", "calc").as_deref(), Some("disabled"));
    assert_eq!(summary("server.registered", "calc").as_deref(), Some("transport streamable_http"));
    assert_eq!(summary("user.created", "bob").as_deref(), Some("role admin"));
    assert_eq!(summary("mcp_client.created", "cursor"), None);
    let shown = serde_json::to_string(&everything).unwrap();
    let payloads: Vec<String> = sqlx::query_scalar(
        "SELECT payload::text FROM events WHERE tenant_id = 'default' AND event_type = 'server.registered'",
    )
    .fetch_all(&api.db.pool)
    .await
    .unwrap();
    let mut leaves = Vec::new();
    string_leaves(&serde_json::from_str(&payloads[0]).unwrap(), &mut leaves);
    assert!(leaves.iter().any(|l| l.len() > 40), "a sealed secret in the payload: {leaves:?}");
    for needle in ["upstream-secret-9", "secret_argument", "default-add", "payload", "127.0.0.1:9"] {
        assert!(!shown.contains(needle), "the audit log shows '{needle}': {shown}");
    }
    // (The payload's tag, e.g. `registered`, is the event type's own word; the transport is
    // the summary.)
    let shown_on_purpose = |l: &str| "server.registered".contains(l) || l == "streamable_http";
    for leaf in leaves.iter().filter(|l| l.len() > 8 && !shown_on_purpose(l)) {
        assert!(!shown.contains(leaf.as_str()), "a payload value is shown ({leaf}): {shown}");
    }

    // globex's owner: globex's only.
    let theirs = api.all(&globex, "", 500).await;
    assert!(theirs.iter().all(|e| e.tenant == "globex"), "{theirs:?}");
    let their_calls: BTreeSet<String> = theirs.iter().filter_map(|e| e.call_id.clone()).collect();
    assert_eq!(their_calls, globex_calls.iter().map(|r| r.call_id.clone()).collect::<BTreeSet<_>>());
    assert!(theirs.iter().any(|e| e.event_type.as_deref() == Some("user.created") && e.actor == "operator:root"));
    assert!(!theirs.iter().any(|e| e.aggregate_id.as_deref() == Some("alice")));
    // A cursor from default's pages shows globex's owner nothing of default's.
    let page = api.audit(&owner, "limit=2").await;
    let leaked = api.all(&globex, &format!("cursor={}", page.next_cursor.unwrap()), 500).await;
    assert!(leaked.iter().all(|e| e.tenant == "globex"), "{leaked:?}");

    // Who may read it: owners and admins; members and MCP clients are refused.
    assert_eq!(api.all(&bob, "", 500).await.len(), everything.len());
    assert_eq!(api.audit_error(&alice, "", 403).await, "FORBIDDEN");
    assert_eq!(api.audit_error(&cursor, "", 403).await, "FORBIDDEN");
    assert_eq!(api.audit_error(&alice, "kind=bogus", 403).await, "FORBIDDEN", "refused before anything is read");
    let (status, _) = api.call("GET", "/api/v0/audit", None, None).await;
    assert_eq!(status, 401);
    let (status, _) = api.call("GET", "/api/v0/audit?tenant=globex", Some(&owner), None).await;
    assert_eq!(status, 400, "no request names a tenant");

    // Filters.
    let ids = |entries: Vec<AuditEntry>| entries.into_iter().filter_map(|e| e.call_id).collect::<BTreeSet<_>>();
    let want = |idx: &[usize]| idx.iter().map(|&i| default_calls[i].call_id.clone()).collect::<BTreeSet<_>>();
    assert_eq!(ids(api.all(&owner, "kind=call", 2).await), want(&[0, 1, 2, 3, 4]));
    assert!(api.all(&owner, "kind=admin", 500).await.iter().all(|e| e.kind == AuditKind::Admin));
    assert_eq!(ids(api.all(&owner, "actor=client:cursor", 500).await), want(&[0, 1]));
    assert!(api.all(&owner, "actor=client:cursor", 500).await.iter().all(|e| e.kind == AuditKind::Call));
    let alice_calls = api.all(&owner, "actor=user:alice", 500).await;
    assert_eq!(ids(alice_calls), want(&[2, 3, 4]));
    assert_eq!(ids(api.all(&owner, "server=calc&kind=call", 500).await), want(&[0, 1, 2, 4]));
    let on_calc = api.all(&owner, "server=calc&kind=admin", 500).await;
    assert!(!on_calc.is_empty() && on_calc.iter().all(|e| e.aggregate_id.as_deref() == Some("calc")), "{on_calc:?}");
    assert_eq!(ids(api.all(&owner, "tool=add", 500).await), want(&[0, 1, 3, 4]));
    assert_eq!(ids(api.all(&owner, "name=div", 500).await), want(&[2]));
    assert!(api.all(&owner, "name=add", 500).await.iter().all(|e| e.kind == AuditKind::Call));
    assert_eq!(ids(api.all(&owner, "outcome=error", 500).await), want(&[2]));
    assert_eq!(ids(api.all(&owner, "outcome=tool_error", 500).await), want(&[1]));
    assert_eq!(ids(api.all(&owner, "outcome=ok&kind=call", 500).await), want(&[0, 3, 4]));
    let since = urlencode(&at(2));
    let until = urlencode(&at(4));
    assert_eq!(ids(api.all(&owner, &format!("since={since}&until={until}"), 500).await), want(&[1, 2]));
    assert_eq!(ids(api.all(&owner, &format!("kind=call&since={until}"), 500).await), want(&[3, 4]));
    assert!(api.all(&owner, &format!("kind=admin&since={until}"), 500).await.is_empty());

    // Paging: every entry once, in the same order as one page; also while records arrive.
    let one_page = api.audit(&owner, "limit=500").await;
    assert!(one_page.next_cursor.is_none());
    assert_eq!(keys(&api.all(&owner, "", 1).await), keys(&one_page.entries));
    assert_eq!(keys(&api.all(&owner, "", 3).await), keys(&one_page.entries));
    let default_page = api.audit(&owner, "").await;
    assert_eq!(default_page.entries.len(), one_page.entries.len().min(50));
    let mut seen = Vec::new();
    let mut page = api.audit(&owner, "limit=2").await;
    let mut arriving = 0;
    loop {
        seen.extend(page.entries.clone());
        // New calls (newer than anything) arrive between pages.
        let r = record("default", "user:alice", "calc", "add", "ok", &chrono::Utc::now().to_rfc3339());
        api.publish(&r, &r.call_id).await;
        arriving += 1;
        let Some(next) = page.next_cursor.clone() else { break };
        page = api.audit(&owner, &format!("limit=2&cursor={next}")).await;
    }
    api.wait_kept(7 + arriving).await;
    assert_eq!(keys(&seen), keys(&one_page.entries), "paging is not disturbed by what arrives");
    let after = api.all(&owner, "", 4).await;
    assert_eq!(after.len(), one_page.entries.len() + arriving as usize);
    assert_eq!(keys(&after).into_iter().collect::<BTreeSet<_>>().len(), after.len(), "no entry twice");

    // A NUL (a resource URI could carry one) is kept as U+FFFD, and the records with it too.
    let mut nul = record("default", "user:alice", "calc", "x", "ok", &chrono::Utc::now().to_rfc3339());
    nul.target = "test://a\0b".into();
    let later = (chrono::Utc::now() + chrono::Duration::milliseconds(5)).to_rfc3339();
    let with_it = record("default", "user:alice", "calc", "y", "ok", &later);
    api.publish(&nul, "nul").await;
    api.publish(&with_it, "with-nul").await;
    api.wait_kept(7 + arriving + 2).await;
    let newest = api.audit(&owner, "kind=call&limit=2").await.entries;
    assert_eq!(newest[1].name.as_deref(), Some("test://a\u{FFFD}b"));
    assert_eq!(newest[0].call_id.as_deref(), Some(with_it.call_id.as_str()));

    // Bad requests: 400 in the envelope.
    for bad in [
        "kind=calls",
        "outcome=fine",
        "limit=0",
        "limit=501",
        "limit=many",
        "since=yesterday",
        "until=2026-13-01T00:00:00Z",
        "cursor=garbage",
        "cursor=YTEuMS4yLjM",
        "name=a&tool=b",
        "color=blue",
        "actor=user%00admin",
        "tool=%00",
    ] {
        assert_eq!(api.audit_error(&owner, bad, 400).await, "INVALID_REQUEST", "{bad}");
    }
}

fn string_leaves(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| string_leaves(v, out)),
        Value::Object(map) => map.values().for_each(|v| string_leaves(v, out)),
        _ => {}
    }
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}
