//! The event store and read models against a real PostgreSQL: concurrency, idempotency,
//! outbox, metadata, rebuild == live, and migrations applied twice.

use canopy_domain::server::{Catalog, Server, ServerCommand, ServerError, SessionMode, Transport, UpstreamSpec};
use canopy_domain::{ServerId, ServerName, TenantId};
use canopy_eventstore::{
    rebuild, CommandContext, CommandExecutor, EventMetadata, EventStore, ExecuteError, NewEvent, StoreError, StreamKey,
};
use canopy_readmodels::CanopyProjector;
use serde_json::json;
use std::sync::Arc;

fn spec(url: &str) -> UpstreamSpec {
    UpstreamSpec {
        transport: Transport::StreamableHttp,
        description: "d".into(),
        url: Some(url.into()),
        bearer_token: None,
        headers: Default::default(),
        command: None,
        args: vec![],
        env: Default::default(),
        session_mode: SessionMode::Stateless,
    }
}

fn register(name: &str, url: &str, force: bool) -> ServerCommand {
    ServerCommand::Register {
        id: ServerId(uuid::Uuid::now_v7()),
        name: ServerName::parse(name).unwrap(),
        spec: spec(url),
        force,
    }
}

fn ctx() -> CommandContext {
    CommandContext::new(TenantId::default_tenant(), "user:test")
}

fn executor(pool: &sqlx::PgPool) -> CommandExecutor<CanopyProjector> {
    CommandExecutor::new(EventStore::new(pool.clone()), Arc::new(CanopyProjector))
}

#[tokio::test]
async fn concurrent_appends_at_one_version_exactly_one_wins() {
    let db = canopy_testkit::fresh_database().await;
    let key = StreamKey::of::<Server>(&TenantId::default_tenant(), "race");
    let mut tasks = Vec::new();
    for i in 0..16 {
        let pool = db.pool.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            let event = NewEvent { event_type: "test.raced", schema_version: 1, payload: json!({ "writer": i }) };
            let r = EventStore::append(&mut tx, &key, 0, &[event], &EventMetadata::default()).await;
            if r.is_ok() {
                tx.commit().await.unwrap();
            }
            r
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(StoreError::VersionConflict { expected: 0, .. }) => {}
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!(wins, 1);
    let stored = EventStore::new(db.pool.clone()).load(&key).await.unwrap();
    assert_eq!(stored.len(), 1);
}

#[tokio::test]
async fn concurrent_registrations_of_one_name_one_succeeds_the_rest_conflict() {
    let db = canopy_testkit::fresh_database().await;
    let exec = executor(&db.pool);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let exec = exec.clone();
        tasks.push(tokio::spawn(async move {
            exec.execute::<Server>(&ctx(), "calc", &register("calc", &format!("http://h/{i}"), false)).await
        }));
    }
    let (mut ok, mut conflict) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(ExecuteError::Rejected(ServerError::AlreadyRegistered(_))) => conflict += 1,
            Err(e) => panic!("unexpected: {e:?}"),
        }
    }
    assert_eq!((ok, conflict), (1, 7));
}

#[tokio::test]
async fn events_carry_metadata_and_reach_the_outbox_in_the_same_transaction() {
    let db = canopy_testkit::fresh_database().await;
    let exec = executor(&db.pool);
    let mut c = ctx();
    c.metadata.traceparent = Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into());
    let out = exec.execute::<Server>(&c, "calc", &register("calc", "http://h/mcp", false)).await.unwrap();
    assert_eq!(out.version, 1);
    let ev = &out.events[0];
    assert_eq!(ev.event_type, "server.registered");
    assert_eq!(ev.metadata.actor, "user:test");
    assert_eq!(ev.metadata.correlation_id, c.metadata.correlation_id);
    assert_eq!(ev.metadata.traceparent, c.metadata.traceparent);

    let outbox: Vec<(i64, String)> =
        sqlx::query_as("SELECT global_position, subject FROM outbox").fetch_all(&db.pool).await.unwrap();
    assert_eq!(outbox, vec![(ev.global_position, "default.server.calc".to_string())]);

    // A refused command writes nothing at all.
    let err = exec.execute::<Server>(&ctx(), "calc", &register("calc", "http://h/mcp", false)).await.unwrap_err();
    assert!(matches!(err, ExecuteError::Rejected(ServerError::AlreadyRegistered(_))));
    let (events, outbox): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM outbox)")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((events, outbox), (1, 1));
}

