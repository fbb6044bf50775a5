//! One `Jobs` per test on its own database, NATS prefix and blob directory, with the blob
//! router listening on a loopback port (the public base of every URL the service hands out).

use canopy_blobs::{BlobStore, BlobStoreConfig, BlobUrls, UrlSigner};
use canopy_domain::identity::Role;
use canopy_domain::tenant::{Tenant, TenantCommand};
use canopy_domain::{RunnerId, TenantId};
use canopy_eventstore::{CommandContext, CommandExecutor, EventStore};
use canopy_jobs::{Caller, Jobs, JobsSettings};
use canopy_policy::{Principal, TenantView};
use canopy_readmodels::CanopyProjector;
use canopy_secrets::Sealer;
use serde_json::Value;
use std::sync::Arc;

pub struct Harness {
    pub jobs: Jobs,
    /// Kept for the test's length: its pool is the service's.
    pub _db: canopy_testkit::TestDb,
    pub executor: CommandExecutor<CanopyProjector>,
    pub http: reqwest::Client,
    pub base: String,
    /// The NATS prefix of this test's subjects.
    pub prefix: String,
}

pub fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

pub fn owner(name: &str) -> Caller {
    Caller::new(
        tenant(name),
        Principal::user(tenant(name), format!("user:{name}-owner"), Role::Owner),
        TenantView::new(),
    )
}

pub fn operator() -> Caller {
    Caller::new(TenantId::platform(), Principal::operator("operator:root"), TenantView::new())
}

pub fn runner(name: &str) -> RunnerId {
    RunnerId::parse(name).unwrap()
}

/// The code (as the wire spells it) and message of a refusal.
pub fn refusal<T: std::fmt::Debug>(result: Result<T, canopy_jobs::JobsError>) -> (String, String) {
    let error = result.expect_err("expected a refusal");
    let code = serde_json::to_value(error.code()).unwrap().as_str().unwrap().to_string();
    (code, error.public_message())
}

pub async fn harness(configure: impl FnOnce(&mut JobsSettings)) -> Harness {
    let db = canopy_testkit::fresh_database().await;
    let executor = CommandExecutor::new(EventStore::new(db.pool.clone()), Arc::new(CanopyProjector));
    let prefix = canopy_testkit::unique("jobs");
    let bus = canopy_bus::Bus::connect(&canopy_testkit::nats_url(), &prefix, "jobs-test")
        .await
        .expect("NATS for tests (set CANOPY_NATS_URL)");
    let root = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(canopy_testkit::unique("jobs-blobs-"));
    let store = BlobStore::open(&BlobStoreConfig::Local { root }).unwrap();
    let sealer = Sealer::from_bytes(&[9u8; 32]).unwrap();
    let signer = UrlSigner::from_sealer(&sealer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = canopy_blobs::router(store.clone(), signer.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let config =
        canopy_config::Config::from_layers(None, &[("CANOPY_JOBS_CREDITS".into(), "enforced".into())]).unwrap();
    let mut settings = JobsSettings::from_config(&config);
    settings.public_base = base.clone();
    settings.quotas.max_concurrent_jobs = 10_000;
    configure(&mut settings);
    let jobs = Jobs::new(executor.clone(), bus, BlobUrls::new(store, signer, base.clone()), &sealer, settings);
    for name in ["acme", "globex"] {
        let ctx = CommandContext::new(tenant(name), "system");
        let create = TenantCommand::Create { id: tenant(name), display_name: name.into() };
        executor.execute::<Tenant>(&ctx, name, &create).await.unwrap();
    }
    Harness { jobs, _db: db, executor, http: reqwest::Client::new(), base, prefix }
}

impl Harness {
    pub async fn grant(&self, tenant: &str, credits: &str) {
        let args = serde_json::json!({"credits": credits});
        self.jobs.grant_credits(&operator(), tenant, &args).await.unwrap();
    }
}

/// The seed's minimal example, named.
pub fn hello(name: &str) -> Value {
    serde_json::json!({
        "name": name,
        "workload_type": "batch",
        "image": "python:3.11-slim",
        "command": ["python", "-c", "print('hello from Jungle Grid')"],
        "expected_artifacts": ["/workspace/artifacts/output.txt"],
    })
}
