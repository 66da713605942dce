//! The background sender: works through the outbox and delivers over SMTP.
//!
//! Each round claims due rows one at a time with `SELECT … FOR UPDATE SKIP
//! LOCKED` inside a transaction, sends the message while holding the row lock,
//! records the outcome and commits. Several service instances can therefore
//! run senders against one database without sending a row twice concurrently.
//!
//! Delivery is **at least once**: if the process dies (or the commit fails)
//! after the SMTP server accepted a message but before the `sent` status is
//! committed, the row is still pending and is sent again later. Exactly-once
//! is impossible across SMTP and PostgreSQL without a shared transaction.
//!
//! A failed attempt increments `attempts`, stores a short `last_error` and
//! schedules the next attempt `retry_base * 2^(attempts-1)` later (capped at
//! one hour). At `max_attempts` the row becomes `failed` and an error starting
//! `[EMAIL_FAILURE]` is logged (an alarm matches that tag).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Mailer;
use super::outbox::{self, Claimed};
use crate::config::{Config, EmailDelivery, SmtpSecurity, SmtpSettings};

/// Per-command SMTP timeout: a hung server must not hold a row lock for long.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Retries never wait longer than this.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);
/// `last_error` is for operators, not an archive of server chatter.
const MAX_ERROR_CHARS: usize = 500;

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// Why one delivery attempt failed.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    /// The row can never become a valid message; retrying cannot help.
    #[error("invalid message: {0}")]
    Invalid(String),
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

