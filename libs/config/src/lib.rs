//! Canopy's configuration: the commented defaults file, a config file, `CANOPY_*` environment
//! variables, in that order, then validation that names the setting and the fix.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;

/// The fully commented defaults, also printed by `canopy config defaults`.
pub const DEFAULTS_TOML: &str = include_str!("defaults.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Development,
    Enterprise,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub mode: Mode,
    pub listen: SocketAddr,
    pub public_url: String,
    pub state_dir: std::path::PathBuf,
    /// How long a starting process waits for its infrastructure to answer.
    pub startup_wait_secs: u64,
    pub secrets: SecretsConfig,
    pub database: DatabaseConfig,
    pub nats: NatsConfig,
    pub redis: RedisConfig,
    pub limits: LimitsConfig,
    pub http: HttpConfig,
    pub gateway: GatewayConfig,
    pub worker: WorkerConfig,
    pub oauth: OAuthConfig,
    pub telemetry: TelemetrySection,
    pub builtin: BuiltinConfig,
    pub jobs: JobsConfig,
    pub python: PythonConfig,
    /// Authorization servers other than Canopy's own whose access tokens are accepted
    /// (enterprise mode).
    pub external_issuers: Vec<ExternalIssuerConfig>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    pub key: String,
}

impl std::fmt::Debug for SecretsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.key.is_empty() { "SecretsConfig { key: <unset> }" } else { "SecretsConfig { key: <set> }" })
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
    pub max_connections: u32,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    pub url: String,
    pub prefix: String,
}

impl std::fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsConfig").field("url", &redact_url(&self.url)).field("prefix", &self.prefix).finish()
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    pub url: String,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig").field("url", &redact_url(&self.url)).finish()
    }
}

/// Rate limits and quotas on calls (`tools/call`, `prompts/get`, `resources/read`, REST
/// invoke, render and read), counted in Redis so every edge and api replica shares one budget. A count of 0 is
/// unlimited; everything is 0 by default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Length of the rate-limit windows (a window starts with its first call).
    pub window_secs: u64,
    /// Calls per window per tenant.
    pub tenant_calls: u64,
    /// Calls per window per principal (an MCP client or user) of a tenant.
    pub principal_calls: u64,
    /// Calls per window per tool (`server__tool`) of a tenant.
    pub tool_calls: u64,
    /// Length of the quota window (a day by default).
    pub quota_window_secs: u64,
    /// Calls per quota window per tenant.
    pub tenant_quota: u64,
    /// What a call gets when Redis does not answer: `allow` (fail open) or `deny` (fail closed:
    /// 503 with `Retry-After`).
    pub on_redis_error: String,
    /// Per-tenant counts replacing the ones above (`[limits.tenants.NAME]`, config file only).
    #[serde(default)]
    pub tenants: std::collections::BTreeMap<String, LimitOverrides>,
}

/// One tenant's own counts; a count left out is the deployment's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    pub tenant_calls: Option<u64>,
    pub principal_calls: Option<u64>,
    pub tool_calls: Option<u64>,
    pub tenant_quota: Option<u64>,
}

/// The HTTP listener's defences against clients that hold connections without using them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// A request's line and headers must arrive within this long (also the idle time allowed
    /// before the next request on a kept-alive connection).
    pub header_read_timeout_secs: u64,
    /// A request's body must arrive within this long after its headers.
    pub body_read_timeout_secs: u64,
    /// Connections served at once; more wait in the listen backlog until one closes. Capped at
    /// half the process's open-file limit.
    pub max_connections: u64,
    /// PEM certificate chain to serve HTTPS with (no proxy needed); empty: plain HTTP.
    pub tls_cert_file: String,
    /// PEM private key of `tls_cert_file`'s certificate.
    pub tls_key_file: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub call_timeout_secs: u64,
    pub discovery_wait_secs: u64,
    pub page_size: usize,
    /// See [`Config::authorization_servers`].
    pub authorization_servers: String,
    /// MCP sessions one edge process holds at once, all principals together.
    pub max_sessions: u64,
    /// MCP sessions one edge process holds at once for one principal.
    pub max_sessions_per_principal: u64,
    /// A session unused this long is closed (rmcp's keep-alive).
    pub session_idle_secs: u64,
    /// At a session cap, sessions unused this long are closed to make room.
    pub session_idle_under_pressure_secs: u64,
    /// Answered at `/.well-known/openai-apps-challenge` (OpenAI Apps domain verification);
    /// empty: that path is 404.
    pub openai_apps_challenge_token: String,
    /// Session-era tool calls answered by the edge itself, outside rmcp's session machinery.
    pub short_route: bool,
}

/// The servers Canopy hosts itself (`[builtin]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuiltinConfig {
    /// Registered in every tenant (at start and when a tenant is created).
    pub servers: Vec<canopy_domain::BuiltinKind>,
}

/// The `python` built-in's sandbox engine (`[python]`): where it keeps environments, what a
/// run may use, what installs and clones may reach, and each tenant's quotas.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonConfig {
    /// The engine's directory; empty: `<state_dir>/python`.
    pub root: String,
    /// The uv binary; empty: `$CANOPY_UV`, else `uv` on `PATH`.
    pub uv: String,
    pub index_url: String,
    /// Whether an environment may be created with network access for its code.
    pub allow_egress: bool,
    /// Hosts `workspace_git_clone` may reach; empty: cloning is refused.
    pub git_hosts: Vec<String>,
    pub run_timeout_default_secs: u64,
    pub run_timeout_max_secs: u64,
    pub memory_bytes: u64,
    pub processes: u64,
    pub output_bytes: u64,
    pub workspace_bytes: u64,
    pub workspace_files: u64,
    pub repl_idle_secs: u64,
    /// Per tenant: live environments, runs at once, REPL sessions, running processes.
    pub tenant_environments: u64,
    pub tenant_concurrent_runs: u64,
    pub tenant_repls: u64,
    pub tenant_processes: u64,
    /// Per tenant: bytes of disk all its environments (venvs and workspaces) use on one worker.
    pub tenant_disk_bytes: u64,
    /// Jumpboot's mDNS federation (`[python.federation]`), off unless enabled.
    pub federation: FederationConfig,
}

/// Jumpboot's mDNS federation (`[python.federation]`; `canopy_api::federation`): announcing
/// this Canopy's `python` server as `_jumpboot-mcp._tcp`, and registering the instances it
/// discovers as upstream servers of `tenant`. Both off by default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationConfig {
    pub announce: bool,
    pub discover: bool,
    /// The announced instance name; empty: the host name.
    pub instance_name: String,
    /// The announced `note` (free text, e.g. "GPU server for ML").
    pub note: String,
    /// The tenant discovered servers are registered in.
    pub tenant: String,
    /// The network interfaces mDNS uses (names); empty: every interface.
    pub interfaces: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    pub upstream_connect_timeout_secs: u64,
    pub upstream_idle_timeout_secs: u64,
    pub catalog_refresh_secs: u64,
    pub stdio_pool_max: u64,
    pub drain_timeout_secs: u64,
    /// PEM bundle of CA certificates trusted for https:// upstreams besides the platform's;
    /// empty: none.
    pub upstream_ca_file: String,
    /// Reuse HTTP connections to Streamable HTTP upstreams instead of opening one per request
    /// (on by default).
    pub upstream_keep_alive: bool,
    /// A worker takes the calls of an edge or api in its own process directly, not over NATS.
    pub local_calls: bool,
}

/// Canopy's own OAuth 2.1 authorization server (enterprise mode, in the api service).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// Lifetime of an access token (JWT).
    pub access_token_ttl_secs: u64,
    /// Lifetime of one refresh token of a chain (each refresh starts a new one).
    pub refresh_token_ttl_secs: u64,
    /// The absolute end of a grant: no refresh token outlives it; the user logs in again.
    pub grant_ttl_secs: u64,
    /// Lifetime of an authorization code.
    pub code_ttl_secs: u64,
    /// A new signing key is made when the current one is this old (the old one keeps verifying
    /// until no token it signed can still be valid).
    pub key_rotation_days: u64,
    /// Accept client ID metadata documents (a client_id that is an https URL, fetched).
    pub client_metadata_documents: bool,
    /// Also fetch client ID metadata documents, and accept tenants' identity providers, at
    /// http:// loopback URLs (tests, local development). Never in production: otherwise only
    /// https URLs of public addresses are fetched (no loopback, private or link-local ones).
    pub allow_loopback_http: bool,
}

