//! Client events over HTTP (contract api-user-clientevent.md §5, §6.8): one
//! row per event with the right columns, the `url` gate, user attribution
//! from `client_event_id`, and the bare `"thank you"` answer, including for
//! the inputs the legacy answered with a 500.

use serde_json::Value;
use sqlx::PgPool;
use startupwebapp_tests::{TestApp, spawn_app};

/// Sends a GET with `query` and extra headers; asserts the legacy answer.
async fn event(app: &TestApp, path: &str, query: &[(&str, &str)], headers: &[(&str, &str)]) {
    let mut request = app.client.get(app.url(path)).query(query);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request reaches the service");
    assert_eq!(response.status(), 200, "{path} {query:?}");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(
        response.text().await.expect("body"),
        "\"thank you\"",
        "{path} {query:?}"
    );
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    // Table names come from the literals in these tests.
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .expect("count")
}

async fn add_user(pool: &PgPool, username: &str) -> i32 {
    sqlx::query_scalar(
        "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, \
                                is_staff, is_active, date_joined) \
         VALUES ('!', false, $1, '', '', '', false, true, now()) RETURNING id",
    )
    .bind(username)
    .fetch_one(pool)
    .await
    .expect("insert user")
}

type PageViewRow = (
    Option<i32>,
    Option<String>,
    String,
    Option<i32>,
    Option<String>,
    Option<String>,
);

