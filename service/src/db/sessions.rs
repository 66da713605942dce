//! Member sessions, stored server-side behind the `sessionid` cookie.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::signing::random_lower_alphanumeric;

/// Django's SESSION_COOKIE_AGE: two weeks.
pub const SESSION_AGE: Duration = Duration::weeks(2);

/// Who a valid session belongs to.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub session_key: String,
    /// Issued with "remember me" (a persistent cookie).
    pub persistent: bool,
    pub user_id: i32,
    pub username: String,
    /// `None` for a user without a member row (e.g. an admin-only account).
    pub member_id: Option<i32>,
}

/// Opens a session for `user_id` and returns its key.
pub async fn create(pool: &PgPool, user_id: i32) -> Result<String, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    create_in(&mut conn, user_id, true).await
}

/// [`create`] inside the caller's transaction.
pub async fn create_in(
    conn: &mut PgConnection,
    user_id: i32,
    persistent: bool,
) -> Result<String, sqlx::Error> {
    let key = random_lower_alphanumeric(32);
    let expires: DateTime<Utc> = Utc::now() + SESSION_AGE;
    sqlx::query(
        "INSERT INTO swa_session (session_key, user_id, expire_date, persistent) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(&key)
    .bind(user_id)
    .bind(expires)
    .bind(persistent)
    .execute(conn)
    .await?;
    Ok(key)
}

/// Ends every session of `user_id` (after a password change or reset), and
/// expired sessions of anyone while at it.
pub async fn delete_all_for_user(conn: &mut PgConnection, user_id: i32) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM swa_session WHERE user_id = $1 OR expire_date < now()")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The user of a live session, in one query.
pub async fn find_user<'e>(
    db: impl sqlx::PgExecutor<'e>,
    session_key: &str,
) -> Result<Option<SessionUser>, sqlx::Error> {
    // Keys we issue are 32 chars of [a-z0-9]; anything else cannot match.
    if session_key.len() != 32
        || !session_key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Ok(None);
    }
    let row: Option<(bool, i32, String, Option<i32>)> = sqlx::query_as(
        "SELECT s.persistent, u.id, u.username, m.id \
         FROM swa_session s \
         JOIN auth_user u ON u.id = s.user_id \
         LEFT JOIN user_member m ON m.user_id = u.id \
         WHERE s.session_key = $1 AND s.expire_date > now() AND u.is_active",
    )
    .bind(session_key)
    .fetch_optional(db)
    .await?;
    Ok(
        row.map(|(persistent, user_id, username, member_id)| SessionUser {
            session_key: session_key.to_owned(),
            persistent,
            user_id,
            username,
            member_id,
        }),
    )
}

pub async fn delete(conn: &mut PgConnection, session_key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM swa_session WHERE session_key = $1")
        .bind(session_key)
        .execute(conn)
        .await?;
    Ok(())
}
