//! Users (`auth_user`) and their member rows (`user_member`), with Django's
//! column names so a Django-created database is read as it is.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::signing::random_alphanumeric;

/// What login needs to check a password.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Credentials {
    pub user_id: i32,
    pub username: String,
    pub password_hash: String,
    pub is_active: bool,
    pub member_id: Option<i32>,
}

macro_rules! credentials_query {
    ($condition:literal) => {
        concat!(
            "SELECT u.id AS user_id, u.username, u.password AS password_hash, u.is_active, \
                    m.id AS member_id \
             FROM auth_user u LEFT JOIN user_member m ON m.user_id = u.id WHERE ",
            $condition
        )
    };
}

/// The user by exact (case-sensitive) username, as Django's ModelBackend.
pub async fn credentials_by_username(
    conn: &mut PgConnection,
    username: &str,
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as(credentials_query!("u.username = $1"))
        .bind(username)
        .fetch_optional(conn)
        .await
}

pub async fn credentials_by_id(
    conn: &mut PgConnection,
    user_id: i32,
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as(credentials_query!("u.id = $1"))
        .bind(user_id)
        .fetch_optional(conn)
        .await
}

/// Replaces the stored hash only if it is still `expected`, so a rehash on
/// login never overwrites a password changed by a concurrent request.
pub async fn replace_password_hash(
    conn: &mut PgConnection,
    user_id: i32,
    expected: &str,
    new_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE auth_user SET password = $1 WHERE id = $2 AND password = $3")
        .bind(new_hash)
        .bind(user_id)
        .bind(expected)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_password_hash(
    conn: &mut PgConnection,
    user_id: i32,
    hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE auth_user SET password = $1 WHERE id = $2")
        .bind(hash)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn record_login(conn: &mut PgConnection, user_id: i32) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE auth_user SET last_login = now() WHERE id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn username_exists(pool: &PgPool, username: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM auth_user WHERE username = $1)")
        .bind(username)
        .fetch_one(pool)
        .await
}

/// A registration after validation.
#[derive(Debug)]
pub struct NewAccount<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub email: &'a str,
    pub newsletter: bool,
    pub unsubscribe_string: &'a str,
    pub unsubscribe_token: &'a str,
    pub verification_string: &'a str,
    pub verification_token: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateAccountError {
    /// Another registration took the username first.
    #[error("username taken")]
    UsernameTaken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Inserts the user and its member row; the caller's transaction makes the
/// pair atomic. Returns `(user_id, member_id)`.
pub async fn create_account(
    tx: &mut PgConnection,
    new: &NewAccount<'_>,
) -> Result<(i32, i32), CreateAccountError> {
    let user_id: i32 = sqlx::query_scalar(
        "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, \
                                email, is_staff, is_active, date_joined) \
         VALUES ($1, false, $2, $3, $4, $5, false, true, now()) \
         ON CONFLICT (username) DO NOTHING RETURNING id",
    )
    .bind(new.password_hash)
    .bind(new.username)
    .bind(new.first_name)
    .bind(new.last_name)
    .bind(new.email)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(CreateAccountError::UsernameTaken)?;
    let member_id: i32 = sqlx::query_scalar(
        "INSERT INTO user_member (user_id, newsletter_subscriber, email_verified, \
             email_verification_string, email_verification_string_signed, \
             email_unsubscribed, email_unsubscribe_string, email_unsubscribe_string_signed, \
             mb_cd, use_default_shipping_and_payment_info) \
         VALUES ($1, $2, false, $3, $4, false, $5, $6, $7, false) RETURNING id",
    )
    .bind(user_id)
    .bind(new.newsletter)
    .bind(new.verification_string)
    .bind(new.verification_token)
    .bind(new.unsubscribe_string)
    .bind(new.unsubscribe_token)
    .bind(random_alphanumeric(20))
    .fetch_one(&mut *tx)
    .await?;
    Ok((user_id, member_id))
}

/// What `/user/logged-in` shows about a member.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Greeting {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
}

pub async fn greeting(pool: &PgPool, user_id: i32) -> Result<Option<Greeting>, sqlx::Error> {
    sqlx::query_as("SELECT first_name, last_name, email FROM auth_user WHERE id = $1")
        .bind(user_id)
        .fetch_optional(pool)
        .await
}

/// A member's account as `/user/account-content` and the emails need it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub user_id: i32,
    pub member_id: i32,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub date_joined: DateTime<Utc>,
    pub last_login: Option<DateTime<Utc>>,
    pub newsletter_subscriber: bool,
    pub email_unsubscribed: bool,
    pub email_verified: bool,
    pub email_verification_string: Option<String>,
    pub email_verification_string_signed: Option<String>,
    pub reset_password_string: Option<String>,
    pub mb_cd: Option<String>,
}

