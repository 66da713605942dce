//! Fault injection: the PostgreSQL server is killed and started again while
//! browsers keep adding to carts and creating accounts against the real
//! service binary. While the database is down every request answers 503 with
//! the API's error JSON (never a 500, never a hang), the same process
//! recovers by itself when the database returns, and every write that was
//! answered 2xx is in the database; nothing is half-written.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use startupwebapp_tests::TestApp;
use startupwebapp_tests::pg_cluster::{PgCluster, StopMode};
use startupwebapp_tests::service_process::{STOREFRONT, ServiceProcess};

const PASSWORD: &str = "Correct-Horse9!";
/// Short, so a request waiting for a connection gives up well before a
/// browser would: this bounds how long a request can take during the outage.
const ACQUIRE_TIMEOUT_MS: &str = "500";

/// One answered request.
#[derive(Debug, Clone)]
struct Outcome {
    status: u16,
    content_type: String,
    body: String,
    took: Duration,
    /// `create-account`: the username posted.
    username: Option<String>,
}

/// A form POST with the CSRF header; transport errors are returned, not panicked on.
async fn post(app: &TestApp, path: &str, form: &[(&str, &str)]) -> Result<Outcome, String> {
    let token = app.cookie("csrftoken").ok_or("no csrftoken cookie")?;
    let started = Instant::now();
    let response = app
        .client
        .post(app.url(path))
        .header("X-CSRFToken", token)
        .header("Origin", STOREFRONT)
        .form(form)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| format!("POST {path}: {e}"))?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response
        .text()
        .await
        .map_err(|e| format!("POST {path} body: {e}"))?;
    Ok(Outcome {
        status,
        content_type,
        body,
        took: started.elapsed(),
        username: None,
    })
}

