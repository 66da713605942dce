//! The service's foundation over HTTP: probes, spec and docs, CORS, security
//! headers, request ids, JSON errors, database outages, graceful shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use startupwebapp_tests::proxy::Proxy;
use startupwebapp_tests::{browser_client, spawn_app, test_config};

/// A pool whose database is never reachable (port 1 on loopback refuses).
fn unreachable_pool() -> PgPool {
    PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(500))
        .connect_lazy_with(
            PgConnectOptions::new()
                .host("127.0.0.1")
                .port(1)
                .username("postgres"),
        )
}

/// A pool for the same database as `pool`, but through `proxy`.
fn pool_through(proxy: &Proxy, pool: &PgPool, acquire_timeout: Duration) -> PgPool {
    let options = (*pool.connect_options())
        .clone()
        .host("127.0.0.1")
        .port(proxy.addr.port());
    PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(acquire_timeout)
        .connect_lazy_with(options)
}

async fn proxy_for(pool: &PgPool) -> Proxy {
    let options = pool.connect_options();
    let target: SocketAddr = format!("{}:{}", options.get_host(), options.get_port())
        .parse()
        .expect("the test database listens on an IP address");
    Proxy::start(target).await
}

/// Polls `/readyz` until it answers `status`, for at most 15 s.
async fn wait_for_readyz(app: &startupwebapp_tests::TestApp, status: u16) -> Value {
    let mut last = None;
    for _ in 0..150 {
        let response = app.get("/readyz").await;
        let code = response.status().as_u16();
        let body: Value = response.json().await.expect("readyz answers JSON");
        if code == status {
            return body;
        }
        last = Some((code, body));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/readyz never answered {status}; last answer {last:?}");
}

#[tokio::test]
async fn healthz_answers_without_a_database() {
    let app = spawn_app(unreachable_pool()).await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body, json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_is_not_ready_while_the_database_is_unreachable() {
    let app = spawn_app(unreachable_pool()).await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "not-ready");
    assert_eq!(body["reason"], "database-unreachable");
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn readyz_is_ready_on_a_migrated_database(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = wait_for_readyz(&app, 200).await;
    assert_eq!(body, json!({"status": "ready"}));
}

#[sqlx::test(migrations = false)]
async fn readyz_reports_pending_migrations(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = wait_for_readyz(&app, 503).await;
    assert_eq!(body["reason"], "migrations-pending");
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn service_started_while_the_database_is_down_recovers_when_it_returns(pool: PgPool) {
    let proxy = proxy_for(&pool).await;
    proxy.set_up(false);
    let app = spawn_app(pool_through(&proxy, &pool, Duration::from_secs(1))).await;

    assert_eq!(app.get("/healthz").await.status(), 200);
    let body = wait_for_readyz(&app, 503).await;
    assert_eq!(body["reason"], "database-unreachable");

    proxy.set_up(true);
    wait_for_readyz(&app, 200).await;
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn readyz_follows_a_database_outage_without_a_restart(pool: PgPool) {
    let proxy = proxy_for(&pool).await;
    let app = spawn_app(pool_through(&proxy, &pool, Duration::from_secs(1))).await;
    wait_for_readyz(&app, 200).await;

    // Down: open connections are cut and new ones refused.
    proxy.set_up(false);
    let body = wait_for_readyz(&app, 503).await;
    assert_eq!(body["reason"], "database-unreachable");
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "liveness needs no database"
    );

    proxy.set_up(true);
    wait_for_readyz(&app, 200).await;
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn graceful_shutdown_lets_an_in_flight_request_finish(pool: PgPool) {
    let proxy = proxy_for(&pool).await;
    let mut app = spawn_app(pool_through(&proxy, &pool, Duration::from_secs(10))).await;
    wait_for_readyz(&app, 200).await;

    // Every round trip to the database now takes ~0.8 s, so this request is
    // still in flight when the shutdown signal arrives.
    proxy.set_delay(Duration::from_millis(800));
    let client = browser_client();
    let url = app.url("/readyz");
    let in_flight = tokio::spawn(async move { client.get(url).send().await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let server = app.begin_shutdown().expect("server running");

    let response = in_flight
        .await
        .expect("request task")
        .expect("the in-flight request gets its response");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.expect("json")["status"],
        "ready"
    );

    server
        .await
        .expect("server task")
        .expect("server stops cleanly");
    // Stopped accepting: a new connection is refused.
    assert!(tokio::net::TcpStream::connect(app.addr).await.is_err());
}

#[tokio::test]
async fn openapi_spec_and_docs_are_served() {
    let app = spawn_app(unreachable_pool()).await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let spec: Value = response.json().await.expect("spec is JSON");
    assert!(spec["openapi"].as_str().expect("version").starts_with("3."));
    assert!(spec["paths"]["/healthz"]["get"].is_object());
    assert!(spec["paths"]["/readyz"]["get"]["responses"]["503"].is_object());

    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), 200);
    let content_type = docs.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(docs.text().await.expect("html").contains("swagger"));
}

#[tokio::test]
async fn committed_openapi_document_matches_the_code() {
    let generated = startupwebapp::openapi_json(test_config());
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let parse = |s: &str| serde_json::from_str::<Value>(s).ok();
    assert!(
        parse(&generated).is_some() && parse(&generated) == parse(&committed),
        "openapi/openapi.json is out of date with the code: run `cargo xtask openapi` and commit the result"
    );
}

#[tokio::test]
async fn cors_preflight_from_the_storefront_origin_allows_credentials() {
    let app = spawn_app(unreachable_pool()).await;
    let response = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            app.url("/order/cart-add-product-sku"),
        )
        .header("Origin", "http://localhost:8080")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "x-csrftoken, content-type",
        )
        .send()
        .await
        .expect("preflight");
    assert!(response.status().is_success());
    let h = response.headers();
    assert_eq!(h["access-control-allow-origin"], "http://localhost:8080");
    assert_eq!(h["access-control-allow-credentials"], "true");
    let allowed = h["access-control-allow-headers"].to_str().expect("ascii");
    assert!(allowed.contains("x-csrftoken") && allowed.contains("content-type"));
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .expect("ascii")
            .contains("POST")
    );
}