macro_rules! account_query {
    ($suffix:literal) => {
        concat!(
            "SELECT u.id AS user_id, m.id AS member_id, u.username, u.first_name, \
             u.last_name, u.email, u.date_joined, u.last_login, m.newsletter_subscriber, \
             m.email_unsubscribed, m.email_verified, m.email_verification_string, \
             m.email_verification_string_signed, m.reset_password_string, m.mb_cd \
             FROM auth_user u JOIN user_member m ON m.user_id = u.id WHERE u.id = $1",
            $suffix
        )
    };
}

/// The member's account; with `lock`, the member row is locked for the
/// caller's transaction so concurrent changes to it serialise.
pub async fn account(
    conn: &mut PgConnection,
    user_id: i32,
    lock: bool,
) -> Result<Option<Account>, sqlx::Error> {
    let sql = if lock {
        account_query!(" FOR UPDATE OF m, u")
    } else {
        account_query!("")
    };
    sqlx::query_as(sql).bind(user_id).fetch_optional(conn).await
}

/// Every active user whose email matches, case-insensitively.
pub async fn accounts_by_email(
    conn: &mut PgConnection,
    email: &str,
) -> Result<Vec<(i32, String, String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, username, first_name, last_name, email FROM auth_user \
         WHERE lower(email) = lower($1) AND is_active ORDER BY id",
    )
    .bind(email)
    .fetch_all(conn)
    .await
}

/// The member of the oldest user with this email (case-insensitive), if any.
pub async fn member_by_email(
    conn: &mut PgConnection,
    email: &str,
) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT m.id FROM auth_user u JOIN user_member m ON m.user_id = u.id \
         WHERE lower(u.email) = lower($1) ORDER BY u.id LIMIT 1",
    )
    .bind(email)
    .fetch_optional(conn)
    .await
}

pub async fn set_verification(
    conn: &mut PgConnection,
    member_id: i32,
    value: &str,
    signed: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE user_member SET email_verification_string = $1, \
             email_verification_string_signed = $2 WHERE id = $3",
    )
    .bind(value)
    .bind(signed)
    .bind(member_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks the email verified if `value` is the member's outstanding code;
/// single use, because the code is cleared in the same statement.
pub async fn verify_email(
    conn: &mut PgConnection,
    member_id: i32,
    value: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE user_member SET email_verified = true, email_verification_string = NULL, \
             email_verification_string_signed = NULL \
         WHERE id = $1 AND email_verification_string = $2",
    )
    .bind(member_id)
    .bind(value)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_reset(
    conn: &mut PgConnection,
    member_id: i32,
    value: &str,
    signed: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE user_member SET reset_password_string = $1, reset_password_string_signed = $2 \
         WHERE id = $3",
    )
    .bind(value)
    .bind(signed)
    .bind(member_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Consumes the member's reset code if it is `value`: true exactly once.
pub async fn consume_reset(
    conn: &mut PgConnection,
    member_id: i32,
    value: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE user_member SET reset_password_string = NULL, reset_password_string_signed = NULL \
         WHERE id = $1 AND reset_password_string = $2",
    )
    .bind(member_id)
    .bind(value)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn update_names_and_email(
    conn: &mut PgConnection,
    user_id: i32,
    first_name: &str,
    last_name: &str,
    email: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE auth_user SET first_name = $1, last_name = $2, email = $3 WHERE id = $4")
        .bind(first_name)
        .bind(last_name)
        .bind(email)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A changed email address is unverified until the new code is used.
pub async fn require_reverification(
    conn: &mut PgConnection,
    member_id: i32,
    value: &str,
    signed: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE user_member SET email_verified = false, email_verification_string = $1, \
             email_verification_string_signed = $2 WHERE id = $3",
    )
    .bind(value)
    .bind(signed)
    .bind(member_id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_preferences(
    conn: &mut PgConnection,
    member_id: i32,
    newsletter: bool,
    unsubscribed: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE user_member SET newsletter_subscriber = $1, email_unsubscribed = $2 WHERE id = $3",
    )
    .bind(newsletter)
    .bind(unsubscribed)
    .bind(member_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Order summaries of a member, newest first.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderSummary {
    pub order_id: i32,
    pub identifier: Option<String>,
    pub order_date_time: DateTime<Utc>,
    pub sales_tax_cents: i64,
    pub order_total_cents: i64,
}

pub async fn orders(pool: &PgPool, member_id: i32) -> Result<Vec<OrderSummary>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id AS order_id, identifier, order_date_time, \
                (sales_tax_amt * 100)::int8 AS sales_tax_cents, \
                (order_total * 100)::int8 AS order_total_cents \
         FROM order_order WHERE member_id = $1 ORDER BY order_date_time DESC, id DESC",
    )
    .bind(member_id)
    .fetch_all(pool)
    .await
}
