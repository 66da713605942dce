//! Cross-instance invalidation: statement-level triggers (migration 0007)
//! `pg_notify('swa_reference_data', '<table>')` on every change to a table
//! behind a cached value, whoever makes it (this service, Django admin, a
//! migration, psql). Each instance LISTENs on its own connection and drops
//! what the table feeds.
//!
//! A notification sent while an instance is not listening is lost, so the
//! cache serves only while the listener is connected, and starts empty each
//! time it (re)connects. A connection that dies silently (no reset) is not
//! noticed until the TCP stack gives up; the TTL bounds staleness then.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::task::JoinHandle;

use super::reference::{ReferenceCache, Stale};

/// The channel the migration's triggers notify.
pub const CHANNEL: &str = "swa_reference_data";

/// `application_name` of the listener's connection in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "startupwebapp-cache-listener";

/// Waits between reconnection attempts: short after a one-off drop, longer
/// while PostgreSQL stays away (the cache is bypassed meanwhile).
const FIRST_RETRY: Duration = Duration::from_millis(200);
const MAX_RETRY: Duration = Duration::from_secs(10);

/// Which cached values a change to `table` makes stale.
pub fn stale_for(table: &str) -> Stale {
    match table {
        "order_product"
        | "order_product_sku"
        | "order_product_image"
        | "order_product_video"
        | "order_sku"
        | "order_sku_price"
        | "order_sku_image"
        | "order_sku_inventory" => Stale::Catalogue,
        "clientevent_configuration" => Stale::ClientEventSwitch,
        // A trigger added later without a mapping here: be safe.
        _ => Stale::All,
    }
}

/// The running listener of one instance.
pub struct Listener {
    task: JoinHandle<()>,
    pool: PgPool,
}

impl Listener {
    /// Starts listening on a dedicated connection (so it never takes one of
    /// the request pool's) with the same settings as `pool`. Returns `None`
    /// when caching is off: nothing to invalidate.
    pub fn spawn(cache: ReferenceCache, pool: &PgPool) -> Option<Listener> {
        if !cache.is_enabled() {
            return None;
        }
        let options = (*pool.connect_options())
            .clone()
            .application_name(APPLICATION_NAME);
        let own_pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(5))
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(options);
        let task = tokio::spawn(run(cache, own_pool.clone()));
        Some(Listener {
            task,
            pool: own_pool,
        })
    }

    /// Stops listening and closes the connection.
    pub async fn stop(self) {
        self.task.abort();
        // The task only ends by abort; its result says nothing.
        let _ = self.task.await;
        self.pool.close().await;
    }
}

async fn run(cache: ReferenceCache, pool: PgPool) {
    let mut retry = FIRST_RETRY;
    loop {
        match listen(&pool).await {
            Ok((mut listener, pid)) => {
                cache.listening_started(pid);
                tracing::info!(
                    backend_pid = pid,
                    channel = CHANNEL,
                    "reference cache: listening for changes; serving from the cache"
                );
                retry = FIRST_RETRY;
                let reason = receive(&cache, &mut listener).await;
                cache.listening_stopped();
                tracing::warn!(
                    reason = %reason,
                    "reference cache: lost the change notifications; reading the database until they are back"
                );
            }
            Err(error) => {
                tracing::warn!(
                    %error,
                    retry_ms = retry.as_millis() as u64,
                    "reference cache: cannot LISTEN for changes; reading the database meanwhile"
                );
            }
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(MAX_RETRY);
    }
}

/// Connects, LISTENs, and returns the backend pid (after LISTEN, so any
/// notification from then on reaches us).
async fn listen(pool: &PgPool) -> Result<(PgListener, i32), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // On a lost connection, return at once: we reconnect ourselves so we
    // know when LISTEN is in place again.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut listener)
        .await?;
    Ok((listener, pid))
}

/// Applies notifications until the connection is lost; returns why.
async fn receive(cache: &ReferenceCache, listener: &mut PgListener) -> String {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => cache.invalidate(stale_for(notification.payload())),
            Ok(None) => return "the connection closed".to_owned(),
            Err(error) => return error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_table_invalidates_what_it_feeds() {
        assert_eq!(stale_for("order_sku_price"), Stale::Catalogue);
        assert_eq!(stale_for("order_product_video"), Stale::Catalogue);
        assert_eq!(
            stale_for("clientevent_configuration"),
            Stale::ClientEventSwitch
        );
        assert_eq!(stale_for("something_new"), Stale::All);
    }
}
