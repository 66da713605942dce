//! The `swa_email_outbox` table: enqueueing, claiming and recording outcomes.

use std::time::Duration;

use sqlx::PgConnection;

use super::OutgoingEmail;

/// Inserts `email` as a pending outbox row on `conn`, normally `&mut *tx` of
/// the caller's transaction so the mail commits (or rolls back) with the
/// change that caused it.
///
/// Returns `false` when `email.dedupe_key` was already enqueued (nothing is
/// inserted), `true` otherwise. Call [`super::Mailer::wake`] after committing.
pub async fn enqueue(conn: &mut PgConnection, email: &OutgoingEmail) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO swa_email_outbox (kind, dedupe_key, recipients, subject, body) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(email.kind)
    .bind(email.dedupe_key.as_deref())
    .bind(&email.to)
    .bind(&email.subject)
    .bind(&email.body)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// A pending row locked by the current transaction.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Claimed {
    pub id: i64,
    pub kind: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub body: String,
    pub attempts: i32,
    pub dedupe_key: Option<String>,
}

/// Locks the next due pending row. `SKIP LOCKED` lets several instances work
/// the outbox at once without ever claiming the same row.
pub(crate) async fn claim_next(conn: &mut PgConnection) -> Result<Option<Claimed>, sqlx::Error> {
    sqlx::query_as::<_, Claimed>(
        "SELECT id, kind, recipients, subject, body, attempts, dedupe_key FROM swa_email_outbox \
         WHERE status = 'pending' AND next_attempt_at <= now() \
         ORDER BY next_attempt_at, id \
         LIMIT 1 \
         FOR UPDATE SKIP LOCKED",
    )
    .fetch_optional(conn)
    .await
}

pub(crate) async fn mark_sent(conn: &mut PgConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE swa_email_outbox \
         SET status = 'sent', sent_date_time = now(), attempts = attempts + 1, last_error = NULL \
         WHERE id = $1",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a failed attempt and schedules the next one `retry_in` from now.
pub(crate) async fn mark_retry(
    conn: &mut PgConnection,
    id: i64,
    error: &str,
    retry_in: Duration,
) -> Result<(), sqlx::Error> {
    let millis = i64::try_from(retry_in.as_millis()).unwrap_or(i64::MAX);
    sqlx::query(
        "UPDATE swa_email_outbox \
         SET attempts = attempts + 1, last_error = $2, \
             next_attempt_at = now() + ($3::bigint * interval '1 millisecond') \
         WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(millis)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the last failed attempt: the row is given up on.
pub(crate) async fn mark_failed(
    conn: &mut PgConnection,
    id: i64,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE swa_email_outbox \
         SET status = 'failed', attempts = attempts + 1, last_error = $2 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}
