//! Fixed-window request counters in `swa_rate_limit`, shared by every
//! instance of the service.
//!
//! Windows are aligned to `floor(epoch / window)` and computed from the
//! database's clock, so every instance counts into the same row whatever its
//! own clock says. Counting is one atomic upsert: concurrent requests never
//! lose an increment and never see the same count twice.

use sqlx::PgPool;

use crate::config::RateLimit;

/// Longest `client_key` the column holds (`varchar(200)`).
pub const MAX_CLIENT_KEY_CHARS: usize = 200;

/// Longest `bucket` the column holds (`varchar(50)`).
const MAX_BUCKET_CHARS: usize = 50;

/// Whether one more request fits in the current window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Over the limit until the window ends, `retry_after_secs` (≥ 1) from now.
    Limited {
        retry_after_secs: u64,
    },
}

/// Counts one request by `client_key` in `bucket` and says whether it is
/// within `limit`.
///
/// Keys longer than 200 characters are truncated (a posted username can be
/// anything); NUL characters, which PostgreSQL text cannot hold, are dropped.
///
/// Housekeeping: the first hit of a key in a new window (hits == 1, so at
/// most once per key per window) also deletes this bucket's rows whose window
/// started more than a day ago (or two windows ago, if longer), which can
/// never be the current one. The `window_start` index keeps that a short
/// range scan, and the table stays about a day's worth of keys in size. A
/// failed clean-up is only logged: it never decides the request.
pub async fn hit(
    pool: &PgPool,
    bucket: &str,
    client_key: &str,
    limit: RateLimit,
) -> Result<Decision, sqlx::Error> {
    debug_assert!(
        bucket.chars().count() <= MAX_BUCKET_CHARS,
        "rate-limit bucket names fit varchar(50)"
    );
    let key: String = client_key
        .chars()
        .filter(|c| *c != '\0')
        .take(MAX_CLIENT_KEY_CHARS)
        .collect();
    // Sub-second windows are not configurable; one second is the floor.
    let window_secs = i64::try_from(limit.window.as_secs().max(1)).unwrap_or(i64::MAX);

    // `LEAST` keeps a runaway counter from overflowing `integer` (which would
    // turn a flood into errors instead of 429s).
    let (hits, seconds_left): (i32, f64) = sqlx::query_as(
        "INSERT INTO swa_rate_limit (bucket, client_key, window_start, hits) \
         VALUES ($1, $2, \
                 to_timestamp((floor(extract(epoch FROM now()) / $3) * $3)::double precision), \
                 1) \
         ON CONFLICT (bucket, client_key, window_start) \
         DO UPDATE SET hits = LEAST(swa_rate_limit.hits, 2147483646) + 1 \
         RETURNING hits, \
                   extract(epoch FROM window_start + make_interval(secs => $3) - now())::double precision",
    )
    .bind(bucket)
    .bind(&key)
    .bind(window_secs)
    .fetch_one(pool)
    .await?;

    if hits == 1 {
        clean_up(pool, bucket, window_secs).await;
    }

    if i64::from(hits) <= i64::from(limit.max) {
        return Ok(Decision::Allowed);
    }
    // Whole seconds, rounded up so a client that waits that long is in the
    // next window; clamped to [1, window] against clock rounding.
    let retry_after_secs = if seconds_left.is_finite() {
        (seconds_left.ceil() as i64).clamp(1, window_secs) as u64
    } else {
        window_secs as u64
    };
    Ok(Decision::Limited { retry_after_secs })
}

/// Deletes `bucket`'s rows from windows that ended long ago (see [`hit`]).
async fn clean_up(pool: &PgPool, bucket: &str, window_secs: i64) {
    let result = sqlx::query(
        "DELETE FROM swa_rate_limit \
         WHERE bucket = $1 \
           AND window_start < now() - GREATEST(interval '1 day', make_interval(secs => $2) * 2)",
    )
    .bind(bucket)
    .bind(window_secs)
    .execute(pool)
    .await;
    match result {
        Ok(done) if done.rows_affected() > 0 => {
            tracing::debug!(
                bucket,
                deleted = done.rows_affected(),
                "expired rate-limit rows deleted"
            );
        }
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(bucket, %error, "could not delete expired rate-limit rows");
        }
    }
}
