//! Accounts over HTTP against a real PostgreSQL and a real SMTP server
//! (contract api-user-clientevent.md §4, client-contract.md §3 flows 5–7):
//! the member lifecycle following the links in delivered mail, sessions
//! ended by password changes, and single-use recovery codes.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};
use sqlx::PgPool;
use startupwebapp_tests::smtp::{ReceivedMail, SmtpSink};
use startupwebapp_tests::{TestApp, config_with_smtp, spawn_app, spawn_app_with};

const WAIT: Duration = Duration::from_secs(10);
const PASSWORD: &str = "Correct-Horse9!";

fn registration<'a>(
    username: &'a str,
    email: &'a str,
    remember: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("firstname", "Jane"),
        ("lastname", "Doe"),
        ("username", username),
        ("email_address", email),
        ("password", PASSWORD),
        ("confirm_password", PASSWORD),
        ("newsletter", "true"),
        ("remember_me", remember),
    ]
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

fn set_cookie<'a>(cookies: &'a [String], name: &str) -> Option<&'a String> {
    cookies.iter().find(|c| c.starts_with(&format!("{name}=")))
}

/// The value of `param` in the first link of `mail` that carries it.
fn code_in(mail: &ReceivedMail, param: &str) -> String {
    let marker = format!("{param}=");
    mail.links()
        .iter()
        .find_map(|link| {
            link.split_once(&marker)
                .map(|(_, rest)| rest.split('&').next().unwrap_or("").to_owned())
        })
        .unwrap_or_else(|| panic!("no {param} link in:\n{}", mail.body()))
}

async fn login(app: &TestApp, username: &str, password: &str, remember: &str) -> reqwest::Response {
    app.post_form(
        "/user/login",
        &[
            ("username", username),
            ("password", password),
            ("remember_me", remember),
        ],
    )
    .await
}

async fn logged_in(app: &TestApp) -> bool {
    app.get_json("/user/logged-in").await["logged_in"] == json!(true)
}

