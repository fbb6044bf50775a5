//! `canopy operator create|rotate NAME`: platform operators managed from the server, with the
//! deployment's database and key, not through the API. For a deployment initialized before
//! operators existed (its `init-server` has run, so it will not make one), a second operator,
//! or a new token for one whose token leaked. The token is printed once and stored only as its
//! keyed digest, like every other.

use canopy_domain::identity::IdentityName;
use canopy_domain::operator::{Operator, OperatorCommand};
use canopy_domain::TenantId;
use canopy_eventstore::{CommandContext, CommandExecutor, EventStore};
use canopy_readmodels::CanopyProjector;
use canopy_secrets::Sealer;
use std::sync::Arc;

pub async fn run(config: &canopy_config::Config, action: &str, name: &str) -> anyhow::Result<()> {
    let name = IdentityName::parse(name.to_string())
        .map_err(|e| anyhow::anyhow!("{}", e.to_string().replace("server name", "operator name")))?;
    let sealer = canopy::secret_key::resolve(config)?;
    let pool = canopy_eventstore::connect(&config.database.url, 2).await?;
    canopy_eventstore::migrate(&pool).await?;
    let executor = CommandExecutor::new(EventStore::new(pool), Arc::new(CanopyProjector));
    let token = Sealer::generate_token();
    let digest = sealer.token_digest(&token);
    let command = match action {
        "create" => OperatorCommand::Create { name: name.clone(), token: digest },
        _ => OperatorCommand::RotateToken { token: digest },
    };
    let ctx = CommandContext::new(TenantId::platform(), "system:canopy-operator");
    executor
        .execute::<Operator>(&ctx, name.as_str(), &command)
        .await
        .map_err(|e| anyhow::anyhow!("operator '{name}': {e}"))?;
    match action {
        "create" => println!("Operator '{name}' created."),
        _ => println!("Operator '{name}' has a new token; the old one no longer works."),
    }
    println!("Its token (shown only now): {token}");
    println!("On the operator's machine: canopy login --operator {token}");
    Ok(())
}
