-- Read models projected from the events in the write transaction. Every row here can be
-- rebuilt from the events table (`canopy rebuild`); nothing is written here any other way.
CREATE TABLE IF NOT EXISTS rm_tenants (
    tenant_id    TEXT        PRIMARY KEY,
    display_name TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS rm_servers (
    tenant_id     TEXT        NOT NULL,
    name          TEXT        NOT NULL,
    server_id     UUID        NOT NULL,
    transport     TEXT        NOT NULL,
    description   TEXT        NOT NULL,
    -- the registration with secrets still sealed; read APIs redact them further
    spec          JSONB       NOT NULL,
    status        TEXT        NOT NULL,
    status_error  TEXT,
    enabled       BOOLEAN     NOT NULL,
    -- the aggregate's state after `version` (a snapshot): what edge caches start from
    state         JSONB       NOT NULL,
    version       BIGINT      NOT NULL,
    registered_at TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE IF NOT EXISTS rm_tools (
    tenant_id   TEXT    NOT NULL,
    server_name TEXT    NOT NULL,
    tool_name   TEXT    NOT NULL,
    -- the MCP Tool object exactly as the upstream sent it
    definition  JSONB   NOT NULL,
    enabled     BOOLEAN NOT NULL,
    position    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, server_name, tool_name),
    FOREIGN KEY (tenant_id, server_name) REFERENCES rm_servers (tenant_id, name) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS rm_prompts (
    tenant_id   TEXT    NOT NULL,
    server_name TEXT    NOT NULL,
    prompt_name TEXT    NOT NULL,
    definition  JSONB   NOT NULL,
    enabled     BOOLEAN NOT NULL,
    position    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, server_name, prompt_name),
    FOREIGN KEY (tenant_id, server_name) REFERENCES rm_servers (tenant_id, name) ON DELETE CASCADE
);

-- Resources and resource templates (is_template), keyed by URI or URI template.
CREATE TABLE IF NOT EXISTS rm_resources (
    tenant_id   TEXT    NOT NULL,
    server_name TEXT    NOT NULL,
    uri         TEXT    NOT NULL,
    is_template BOOLEAN NOT NULL,
    definition  JSONB   NOT NULL,
    enabled     BOOLEAN NOT NULL,
    position    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, server_name, uri),
    FOREIGN KEY (tenant_id, server_name) REFERENCES rm_servers (tenant_id, name) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS rm_groups (
    tenant_id  TEXT        NOT NULL,
    name       TEXT        NOT NULL,
    spec       JSONB       NOT NULL,
    version    BIGINT      NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
