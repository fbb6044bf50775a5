-- Enterprise identities (read models, projected from the user and mcp_client aggregates).
-- Tokens are never stored: token_digest is a keyed digest of the token, unique across the
-- deployment, so a presented token finds its identity (and so its tenant) in one lookup.

CREATE TABLE IF NOT EXISTS rm_users (
    tenant_id    TEXT        NOT NULL,
    name         TEXT        NOT NULL,
    role         TEXT        NOT NULL,
    token_digest TEXT        NOT NULL UNIQUE,
    version      BIGINT      NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE IF NOT EXISTS rm_mcp_clients (
    tenant_id    TEXT        NOT NULL,
    name         TEXT        NOT NULL,
    description  TEXT        NOT NULL,
    allow        JSONB       NOT NULL,
    token_digest TEXT        NOT NULL UNIQUE,
    version      BIGINT      NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
