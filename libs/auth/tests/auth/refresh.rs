//! Refresh-token families on a real Postgres: rotation, reuse detection, concurrency.

use super::*;
use canopy_auth::{NewGrant, OpaqueSecret, RefreshError, RefreshStore, SecretHasher, SecretKind};
use sqlx::PgPool;

const CLIENT: &str = "cursor";

async fn store() -> (RefreshStore, PgPool) {
    let db = canopy_testkit::fresh_database().await;
    (RefreshStore::new(db.pool.clone(), SecretHasher::new(&sealer()), Duration::days(30)), db.pool)
}

fn grant() -> NewGrant {
    NewGrant {
        tenant: acme(),
        client_id: CLIENT.into(),
        subject: "user:alice".into(),
        scopes: vec!["tools:call".into(), "offline_access".into()],
        resource: Some(RESOURCE.into()),
        expires_at: now() + Duration::days(90),
    }
}

async fn family_state(pool: &PgPool, family: canopy_auth::FamilyId) -> (Option<DateTime<Utc>>, Option<String>) {
    sqlx::query_as("SELECT revoked_at, revoked_reason FROM oauth_refresh_families WHERE family_id = $1")
        .bind(family.0)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn rotation_returns_the_grant_and_a_new_token() {
    let (store, pool) = store().await;
    let first = store.issue_refresh(&grant(), now()).await.unwrap();
    assert_eq!(first.expires_at, now() + Duration::days(30));
    assert!(first.token.expose().starts_with("cnp_rt_"));

    let later = now() + Duration::hours(1);
    let second = store.rotate_refresh(&acme(), CLIENT, first.token.expose(), later).await.unwrap();
    assert_ne!(second.token.expose(), first.token.expose());
    assert_eq!(second.expires_at, later + Duration::days(30));
    assert_eq!(second.grant.family_id, first.family_id);
    assert_eq!(second.grant.subject, "user:alice");
    assert_eq!(second.grant.scopes, ["tools:call", "offline_access"]);
    assert_eq!(second.grant.resource.as_deref(), Some(RESOURCE));
    let third = store.rotate_refresh(&acme(), CLIENT, second.token.expose(), later).await.unwrap();
    assert_eq!(third.grant.family_id, first.family_id);

    // Only hashes are stored.
    let hasher = SecretHasher::new(&sealer());
    let stored: Vec<(Vec<u8>,)> =
        sqlx::query_as("SELECT token_hash FROM oauth_refresh_tokens").fetch_all(&pool).await.unwrap();
    assert_eq!(stored.len(), 3);
    let expected = hasher.hash(SecretKind::RefreshToken, third.token.expose());
    assert!(stored.iter().any(|(h,)| h.as_slice() == expected.as_bytes()));
    for (h,) in &stored {
        assert!(!String::from_utf8_lossy(h).contains("cnp_rt_"));
    }
}

#[tokio::test]
async fn refresh_token_reused_after_rotation_revokes_the_family() {
    let (store, pool) = store().await;
    let first = store.issue_refresh(&grant(), now()).await.unwrap();
    let second = store.rotate_refresh(&acme(), CLIENT, first.token.expose(), now()).await.unwrap();

    // The old token again (an attacker who copied it, or a replay).
    match store.rotate_refresh(&acme(), CLIENT, first.token.expose(), now()).await {
        Err(RefreshError::Reused { family_id }) => assert_eq!(family_id, first.family_id),
        other => panic!("expected reuse, got {other:?}"),
    }
    let (revoked_at, reason) = family_state(&pool, first.family_id).await;
    assert_eq!((revoked_at, reason.as_deref()), (Some(now()), Some("reuse")));
    // The legitimate client's current token is dead too.
    assert!(matches!(
        store.rotate_refresh(&acme(), CLIENT, second.token.expose(), now()).await,
        Err(RefreshError::Revoked)
    ));
    // Another family of the same user is untouched.
    let other = store.issue_refresh(&grant(), now()).await.unwrap();
    assert!(store.rotate_refresh(&acme(), CLIENT, other.token.expose(), now()).await.is_ok());
    assert_eq!(RefreshError::Revoked.oauth_error(), "invalid_grant");
}

#[tokio::test]
async fn concurrent_rotations_of_one_token_exactly_one_wins_then_the_family_is_revoked() {
    let (store, pool) = store().await;
    // Several rounds, so a missing lock would show as two winners in at least one of them.
    for round in 0..5 {
        let first = store.issue_refresh(&grant(), now()).await.unwrap();
        let presented = first.token.expose().to_string();
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(8));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (store, presented, start) = (store.clone(), presented.clone(), start.clone());
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                store.rotate_refresh(&acme(), CLIENT, &presented, now()).await
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(rotated) => winners.push(rotated),
                Err(RefreshError::Reused { family_id }) => assert_eq!(family_id, first.family_id),
                Err(e) => panic!("a loser must see reuse, got {e:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one rotation succeeds");
        // The losers presented a used token: the family, with the winner's new token, is revoked.
        assert_eq!(family_state(&pool, first.family_id).await.1.as_deref(), Some("reuse"));
        let winner = &winners[0];
        let next = store.rotate_refresh(&acme(), CLIENT, winner.token.expose(), now()).await;
        assert!(matches!(next, Err(RefreshError::Revoked)), "round {round}: {next:?}");
        let links: (i64,) = sqlx::query_as("SELECT count(*) FROM oauth_refresh_tokens WHERE family_id = $1")
            .bind(first.family_id.0)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(links.0, 2, "one chain link was added, not eight");
    }
}

