//! The email outbox and its background sender, against a real PostgreSQL and
//! an in-process SMTP server: mail enqueued in a transaction is delivered over
//! SMTP with the right headers and body, deduplicated, retried through an
//! outage without loss or duplication, and given up on after max_attempts.

use std::time::Duration;

use sqlx::PgPool;
use startupwebapp::email::{OutgoingEmail, enqueue};
use startupwebapp_tests::smtp::SmtpSink;
use startupwebapp_tests::{config_with_smtp, spawn_app_with};

/// Generous bound for anything the sender should do "soon" on a busy CI box.
const SOON: Duration = Duration::from_secs(15);

fn email(subject: &str, body: &str) -> OutgoingEmail {
    OutgoingEmail {
        kind: "welcome",
        to: vec!["member@example.com".to_owned()],
        subject: subject.to_owned(),
        body: body.to_owned(),
        dedupe_key: None,
    }
}

/// Enqueues in a transaction of its own, as a request handler would.
async fn enqueue_committed(pool: &PgPool, email: &OutgoingEmail) -> bool {
    let mut tx = pool.begin().await.expect("begin");
    let inserted = enqueue(&mut tx, email).await.expect("enqueue");
    tx.commit().await.expect("commit");
    inserted
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    id: i64,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    sent: bool,
}

