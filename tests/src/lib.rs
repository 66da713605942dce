//! Test harness: spawn the real service on a free loopback port against a
//! fresh PostgreSQL database (from `#[sqlx::test]`), plus a TCP proxy that can
//! cut or slow the database connection to simulate outages.

pub mod fake_stripe;
pub mod pg_cluster;
pub mod proxy;
pub mod service_process;
pub mod smtp;

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::cookie::{CookieStore, Jar};

use sqlx::PgPool;
use startupwebapp::{Application, Config};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The service's configuration for tests: development mode, a free port.
pub fn test_config() -> Config {
    startupwebapp::placeholder_config()
}

/// The test configuration sending mail to an [`smtp::SmtpSink`] on `port`
/// (plain SMTP, no credentials) with fast retries: 3 attempts, 200 ms backoff
/// base, 100 ms polling.
pub fn config_with_smtp(port: u16) -> Config {
    use startupwebapp::config::{EmailDelivery, SmtpSecurity, SmtpSettings};
    let mut config = test_config();
    config.smtp = Some(SmtpSettings {
        host: "127.0.0.1".to_owned(),
        port,
        username: None,
        password: None,
        security: SmtpSecurity::None,
        from: "StartUpWebApp <noreply@example.com>".to_owned(),
    });
    config.email_delivery = EmailDelivery {
        max_attempts: 3,
        retry_base: std::time::Duration::from_millis(200),
        poll_interval: std::time::Duration::from_millis(100),
    };
    config
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base_url: String,
    pub client: reqwest::Client,
    /// The browser's cookie store, shared with `client`.
    pub cookies: Arc<Jar>,
    /// The service's mailer: `wake()` it after enqueueing mail directly.
    pub mailer: startupwebapp::email::Mailer,
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
    let mailer = app.state().mailer.clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let cookies = Arc::new(Jar::default());
    TestApp {
        addr,
        base_url: format!("http://{addr}"),
        client: client_with(cookies.clone()),
        cookies,
        mailer,
        stop: Some(stop),
        task: Some(task),
    }
}

/// A loopback port nobody listens on now (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free loopback port")
        .port()
}

/// A client that keeps cookies, as the storefront's browser does.
pub fn browser_client() -> reqwest::Client {
    client_with(Arc::new(Jar::default()))
}

fn client_with(jar: Arc<Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(jar)
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

    /// A browser on a service running elsewhere (e.g. a child process).
    pub fn remote(addr: SocketAddr) -> TestApp {
        let cookies = Arc::new(Jar::default());
        TestApp {
            addr,
            base_url: format!("http://{addr}"),
            client: client_with(cookies.clone()),
            cookies,
            mailer: startupwebapp::email::Mailer::new(),
            stop: None,
            task: None,
        }
    }

    /// Another browser (its own cookie jar) on the same running service;
    /// dropping or shutting it down leaves the service running.
    pub fn second_browser(&self) -> TestApp {
        let cookies = Arc::new(Jar::default());
        TestApp {
            addr: self.addr,
            base_url: self.base_url.clone(),
            client: client_with(cookies.clone()),
            cookies,
            mailer: self.mailer.clone(),
            stop: None,
            task: None,
        }
    }

    /// The value of a cookie the browser holds for the service.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let url: reqwest::Url = self.base_url.parse().ok()?;
        let header = self.cookies.cookies(&url)?;
        header.to_str().ok()?.split("; ").find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
    }

    /// Stores a cookie in the browser, as if the service had set it.
    pub fn set_cookie(&self, name: &str, value: &str) {
        if let Ok(url) = self.base_url.parse::<reqwest::Url>() {
            self.cookies
                .add_cookie_str(&format!("{name}={value}; Path=/"), &url);
        }
    }

    /// `GET /user/token`, as the storefront does before posting; returns the secret.
    pub async fn fetch_csrf_token(&self) -> String {
        let response = self.get("/user/token").await;
        assert_eq!(response.status(), 200, "GET /user/token");
        self.cookie("csrftoken").expect("csrftoken cookie set")
    }

    /// A form POST with the CSRF header taken from the cookie, as jQuery sends it.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let token = match self.cookie("csrftoken") {
            Some(t) => t,
            None => self.fetch_csrf_token().await,
        };
        self.client
            .post(self.url(path))
            .header("X-CSRFToken", token)
            .header("Origin", "http://localhost:8080")
            .form(form)
            .send()
            .await
            .expect("request reaches the service")
    }

    /// `post_form` then the JSON body, asserting a 200.
    pub async fn post_json(&self, path: &str, form: &[(&str, &str)]) -> serde_json::Value {
        let response = self.post_form(path, form).await;
        assert_eq!(response.status(), 200, "POST {path}");
        response.json().await.expect("JSON body")
    }

    /// `GET` then the JSON body, asserting a 200.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("JSON body")
    }

    /// Logs `user_id` in by opening a session through the service's own
    /// session store and handing the cookie to the browser.
    pub async fn log_in_as(&self, pool: &PgPool, user_id: i32) {
        let key = startupwebapp::db::sessions::create(pool, user_id)
            .await
            .expect("create session");
        self.set_cookie("sessionid", &key);
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

/// A member: an `auth_user` row and its `user_member` row. Returns (user id, member id).
pub async fn create_member(pool: &PgPool, username: &str) -> (i32, i32) {
    let user_id: i32 = sqlx::query_scalar(
        "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, \
         is_staff, is_active, date_joined) \
         VALUES ('!', false, $1, 'Test', 'Member', $1 || '@example.com', false, true, now()) \
         RETURNING id",
    )
    .bind(username)
    .fetch_one(pool)
    .await
    .expect("insert auth_user");
    let member_id: i32 = sqlx::query_scalar(
        "INSERT INTO user_member (user_id, newsletter_subscriber, email_verified, \
         email_unsubscribed, use_default_shipping_and_payment_info) \
         VALUES ($1, false, true, false, false) RETURNING id",
    )
    .bind(user_id)
    .fetch_one(pool)
    .await
    .expect("insert user_member");
    (user_id, member_id)
}
