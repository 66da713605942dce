//! `/user/*`: accounts, sessions, recovery, preferences, unsubscribe, terms
//! of use and the contact forms, wire-compatible with the legacy storefront.
//! Every JSON body ends with `"user-api-version": "0.0.1"`; business outcomes
//! are HTTP 200 with a status word, as the storefront reads them.

pub mod account;
pub mod contact;
pub mod login;
pub mod recovery;
pub mod registration;
pub mod terms;
pub mod unsubscribe;

use std::net::IpAddr;

use chrono::Utc;
use poem::Request;
use poem_openapi::Object;
use sqlx::PgConnection;

use crate::app::AppState;
use crate::config::RateLimit;
use crate::db::{carts, sessions};
use crate::domain::account_emails::{Letter, Site};
use crate::domain::password::{self, Verification};
use crate::domain::tokens::TokenSigner;
use crate::domain::validation::{Check, FieldError};
use crate::email::{self, OutgoingEmail};
use crate::error::AppError;
use crate::http::cookies::{self, Outgoing};
use crate::http::{client_ip, csrf, rate_limit};

pub use super::session::USER_API_VERSION;

pub(crate) fn version() -> String {
    USER_API_VERSION.to_owned()
}

/// Errors a `/user/*` form POST can fail with besides its business outcomes.
pub type UserFormErrors = super::failure::FormPostErrors;
/// The same for the rate-limited forms (429 with `Retry-After`).
pub type LimitedFormErrors = super::failure::LimitedFormPostErrors;

/// One validation problem: `{"type": …, "description": …}`.
#[derive(Object, Debug, Clone, PartialEq)]
pub struct Problem {
    #[oai(rename = "type")]
    pub kind: String,
    pub description: String,
}

impl From<&FieldError> for Problem {
    fn from(e: &FieldError) -> Self {
        Problem {
            kind: e.r#type.to_string(),
            description: e.description.to_string(),
        }
    }
}

/// A validated field: `true`, or the list of its problems.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldResult {
    Valid(bool),
    Invalid(Vec<Problem>),
}

crate::api::wire::one_of_two!(
    FieldResult,
    "FieldResult",
    Valid(bool),
    Invalid(Vec<Problem>)
);

impl FieldResult {
    pub fn is_valid(&self) -> bool {
        matches!(self, FieldResult::Valid(_))
    }

    pub fn problems(list: &[FieldError]) -> Self {
        FieldResult::Invalid(list.iter().map(Problem::from).collect())
    }
}

impl From<Check> for FieldResult {
    fn from(check: Check) -> Self {
        match check {
            Ok(()) => FieldResult::Valid(true),
            Err(list) => FieldResult::problems(&list),
        }
    }
}

/// A form field the storefront always sends; a missing one reads as empty,
/// so validation reports it instead of the legacy 500.
pub(crate) fn field(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

/// The legacy reads a flag as true only when it is exactly `'true'`.
pub(crate) fn flag(value: &Option<String>) -> bool {
    value.as_deref() == Some("true")
}

pub(crate) fn now_secs() -> u64 {
    Utc::now().timestamp().max(0) as u64
}

pub(crate) fn signer(state: &AppState) -> TokenSigner {
    TokenSigner::new(state.config.secret_key.expose())
}

pub(crate) fn site(state: &AppState) -> Site<'_> {
    Site(&state.config.storefront_url)
}

/// Counts this request against `limit` (keyed by `key`, else by the real
/// client address) and refuses it with 429 once over.
pub(crate) async fn limit(
    state: &AppState,
    req: &Request,
    bucket: &'static str,
    key: Option<&str>,
    limit: RateLimit,
) -> Result<(), AppError> {
    let ip: Option<IpAddr> = client_ip::from_request(req, &state.config.trusted_proxies);
    rate_limit::enforce(state, ip, bucket, key, limit).await
}

/// At most one password hash per core at a time: Argon2id takes 12 MiB and
/// tens of milliseconds each, so a burst of logins must queue here rather
/// than fan out over the blocking pool (hundreds of threads, gigabytes).
static HASHING: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::sync::Semaphore::new(cores)
});

async fn on_hashing_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    let _permit = HASHING
        .acquire()
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AppError::Internal(e.into()))
}

/// Hashes off the async workers.
pub(crate) async fn hash_password(plain: &str) -> Result<String, AppError> {
    let plain = plain.to_owned();
    on_hashing_thread(move || password::hash(&plain)).await
}

/// Verifies off the async workers; `None` as the stored hash spends the
/// same time and fails, so a missing user is not revealed by timing.
pub(crate) async fn verify_password(
    plain: &str,
    stored: Option<String>,
) -> Result<Verification, AppError> {
    let plain = plain.to_owned();
    on_hashing_thread(move || match stored {
        Some(hash) => password::verify(&plain, &hash),
        None => {
            password::dummy_verify(&plain);
            Verification::Invalid
        }
    })
    .await
}

/// Queues `letter` to `to` in the caller's transaction.
pub(crate) async fn queue_mail(
    conn: &mut PgConnection,
    kind: &'static str,
    to: Vec<String>,
    letter: Letter,
) -> Result<(), AppError> {
    email::enqueue(
        conn,
        &OutgoingEmail {
            kind,
            to,
            subject: letter.subject,
            body: letter.body,
            dedupe_key: None,
        },
    )
    .await?;
    Ok(())
}

/// Django's `login()` inside the caller's transaction: a new session key
/// (the caller's old session, if any, is ended), `last_login` updated and,
/// for a member, the anonymous cart merged. Returns the new session key; the
/// cookies are set by [`issue_login_cookies`] once the transaction commits.
pub(crate) async fn open_session(
    tx: &mut PgConnection,
    user_id: i32,
    member_id: Option<i32>,
    persistent: bool,
    old_session: Option<&str>,
    anonymous_cart: Option<&str>,
) -> Result<String, AppError> {
    if let Some(old) = old_session {
        sessions::delete(tx, old).await?;
    }
    let key = sessions::create_in(tx, user_id, persistent).await?;
    crate::db::users::record_login(tx, user_id).await?;
    if let (Some(member_id), Some(token)) = (member_id, anonymous_cart) {
        carts::merge_anonymous_into_member(tx, token, member_id).await?;
    }
    Ok(key)
}

/// The cookies of a fresh login: the session (persistent with "remember
/// me"), and a rotated CSRF secret so a token fixed before login is useless.
pub(crate) fn issue_login_cookies(
    state: &AppState,
    outgoing: &Outgoing,
    session_key: &str,
    persistent: bool,
) {
    outgoing.set(cookies::session(&state.config, session_key, persistent));
    outgoing.set(cookies::csrf(&state.config, &csrf::new_secret()));
}