#[tokio::test]
async fn idempotent_commands_replay_the_first_outcome_and_refuse_another_body() {
    let db = canopy_testkit::fresh_database().await;
    let exec = executor(&db.pool);
    let body = br#"{"name":"calc","url":"http://h/mcp"}"#;
    let cmd = register("calc", "http://h/mcp", false);
    let first = exec.execute::<Server>(&ctx().idempotent("k1", body), "calc", &cmd).await.unwrap();
    // The same request again, even with a fresh id minted by the caller, is the first outcome.
    let again = exec
        .execute::<Server>(&ctx().idempotent("k1", body), "calc", &register("calc", "http://h/mcp", false))
        .await
        .unwrap();
    assert!(!first.replayed && again.replayed);
    assert_eq!(again.version, first.version);
    assert_eq!(again.state.registered().unwrap().id, first.state.registered().unwrap().id);
    assert_eq!(
        again.events.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        first.events.iter().map(|e| e.event_id).collect::<Vec<_>>()
    );

    let other = exec
        .execute::<Server>(&ctx().idempotent("k1", br#"{"name":"calc","url":"http://other"}"#), "calc", &cmd)
        .await
        .unwrap_err();
    assert!(matches!(other, ExecuteError::IdempotencyMismatch(k) if k == "k1"));
    let count: (i64,) = sqlx::query_as("SELECT count(*) FROM events").fetch_one(&db.pool).await.unwrap();
    assert_eq!(count.0, 1);
}

async fn snapshot(pool: &sqlx::PgPool) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (table, order) in [
        ("rm_tenants", "tenant_id"),
        ("rm_servers", "tenant_id, name"),
        ("rm_tools", "tenant_id, server_name, tool_name"),
        ("rm_prompts", "tenant_id, server_name, prompt_name"),
        ("rm_resources", "tenant_id, server_name, uri"),
        ("rm_groups", "tenant_id, name"),
        ("rm_users", "tenant_id, name"),
        ("rm_mcp_clients", "tenant_id, name"),
        ("rm_jobs", "tenant_id, job_id"),
        ("rm_job_inputs", "tenant_id, input_id"),
        ("rm_ledgers", "tenant_id"),
        ("rm_platform_maintenance", "singleton"),
        ("rm_python_envs", "tenant_id, env_id"),
        ("rm_python_sessions", "tenant_id, session_id"),
    ] {
        let rows: (Option<serde_json::Value>,) =
            sqlx::query_as(&format!("SELECT jsonb_agg(to_jsonb(t) ORDER BY {order}) FROM {table} t"))
                .fetch_one(pool)
                .await
                .unwrap();
        out.insert(table.into(), rows.0.unwrap_or(json!([])));
    }
    serde_json::Value::Object(out)
}

#[tokio::test]
async fn rebuild_from_the_log_equals_the_live_read_models() {
    let db = canopy_testkit::fresh_database().await;
    let exec = executor(&db.pool);
    let tenant_cmd =
        canopy_domain::tenant::TenantCommand::Create { id: TenantId::default_tenant(), display_name: "Default".into() };
    exec.execute::<canopy_domain::tenant::Tenant>(&ctx(), "default", &tenant_cmd).await.unwrap();
    for name in ["a", "b", "c"] {
        let out = exec.execute::<Server>(&ctx(), name, &register(name, "http://h/mcp", false)).await.unwrap();
        let id = out.state.registered().unwrap().id;
        let catalog = Catalog {
            tools: vec![json!({"name": "t1", "title": "T"}), json!({"name": format!("{name}_t2")})],
            prompts: vec![json!({"name": "p1"})],
            resources: vec![json!({"uri": "test://r1", "name": "r1"})],
            resource_templates: vec![json!({"uriTemplate": "test://t/{x}", "name": "t"})],
        };
        exec.execute::<Server>(&ctx(), name, &ServerCommand::RecordCatalog { id, catalog }).await.unwrap();
    }
    exec.execute::<Server>(&ctx(), "b", &ServerCommand::Deregister).await.unwrap();
    let disable_t1 = ServerCommand::SetFeaturesEnabled {
        kind: canopy_domain::server::FeatureKind::Tool,
        names: Some(vec!["t1".into()]),
        enabled: false,
    };
    exec.execute::<Server>(&ctx(), "a", &disable_t1).await.unwrap();
    use canopy_domain::group::{Group, GroupCommand, GroupSpec};
    let spec = |servers: &[&str]| GroupSpec {
        included_servers: servers.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let g1 = ServerName::parse("g1").unwrap();
    exec.execute::<Group>(&ctx(), "g1", &GroupCommand::Create { name: g1, spec: spec(&["a"]) }).await.unwrap();
    exec.execute::<Group>(&ctx(), "g1", &GroupCommand::Update { spec: spec(&["a", "c"]) }).await.unwrap();
    let out = exec.execute::<Server>(&ctx(), "c", &register("c", "http://h/v2", true)).await.unwrap();
    let id = out.state.registered().unwrap().id;
    exec.execute::<Server>(&ctx(), "c", &ServerCommand::RecordDiscoveryFailure { id, error: "refused".into() })
        .await
        .unwrap();
    identities(&exec).await;
    jobs_history(&exec).await;
    python_history(&exec).await;

    let live = snapshot(&db.pool).await;
    assert_eq!(live["rm_servers"].as_array().unwrap().len(), 2, "{live}");
    let tools = live["rm_tools"].as_array().unwrap();
    let enabled: Vec<bool> = tools.iter().map(|t| t["enabled"].as_bool().unwrap()).collect();
    assert_eq!(enabled, [true, false], "a_t2 enabled, t1 disabled: {live}");
    assert_eq!(live["rm_prompts"].as_array().unwrap().len(), 1);
    assert_eq!(live["rm_groups"][0]["spec"]["included_servers"], json!(["a", "c"]));
    assert_eq!(live["rm_resources"].as_array().unwrap().len(), 2);
    assert_eq!(live["rm_tools"].as_array().unwrap().len(), 2, "only a's tools remain: {live}");
    let replayed = rebuild(&db.pool, &CanopyProjector).await.unwrap();
    assert_eq!(live["rm_users"].as_array().unwrap().len(), 1, "bob was deleted: {live}");
    assert_eq!(live["rm_users"][0]["role"], "admin");
    assert_eq!(live["rm_mcp_clients"][0]["allow"]["servers"], json!(["a", "c"]));
    assert_eq!(live["rm_jobs"].as_array().unwrap().len(), 2, "{live}");
    assert_eq!(live["rm_jobs"][0]["status"], "completed");
    assert_eq!(live["rm_jobs"][0]["settled"], true);
    assert_eq!(live["rm_jobs"][1]["status"], "cancelled");
    assert_eq!(live["rm_job_inputs"][0]["status"], "ready");
    assert_eq!(live["rm_ledgers"][0]["spent"], json!(7));
    assert_eq!(live["rm_platform_maintenance"][0]["active"], true);
    assert_eq!(live["rm_python_envs"][0]["status"], "active", "{live}");
    assert_eq!(live["rm_python_envs"][0]["frozen"]["packages"][0]["name"], "six");
    assert_eq!(live["rm_python_envs"][1]["status"], "destroyed");
    let sessions = live["rm_python_sessions"].as_array().unwrap();
    let reasons: Vec<&str> = sessions.iter().map(|s| s["ended_reason"].as_str().unwrap_or("-")).collect();
    assert_eq!(reasons, ["environment_destroyed", "worker_restarted"], "{live}");
    assert_eq!(
        replayed, 48,
        "1 tenant + 3 x (registered, catalog) + deregistered + toggled + 2 group + replaced + failed \
         + 4 user + 3 client + 20 of jobs (see jobs_history) + 8 of python (see python_history)"
    );
    assert_eq!(snapshot(&db.pool).await, live);
}

fn digest(c: char) -> canopy_domain::identity::TokenDigest {
    canopy_domain::identity::TokenDigest::parse(c.to_string().repeat(64)).unwrap()
}

/// alice (a member made admin), bob (created, then deleted), and an MCP client whose allow list
/// is updated and whose token is rotated: 4 user events and 3 client events.
async fn identities(exec: &CommandExecutor<CanopyProjector>) {
    use canopy_domain::identity::*;
    let name = |s: &str| ServerName::parse(s).unwrap();
    let create = |n: &str, t| UserCommand::Create { name: name(n), role: Role::Member, token: digest(t) };
    exec.execute::<User>(&ctx(), "alice", &create("alice", 'a')).await.unwrap();
    exec.execute::<User>(&ctx(), "alice", &UserCommand::ChangeRole { role: Role::Admin, other_owners: 0 })
        .await
        .unwrap();
    exec.execute::<User>(&ctx(), "bob", &create("bob", 'b')).await.unwrap();
    exec.execute::<User>(&ctx(), "bob", &UserCommand::Delete { other_owners: 0 }).await.unwrap();
    let allow =
        |servers: &[&str]| AllowSpec { servers: servers.iter().map(|s| s.to_string()).collect(), ..Default::default() };
    let client = McpClientCommand::Create {
        name: name("agent"),
        description: "d".into(),
        allow: allow(&["a"]),
        token: digest('c'),
    };
    exec.execute::<McpClient>(&ctx(), "agent", &client).await.unwrap();
    let update = McpClientCommand::Update { description: "d".into(), allow: allow(&["a", "c"]) };
    exec.execute::<McpClient>(&ctx(), "agent", &update).await.unwrap();
    exec.execute::<McpClient>(&ctx(), "agent", &McpClientCommand::RotateToken { token: digest('d') }).await.unwrap();
}

/// Two jobs (one run to completion with an input and an artifact, one cancelled while queued),
/// their holds and settlements, and maintenance turned on, off and on: 20 events.
/// Two environments: one gets a package, a REPL and a restore (which ends the REPL with
/// `worker_restarted`); the other a process, then a destroy (`environment_destroyed`). 8 events.
async fn python_history(exec: &CommandExecutor<CanopyProjector>) {
    use canopy_domain::python_env::{PythonEnv, PythonEnvCommand as C, SessionKind};
    let frozen = |packages: serde_json::Value| json!({"format": "canopy-python-env/v1", "python_version": "3.11.2", "packages": packages});
    let create = |name: &str| C::Create {
        name: name.into(),
        owner: "user:dev".into(),
        python_version: "3.11.2".into(),
        allow_egress: false,
        frozen: frozen(json!([])),
        worker: Some("w1".into()),
    };
    let start = |id: &str, kind| C::StartSession {
        session_id: id.into(),
        kind,
        name: "s".into(),
        owner: "user:dev".into(),
        script_path: None,
    };
    for command in [
        create("one"),
        C::RecordPackages { frozen: frozen(json!([{"name": "six", "version": "1.17.0"}])) },
        start("repl_1", SessionKind::Repl),
        C::Restore { worker: "w2".into() },
    ] {
        exec.execute::<PythonEnv>(&ctx(), "env_1", &command).await.unwrap();
    }
    for command in [create("two"), start("proc_1", SessionKind::Process), C::Destroy] {
        exec.execute::<PythonEnv>(&ctx(), "env_2", &command).await.unwrap();
    }
}

async fn jobs_history(exec: &CommandExecutor<CanopyProjector>) {
    use canopy_domain::job::*;
    use canopy_domain::job_input::*;
    use canopy_domain::job_spec::JobSpec;
    use canopy_domain::ledger::*;
    use canopy_domain::platform_settings::*;
    use canopy_domain::{ArtifactId, Credits, InputId, JobId, RunnerId};
    let c = Credits::from_micros;
    let ledger = |command: LedgerCommand| async move {
        exec.execute::<Ledger>(&ctx(), "default", &command).await.unwrap();
    };
    ledger(LedgerCommand::Grant { amount: c(1_000), note: "welcome".into() }).await;
    let input = InputId::parse("inp_1").unwrap();
    let slot = InputCommand::CreateSlot {
        id: input.clone(),
        filename: "t.py".into(),
        content_type: None,
        kind: Some("script".into()),
        max_size_bytes: 100,
    };
    exec.execute::<JobInput>(&ctx(), "inp_1", &slot).await.unwrap();
    let complete = InputCommand::Complete(Completion { stored_size_bytes: 5, ..Default::default() });
    let ready = exec.execute::<JobInput>(&ctx(), "inp_1", &complete).await.unwrap().state;
    let spec = JobSpec::from_arguments(
        &json!({"name": "j", "workload_type": "batch", "image": "python:3.11", "script_file": "inp_1"}),
    )
    .unwrap();
    let estimate =
        Estimate { cost_low: c(1), cost_high: c(100), backend: "local".into(), capacity_source: "live".into() };
    for (n, runs) in [(1, true), (2, false)] {
        let id = JobId::parse(format!("job_{n}")).unwrap();
        ledger(LedgerCommand::Hold { job: id.clone(), amount: c(100), policy: CreditPolicy::Enforced }).await;
        let inputs = [(input.clone(), ready.lookup().unwrap())].into_iter().collect();
        let submit = JobCommand::Submit {
            id: id.clone(),
            spec: spec.clone(),
            inputs,
            estimate: estimate.clone(),
            enqueue: true,
        };
        let run = |command: JobCommand| {
            let id = id.clone();
            async move { exec.execute::<Job>(&ctx(), id.as_str(), &command).await.unwrap() }
        };
        run(submit).await;
        if !runs {
            run(JobCommand::Cancel { reason: None }).await;
            ledger(LedgerCommand::Settle { job: id, actual: Credits::ZERO }).await;
            continue;
        }
        let attempt = Attempt::FIRST;
        run(JobCommand::Claim { lease: Lease { runner: RunnerId::parse("r1").unwrap(), attempt } }).await;
        run(JobCommand::ReportPhase { attempt, phase: StartingPhase::Preparing, message: "inputs".into() }).await;
        run(JobCommand::MarkRunning {
            attempt,
            execution: Execution { backend: "local".into(), execution_id: "e".into() },
            phases: vec![],
        })
        .await;
        let artifact = Artifact {
            artifact_id: ArtifactId::parse("art_1").unwrap(),
            path: "out.txt".into(),
            size_bytes: 4,
            content_type: "text/plain".into(),
            sha256: "a".repeat(64),
        };
        let finish = Finish {
            attempt,
            outcome: Outcome::Succeeded { exit_code: Some(0) },
            artifacts: vec![artifact],
            actual_cost: c(7),
        };
        run(JobCommand::Finish(finish)).await;
        ledger(LedgerCommand::Settle { job: id, actual: c(7) }).await;
    }
    let platform = CommandContext::new(TenantId::platform(), "operator:root");
    for active in [true, false, true] {
        let command = PlatformSettingsCommand::SetMaintenance { active, message: "upgrade".into() };
        exec.execute::<PlatformSettings>(&platform, DEPLOYMENT, &command).await.unwrap();
    }
}

#[tokio::test]
async fn a_token_digest_finds_its_holder_and_tenant_and_nothing_after_rotation_or_deletion() {
    use canopy_domain::identity::*;
    use canopy_readmodels::TokenHolder;
    let db = canopy_testkit::fresh_database().await;
    let exec = executor(&db.pool);
    identities(&exec).await;
    let holder = |c: char| {
        let pool = db.pool.clone();
        async move { canopy_readmodels::token_holder(&pool, digest(c).as_str()).await.unwrap() }
    };
    assert_eq!(
        holder('a').await,
        Some(TokenHolder::User { tenant_id: "default".into(), name: "alice".into(), role: "admin".into() })
    );
    let alice = holder('a').await.unwrap().principal().unwrap();
    assert_eq!(alice, canopy_policy::Principal::user(TenantId::default_tenant(), "user:alice", Role::Admin));
    let all = canopy_readmodels::all_token_holders(&db.pool).await.unwrap();
    assert_eq!(all.len(), 2, "alice and the client, each under its current digest: {all:?}");
    assert_eq!(holder('b').await, None, "a deleted user's token finds nobody");
    assert_eq!(holder('c').await, None, "a rotated-out client token finds nobody");
    match holder('d').await {
        Some(TokenHolder::Client { tenant_id, name, allow }) => {
            assert_eq!((tenant_id.as_str(), name.as_str()), ("default", "agent"));
            assert_eq!(allow.servers, ["a", "c"]);
        }
        other => panic!("{other:?}"),
    }
    // One token, one holder: the same digest cannot be given to a second identity.
    let dup = UserCommand::Create { name: ServerName::parse("eve").unwrap(), role: Role::Owner, token: digest('a') };
    assert!(exec.execute::<User>(&ctx(), "eve", &dup).await.is_err(), "a token digest is unique deployment-wide");
    let users = canopy_readmodels::list_users(&db.pool, &TenantId::default_tenant()).await.unwrap();
    assert_eq!(users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["alice"]);
}

#[tokio::test]
async fn migrations_applied_twice_are_harmless() {
    let db = canopy_testkit::fresh_database().await;
    canopy_eventstore::migrate(&db.pool).await.unwrap();
    // The files themselves are re-runnable too, for an operator who applies them by hand.
    let dir = format!("{}/../../migrations", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "sql"));
    files.sort();
    for file in &files {
        let sql = std::fs::read_to_string(file).unwrap();
        sqlx::raw_sql(&sql).execute(&db.pool).await.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    let applied: (i64,) = sqlx::query_as("SELECT count(*) FROM _sqlx_migrations").fetch_one(&db.pool).await.unwrap();
    assert_eq!(applied.0 as usize, files.len(), "every migration file is applied once");
}

/// A long stream's state is remembered by each executor (process) and brought up to date
/// with what others appended: two executors taking turns on a tenant's ledger past the
/// snapshot threshold each decide on the whole history, the other's events included.
#[tokio::test]
async fn remembered_states_of_long_streams_include_what_other_processes_appended() {
    use canopy_domain::ledger::*;
    use canopy_domain::{Credits, JobId};
    let db = canopy_testkit::fresh_database().await;
    let (a, b) = (executor(&db.pool), executor(&db.pool));
    let c = Credits::from_micros;
    a.execute::<Ledger>(&ctx(), "default", &LedgerCommand::Grant { amount: c(200), note: String::new() })
        .await
        .unwrap();
    let hold = |job: u128| LedgerCommand::Hold {
        job: JobId::from_uuid(uuid::Uuid::from_u128(job)),
        amount: c(1),
        policy: CreditPolicy::Enforced,
    };
    for i in 0..200 {
        let exec = if i % 2 == 0 { &a } else { &b };
        exec.execute::<Ledger>(&ctx(), "default", &hold(i + 1)).await.unwrap();
    }
    let key = StreamKey::of::<Ledger>(&TenantId::default_tenant(), "default");
    for exec in [&a, &b] {
        let (ledger, version) = exec.load::<Ledger>(&key).await.unwrap();
        assert_eq!(version, 201);
        assert_eq!(ledger.open_holds.len(), 200, "every hold, whichever executor placed it");
        assert_eq!(ledger.available(), Credits::ZERO);
    }
    // The one over the grant is refused by either, though each placed only half the holds.
    for exec in [&a, &b] {
        let refused = exec.execute::<Ledger>(&ctx(), "default", &hold(1_000)).await;
        assert!(matches!(refused, Err(ExecuteError::Rejected(LedgerError::InsufficientFunds { .. }))));
    }
    // A third executor, starting cold, agrees.
    let (cold, version) = executor(&db.pool).load::<Ledger>(&key).await.unwrap();
    assert_eq!((cold.open_holds.len(), version), (200, 201));
}

/// Commands of one process on one stream take turns instead of colliding: 64 holds on one
/// ledger at once all succeed (each colliding writer used to retry, and under this load some
/// gave up with a contention error after their eighth attempt).
#[tokio::test]
async fn concurrent_commands_on_one_stream_in_one_process_all_succeed() {
    use canopy_domain::ledger::*;
    use canopy_domain::{Credits, JobId};
    let db = canopy_testkit::fresh_database().await;
    let exec = executor(&db.pool);
    let grant = LedgerCommand::Grant { amount: Credits::from_micros(64), note: String::new() };
    exec.execute::<Ledger>(&ctx(), "default", &grant).await.unwrap();
    let holds: Vec<_> = (0..64u128)
        .map(|i| {
            let exec = exec.clone();
            tokio::spawn(async move {
                let hold = LedgerCommand::Hold {
                    job: JobId::from_uuid(uuid::Uuid::from_u128(i + 1)),
                    amount: Credits::from_micros(1),
                    policy: CreditPolicy::Enforced,
                };
                exec.execute::<Ledger>(&ctx(), "default", &hold).await.map(|_| ())
            })
        })
        .collect();
    for hold in holds {
        hold.await.unwrap().unwrap_or_else(|e| panic!("a hold failed: {e}"));
    }
    let key = StreamKey::of::<Ledger>(&TenantId::default_tenant(), "default");
    let (ledger, version) = exec.load::<Ledger>(&key).await.unwrap();
    assert_eq!((ledger.open_holds.len(), ledger.available(), version), (64, Credits::ZERO, 65));
}
