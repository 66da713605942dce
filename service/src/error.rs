//! The service's one error type and its single mapping to HTTP.
//!
//! Handlers return `AppError` (or poem's own parse errors); the outermost
//! `catch_all_error` turns every error into the API's JSON error shape, the
//! same `{"errors": {"error": code}}` envelope the storefront already reads,
//! plus a human `description`.

use poem::Response;
use poem::http::StatusCode;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("no route matches {method} {path}")]
    RouteNotFound { method: String, path: String },
    #[error("the database is unavailable; try again shortly")]
    DatabaseUnavailable(#[source] sqlx::Error),
    #[error("unexpected database error")]
    Database(#[source] sqlx::Error),
    #[error("{0}")]
    BadRequest(String),
    #[error(
        "CSRF verification failed: send the csrftoken cookie's value in the X-CSRFToken header"
    )]
    CsrfFailed,
    /// A rate limit was hit; the response carries `Retry-After`.
    #[error(
        "Too many requests; try again in {retry_after_secs} {unit}.",
        unit = if *.retry_after_secs == 1 { "second" } else { "seconds" }
    )]
    RateLimited { retry_after_secs: u64 },
    #[error("the request headers exceed {max_bytes} bytes")]
    HeadersTooLarge { max_bytes: usize },
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        if is_unavailable(&err) {
            AppError::DatabaseUnavailable(err)
        } else if let Some(reason) = rejected_input(&err) {
            AppError::BadRequest(reason.to_owned())
        } else {
            AppError::Database(err)
        }
    }
}

/// Values PostgreSQL refuses whatever the code does with them: a NUL
/// character (22021 / 22P05) or text longer than its column (22001). They
/// come from the caller, so they are a bad request, not a server fault.
fn rejected_input(err: &sqlx::Error) -> Option<&'static str> {
    let sqlx::Error::Database(db) = err else {
        return None;
    };
    match db.code().as_deref() {
        Some("22021") | Some("22P05") => {
            Some("the request contains a character that cannot be stored (NUL)")
        }
        Some("22001") => Some("a value in the request is longer than its field allows"),
        _ => None,
    }
}

/// Errors that mean "the database cannot be reached now", as opposed to a bug.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now,
        // 08xxx connection exceptions.
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

impl AppError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::RouteNotFound { .. } => (StatusCode::NOT_FOUND, "not-found"),
            AppError::DatabaseUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "service-unavailable")
            }
            AppError::Database(_) | AppError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal-error")
            }
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request"),
            AppError::CsrfFailed => (StatusCode::FORBIDDEN, "csrf-failed"),
            AppError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate-limited"),
            AppError::HeadersTooLarge { .. } => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers-too-large",
            ),
        }
    }
}

impl poem::error::ResponseError for AppError {
    fn status(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn as_response(&self) -> Response {
        let (status, code) = self.status_and_code();
        let mut response = error_body(status, code, &self.to_string());
        if let AppError::RateLimited { retry_after_secs } = self {
            // Clients and proxies honour Retry-After; the body says it to humans.
            response.headers_mut().insert(
                poem::http::header::RETRY_AFTER,
                poem::http::HeaderValue::from(*retry_after_secs),
            );
        }
        response
    }
}

#[derive(Serialize)]
struct ErrorCode<'a> {
    error: &'a str,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    errors: ErrorCode<'a>,
    description: &'a str,
}

pub fn error_body(status: StatusCode, code: &str, description: &str) -> Response {
    let body = ErrorBody {
        errors: ErrorCode { error: code },
        description,
    };
    let json = serde_json::to_string(&body).unwrap_or_else(|_| {
        r#"{"errors":{"error":"internal-error"},"description":"internal error"}"#.to_owned()
    });
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(json)
}

/// The one place where any error becomes an HTTP response.
pub async fn render_error(err: poem::Error) -> Response {
    if let Some(app) = err.downcast_ref::<AppError>() {
        let (status, _) = app.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = %app, cause = ?std::error::Error::source(app), "request failed");
        }
        return poem::error::ResponseError::as_response(app);
    }
    let status = err.status();
    let code = match status {
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        StatusCode::REQUEST_TIMEOUT => "request-timeout",
        s if s.is_server_error() => "internal-error",
        _ => "bad-request",
    };
    let description = if status.is_server_error() {
        tracing::error!(error = %err, "request failed");
        "internal error".to_owned()
    } else if status == StatusCode::NOT_FOUND {
        "no such resource".to_owned()
    } else {
        err.to_string()
    };
    let mut response = error_body(status, code, &description);
    // Keep headers poem attached (e.g. `Allow` on 405).
    let original = err.into_response();
    for (name, value) in original.headers() {
        if name != poem::http::header::CONTENT_TYPE && name != poem::http::header::CONTENT_LENGTH {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::error::ResponseError;

    #[tokio::test]
    async fn rate_limited_is_429_with_retry_after() {
        let err = AppError::RateLimited {
            retry_after_secs: 42,
        };
        assert_eq!(err.status(), StatusCode::TOO_MANY_REQUESTS);
        // Through the single mapping, as a handler's error would travel.
        let response = render_error(poem::Error::from(err)).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response
                .headers()
                .get(poem::http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("42")
        );
        let text = response.into_body().into_string().await.expect("body");
        let body: serde_json::Value = serde_json::from_str(&text).expect("JSON body");
        assert_eq!(body["errors"]["error"], "rate-limited");
        assert_eq!(
            body["description"],
            "Too many requests; try again in 42 seconds."
        );
    }

    #[test]
    fn rate_limited_description_says_second_for_one() {
        let err = AppError::RateLimited {
            retry_after_secs: 1,
        };
        assert_eq!(err.to_string(), "Too many requests; try again in 1 second.");
    }
}
