//! The account forms' exact answers (contract api-user-clientevent.md §2,
//! §4.14–4.22): validator error objects, unsubscribe links for members and
//! prospects, terms re-consent, the contact forms, and rate limits keyed by
//! the real client address.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use startupwebapp::config::RateLimit;
use startupwebapp_tests::{TestApp, spawn_app, spawn_app_with, test_config};

const PASSWORD: &str = "Correct-Horse9!";

async fn register(app: &TestApp, username: &str, email: &str) -> Value {
    app.post_json(
        "/user/create-account",
        &[
            ("firstname", "Jane"),
            ("lastname", "Doe"),
            ("username", username),
            ("email_address", email),
            ("password", PASSWORD),
            ("confirm_password", PASSWORD),
            ("newsletter", "true"),
            ("remember_me", "false"),
        ],
    )
    .await
}

fn create_form<'a>(fields: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("firstname", "Jane"),
        ("lastname", "Doe"),
        ("username", "valid_user"),
        ("email_address", "jane@example.com"),
        ("password", PASSWORD),
        ("confirm_password", PASSWORD),
        ("newsletter", "false"),
        ("remember_me", "false"),
    ];
    for (key, value) in fields {
        form.retain(|(k, _)| k != key);
        form.push((key, value));
    }
    form
}

