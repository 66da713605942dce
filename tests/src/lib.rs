//! Test harness: spawn the real service on a free loopback port against a
//! fresh PostgreSQL database (from `#[sqlx::test]`), plus a TCP proxy that can
//! cut or slow the database connection to simulate outages.

pub mod proxy;

use std::net::SocketAddr;

use sqlx::PgPool;
use startupwebapp::{Application, Config};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The service's configuration for tests: development mode, a free port.
pub fn test_config() -> Config {
    startupwebapp::placeholder_config()
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base_url: String,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// Starts the service on `pool` with the test configuration.
pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(test_config(), pool).await
}

pub async fn spawn_app_with(config: Config, pool: PgPool) -> TestApp {
    startupwebapp::telemetry::init(false);
    let app = Application::build_with_pool(config, pool)
        .await
        .expect("bind a loopback port");
    let addr = app.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        base_url: format!("http://{addr}"),
        client: browser_client(),
        stop: Some(stop),
        task: Some(task),
    }
}

/// A client that keeps cookies, as the storefront's browser does.
pub fn browser_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("build an HTTP client")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request reaches the service")
    }

    /// Sends the shutdown signal and waits until the server has stopped.
    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task does not panic")
                .expect("server stops cleanly");
        }
    }

    /// The signal alone, for tests that observe the shutdown while it runs.
    pub fn begin_shutdown(&mut self) -> Option<JoinHandle<std::io::Result<()>>> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.take()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
