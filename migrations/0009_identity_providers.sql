-- A tenant's own OpenID Connect identity provider, for signing its users in to Canopy's
-- authorization server (services/api/src/oauth/oidc.rs). A read model of the tenant's
-- `tenant.identity_provider_set` / `_removed` events (`PUT|DELETE /api/v0/identity-provider`),
-- rebuilt with the others. The client secret stays sealed with the deployment key (bound to
-- the tenant), as in the event: never plaintext.
CREATE TABLE IF NOT EXISTS tenant_identity_providers (
    tenant_id      TEXT        PRIMARY KEY,
    issuer         TEXT        NOT NULL,
    client_id      TEXT        NOT NULL,
    -- a canopy Sealed value
    client_secret  JSONB       NOT NULL,
    -- the ID token claim whose value is the Canopy user name
    username_claim TEXT        NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    updated_by     TEXT        NOT NULL
);
