-- The jobs service (issue 11): read models projected from the job, job input, ledger and
-- platform settings aggregates (rm_*: written only by the projector, rebuilt by `canopy
-- rebuild`), and the operational tables of the job-pollers and uploads, which are not domain
-- state and are written directly (leases, heartbeats, log lines, capacity, upload tokens).

-- One row per job; `state` is the domain's JobState as its own `apply` leaves it, so the read
-- model cannot disagree with the aggregate. Job ids are `job_` + a UUIDv7, so ordering by id
-- is ordering by submission time (the cursor of list_jobs).
CREATE TABLE IF NOT EXISTS rm_jobs (
    tenant_id        TEXT        NOT NULL,
    job_id           TEXT        NOT NULL,
    name             TEXT        NOT NULL,
    status           TEXT        NOT NULL,
    phase            TEXT        NOT NULL,
    backend          TEXT        NOT NULL,
    state            JSONB       NOT NULL,
    version          BIGINT      NOT NULL,
    -- The global position of the event that (re)queued the job: first in, first out within a
    -- tenant, and the same after a rebuild.
    queue_position   BIGINT,
    -- The ledger settled the job's hold (a ledger.settled event for it was projected).
    settled          BOOLEAN     NOT NULL DEFAULT FALSE,
    submitted_at     TIMESTAMPTZ NOT NULL,
    queued_at        TIMESTAMPTZ,
    phase_started_at TIMESTAMPTZ NOT NULL,
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, job_id)
);
-- list_jobs with a status filter, newest first, by cursor.
CREATE INDEX IF NOT EXISTS rm_jobs_tenant_status ON rm_jobs (tenant_id, status, job_id DESC);
-- The fair claim: each tenant's queue in order, and which tenants have one (a skip scan).
CREATE INDEX IF NOT EXISTS rm_jobs_queue ON rm_jobs (tenant_id, queue_position) WHERE status = 'queued';
-- A tenant's jobs held by runners (the concurrent-jobs quota).
CREATE INDEX IF NOT EXISTS rm_jobs_active ON rm_jobs (tenant_id) WHERE status IN ('assigned', 'starting', 'running');
-- Ended jobs whose hold is not settled yet (the settlement reconciler).
CREATE INDEX IF NOT EXISTS rm_jobs_unsettled ON rm_jobs (finished_at)
    WHERE NOT settled AND status IN ('completed', 'failed', 'rejected', 'cancelled');

CREATE TABLE IF NOT EXISTS rm_job_inputs (
    tenant_id      TEXT        NOT NULL,
    input_id       TEXT        NOT NULL,
    filename       TEXT        NOT NULL,
    content_type   TEXT        NOT NULL,
    kind           TEXT        NOT NULL,
    status         TEXT        NOT NULL,
    size_bytes     BIGINT,
    mount_path     TEXT        NOT NULL,
    max_size_bytes BIGINT      NOT NULL,
    state          JSONB       NOT NULL,
    version        BIGINT      NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, input_id)
);

-- A tenant's credits in micro-credits (NUMERIC: the domain's amounts are unsigned 64-bit).
CREATE TABLE IF NOT EXISTS rm_ledgers (
    tenant_id  TEXT           PRIMARY KEY,
    granted    NUMERIC(20, 0) NOT NULL DEFAULT 0,
    held       NUMERIC(20, 0) NOT NULL DEFAULT 0,
    spent      NUMERIC(20, 0) NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ    NOT NULL
);

-- The deployment's maintenance switch (one row at most).
CREATE TABLE IF NOT EXISTS rm_platform_maintenance (
    singleton  BOOLEAN     PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    active     BOOLEAN     NOT NULL,
    message    TEXT        NOT NULL,
    since      TIMESTAMPTZ NOT NULL,
    updated_by TEXT        NOT NULL
);

-- Operational tables (not domain state; never rebuilt) ------------------------------------

-- Upload tokens of input slots: only a keyed digest of the token (the deployment key's), never
-- the token, which the slot's creator alone receives.
CREATE TABLE IF NOT EXISTS job_input_tokens (
    tenant_id    TEXT        NOT NULL,
    input_id     TEXT        NOT NULL,
    token_digest TEXT        NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, input_id)
);

-- Log lines of jobs, as the job-poller inserts them (then publishes them on
-- PREFIX.joblogs.TENANT.JOB). The entry id is the cursor: one writer per job at a time inserts
-- in order, so a job's ids grow in the order its lines were printed.
CREATE TABLE IF NOT EXISTS job_logs (
    entry_id   BIGSERIAL   PRIMARY KEY,
    tenant_id  TEXT        NOT NULL,
    job_id     TEXT        NOT NULL,
    attempt    INTEGER     NOT NULL,
    source     TEXT        NOT NULL,
    category   TEXT        NOT NULL,
    stream     TEXT        NOT NULL,
    message    TEXT        NOT NULL,
    truncated  BOOLEAN     NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS job_logs_job ON job_logs (tenant_id, job_id, entry_id);

-- Who holds a job now: the runner, its attempt and when its lease lapses. Heartbeats move
-- `expires_at`; a takeover replaces the row (compare-and-swap on the attempt) before the
-- domain records the claim of attempt n + 1. Not events: a heartbeat every few seconds per job
-- would flood the log with nothing a reader needs.
CREATE TABLE IF NOT EXISTS job_leases (
    tenant_id    TEXT        NOT NULL,
    job_id       TEXT        NOT NULL,
    runner_id    TEXT        NOT NULL,
    attempt      INTEGER     NOT NULL,
    claimed_at   TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, job_id)
);
CREATE INDEX IF NOT EXISTS job_leases_expiry ON job_leases (expires_at);

-- When each tenant last had a job claimed: the fair claim serves the tenant waiting longest.
CREATE TABLE IF NOT EXISTS job_tenant_claims (
    tenant_id       TEXT        PRIMARY KEY,
    last_claimed_at TIMESTAMPTZ NOT NULL
);

-- Free capacity each poller reports for each backend it runs; rows older than the staleness
-- window (jobs.capacity_stale_secs) are ignored by the router.
CREATE TABLE IF NOT EXISTS job_backend_capacity (
    backend     TEXT        NOT NULL,
    runner_id   TEXT        NOT NULL,
    free_slots  INTEGER     NOT NULL CHECK (free_slots >= 0),
    total_slots INTEGER     NOT NULL CHECK (total_slots >= 0),
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (backend, runner_id)
);
