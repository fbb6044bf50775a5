-- The python built-in (issue 12, item 7): read models projected from the python_env aggregate
-- (rm_*: written only by the projector, rebuilt by `canopy rebuild`). An environment's bytes
-- (venv, workspace) are on a worker's disk; what is here is enough to re-create it on any
-- worker: its interpreter, egress and frozen specification.

CREATE TABLE IF NOT EXISTS rm_python_envs (
    tenant_id      TEXT        NOT NULL,
    env_id         TEXT        NOT NULL,
    name           TEXT        NOT NULL,
    -- The principal that created it.
    owner          TEXT        NOT NULL,
    python_version TEXT        NOT NULL,
    allow_egress   BOOLEAN     NOT NULL,
    -- active | destroyed
    status         TEXT        NOT NULL,
    -- The engine's frozen specification (canopy-python-env/v1) after the last change.
    frozen         JSONB       NOT NULL,
    version        BIGINT      NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, env_id)
);
CREATE INDEX IF NOT EXISTS rm_python_envs_active ON rm_python_envs (tenant_id, created_at) WHERE status = 'active';

-- REPL sessions and spawned processes, as the event log knows them: started by whom, and
-- ended with which reason (worker_restarted, environment_destroyed, killed, ...).
CREATE TABLE IF NOT EXISTS rm_python_sessions (
    tenant_id    TEXT        NOT NULL,
    session_id   TEXT        NOT NULL,
    env_id       TEXT        NOT NULL,
    -- repl | process
    kind         TEXT        NOT NULL,
    name         TEXT        NOT NULL,
    owner        TEXT        NOT NULL,
    script_path  TEXT,
    -- running | ended
    status       TEXT        NOT NULL,
    ended_reason TEXT,
    started_at   TIMESTAMPTZ NOT NULL,
    ended_at     TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, session_id)
);
CREATE INDEX IF NOT EXISTS rm_python_sessions_env ON rm_python_sessions (tenant_id, env_id);
