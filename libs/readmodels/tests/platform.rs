//! The platform's read models against a real PostgreSQL: operators found by their token's
//! digest, suspended tenants' identities found by none (but their tokens still taken), the
//! tenants' list, and rebuild == live for `rm_operators` and `rm_tenants`.

use canopy_domain::identity::{IdentityName, Role, TokenDigest, User, UserCommand};
use canopy_domain::operator::{Operator, OperatorCommand};
use canopy_domain::tenant::{Tenant, TenantCommand};
use canopy_domain::TenantId;
use canopy_eventstore::{rebuild, CommandContext, CommandExecutor, EventStore};
use canopy_readmodels::{CanopyProjector, TokenHolder};
use serde_json::json;
use std::sync::Arc;

fn digest(c: char) -> TokenDigest {
    TokenDigest::parse(c.to_string().repeat(64)).unwrap()
}

fn name(s: &str) -> IdentityName {
    IdentityName::parse(s.to_string()).unwrap()
}

async fn snapshot(pool: &sqlx::PgPool) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (table, order) in [("rm_tenants", "tenant_id"), ("rm_operators", "name"), ("rm_users", "tenant_id, name")] {
        let rows: (Option<serde_json::Value>,) =
            sqlx::query_as(&format!("SELECT jsonb_agg(to_jsonb(t) ORDER BY {order}) FROM {table} t"))
                .fetch_one(pool)
                .await
                .unwrap();
        out.insert(table.into(), rows.0.unwrap_or(json!([])));
    }
    serde_json::Value::Object(out)
}

#[tokio::test]
async fn operators_tenants_and_suspension() {
    let db = canopy_testkit::fresh_database().await;
    let exec = CommandExecutor::new(EventStore::new(db.pool.clone()), Arc::new(CanopyProjector));
    let platform = CommandContext::new(TenantId::platform(), "system:test");
    let op = OperatorCommand::Create { name: name("operator"), token: digest('a') };
    exec.execute::<Operator>(&platform, "operator", &op).await.unwrap();
    let second = OperatorCommand::Create { name: name("ops2"), token: digest('b') };
    exec.execute::<Operator>(&platform, "ops2", &second).await.unwrap();
    exec.execute::<Operator>(&platform, "ops2", &OperatorCommand::RotateToken { token: digest('c') }).await.unwrap();
    exec.execute::<Operator>(&platform, "ops2", &OperatorCommand::Delete).await.unwrap();

    let acme = TenantId::parse("acme").unwrap();
    let ctx = CommandContext::new(acme.clone(), "operator:operator");
    let create = TenantCommand::Create { id: acme.clone(), display_name: "Acme".into() };
    exec.execute::<Tenant>(&ctx, "acme", &create).await.unwrap();
    let owner = UserCommand::Create { name: name("alice"), role: Role::Owner, token: digest('d') };
    exec.execute::<User>(&ctx, "alice", &owner).await.unwrap();

    let holder = |c: char| {
        let pool = db.pool.clone();
        async move { canopy_readmodels::token_holder(&pool, digest(c).as_str()).await.unwrap() }
    };
    let operator = holder('a').await;
    assert_eq!(operator, Some(TokenHolder::Operator { name: "operator".into() }));
    let principal = operator.unwrap().principal().unwrap();
    assert_eq!(principal, canopy_policy::Principal::operator("operator:operator"));
    assert_eq!(holder('b').await, None, "rotated out");
    assert_eq!(holder('c').await, None, "deleted");
    assert!(matches!(holder('d').await, Some(TokenHolder::User { .. })));
    let operators = canopy_readmodels::list_operators(&db.pool).await.unwrap();
    assert_eq!(operators.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["operator"]);
    let held = canopy_readmodels::all_held_tokens(&db.pool).await.unwrap();
    assert_eq!(held.len(), 1, "the edge warms up with users and clients only: {held:?}");

    exec.execute::<Tenant>(&ctx, "acme", &TenantCommand::Suspend).await.unwrap();
    assert_eq!(holder('d').await, None, "a suspended tenant's token finds nobody");
    assert!(canopy_readmodels::all_held_tokens(&db.pool).await.unwrap().is_empty());
    assert!(canopy_readmodels::token_taken(&db.pool, digest('d').as_str()).await.unwrap(), "but stays taken");
    assert!(canopy_readmodels::token_taken(&db.pool, digest('a').as_str()).await.unwrap());
    assert!(!canopy_readmodels::token_taken(&db.pool, digest('b').as_str()).await.unwrap());
    let tenant = canopy_readmodels::get_tenant(&db.pool, "acme").await.unwrap().unwrap();
    assert!(tenant.suspended && tenant.updated_at >= tenant.created_at);

    exec.execute::<Tenant>(&ctx, "acme", &TenantCommand::Resume).await.unwrap();
    assert!(matches!(holder('d').await, Some(TokenHolder::User { .. })));
    exec.execute::<Tenant>(&ctx, "acme", &TenantCommand::Suspend).await.unwrap();
    let tenants = canopy_readmodels::list_tenants(&db.pool).await.unwrap();
    assert_eq!(tenants.iter().map(|t| (t.tenant_id.as_str(), t.suspended)).collect::<Vec<_>>(), [("acme", true)]);

    let live = snapshot(&db.pool).await;
    let replayed = rebuild(&db.pool, &CanopyProjector).await.unwrap();
    assert_eq!(replayed, 9, "4 operator + 4 tenant + 1 user");
    assert_eq!(snapshot(&db.pool).await, live);
}