/// The jobs service: credits, signed URLs, leases, quotas, blob storage and the backends'
/// price table (`[jobs]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// `auto`, `enforced` or `unlimited`.
    pub credits: String,
    pub url_ttl_secs: u64,
    pub follow_max_secs: u64,
    pub lease_secs: u64,
    pub capacity_stale_secs: u64,
    pub quotas: JobQuotas,
    /// Per-tenant quotas replacing the ones above (`[jobs.tenants.NAME]`, config file only).
    #[serde(default)]
    pub tenants: std::collections::BTreeMap<String, JobQuotaOverrides>,
    pub blobs: BlobsConfig,
    pub backends: std::collections::BTreeMap<String, JobBackendConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobQuotas {
    pub max_concurrent_jobs: u64,
    pub max_job_duration_secs: u64,
    pub max_upload_bytes: u64,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobQuotaOverrides {
    pub max_concurrent_jobs: Option<u64>,
    pub max_job_duration_secs: Option<u64>,
    pub max_upload_bytes: Option<u64>,
}

impl JobsConfig {
    /// A tenant's quotas: its overrides over the deployment's.
    pub fn quotas_for(&self, tenant: &str) -> JobQuotas {
        let Some(o) = self.tenants.get(tenant) else { return self.quotas };
        JobQuotas {
            max_concurrent_jobs: o.max_concurrent_jobs.unwrap_or(self.quotas.max_concurrent_jobs),
            max_job_duration_secs: o.max_job_duration_secs.unwrap_or(self.quotas.max_job_duration_secs),
            max_upload_bytes: o.max_upload_bytes.unwrap_or(self.quotas.max_upload_bytes),
        }
    }
}

/// Where inputs and artifacts are kept.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobsConfig {
    /// `local` or `s3`.
    pub store: String,
    /// The local store's directory; empty: `<state_dir>/blobs`.
    pub dir: String,
    pub s3_bucket: String,
    pub s3_region: String,
    pub s3_endpoint: String,
    pub s3_access_key_id: String,
    pub s3_secret_access_key: String,
}

impl std::fmt::Debug for BlobsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobsConfig")
            .field("store", &self.store)
            .field("dir", &self.dir)
            .field("s3_bucket", &self.s3_bucket)
            .field("s3_region", &self.s3_region)
            .field("s3_endpoint", &self.s3_endpoint)
            .field("s3_access_key_id", &self.s3_access_key_id)
            .field("s3_secret_access_key", &if self.s3_secret_access_key.is_empty() { "<unset>" } else { "<set>" })
            .finish()
    }
}

/// One execution backend the router may choose, with its prices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobBackendConfig {
    pub enabled: bool,
    pub credits_per_hour: f64,
    pub start_fee_credits: f64,
    pub startup_secs: u64,
    /// Image patterns it runs (`*` matches any run of characters).
    pub images: Vec<String>,
    /// Jobs one job-poller runs on it at once; 0: local, the machine's CPUs; ray, 16.
    #[serde(default)]
    pub slots: u32,
    /// Ray: the dashboard's base URL, where its Jobs API answers (`http://127.0.0.1:8265`).
    #[serde(default)]
    pub dashboard_url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySection {
    pub log_format: String,
    pub log_filter: String,
    pub otlp_endpoint: String,
    pub prometheus: bool,
}

/// One external authorization server whose access tokens a tenant's identities may present:
/// JWTs checked against its JWKS (`jwks_uri`), or opaque tokens asked about at its RFC 7662
/// introspection endpoint with client credentials. The tenant is this configuration's, never
/// the token's.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalIssuerConfig {
    /// The exact `iss` its tokens carry (its RFC 8414 issuer identifier).
    pub issuer: String,
    /// The tenant whose users and MCP clients its tokens name.
    pub tenant: String,
    #[serde(default)]
    pub jwks_uri: String,
    #[serde(default)]
    pub introspection_endpoint: String,
    /// Client credentials for the introspection endpoint (HTTP Basic).
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    /// The claim naming the Canopy user or MCP client (`alice`, or `user:alice`/`client:cursor`).
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// The audience its tokens carry for every Canopy endpoint, for issuers without RFC 8707
    /// resource indicators; empty: the endpoint's own URL, as Canopy's tokens.
    #[serde(default)]
    pub audience: String,
    /// Opaque tokens starting with this go to this issuer's introspection endpoint; required
    /// when more than one issuer introspects, so no issuer is shown another's tokens.
    #[serde(default)]
    pub token_prefix: String,
    /// JWS algorithms its JWKS keys may sign with (`RS256`, `ES256`, ...); empty: every
    /// asymmetric algorithm (each key is pinned to one).
    #[serde(default)]
    pub algorithms: Vec<String>,
    /// Also accept JWTs typed `JWT` or untyped (issuers that predate RFC 9068).
    #[serde(default)]
    pub accept_untyped_tokens: bool,
}

fn default_subject_claim() -> String {
    "sub".into()
}

impl std::fmt::Debug for ExternalIssuerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalIssuerConfig")
            .field("issuer", &self.issuer)
            .field("tenant", &self.tenant)
            .field("jwks_uri", &self.jwks_uri)
            .field("introspection_endpoint", &self.introspection_endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &if self.client_secret.is_empty() { "<unset>" } else { "<set>" })
            .field("subject_claim", &self.subject_claim)
            .field("audience", &self.audience)
            .field("token_prefix", &self.token_prefix)
            .field("algorithms", &self.algorithms)
            .field("accept_untyped_tokens", &self.accept_untyped_tokens)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Parse { path: String, message: String },
    #[error("configuration error: {0}")]
    Invalid(String),
    #[error("{setting} is invalid: {message}")]
    Setting { setting: String, message: String },
}

/// How a PEM certificate starts.
const PEM_CERTIFICATE: &str = "-----BEGIN CERTIFICATE";

