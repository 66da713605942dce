//! What a handler calls to apply one of the configured rate limits.
//!
//! ```ignore
//! let ip = client_ip::from_request(req, &state.config.trusted_proxies);
//! rate_limit::enforce(&state, ip, "login", None, state.config.rate_limits.login).await?;
//! ```

use std::net::IpAddr;

use crate::app::AppState;
use crate::config::RateLimit;
use crate::db::rate_limits::{self, Decision};
use crate::error::AppError;
use crate::http::client_ip;

/// Counts this request in `bucket` and refuses it with
/// [`AppError::RateLimited`] (429 + `Retry-After`) when over `limit`.
///
/// The counter is keyed by `key` when given (e.g. the posted username, so a
/// target account is protected whichever address attacks it), else by the
/// client address ([`client_ip::rate_key`]: IPv6 per /64).
///
/// Fails open: when the counter cannot be read (database error) the request
/// is allowed and a warning is logged, as the legacy service did. Refusing
/// instead would turn a counter hiccup into an outage of login and sign-up,
/// and a real database outage surfaces anyway through the request's own
/// queries. Likewise, with neither a key nor a client address (no TCP peer,
/// which production never has) there is nothing to count by and the request
/// is allowed; lumping all such requests together would limit everyone.
pub async fn enforce(
    state: &AppState,
    req_ip: Option<IpAddr>,
    bucket: &'static str,
    key: Option<&str>,
    limit: RateLimit,
) -> Result<(), AppError> {
    let client_key = match (key, req_ip) {
        (Some(key), _) => key.to_owned(),
        (None, Some(ip)) => client_ip::rate_key(ip),
        (None, None) => {
            tracing::debug!(bucket, "no client address to rate-limit by; allowed");
            return Ok(());
        }
    };
    match rate_limits::hit(&state.pool, bucket, &client_key, limit).await {
        Ok(Decision::Allowed) => Ok(()),
        Ok(Decision::Limited { retry_after_secs }) => {
            // The key (an address or a username) stays out of the log.
            tracing::info!(bucket, retry_after_secs, "rate limit reached");
            Err(AppError::RateLimited { retry_after_secs })
        }
        Err(error) => {
            tracing::warn!(bucket, %error, "rate-limit counter unavailable; request allowed");
            Ok(())
        }
    }
}
