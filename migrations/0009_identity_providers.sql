-- A tenant's own OpenID Connect identity provider, for signing its users in to Canopy's
-- authorization server (services/api/src/oauth/oidc.rs). Credentials configuration, not domain
-- state: written by `PUT /api/v0/identity-provider`, not through events. The client secret is
-- sealed with the deployment key (bound to the tenant), never plaintext.
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
