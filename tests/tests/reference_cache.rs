//! The in-process reference cache (catalogue responses, the client-event
//! switch) against a real PostgreSQL: several instances on one database, as
//! several ECS tasks are, changes made with plain SQL (as Django admin or a
//! migration would make them), and a listener connection cut mid-way.
//!
//! "Served from the cache" is checked by locking the table behind the value
//! (`LOCK ... ACCESS EXCLUSIVE`): an answer that touched the table would wait
//! for the lock, so only a cache hit can arrive while it is held. The TTL 0
//! test shows that the same check does catch a database read.

use std::io;
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};
use startupwebapp::Application;
use startupwebapp::cache::ReferenceCache;
use startupwebapp_tests::{TestApp, test_config};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const PAPER_CLIPS: &str = "/order/product/bSusp6dBHm";
/// Long enough that only invalidation (never expiry) can explain a change.
const LONG_TTL_SECS: u64 = 3600;
const DEADLINE: Duration = Duration::from_secs(15);

/// One running instance of the service and a handle on its cache.
struct Instance {
    browser: TestApp,
    cache: ReferenceCache,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

async fn start(pool: PgPool, ttl_secs: u64) -> Instance {
    startupwebapp::telemetry::init(false);
    let mut config = test_config();
    config.reference_cache_ttl = Duration::from_secs(ttl_secs);
    let app = Application::build_with_pool(config, pool)
        .await
        .expect("bind a loopback port");
    let browser = TestApp::remote(app.local_addr());
    let cache = app.state().reference_cache.clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    Instance {
        browser,
        cache,
        stop: Some(stop),
        task: Some(task),
    }
}

/// A second instance with its own pool on the same database.
async fn start_another(pool: &PgPool, ttl_secs: u64) -> Instance {
    let own = PgPoolOptions::new()
        .max_connections(5)
        .connect_with((*pool.connect_options()).clone())
        .await
        .expect("connect a second pool");
    start(own, ttl_secs).await
}

impl Instance {
    /// Waits until the listener is LISTENing; returns its backend pid.
    async fn listening(&self) -> i32 {
        let started = Instant::now();
        loop {
            if let Some(pid) = self.cache.listener_backend_pid() {
                return pid;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "the cache listener did not connect within {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn get(&self, path: &str) -> Value {
        self.browser.get_json(path).await
    }

    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task does not panic")
                .expect("server stops cleanly");
        }
    }
}

/// GETs `path` from each instance while `table` is locked against reads.
async fn get_while_locked(
    pool: &PgPool,
    table: &str,
    instances: &[&Instance],
    path: &str,
) -> Vec<Value> {
    let mut lock = pool.begin().await.expect("begin");
    // `table` is a literal from the tests below.
    sqlx::query(AssertSqlSafe(format!(
        "LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut *lock)
    .await
    .expect("lock the table");
    let mut bodies = Vec::new();
    for instance in instances {
        let answer = tokio::time::timeout(DEADLINE, instance.get(path)).await;
        match answer {
            Ok(body) => bodies.push(body),
            Err(_) => panic!(
                "GET {path} waited on the locked table {table}: the answer was not served from the cache"
            ),
        }
    }
    lock.rollback().await.expect("unlock");
    bodies
}

/// Polls `path` on `instance` until `check` holds (changes propagate
/// asynchronously); returns the body that passed.
async fn eventually(instance: &Instance, path: &str, what: &str, check: impl Fn(&Value) -> bool) {
    let started = Instant::now();
    loop {
        let body = instance.get(path).await;
        if check(&body) {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{what}: still not seen after {DEADLINE:?}; last body {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn execute(pool: &PgPool, sql: &'static str) {
    sqlx::query(sql)
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn cache_hits_do_not_query_the_database(pool: PgPool) {
    let instance = start(pool.clone(), LONG_TTL_SECS).await;
    instance.listening().await;
    let products = instance.get("/order/products").await;
    let page = instance.get(PAPER_CLIPS).await;
    let who = instance.get("/user/logged-in").await;
    assert_eq!(products["products_data"]["bSusp6dBHm"]["price_low"], "3.50");
    assert_eq!(page["product"], "success");
    assert_eq!(who["log_client_events"], true);

    let cached = get_while_locked(&pool, "order_product", &[&instance], "/order/products").await;
    assert_eq!(cached[0], products, "the cached list is the list");
    let cached = get_while_locked(&pool, "order_product", &[&instance], PAPER_CLIPS).await;
    assert_eq!(cached[0], page, "the cached page is the page");
    let cached = get_while_locked(
        &pool,
        "clientevent_configuration",
        &[&instance],
        "/user/logged-in",
    )
    .await;
    assert_eq!(cached[0]["log_client_events"], true);
    instance.shutdown().await;
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn a_catalogue_change_in_sql_reaches_every_instance(pool: PgPool) {
    let first = start(pool.clone(), LONG_TTL_SECS).await;
    let second = start_another(&pool, LONG_TTL_SECS).await;
    first.listening().await;
    second.listening().await;
    for instance in [&first, &second] {
        instance.get("/order/products").await;
        instance.get(PAPER_CLIPS).await;
    }
    // Both serve from their cache now.
    for body in get_while_locked(&pool, "order_product", &[&first, &second], PAPER_CLIPS).await {
        assert_eq!(body["product_data"]["skus"]["1"]["price"], "3.50");
    }

    // As Django admin would: a new price row and a new title.
    execute(
        &pool,
        "INSERT INTO order_sku_price (sku_id, price, created_date_time) VALUES (1, 4.25, now())",
    )
    .await;
    execute(
        &pool,
        "UPDATE order_product SET title = 'Paper Clips Deluxe' WHERE identifier = 'bSusp6dBHm'",
    )
    .await;

    for instance in [&first, &second] {
        eventually(
            instance,
            "/order/products",
            "new price and title in the list",
            |b| {
                let p = &b["products_data"]["bSusp6dBHm"];
                // SKU 2 stays at 3.50.
                p["price_high"] == "4.25" && p["title"] == "Paper Clips Deluxe"
            },
        )
        .await;
        eventually(
            instance,
            PAPER_CLIPS,
            "new price and title on the page",
            |b| {
                let d = &b["product_data"];
                d["skus"]["1"]["price"] == "4.25" && d["title"] == "Paper Clips Deluxe"
            },
        )
        .await;
    }
    first.shutdown().await;
    second.shutdown().await;
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn the_client_event_switch_reaches_every_instance(pool: PgPool) {
    let first = start(pool.clone(), LONG_TTL_SECS).await;
    let second = start_another(&pool, LONG_TTL_SECS).await;
    first.listening().await;
    second.listening().await;
    for instance in [&first, &second] {
        assert_eq!(
            instance.get("/user/logged-in").await["log_client_events"],
            true
        );
    }
    let cached = get_while_locked(
        &pool,
        "clientevent_configuration",
        &[&first, &second],
        "/user/logged-in",
    )
    .await;
    assert!(cached.iter().all(|b| b["log_client_events"] == true));

    execute(
        &pool,
        "UPDATE clientevent_configuration SET log_client_events = false",
    )
    .await;
    for instance in [&first, &second] {
        eventually(instance, "/user/logged-in", "logging switched off", |b| {
            b["log_client_events"] == false
        })
        .await;
    }
    first.shutdown().await;
    second.shutdown().await;
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn a_change_made_while_the_listener_is_cut_is_seen_after_it_reconnects(pool: PgPool) {
    let instance = start(pool.clone(), LONG_TTL_SECS).await;
    let old_pid = instance.listening().await;
    instance.get("/order/products").await;
    let cached = get_while_locked(&pool, "order_product", &[&instance], "/order/products").await;
    assert_eq!(
        cached[0]["products_data"]["bSusp6dBHm"]["title"],
        "Paper Clips"
    );

    // Cut the listener, then commit: its notification reaches no listener
    // of this instance. (`pg_terminate_backend` with a timeout waits until
    // the backend is gone.)
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query(
        "UPDATE order_product SET title = 'Clips While Away' WHERE identifier = 'bSusp6dBHm'",
    )
    .execute(&mut *tx)
    .await
    .expect("update");
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 5000)")
        .bind(old_pid)
        .fetch_one(&mut *tx)
        .await
        .expect("terminate the listener's backend");
    assert!(terminated, "the listener's backend {old_pid} did not end");
    tx.commit().await.expect("commit");
    let committed_at: f64 =
        sqlx::query_scalar("SELECT extract(epoch FROM clock_timestamp())::float8")
            .fetch_one(&pool)
            .await
            .expect("clock");

    // Wait for the new listener, then read once: no polling, the entry from
    // before the cut must be gone.
    let started = Instant::now();
    let new_pid = loop {
        match instance.cache.listener_backend_pid() {
            Some(pid) if pid != old_pid => break pid,
            _ => {
                assert!(
                    started.elapsed() < DEADLINE,
                    "the listener did not reconnect"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    let listen_began: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM backend_start)::float8 FROM pg_stat_activity WHERE pid = $1",
    )
    .bind(new_pid)
    .fetch_one(&pool)
    .await
    .expect("the new listener's backend");
    assert!(
        listen_began > committed_at,
        "the new listener started before the commit, so it may have received the notification; \
         this test needs it to have been lost"
    );
    let body = instance.get("/order/products").await;
    assert_eq!(
        body["products_data"]["bSusp6dBHm"]["title"], "Clips While Away",
        "after reconnecting, the cache must not serve what it held before the cut"
    );
    // And it caches again.
    let cached = get_while_locked(&pool, "order_product", &[&instance], "/order/products").await;
    assert_eq!(cached[0], body);
    instance.shutdown().await;
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn ttl_zero_reads_the_database_every_time(pool: PgPool) {
    let instance = start(pool.clone(), 0).await;
    assert!(!instance.cache.is_enabled());
    let before = instance.get("/order/products").await;
    assert_eq!(
        before["products_data"]["bSusp6dBHm"]["title"],
        "Paper Clips"
    );
    assert_eq!(
        instance.cache.listener_backend_pid(),
        None,
        "no listener without a cache"
    );

    // The lock check catches a read: the request waits on the lock.
    let mut lock = pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE order_product IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .expect("lock");
    let browser = instance.browser.second_browser();
    let request = tokio::spawn(async move { browser.get_json("/order/products").await });
    let started = Instant::now();
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock' \
               AND query LIKE '%order_product%'",
        )
        .fetch_one(&pool)
        .await
        .expect("pg_stat_activity");
        if waiting > 0 {
            break;
        }
        assert!(
            !request.is_finished(),
            "answered while the catalogue was locked, with the cache off"
        );
        assert!(
            started.elapsed() < DEADLINE,
            "no request waited on the lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    lock.rollback().await.expect("unlock");
    assert_eq!(request.await.expect("request task"), before);

    // Every change shows on the very next request.
    execute(
        &pool,
        "UPDATE order_product SET title = 'Uncached Clips' WHERE identifier = 'bSusp6dBHm'",
    )
    .await;
    let after = instance.get("/order/products").await;
    assert_eq!(
        after["products_data"]["bSusp6dBHm"]["title"],
        "Uncached Clips"
    );
    execute(
        &pool,
        "UPDATE clientevent_configuration SET log_client_events = false",
    )
    .await;
    assert_eq!(
        instance.get("/user/logged-in").await["log_client_events"],
        false
    );
    instance.shutdown().await;
}