/// Why the sender could not be started.
#[derive(Debug, thiserror::Error)]
enum SetupError {
    #[error("SMTP_FROM is not a valid mailbox: {0}")]
    From(#[from] lettre::address::AddressError),
    #[error("SMTP transport: {0}")]
    Transport(#[from] lettre::transport::smtp::Error),
}

/// A running sender. Dropping it also stops the sender (after the message in
/// flight), but without waiting; prefer [`SenderHandle::shutdown`].
pub struct SenderHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl SenderHandle {
    /// Asks the sender to stop once the message in flight is recorded and
    /// waits for it up to `grace`, then abandons it (the row stays pending and
    /// is retried by the next instance, since its transaction never commits).
    pub async fn shutdown(self, grace: Duration) {
        let SenderHandle { stop, mut task } = self;
        let _ = stop.send(true);
        match tokio::time::timeout(grace, &mut task).await {
            Ok(Ok(())) => tracing::info!("email sender stopped"),
            Ok(Err(e)) => tracing::error!(error = %e, "email sender task ended abnormally"),
            Err(_) => {
                tracing::warn!(
                    "email sender did not stop in time; abandoning the message in flight"
                );
                task.abort();
            }
        }
    }
}

/// Starts the background sender, or returns `None` (after logging why) when
/// SMTP is not configured or its settings are unusable: mail then stays in
/// the outbox until a sender with SMTP runs.
pub fn spawn_sender(pool: PgPool, config: &Config, mailer: Mailer) -> Option<SenderHandle> {
    let Some(smtp) = config.smtp.as_ref() else {
        tracing::warn!(
            "SMTP is not configured (SMTP_HOST unset): outgoing mail stays in the email outbox and is not sent"
        );
        return None;
    };
    let (transport, from) = match setup(smtp) {
        Ok(ok) => ok,
        Err(e) => {
            tracing::error!(
                error = %e,
                "[EMAIL_FAILURE] email sender not started: {e}; outgoing mail stays in the email outbox"
            );
            return None;
        }
    };
    let sender = Sender {
        pool,
        transport,
        from,
        secrets: secrets(smtp),
        delivery: config.email_delivery,
    };
    let (stop, stopped) = watch::channel(false);
    tracing::info!(
        host = %smtp.host,
        port = smtp.port,
        security = ?smtp.security,
        "email sender started"
    );
    let task = tokio::spawn(sender.run(mailer, stopped));
    Some(SenderHandle { stop, task })
}

/// What must never appear in `last_error` or logs: the password, and the
/// user name unless it is too short to scrub without mangling the text.
fn secrets(smtp: &SmtpSettings) -> Vec<String> {
    let password = smtp.password.as_ref().map(|p| p.expose().to_owned());
    let username = smtp.username.clone().filter(|u| u.chars().count() >= 4);
    [password, username]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect()
}

fn setup(smtp: &SmtpSettings) -> Result<(Transport, Mailbox), SetupError> {
    let from: Mailbox = smtp.from.parse()?;
    let builder = match smtp.security {
        SmtpSecurity::StartTls => Transport::starttls_relay(&smtp.host)?,
        SmtpSecurity::Tls => Transport::relay(&smtp.host)?,
        SmtpSecurity::None => Transport::builder_dangerous(smtp.host.as_str()),
    };
    let mut builder = builder.port(smtp.port).timeout(Some(SMTP_TIMEOUT));
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
    }
    Ok((builder.build(), from))
}

struct Sender {
    pool: PgPool,
    transport: Transport,
    from: Mailbox,
    /// Credentials, scrubbed from anything stored or logged.
    secrets: Vec<String>,
    delivery: EmailDelivery,
}

impl Sender {
    async fn run(self, mailer: Mailer, mut stopped: watch::Receiver<bool>) {
        'rounds: loop {
            // Drain everything due, checking for shutdown between messages so
            // the message in flight is always finished and recorded.
            loop {
                if *stopped.borrow() {
                    break 'rounds;
                }
                match self.deliver_next().await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "email outbox unavailable; retrying at the next poll");
                        break;
                    }
                }
            }
            tokio::select! {
                () = mailer.woken() => {}
                () = tokio::time::sleep(self.delivery.poll_interval) => {}
                // Err: the handle was dropped, which also means stop.
                _ = stopped.wait_for(|stop| *stop) => break 'rounds,
            }
        }
        self.transport.shutdown().await;
    }

    /// Claims, sends and records one due message. `Ok(false)`: none was due.
    async fn deliver_next(&self) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = outbox::claim_next(&mut tx).await? else {
            tx.rollback().await?;
            return Ok(false);
        };
        let outcome = self.send(&row).await;
        let attempts = u32::try_from(row.attempts.saturating_add(1)).unwrap_or(u32::MAX);
        match outcome {
            Ok(()) => {
                outbox::mark_sent(&mut tx, row.id).await?;
                tx.commit().await?;
                tracing::info!(outbox_id = row.id, kind = %row.kind, attempts, "email sent");
            }
            Err(e) => {
                let error = self.scrub(&e.to_string());
                let permanent = matches!(e, DeliveryError::Invalid(_));
                if permanent || attempts >= self.delivery.max_attempts {
                    outbox::mark_failed(&mut tx, row.id, &error).await?;
                    on_failed(&mut tx, &row, &error).await?;
                    tx.commit().await?;
                    tracing::error!(
                        outbox_id = row.id,
                        kind = %row.kind,
                        attempts,
                        error = %error,
                        "[EMAIL_FAILURE] outbox message {} ({}) failed after {} attempt(s): {}",
                        row.id,
                        row.kind,
                        attempts,
                        error
                    );
                } else {
                    let retry_in = backoff(self.delivery.retry_base, attempts);
                    outbox::mark_retry(&mut tx, row.id, &error, retry_in).await?;
                    tx.commit().await?;
                    tracing::warn!(
                        outbox_id = row.id,
                        kind = %row.kind,
                        attempts,
                        retry_in_ms = u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
                        error = %error,
                        "email delivery failed; will retry"
                    );
                }
            }
        }
        Ok(true)
    }

    async fn send(&self, row: &Claimed) -> Result<(), DeliveryError> {
        let message = build_message(&self.from, row)?;
        self.transport.send(message).await?;
        Ok(())
    }

    /// One line, no credentials, bounded length.
    fn scrub(&self, error: &str) -> String {
        let mut text: String = error
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "***");
        }
        match text.char_indices().nth(MAX_ERROR_CHARS) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        }
    }
}

