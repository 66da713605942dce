//! StartUpWebApp service: the storefront's HTTP API on poem + poem-openapi,
//! PostgreSQL through sqlx.
//!
//! Data flows one way: `api` (HTTP operations) → domain rules → `db`
//! (persistence) and integrations, never back.

pub mod admin;
pub mod api;
pub mod app;
pub mod cache;
pub mod config;
pub mod db;
pub mod domain;
pub mod email;
pub mod error;
pub mod healthcheck;
pub mod http;
pub mod integrations;
pub mod telemetry;

pub use app::{AppState, Application};
pub use config::Config;

/// The OpenAPI document as JSON. Building it needs no database connection.
pub fn openapi_json(config: Config) -> String {
    let pool = db::lazy_pool(&config.database);
    let state = AppState {
        pool,
        config: std::sync::Arc::new(config),
        mailer: email::Mailer::new(),
        stripe: None,
        reference_cache: cache::ReferenceCache::new(std::time::Duration::ZERO),
    };
    api::service(&state).spec()
}

/// A configuration for generating the spec and for tests: development mode,
/// a database that is never contacted unless used.
pub fn placeholder_config() -> Config {
    let vars = [
        ("APP_ENVIRONMENT", "development"),
        ("APP_BIND_ADDRESS", "127.0.0.1:0"),
        (
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/placeholder",
        ),
        (
            "APP_SECRET_KEY",
            "placeholder-secret-key-for-spec-generation",
        ),
        ("APP_STOREFRONT_ORIGINS", "http://localhost:8080"),
        ("APP_STOREFRONT_URL", "http://localhost:8080"),
    ];
    match Config::from_lookup(|k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    }) {
        Ok(c) => c,
        // The literal values above are valid; this arm documents the invariant.
        Err(e) => panic!("placeholder configuration is invalid: {e}"),
    }
}