/// (environment variable, TOML path) pairs; the first variable found for a path wins.
const ENV: &[(&str, &str)] = &[
    ("CANOPY_MODE", "mode"),
    ("CANOPY_LISTEN", "listen"),
    ("CANOPY_PUBLIC_URL", "public_url"),
    ("CANOPY_STATE_DIR", "state_dir"),
    ("CANOPY_STARTUP_WAIT_SECS", "startup_wait_secs"),
    ("CANOPY_SECRET_KEY", "secrets.key"),
    ("CANOPY_DATABASE_URL", "database.url"),
    ("DATABASE_URL", "database.url"),
    ("CANOPY_DATABASE_MAX_CONNECTIONS", "database.max_connections"),
    ("CANOPY_NATS_URL", "nats.url"),
    ("CANOPY_NATS_PREFIX", "nats.prefix"),
    ("CANOPY_REDIS_URL", "redis.url"),
    ("CANOPY_LIMIT_WINDOW_SECS", "limits.window_secs"),
    ("CANOPY_LIMIT_TENANT_CALLS", "limits.tenant_calls"),
    ("CANOPY_LIMIT_PRINCIPAL_CALLS", "limits.principal_calls"),
    ("CANOPY_LIMIT_TOOL_CALLS", "limits.tool_calls"),
    ("CANOPY_QUOTA_WINDOW_SECS", "limits.quota_window_secs"),
    ("CANOPY_QUOTA_TENANT_CALLS", "limits.tenant_quota"),
    ("CANOPY_LIMITS_ON_REDIS_ERROR", "limits.on_redis_error"),
    ("CANOPY_CALL_TIMEOUT_SECS", "gateway.call_timeout_secs"),
    ("CANOPY_DISCOVERY_WAIT_SECS", "gateway.discovery_wait_secs"),
    ("CANOPY_PAGE_SIZE", "gateway.page_size"),
    ("CANOPY_AUTHORIZATION_SERVERS", "gateway.authorization_servers"),
    ("CANOPY_MAX_SESSIONS", "gateway.max_sessions"),
    ("CANOPY_MAX_SESSIONS_PER_PRINCIPAL", "gateway.max_sessions_per_principal"),
    ("CANOPY_SESSION_IDLE_SECS", "gateway.session_idle_secs"),
    ("CANOPY_SESSION_IDLE_UNDER_PRESSURE_SECS", "gateway.session_idle_under_pressure_secs"),
    ("CANOPY_OPENAI_APPS_CHALLENGE_TOKEN", "gateway.openai_apps_challenge_token"),
    ("CANOPY_GATEWAY_SHORT_ROUTE", "gateway.short_route"),
    ("CANOPY_BUILTIN_SERVERS", "builtin.servers"),
    ("CANOPY_PYTHON_ROOT", "python.root"),
    ("CANOPY_PYTHON_INDEX_URL", "python.index_url"),
    ("CANOPY_PYTHON_ALLOW_EGRESS", "python.allow_egress"),
    ("CANOPY_PYTHON_GIT_HOSTS", "python.git_hosts"),
    ("CANOPY_PYTHON_TENANT_DISK_BYTES", "python.tenant_disk_bytes"),
    ("CANOPY_FEDERATION_ANNOUNCE", "python.federation.announce"),
    ("CANOPY_FEDERATION_DISCOVER", "python.federation.discover"),
    ("CANOPY_FEDERATION_INSTANCE_NAME", "python.federation.instance_name"),
    ("CANOPY_FEDERATION_NOTE", "python.federation.note"),
    ("CANOPY_FEDERATION_TENANT", "python.federation.tenant"),
    ("CANOPY_FEDERATION_INTERFACES", "python.federation.interfaces"),
    ("CANOPY_HEADER_READ_TIMEOUT_SECS", "http.header_read_timeout_secs"),
    ("CANOPY_BODY_READ_TIMEOUT_SECS", "http.body_read_timeout_secs"),
    ("CANOPY_MAX_CONNECTIONS", "http.max_connections"),
    ("CANOPY_TLS_CERT_FILE", "http.tls_cert_file"),
    ("CANOPY_TLS_KEY_FILE", "http.tls_key_file"),
    ("CANOPY_UPSTREAM_CONNECT_TIMEOUT_SECS", "worker.upstream_connect_timeout_secs"),
    ("CANOPY_UPSTREAM_IDLE_TIMEOUT_SECS", "worker.upstream_idle_timeout_secs"),
    ("SESSION_IDLE_TIMEOUT_SEC", "worker.upstream_idle_timeout_secs"),
    ("CANOPY_CATALOG_REFRESH_SECS", "worker.catalog_refresh_secs"),
    ("CANOPY_STDIO_POOL_MAX", "worker.stdio_pool_max"),
    ("CANOPY_DRAIN_TIMEOUT_SECS", "worker.drain_timeout_secs"),
    ("CANOPY_UPSTREAM_CA_FILE", "worker.upstream_ca_file"),
    ("CANOPY_UPSTREAM_KEEP_ALIVE", "worker.upstream_keep_alive"),
    ("CANOPY_WORKER_LOCAL_CALLS", "worker.local_calls"),
    ("CANOPY_OAUTH_ACCESS_TOKEN_TTL_SECS", "oauth.access_token_ttl_secs"),
    ("CANOPY_OAUTH_REFRESH_TOKEN_TTL_SECS", "oauth.refresh_token_ttl_secs"),
    ("CANOPY_OAUTH_GRANT_TTL_SECS", "oauth.grant_ttl_secs"),
    ("CANOPY_OAUTH_CODE_TTL_SECS", "oauth.code_ttl_secs"),
    ("CANOPY_OAUTH_KEY_ROTATION_DAYS", "oauth.key_rotation_days"),
    ("CANOPY_OAUTH_CLIENT_METADATA_DOCUMENTS", "oauth.client_metadata_documents"),
    ("CANOPY_OAUTH_ALLOW_LOOPBACK_HTTP", "oauth.allow_loopback_http"),
    ("CANOPY_LOG_FORMAT", "telemetry.log_format"),
    ("CANOPY_LOG", "telemetry.log_filter"),
    ("CANOPY_OTLP_ENDPOINT", "telemetry.otlp_endpoint"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "telemetry.otlp_endpoint"),
    ("CANOPY_PROMETHEUS", "telemetry.prometheus"),
    ("CANOPY_EXTERNAL_ISSUERS", "external_issuers"),
    ("CANOPY_JOBS_CREDITS", "jobs.credits"),
    ("CANOPY_JOBS_URL_TTL_SECS", "jobs.url_ttl_secs"),
    ("CANOPY_JOBS_FOLLOW_MAX_SECS", "jobs.follow_max_secs"),
    ("CANOPY_JOBS_LEASE_SECS", "jobs.lease_secs"),
    ("CANOPY_JOBS_CAPACITY_STALE_SECS", "jobs.capacity_stale_secs"),
    ("CANOPY_JOBS_MAX_CONCURRENT", "jobs.quotas.max_concurrent_jobs"),
    ("CANOPY_JOBS_MAX_DURATION_SECS", "jobs.quotas.max_job_duration_secs"),
    ("CANOPY_JOBS_MAX_UPLOAD_BYTES", "jobs.quotas.max_upload_bytes"),
    ("CANOPY_JOBS_LOCAL_ENABLED", "jobs.backends.local.enabled"),
    ("CANOPY_JOBS_LOCAL_SLOTS", "jobs.backends.local.slots"),
    ("CANOPY_JOBS_RAY_ENABLED", "jobs.backends.ray.enabled"),
    ("CANOPY_JOBS_RAY_URL", "jobs.backends.ray.dashboard_url"),
    ("CANOPY_JOBS_RAY_SLOTS", "jobs.backends.ray.slots"),
    ("CANOPY_BLOBS_STORE", "jobs.blobs.store"),
    ("CANOPY_BLOBS_DIR", "jobs.blobs.dir"),
    ("CANOPY_BLOBS_S3_BUCKET", "jobs.blobs.s3_bucket"),
    ("CANOPY_BLOBS_S3_REGION", "jobs.blobs.s3_region"),
    ("CANOPY_BLOBS_S3_ENDPOINT", "jobs.blobs.s3_endpoint"),
    ("CANOPY_BLOBS_S3_ACCESS_KEY_ID", "jobs.blobs.s3_access_key_id"),
    ("CANOPY_BLOBS_S3_SECRET_ACCESS_KEY", "jobs.blobs.s3_secret_access_key"),
];

/// Settings that may hold a secret (a key, a password or token inside a URL, a client secret).
/// Each environment variable of one of these also has a `<VAR>_FILE` form naming a file that
/// holds the value (the convention of Docker and Kubernetes secrets), so no secret needs to sit
/// in the environment. Only these: a `_FILE` form of any other variable is not read.
pub const SECRET_SETTINGS: &[&str] =
    &["secrets.key", "database.url", "nats.url", "redis.url", "external_issuers", "jobs.blobs.s3_secret_access_key"];

/// The suffix of an environment variable naming a file that holds a secret setting's value.
pub const FILE_SUFFIX: &str = "_FILE";

/// The value of `var` (a variable for the setting at `path`) from the environment: the variable
/// itself or, for a secret setting, the contents of the file its `_FILE` form names (trailing
/// newlines trimmed). Both set is an error naming both; an unreadable or empty file is an error
/// naming the variable and the path, never the contents.
fn env_value(env: &[(String, String)], var: &str, path: &str) -> Result<Option<String>, ConfigError> {
    let direct = env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone());
    if !SECRET_SETTINGS.contains(&path) {
        return Ok(direct);
    }
    let file_var = format!("{var}{FILE_SUFFIX}");
    let file = env.iter().find(|(k, v)| *k == file_var && !v.is_empty()).map(|(_, v)| v.as_str());
    let Some(file) = file else {
        return Ok(direct);
    };
    if direct.is_some() {
        return Err(ConfigError::Setting {
            setting: format!("{var} and {file_var} ({path})"),
            message: "both are set: set only one (the value, or the file holding it)".into(),
        });
    }
    let bad = |message: String| ConfigError::Setting { setting: format!("{file_var} ({path})"), message };
    let bytes = std::fs::read(file).map_err(|e| bad(format!("cannot read '{file}': {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| bad(format!("'{file}' is not UTF-8 text")))?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(bad(format!("'{file}' is empty")));
    }
    Ok(Some(value.to_string()))
}

/// `url` with any password (`user:***@`) or token (`***@`) in it hidden, for messages.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let authority_end = url[scheme_end..].find(['/', '?', '#']).map_or(url.len(), |i| scheme_end + i);
    let Some(at) = url[scheme_end..authority_end].rfind('@').map(|i| scheme_end + i) else {
        return url.to_string();
    };
    let userinfo = &url[scheme_end..at];
    let shown = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_string(),
    };
    format!("{}{shown}{}", &url[..scheme_end], &url[at..])
}

