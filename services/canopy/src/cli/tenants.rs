//! The platform operator's verbs (enterprise mode): `create tenant ID --owner NAME`,
//! `list tenants`, `get tenant ID`, `suspend tenant ID`, `resume tenant ID`.
//!
//! They send the operator's token: `--access-token` (or `CANOPY_ACCESS_TOKEN`) when given, else
//! `operator_token` in `~/.canopy.conf` (saved by `canopy init-server`, or by
//! `canopy login --operator TOKEN`), else `access_token` there. Every other verb keeps sending
//! `access_token`: the operator sees nothing inside a tenant, so one `~/.canopy.conf` serves the
//! owner of `default` and the operator side by side.

use super::client::{home_dir, ClientConfig};
use super::output;
use super::servers::decode;
use super::Ctx;
use canopy_api_types::{CreatedTenant, TenantView};
use serde_json::{json, Value};

/// The token operator verbs send when no `--access-token` was given: `operator_token` in
/// `~/.canopy.conf`, if there is one.
pub fn operator_token() -> anyhow::Result<Option<String>> {
    Ok(ClientConfig::load(home_dir().as_deref())?.and_then(|(_, conf)| conf.operator_token))
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    canopy create tenant acme --owner alice\n  \
    canopy create tenant globex --owner gus --display-name \"Globex Corp.\" --owner-token gus-token\n\
    The owner's token is printed once (unless --owner-token gave it); they save it with `canopy login`.")]
pub struct CreateTenantArgs {
    /// Tenant id: lowercase letters, digits and '-', at most 63 characters.
    pub id: String,
    /// The tenant's first user, an owner: letters, digits, '-' and '_'.
    #[arg(long, value_name = "NAME")]
    pub owner: String,
    /// A name for people; default: the id.
    #[arg(long, value_name = "TEXT")]
    pub display_name: Option<String>,
    /// A custom access token for the owner; omitted, Canopy generates one and prints it once.
    #[arg(long, value_name = "TOKEN", allow_hyphen_values = true)]
    pub owner_token: Option<String>,
}

impl CreateTenantArgs {
    pub fn body(&self) -> Value {
        let mut body = json!({"id": self.id, "owner": self.owner});
        if let Some(name) = &self.display_name {
            body["display_name"] = json!(name);
        }
        if let Some(token) = &self.owner_token {
            body["owner_access_token"] = json!(token);
        }
        body
    }
}

pub async fn create(ctx: &Ctx, args: &CreateTenantArgs) -> anyhow::Result<()> {
    let raw = ctx.registry.post(&["tenants"], &[], &args.body()).await?;
    ctx.show(raw, |raw| Ok(created(&decode(raw)?)))
}

pub fn created(created: &CreatedTenant) -> String {
    let tenant = &created.tenant;
    let mut out =
        format!("Tenant '{}' ({}) created; its owner is '{}'.\n", tenant.id, tenant.display_name, created.owner.name);
    match &created.owner_access_token {
        Some(token) => out.push_str(&format!(
            "The owner logs in with:\n\n    canopy login {token}\n\n\
             This token is shown only now; Canopy keeps only its digest.\n"
        )),
        None => out.push_str("The owner logs in with `canopy login` and the access token you supplied.\n"),
    }
    out
}

pub async fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let raw = ctx.registry.get(&["tenants"], &[]).await?;
    ctx.show(raw, |raw| Ok(table(&decode::<Vec<_>>(raw)?)))
}

pub fn table(tenants: &[TenantView]) -> String {
    if tenants.is_empty() {
        return "No tenants. Create one with `canopy create tenant ID --owner NAME`.\n".into();
    }
    let rows: Vec<Vec<String>> = tenants
        .iter()
        .map(|t| vec![t.id.clone(), t.display_name.clone(), t.status.clone(), t.created_at.clone()])
        .collect();
    output::table(&["ID", "DISPLAY NAME", "STATUS", "CREATED"], &rows)
}

pub async fn get(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    let raw = ctx.registry.get(&["tenants", id], &[]).await?;
    ctx.show(raw, |raw| Ok(table(&[decode(raw)?])))
}

/// `suspend tenant ID` (`suspend` true) or `resume tenant ID`.
pub async fn set_suspended(ctx: &Ctx, id: &str, suspend: bool) -> anyhow::Result<()> {
    let verb = if suspend { "suspend" } else { "resume" };
    let raw = ctx.registry.post(&["tenants", id, verb], &[], &Value::Null).await?;
    ctx.show(raw, |raw| {
        let tenant: TenantView = decode(raw)?;
        Ok(match tenant.status.as_str() {
            "suspended" => {
                format!("Tenant '{}' is suspended: its users' and clients' tokens are refused.\n", tenant.id)
            }
            _ => format!("Tenant '{}' is active: its users' and clients' tokens work.\n", tenant.id),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_name_only_what_was_given() {
        let args = CreateTenantArgs { id: "acme".into(), owner: "alice".into(), display_name: None, owner_token: None };
        assert_eq!(args.body(), json!({"id": "acme", "owner": "alice"}));
        let args = CreateTenantArgs {
            id: "globex".into(),
            owner: "gus".into(),
            display_name: Some("Globex".into()),
            owner_token: Some("-t".into()),
        };
        assert_eq!(
            args.body(),
            json!({"id": "globex", "owner": "gus", "display_name": "Globex", "owner_access_token": "-t"})
        );
    }
}