async fn page_views(pool: &PgPool) -> Vec<PageViewRow> {
    sqlx::query_as(
        "SELECT user_id, anonymous_id, url, page_width, remote_addr, http_user_agent \
         FROM clientevent_pageview ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .expect("page views")
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn clientevent_index_is_a_never_cached_html_greeting(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.get("/clientevent/").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html")
    );
    assert_eq!(
        headers["cache-control"],
        "max-age=0, no-cache, no-store, must-revalidate, private"
    );
    assert!(headers.contains_key("expires"));
    assert_eq!(
        response.text().await.expect("body"),
        "Hello, you're at the clientevent API (version 0.0.1) root. Nothing to see here..."
    );
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn pageview_stores_every_column(pool: PgPool) {
    let user_id = add_user(&pool, "visitor").await;
    let app = spawn_app(pool.clone()).await;
    let before = chrono_now(&pool).await;
    event(
        &app,
        "/clientevent/pageview",
        &[
            ("client_event_id", &user_id.to_string()),
            ("anonymous_id", "HjUkcxeYwHrmIYnud4cC:1xWUhZ:VCPJi1zo"),
            ("url", "http://localhost:8080/products?x=1&y=2"),
            ("pageWidth", "1920"),
        ],
        &[
            ("User-Agent", "Mozilla/5.0 (Test)"),
            ("X-Forwarded-For", "1.2.3.4, 10.0.0.1"),
        ],
    )
    .await;
    assert_eq!(
        page_views(&pool).await,
        vec![(
            Some(user_id),
            Some("HjUkcxeYwHrmIYnud4cC:1xWUhZ:VCPJi1zo".to_owned()),
            "http://localhost:8080/products?x=1&y=2".to_owned(),
            Some(1920),
            Some("1.2.3.4, 10.0.0.1".to_owned()),
            Some("Mozilla/5.0 (Test)".to_owned()),
        )]
    );
    let stored_after_start: bool = sqlx::query_scalar(
        "SELECT created_date_time >= $1 AND created_date_time <= now() FROM clientevent_pageview",
    )
    .bind(before)
    .fetch_one(&pool)
    .await
    .expect("timestamp");
    assert!(stored_after_start);
}

async fn chrono_now(pool: &PgPool) -> sqlx::types::chrono::DateTime<sqlx::types::chrono::Utc> {
    sqlx::query_scalar("SELECT now()")
        .fetch_one(pool)
        .await
        .expect("now")
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn pageview_without_forwarded_for_stores_the_peer_address(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    event(&app, "/clientevent/pageview", &[("url", "/about")], &[]).await;
    let rows = page_views(&pool).await;
    assert_eq!(rows.len(), 1);
    let (user, anonymous, url, width, addr, _agent) = &rows[0];
    assert_eq!(*user, None);
    assert_eq!(*anonymous, None, "anonymous_id not sent is null");
    assert_eq!(url, "/about");
    assert_eq!(*width, None, "pageWidth not sent is null");
    assert_eq!(addr.as_deref(), Some("127.0.0.1"));
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn pageview_without_url_stores_nothing(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    event(
        &app,
        "/clientevent/pageview",
        &[("client_event_id", "null"), ("pageWidth", "1280")],
        &[],
    )
    .await;
    event(&app, "/clientevent/pageview", &[], &[]).await;
    assert_eq!(count(&pool, "clientevent_pageview").await, 0);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn unknown_or_malformed_client_event_ids_store_no_user(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    for id in [
        "null",
        "undefined",
        "99999",
        "abc",
        "1.5",
        "",
        "99999999999999999999",
    ] {
        event(
            &app,
            "/clientevent/pageview",
            &[("client_event_id", id), ("url", "/x")],
            &[],
        )
        .await;
    }
    let users: Vec<Option<i32>> = page_views(&pool).await.into_iter().map(|r| r.0).collect();
    assert_eq!(users, vec![None; 7]);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn malformed_page_width_is_stored_as_null(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    for width in ["", "abc", "1280.5", "99999999999"] {
        event(
            &app,
            "/clientevent/pageview",
            &[("url", "/x"), ("pageWidth", width)],
            &[],
        )
        .await;
    }
    let widths: Vec<Option<i32>> = page_views(&pool).await.into_iter().map(|r| r.3).collect();
    assert_eq!(widths, vec![None; 4]);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn over_long_values_are_cut_to_their_columns(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let url = format!("/{}", "u".repeat(1500));
    let anonymous = "é".repeat(150);
    let agent = "a".repeat(1500);
    let forwarded = "9".repeat(300);
    event(
        &app,
        "/clientevent/pageview",
        &[("url", &url), ("anonymous_id", &anonymous)],
        &[("User-Agent", &agent), ("X-Forwarded-For", &forwarded)],
    )
    .await;
    let rows = page_views(&pool).await;
    assert_eq!(rows.len(), 1);
    let (_, stored_anonymous, stored_url, _, addr, stored_agent) = &rows[0];
    assert_eq!(stored_url, &url[..1000]);
    assert_eq!(stored_anonymous.as_deref(), Some("é".repeat(100).as_str()));
    assert_eq!(addr.as_deref(), Some("9".repeat(100).as_str()));
    assert_eq!(stored_agent.as_deref(), Some("a".repeat(1000).as_str()));

    let long_id = "e".repeat(150);
    event(
        &app,
        "/clientevent/ajaxerror",
        &[("url", &url), ("error_id", &long_id)],
        &[],
    )
    .await;
    event(
        &app,
        "/clientevent/buttonclick",
        &[("url", "/x"), ("button_id", &long_id)],
        &[],
    )
    .await;
    event(
        &app,
        "/clientevent/linkevent",
        &[
            ("url", &url),
            ("anonymous_id", &anonymous),
            ("mb_cd", &long_id),
        ],
        &[],
    )
    .await;
    let (error_id, error_url): (String, String) =
        sqlx::query_as("SELECT error_id, url FROM clientevent_ajax_error")
            .fetch_one(&pool)
            .await
            .expect("ajax error row");
    assert_eq!(error_id, "e".repeat(100));
    assert_eq!(error_url.chars().count(), 1000);
    let button_id: String = sqlx::query_scalar("SELECT button_id FROM clientevent_button_click")
        .fetch_one(&pool)
        .await
        .expect("button row");
    assert_eq!(button_id, "e".repeat(100));
    assert_eq!(count(&pool, "clientevent_linkevent").await, 1);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn nul_characters_are_dropped_and_the_last_repeated_value_wins(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    event(
        &app,
        "/clientevent/pageview",
        &[
            ("url", "/first"),
            ("url", "/sec\0ond"),
            ("anonymous_id", "a\0b"),
        ],
        &[],
    )
    .await;
    let rows = page_views(&pool).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].2, "/second");
    assert_eq!(rows[0].1.as_deref(), Some("ab"));
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn ajaxerror_stores_a_row_linked_to_the_user(pool: PgPool) {
    let user_id = add_user(&pool, "erring").await;
    let app = spawn_app(pool.clone()).await;
    event(
        &app,
        "/clientevent/ajaxerror",
        &[
            ("client_event_id", &user_id.to_string()),
            ("anonymous_id", "anon"),
            ("url", "/account"),
            ("error_id", "index-logged-in"),
        ],
        &[],
    )
    .await;
    event(
        &app,
        "/clientevent/ajaxerror",
        &[("client_event_id", "null"), ("url", "/x"), ("error_id", "")],
        &[],
    )
    .await;
    // No url, or no error_id: nothing stored.
    event(
        &app,
        "/clientevent/ajaxerror",
        &[("error_id", "token")],
        &[],
    )
    .await;
    event(&app, "/clientevent/ajaxerror", &[("url", "/x")], &[]).await;
    let rows: Vec<(Option<i32>, Option<String>, String, String)> = sqlx::query_as(
        "SELECT user_id, anonymous_id, url, error_id FROM clientevent_ajax_error ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .expect("rows");
    assert_eq!(
        rows,
        vec![
            (
                Some(user_id),
                Some("anon".to_owned()),
                "/account".to_owned(),
                "index-logged-in".to_owned()
            ),
            (None, None, "/x".to_owned(), String::new()),
        ]
    );
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn buttonclick_stores_one_row_per_click(pool: PgPool) {
    let user_id = add_user(&pool, "clicker").await;
    let app = spawn_app(pool.clone()).await;
    for _ in 0..2 {
        event(
            &app,
            "/clientevent/buttonclick",
            &[
                ("client_event_id", &user_id.to_string()),
                ("anonymous_id", "undefined"),
                ("url", "/"),
                ("button_id", "chat-icon"),
            ],
            &[],
        )
        .await;
    }
    event(
        &app,
        "/clientevent/buttonclick",
        &[("button_id", "chat-icon")],
        &[],
    )
    .await;
    event(&app, "/clientevent/buttonclick", &[("url", "/")], &[]).await;
    let rows: Vec<(Option<i32>, Option<String>, String, String)> = sqlx::query_as(
        "SELECT user_id, anonymous_id, url, button_id FROM clientevent_button_click ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .expect("rows");
    let one = (
        Some(user_id),
        Some("undefined".to_owned()),
        "/".to_owned(),
        "chat-icon".to_owned(),
    );
    assert_eq!(rows, vec![one.clone(), one]);
}

type LinkRow = (
    Option<i32>,
    Option<i32>,
    Option<String>,
    Option<i32>,
    Option<i32>,
    String,
);

async fn link_events(pool: &PgPool) -> Vec<LinkRow> {
    sqlx::query_as(
        "SELECT user_id, prospect_id, anonymous_id, email_id, ad_id, url \
         FROM clientevent_linkevent ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .expect("link events")
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn linkevent_resolves_each_code_independently(pool: PgPool) {
    let user_id = add_user(&pool, "member").await;
    sqlx::query(
        "INSERT INTO user_member (user_id, newsletter_subscriber, email_verified, \
             email_unsubscribed, mb_cd, use_default_shipping_and_payment_info) \
         VALUES ($1, false, false, false, 'MemberCode0000000001', false)",
    )
    .bind(user_id)
    .execute(&pool)
    .await
    .expect("member");
    let prospect_id: i32 = sqlx::query_scalar(
        "INSERT INTO user_prospect (email, email_unsubscribed, pr_cd, created_date_time) \
         VALUES ('p@example.com', false, 'ProspectCode00000001', now()) RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .expect("prospect");
    let ad_id: i32 = sqlx::query_scalar(
        "INSERT INTO user_ad (ad_type_id, ad_status_id, ad_cd) \
         VALUES (1, 1, 'AdCode00000000000001') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .expect("ad");
    let app = spawn_app(pool.clone()).await;

    // Every code known (seed email 1 has em_cd gvREoqen93ffZsmBIc8zl).
    event(
        &app,
        "/clientevent/linkevent",
        &[
            ("mb_cd", "MemberCode0000000001"),
            ("pr_cd", "ProspectCode00000001"),
            ("anonymous_id", "anon"),
            ("em_cd", "gvREoqen93ffZsmBIc8zl"),
            ("ad_cd", "AdCode00000000000001"),
            (
                "url",
                "/?em_cd=gvREoqen93ffZsmBIc8zl&mb_cd=MemberCode0000000001",
            ),
        ],
        &[],
    )
    .await;
    // The literal null, empty and unknown codes: all null, no error.
    event(
        &app,
        "/clientevent/linkevent",
        &[
            ("mb_cd", "null"),
            ("pr_cd", ""),
            ("em_cd", "NoSuchEmailCode"),
            ("ad_cd", "AdCode00000000000001"),
            (
                "url",
                "/clientevent/linkevent?ad_cd=AdCode00000000000001&pr_cd=",
            ),
        ],
        &[],
    )
    .await;
    // No url: nothing stored.
    event(
        &app,
        "/clientevent/linkevent",
        &[("ad_cd", "AdCode00000000000001")],
        &[],
    )
    .await;

    assert_eq!(
        link_events(&pool).await,
        vec![
            (
                Some(user_id),
                Some(prospect_id),
                Some("anon".to_owned()),
                Some(1),
                Some(ad_id),
                "/?em_cd=gvREoqen93ffZsmBIc8zl&mb_cd=MemberCode0000000001".to_owned()
            ),
            (
                None,
                None,
                None,
                None,
                Some(ad_id),
                "/clientevent/linkevent?ad_cd=AdCode00000000000001&pr_cd=".to_owned()
            ),
        ]
    );
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn other_methods_get_a_json_error_and_store_nothing(pool: PgPool) {
    // Deliberate change: the legacy answered "thank you" to any method.
    let app = spawn_app(pool.clone()).await;
    for method in [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let response = app
            .client
            .request(method.clone(), app.url("/clientevent/pageview"))
            .query(&[("url", "/x")])
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        // 405 from the router, or 403 when CSRF protection answers first.
        assert!(status == 405 || status == 403, "{method}: {status}");
        let body: Value = response.json().await.expect("JSON error");
        assert!(body["errors"]["error"].is_string(), "{body}");
    }
    assert_eq!(count(&pool, "clientevent_pageview").await, 0);
}