#[tokio::test]
async fn expired_tokens_and_grants_are_refused() {
    let (store, _pool) = store().await;
    let first = store.issue_refresh(&grant(), now()).await.unwrap();
    let after_token = now() + Duration::days(30);
    assert!(matches!(
        store.rotate_refresh(&acme(), CLIENT, first.token.expose(), after_token).await,
        Err(RefreshError::Expired)
    ));

    // A chain never outlives its grant, however often it is rotated.
    let short = NewGrant { expires_at: now() + Duration::days(2), ..grant() };
    let issued = store.issue_refresh(&short, now()).await.unwrap();
    assert_eq!(issued.expires_at, short.expires_at);
    let next = store.rotate_refresh(&acme(), CLIENT, issued.token.expose(), now() + Duration::days(1)).await.unwrap();
    assert_eq!(next.expires_at, short.expires_at);
    let at_end = short.expires_at;
    assert!(matches!(
        store.rotate_refresh(&acme(), CLIENT, next.token.expose(), at_end).await,
        Err(RefreshError::Expired)
    ));

    assert!(matches!(
        store.issue_refresh(&NewGrant { expires_at: now(), ..grant() }, now()).await,
        Err(RefreshError::InvalidGrant(_))
    ));
    assert_eq!(store.delete_expired(now() + Duration::days(3)).await.unwrap(), 1);
}

#[tokio::test]
async fn a_token_presented_by_another_client_revokes_its_family() {
    let (store, pool) = store().await;
    let first = store.issue_refresh(&grant(), now()).await.unwrap();
    assert!(matches!(
        store.rotate_refresh(&acme(), "evil-client", first.token.expose(), now()).await,
        Err(RefreshError::ClientMismatch)
    ));
    assert_eq!(family_state(&pool, first.family_id).await.1.as_deref(), Some("client_mismatch"));
    assert!(store.rotate_refresh(&acme(), CLIENT, first.token.expose(), now()).await.is_err());
}