fn problem(kind: &str, description: &str) -> Value {
    json!({"type": kind, "description": description})
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn create_account_reports_every_field_with_the_legacy_error_objects(pool: PgPool) {
    // More attempts than the default limit of 5 per hour.
    let mut config = test_config();
    config.rate_limits.create_account = RateLimit {
        max: 50,
        window: Duration::from_secs(3600),
    };
    let app = spawn_app_with(config, pool.clone()).await;
    let required = problem("required", "This is a required field.");

    let empty = app
        .post_json(
            "/user/create-account",
            &create_form(&[
                ("firstname", ""),
                ("lastname", ""),
                ("username", ""),
                ("email_address", ""),
                ("password", ""),
                ("confirm_password", ""),
            ]),
        )
        .await;
    assert_eq!(
        empty,
        json!({"create_account": "false", "errors": {
            "firstname": [required], "lastname": [required], "username": [required],
            "email-address": [required], "password": [required]},
            "user-api-version": "0.0.1"})
    );

    // A missing field is reported like an empty one (the legacy answered 500).
    let missing = app
        .post_json("/user/create-account", &[("firstname", "Jane")])
        .await;
    assert_eq!(missing["errors"]["username"], json!([required]));

    let mismatch = app
        .post_json(
            "/user/create-account",
            &create_form(&[("confirm_password", "Other-Horse9!")]),
        )
        .await;
    assert_eq!(
        mismatch["errors"],
        json!({"firstname": true, "lastname": true, "username": true, "email-address": true,
               "password": [problem("confirm_password_doesnt_match", "Please make sure your passwords match.")]})
    );

    let bad = app
        .post_json(
            "/user/create-account",
            &create_form(&[
                ("firstname", "John-Doe"),
                ("username", "ab"),
                ("email_address", "user@example"),
                ("password", "short"),
                ("confirm_password", "short"),
            ]),
        )
        .await;
    assert_eq!(
        bad["errors"]["firstname"],
        json!([problem(
            "not_valid",
            "Please enter a valid name. Characters, numbers, and spaces are allowed."
        )])
    );
    assert_eq!(bad["errors"]["username"][0]["type"], json!("too_short"));
    assert_eq!(
        bad["errors"]["email-address"][0]["type"],
        json!("not_valid")
    );
    let password_types: Vec<&Value> = bad["errors"]["password"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| &p["type"])
        .collect();
    assert_eq!(
        password_types,
        vec![
            &json!("too_short"),
            &json!("no_capital_letter"),
            &json!("no_special_character")
        ]
    );

    // Django's validators run only once the custom rules pass.
    let similar = app
        .post_json(
            "/user/create-account",
            &create_form(&[
                ("username", "testuser"),
                ("password", "Testuser123!"),
                ("confirm_password", "Testuser123!"),
            ]),
        )
        .await;
    assert_eq!(
        similar["errors"],
        json!({"firstname": true, "lastname": true, "username": true, "email-address": true,
               "password": [problem("django_validation", "The password is too similar to the username.")]})
    );
    let common = app
        .post_json(
            "/user/create-account",
            &create_form(&[
                ("password", "Password1!"),
                ("confirm_password", "Password1!"),
            ]),
        )
        .await;
    assert_eq!(
        common["errors"]["password"],
        json!([problem("django_validation", "This password is too common.")])
    );

    // Taken usernames (exact match) are unavailable; nothing was written so far.
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM auth_user")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(users, 0, "failed registrations write nothing");
    assert_eq!(
        register(&app, "valid_user", "jane@example.com").await["create_account"],
        json!("true")
    );
    let taken = app.second_browser();
    let taken = taken
        .post_json("/user/create-account", &create_form(&[]))
        .await;
    assert_eq!(
        taken["errors"]["username"],
        json!([problem(
            "unavailable",
            "The username you entered is unavailable. Please enter a different username and try again."
        )])
    );
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn registration_records_terms_newsletter_and_converts_a_prospect(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let notify = app
        .post_json(
            "/user/pythonabot-notify-me",
            &[
                ("email_address", "convert@example.com"),
                ("how_excited", "4"),
            ],
        )
        .await;
    assert_eq!(notify["pythonabot_notify_me"], json!("success"));
    let registrant = app.second_browser();
    assert_eq!(
        register(&registrant, "converted", "convert@example.com").await["create_account"],
        json!("true")
    );
    let (converted, unsubscribed, comment): (bool, bool, String) = sqlx::query_as(
        "SELECT converted_date_time IS NOT NULL, email_unsubscribed, swa_comment \
         FROM user_prospect WHERE email = 'convert@example.com'",
    )
    .fetch_one(&pool)
    .await
    .expect("prospect");
    assert!(converted && unsubscribed);
    assert!(
        comment.ends_with("Prospect converted by creating user id 1."),
        "{comment}"
    );
    let (newsletter, verified, agreements, code_len): (bool, bool, i64, i32) = sqlx::query_as(
        "SELECT m.newsletter_subscriber, m.email_verified, \
                (SELECT count(*) FROM user_member_terms_of_use_version_agreed a WHERE a.member_id = m.id), \
                length(m.mb_cd) FROM user_member m",
    )
    .fetch_one(&pool)
    .await
    .expect("member");
    assert_eq!(
        (newsletter, verified, agreements, code_len),
        (true, false, 1, 20)
    );
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn a_member_unsubscribes_through_the_emailed_token(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    register(&app, "mailing_member", "johnny@example.com").await;
    let token: String =
        sqlx::query_scalar("SELECT email_unsubscribe_string_signed FROM user_member")
            .fetch_one(&pool)
            .await
            .expect("token");
    assert_eq!(token.len(), 43);
    let visitor = app.second_browser();

    let lookup = visitor
        .get_json(&format!("/user/email-unsubscribe-lookup?token={token}"))
        .await;
    assert_eq!(
        lookup,
        json!({"email_unsubscribe_lookup": "success", "email_address": "john**@example.com",
               "user-api-version": "0.0.1"})
    );
    let missing = visitor.get_json("/user/email-unsubscribe-lookup").await;
    assert_eq!(missing["errors"]["error"], json!("token-required"));

    let confirm = visitor
        .post_json("/user/email-unsubscribe-confirm", &[("token", &token)])
        .await;
    assert_eq!(confirm["email_unsubscribe_confirm"], json!("success"));
    let new_token = confirm["token"].as_str().expect("new token").to_owned();
    assert_ne!(new_token, token);
    let (unsubscribed, newsletter): (bool, bool) =
        sqlx::query_as("SELECT email_unsubscribed, newsletter_subscriber FROM user_member")
            .fetch_one(&pool)
            .await
            .expect("member");
    assert!(unsubscribed && !newsletter);

    let old = visitor
        .get_json(&format!("/user/email-unsubscribe-lookup?token={token}"))
        .await;
    assert_eq!(old["errors"]["error"], json!("member-not-found"));
    let again = visitor
        .post_json("/user/email-unsubscribe-confirm", &[("token", &new_token)])
        .await;
    assert_eq!(
        again["errors"]["error"],
        json!("email-address-already-unsubscribed")
    );

    let why = visitor
        .post_json(
            "/user/email-unsubscribe-why",
            &[
                ("token", new_token.as_str()),
                ("no_longer_want_to_receive", "true"),
                ("never_signed_up", "false"),
                ("inappropriate", "false"),
                ("spam", "true"),
                ("other", ""),
            ],
        )
        .await;
    assert_eq!(
        why,
        json!({"email_unsubscribe_why": "success", "user-api-version": "0.0.1"})
    );
    let reasons: (bool, bool, Option<i32>) = sqlx::query_as(
        "SELECT no_longer_want_to_receive, spam, prospect_id FROM user_emailunsubscribereasons",
    )
    .fetch_one(&pool)
    .await
    .expect("reasons");
    assert_eq!(reasons, (true, true, None));

    // A stored pair that no longer signs correctly is reported as altered.
    sqlx::query("UPDATE user_member SET email_unsubscribe_string = 'AAAAAAAAAAAAAAAAAAAA'")
        .execute(&pool)
        .await
        .expect("edit");
    let altered = visitor
        .post_json("/user/email-unsubscribe-why", &[("token", &new_token)])
        .await;
    assert_eq!(altered["errors"]["error"], json!("token-altered"));
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn a_prospect_unsubscribes_with_its_pr_token(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    app.post_json(
        "/user/pythonabot-notify-me",
        &[
            ("email_address", "prospect@example.com"),
            ("how_excited", "5"),
        ],
    )
    .await;
    // Notify-me prospects start unsubscribed; an operator opted this one in.
    let pr_token: String = sqlx::query_scalar(
        "UPDATE user_prospect SET email_unsubscribed = false \
         RETURNING email_unsubscribe_string_signed",
    )
    .fetch_one(&pool)
    .await
    .expect("opt in");
    let lookup = app
        .get_json(&format!(
            "/user/email-unsubscribe-lookup?pr_token={pr_token}"
        ))
        .await;
    assert_eq!(lookup["email_address"], json!("pros****@example.com"));
    let confirm = app
        .post_json(
            "/user/email-unsubscribe-confirm",
            &[("pr_token", &pr_token)],
        )
        .await;
    assert_eq!(confirm["email_unsubscribe_confirm"], json!("success"));
    let new_token = confirm["token"].as_str().expect("token").to_owned();
    let why = app
        .post_json("/user/email-unsubscribe-why", &[("pr_token", &new_token)])
        .await;
    assert_eq!(why["email_unsubscribe_why"], json!("success"));
    let (unsubscribed, reasons): (bool, i64) = sqlx::query_as(
        "SELECT p.email_unsubscribed, \
                (SELECT count(*) FROM user_emailunsubscribereasons r WHERE r.prospect_id = p.id) \
         FROM user_prospect p",
    )
    .fetch_one(&pool)
    .await
    .expect("prospect");
    assert!(unsubscribed);
    assert_eq!(reasons, 1, "a row even with no reason given");
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn members_agree_to_new_terms_of_use_by_version_number(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let anonymous = app.get("/user/terms-of-use-agree-check").await;
    assert_eq!(anonymous.status(), 302);
    assert_eq!(
        anonymous.headers()["location"],
        "/login?next=/user/terms-of-use-agree-check"
    );
    register(&app, "terms_reader", "terms@example.com").await;
    let check = app.get_json("/user/terms-of-use-agree-check").await;
    assert_eq!(
        check,
        json!({"terms_of_use_agree_check": true, "user-api-version": "0.0.1"})
    );

    // Version 2 is published with a row id that differs from its number.
    sqlx::query(
        "INSERT INTO user_terms_of_use_version (id, version, version_note, publication_date_time) \
         VALUES (7, 2, '<p>New terms</p>', now())",
    )
    .execute(&pool)
    .await
    .expect("publish v2");
    let check = app.get_json("/user/terms-of-use-agree-check").await;
    assert_eq!(
        check,
        json!({"terms_of_use_agree_check": false, "version": 2, "version_note": "<p>New terms</p>",
               "user-api-version": "0.0.1"})
    );
    let agree = |v: &'static str| {
        let app = &app;
        async move {
            app.post_json("/user/terms-of-use-agree", &[("version", v)])
                .await
        }
    };
    assert_eq!(
        agree("1").await["errors"]["error"],
        json!("version-provided-not-most-recent")
    );
    assert_eq!(
        agree("999").await["errors"]["error"],
        json!("version-not-found")
    );
    assert_eq!(
        agree("abc").await["errors"]["error"],
        json!("version-not-found")
    );
    let missing = app.post_json("/user/terms-of-use-agree", &[]).await;
    assert_eq!(
        missing,
        json!({"terms_of_use_agree": "error", "errors": {"error": "version-required"},
               "user-api-version": "0.0.1"})
    );
    assert_eq!(
        agree("2").await,
        json!({"terms_of_use_agree": "success", "version": "2", "user-api-version": "0.0.1"})
    );
    assert_eq!(
        agree(" 2").await["errors"]["error"],
        json!("version-already-agreed")
    );
    let check = app.get_json("/user/terms-of-use-agree-check").await;
    assert_eq!(check["terms_of_use_agree_check"], json!(true));
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn communication_preferences_follow_the_legacy_rules(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let anonymous = app
        .post_json(
            "/user/update-communication-preferences",
            &[("newsletter", "true"), ("email_unsubscribe", "false")],
        )
        .await;
    assert_eq!(
        anonymous["update_communication_preferences"],
        json!("user_not_authenticated")
    );
    register(&app, "prefs_member", "prefs@example.com").await;
    let missing = app
        .post_json(
            "/user/update-communication-preferences",
            &[("newsletter", "true")],
        )
        .await;
    assert_eq!(
        missing["errors"],
        json!({"data_missing": "Required data was missing from the request."})
    );
    let both = app
        .post_json(
            "/user/update-communication-preferences",
            &[("newsletter", "true"), ("email_unsubscribe", "true")],
        )
        .await;
    assert_eq!(
        both["errors"],
        json!({"invalid_data": "The request included an invalid data combination."})
    );
    let token_before: String =
        sqlx::query_scalar("SELECT email_unsubscribe_string_signed FROM user_member")
            .fetch_one(&pool)
            .await
            .expect("token");
    let done = app
        .post_json(
            "/user/update-communication-preferences",
            &[
                ("newsletter", "false"),
                ("email_unsubscribe", "true"),
                ("no_longer_want_to_receive", "false"),
                ("never_signed_up", "false"),
                ("inappropriate", "true"),
                ("spam", "false"),
                ("other", "too many"),
            ],
        )
        .await;
    assert_eq!(done["update_communication_preferences"], json!("success"));
    let (unsubscribed, newsletter, token_after): (bool, bool, String) = sqlx::query_as(
        "SELECT email_unsubscribed, newsletter_subscriber, email_unsubscribe_string_signed \
         FROM user_member",
    )
    .fetch_one(&pool)
    .await
    .expect("member");
    assert!(unsubscribed && !newsletter);
    assert_ne!(
        token_after, token_before,
        "the unsubscribe token is rotated"
    );
    let reasons: Vec<(bool, String)> =
        sqlx::query_as("SELECT inappropriate, other FROM user_emailunsubscribereasons")
            .fetch_all(&pool)
            .await
            .expect("reasons");
    assert_eq!(reasons, vec![(true, "too many".to_owned())]);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn chat_messages_link_to_members_and_prospects(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let invalid = app
        .post_json(
            "/user/put-chat-message",
            &[
                ("name", "A Name That Is Much Too Long For It"),
                ("email_address", "bad@"),
                ("message", ""),
            ],
        )
        .await;
    assert_eq!(
        invalid,
        json!({"put_chat_message": "validation_error", "errors": {
            "name": [problem("too_many_chars", "The value you entered is too long for this field.")],
            "email_address": [problem("not_valid", "Please enter a valid email address. For example johndoe@domain.com.")],
            "message": [problem("required", "This is a required field.")]},
            "user-api-version": "0.0.1"})
    );
    register(&app.second_browser(), "chat_member", "Member@Example.com").await;
    for (name, email) in [
        ("Known Member", "member@example.com"),
        ("New Person", "new@example.com"),
    ] {
        let sent = app
            .post_json(
                "/user/put-chat-message",
                &[
                    ("name", name),
                    ("email_address", email),
                    ("message", "Hello there"),
                ],
            )
            .await;
        assert_eq!(
            sent,
            json!({"put_chat_message": "true", "user-api-version": "0.0.1"})
        );
    }
    let links: Vec<(String, Option<i32>, Option<i32>)> = sqlx::query_as(
        "SELECT email_address, member_id, prospect_id FROM user_chat_message ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .expect("messages");
    assert!(links[0].1.is_some() && links[0].2.is_none(), "{links:?}");
    assert!(links[1].1.is_none() && links[1].2.is_some(), "{links:?}");
    let comment: String = sqlx::query_scalar("SELECT swa_comment FROM user_prospect")
        .fetch_one(&pool)
        .await
        .expect("prospect");
    assert_eq!(comment, "Captured from chat message submission");
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn notify_me_validates_and_refuses_a_known_prospect(pool: PgPool) {
    let app = spawn_app(pool).await;
    let empty = app
        .post_json(
            "/user/pythonabot-notify-me",
            &[("email_address", ""), ("how_excited", "")],
        )
        .await;
    let required = problem("required", "This is a required field.");
    assert_eq!(
        empty["errors"],
        json!({"email_address": [required], "how_excited": [required]})
    );
    let range = app
        .post_json(
            "/user/pythonabot-notify-me",
            &[("email_address", "fan@example.com"), ("how_excited", "6")],
        )
        .await;
    assert_eq!(
        range["errors"]["how_excited"],
        json!([problem(
            "out_of_range",
            "The value provided is out of range."
        )])
    );
    let ok = app
        .post_json(
            "/user/pythonabot-notify-me",
            &[("email_address", "fan@example.com"), ("how_excited", "3")],
        )
        .await;
    assert_eq!(
        ok,
        json!({"pythonabot_notify_me": "success", "user-api-version": "0.0.1"})
    );
    let again = app
        .post_json(
            "/user/pythonabot-notify-me",
            &[("email_address", "FAN@example.com"), ("how_excited", "3")],
        )
        .await;
    assert_eq!(
        again,
        json!({"pythonabot_notify_me": "duplicate_prospect", "errors": {
            "email_address": [problem("duplicate", "I already know about this email address. Please enter a different email address.")],
            "how_excited": true}, "user-api-version": "0.0.1"})
    );
}

async fn login_from(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let token = match app.cookie("csrftoken") {
        Some(t) => t,
        None => app.fetch_csrf_token().await,
    };
    let mut request = app
        .client
        .post(app.url("/user/login"))
        .header("X-CSRFToken", token)
        .header("Origin", "http://localhost:8080")
        .form(&[
            ("username", "nobody"),
            ("password", "x"),
            ("remember_me", "false"),
        ]);
    if let Some(xff) = forwarded_for {
        request = request.header("X-Forwarded-For", xff);
    }
    request.send().await.expect("request reaches the service")
}

fn small_login_limit() -> startupwebapp::Config {
    let mut config = test_config();
    config.rate_limits.login = RateLimit {
        max: 3,
        window: Duration::from_secs(3600),
    };
    config
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn login_is_rate_limited_with_429_and_retry_after(pool: PgPool) {
    let app = spawn_app_with(small_login_limit(), pool).await;
    for _ in 0..3 {
        assert_eq!(login_from(&app, None).await.status(), 200);
    }
    let limited = login_from(&app, None).await;
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=3600).contains(&retry), "{retry}");
    let body: Value = limited.json().await.expect("json");
    assert_eq!(body["errors"]["error"], json!("rate-limited"));
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(pool: PgPool) {
    let app = spawn_app_with(small_login_limit(), pool).await;
    for i in 0..3 {
        let spoof = format!("198.51.100.{i}");
        assert_eq!(login_from(&app, Some(&spoof)).await.status(), 200);
    }
    let limited = login_from(&app, Some("198.51.100.99")).await;
    assert_eq!(
        limited.status(),
        429,
        "every request counted against the peer"
    );
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn behind_a_trusted_proxy_each_client_has_its_own_count(pool: PgPool) {
    let mut config = small_login_limit();
    config.trusted_proxies = vec!["127.0.0.0/8".parse().expect("cidr")];
    let app = spawn_app_with(config, pool).await;
    for _ in 0..3 {
        let response = login_from(&app, Some("203.0.113.5, 127.0.0.1")).await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(
        login_from(&app, Some("203.0.113.5")).await.status(),
        429,
        "the same client through the proxy"
    );
    assert_eq!(
        login_from(&app, Some("203.0.113.6")).await.status(),
        200,
        "another client through the same proxy"
    );
    // A client cannot escape by prepending addresses: the right-most
    // untrusted hop is the one counted.
    assert_eq!(
        login_from(&app, Some("10.9.9.9, 203.0.113.5"))
            .await
            .status(),
        429
    );
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn reset_password_is_limited_per_username_whatever_the_address(pool: PgPool) {
    let mut config = test_config();
    config.trusted_proxies = vec!["127.0.0.0/8".parse().expect("cidr")];
    let app = spawn_app_with(config, pool).await;
    let token = app.fetch_csrf_token().await;
    let reset = |username: &'static str, client: String| {
        let app = &app;
        let token = token.clone();
        async move {
            app.client
                .post(app.url("/user/reset-password"))
                .header("X-CSRFToken", token)
                .header("Origin", "http://localhost:8080")
                .header("X-Forwarded-For", client)
                .form(&[("username", username), ("email_address", "x@example.com")])
                .send()
                .await
                .expect("request reaches the service")
                .status()
        }
    };
    for i in 0..5 {
        assert_eq!(reset("target_user", format!("192.0.2.{i}")).await, 200);
    }
    assert_eq!(reset("target_user", "192.0.2.200".to_owned()).await, 429);
    assert_eq!(reset("other_user", "192.0.2.1".to_owned()).await, 200);
}