async fn rows(pool: &PgPool) -> Vec<Row> {
    sqlx::query_as(
        "SELECT id, status, attempts, last_error, sent_date_time IS NOT NULL AS sent \
         FROM swa_email_outbox ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .expect("read the outbox")
}

/// Polls the single outbox row until `done` holds; panics after `SOON`.
async fn wait_for_row(pool: &PgPool, what: &str, done: impl Fn(&Row) -> bool) -> Row {
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let mut all = rows(pool).await;
        assert_eq!(all.len(), 1, "exactly one outbox row: {all:?}");
        let row = all.remove(0);
        if done(&row) {
            return row;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "outbox row never became {what}: {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A loopback port nobody listens on (bound, then released).
async fn free_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    listener.local_addr().expect("address").port()
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn enqueued_mail_is_delivered_with_headers_and_non_ascii_body(pool: PgPool) {
    let sink = SmtpSink::start().await;
    let mut app = spawn_app_with(config_with_smtp(sink.port()), pool.clone()).await;

    let subject = "Grüße from StartUpWebApp — your order ✓";
    let long_line = "ünïcödé ".repeat(30);
    let body = [
        "Hello Zoë,",
        "",
        "Confirm your address: https://www.example.com/account/verify?token=abc123&user=7",
        ".a line that starts with a dot",
        long_line.trim_end(),
        "",
        "— StartUpWebApp",
    ]
    .join("\r\n");
    let message = OutgoingEmail {
        kind: "welcome",
        to: vec![
            "Zoë Member <member@example.com>".to_owned(),
            "second@example.com".to_owned(),
        ],
        subject: subject.to_owned(),
        body: body.clone(),
        dedupe_key: None,
    };
    assert!(enqueue_committed(&pool, &message).await);
    app.mailer.wake();

    let received = sink.wait_for(1, SOON).await;
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(mail.envelope_from, "noreply@example.com");
    assert_eq!(
        mail.envelope_to,
        vec!["member@example.com", "second@example.com"]
    );
    let from = mail.header("From").expect("From header");
    assert!(
        from.contains("StartUpWebApp") && from.contains("<noreply@example.com>"),
        "{from}"
    );
    let reply_to = mail.header("Reply-To").expect("Reply-To header");
    assert!(reply_to.contains("<noreply@example.com>"), "{reply_to}");
    let to = mail.header("To").expect("To header");
    assert!(
        to.contains("member@example.com") && to.contains("second@example.com"),
        "{to}"
    );
    assert_eq!(mail.subject().as_deref(), Some(subject));
    let content_type = mail
        .header("Content-Type")
        .expect("Content-Type")
        .to_ascii_lowercase();
    assert!(
        content_type.starts_with("text/plain") && content_type.contains("charset=utf-8"),
        "{content_type}"
    );
    assert_eq!(mail.body().trim_end(), body.replace("\r\n", "\n"));
    assert_eq!(
        mail.links(),
        vec!["https://www.example.com/account/verify?token=abc123&user=7"]
    );

    let row = wait_for_row(&pool, "sent", |r| r.status == "sent").await;
    assert!(row.sent, "sent_date_time set: {row:?}");
    assert_eq!(row.attempts, 1);
    assert_eq!(row.last_error, None);

    // The sender stops with the server.
    app.shutdown().await;
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn wake_sends_without_waiting_for_the_next_poll(pool: PgPool) {
    let sink = SmtpSink::start().await;
    let mut config = config_with_smtp(sink.port());
    config.email_delivery.poll_interval = Duration::from_secs(600);
    let app = spawn_app_with(config, pool.clone()).await;

    assert!(enqueue_committed(&pool, &email("first", "one")).await);
    app.mailer.wake();
    sink.wait_for(1, SOON).await;
    // The sender is now idle until the poll ten minutes away: only the
    // wake-up can get the second message out in time.
    assert!(enqueue_committed(&pool, &email("second", "two")).await);
    app.mailer.wake();
    let received = sink.wait_for(2, SOON).await;
    assert_eq!(received[1].subject().as_deref(), Some("second"));
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn a_dedupe_key_is_enqueued_and_delivered_once(pool: PgPool) {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(config_with_smtp(sink.port()), pool.clone()).await;

    let mut confirmation = email("Order confirmation", "Thanks for your order.");
    confirmation.kind = "order-confirmation";
    confirmation.dedupe_key = Some("order-confirmation:42".to_owned());
    assert!(enqueue_committed(&pool, &confirmation).await);
    assert!(
        !enqueue_committed(&pool, &confirmation).await,
        "second enqueue is a no-op"
    );
    app.mailer.wake();

    wait_for_row(&pool, "sent", |r| r.status == "sent").await;
    // The only row is sent, so nothing else can ever go out.
    assert_eq!(sink.messages().len(), 1);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn mail_enqueued_in_a_rolled_back_transaction_does_not_exist(pool: PgPool) {
    let mut tx = pool.begin().await.expect("begin");
    assert!(
        enqueue(&mut tx, &email("never", "rolled back"))
            .await
            .expect("enqueue")
    );
    tx.rollback().await.expect("rollback");
    assert!(rows(&pool).await.is_empty());
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn an_smtp_outage_delays_mail_without_losing_or_duplicating_it(pool: PgPool) {
    let port = free_port().await;
    let mut config = config_with_smtp(port);
    // Enough attempts that the outage cannot exhaust them before the sink starts.
    config.email_delivery.max_attempts = 20;
    let app = spawn_app_with(config, pool.clone()).await;

    assert!(enqueue_committed(&pool, &email("Reset your password", "Link inside.")).await);
    app.mailer.wake();

    let row = wait_for_row(&pool, "retried", |r| r.attempts > 0).await;
    assert_eq!(row.status, "pending", "{row:?}");
    assert!(row.last_error.is_some(), "{row:?}");
    assert!(!row.sent, "{row:?}");

    let sink = SmtpSink::start_on(port).await;
    let received = sink.wait_for(1, SOON).await;
    assert_eq!(
        received[0].subject().as_deref(),
        Some("Reset your password")
    );
    let row = wait_for_row(&pool, "sent", |r| r.status == "sent").await;
    assert!(row.attempts >= 2, "{row:?}");
    assert_eq!(sink.messages().len(), 1, "delivered exactly once");
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn a_message_that_keeps_failing_is_marked_failed_after_max_attempts(pool: PgPool) {
    let sink = SmtpSink::start_failing().await;
    let app = spawn_app_with(config_with_smtp(sink.port()), pool.clone()).await;

    assert!(enqueue_committed(&pool, &email("Doomed", "Never accepted.")).await);
    app.mailer.wake();

    let row = wait_for_row(&pool, "failed", |r| r.status == "failed").await;
    assert_eq!(row.attempts, 3, "max_attempts from config_with_smtp");
    let error = row.last_error.clone().unwrap_or_default();
    assert!(error.contains("451"), "{error}");
    assert!(!row.sent);
    assert_eq!(sink.rejected(), 3);
    assert!(sink.messages().is_empty());

    // A failed row is never picked up again, even when SMTP recovers.
    sink.set_fail_data(false);
    assert!(enqueue_committed(&pool, &email("Later", "Fine.")).await);
    app.mailer.wake();
    let received = sink.wait_for(1, SOON).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].subject().as_deref(), Some("Later"));
    let all = rows(&pool).await;
    assert_eq!(all[0].id, row.id);
    assert_eq!(all[0].status, "failed");
    assert_eq!(all[0].attempts, 3);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn an_invalid_recipient_fails_at_once(pool: PgPool) {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(config_with_smtp(sink.port()), pool.clone()).await;

    let mut bad = email("Hi", "Body");
    bad.to = vec!["not an address".to_owned()];
    assert!(enqueue_committed(&pool, &bad).await);
    app.mailer.wake();

    let row = wait_for_row(&pool, "failed", |r| r.status == "failed").await;
    assert_eq!(row.attempts, 1);
    let error = row.last_error.unwrap_or_default();
    assert!(!error.contains("not an address"), "{error}");
    assert!(sink.messages().is_empty());
}