impl Config {
    /// Defaults, then `file` (if given, else `CANOPY_CONFIG` if set), then the process
    /// environment, then validation.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env.iter().find(|(k, _)| k == "CANOPY_CONFIG").map(|(_, v)| v.into()));
        let text = match &file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?,
            ),
            None => None,
        };
        let name = file.map(|p| p.display().to_string()).unwrap_or_default();
        Self::from_layers(text.as_deref().map(|t| (name.as_str(), t)), &env)
    }

    /// The pure core of `load`, for tests: optional (name, TOML text), then env pairs.
    pub fn from_layers(file: Option<(&str, &str)>, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let mut merged: toml::Table = DEFAULTS_TOML.parse().expect("defaults parse");
        if let Some((path, text)) = file {
            let overlay: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Parse {
                path: path.to_string(),
                message: e.message().to_string(),
            })?;
            merge(&mut merged, overlay);
        }
        let mut applied = std::collections::HashSet::new();
        for (var, path) in ENV {
            if applied.contains(path) {
                continue;
            }
            let Some(value) = env_value(env, var, path)? else {
                continue;
            };
            applied.insert(*path);
            set_path(&mut merged, path, &value, var)?;
        }
        let config: Config = toml::Value::Table(merged).try_into().map_err(|e: toml::de::Error| {
            ConfigError::Invalid(format!("{} (see `canopy config defaults` for every setting)", e.message()))
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |setting: &str, message: String| Err(ConfigError::Setting { setting: setting.into(), message });
        for (setting, value) in [
            ("oauth.access_token_ttl_secs", self.oauth.access_token_ttl_secs),
            ("oauth.refresh_token_ttl_secs", self.oauth.refresh_token_ttl_secs),
            ("oauth.grant_ttl_secs", self.oauth.grant_ttl_secs),
            ("oauth.code_ttl_secs", self.oauth.code_ttl_secs),
            ("oauth.key_rotation_days", self.oauth.key_rotation_days),
        ] {
            if value == 0 {
                return bad(setting, "must be positive".into());
            }
        }
        for (setting, value) in [
            ("python.run_timeout_default_secs", self.python.run_timeout_default_secs),
            ("python.tenant_environments", self.python.tenant_environments),
            ("python.tenant_concurrent_runs", self.python.tenant_concurrent_runs),
            ("python.tenant_disk_bytes", self.python.tenant_disk_bytes),
        ] {
            if value == 0 {
                return bad(setting, "must be positive".into());
            }
        }
        if self.python.run_timeout_default_secs > self.python.run_timeout_max_secs {
            let message = format!(
                "{} is more than python.run_timeout_max_secs ({})",
                self.python.run_timeout_default_secs, self.python.run_timeout_max_secs
            );
            return bad("python.run_timeout_default_secs", message);
        }
        self.validate_federation()?;
        if self.oauth.code_ttl_secs > 600 {
            let message = format!("must be at most 600 (RFC 6749 4.1.2), got {}", self.oauth.code_ttl_secs);
            return bad("oauth.code_ttl_secs", message);
        }
        if !(self.database.url.starts_with("postgres://") || self.database.url.starts_with("postgresql://")) {
            return bad("database.url (CANOPY_DATABASE_URL)", "must start with postgres:// or postgresql://".into());
        }
        if !(self.nats.url.starts_with("nats://") || self.nats.url.starts_with("tls://")) {
            return bad(
                "nats.url (CANOPY_NATS_URL)",
                format!("must start with nats:// or tls://, got '{}'", redact_url(&self.nats.url)),
            );
        }
        if self.nats.prefix.is_empty()
            || !self.nats.prefix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return bad(
                "nats.prefix (CANOPY_NATS_PREFIX)",
                format!("'{}' must be lowercase letters, digits and '_'", self.nats.prefix),
            );
        }
        if !(self.redis.url.starts_with("redis://") || self.redis.url.starts_with("rediss://")) {
            return bad(
                "redis.url (CANOPY_REDIS_URL)",
                format!("must start with redis:// or rediss://, got '{}'", redact_url(&self.redis.url)),
            );
        }
        let http = self.public_url.starts_with("http://") || self.public_url.starts_with("https://");
        if !self.public_url.is_empty() && !http {
            return bad("public_url (CANOPY_PUBLIC_URL)", format!("must be an http(s) URL, got '{}'", self.public_url));
        }
        if let Some(url) =
            self.authorization_servers().find(|u| !(u.starts_with("https://") || u.starts_with("http://")))
        {
            return bad(
                "gateway.authorization_servers (CANOPY_AUTHORIZATION_SERVERS)",
                format!("'{url}' is not an http(s) URL"),
            );
        }
        if !["human", "json"].contains(&self.telemetry.log_format.as_str()) {
            return bad(
                "telemetry.log_format (CANOPY_LOG_FORMAT)",
                format!("must be \"human\" or \"json\", got '{}'", self.telemetry.log_format),
            );
        }
        if self.limits.window_secs == 0 || self.limits.quota_window_secs == 0 {
            return bad(
                "limits.window_secs (CANOPY_LIMIT_WINDOW_SECS), limits.quota_window_secs (CANOPY_QUOTA_WINDOW_SECS)",
                "must be at least 1".into(),
            );
        }
        if !["allow", "deny"].contains(&self.limits.on_redis_error.as_str()) {
            return bad(
                "limits.on_redis_error (CANOPY_LIMITS_ON_REDIS_ERROR)",
                format!("must be \"allow\" or \"deny\", got '{}'", self.limits.on_redis_error),
            );
        }
        if let Some(name) = self.limits.tenants.keys().find(|t| t.is_empty() || t.contains([':', '{', '}'])) {
            return bad("limits.tenants", format!("'{name}' is not a tenant id"));
        }
        if self.database.max_connections == 0 {
            return bad("database.max_connections", "must be at least 1".into());
        }
        if self.gateway.call_timeout_secs == 0 {
            return bad("gateway.call_timeout_secs", "must be at least 1".into());
        }
        for (setting, value) in [
            ("http.header_read_timeout_secs (CANOPY_HEADER_READ_TIMEOUT_SECS)", self.http.header_read_timeout_secs),
            ("http.body_read_timeout_secs (CANOPY_BODY_READ_TIMEOUT_SECS)", self.http.body_read_timeout_secs),
            ("http.max_connections (CANOPY_MAX_CONNECTIONS)", self.http.max_connections),
            ("gateway.max_sessions (CANOPY_MAX_SESSIONS)", self.gateway.max_sessions),
            (
                "gateway.max_sessions_per_principal (CANOPY_MAX_SESSIONS_PER_PRINCIPAL)",
                self.gateway.max_sessions_per_principal,
            ),
            ("gateway.session_idle_secs (CANOPY_SESSION_IDLE_SECS)", self.gateway.session_idle_secs),
        ] {
            if value == 0 {
                return bad(setting, "must be at least 1".into());
            }
        }
        if !(1..=256).contains(&self.worker.stdio_pool_max) {
            return bad(
                "worker.stdio_pool_max (CANOPY_STDIO_POOL_MAX)",
                format!("must be between 1 and 256, got {}", self.worker.stdio_pool_max),
            );
        }
        if let Some(path) = self.upstream_ca_file() {
            let setting = "worker.upstream_ca_file (CANOPY_UPSTREAM_CA_FILE)";
            let text = std::fs::read(path).map_err(|e| ConfigError::Setting {
                setting: setting.into(),
                message: format!("cannot read '{}': {e}", path.display()),
            })?;
            if !text.windows(PEM_CERTIFICATE.len()).any(|w| w == PEM_CERTIFICATE.as_bytes()) {
                return bad(setting, format!("'{}' holds no PEM certificate ({PEM_CERTIFICATE}-----)", path.display()));
            }
        }
        self.validate_tls()?;
        self.validate_external_issuers()?;
        self.validate_jobs()?;
        if self.mode == Mode::Enterprise && self.secrets.key.is_empty() {
            return bad(
                "secrets.key (CANOPY_SECRET_KEY)",
                "is required in enterprise mode: generate one with `canopy secret-key`".into(),
            );
        }
        if self.mode == Mode::Development && !self.listen.ip().is_loopback() {
            return bad(
                "listen (CANOPY_LISTEN)",
                format!("development mode has no authentication and only listens on loopback; {} is not loopback (use --enterprise to serve a network)", self.listen),
            );
        }
        Ok(())
    }

    /// HTTPS needs both files, each readable; their contents are checked by the listener.
    fn validate_tls(&self) -> Result<(), ConfigError> {
        let (cert, key) = (&self.http.tls_cert_file, &self.http.tls_key_file);
        if cert.is_empty() != key.is_empty() {
            return Err(ConfigError::Setting {
                setting: "http.tls_cert_file (CANOPY_TLS_CERT_FILE, --tls-cert), http.tls_key_file (CANOPY_TLS_KEY_FILE, --tls-key)".into(),
                message: "set both or neither".into(),
            });
        }
        for (setting, path) in [
            ("http.tls_cert_file (CANOPY_TLS_CERT_FILE, --tls-cert)", cert),
            ("http.tls_key_file (CANOPY_TLS_KEY_FILE, --tls-key)", key),
        ] {
            if !path.is_empty() {
                std::fs::metadata(path).map_err(|e| ConfigError::Setting {
                    setting: setting.into(),
                    message: format!("cannot read '{path}': {e}"),
                })?;
            }
        }
        Ok(())
    }

    /// The certificate and key files to serve HTTPS with, when TLS is on.
    pub fn tls_files(&self) -> Option<(&Path, &Path)> {
        (!self.http.tls_cert_file.is_empty())
            .then(|| (Path::new(self.http.tls_cert_file.as_str()), Path::new(self.http.tls_key_file.as_str())))
    }

    fn validate_jobs(&self) -> Result<(), ConfigError> {
        let bad = |setting: &str, message: String| Err(ConfigError::Setting { setting: setting.into(), message });
        let jobs = &self.jobs;
        if !["auto", "enforced", "unlimited"].contains(&jobs.credits.as_str()) {
            let message = format!("must be \"auto\", \"enforced\" or \"unlimited\", got '{}'", jobs.credits);
            return bad("jobs.credits (CANOPY_JOBS_CREDITS)", message);
        }
        for (setting, value) in [
            ("jobs.url_ttl_secs (CANOPY_JOBS_URL_TTL_SECS)", jobs.url_ttl_secs),
            ("jobs.follow_max_secs (CANOPY_JOBS_FOLLOW_MAX_SECS)", jobs.follow_max_secs),
            ("jobs.lease_secs (CANOPY_JOBS_LEASE_SECS)", jobs.lease_secs),
            ("jobs.capacity_stale_secs (CANOPY_JOBS_CAPACITY_STALE_SECS)", jobs.capacity_stale_secs),
            ("jobs.quotas.max_concurrent_jobs (CANOPY_JOBS_MAX_CONCURRENT)", jobs.quotas.max_concurrent_jobs),
            ("jobs.quotas.max_job_duration_secs (CANOPY_JOBS_MAX_DURATION_SECS)", jobs.quotas.max_job_duration_secs),
            ("jobs.quotas.max_upload_bytes (CANOPY_JOBS_MAX_UPLOAD_BYTES)", jobs.quotas.max_upload_bytes),
        ] {
            if value == 0 {
                return bad(setting, "must be at least 1".into());
            }
        }
        if jobs.url_ttl_secs > 7 * 24 * 3600 {
            return bad("jobs.url_ttl_secs (CANOPY_JOBS_URL_TTL_SECS)", "must be at most a week (604800)".into());
        }
        match jobs.blobs.store.as_str() {
            "local" => {}
            "s3" if jobs.blobs.s3_bucket.is_empty() => {
                return bad("jobs.blobs.s3_bucket (CANOPY_BLOBS_S3_BUCKET)", "is required with store = \"s3\"".into())
            }
            "s3" => {}
            other => {
                return bad(
                    "jobs.blobs.store (CANOPY_BLOBS_STORE)",
                    format!("must be \"local\" or \"s3\", got '{other}'"),
                )
            }
        }
        for (name, backend) in &jobs.backends {
            let setting = format!("jobs.backends.{name}");
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                return bad(&setting, "a backend name is lowercase letters, digits and '-'".into());
            }
            let price_ok = |p: f64| p.is_finite() && (0.0..=1e9).contains(&p);
            if !price_ok(backend.credits_per_hour) || !price_ok(backend.start_fee_credits) {
                return bad(&setting, "prices must be between 0 and 1e9 credits".into());
            }
            if backend.enabled && backend.images.is_empty() {
                return bad(&setting, "an enabled backend must name the images it runs".into());
            }
            if name == "ray" && backend.enabled {
                let url = &backend.dashboard_url;
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    let message = format!(
                        "an enabled Ray backend needs its dashboard's URL (CANOPY_JOBS_RAY_URL, e.g. \
                         http://127.0.0.1:8265), got '{url}'"
                    );
                    return bad("jobs.backends.ray.dashboard_url", message);
                }
            }
        }
        if !jobs.backends.values().any(|b| b.enabled) {
            return bad("jobs.backends", "at least one backend must be enabled".into());
        }
        Ok(())
    }

    /// Whether holds must fit a tenant's credits, as `jobs.credits` and the mode say.
    pub fn credits_enforced(&self) -> bool {
        match self.jobs.credits.as_str() {
            "enforced" => true,
            "unlimited" => false,
            _ => self.mode == Mode::Enterprise,
        }
    }

    /// The local blob store's directory: `jobs.blobs.dir`, or `<state_dir>/blobs`.
    pub fn blob_dir(&self) -> std::path::PathBuf {
        if self.jobs.blobs.dir.is_empty() {
            self.state_dir.join("blobs")
        } else {
            std::path::PathBuf::from(&self.jobs.blobs.dir)
        }
    }

    fn validate_external_issuers(&self) -> Result<(), ConfigError> {
        let setting = "external_issuers (CANOPY_EXTERNAL_ISSUERS)";
        let bad = |message: String| Err(ConfigError::Setting { setting: setting.into(), message });
        let is_url = |u: &str| u.starts_with("https://") || u.starts_with("http://");
        let issuers = &self.external_issuers;
        for (i, e) in issuers.iter().enumerate() {
            if !is_url(&e.issuer) {
                return bad(format!("issuer '{}' is not an http(s) URL", e.issuer));
            }
            if e.issuer.trim_end_matches('/') == self.public_base() {
                return bad(format!("'{}' is Canopy's own issuer", e.issuer));
            }
            if issuers[..i].iter().any(|o| o.issuer == e.issuer) {
                return bad(format!("issuer '{}' is configured twice", e.issuer));
            }
            if e.tenant.is_empty() {
                return bad(format!("issuer '{}' needs the tenant its tokens are for", e.issuer));
            }
            match (e.jwks_uri.is_empty(), e.introspection_endpoint.is_empty()) {
                (false, true) if is_url(&e.jwks_uri) => {}
                (true, false) if is_url(&e.introspection_endpoint) => {
                    if e.client_id.is_empty() || e.client_secret.is_empty() {
                        return bad(format!("issuer '{}': introspection needs client_id and client_secret", e.issuer));
                    }
                }
                (false, false) | (true, true) => {
                    return bad(format!(
                        "issuer '{}' needs exactly one of jwks_uri or introspection_endpoint",
                        e.issuer
                    ))
                }
                _ => {
                    return bad(format!(
                        "issuer '{}': its jwks_uri or introspection_endpoint is not an http(s) URL",
                        e.issuer
                    ))
                }
            }
            if e.subject_claim.is_empty() {
                return bad(format!("issuer '{}': subject_claim must not be empty", e.issuer));
            }
        }
        let introspecting: Vec<_> = issuers.iter().filter(|e| !e.introspection_endpoint.is_empty()).collect();
        if introspecting.len() > 1 && introspecting.iter().any(|e| e.token_prefix.is_empty()) {
            return bad("with more than one introspection endpoint, each issuer needs a token_prefix".into());
        }
        Ok(())
    }

    /// The extra CA certificates for https:// upstreams (`worker.upstream_ca_file`), if set.
    pub fn upstream_ca_file(&self) -> Option<&Path> {
        Some(Path::new(self.worker.upstream_ca_file.as_str())).filter(|p| !p.as_os_str().is_empty())
    }

    /// The authorization servers named in the MCP endpoints' protected-resource metadata.
    pub fn authorization_servers(&self) -> impl Iterator<Item = &str> {
        self.gateway.authorization_servers.split([' ', ',']).filter(|u| !u.is_empty())
    }

    /// The public base URL, without a trailing slash (by default the listen address, https when
    /// the listener serves TLS).
    /// `[python.federation]`: what goes into an mDNS record must fit one (a DNS label of 63
    /// bytes, TXT strings of 255), and announcing needs the `python` server it announces.
    fn validate_federation(&self) -> Result<(), ConfigError> {
        let f = &self.python.federation;
        let bad = |setting: &str, message: String| Err(ConfigError::Setting { setting: setting.into(), message });
        if f.instance_name.len() > 63 || f.instance_name.chars().any(char::is_control) {
            let message = format!(
                "must be at most 63 bytes without control characters, got '{}'",
                f.instance_name.escape_debug()
            );
            return bad("python.federation.instance_name (CANOPY_FEDERATION_INSTANCE_NAME)", message);
        }
        if f.note.len() > 200 || f.note.chars().any(char::is_control) {
            return bad(
                "python.federation.note (CANOPY_FEDERATION_NOTE)",
                format!("must be at most 200 bytes without control characters, got {} bytes", f.note.len()),
            );
        }
        if let Err(e) = canopy_domain::TenantId::parse(f.tenant.clone()) {
            return bad("python.federation.tenant (CANOPY_FEDERATION_TENANT)", e.to_string());
        }
        if let Some(name) = f
            .interfaces
            .iter()
            .find(|n| n.is_empty() || n.len() > 15 || n.contains(['/', ' ']) || *n == "." || *n == "..")
        {
            return bad(
                "python.federation.interfaces (CANOPY_FEDERATION_INTERFACES)",
                format!("'{name}' is not an interface name"),
            );
        }
        if f.announce {
            if !self.builtin.servers.contains(&canopy_domain::BuiltinKind::Python) {
                return bad(
                    "python.federation.announce (CANOPY_FEDERATION_ANNOUNCE)",
                    "announces the python server, which builtin.servers (CANOPY_BUILTIN_SERVERS) does not include"
                        .into(),
                );
            }
            let endpoint = format!("{}/servers/python/mcp", self.public_base());
            if endpoint.len() > 240 {
                return bad(
                    "public_url (CANOPY_PUBLIC_URL)",
                    "too long to announce over mDNS (python.federation.announce)".into(),
                );
            }
        }
        Ok(())
    }

    pub fn public_base(&self) -> String {
        if self.public_url.is_empty() {
            let scheme = if self.tls_files().is_some() { "https" } else { "http" };
            format!("{scheme}://{}", self.listen)
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }
}

fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

/// Sets a dotted path from an environment string, keeping the type of the default there.
fn set_path(table: &mut toml::Table, path: &str, raw: &str, var: &str) -> Result<(), ConfigError> {
    let (parent, leaf) = match path.rsplit_once('.') {
        Some((p, l)) => (Some(p), l),
        None => (None, path),
    };
    let mut target = table;
    for section in parent.into_iter().flat_map(|p| p.split('.')) {
        target = match target.get_mut(section) {
            Some(toml::Value::Table(t)) => t,
            _ => unreachable!("defaults define every section"),
        };
    }
    // A secret's value is never shown, even when it is wrong.
    let shown = if SECRET_SETTINGS.contains(&path) { "the value (not shown)".to_string() } else { format!("'{raw}'") };
    let bad = |what: &str| ConfigError::Setting {
        setting: format!("{var} ({path})"),
        message: format!("{shown} is not {what}"),
    };
    let value = match target.get(leaf) {
        Some(toml::Value::Integer(_)) => toml::Value::Integer(raw.trim().parse().map_err(|_| bad("an integer"))?),
        Some(toml::Value::Boolean(_)) => toml::Value::Boolean(match raw.trim() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => return Err(bad("a boolean (true/false)")),
        }),
        // A list (of tables): a TOML array, e.g. `[{issuer = "https://as", tenant = "acme", ...}]`.
        Some(toml::Value::Array(_)) => {
            let parsed: toml::Table = format!("value = {raw}").parse().map_err(|_| bad("a TOML array"))?;
            parsed.get("value").filter(|v| v.is_array()).cloned().ok_or_else(|| bad("a TOML array"))?
        }
        _ => toml::Value::String(raw.to_string()),
    };
    target.insert(leaf.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn federation_is_off_by_default_and_checked() {
        let config = Config::from_layers(None, &[]).unwrap();
        let f = &config.python.federation;
        assert!(!f.announce && !f.discover && f.instance_name.is_empty() && f.interfaces.is_empty());
        assert_eq!(f.tenant, "default");
        let vars = env(&[
            ("CANOPY_FEDERATION_DISCOVER", "true"),
            ("CANOPY_FEDERATION_INSTANCE_NAME", "gpu-server"),
            ("CANOPY_FEDERATION_NOTE", "GPU server for ML"),
            ("CANOPY_FEDERATION_TENANT", "acme"),
            ("CANOPY_FEDERATION_INTERFACES", r#"["eth1"]"#),
        ]);
        let f = Config::from_layers(None, &vars).unwrap().python.federation;
        assert!(f.discover && !f.announce);
        assert_eq!(
            (f.instance_name.as_str(), f.note.as_str(), f.tenant.as_str()),
            ("gpu-server", "GPU server for ML", "acme")
        );
        assert_eq!(f.interfaces, ["eth1"]);
        for (vars, setting) in [
            (
                env(&[("CANOPY_FEDERATION_ANNOUNCE", "true"), ("CANOPY_BUILTIN_SERVERS", "[]")]),
                "python.federation.announce",
            ),
            (env(&[("CANOPY_FEDERATION_TENANT", "Not A Tenant")]), "python.federation.tenant"),
            (env(&[("CANOPY_FEDERATION_INSTANCE_NAME", &"x".repeat(64))]), "python.federation.instance_name"),
            (env(&[("CANOPY_FEDERATION_NOTE", "a\nb")]), "python.federation.note"),
            (env(&[("CANOPY_FEDERATION_INTERFACES", r#"["../x"]"#)]), "python.federation.interfaces"),
        ] {
            let err = Config::from_layers(None, &vars).unwrap_err().to_string();
            assert!(err.contains(setting), "{setting}: {err}");
        }
        let vars = env(&[("CANOPY_FEDERATION_ANNOUNCE", "true"), ("CANOPY_BUILTIN_SERVERS", r#"["python"]"#)]);
        assert!(Config::from_layers(None, &vars).unwrap().python.federation.announce);
    }

    #[test]
    fn the_python_section_has_safe_defaults_and_checked_timeouts() {
        let config = Config::from_layers(None, &[]).unwrap();
        assert!(!config.python.allow_egress && config.python.git_hosts.is_empty());
        assert_eq!(config.python.index_url, "https://pypi.org/simple");
        let env = [("CANOPY_PYTHON_GIT_HOSTS".to_string(), r#"["github.com"]"#.to_string())];
        assert_eq!(Config::from_layers(None, &env).unwrap().python.git_hosts, ["github.com"]);
        let file = "[python]\nrun_timeout_default_secs = 700\n";
        let err = Config::from_layers(Some(("c.toml", file)), &[]).unwrap_err().to_string();
        assert!(err.contains("python.run_timeout_default_secs") && err.contains("run_timeout_max_secs"), "{err}");
        assert_eq!(config.python.tenant_disk_bytes, 10 << 30);
        let env = [("CANOPY_PYTHON_TENANT_DISK_BYTES".to_string(), "1048576".to_string())];
        assert_eq!(Config::from_layers(None, &env).unwrap().python.tenant_disk_bytes, 1 << 20);
        let file = "[python]\ntenant_disk_bytes = 0\n";
        let err = Config::from_layers(Some(("c.toml", file)), &[]).unwrap_err().to_string();
        assert!(err.contains("python.tenant_disk_bytes"), "{err}");
    }

    #[test]
    fn defaults_load_and_validate() {
        let c = Config::from_layers(None, &[]).unwrap();
        assert_eq!(c.mode, Mode::Development);
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_base(), "http://127.0.0.1:8080");
        assert_eq!(c.nats.prefix, "canopy");
    }

    #[test]
    fn file_then_env_win_in_order() {
        let file = "listen = \"127.0.0.1:9000\"\n[nats]\nprefix = \"fromfile\"\n[database]\nmax_connections = 3\n";
        let c = Config::from_layers(
            Some(("c.toml", file)),
            &env(&[
                ("CANOPY_NATS_PREFIX", "fromenv"),
                ("DATABASE_URL", "postgres://x/db"),
                ("CANOPY_PROMETHEUS", "false"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.nats.prefix, "fromenv");
        assert_eq!(c.database.max_connections, 3);
        assert_eq!(c.database.url, "postgres://x/db");
        assert!(!c.telemetry.prometheus);
        assert!(c.worker.upstream_keep_alive, "on by default");
        let off = Config::from_layers(None, &env(&[("CANOPY_UPSTREAM_KEEP_ALIVE", "false")])).unwrap();
        assert!(!off.worker.upstream_keep_alive);
        assert!(c.worker.local_calls, "on by default");
        let off = Config::from_layers(None, &env(&[("CANOPY_WORKER_LOCAL_CALLS", "false")])).unwrap();
        assert!(!off.worker.local_calls);
        assert!(c.gateway.short_route, "on by default");
        let off = Config::from_layers(None, &env(&[("CANOPY_GATEWAY_SHORT_ROUTE", "false")])).unwrap();
        assert!(!off.gateway.short_route);
        // CANOPY_DATABASE_URL beats DATABASE_URL
        let c = Config::from_layers(
            None,
            &env(&[("DATABASE_URL", "postgres://a/a"), ("CANOPY_DATABASE_URL", "postgres://b/b")]),
        )
        .unwrap();
        assert_eq!(c.database.url, "postgres://b/b");
    }

    #[test]
    fn errors_name_the_setting() {
        let check = |file: Option<&str>, e: &[(&str, &str)], expected: &str| {
            let err = Config::from_layers(file.map(|f| ("c.toml", f)), &env(e)).unwrap_err().to_string();
            assert!(err.contains(expected), "{err} should mention {expected}");
        };
        check(Some("lisen = \"x\""), &[], "unknown field `lisen`");
        check(Some("listen = "), &[], "c.toml is not valid TOML");
        check(None, &[("CANOPY_DATABASE_URL", "mysql://x")], "database.url (CANOPY_DATABASE_URL)");
        check(
            None,
            &[("CANOPY_DATABASE_MAX_CONNECTIONS", "ten")],
            "CANOPY_DATABASE_MAX_CONNECTIONS (database.max_connections)",
        );
        check(None, &[("CANOPY_NATS_PREFIX", "Bad.Prefix")], "nats.prefix");
        check(None, &[("CANOPY_LISTEN", "0.0.0.0:8080")], "only listens on loopback");
        check(None, &[("CANOPY_MODE", "prod")], "unknown variant `prod`");
    }

    #[test]
    fn authorization_servers_are_a_list_of_urls() {
        assert_eq!(Config::from_layers(None, &[]).unwrap().authorization_servers().count(), 0);
        let e = env(&[("CANOPY_AUTHORIZATION_SERVERS", "https://a.example, https://b.example/x")]);
        let c = Config::from_layers(None, &e).unwrap();
        assert_eq!(c.authorization_servers().collect::<Vec<_>>(), ["https://a.example", "https://b.example/x"]);
        let err = Config::from_layers(None, &env(&[("CANOPY_AUTHORIZATION_SERVERS", "as.example")])).unwrap_err();
        assert!(err.to_string().contains("gateway.authorization_servers (CANOPY_AUTHORIZATION_SERVERS)"), "{err}");
    }

    #[test]
    fn the_upstream_ca_file_must_be_a_readable_pem_bundle() {
        let dir = std::env::temp_dir().join(format!("canopy-config-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (pem, text, missing) = (dir.join("ca.pem"), dir.join("notes.txt"), dir.join("missing.pem"));
        std::fs::write(&pem, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").unwrap();
        std::fs::write(&text, "not a certificate\n").unwrap();
        let load =
            |path: &Path| Config::from_layers(None, &env(&[("CANOPY_UPSTREAM_CA_FILE", path.to_str().unwrap())]));

        assert_eq!(Config::from_layers(None, &[]).unwrap().upstream_ca_file(), None, "unset by default");
        assert_eq!(load(&pem).unwrap().upstream_ca_file(), Some(pem.as_path()));
        let file = format!("[worker]\nupstream_ca_file = {:?}\n", pem.to_str().unwrap());
        assert_eq!(Config::from_layers(Some(("c.toml", &file)), &[]).unwrap().upstream_ca_file(), Some(pem.as_path()));
        for (path, expected) in [(&missing, "cannot read"), (&text, "holds no PEM certificate")] {
            let err = load(path).unwrap_err().to_string();
            assert!(err.contains("worker.upstream_ca_file (CANOPY_UPSTREAM_CA_FILE) is invalid"), "{err}");
            assert!(err.contains(expected) && err.contains(path.to_str().unwrap()), "{err}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn external_issuers_come_from_the_file_or_one_variable() {
        assert!(Config::from_layers(None, &[]).unwrap().external_issuers.is_empty());
        let file = "[[external_issuers]]\nissuer = \"https://jg.example\"\ntenant = \"grid\"\n\
                    introspection_endpoint = \"https://jg.example/oauth/introspect\"\n\
                    client_id = \"canopy\"\nclient_secret = \"s3cret\"\n";
        let c = Config::from_layers(Some(("c.toml", file)), &[]).unwrap();
        let jg = &c.external_issuers[0];
        assert_eq!((jg.tenant.as_str(), jg.subject_claim.as_str()), ("grid", "sub"));
        assert!(!format!("{c:?}").contains("s3cret"), "the secret never shows in Debug");
        let var = r#"[{issuer = "https://kc.example/realms/a", tenant = "acme", jwks_uri = "https://kc.example/certs", algorithms = ["RS256"]}]"#;
        let c = Config::from_layers(None, &env(&[("CANOPY_EXTERNAL_ISSUERS", var)])).unwrap();
        assert_eq!(c.external_issuers[0].algorithms, ["RS256"]);
        let check = |var: &str, expected: &str| {
            let err = Config::from_layers(None, &env(&[("CANOPY_EXTERNAL_ISSUERS", var)])).unwrap_err().to_string();
            assert!(err.contains(expected), "{err} should mention {expected}");
        };
        check("not a list", "CANOPY_EXTERNAL_ISSUERS (external_issuers)");
        check(r#"[{issuer = "https://a", tenant = "t"}]"#, "exactly one of jwks_uri or introspection_endpoint");
        check(r#"[{issuer = "https://a", tenant = "t", introspection_endpoint = "https://a/i"}]"#, "client_id");
        check(r#"[{issuer = "a", tenant = "t", jwks_uri = "https://a/j"}]"#, "not an http(s) URL");
        check(r#"[{issuer = "http://127.0.0.1:8080", tenant = "t", jwks_uri = "https://a/j"}]"#, "Canopy's own");
    }

    #[test]
    fn limits_are_off_by_default_and_set_by_env_and_file() {
        let c = Config::from_layers(None, &[]).unwrap().limits;
        assert_eq!((c.tenant_calls, c.principal_calls, c.tool_calls, c.tenant_quota), (0, 0, 0, 0));
        assert_eq!((c.window_secs, c.quota_window_secs, c.on_redis_error.as_str()), (60, 86_400, "allow"));
        let e = env(&[("CANOPY_LIMIT_PRINCIPAL_CALLS", "10"), ("CANOPY_LIMITS_ON_REDIS_ERROR", "deny")]);
        let file = "[limits]\ntool_calls = 5\n[limits.tenants.acme]\ntenant_quota = 1000\n";
        let c = Config::from_layers(Some(("c.toml", file)), &e).unwrap().limits;
        assert_eq!((c.principal_calls, c.tool_calls, c.on_redis_error.as_str()), (10, 5, "deny"));
        assert_eq!(c.tenants["acme"].tenant_quota, Some(1000));
        assert_eq!(c.tenants["acme"].tenant_calls, None);
        let err = |e: &[(&str, &str)], file: Option<&str>| {
            Config::from_layers(file.map(|f| ("c.toml", f)), &env(e)).unwrap_err().to_string()
        };
        assert!(err(&[("CANOPY_LIMIT_TENANT_CALLS", "many")], None).contains("CANOPY_LIMIT_TENANT_CALLS"));
        assert!(err(&[("CANOPY_LIMITS_ON_REDIS_ERROR", "maybe")], None).contains("limits.on_redis_error"));
        assert!(err(&[("CANOPY_LIMIT_WINDOW_SECS", "0")], None).contains("must be at least 1"));
        assert!(err(&[], Some("[limits.tenants.acme]\ncalls = 1\n")).contains("unknown field `calls`"));
    }

    /// A folder of its own for a test's files.
    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("canopy-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn every_secret_setting_can_come_from_a_file() {
        let dir = scratch("secret-files");
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path.to_str().unwrap().to_string()
        };
        let key = write("key", "a2V5\n");
        let db = write("db", "postgres://canopy:pg-s3cret@db:5432/canopy\r\n");
        let nats = write("nats", "nats://canopy:nats-s3cret@nats:4222");
        let redis = write("redis", "redis://:redis-s3cret@redis:6379\n\n");
        let issuers = write(
            "issuers",
            "[{issuer = \"https://jg.example\", tenant = \"grid\", introspection_endpoint = \"https://jg.example/i\", \
             client_id = \"canopy\", client_secret = \"idp-s3cret\"}]\n",
        );
        let c = Config::from_layers(
            None,
            &env(&[
                ("CANOPY_SECRET_KEY_FILE", &key),
                ("CANOPY_DATABASE_URL_FILE", &db),
                ("CANOPY_NATS_URL_FILE", &nats),
                ("CANOPY_REDIS_URL_FILE", &redis),
                ("CANOPY_EXTERNAL_ISSUERS_FILE", &issuers),
            ]),
        )
        .unwrap();
        assert_eq!(c.secrets.key, "a2V5", "the trailing newline is trimmed");
        assert_eq!(c.database.url, "postgres://canopy:pg-s3cret@db:5432/canopy", "CRLF trimmed too");
        assert_eq!(c.nats.url, "nats://canopy:nats-s3cret@nats:4222");
        assert_eq!(c.redis.url, "redis://:redis-s3cret@redis:6379");
        assert_eq!(c.external_issuers[0].client_secret, "idp-s3cret");
        let shown = format!("{c:?}");
        for secret in ["a2V5", "pg-s3cret", "nats-s3cret", "redis-s3cret", "idp-s3cret"] {
            assert!(!shown.contains(secret), "{secret} never shows in Debug: {shown}");
        }

        // DATABASE_URL has its _FILE form too; CANOPY_DATABASE_URL (or its file) still wins.
        let c = Config::from_layers(None, &env(&[("DATABASE_URL_FILE", &db)])).unwrap();
        assert_eq!(c.database.url, "postgres://canopy:pg-s3cret@db:5432/canopy");
        let c =
            Config::from_layers(None, &env(&[("DATABASE_URL_FILE", &db), ("CANOPY_DATABASE_URL", "postgres://b/b")]))
                .unwrap();
        assert_eq!(c.database.url, "postgres://b/b");
        // An empty _FILE variable is as unset (a template that left it blank).
        let c = Config::from_layers(None, &env(&[("CANOPY_SECRET_KEY_FILE", "")])).unwrap();
        assert_eq!(c.secrets.key, "");
        // Only secret settings have a _FILE form.
        let c = Config::from_layers(None, &env(&[("CANOPY_NATS_PREFIX_FILE", &key)])).unwrap();
        assert_eq!(c.nats.prefix, "canopy");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn secret_files_fail_naming_the_setting_and_path_never_the_content() {
        let dir = scratch("secret-file-errors");
        let (empty, wrong, missing) = (dir.join("empty"), dir.join("wrong"), dir.join("missing"));
        std::fs::write(&empty, "\n").unwrap();
        std::fs::write(&wrong, "mysql://root:top-s3cret@db/x\n").unwrap();
        let err = |pairs: &[(&str, &str)]| Config::from_layers(None, &env(pairs)).unwrap_err().to_string();
        let (empty, wrong, missing) = (empty.to_str().unwrap(), wrong.to_str().unwrap(), missing.to_str().unwrap());

        let e = err(&[("CANOPY_SECRET_KEY", "k"), ("CANOPY_SECRET_KEY_FILE", empty)]);
        assert!(e.contains("CANOPY_SECRET_KEY and CANOPY_SECRET_KEY_FILE (secrets.key)"), "{e}");
        assert!(e.contains("both are set"), "{e}");
        let e = err(&[("CANOPY_DATABASE_URL_FILE", missing)]);
        assert!(e.contains("CANOPY_DATABASE_URL_FILE (database.url) is invalid: cannot read"), "{e}");
        assert!(e.contains(missing), "names the path: {e}");
        let e = err(&[("CANOPY_REDIS_URL_FILE", empty)]);
        assert!(e.contains("CANOPY_REDIS_URL_FILE (redis.url)") && e.contains("is empty"), "{e}");
        // A value read from a file that is wrong is named by its setting, its content hidden.
        let e = err(&[("CANOPY_DATABASE_URL_FILE", wrong)]);
        assert!(e.contains("database.url (CANOPY_DATABASE_URL)") && !e.contains("top-s3cret"), "{e}");
        std::fs::write(dir.join("nats"), "http://user:top-s3cret@nats:4222\n").unwrap();
        let e = err(&[("CANOPY_NATS_URL_FILE", dir.join("nats").to_str().unwrap())]);
        assert!(e.contains("nats.url (CANOPY_NATS_URL)") && e.contains("user:***@nats"), "{e}");
        assert!(!e.contains("top-s3cret"), "{e}");
        std::fs::write(dir.join("issuers"), "[{client_secret = \"top-s3cret\"\n").unwrap();
        let e = err(&[("CANOPY_EXTERNAL_ISSUERS_FILE", dir.join("issuers").to_str().unwrap())]);
        assert!(e.contains("CANOPY_EXTERNAL_ISSUERS (external_issuers)") && !e.contains("top-s3cret"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn urls_are_redacted_for_messages() {
        assert_eq!(redact_url("redis://:pw@h:6379/0"), "redis://:***@h:6379/0");
        assert_eq!(redact_url("nats://tok3n@h:4222"), "nats://***@h:4222");
        assert_eq!(redact_url("postgres://u:p@h/db?x=a@b"), "postgres://u:***@h/db?x=a@b");
        assert_eq!(redact_url("nats://h:4222"), "nats://h:4222");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn tls_needs_both_files_and_makes_the_public_url_https() {
        let dir = scratch("tls");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\n").unwrap();
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").unwrap();
        let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
        let c =
            Config::from_layers(None, &env(&[("CANOPY_TLS_CERT_FILE", cert), ("CANOPY_TLS_KEY_FILE", key)])).unwrap();
        assert_eq!(c.tls_files(), Some((Path::new(cert), Path::new(key))));
        assert_eq!(c.public_base(), "https://127.0.0.1:8080");
        let file =
            format!("public_url = \"https://mcp.example\"\n[http]\ntls_cert_file = {cert:?}\ntls_key_file = {key:?}\n");
        let c = Config::from_layers(Some(("c.toml", &file)), &[]).unwrap();
        assert_eq!(c.public_base(), "https://mcp.example");
        assert_eq!(Config::from_layers(None, &[]).unwrap().tls_files(), None);

        let e = Config::from_layers(None, &env(&[("CANOPY_TLS_CERT_FILE", cert)])).unwrap_err().to_string();
        assert!(e.contains("http.tls_key_file (CANOPY_TLS_KEY_FILE, --tls-key)") && e.contains("set both"), "{e}");
        let missing = dir.join("missing.pem");
        let e = Config::from_layers(
            None,
            &env(&[("CANOPY_TLS_CERT_FILE", cert), ("CANOPY_TLS_KEY_FILE", missing.to_str().unwrap())]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("http.tls_key_file (CANOPY_TLS_KEY_FILE, --tls-key) is invalid: cannot read"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn jobs_settings_come_from_defaults_file_and_env() {
        let c = Config::from_layers(None, &[]).unwrap();
        assert!(!c.credits_enforced(), "development: unlimited credits");
        assert_eq!(c.jobs.quotas.max_concurrent_jobs, 4);
        assert_eq!(c.blob_dir(), std::path::Path::new(".state/blobs"));
        assert!(c.jobs.backends["local"].enabled && !c.jobs.backends["ray"].enabled);
        let e = env(&[
            ("CANOPY_JOBS_CREDITS", "enforced"),
            ("CANOPY_JOBS_MAX_CONCURRENT", "9"),
            ("CANOPY_BLOBS_STORE", "s3"),
            ("CANOPY_BLOBS_S3_BUCKET", "jobs"),
            ("CANOPY_BLOBS_S3_SECRET_ACCESS_KEY", "hush"),
        ]);
        let file = "[jobs.tenants.acme]\nmax_upload_bytes = 10\n[jobs.backends.ray]\nenabled = true\ncredits_per_hour = 0.5\nstart_fee_credits = 0\nstartup_secs = 6\nimages = [\"python:3.*\"]\n";
        // An enabled Ray backend names its dashboard.
        let refused = Config::from_layers(Some(("c.toml", file)), &e).unwrap_err().to_string();
        assert!(
            refused.contains("jobs.backends.ray.dashboard_url") && refused.contains("CANOPY_JOBS_RAY_URL"),
            "{refused}"
        );
        let file = format!("{file}dashboard_url = \"http://127.0.0.1:8265\"\nslots = 3\n");
        let c = Config::from_layers(Some(("c.toml", &file)), &e).unwrap();
        assert_eq!(
            (c.jobs.backends["ray"].slots, c.jobs.backends["ray"].dashboard_url.as_str()),
            (3, "http://127.0.0.1:8265")
        );
        assert!(c.credits_enforced());
        assert_eq!((c.jobs.quotas.max_concurrent_jobs, c.jobs.blobs.store.as_str()), (9, "s3"));
        assert_eq!(c.jobs.quotas_for("acme").max_upload_bytes, 10);
        assert_eq!(c.jobs.quotas_for("acme").max_concurrent_jobs, 9);
        assert!(c.jobs.backends["ray"].enabled);
        assert!(!format!("{c:?}").contains("hush"), "the S3 secret never shows in Debug");
        let err = |e: &[(&str, &str)]| Config::from_layers(None, &env(e)).unwrap_err().to_string();
        assert!(err(&[("CANOPY_JOBS_CREDITS", "free")]).contains("jobs.credits (CANOPY_JOBS_CREDITS)"));
        assert!(err(&[("CANOPY_BLOBS_STORE", "s3")]).contains("CANOPY_BLOBS_S3_BUCKET"));
        assert!(err(&[("CANOPY_JOBS_MAX_UPLOAD_BYTES", "0")]).contains("must be at least 1"));
    }

    #[test]
    fn enterprise_may_listen_anywhere() {
        let e = env(&[("CANOPY_MODE", "enterprise"), ("CANOPY_LISTEN", "0.0.0.0:8080")]);
        let err = Config::from_layers(None, &e).unwrap_err().to_string();
        assert!(err.contains("secrets.key (CANOPY_SECRET_KEY) is invalid: is required in enterprise mode"), "{err}");
        let mut e = e;
        e.push(("CANOPY_SECRET_KEY".into(), "k".into()));
        let c = Config::from_layers(None, &e).unwrap();
        assert!(!format!("{c:?}").contains("key: \"k\""), "the key never shows in Debug");
        assert_eq!(c.mode, Mode::Enterprise);
    }
}
