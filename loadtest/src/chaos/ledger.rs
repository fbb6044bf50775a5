//! What the load did and what it was told: every admin command with its outcome (acknowledged,
//! refused, or unknown because its answer was lost), the access token of every identity it made
//! (MCP clients and users of the default tenant; each other tenant's tokens by tenant), every
//! tool call with its time and result, and every fault. The checks and the report read only
//! this and the system's final state.

use std::sync::{Arc, Mutex};

/// The kinds of admin commands the load sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CommandKind {
    /// `POST /servers` with an `Idempotency-Key`.
    Register,
    /// `DELETE /servers/NAME` with an `Idempotency-Key`.
    Deregister,
    CreateGroup,
    UpdateGroup,
    DeleteGroup,
    CreateClient,
    DeleteClient,
    /// `POST /users` in the default tenant, as its owner (a member with a token of the load's).
    CreateUser,
    /// `DELETE /users/NAME`.
    DeleteUser,
    /// `POST /tenants` as the platform operator: the tenant and its owner (a token of the load's).
    CreateTenant,
    /// `POST /tenants/ID/suspend` (the operator).
    SuspendTenant,
    /// `POST /tenants/ID/resume` (the operator).
    ResumeTenant,
    /// Commands the API must refuse: a reused idempotency key with another body (409), an
    /// unknown transport (400), a token another client holds (409).
    MustRefuse,
}

impl CommandKind {
    pub fn label(self) -> &'static str {
        match self {
            CommandKind::Register => "register server (idempotency key)",
            CommandKind::Deregister => "deregister server (idempotency key)",
            CommandKind::CreateGroup => "create group",
            CommandKind::UpdateGroup => "update group",
            CommandKind::DeleteGroup => "delete group",
            CommandKind::CreateClient => "create MCP client",
            CommandKind::DeleteClient => "delete MCP client",
            CommandKind::CreateUser => "create user",
            CommandKind::DeleteUser => "delete user",
            CommandKind::CreateTenant => "create tenant (operator)",
            CommandKind::SuspendTenant => "suspend tenant (operator)",
            CommandKind::ResumeTenant => "resume tenant (operator)",
            CommandKind::MustRefuse => "invalid command (must be refused)",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Acked { status: u16 },
    /// An attempt's answer was lost; a retry answered what only a committed earlier attempt
    /// explains (409 for a create, 404 for a delete). Expected in the log, once.
    AckedEarlier { status: u16 },
    /// A 4xx answer to the first attempt (or to every attempt).
    Refused { status: u16 },
    /// No definite answer before the harness gave up.
    Unknown { last: String },
}

#[derive(Clone, Debug)]
pub struct CommandRecord {
    pub kind: CommandKind,
    /// The aggregate's name (server, group, client, user; a tenant's id).
    pub name: String,
    pub idempotency_key: Option<String>,
    /// For group updates: the servers the group includes after it.
    pub group_servers: Option<Vec<String>>,
    pub outcome: Outcome,
    pub attempts: u32,
    /// Seconds since the run started.
    pub at: f64,
}

impl CommandRecord {
    pub fn committed(&self) -> bool {
        matches!(self.outcome, Outcome::Acked { .. } | Outcome::AckedEarlier { .. })
    }
}

#[derive(Clone, Debug)]
pub struct CallRecord {
    /// The unique `message` argument of `fx__echo`; None for a failed (re)connection.
    pub message: Option<String>,
    pub start: f64,
    pub end: f64,
    pub error: Option<String>,
}

#[derive(Clone, Debug)]
pub struct FaultRecord {
    pub at: f64,
    /// `kill -9 edge-2`, `restart postgres`, ...
    pub what: String,
    /// The service or infrastructure piece (for the per-service counts).
    pub target: String,
    /// When what was killed answered /readyz again (seconds since the run started).
    pub back_at: Option<f64>,
}

/// Per tenant, (label, token) of each of its identities.
pub type TenantTokens = std::collections::BTreeMap<String, Vec<(String, String)>>;

/// Shared, append-only records of a run.
#[derive(Clone, Default)]
pub struct Ledger {
    pub commands: Arc<Mutex<Vec<CommandRecord>>>,
    pub calls: Arc<Mutex<Vec<CallRecord>>>,
    pub faults: Arc<Mutex<Vec<FaultRecord>>>,
    /// The access token of each MCP client and user of the default tenant the load tried to
    /// create, by name (names are unique across both).
    pub tokens: Arc<Mutex<std::collections::BTreeMap<String, String>>>,
    /// Per tenant other than the default: (label, token) of each of its identities that
    /// certainly exists (its creation acknowledged).
    pub tenant_tokens: Arc<Mutex<TenantTokens>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Ledger {
    pub fn command(&self, record: CommandRecord) {
        lock(&self.commands).push(record);
    }

    pub fn note_token(&self, client: &str, token: &str) {
        lock(&self.tokens).insert(client.to_string(), token.to_string());
    }

    pub fn tokens(&self) -> std::collections::BTreeMap<String, String> {
        lock(&self.tokens).clone()
    }

    /// Notes a token of an identity of `tenant` whose creation was acknowledged.
    pub fn note_tenant_token(&self, tenant: &str, label: &str, token: &str) {
        lock(&self.tenant_tokens).entry(tenant.to_string()).or_default().push((label.to_string(), token.to_string()));
    }

    pub fn tenant_tokens(&self) -> TenantTokens {
        lock(&self.tenant_tokens).clone()
    }

    pub fn call(&self, record: CallRecord) {
        lock(&self.calls).push(record);
    }

    /// Records a fault; returns its index, for [`Ledger::fault_back`].
    pub fn fault(&self, record: FaultRecord) -> usize {
        let mut faults = lock(&self.faults);
        faults.push(record);
        faults.len() - 1
    }

    pub fn fault_back(&self, index: usize, at: f64) {
        if let Some(f) = lock(&self.faults).get_mut(index) {
            f.back_at = Some(at);
        }
    }

    pub fn commands(&self) -> Vec<CommandRecord> {
        lock(&self.commands).clone()
    }

    pub fn calls(&self) -> Vec<CallRecord> {
        lock(&self.calls).clone()
    }

    pub fn faults(&self) -> Vec<FaultRecord> {
        lock(&self.faults).clone()
    }
}
