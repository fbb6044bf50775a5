//! `get|set|delete identity-provider`: the tenant's own OpenID provider, for single sign-on at
//! Canopy's authorization server (owners and admins).

use super::servers::decode;
use super::Ctx;
use anyhow::Context;
use canopy_api_types::IdentityProviderView;
use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct SetProviderArgs {
    /// The provider's issuer identifier, exactly as its discovery document says.
    #[arg(long)]
    pub issuer: String,
    /// Canopy's client id at the provider.
    #[arg(long)]
    pub client_id: String,
    /// Canopy's client secret at the provider (prefer --client-secret-env: flags show in `ps`).
    #[arg(long, conflicts_with = "client_secret_env", required_unless_present = "client_secret_env")]
    pub client_secret: Option<String>,
    /// The environment variable holding the client secret.
    #[arg(long, value_name = "VAR")]
    pub client_secret_env: Option<String>,
    /// The ID token claim whose value is the Canopy user name (default: preferred_username).
    #[arg(long)]
    pub username_claim: Option<String>,
}

fn text(view: &IdentityProviderView) -> String {
    format!(
        "issuer:         {}\nclient id:      {}\nusername claim: {}\nredirect URI:   {}  (register it at the provider)\nupdated:        {} by {}\n",
        view.issuer, view.client_id, view.username_claim, view.redirect_uri, view.updated_at, view.updated_by
    )
}

pub async fn get(ctx: &Ctx) -> anyhow::Result<()> {
    let raw = ctx.registry.get(&["identity-provider"], &[]).await?;
    ctx.show(raw, |raw| Ok(text(&decode(raw)?)))
}

pub async fn set(ctx: &Ctx, args: &SetProviderArgs) -> anyhow::Result<()> {
    let secret = match (&args.client_secret, &args.client_secret_env) {
        (Some(secret), _) => secret.clone(),
        (None, Some(var)) => std::env::var(var).with_context(|| format!("environment variable {var} is not set"))?,
        (None, None) => anyhow::bail!("--client-secret or --client-secret-env is required"),
    };
    let mut body = json!({"issuer": args.issuer, "client_id": args.client_id, "client_secret": secret});
    if let Some(claim) = &args.username_claim {
        body["username_claim"] = claim.clone().into();
    }
    let raw = ctx.registry.put(&["identity-provider"], &body).await?;
    ctx.show(raw, |raw| Ok(format!("Single sign-on is on for this tenant.\n{}", text(&decode(raw)?))))
}

pub async fn delete(ctx: &Ctx) -> anyhow::Result<()> {
    let raw = ctx.registry.delete(&["identity-provider"]).await?;
    ctx.show(raw, |_| Ok("Single sign-on is off for this tenant.\n".into()))
}

/// `list oauth-grants`: the applications holding a grant (admins: the tenant's; users: theirs).
pub async fn list_grants(ctx: &Ctx) -> anyhow::Result<()> {
    let raw = ctx.registry.get(&["oauth-grants"], &[]).await?;
    ctx.show(raw, |raw| {
        let grants: Vec<canopy_api_types::OAuthGrantView> = decode(raw)?;
        if grants.is_empty() {
            return Ok("No OAuth grants.\n".into());
        }
        let rows: Vec<Vec<String>> = grants
            .iter()
            .map(|g| {
                vec![
                    g.id.clone(),
                    g.client_name.clone().unwrap_or_else(|| g.client_id.clone()),
                    g.subject.clone(),
                    g.scopes.join(" "),
                    g.resource.clone().unwrap_or_default(),
                    g.created_at.clone(),
                ]
            })
            .collect();
        Ok(super::output::table(&["ID", "APPLICATION", "USER", "SCOPES", "RESOURCE", "SINCE"], &rows))
    })
}

/// `delete oauth-grant ID`: its refresh tokens stop at once.
pub async fn revoke_grant(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    let raw = ctx.registry.delete(&["oauth-grants", id]).await?;
    ctx.show(raw, |_| {
        Ok(format!("OAuth grant {id} revoked: its refresh tokens stop now; its access tokens expire on their own.\n"))
    })
}
