-- Canopy's OAuth 2.1 authorization server (services/api/src/oauth, canopy-auth). Credentials,
-- not domain state: written directly, never through events, not rebuilt by `canopy rebuild`.
-- Nothing secret in plaintext: private keys are sealed with the deployment key, client secrets
-- and authorization codes are keyed hashes (HMAC-SHA256, canopy-auth's SecretHasher).

-- The deployment's signing keys: one row. `sealed` is a canopy_auth::SealedKeyRing (private
-- keys sealed), `jwks` its public keys (what resource servers verify with: the edge reads this
-- column and nothing else). `version` guards concurrent rotation by several api replicas.
CREATE TABLE IF NOT EXISTS oauth_key_ring (
    id         SMALLINT    PRIMARY KEY CHECK (id = 1),
    version    BIGINT      NOT NULL,
    sealed     JSONB       NOT NULL,
    jwks       JSONB       NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Registered OAuth clients (RFC 7591 dynamic registration). A client is not a tenant's: the
-- tenant of a grant comes from the user who logs in. Clients identified by a metadata document
-- URL (client ID metadata documents) are not stored here; they are fetched.
CREATE TABLE IF NOT EXISTS oauth_clients (
    client_id                  TEXT        PRIMARY KEY,
    -- keyed hash of the client secret; NULL for public clients (token_endpoint_auth_method none)
    secret_hash                BYTEA       CHECK (secret_hash IS NULL OR octet_length(secret_hash) = 32),
    token_endpoint_auth_method TEXT        NOT NULL,
    -- the RFC 7591 client metadata as registered (redirect_uris, client_name, grant_types, ...)
    metadata                   JSONB       NOT NULL,
    created_at                 TIMESTAMPTZ NOT NULL
);

-- Authorization codes: single use, short-lived, bound to client, redirect URI, PKCE challenge,
-- the user (tenant + subject), scopes and resource.
CREATE TABLE IF NOT EXISTS oauth_codes (
    code_hash      BYTEA       PRIMARY KEY CHECK (octet_length(code_hash) = 32),
    client_id      TEXT        NOT NULL,
    redirect_uri   TEXT        NOT NULL,
    code_challenge TEXT        NOT NULL,
    tenant_id      TEXT        NOT NULL,
    subject        TEXT        NOT NULL,
    scopes         TEXT[]      NOT NULL,
    resource       TEXT,
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    -- set when exchanged; a second exchange revokes what the first one issued (RFC 6749 4.1.2)
    used_at        TIMESTAMPTZ,
    family_id      UUID
);
CREATE INDEX IF NOT EXISTS oauth_codes_expiry ON oauth_codes (expires_at);

-- Revoked access tokens (RFC 7009), by jti, kept until the token would have expired anyway.
-- The edge checks Redis (`PREFIX:oauth:revoked:JTI`, written at the same time); this table is
-- the durable copy the api puts back into Redis when it starts.
CREATE TABLE IF NOT EXISTS oauth_revoked_access_tokens (
    jti        TEXT        PRIMARY KEY,
    tenant_id  TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS oauth_revoked_access_tokens_expiry ON oauth_revoked_access_tokens (expires_at);
