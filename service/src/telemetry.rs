//! Logging: human-readable lines in development, JSON lines elsewhere.
//! The request span (see `http::request_id`) puts the request id on every line.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

const DEFAULT_FILTER: &str = "info,sqlx=warn,poem=warn";

/// Installs the global subscriber; a second call (as in tests) is a no-op.
pub fn init(json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE);
    let result = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
    // Already initialised (tests build several apps in one process): keep the first.
    let _ = result;
}
