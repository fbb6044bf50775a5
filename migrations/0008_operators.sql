-- Platform operators and tenant suspension (enterprise mode; read models, projected from the
-- operator and tenant aggregates). Like rm_users and rm_mcp_clients, an operator's token is
-- stored only as its keyed digest, unique across the deployment.

CREATE TABLE IF NOT EXISTS rm_operators (
    name         TEXT        PRIMARY KEY,
    token_digest TEXT        NOT NULL UNIQUE,
    version      BIGINT      NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

-- `suspended`: the operator suspended the tenant; its users' and clients' tokens are refused.
ALTER TABLE rm_tenants ADD COLUMN IF NOT EXISTS suspended BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE rm_tenants ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ;
