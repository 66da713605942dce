//! Persistence: the connection pool, the embedded migrations and readiness.

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

pub mod adopt;
pub mod carts;
pub mod catalogue;
pub mod client_events;
pub mod orders;
pub mod prospects;
pub mod rate_limits;
pub mod sessions;
pub mod terms;
pub mod users;

use crate::config::DatabaseSettings;

/// The SQL migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// A pool that connects on first use, so the service starts (and reports
/// not-ready) while the database is down, and recovers when it returns.
pub fn lazy_pool(settings: &DatabaseSettings) -> PgPool {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .acquire_timeout(settings.acquire_timeout)
        .idle_timeout(Some(settings.idle_timeout))
        // sqlx pings a connection on every release (a broken one is then
        // closed) and, by default, again on every acquire: two extra round
        // trips per query under load (the bench's profile). A connection
        // used moments ago was just checked on release; only one that sat
        // idle long enough for the server to have gone away is pinged.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= IDLE_BEFORE_PING {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(settings.connect_options.clone())
}

/// How long a pooled connection may sit unused before it is checked again.
const IDLE_BEFORE_PING: std::time::Duration = std::time::Duration::from_secs(1);

/// Creates the configured database when it does not exist yet (development
/// and new tenants); connects to the server's `postgres` database to do so.
pub async fn create_database_if_missing(settings: &DatabaseSettings) -> Result<(), sqlx::Error> {
    use sqlx::ConnectOptions;
    let Some(name) = settings.connect_options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let mut admin = settings
        .connect_options
        .clone()
        .database("postgres")
        .connect()
        .await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        // Identifiers cannot be bound; quote it the way PostgreSQL does.
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        // The name is quoted above, so this dynamic statement is safe.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}")))
            .execute(&mut admin)
            .await?;
        tracing::info!(database = %name, "database created");
    }
    Ok(())
}

/// Why the service cannot take traffic.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("database unreachable: {0}")]
    Unreachable(#[source] sqlx::Error),
    #[error("migrations pending: {missing} of {expected} not applied")]
    MigrationsPending { missing: usize, expected: usize },
    #[error("a migration failed part-way: version {0}")]
    MigrationFailed(i64),
}

impl NotReady {
    pub fn code(&self) -> &'static str {
        match self {
            NotReady::Unreachable(_) => "database-unreachable",
            NotReady::MigrationsPending { .. } => "migrations-pending",
            NotReady::MigrationFailed(_) => "migration-failed",
        }
    }
}

/// Ready when the database answers and every embedded migration is applied.
pub async fn check_ready(pool: &PgPool) -> Result<(), NotReady> {
    let applied: Vec<(i64, bool)> =
        match sqlx::query_as("SELECT version, success FROM _sqlx_migrations")
            .fetch_all(pool)
            .await
        {
            Ok(rows) => rows,
            // 42P01: the migrations table does not exist yet.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Vec::new(),
            Err(e) => return Err(NotReady::Unreachable(e)),
        };
    if let Some((version, _)) = applied.iter().find(|(_, ok)| !ok) {
        return Err(NotReady::MigrationFailed(*version));
    }
    let expected: Vec<i64> = MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
        .collect();
    let missing = expected
        .iter()
        .filter(|v| !applied.iter().any(|(a, _)| a == *v))
        .count();
    if missing > 0 {
        return Err(NotReady::MigrationsPending {
            missing,
            expected: expected.len(),
        });
    }
    Ok(())
}