/// Adds one of SKU 1 per round until `stop`, at most 90 times (a cart line
/// holds 99).
async fn cart_client(
    app: TestApp,
    stop: Arc<AtomicBool>,
) -> (TestApp, Vec<Result<Outcome, String>>) {
    app.fetch_csrf_token().await;
    let mut outcomes = Vec::new();
    while !stop.load(Ordering::Relaxed) && outcomes.len() < 90 {
        outcomes.push(
            post(
                &app,
                "/order/cart-add-product-sku",
                &[("sku_id", "1"), ("quantity", "1")],
            )
            .await,
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    (app, outcomes)
}

/// Creates a new account per round (each in a fresh browser) until `stop`.
async fn account_client(
    service: TestApp,
    client_no: usize,
    stop: Arc<AtomicBool>,
) -> Vec<Result<Outcome, String>> {
    let mut outcomes = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let browser = service.second_browser();
        browser.fetch_csrf_token().await;
        let username = format!("fault_{client_no}_{n}");
        let email = format!("{username}@example.com");
        let form = [
            ("firstname", "Fay"),
            ("lastname", "Ult"),
            ("username", username.as_str()),
            ("email_address", email.as_str()),
            ("password", PASSWORD),
            ("confirm_password", PASSWORD),
            ("newsletter", "false"),
            ("remember_me", "false"),
        ];
        let outcome = post(&browser, "/user/create-account", &form)
            .await
            .map(|mut o| {
                o.username = Some(username.clone());
                o
            });
        outcomes.push(outcome);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    outcomes
}

/// 2xx, or 503 with the API's error envelope; returns whether it succeeded.
fn check_outcome(outcome: &Result<Outcome, String>) -> bool {
    let o = match outcome {
        Ok(o) => o,
        Err(e) => panic!("a request failed at the transport level (the service must answer): {e}"),
    };
    assert!(
        o.took < Duration::from_secs(5),
        "a request took {:?} while the database was down or back: {o:?}",
        o.took
    );
    match o.status {
        200 => true,
        503 => {
            assert!(o.content_type.starts_with("application/json"), "{o:?}");
            let body: Value = serde_json::from_str(&o.body).expect("503 body is JSON");
            assert_eq!(body["errors"]["error"], "service-unavailable", "{o:?}");
            assert!(
                body["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{o:?}"
            );
            false
        }
        other => {
            panic!("only 200 or 503 are acceptable during a database outage, got {other}: {o:?}")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_under_load_gives_503s_then_recovers_without_losing_writes() {
    let cluster = PgCluster::start().await;
    let database_url = cluster.migrated_database("storefront").await;
    let mut service = ServiceProcess::spawn(
        &database_url,
        &[
            ("APP_DB_ACQUIRE_TIMEOUT_MS", ACQUIRE_TIMEOUT_MS),
            ("APP_RATE_LIMIT_CREATE_ACCOUNT", "10000/3600"),
        ],
    )
    .await;
    service.wait_ready().await;
    let pid = service.pid();

    let stop = Arc::new(AtomicBool::new(false));
    let carts: Vec<_> = (0..3)
        .map(|_| tokio::spawn(cart_client(service.browser(), stop.clone())))
        .collect();
    let accounts = tokio::spawn(account_client(service.browser(), 1, stop.clone()));

    tokio::time::sleep(Duration::from_millis(800)).await;
    // Killed outright: connections drop mid-query, as on a database crash.
    cluster.stop(StopMode::Immediate).await;
    let outage_started = Instant::now();

    let probe = reqwest::Client::new();
    let readyz = probe
        .get(service.url("/readyz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("/readyz answers during the outage");
    assert_eq!(readyz.status(), 503);
    let readyz: Value = readyz.json().await.expect("readyz JSON");
    assert_eq!(readyz["reason"], "database-unreachable", "{readyz}");

    tokio::time::sleep(Duration::from_millis(2000).saturating_sub(outage_started.elapsed())).await;
    cluster.start_again().await;
    service
        .wait_for_status("/readyz", 200, Duration::from_secs(15))
        .await;
    assert_eq!(service.pid(), pid, "recovered without a restart");
    // Keep the load on for a while after recovery.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);

    let pool = sqlx::PgPool::connect(&database_url).await.expect("connect");
    let mut unavailable = 0;
    for handle in carts {
        let (browser, outcomes) = handle.await.expect("cart client");
        let ok = outcomes.iter().filter(|o| check_outcome(o)).count();
        let failed = outcomes.len() - ok;
        unavailable += failed;
        let last_ok = outcomes.iter().rposition(check_outcome);
        assert!(
            last_ok.is_some_and(|i| i + 5 >= outcomes.len()),
            "cart adds succeed again after the database returns: {outcomes:?}"
        );
        // The browser's cart (an_ct cookie) holds every acknowledged add.
        let items = browser.get_json("/order/cart-items").await;
        let quantity = items["item_data"]["product_sku_data"]
            .as_object()
            .and_then(|lines| lines.values().next())
            .and_then(|line| line["quantity"].as_i64())
            .unwrap_or(0) as usize;
        // A 503 whose COMMIT reached the server before the connection broke
        // may have committed (it is "in doubt"); one answered 200 must have.
        assert!(
            quantity >= ok && quantity <= ok + failed,
            "cart quantity {quantity}: {ok} adds answered 200, {failed} answered 503"
        );
    }
    assert!(
        unavailable > 0,
        "the outage was seen by the cart clients as 503s"
    );

    let outcomes = accounts.await.expect("account client");
    let created: Vec<String> = outcomes
        .iter()
        .filter(|o| check_outcome(o))
        .filter_map(|o| {
            let o = o.as_ref().ok()?;
            let body: Value = serde_json::from_str(&o.body).ok()?;
            assert_eq!(body["create_account"], "true", "{o:?}");
            o.username.clone()
        })
        .collect();
    assert!(!created.is_empty(), "accounts were created: {outcomes:?}");
    for username in &created {
        let (member, welcome): (bool, bool) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM user_member m WHERE m.user_id = u.id), \
                    EXISTS (SELECT 1 FROM swa_email_outbox o \
                            WHERE o.kind = 'welcome' AND u.email = ANY (o.recipients)) \
             FROM auth_user u WHERE u.username = $1",
        )
        .bind(username)
        .fetch_optional(&pool)
        .await
        .expect("read the account")
        .unwrap_or_else(|| {
            panic!("account {username} was answered 200 but is not in the database")
        });
        assert!(
            member && welcome,
            "{username}: member {member}, welcome mail {welcome}"
        );
    }
    // Nothing half-written: every user in the database (also those whose
    // request was answered 503) has its member row and welcome mail.
    let (users, orphans): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE NOT EXISTS \
             (SELECT 1 FROM user_member m WHERE m.user_id = u.id) OR NOT EXISTS \
             (SELECT 1 FROM swa_email_outbox o WHERE u.email = ANY (o.recipients))) \
         FROM auth_user u",
    )
    .fetch_one(&pool)
    .await
    .expect("count users");
    assert_eq!(orphans, 0, "users without a member row or welcome mail");
    assert!(users as usize >= created.len() && users as usize <= outcomes.len());
    let orphan_lines: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM order_cart_sku l WHERE NOT EXISTS \
         (SELECT 1 FROM order_cart c WHERE c.id = l.cart_id)",
    )
    .fetch_one(&pool)
    .await
    .expect("count cart lines");
    assert_eq!(orphan_lines, 0);
    pool.close().await;

    service.sigterm();
    let status = service.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "exit {status:?}:\n{}", service.output());
}