async fn outbox_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM swa_email_outbox")
        .fetch_one(pool)
        .await
        .expect("count outbox")
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn a_member_lives_through_the_whole_account_lifecycle(pool: PgPool) {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(config_with_smtp(sink.port()), pool.clone()).await;
    let site = "http://localhost:8080";

    // Register: logged in at once, with a browser-session cookie.
    let csrf_before = app.fetch_csrf_token().await;
    let response = app
        .post_form(
            "/user/create-account",
            &registration("jane_doe", "Jane.Doe@example.com", "false"),
        )
        .await;
    assert_eq!(response.status(), 200);
    let cookies = set_cookies(&response);
    let session = set_cookie(&cookies, "sessionid").expect("session cookie");
    assert!(!session.contains("Max-Age"), "{session}");
    assert!(session.contains("HttpOnly"), "{session}");
    assert_ne!(
        app.cookie("csrftoken").expect("csrf"),
        csrf_before,
        "login rotates the CSRF secret"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({"create_account": "true", "user-api-version": "0.0.1"})
    );
    let me = app.get_json("/user/logged-in").await;
    assert_eq!(me["logged_in"], json!(true));
    assert_eq!(me["member_initials"], json!("JD"));
    assert_eq!(me["email_address"], json!("Jane.Doe@example.com"));
    assert!(me["client_event_id"].is_i64());

    // The welcome mail carries a verification link that works once.
    let mails = sink.wait_for(1, WAIT).await;
    let welcome = &mails[0];
    assert_eq!(welcome.envelope_to, vec!["Jane.Doe@example.com".to_owned()]);
    assert_eq!(
        welcome.subject().as_deref(),
        Some("Welcome to http://localhost:8080")
    );
    assert!(welcome.body().contains("\"jane_doe\""));
    assert!(welcome.body().contains("expires 24 hours after"));
    let code = code_in(welcome, "email_verification_code");
    assert!(
        welcome
            .links()
            .contains(&format!("{site}/account/?email_verification_code={code}"))
    );
    let content = app.get_json("/user/account-content").await;
    let email_data = &content["account_content"]["email_data"];
    assert_eq!(email_data["email_verified"], json!(false));
    assert_eq!(
        email_data["verification_request_sent_within_24_hours"],
        json!(true)
    );
    let verified = app
        .post_json(
            "/user/verify-email-address-response",
            &[("email_verification_code", &code)],
        )
        .await;
    assert_eq!(verified["verify_email_address_response"], json!("success"));
    let reused = app
        .post_json(
            "/user/verify-email-address-response",
            &[("email_verification_code", &code)],
        )
        .await;
    assert_eq!(
        reused["verify_email_address_response"],
        json!("code-doesnt-match")
    );
    let tampered = format!("{code}x");
    let bad = app
        .post_json(
            "/user/verify-email-address-response",
            &[("email_verification_code", &tampered)],
        )
        .await;
    assert_eq!(
        bad["verify_email_address_response"],
        json!("signature-invalid")
    );
    let content = app.get_json("/user/account-content").await;
    assert_eq!(
        content["account_content"]["email_data"]["email_verified"],
        json!(true)
    );
    assert!(
        content["account_content"]["personal_data"]["terms_of_use_agreed_date_time"].is_string()
    );

    // Logout (GET, as the storefront calls it), then log in both ways.
    let bye = app.get_json("/user/logout").await;
    assert_eq!(bye, json!({"logout": "true", "user-api-version": "0.0.1"}));
    assert!(!logged_in(&app).await);
    let again = app.get_json("/user/logout").await;
    assert_eq!(again["logout"], json!("user_not_authenticated"));

    let wrong = login(&app, "jane_doe", "Wrong-pass9!", "true").await;
    let wrong: Value = wrong.json().await.expect("json");
    assert_eq!(wrong["login"], json!("false"));
    let case = login(&app, "JANE_DOE", PASSWORD, "true").await;
    assert_eq!(
        case.json::<Value>().await.expect("json")["login"],
        json!("false")
    );

    let browser_session = login(&app, "jane_doe", PASSWORD, "false").await;
    let cookies = set_cookies(&browser_session);
    assert!(
        !set_cookie(&cookies, "sessionid")
            .expect("session")
            .contains("Max-Age")
    );
    assert!(
        set_cookie(&cookies, "an_ct")
            .expect("an_ct removed")
            .contains("Max-Age=0"),
        "{cookies:?}"
    );
    let remembered = login(&app, "jane_doe", PASSWORD, "true").await;
    let cookies = set_cookies(&remembered);
    assert!(
        set_cookie(&cookies, "sessionid")
            .expect("session")
            .contains("Max-Age=1209600")
    );
    let body: Value = remembered.json().await.expect("json");
    assert_eq!(body, json!({"login": "true", "user-api-version": "0.0.1"}));

    // Edit names only: no mail. Then change the email: both addresses are told.
    let before = outbox_count(&pool).await;
    let edited = app
        .post_json(
            "/user/update-my-information",
            &[
                ("firstname", "Janet"),
                ("lastname", "Doe"),
                ("email_address", "Jane.Doe@example.com"),
            ],
        )
        .await;
    assert_eq!(edited["update_my_information"], json!("success"));
    assert_eq!(outbox_count(&pool).await, before);
    let changed = app
        .post_json(
            "/user/update-my-information",
            &[
                ("firstname", "Janet"),
                ("lastname", "Doe"),
                ("email_address", "janet@example.org"),
            ],
        )
        .await;
    assert_eq!(changed["update_my_information"], json!("success"));
    let mails = sink.wait_for(2, WAIT).await;
    let notice = &mails[1];
    let mut to = notice.envelope_to.clone();
    to.sort();
    assert_eq!(to, vec!["Jane.Doe@example.com", "janet@example.org"]);
    assert!(
        notice
            .body()
            .contains("Previous email address: Jane.Doe@example.com")
    );
    assert!(
        notice
            .body()
            .contains("New email address: janet@example.org")
    );
    let content = app.get_json("/user/account-content").await;
    assert_eq!(
        content["account_content"]["email_data"]["email_verified"],
        json!(false)
    );
    let new_code = code_in(notice, "email_verification_code");
    let verified = app
        .post_json(
            "/user/verify-email-address-response",
            &[("email_verification_code", &new_code)],
        )
        .await;
    assert_eq!(verified["verify_email_address_response"], json!("success"));

    // A second browser is logged in; changing the password ends it, not this one.
    let other = app.second_browser();
    let other_login = login(&other, "jane_doe", PASSWORD, "true").await;
    assert_eq!(
        other_login.json::<Value>().await.expect("json")["login"],
        json!("true")
    );
    assert!(logged_in(&other).await);
    let new_password = "Brand-New-Secret7$";
    let changed = app
        .post_form(
            "/user/change-my-password",
            &[
                ("current_password", PASSWORD),
                ("new_password", new_password),
                ("confirm_new_password", new_password),
            ],
        )
        .await;
    let cookies = set_cookies(&changed);
    assert!(
        set_cookie(&cookies, "sessionid").is_some(),
        "session rotated"
    );
    assert!(set_cookie(&cookies, "csrftoken").is_some(), "CSRF rotated");
    let changed: Value = changed.json().await.expect("json");
    assert_eq!(changed["change_my_password"], json!("success"));
    assert!(logged_in(&app).await, "this session continues");
    assert!(!logged_in(&other).await, "the other session ended");
    let mails = sink.wait_for(3, WAIT).await;
    assert_eq!(
        mails[2].subject().as_deref(),
        Some("Password Changed on http://localhost:8080")
    );
    let old = login(&other, "jane_doe", PASSWORD, "true").await;
    assert_eq!(
        old.json::<Value>().await.expect("json")["login"],
        json!("false")
    );

    // Forgot username: matched case-insensitively, mailed to the account.
    let forgot = other
        .post_json(
            "/user/forgot-username",
            &[("email_address", "JANET@example.org")],
        )
        .await;
    assert_eq!(forgot["forgot_username"], json!("success"));
    let mails = sink.wait_for(4, WAIT).await;
    assert_eq!(mails[3].envelope_to, vec!["janet@example.org".to_owned()]);
    assert!(mails[3].body().contains("is \"jane_doe\""));

    // Reset: the link works once, and ends every session.
    let reset = other
        .post_json(
            "/user/reset-password",
            &[
                ("username", "jane_doe"),
                ("email_address", "Janet@Example.org"),
            ],
        )
        .await;
    assert_eq!(
        reset,
        json!({"reset_password": "success", "user-api-version": "0.0.1"})
    );
    let mails = sink.wait_for(5, WAIT).await;
    assert!(mails[4].body().contains("expires 1 hour after"));
    let code = code_in(&mails[4], "password_reset_code");
    let weak = other
        .post_json(
            "/user/set-new-password",
            &[
                ("username", "jane_doe"),
                ("password_reset_code", &code),
                ("new_password", "short"),
                ("confirm_new_password", "short"),
            ],
        )
        .await;
    assert_eq!(weak["set_new_password"], json!("password-error"));
    assert!(weak["errors"]["new-password"].is_array());
    let final_password = "Reset-Works-Now8#";
    let form = [
        ("username", "jane_doe"),
        ("password_reset_code", code.as_str()),
        ("new_password", final_password),
        ("confirm_new_password", final_password),
    ];
    let done = other.post_json("/user/set-new-password", &form).await;
    assert_eq!(
        done,
        json!({"set_new_password": "success", "user-api-version": "0.0.1"})
    );
    let reused = other.post_json("/user/set-new-password", &form).await;
    assert_eq!(reused["set_new_password"], json!("code-doesnt-match"));
    assert!(!logged_in(&app).await, "a reset ends every session");
    let ok = login(&other, "jane_doe", final_password, "false").await;
    assert_eq!(
        ok.json::<Value>().await.expect("json")["login"],
        json!("true")
    );
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn recovery_never_reveals_whether_an_account_exists(pool: PgPool) {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(config_with_smtp(sink.port()), pool.clone()).await;
    app.post_json(
        "/user/create-account",
        &registration("real_user", "real@example.com", "false"),
    )
    .await;
    sink.wait_for(1, WAIT).await;
    let visitor = app.second_browser();

    for (username, email) in [
        ("real_user", "wrong@example.com"),
        ("ghost_user", "real@example.com"),
    ] {
        let reply = visitor
            .post_json(
                "/user/reset-password",
                &[("username", username), ("email_address", email)],
            )
            .await;
        assert_eq!(reply["reset_password"], json!("success"));
    }
    let reply = visitor
        .post_json(
            "/user/forgot-username",
            &[("email_address", "nobody@example.com")],
        )
        .await;
    assert_eq!(reply["forgot_username"], json!("success"));
    assert_eq!(outbox_count(&pool).await, 1, "only the welcome mail");

    // A code that is not the username's reads the same whether or not the
    // username exists (the legacy said `username-not-found`).
    let signer = startupwebapp::domain::tokens::TokenSigner::new(
        startupwebapp::placeholder_config().secret_key.expose(),
    );
    let now = chrono_now();
    let forged_but_signed = signer.sign_token(
        startupwebapp::domain::tokens::TokenKind::PasswordReset,
        "AAAAAAAAAAAAAAAAAAAA",
        now,
    );
    for username in ["real_user", "ghost_user"] {
        let reply = visitor
            .post_json(
                "/user/set-new-password",
                &[
                    ("username", username),
                    ("password_reset_code", &forged_but_signed),
                    ("new_password", "Whatever-Pass1!"),
                    ("confirm_new_password", "Whatever-Pass1!"),
                ],
            )
            .await;
        assert_eq!(
            reply,
            json!({"set_new_password": "code-doesnt-match", "user-api-version": "0.0.1"})
        );
    }
    let expired = signer.sign_token(
        startupwebapp::domain::tokens::TokenKind::PasswordReset,
        "AAAAAAAAAAAAAAAAAAAA",
        now - 3601,
    );
    let reply = visitor
        .post_json(
            "/user/set-new-password",
            &[("username", "real_user"), ("password_reset_code", &expired)],
        )
        .await;
    assert_eq!(reply["set_new_password"], json!("signature-invalid"));
}

fn chrono_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn a_reset_code_used_by_two_requests_at_once_works_once(pool: PgPool) {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(config_with_smtp(sink.port()), pool.clone()).await;
    app.post_json(
        "/user/create-account",
        &registration("racer_one", "racer@example.com", "false"),
    )
    .await;
    app.post_json(
        "/user/reset-password",
        &[
            ("username", "racer_one"),
            ("email_address", "racer@example.com"),
        ],
    )
    .await;
    let mails = sink.wait_for(2, WAIT).await;
    let code = code_in(&mails[1], "password_reset_code");
    let browsers: Vec<TestApp> = (0..4).map(|_| app.second_browser()).collect();
    for b in &browsers {
        b.fetch_csrf_token().await;
    }
    let replies = join_all(browsers.iter().enumerate().map(|(i, b)| {
        let code = code.clone();
        async move {
            let password = format!("Parallel-Pass{i}!");
            b.post_json(
                "/user/set-new-password",
                &[
                    ("username", "racer_one"),
                    ("password_reset_code", &code),
                    ("new_password", &password),
                    ("confirm_new_password", &password),
                ],
            )
            .await
        }
    }))
    .await;
    let successes = replies
        .iter()
        .filter(|r| r["set_new_password"] == json!("success"))
        .count();
    assert_eq!(successes, 1, "{replies:?}");
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn two_registrations_racing_for_one_username_create_one_account(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let browsers: Vec<TestApp> = (0..3).map(|_| app.second_browser()).collect();
    for b in &browsers {
        b.fetch_csrf_token().await;
    }
    let replies = join_all(browsers.iter().enumerate().map(|(i, b)| async move {
        let email = format!("racer{i}@example.com");
        b.post_json(
            "/user/create-account",
            &registration("same_name", &email, "false"),
        )
        .await
    }))
    .await;
    let created = replies
        .iter()
        .filter(|r| r["create_account"] == json!("true"))
        .count();
    assert_eq!(created, 1, "{replies:?}");
    for reply in replies
        .iter()
        .filter(|r| r["create_account"] == json!("false"))
    {
        assert_eq!(reply["errors"]["username"][0]["type"], json!("unavailable"));
    }
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM auth_user")
        .fetch_one(&pool)
        .await
        .expect("count");
    let members: i64 = sqlx::query_scalar("SELECT count(*) FROM user_member")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!((users, members), (1, 1));
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn mail_queued_while_smtp_is_down_arrives_once_it_is_back(pool: PgPool) {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        listener.local_addr().expect("addr").port()
    };
    let app = spawn_app_with(config_with_smtp(port), pool.clone()).await;
    let reply = app
        .post_json(
            "/user/create-account",
            &registration("offline_mail", "offline@example.com", "false"),
        )
        .await;
    assert_eq!(reply["create_account"], json!("true"));

    // The sender has tried and failed at least once.
    let mut attempts = 0;
    for _ in 0..100 {
        attempts = sqlx::query_scalar("SELECT attempts FROM swa_email_outbox")
            .fetch_one(&pool)
            .await
            .expect("outbox row");
        if attempts > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(attempts > 0, "the sender tried while SMTP was down");

    let sink = SmtpSink::start_on(port).await;
    let mails = sink.wait_for(1, WAIT).await;
    assert_eq!(mails[0].envelope_to, vec!["offline@example.com".to_owned()]);
    // The sink has the message; the sender commits `sent` right after.
    let mut status = String::new();
    for _ in 0..100 {
        status = sqlx::query_scalar("SELECT status FROM swa_email_outbox")
            .fetch_one(&pool)
            .await
            .expect("status");
        if status == "sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "sent");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.messages().len(), 1, "delivered exactly once");
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn a_django_pbkdf2_password_logs_in_and_is_rehashed_to_argon2id(pool: PgPool) {
    use base64::Engine as _;
    // Django's PBKDF2PasswordHasher: pbkdf2_sha256$<iterations>$<salt>$<b64>.
    let (salt, iterations, password) = ("Q1w2E3r4T5y6U7i8O9p0Aa", 600_000, "Legacy-Pass1!");
    let mut derived = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
        password.as_bytes(),
        salt.as_bytes(),
        iterations,
        &mut derived,
    );
    let hash = format!(
        "pbkdf2_sha256${iterations}${salt}${}",
        base64::engine::general_purpose::STANDARD.encode(derived)
    );
    let (user_id, _) = startupwebapp_tests::create_member(&pool, "django_user").await;
    sqlx::query("UPDATE auth_user SET password = $1 WHERE id = $2")
        .bind(&hash)
        .bind(user_id)
        .execute(&pool)
        .await
        .expect("store the Django hash");
    let app = spawn_app(pool.clone()).await;

    let wrong = login(&app, "django_user", "Legacy-Pass2!", "true").await;
    assert_eq!(
        wrong.json::<Value>().await.expect("json")["login"],
        json!("false")
    );
    let stored: String = sqlx::query_scalar("SELECT password FROM auth_user WHERE id = $1")
        .bind(user_id)
        .fetch_one(&pool)
        .await
        .expect("hash");
    assert_eq!(stored, hash, "a failed login changes nothing");

    let ok = login(&app, "django_user", password, "true").await;
    assert_eq!(
        ok.json::<Value>().await.expect("json")["login"],
        json!("true")
    );
    let stored: String = sqlx::query_scalar("SELECT password FROM auth_user WHERE id = $1")
        .bind(user_id)
        .fetch_one(&pool)
        .await
        .expect("hash");
    assert!(
        stored.starts_with("argon2$argon2id$v=19$m=12288,t=3,p=1$"),
        "{stored}"
    );
    let again = app.second_browser();
    let ok = login(&again, "django_user", password, "true").await;
    assert_eq!(
        ok.json::<Value>().await.expect("json")["login"],
        json!("true")
    );

    // An unusable password never matches.
    sqlx::query("UPDATE auth_user SET password = '!unusable' WHERE id = $1")
        .bind(user_id)
        .execute(&pool)
        .await
        .expect("unusable");
    let refused = login(&again, "django_user", "!unusable", "true").await;
    assert_eq!(
        refused.json::<Value>().await.expect("json")["login"],
        json!("false")
    );
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn login_merges_the_anonymous_cart_and_deletes_its_cookie(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    app.post_json(
        "/user/create-account",
        &registration("cart_owner", "owner@example.com", "true"),
    )
    .await;
    app.get_json("/user/logout").await;
    let added = app
        .post_json(
            "/order/cart-add-product-sku",
            &[("sku_id", "1"), ("quantity", "2")],
        )
        .await;
    assert_eq!(added["cart_add_product_sku"], json!("success"));
    assert!(app.cookie("an_ct").is_some());
    assert_eq!(
        app.get_json("/user/logged-in").await["cart_item_count"],
        json!(1)
    );

    let response = login(&app, "cart_owner", PASSWORD, "true").await;
    assert_eq!(response.status(), 200);
    assert!(app.cookie("an_ct").is_none(), "an_ct deleted");
    let me = app.get_json("/user/logged-in").await;
    assert_eq!(me["cart_item_count"], json!(1));
    let items = app.get_json("/order/cart-items").await;
    assert_eq!(
        items["item_data"]["product_sku_data"]["0"]["quantity"],
        json!(2)
    );
    let anonymous_carts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM order_cart WHERE anonymous_cart_id IS NOT NULL")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(anonymous_carts, 0);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn logged_in_describes_anonymous_visitors_and_issues_their_cookie(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.get("/user/logged-in").await;
    let cookies = set_cookies(&response);
    let event_cookie = set_cookie(&cookies, "anonymousclientevent").expect("cookie");
    assert!(event_cookie.contains("Max-Age=31536000"), "{event_cookie}");
    assert!(!event_cookie.contains("HttpOnly") && !event_cookie.contains("SameSite"));
    assert!(set_cookie(&cookies, "csrftoken").is_some());
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({"logged_in": false, "log_client_events": true, "client_event_id": "null",
               "cart_item_count": 0, "user-api-version": "0.0.1"})
    );
    let again = app.get("/user/logged-in").await;
    assert!(
        set_cookie(&set_cookies(&again), "anonymousclientevent").is_none(),
        "a valid cookie is kept"
    );
    let content = app.get_json("/user/account-content").await;
    assert_eq!(
        content,
        json!({"account_content": {"authenticated": "false"}, "user-api-version": "0.0.1"})
    );
    let verify = app.get_json("/user/verify-email-address").await;
    assert_eq!(
        verify["verify_email_address"],
        json!("user_not_authenticated")
    );
}
