//! Test support shared by every crate's integration tests. Tests use the real PostgreSQL, NATS
//! and Redis that `scripts/test.sh` brings up; each test gets its own database and its own NATS
//! prefix, so tests run in parallel against one server without seeing each other.

use sqlx::PgPool;

pub fn database_url() -> String {
    std::env::var("CANOPY_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

pub fn nats_url() -> String {
    std::env::var("CANOPY_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_string())
}

pub fn redis_url() -> String {
    std::env::var("CANOPY_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

/// A short unique name for a test's database, NATS prefix, etc.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Replaces the database name in a Postgres URL.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// A freshly created database named `canopy_test_<run>_*`, with migrations applied. The run
/// tag comes from `CANOPY_TEST_RUN` (set by `scripts/test.sh`, which drops its own run's
/// databases when the tests are done; several runs can share one server safely).
pub struct TestDb {
    pub url: String,
    pub pool: PgPool,
}

pub async fn fresh_database() -> TestDb {
    let admin = database_url();
    let run: String = std::env::var("CANOPY_TEST_RUN")
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        .collect();
    let name = unique(&format!("canopy_test_{run}_"));
    let admin_pool =
        canopy_eventstore::connect(&admin, 1).await.expect("PostgreSQL for tests (set CANOPY_DATABASE_URL)");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin_pool).await.expect("create test database");
    admin_pool.close().await;
    let url = with_database(&admin, &name);
    let pool = canopy_eventstore::connect(&url, 10).await.expect("connect to test database");
    canopy_eventstore::migrate(&pool).await.expect("migrate test database");
    TestDb { url, pool }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_database_names() {
        use super::with_database;
        assert_eq!(with_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(with_database("postgres://u@h:5432", "x"), "postgres://u@h:5432/x");
        assert_eq!(with_database("postgres://h/db?sslmode=disable", "x"), "postgres://h/x?sslmode=disable");
    }
}
pub mod ray;
pub mod tls;
