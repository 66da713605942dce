//! Fault injection: SIGTERM while the real service binary is busy with
//! account creations (Argon2id hashing makes each take a while). Every
//! request already sent gets its complete answer, new connections are
//! refused at once, the process exits 0 within the grace period, and the
//! database holds each account whole (user, member, session, welcome mail).

use std::time::{Duration, Instant};

use serde_json::Value;
use startupwebapp_tests::pg_cluster::PgCluster;
use startupwebapp_tests::service_process::{STOREFRONT, ServiceProcess};

const PASSWORD: &str = "Correct-Horse9!";
/// Enough hashing that the requests are still being worked on when the
/// signal arrives, on a 2-core machine.
const IN_FLIGHT: usize = 24;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_in_flight_requests_and_exits_cleanly() {
    let cluster = PgCluster::start().await;
    let database_url = cluster.migrated_database("storefront").await;
    let mut service = ServiceProcess::spawn(
        &database_url,
        &[
            ("APP_SHUTDOWN_TIMEOUT_SECS", "10"),
            ("APP_RATE_LIMIT_CREATE_ACCOUNT", "1000/3600"),
        ],
    )
    .await;
    service.wait_ready().await;

    // Each browser holds its CSRF cookie and a kept-alive connection first,
    // so the posts below go straight onto established connections.
    let mut browsers = Vec::new();
    for _ in 0..IN_FLIGHT {
        let browser = service.browser();
        browser.fetch_csrf_token().await;
        browsers.push(browser);
    }
    let requests: Vec<_> = browsers
        .into_iter()
        .enumerate()
        .map(|(n, browser)| {
            tokio::spawn(async move {
                let username = format!("term_{n}");
                let email = format!("{username}@example.com");
                let token = browser.cookie("csrftoken").expect("csrftoken");
                let response = browser
                    .client
                    .post(browser.url("/user/create-account"))
                    .header("X-CSRFToken", token)
                    .header("Origin", STOREFRONT)
                    .form(&[
                        ("firstname", "Tess"),
                        ("lastname", "Erm"),
                        ("username", username.as_str()),
                        ("email_address", email.as_str()),
                        ("password", PASSWORD),
                        ("confirm_password", PASSWORD),
                        ("newsletter", "false"),
                        ("remember_me", "false"),
                    ])
                    .send()
                    .await
                    .unwrap_or_else(|e| {
                        panic!("{username}: the in-flight request lost its answer: {e}")
                    });
                let status = response.status().as_u16();
                let body: Value = response
                    .json()
                    .await
                    .unwrap_or_else(|e| panic!("{username}: incomplete answer: {e}"));
                (username, status, body, Instant::now())
            })
        })
        .collect();

    // Let the posts reach the service, then stop it while it hashes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    service.sigterm();
    let signalled = Instant::now();

    // The listener closes at once: a new client is refused, not queued.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let refused = tokio::net::TcpStream::connect(service.addr).await;
    assert!(
        refused.is_err(),
        "a new connection was accepted after SIGTERM"
    );

    let mut answered_after_signal = 0;
    let mut created = Vec::new();
    for request in requests {
        let (username, status, body, at) = request.await.expect("request task");
        assert_eq!(status, 200, "{username}: {body}");
        assert_eq!(body["create_account"], "true", "{username}: {body}");
        if at > signalled {
            answered_after_signal += 1;
        }
        created.push(username);
    }
    assert!(
        answered_after_signal > 0,
        "no request was still in flight at SIGTERM: the test proved nothing"
    );

    let status = service.wait_exit(Duration::from_secs(12)).await;
    let output = service.output();
    assert!(
        status.success(),
        "exit status {status:?}; output:\n{output}"
    );
    assert!(!output.contains("panicked"), "{output}");
    assert!(output.contains("shutdown complete"), "{output}");
    assert!(
        tokio::net::TcpStream::connect(service.addr).await.is_err(),
        "nothing listens after exit"
    );

    let pool = sqlx::PgPool::connect(&database_url).await.expect("connect");
    let whole: Vec<(String, bool, bool, bool)> = sqlx::query_as(
        "SELECT u.username, \
           EXISTS (SELECT 1 FROM user_member m WHERE m.user_id = u.id), \
           EXISTS (SELECT 1 FROM swa_session s WHERE s.user_id = u.id), \
           EXISTS (SELECT 1 FROM swa_email_outbox o WHERE u.email = ANY (o.recipients)) \
         FROM auth_user u ORDER BY u.username",
    )
    .fetch_all(&pool)
    .await
    .expect("read the accounts");
    created.sort();
    let usernames: Vec<&String> = whole.iter().map(|(u, ..)| u).collect();
    assert_eq!(usernames, created.iter().collect::<Vec<_>>());
    for row in &whole {
        assert!(row.1 && row.2 && row.3, "half-written account: {row:?}");
    }
    println!(
        "{IN_FLIGHT} accounts created; {answered_after_signal} answered after SIGTERM; exit after {:?}",
        signalled.elapsed()
    );
    pool.close().await;
}
