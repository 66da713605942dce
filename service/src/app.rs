//! Builds the application from (Config, PgPool) and runs it until a shutdown
//! signal: used by `main`, the tests and the benchmark alike.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use poem::listener::TcpAcceptor;
use poem::middleware::CookieJarManager;
use poem::{Endpoint, EndpointExt, Route, Server};
use sqlx::PgPool;

use crate::config::Config;
use crate::error::render_error;
use crate::http::{
    body_limit::BodyLimit, cookies::OutgoingCookies, cors::Cors, csrf::Csrf,
    header_limit::HeaderLimit, request_deadline::DeadlineAcceptor, request_id::RequestId,
    security_headers::SecurityHeaders,
};
use crate::{api, db};

/// What every handler may use. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub config: Arc<Config>,
    /// Wakes the email sender after a request commits outgoing mail.
    pub mailer: crate::email::Mailer,
    /// The Stripe client; `None` when Stripe is not configured.
    pub stripe: Option<crate::integrations::stripe::StripeGateway>,
    /// Catalogue responses and the client-event switch, kept in step with
    /// the database across instances (see `cache::invalidation`).
    pub reference_cache: crate::cache::ReferenceCache,
}

/// The whole HTTP surface: API operations, spec, docs, middleware.
pub fn routes(state: &AppState) -> impl Endpoint + 'static {
    let api = api::service(state);
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    Route::new()
        .nest("/", api)
        .at("/openapi.json", spec)
        // The legacy index pages end in a slash, which poem-openapi paths cannot.
        .at(
            "/order/",
            api::wire::index_endpoint(api::catalogue::INDEX_TEXT),
        )
        .at(
            "/clientevent/",
            api::wire::index_endpoint(api::client_events::INDEX_TEXT),
        )
        .at(
            "/user/",
            api::wire::index_endpoint(api::user::login::INDEX_TEXT),
        )
        .nest("/docs", docs)
        .with(Csrf::new(state.config.storefront_origins.clone()))
        .with(BodyLimit::new(state.config.request_limits.max_body_bytes))
        .with(OutgoingCookies)
        // Outside CSRF: the check reads the request's cookie jar.
        .with(CookieJarManager::new())
        // Before any header is parsed (cookies above).
        .with(HeaderLimit::new(
            state.config.request_limits.max_header_bytes,
        ))
        .catch_all_error(render_error)
        .with(SecurityHeaders)
        .with(Cors::new(state.config.storefront_origins.clone()))
        .with(RequestId)
}

/// A bound, not yet running, service.
pub struct Application {
    acceptor: TcpAcceptor,
    local_addr: SocketAddr,
    state: AppState,
}

impl Application {
    /// Binds the configured address with a lazily connecting pool.
    pub async fn build(config: Config) -> std::io::Result<Application> {
        let pool = db::lazy_pool(&config.database);
        Application::build_with_pool(config, pool).await
    }

    /// Binds the configured address (port 0 picks a free port) using `pool`.
    pub async fn build_with_pool(config: Config, pool: PgPool) -> std::io::Result<Application> {
        let listener = tokio::net::TcpListener::bind(config.bind_address).await?;
        let local_addr = listener.local_addr()?;
        let acceptor = TcpAcceptor::from_tokio(listener)?;
        let stripe = config
            .stripe
            .as_ref()
            .map(crate::integrations::stripe::StripeGateway::new)
            .transpose()
            .map_err(std::io::Error::other)?;
        let reference_cache = crate::cache::ReferenceCache::new(config.reference_cache_ttl);
        Ok(Application {
            acceptor,
            local_addr,
            state: AppState {
                pool,
                config: Arc::new(config),
                mailer: crate::email::Mailer::new(),
                stripe,
                reference_cache,
            },
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight
    /// requests finish (up to the configured timeout), stops the email sender
    /// (after the message in flight) and closes the pool.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let Application {
            acceptor,
            local_addr,
            state,
        } = self;
        let timeout = state.config.shutdown_timeout;
        let app = routes(&state);
        // The sender runs as long as the server does; `None` when SMTP is
        // not configured (mail then waits in the outbox).
        let sender =
            crate::email::spawn_sender(state.pool.clone(), &state.config, state.mailer.clone());
        // Until it has connected, the cache is bypassed.
        let cache_listener =
            crate::cache::invalidation::Listener::spawn(state.reference_cache.clone(), &state.pool);
        tracing::info!(
            address = %local_addr,
            environment = state.config.environment.as_str(),
            "listening"
        );
        let acceptor = DeadlineAcceptor::new(acceptor, state.config.request_timeout);
        let result = Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(app, shutdown, Some(timeout))
            .await;
        if let Some(sender) = sender {
            sender.shutdown(timeout).await;
        }
        if let Some(listener) = cache_listener {
            listener.stop().await;
        }
        state.pool.close().await;
        tracing::info!("shutdown complete");
        result
    }
}

/// Resolves on SIGTERM (container stop) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
