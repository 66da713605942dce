//! Fault injection: the SMTP server is unavailable (first nothing listens on
//! its port, then it answers every DATA with a transient 451) while two
//! service processes share one outbox. Once it recovers, every queued mail is
//! delivered exactly once, whichever instance sent it.
//!
//! `tests/email_outbox.rs` covers one in-process sender through a refused
//! connection and the give-up after max attempts; this adds the outage that
//! spans several retries of both failure kinds, and two instances polling the
//! same outbox concurrently (no double send).
//!
//! "Unavailable for a minute" is scaled: the retry base is 100 ms instead of
//! 30 s (300× faster), so the ~4 s outage here spans five or six attempts,
//! more than a one-minute outage does with the production settings.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use startupwebapp_tests::pg_cluster::PgCluster;
use startupwebapp_tests::service_process::ServiceProcess;
use startupwebapp_tests::smtp::SmtpSink;

const PASSWORD: &str = "Correct-Horse9!";
const ACCOUNTS: usize = 6;

async fn instance(database_url: &str, smtp_port: u16) -> ServiceProcess {
    let port = smtp_port.to_string();
    let mut service = ServiceProcess::spawn(
        database_url,
        &[
            ("SMTP_HOST", "127.0.0.1"),
            ("SMTP_PORT", port.as_str()),
            ("SMTP_SECURITY", "none"),
            ("SMTP_FROM", "StartUpWebApp <noreply@example.com>"),
            ("APP_EMAIL_MAX_ATTEMPTS", "10"),
            ("APP_EMAIL_RETRY_BASE_MS", "100"),
            ("APP_EMAIL_POLL_MS", "100"),
            ("APP_RATE_LIMIT_CREATE_ACCOUNT", "1000/3600"),
        ],
    )
    .await;
    service.wait_ready().await;
    service
}

async fn create_account(service: &ServiceProcess, username: &str) {
    let browser = service.browser();
    let email = format!("{username}@example.com");
    let reply = browser
        .post_json(
            "/user/create-account",
            &[
                ("firstname", "Mia"),
                ("lastname", "Ler"),
                ("username", username),
                ("email_address", email.as_str()),
                ("password", PASSWORD),
                ("confirm_password", PASSWORD),
                ("newsletter", "false"),
                ("remember_me", "false"),
            ],
        )
        .await;
    assert_eq!(reply["create_account"], Value::from("true"), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_queued_during_an_smtp_outage_is_delivered_once_by_two_instances() {
    let cluster = PgCluster::start().await;
    let database_url = cluster.migrated_database("storefront").await;
    // Nothing listens here until the outage ends.
    let smtp_port = startupwebapp_tests::free_port();
    let first = instance(&database_url, smtp_port).await;
    let second = instance(&database_url, smtp_port).await;

    for n in 0..ACCOUNTS {
        let service = if n % 2 == 0 { &first } else { &second };
        create_account(service, &format!("mail_{n}")).await;
    }
    let pool = sqlx::PgPool::connect(&database_url).await.expect("connect");
    // Phase 1: connection refused, for several attempts of every message.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let least: i32 =
            sqlx::query_scalar("SELECT coalesce(min(attempts), 0) FROM swa_email_outbox")
                .fetch_one(&pool)
                .await
                .expect("read the outbox");
        if least >= 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "every message is retried while SMTP is down (least attempts {least})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Phase 2: the server is back but refuses every message with 451.
    let sink = SmtpSink::start_on(smtp_port).await;
    sink.set_fail_data(true);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sink.rejected() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the instances retry against the refusing server"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sink.messages().is_empty());

    // Recovery: everything goes out, once.
    sink.set_fail_data(false);
    sink.wait_for(ACCOUNTS, Duration::from_secs(15)).await;
    // Longer than several poll rounds of both instances: a duplicate would show.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut per_recipient: BTreeMap<String, usize> = BTreeMap::new();
    for mail in sink.messages() {
        for to in mail.envelope_to {
            *per_recipient.entry(to).or_default() += 1;
        }
    }
    let expected: BTreeMap<String, usize> = (0..ACCOUNTS)
        .map(|n| (format!("mail_{n}@example.com"), 1))
        .collect();
    assert_eq!(per_recipient, expected, "each welcome mail exactly once");

    let rows: Vec<(String, i32)> =
        sqlx::query_as("SELECT status, attempts FROM swa_email_outbox ORDER BY id")
            .fetch_all(&pool)
            .await
            .expect("read the outbox");
    assert_eq!(rows.len(), ACCOUNTS);
    for (status, attempts) in &rows {
        assert_eq!(status, "sent", "{rows:?}");
        assert!(
            *attempts >= 4,
            "delivered after the outage's retries: {rows:?}"
        );
    }
    pool.close().await;
}
