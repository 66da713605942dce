//! Terms-of-use versions and members' agreements. The current version is the
//! highest `version` number (not the highest row id).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TermsVersion {
    pub id: i32,
    pub version: i32,
    pub version_note: Option<String>,
}

/// The current version; with duplicate rows for it, the lowest id.
pub async fn current(conn: &mut PgConnection) -> Result<Option<TermsVersion>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, version, version_note FROM user_terms_of_use_version \
         ORDER BY version DESC, id ASC LIMIT 1",
    )
    .fetch_optional(conn)
    .await
}

/// Whether the member agreed to any row carrying `version`.
pub async fn has_agreed_to_version(
    pool: &PgPool,
    member_id: i32,
    version: i32,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM user_member_terms_of_use_version_agreed a \
             JOIN user_terms_of_use_version t ON t.id = a.termsofuseversion_id \
             WHERE a.member_id = $1 AND t.version = $2)",
    )
    .bind(member_id)
    .bind(version)
    .fetch_one(pool)
    .await
}

/// Records the agreement; false when it already existed.
pub async fn agree(
    conn: &mut PgConnection,
    member_id: i32,
    terms_id: i32,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO user_member_terms_of_use_version_agreed \
             (member_id, termsofuseversion_id, agreed_date_time) VALUES ($1, $2, now()) \
         ON CONFLICT (member_id, termsofuseversion_id) DO NOTHING",
    )
    .bind(member_id)
    .bind(terms_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn latest_agreement(
    pool: &PgPool,
    member_id: i32,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT max(agreed_date_time) FROM user_member_terms_of_use_version_agreed \
         WHERE member_id = $1",
    )
    .bind(member_id)
    .fetch_one(pool)
    .await
}

/// Whether any row carries `version`.
pub async fn version_exists(conn: &mut PgConnection, version: i32) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM user_terms_of_use_version WHERE version = $1)")
        .bind(version)
        .fetch_one(conn)
        .await
}