#[tokio::test]
async fn tokens_do_not_cross_tenants_and_unknown_tokens_fail() {
    let (store, _pool) = store().await;
    let first = store.issue_refresh(&grant(), now()).await.unwrap();
    let globex = TenantId::parse("globex").unwrap();
    assert!(matches!(
        store.rotate_refresh(&globex, CLIENT, first.token.expose(), now()).await,
        Err(RefreshError::Unknown)
    ));
    let stranger = canopy_auth::OpaqueSecret::generate(SecretKind::RefreshToken);
    assert!(matches!(
        store.rotate_refresh(&acme(), CLIENT, stranger.expose(), now()).await,
        Err(RefreshError::Unknown)
    ));
    assert!(matches!(store.rotate_refresh(&acme(), CLIENT, "garbage", now()).await, Err(RefreshError::Unknown)));
    // Still valid in its own tenant.
    assert!(store.rotate_refresh(&acme(), CLIENT, first.token.expose(), now()).await.is_ok());
}

#[tokio::test]
async fn revoked_families_refuse_their_tokens() {
    let (store, pool) = store().await;
    let a = store.issue_refresh(&grant(), now()).await.unwrap();
    assert!(store.revoke_family(&acme(), a.family_id, now()).await.unwrap());
    assert!(!store.revoke_family(&acme(), a.family_id, now()).await.unwrap(), "already revoked");
    assert_eq!(family_state(&pool, a.family_id).await.1.as_deref(), Some("requested"));
    assert!(matches!(store.rotate_refresh(&acme(), CLIENT, a.token.expose(), now()).await, Err(RefreshError::Revoked)));

    // RFC 7009: only the client the token was issued to can revoke it.
    let b = store.issue_refresh(&grant(), now()).await.unwrap();
    assert_eq!(store.revoke_by_token(&acme(), "other", b.token.expose(), now()).await.unwrap(), None);
    assert_eq!(store.revoke_by_token(&acme(), CLIENT, b.token.expose(), now()).await.unwrap(), Some(b.family_id));
    assert!(matches!(store.rotate_refresh(&acme(), CLIENT, b.token.expose(), now()).await, Err(RefreshError::Revoked)));
    let globex = TenantId::parse("globex").unwrap();
    let c = store.issue_refresh(&grant(), now()).await.unwrap();
    assert!(!store.revoke_family(&globex, c.family_id, now()).await.unwrap(), "another tenant's family");
}

#[tokio::test]
async fn a_subjects_families_are_revoked_only_for_that_subject_and_tokens_name_their_tenant() {
    let (store, _pool) = store().await;
    let mine = store.issue_refresh(&grant(), now()).await.unwrap();
    let theirs = store.issue_refresh(&NewGrant { subject: "user:bob".into(), ..grant() }, now()).await.unwrap();
    assert_eq!(store.tenant_of(mine.token.expose()).await.unwrap(), Some(acme()));
    assert_eq!(store.tenant_of("garbage").await.unwrap(), None);
    assert_eq!(store.tenant_of(OpaqueSecret::generate(SecretKind::RefreshToken).expose()).await.unwrap(), None);

    let subject = grant().subject;
    assert!(!store.revoke_family_of(&acme(), theirs.family_id, &subject, now()).await.unwrap(), "not theirs to revoke");
    assert!(store.revoke_family_of(&acme(), mine.family_id, &subject, now()).await.unwrap());
    let again = store.issue_refresh(&grant(), now()).await.unwrap();
    assert_eq!(store.revoke_subject(&acme(), &subject, now()).await.unwrap(), 1, "only the live one of the subject");
    for (token, revoked) in [(again.token.expose(), true), (theirs.token.expose(), false)] {
        let rotated = store.rotate_refresh(&acme(), CLIENT, token, now()).await;
        assert_eq!(matches!(rotated, Err(RefreshError::Revoked)), revoked, "{rotated:?}");
    }
}

#[tokio::test]
async fn refresh_results_never_show_tokens_in_debug_output() {
    let (store, _pool) = store().await;
    let first = store.issue_refresh(&grant(), now()).await.unwrap();
    let second = store.rotate_refresh(&acme(), CLIENT, first.token.expose(), now()).await.unwrap();
    let debug = format!("{first:?} {second:?} {store:?}");
    assert!(!debug.contains(first.token.expose()) && !debug.contains(second.token.expose()));
    assert!(!debug.contains(&first.token.expose()[7..]));
}