/// Hook for a message that has just been given up on, inside the transaction
/// that marks it failed: an order confirmation also leaves an
/// `order_order_email_failure` row for operators, and the
/// `[ORDER_EMAIL_FAILURE]` log line the alarm matches.
async fn on_failed(conn: &mut PgConnection, row: &Claimed, error: &str) -> Result<(), sqlx::Error> {
    if row.kind != crate::db::orders::CONFIRMATION_KIND {
        return Ok(());
    }
    let order_id = row
        .dedupe_key
        .as_deref()
        .and_then(|k| k.rsplit_once(':'))
        .and_then(|(_, id)| id.parse::<i32>().ok());
    let Some(order_id) = order_id else {
        return Ok(());
    };
    crate::db::orders::record_email_failure(conn, order_id, error).await?;
    tracing::error!(
        order_id,
        outbox_id = row.id,
        "[ORDER_EMAIL_FAILURE] type=smtp_send order={order_id}: the confirmation was given up after its retries"
    );
    Ok(())
}

/// `base * 2^(attempts-1)`, capped at one hour.
fn backoff(base: Duration, attempts: u32) -> Duration {
    let factor = 2u32.checked_pow(attempts.saturating_sub(1));
    factor
        .map(|f| base.saturating_mul(f))
        .unwrap_or(MAX_RETRY_DELAY)
        .min(MAX_RETRY_DELAY)
}

fn build_message(from: &Mailbox, row: &Claimed) -> Result<Message, DeliveryError> {
    let mut builder = Message::builder()
        .from(from.clone())
        .reply_to(from.clone())
        .subject(row.subject.clone())
        .header(ContentType::TEXT_PLAIN);
    for (i, recipient) in row.recipients.iter().enumerate() {
        // The address itself stays out of the error: it ends up in logs.
        let mailbox: Mailbox = recipient.parse().map_err(|e| {
            DeliveryError::Invalid(format!("recipient {} is not a valid address: {e}", i + 1))
        })?;
        builder = builder.to(mailbox);
    }
    builder
        .body(crlf(&row.body))
        .map_err(|e| DeliveryError::Invalid(e.to_string()))
}

/// SMTP wants CRLF line ends; callers may have used bare `\n`.
fn crlf(body: &str) -> String {
    body.replace("\r\n", "\n").replace('\n', "\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps_at_one_hour() {
        let base = Duration::from_secs(30);
        assert_eq!(backoff(base, 1), Duration::from_secs(30));
        assert_eq!(backoff(base, 2), Duration::from_secs(60));
        assert_eq!(backoff(base, 3), Duration::from_secs(120));
        assert_eq!(backoff(base, 10), MAX_RETRY_DELAY);
        assert_eq!(backoff(base, 100), MAX_RETRY_DELAY);
    }

    #[test]
    fn bodies_get_crlf_line_ends() {
        assert_eq!(crlf("a\nb\r\nc"), "a\r\nb\r\nc");
    }

    #[test]
    fn invalid_recipients_are_permanent_and_do_not_leak_the_address() {
        let row = Claimed {
            id: 1,
            kind: "welcome".into(),
            recipients: vec!["not an address".into()],
            subject: "s".into(),
            body: "b".into(),
            attempts: 0,
            dedupe_key: None,
        };
        let from: Mailbox = "StartUpWebApp <noreply@example.com>"
            .parse()
            .expect("valid from");
        match build_message(&from, &row) {
            Err(DeliveryError::Invalid(text)) => assert!(!text.contains("not an address")),
            other => panic!("expected an invalid message, got {other:?}"),
        }
    }
}
