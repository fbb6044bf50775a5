-- OAuth 2.1 refresh tokens (canopy-auth, src/refresh.rs). Credentials, not domain state: written
-- only by canopy-auth, never through events, not rebuilt by `canopy rebuild`. Tokens are stored
-- as keyed hashes (HMAC-SHA256 under a key derived from the deployment key), never in plaintext.
--
-- A family is one grant: one client authorized by one subject. Each refresh marks the presented
-- token used and issues the next; a used token presented again revokes the whole family
-- (reuse detection). Every change to a family's tokens locks the family row first.
CREATE TABLE IF NOT EXISTS oauth_refresh_families (
    family_id      UUID        PRIMARY KEY,
    tenant_id      TEXT        NOT NULL,
    client_id      TEXT        NOT NULL,
    subject        TEXT        NOT NULL,
    scopes         TEXT[]      NOT NULL,
    -- the RFC 8707 resource the grant's access tokens are for, when the client named one
    resource       TEXT,
    created_at     TIMESTAMPTZ NOT NULL,
    -- the absolute end of the grant: no token of the family outlives it
    expires_at     TIMESTAMPTZ NOT NULL,
    revoked_at     TIMESTAMPTZ,
    -- 'reuse', 'client_mismatch' or 'requested'
    revoked_reason TEXT,
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);

-- revoking every grant of a user or of a client
CREATE INDEX IF NOT EXISTS oauth_refresh_families_subject ON oauth_refresh_families (tenant_id, subject);
CREATE INDEX IF NOT EXISTS oauth_refresh_families_client ON oauth_refresh_families (tenant_id, client_id);
-- housekeeping of ended grants
CREATE INDEX IF NOT EXISTS oauth_refresh_families_expiry ON oauth_refresh_families (expires_at);

CREATE TABLE IF NOT EXISTS oauth_refresh_tokens (
    token_hash BYTEA       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    family_id  UUID        NOT NULL REFERENCES oauth_refresh_families (family_id) ON DELETE CASCADE,
    tenant_id  TEXT        NOT NULL,
    issued_at  TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    -- set when the token was exchanged for the next one; presenting it again is reuse
    used_at    TIMESTAMPTZ
);

CREATE INDEX IF NOT EXISTS oauth_refresh_tokens_family ON oauth_refresh_tokens (family_id);
