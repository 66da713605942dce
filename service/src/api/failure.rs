//! Documents in the spec the errors an operation can return, while the one
//! mapping from `AppError` to a response stays in `crate::error`.
//!
//! An operation returns `Result<_, Failure<S>>`; `S` names the statuses the
//! operation can produce, so each operation's spec lists exactly its own
//! error responses, all with the `{"errors": {"error": …}, "description": …}`
//! envelope that `crate::error::render_error` writes.

use std::marker::PhantomData;

use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object};

use crate::error::AppError;

/// The error envelope every error response uses (documentation only: the
/// body is written by `crate::error::error_body`).
#[derive(Object, Debug)]
pub struct ApiErrorBody {
    pub errors: ApiErrorCode,
    /// Human-readable detail.
    pub description: String,
}

#[derive(Object, Debug)]
pub struct ApiErrorCode {
    /// Machine-readable code, e.g. `not-found`, `service-unavailable`, `internal-error`.
    pub error: String,
}

/// A set of error responses an operation documents: (status, description).
pub trait ErrorSet: Send + Sync + 'static {
    const RESPONSES: &'static [(u16, &'static str)];
}

const UNAVAILABLE: (u16, &str) = (
    503,
    "`service-unavailable`: the database cannot be reached; retry shortly.",
);
const INTERNAL: (u16, &str) = (
    500,
    "`internal-error`: an unexpected failure; the detail is in the service log.",
);

const BAD_FORM: (u16, &str) = (
    400,
    "`bad-request`: the body is not valid `application/x-www-form-urlencoded`.",
);
const CSRF: (u16, &str) = (
    403,
    "`csrf-failed`: the `X-CSRFToken` header does not carry the `csrftoken` cookie's secret, or the Origin is not a storefront origin. Fetch `/user/token` and retry.",
);
const TOO_LARGE: (u16, &str) = (413, "`payload-too-large`: the body exceeds 256 KiB.");
const MEDIA_TYPE: (u16, &str) = (
    415,
    "`unsupported-media-type`: send `application/x-www-form-urlencoded`.",
);
const RATE_LIMITED: (u16, &str) = (
    429,
    "`rate-limited`: too many attempts from this client (or for this username); the `Retry-After` header says when to try again.",
);

/// A form POST: besides its business outcomes (HTTP 200), the body, CSRF
/// and database can fail.
pub struct FormPostErrors;

impl ErrorSet for FormPostErrors {
    const RESPONSES: &'static [(u16, &'static str)] =
        &[BAD_FORM, CSRF, TOO_LARGE, MEDIA_TYPE, UNAVAILABLE, INTERNAL];
}

/// A form POST that is also rate-limited.
pub struct LimitedFormPostErrors;

impl ErrorSet for LimitedFormPostErrors {
    const RESPONSES: &'static [(u16, &'static str)] = &[
        BAD_FORM,
        CSRF,
        TOO_LARGE,
        MEDIA_TYPE,
        RATE_LIMITED,
        UNAVAILABLE,
        INTERNAL,
    ];
}

/// Operations that fail only when the database does.
pub struct ServerErrors;

impl ErrorSet for ServerErrors {
    const RESPONSES: &'static [(u16, &'static str)] = &[UNAVAILABLE, INTERNAL];
}

/// Operations whose path parameter must match a pattern: a value outside it
/// is answered like an unknown route.
pub struct RouteErrors;

impl ErrorSet for RouteErrors {
    const RESPONSES: &'static [(u16, &'static str)] = &[
        (
            404,
            "`not-found`: the path parameter does not match its pattern, so no route matches.",
        ),
        UNAVAILABLE,
        INTERNAL,
    ];
}

/// An `AppError` returned by an operation that documents the statuses `S`.
pub struct Failure<S: ErrorSet> {
    error: AppError,
    set: PhantomData<S>,
}

impl<S: ErrorSet> From<AppError> for Failure<S> {
    fn from(error: AppError) -> Self {
        Failure {
            error,
            set: PhantomData,
        }
    }
}

impl<S: ErrorSet> From<sqlx::Error> for Failure<S> {
    fn from(error: sqlx::Error) -> Self {
        AppError::from(error).into()
    }
}

impl<S: ErrorSet> From<Failure<S>> for poem::Error {
    fn from(failure: Failure<S>) -> Self {
        poem::Error::from(failure.error)
    }
}

impl<S: ErrorSet> ApiResponse for Failure<S> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: S::RESPONSES
                .iter()
                .map(|&(status, description)| MetaResponse {
                    description,
                    status: Some(status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/json",
                        schema: ApiErrorBody::schema_ref(),
                    }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        ApiErrorBody::register(registry);
    }
}