#[tokio::test]
async fn cors_gives_another_origin_no_cors_headers() {
    let app = spawn_app(unreachable_pool()).await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/healthz"))
        .header("Origin", "https://evil.example.com")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .expect("preflight");
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(
        preflight
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );

    let simple = app
        .client
        .get(app.url("/healthz"))
        .header("Origin", "https://evil.example.com")
        .send()
        .await
        .expect("get");
    assert!(
        simple
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let allowed = app
        .client
        .get(app.url("/healthz"))
        .header("Origin", "http://localhost:8080")
        .send()
        .await
        .expect("get");
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:8080"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );
}

#[tokio::test]
async fn unknown_routes_get_a_json_404() {
    let app = spawn_app(unreachable_pool()).await;
    for path in [
        "/no-such-thing",
        "/order/cart-items/extra/segments",
        "/docs/../../etc/passwd",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("application/json")
        );
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["errors"]["error"], "not-found", "{path}");
    }
}

#[tokio::test]
async fn a_wrong_method_gets_a_json_405() {
    let app = spawn_app(unreachable_pool()).await;
    // A DELETE passes the CSRF check only with the token; then the route says 405.
    let token = app.fetch_csrf_token().await;
    let response = app
        .client
        .delete(app.url("/healthz"))
        .header("X-CSRFToken", token)
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["errors"]["error"], "method-not-allowed");
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_a_json_413() {
    let app = spawn_app(unreachable_pool()).await;
    let max = test_config().request_limits.max_body_bytes;
    let response = app
        .client
        .post(app.url("/healthz"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; max + 1])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["errors"]["error"], "payload-too-large");
}

#[tokio::test]
async fn security_headers_are_on_every_response_and_hsts_only_over_https() {
    let app = spawn_app(unreachable_pool()).await;
    for path in ["/healthz", "/no-such-route"] {
        let response = app.get(path).await;
        let h = response.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert_eq!(h["cross-origin-opener-policy"], "same-origin", "{path}");
        assert!(
            h.get("strict-transport-security").is_none(),
            "plain HTTP: {path}"
        );
    }
    let behind_tls = app
        .client
        .get(app.url("/healthz"))
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .expect("get");
    assert_eq!(
        behind_tls.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains; preload"
    );
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = spawn_app(unreachable_pool()).await;
    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("X-Request-Id", "abc-123")
        .send()
        .await
        .expect("get");
    assert_eq!(echoed.headers()["x-request-id"], "abc-123");

    let generated = app.get("/healthz").await;
    let id = generated.headers()["x-request-id"].to_str().expect("ascii");
    assert!(uuid_like(id), "{id}");

    // A header that could forge log lines is replaced, not echoed.
    let hostile = app
        .client
        .get(app.url("/healthz"))
        .header("X-Request-Id", "x\" injected=\"1")
        .send()
        .await
        .expect("get");
    let id = hostile.headers()["x-request-id"].to_str().expect("ascii");
    assert!(uuid_like(id), "{id}");
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}
