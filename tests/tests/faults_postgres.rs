//! Fault injection: the PostgreSQL server is killed and started again while
//! browsers keep adding to carts and creating accounts against the real
//! service binary. While the database is down every request answers 503 with
//! the API's error JSON (never a 500, never a hang), the same process
//! recovers by itself when the database returns, and every write that was
//! answered 2xx is in the database; nothing is half-written. Stripe's
//! checkout webhooks arriving across the restart give each order once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use startupwebapp::domain::stripe_signature;
use startupwebapp_tests::TestApp;
use startupwebapp_tests::fake_stripe::{self, Completion, FakeStripe, WEBHOOK_SECRET};
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
    outcome(response, started).await
}

/// What the test keeps of an answer (transport errors as `Err`).
async fn outcome(response: reqwest::Response, started: Instant) -> Result<Outcome, String> {
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
        .map_err(|e| format!("reading the body of a {status}: {e}"))?;
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

/// A signed `checkout.session.completed` delivery, as Stripe sends it.
async fn deliver_completed(
    base_url: &str,
    event_id: &str,
    session: &Value,
) -> Result<Outcome, String> {
    let body = serde_json::to_vec(&serde_json::json!({
        "id": event_id, "object": "event", "api_version": "2099-01-01.future",
        "type": "checkout.session.completed", "data": {"object": session}
    }))
    .map_err(|e| e.to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(format!("{base_url}/order/stripe-webhook"))
        .header("Content-Type", "application/json")
        .header(
            "Stripe-Signature",
            stripe_signature::header(WEBHOOK_SECRET, now, &body),
        )
        .body(body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| format!("webhook {event_id}: {e}"))?;
    outcome(response, started).await
}

/// A browser fills a cart and opens a Stripe Checkout session; the customer
/// pays on the (fake) hosted page. Returns the completed session object.
async fn paid_session(service: &ServiceProcess, stripe: &FakeStripe, buyer: usize) -> Value {
    let browser = service.browser();
    browser.fetch_csrf_token().await;
    let added = browser
        .post_json(
            "/order/cart-add-product-sku",
            &[("sku_id", "1"), ("quantity", "2")],
        )
        .await;
    assert_eq!(added["cart_add_product_sku"], "success", "{added}");
    browser.get_json("/order/cart-shipping-methods").await;
    let email = format!("buyer{buyer}@example.com");
    let created = browser
        .post_json(
            "/order/create-checkout-session",
            &[
                ("agree_to_terms_of_sale", "true"),
                ("newsletter", "false"),
                ("save_defaults", "false"),
                ("anonymous_email_address", email.as_str()),
            ],
        )
        .await;
    assert_eq!(created["create_checkout_session"], "success", "{created}");
    let id = created["session_id"].as_str().expect("session id");
    stripe.complete(
        id,
        Completion {
            customer_email: Some(email.clone()),
            ..Completion::default()
        },
    )
}

/// Stripe keeps delivering `checkout.session.completed` while the database
/// is killed and restarted. A delivery answered 2xx is an order that must
/// survive; one answered 503 is retried by Stripe (here: by the test) and
/// must then give exactly one order, one confirmation mail, whatever was
/// half-done when the connection broke.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_webhooks_across_a_database_restart_give_each_order_exactly_once() {
    const SESSIONS: usize = 8;
    let cluster = PgCluster::start().await;
    let database_url = cluster.migrated_database("orders").await;
    let stripe = FakeStripe::start().await;
    let stripe_base = stripe.base_url();
    let mut service = ServiceProcess::spawn(
        &database_url,
        &[
            ("APP_DB_ACQUIRE_TIMEOUT_MS", ACQUIRE_TIMEOUT_MS),
            ("STRIPE_SECRET_KEY", fake_stripe::SECRET_KEY),
            ("STRIPE_WEBHOOK_SECRETS", WEBHOOK_SECRET),
            ("STRIPE_API_BASE", stripe_base.as_str()),
            ("STRIPE_PUBLISHABLE_KEY", "pk_test_fake_stripe"),
        ],
    )
    .await;
    service.wait_ready().await;

    let mut sessions = Vec::new();
    for buyer in 0..SESSIONS {
        sessions.push(paid_session(&service, &stripe, buyer).await);
    }
    let session_id = |s: &Value| s["id"].as_str().expect("session id").to_owned();
    // Stripe redelivers an event under its own id.
    let event_id = |i: usize| format!("evt_completed_{i}");

    // Two orders are acknowledged before the crash.
    let mut acknowledged: Vec<(String, String)> = Vec::new();
    for (i, session) in sessions.iter().take(2).enumerate() {
        let o = deliver_completed(&service.base_url, &event_id(i), session)
            .await
            .expect("delivered");
        assert_eq!(o.status, 200, "{o:?}");
        let ack: Value = serde_json::from_str(&o.body).expect("ack JSON");
        let identifier = ack["order_identifier"].as_str().expect("identifier");
        acknowledged.push((session_id(session), identifier.to_owned()));
    }

    // The rest arrive while the database is killed: some may land before the
    // kill, some during; each is 200 or 503 with the error JSON.
    let in_flight: Vec<_> = sessions
        .iter()
        .enumerate()
        .skip(2)
        .map(|(i, session)| {
            let session = session.clone();
            let base_url = service.base_url.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(40 * i as u64)).await;
                deliver_completed(&base_url, &event_id(i), &session).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    cluster.stop(StopMode::Immediate).await;
    let mut answered_during = Vec::new();
    for handle in in_flight {
        let outcome = handle.await.expect("delivery task");
        check_outcome(&outcome);
        answered_during.push(outcome.expect("answered"));
    }
    // Certainly down now: a delivery is refused with 503 so Stripe retries.
    let refused = deliver_completed(
        &service.base_url,
        &event_id(SESSIONS - 1),
        &sessions[SESSIONS - 1],
    )
    .await
    .expect("answered while down");
    assert!(
        !check_outcome(&Ok(refused.clone())),
        "503 while down: {refused:?}"
    );

    cluster.start_again().await;
    service
        .wait_for_status("/readyz", 200, Duration::from_secs(15))
        .await;

    // Stripe retries every event that was not acknowledged (same event id);
    // a retry of an acknowledged one (a lost 200) must change nothing either.
    // A repeated event id is acknowledged without an identifier (it was
    // handled before); a first handling names the order.
    let mut acknowledged_after = Vec::new();
    for (i, session) in sessions.iter().enumerate() {
        let o = deliver_completed(&service.base_url, &event_id(i), session)
            .await
            .expect("delivered after recovery");
        assert_eq!(o.status, 200, "{o:?}");
        let ack: Value = serde_json::from_str(&o.body).expect("ack JSON");
        if let Some(identifier) = ack["order_identifier"].as_str() {
            acknowledged_after.push((session_id(session), identifier.to_owned()));
        }
    }
    let pool = sqlx::PgPool::connect(&database_url).await.expect("connect");
    let (orders, linked, distinct, lines, confirmations): (i64, i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM order_order), \
                    (SELECT count(*) FROM swa_checkout_session WHERE order_id IS NOT NULL), \
                    (SELECT count(DISTINCT identifier) FROM order_order), \
                    (SELECT count(*) FROM order_order_sku), \
                    (SELECT count(*) FROM swa_email_outbox WHERE kind = 'order-confirmation')",
        )
        .fetch_one(&pool)
        .await
        .expect("count orders");
    let n = SESSIONS as i64;
    assert_eq!(
        (orders, linked, distinct, lines, confirmations),
        (n, n, n, n, n),
        "one order, one line, one confirmation per paid session"
    );
    // Every identifier a delivery was answered with, before, during or after
    // the outage, is the stored order of that session.
    let during = answered_during
        .iter()
        .zip(sessions.iter().skip(2))
        .filter(|(o, _)| o.status == 200)
        .map(|(o, s)| {
            let ack: Value = serde_json::from_str(&o.body).expect("ack JSON");
            let identifier = ack["order_identifier"].as_str().expect("identifier");
            (session_id(s), identifier.to_owned())
        });
    for (session, identifier) in acknowledged
        .iter()
        .cloned()
        .chain(during)
        .chain(acknowledged_after)
    {
        let stored: Option<String> = sqlx::query_scalar(
            "SELECT o.identifier FROM swa_checkout_session s \
             JOIN order_order o ON o.id = s.order_id WHERE s.session_id = $1",
        )
        .bind(&session)
        .fetch_optional(&pool)
        .await
        .expect("read the order");
        assert_eq!(stored.as_ref(), Some(&identifier), "{session}");
    }
    pool.close().await;

    service.sigterm();
    let status = service.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "exit {status:?}:\n{}", service.output());
}
