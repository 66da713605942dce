//! Stripe Checkout end to end against a real PostgreSQL, a fake Stripe that
//! speaks Stripe's wire format and a real SMTP server (contract api-order.md
//! §4.4, §4.17–4.21, §5, §6): exact cents, the success page and the webhook
//! creating exactly one order whatever the order or timing of their calls,
//! signed webhooks, order emails and the order page.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};
use sqlx::PgPool;
use startupwebapp::domain::stripe_signature;
use startupwebapp_tests::fake_stripe::{Completion, FakeStripe, WEBHOOK_SECRET};
use startupwebapp_tests::smtp::SmtpSink;
use startupwebapp_tests::{TestApp, config_with_smtp, spawn_app_with};

const WAIT: Duration = Duration::from_secs(10);

struct Shop {
    app: TestApp,
    stripe: FakeStripe,
    sink: SmtpSink,
}

async fn shop(pool: &PgPool) -> Shop {
    let stripe = FakeStripe::start().await;
    let sink = SmtpSink::start().await;
    let mut config = config_with_smtp(sink.port());
    config.stripe = Some(stripe.settings());
    let app = spawn_app_with(config, pool.clone()).await;
    Shop { app, stripe, sink }
}

async fn add(app: &TestApp, sku: &str, quantity: &str) {
    let added = app
        .post_json(
            "/order/cart-add-product-sku",
            &[("sku_id", sku), ("quantity", quantity)],
        )
        .await;
    assert_eq!(added["cart_add_product_sku"], json!("success"), "{added}");
}

/// Fills a cart (shipping selected as the cart page does) and opens a session.
async fn checkout(app: &TestApp, email: Option<&str>) -> String {
    add(app, "1", "2").await;
    app.get_json("/order/cart-shipping-methods").await;
    let mut form = vec![
        ("agree_to_terms_of_sale", "true"),
        ("newsletter", "false"),
        ("save_defaults", "false"),
    ];
    if let Some(email) = email {
        form.push(("anonymous_email_address", email));
    }
    let created = app.post_json("/order/create-checkout-session", &form).await;
    assert_eq!(
        created["create_checkout_session"],
        json!("success"),
        "{created}"
    );
    created["session_id"]
        .as_str()
        .expect("session id")
        .to_owned()
}

fn event(id: &str, kind: &str, object: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id, "object": "event", "api_version": "2099-01-01.future",
        "type": kind, "data": {"object": object}
    }))
    .expect("json")
}

fn now() -> i64 {
    chrono_secs()
}

fn chrono_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn deliver(app: &TestApp, body: &[u8], signature: Option<String>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/order/stripe-webhook"))
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("Stripe-Signature", signature);
    }
    request.send().await.expect("request reaches the service")
}

async fn signed(app: &TestApp, body: &[u8]) -> reqwest::Response {
    deliver(
        app,
        body,
        Some(stripe_signature::header(WEBHOOK_SECRET, now(), body)),
    )
    .await
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .expect(sql)
}

async fn register(app: &TestApp, username: &str, email: &str) {
    let password = "Correct-Horse9!";
    let created = app
        .post_json(
            "/user/create-account",
            &[
                ("firstname", "Jane"),
                ("lastname", "Doe"),
                ("username", username),
                ("email_address", email),
                ("password", password),
                ("confirm_password", password),
                ("newsletter", "false"),
                ("remember_me", "false"),
            ],
        )
        .await;
    assert_eq!(created["create_account"], json!("true"));
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn a_member_checks_out_and_sees_the_order_and_its_email(pool: PgPool) {
    let Shop { app, stripe, sink } = shop(&pool).await;
    register(&app, "buyer_one", "buyer@example.com").await;
    sink.wait_for(1, WAIT).await; // the welcome mail

    let session_id = checkout(&app, None).await;
    let request = &stripe.create_requests()[0];
    let params = &request.params;
    assert_eq!(params["mode"], json!("payment"));
    assert_eq!(
        params["line_items"][0]["price_data"]["unit_amount"],
        json!("350")
    );
    assert_eq!(params["line_items"][0]["quantity"], json!("2"));
    assert_eq!(
        params["line_items"][0]["price_data"]["currency"],
        json!("usd")
    );
    assert_eq!(
        params["line_items"][0]["price_data"]["product_data"]["images"][0],
        json!("http://localhost:8080/img/product/paper_clip_left_2.jpg")
    );
    assert_eq!(
        params["line_items"][1]["price_data"]["product_data"]["name"],
        json!("Shipping")
    );
    assert_eq!(
        params["line_items"][1]["price_data"]["unit_amount"],
        json!("956")
    );
    assert_eq!(params["customer_email"], json!("buyer@example.com"));
    assert_eq!(params["allow_promotion_codes"], json!("true"));
    assert_eq!(params["billing_address_collection"], json!("required"));
    assert_eq!(
        params["success_url"],
        json!("http://localhost:8080/checkout/success?session_id={CHECKOUT_SESSION_ID}")
    );
    let cart_id = params["metadata"]["cart_id"]
        .as_str()
        .expect("cart id")
        .to_owned();
    assert!(request.idempotency_key().is_some());

    // A double click gives the same session.
    let again = app
        .post_json(
            "/order/create-checkout-session",
            &[("agree_to_terms_of_sale", "true")],
        )
        .await;
    assert_eq!(again["session_id"], json!(session_id));

    // Before payment the success page refuses.
    let unpaid = app
        .get_json(&format!(
            "/order/checkout-session-success?session_id={session_id}"
        ))
        .await;
    assert_eq!(unpaid["errors"]["error"], json!("payment-not-completed"));

    stripe.complete(&session_id, Completion::default());
    let success = app
        .get_json(&format!(
            "/order/checkout-session-success?session_id={session_id}"
        ))
        .await;
    assert_eq!(
        success["checkout_session_success"],
        json!("success"),
        "{success}"
    );
    let identifier = success["order_identifier"]
        .as_str()
        .expect("identifier")
        .to_owned();
    assert_eq!(identifier.len(), 10);
    let replay = app
        .get_json(&format!(
            "/order/checkout-session-success?session_id={session_id}"
        ))
        .await;
    assert_eq!(replay["order_identifier"], json!(identifier));
    assert_eq!(
        count(
            &pool,
            &format!("SELECT count(*) FROM order_cart WHERE id = {cart_id}")
        )
        .await,
        0,
        "the cart is gone"
    );

    let detail = app.get_json(&format!("/order/{identifier}")).await;
    assert_eq!(detail["order_detail"], json!("success"), "{detail}");
    let data = &detail["order_data"];
    assert_eq!(
        data["order_items"]["product_sku_data"]["0"]["price"],
        json!("3.50")
    );
    assert_eq!(
        data["order_items"]["product_sku_data"]["0"]["quantity"],
        json!(2)
    );
    assert_eq!(
        data["order_totals"],
        json!({"item_subtotal": "7.00", "shipping_subtotal": "9.56", "order_total": "16.56"})
    );
    assert_eq!(data["order_statuses"]["0"]["identifier"], json!("accepted"));
    assert_eq!(
        data["order_shipping_method"]["carrier"],
        json!("USPS Retail Ground")
    );
    assert_eq!(data["order_shipping_address"]["name"], json!("John Doe"));
    assert_eq!(data["order_shipping_address"]["zip"], json!("62565"));
    assert_eq!(data["order_billing_address"]["name"], json!("Jane Doe"));
    assert_eq!(
        data["order_payment_info"]["email"],
        json!("buyer@example.com")
    );

    let account = app.get_json("/user/account-content").await;
    assert_eq!(
        account["account_content"]["orders_data"]["1"]["identifier"],
        json!(identifier)
    );

    let mails = sink.wait_for(2, WAIT).await;
    let confirmation = &mails[1];
    assert_eq!(
        confirmation.envelope_to,
        vec!["buyer@example.com".to_owned()]
    );
    assert_eq!(
        confirmation.subject().as_deref(),
        Some("StartUpWebApp.com Order Confirmation")
    );
    let body = confirmation.body();
    assert!(
        body.contains(&format!("Order Identifier: {identifier}")),
        "{body}"
    );
    assert!(body.contains("Paper Clips"), "{body}");
    assert!(
        body.contains("$3.50 each, Quantity: 2, Subtotal: $7.00"),
        "{body}"
    );
    assert!(body.contains("Order Total: $16.56"), "{body}");
    assert!(!body.contains("None"), "{body}");

    // Another visitor cannot read a member's order.
    let stranger = app.second_browser();
    let refused = stranger.get_json(&format!("/order/{identifier}")).await;
    assert_eq!(
        refused["errors"]["error"],
        json!("log-in-required-to-view-order")
    );
    let unknown = stranger.get_json("/order/NoSuchOrder1").await;
    assert_eq!(unknown["errors"]["error"], json!("order-not-found"));
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn an_anonymous_order_arrives_by_webhook_and_is_mailed_once(pool: PgPool) {
    let Shop { app, stripe, sink } = shop(&pool).await;
    let lookup = app
        .post_json(
            "/order/anonymous-email-address-payment-lookup",
            &[("anonymous_email_address", "guest@example.com")],
        )
        .await;
    assert_eq!(
        lookup,
        json!({"checkout_allowed": true, "anonymous_email_address_payment_lookup": "success",
               "stripe_publishable_key": "pk_test_fake_stripe", "order-api-version": "0.0.1"})
    );
    let session_id = checkout(&app, Some("guest@example.com")).await;
    assert_eq!(
        stripe.create_requests()[0].params["customer_email"],
        json!("guest@example.com")
    );
    let object = stripe.complete(
        &session_id,
        Completion {
            customer_email: Some("guest@example.com".into()),
            ..Completion::default()
        },
    );
    let body = event("evt_anon_1", "checkout.session.completed", object);
    let response = signed(&app, &body).await;
    assert_eq!(response.status(), 200);
    let ack: Value = response.json().await.expect("json");
    let identifier = ack["order_identifier"]
        .as_str()
        .expect("identifier")
        .to_owned();
    // A repeated delivery has no second effect.
    let again = signed(&app, &body).await;
    assert_eq!(again.status(), 200);

    let mails = sink.wait_for(1, WAIT).await;
    assert_eq!(mails[0].envelope_to, vec!["guest@example.com".to_owned()]);
    assert!(mails[0].body().contains("pr_cd="), "prospect link");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 1);
    let prospect: (i64, String) = sqlx::query_as(
        "SELECT count(*), max(swa_comment) FROM user_prospect WHERE email = 'guest@example.com'",
    )
    .fetch_one(&pool)
    .await
    .expect("prospect");
    assert_eq!(prospect.0, 1);
    assert!(prospect.1.contains(&identifier));

    // The anonymous buyer (anyone with the identifier) reads it.
    let detail = app.get_json(&format!("/order/{identifier}")).await;
    assert_eq!(detail["order_detail"], json!("success"));
    // The success page, arriving after the webhook, reports the same order.
    let success = app
        .get_json(&format!(
            "/order/checkout-session-success?session_id={session_id}"
        ))
        .await;
    assert_eq!(success["order_identifier"], json!(identifier));

    // Registering with the buyer's email moves the prospect's order to the
    // new member (the legacy conversion); another member may not see it.
    let member = app.second_browser();
    register(&member, "guest_later", "Guest@Example.com").await;
    let converted = member.get_json(&format!("/order/{identifier}")).await;
    assert_eq!(converted["order_detail"], json!("success"), "{converted}");
    let other = app.second_browser();
    register(&other, "someone_else", "else@example.com").await;
    let refused = other.get_json(&format!("/order/{identifier}")).await;
    assert_eq!(refused["errors"]["error"], json!("order-not-in-account"));

    // An anonymous order paid with a member's address is that member's to
    // read only once the member has verified the address.
    sqlx::query("UPDATE order_order SET member_id = NULL")
        .execute(&pool)
        .await
        .expect("detach");
    let unverified = member.get_json(&format!("/order/{identifier}")).await;
    assert_eq!(unverified["errors"]["error"], json!("order-not-in-account"));
    sqlx::query(
        "UPDATE user_member SET email_verified = true \
         WHERE user_id = (SELECT id FROM auth_user WHERE username = 'guest_later')",
    )
    .execute(&pool)
    .await
    .expect("verify");
    let allowed = member.get_json(&format!("/order/{identifier}")).await;
    assert_eq!(allowed["order_detail"], json!("success"));
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn success_page_and_webhooks_racing_create_exactly_one_order(pool: PgPool) {
    const ITERATIONS: usize = 12;
    let Shop { app, stripe, sink } = shop(&pool).await;
    for i in 0..ITERATIONS {
        let buyer = app.second_browser();
        let session_id = checkout(&buyer, Some(&format!("race{i}@example.com"))).await;
        let object = stripe.complete(
            &session_id,
            Completion {
                customer_email: Some(format!("race{i}@example.com")),
                ..Completion::default()
            },
        );
        let first = event(
            &format!("evt_race_{i}"),
            "checkout.session.completed",
            object.clone(),
        );
        let retry = event(
            &format!("evt_race_{i}_b"),
            "checkout.session.completed",
            object,
        );
        let success_url = format!("/order/checkout-session-success?session_id={session_id}");
        let (page, hooks) = tokio::join!(
            buyer.get_json(&success_url),
            join_all([
                signed(&app, &first),
                signed(&app, &first),
                signed(&app, &retry),
            ])
        );
        assert_eq!(page["checkout_session_success"], json!("success"), "{page}");
        let identifier = page["order_identifier"].clone();
        for hook in hooks {
            assert_eq!(hook.status(), 200);
            let ack: Value = hook.json().await.expect("json");
            if !ack["order_identifier"].is_null() {
                assert_eq!(ack["order_identifier"], identifier);
            }
        }
        let orders = count(
            &pool,
            &format!(
                "SELECT count(*) FROM swa_checkout_session s JOIN order_order o ON o.id = s.order_id \
                 WHERE s.session_id = '{session_id}'"
            ),
        )
        .await;
        assert_eq!(orders, 1, "iteration {i}");
    }
    assert_eq!(
        count(&pool, "SELECT count(*) FROM order_order").await,
        ITERATIONS as i64
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM order_order_payment").await,
        ITERATIONS as i64
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM order_order_status").await,
        ITERATIONS as i64
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM swa_email_outbox WHERE kind = 'order-confirmation'"
        )
        .await,
        ITERATIONS as i64
    );
    let mails = sink.wait_for(ITERATIONS, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), mails.len());
    assert_eq!(mails.len(), ITERATIONS, "one confirmation per order");
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn webhook_signatures_are_checked_before_anything_else(pool: PgPool) {
    let stripe = FakeStripe::start().await;
    let mut config = startupwebapp_tests::test_config();
    let mut settings = stripe.settings();
    // Two secrets during a rotation.
    settings.webhook_secrets = vec![
        startupwebapp::config::Secret::new("whsec_old_secret"),
        startupwebapp::config::Secret::new(WEBHOOK_SECRET),
    ];
    config.stripe = Some(settings);
    let app = spawn_app_with(config, pool.clone()).await;
    let body = event("evt_sig", "customer.created", json!({"id": "cus_1"}));

    let missing = deliver(&app, &body, None).await;
    assert_eq!(missing.status(), 400);
    assert_eq!(
        missing.json::<Value>().await.expect("json"),
        json!({"error": "invalid-signature"})
    );
    let wrong = deliver(
        &app,
        &body,
        Some(stripe_signature::header("whsec_x", now(), &body)),
    )
    .await;
    assert_eq!(wrong.status(), 400);
    let stale = deliver(
        &app,
        &body,
        Some(stripe_signature::header(WEBHOOK_SECRET, now() - 301, &body)),
    )
    .await;
    assert_eq!(stale.status(), 400);
    let altered = deliver(
        &app,
        b"{\"id\": \"evt_other\"}",
        Some(stripe_signature::header(WEBHOOK_SECRET, now(), &body)),
    )
    .await;
    assert_eq!(altered.status(), 400);
    for secret in ["whsec_old_secret", WEBHOOK_SECRET] {
        let ok = deliver(
            &app,
            &body,
            Some(stripe_signature::header(secret, now(), &body)),
        )
        .await;
        assert_eq!(ok.status(), 200, "{secret}");
    }
    let not_json = b"not json";
    let bad = deliver(
        &app,
        not_json,
        Some(stripe_signature::header(WEBHOOK_SECRET, now(), not_json)),
    )
    .await;
    assert_eq!(
        bad.json::<Value>().await.expect("json"),
        json!({"error": "invalid-payload"})
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM swa_stripe_event").await,
        1
    );
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn prices_go_to_stripe_in_exact_cents(pool: PgPool) {
    let Shop { app, stripe, .. } = shop(&pool).await;
    for (sku, price) in [(1, "19.99"), (2, "0.29"), (4, "1.15"), (5, "2.01")] {
        sqlx::query(
            "INSERT INTO order_sku_price (sku_id, price, created_date_time) \
             VALUES ($1, $2::numeric, now())",
        )
        .bind(sku)
        .bind(price)
        .execute(&pool)
        .await
        .expect("price");
        add(&app, &sku.to_string(), "1").await;
    }
    let created = app
        .post_json(
            "/order/create-checkout-session",
            &[("agree_to_terms_of_sale", "true")],
        )
        .await;
    assert_eq!(
        created["create_checkout_session"],
        json!("success"),
        "{created}"
    );
    let params = &stripe.create_requests()[0].params;
    let amounts: Vec<&Value> = (0..4)
        .map(|i| &params["line_items"][i]["price_data"]["unit_amount"])
        .collect();
    assert_eq!(amounts, vec!["1999", "29", "115", "201"]);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn checkout_errors_use_the_legacy_codes(pool: PgPool) {
    let Shop { app, stripe, .. } = shop(&pool).await;
    let no_cart = app
        .post_json(
            "/order/create-checkout-session",
            &[("agree_to_terms_of_sale", "true")],
        )
        .await;
    assert_eq!(no_cart["errors"]["error"], json!("cart-not-found"));
    add(&app, "1", "1").await;
    stripe.fail_next(1, 500);
    let failed = app
        .post_json(
            "/order/create-checkout-session",
            &[("agree_to_terms_of_sale", "true")],
        )
        .await;
    assert_eq!(failed["create_checkout_session"], json!("error"));
    assert_eq!(failed["errors"]["error"], json!("stripe-error"));
    assert!(failed["errors"]["description"].is_string());
    let missing = app.get_json("/order/checkout-session-success").await;
    assert_eq!(missing["errors"]["error"], json!("session-id-required"));
    let unknown = app
        .get_json("/order/checkout-session-success?session_id=cs_test_unknown")
        .await;
    assert_eq!(unknown["errors"]["error"], json!("invalid-session"));
    sqlx::query("UPDATE order_configuration SET string_value = 'somebody' WHERE key = 'an_ct_values_allowed_to_checkout'")
        .execute(&pool)
        .await
        .expect("close the gate");
    let gated = app
        .post_json(
            "/order/create-checkout-session",
            &[("agree_to_terms_of_sale", "true")],
        )
        .await;
    assert_eq!(gated["errors"]["error"], json!("checkout-not-allowed"));
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn promotion_codes_and_free_orders_record_what_was_paid(pool: PgPool) {
    let Shop { app, stripe, .. } = shop(&pool).await;
    let session_id = checkout(&app, Some("promo@example.com")).await;
    stripe.complete(
        &session_id,
        Completion {
            amount_discount: 500,
            ..Completion::default()
        },
    );
    let success = app
        .get_json(&format!(
            "/order/checkout-session-success?session_id={session_id}"
        ))
        .await;
    let identifier = success["order_identifier"].as_str().expect("id").to_owned();
    let detail = app.get_json(&format!("/order/{identifier}")).await;
    assert_eq!(
        detail["order_data"]["order_totals"]["order_total"],
        json!("11.56")
    );
    let kept: (i64, i64, i64) = sqlx::query_as(
        "SELECT cart_total_cents, amount_total_cents, amount_discount_cents FROM swa_checkout_session",
    )
    .fetch_one(&pool)
    .await
    .expect("session row");
    assert_eq!(kept, (1656, 1156, 500));

    let free_buyer = app.second_browser();
    let free_id = checkout(&free_buyer, Some("free@example.com")).await;
    stripe.complete(
        &free_id,
        Completion {
            payment_status: "no_payment_required".into(),
            amount_discount: 1656,
            ..Completion::default()
        },
    );
    let free = free_buyer
        .get_json(&format!(
            "/order/checkout-session-success?session_id={free_id}"
        ))
        .await;
    assert_eq!(free["checkout_session_success"], json!("success"), "{free}");
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn an_order_stands_when_its_email_cannot_be_sent(pool: PgPool) {
    let stripe = FakeStripe::start().await;
    let sink = SmtpSink::start_failing().await;
    let mut config = config_with_smtp(sink.port());
    config.stripe = Some(stripe.settings());
    let app = spawn_app_with(config, pool.clone()).await;
    let session_id = checkout(&app, Some("unlucky@example.com")).await;
    stripe.complete(&session_id, Completion::default());
    let success = app
        .get_json(&format!(
            "/order/checkout-session-success?session_id={session_id}"
        ))
        .await;
    assert_eq!(success["checkout_session_success"], json!("success"));
    // Retried, then given up: one failure row for operators.
    let mut failures = 0;
    for _ in 0..200 {
        failures = count(&pool, "SELECT count(*) FROM order_order_email_failure").await;
        if failures > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(failures, 1);
    assert!(sink.rejected() >= 3, "every attempt reached SMTP");
    let (kind, member): (String, bool) =
        sqlx::query_as("SELECT failure_type, is_member_order FROM order_order_email_failure")
            .fetch_one(&pool)
            .await
            .expect("failure row");
    assert_eq!((kind.as_str(), member), ("smtp_send", false));
    assert_eq!(count(&pool, "SELECT count(*) FROM order_order").await, 1);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn the_remaining_error_codes_are_the_contract_s(pool: PgPool) {
    let Shop { app, stripe, .. } = shop(&pool).await;

    // An empty cart (its only line removed) cannot check out.
    add(&app, "1", "1").await;
    app.post_json("/order/cart-remove-sku", &[("sku_id", "1")])
        .await;
    let empty = app
        .post_json(
            "/order/create-checkout-session",
            &[("agree_to_terms_of_sale", "true")],
        )
        .await;
    assert_eq!(empty["errors"]["error"], json!("cart-is-empty"), "{empty}");

    // The anonymous email step.
    let missing = app
        .post_json("/order/anonymous-email-address-payment-lookup", &[])
        .await;
    assert_eq!(
        missing["errors"]["error"],
        json!("anonymous-email-address-required")
    );
    register(
        &app.second_browser(),
        "existing_member",
        "member@example.com",
    )
    .await;
    let taken = app
        .post_json(
            "/order/anonymous-email-address-payment-lookup",
            &[("anonymous_email_address", "MEMBER@example.com")],
        )
        .await;
    assert_eq!(
        taken["errors"]["error"],
        json!("email-address-is-associated-with-member")
    );
    assert!(
        taken["errors"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("login"))
    );

    // Webhooks for sessions that cannot become an order.
    let buyer = app.second_browser();
    let session_id = checkout(&buyer, Some("w@example.com")).await;
    let mut object = stripe.complete(&session_id, Completion::default());
    object["metadata"] = json!({});
    let no_cart_id = signed(
        &app,
        &event("evt_nocart", "checkout.session.completed", object.clone()),
    )
    .await;
    assert_eq!(no_cart_id.status(), 400);
    assert_eq!(
        no_cart_id.json::<Value>().await.expect("json"),
        json!({"error": "no-cart-id"})
    );
    object["metadata"] = json!({"cart_id": "999999"});
    let gone = signed(
        &app,
        &event("evt_gone", "checkout.session.completed", object),
    )
    .await;
    assert_eq!(gone.status(), 400);
    assert_eq!(
        gone.json::<Value>().await.expect("json"),
        json!({"error": "cart-not-found"})
    );
    // An unpaid (delayed) completion waits for async_payment_succeeded.
    let pending = stripe.complete(
        &session_id,
        Completion {
            payment_status: "unpaid".into(),
            ..Completion::default()
        },
    );
    let waiting = signed(
        &app,
        &event("evt_pending", "checkout.session.completed", pending),
    )
    .await;
    assert_eq!(waiting.status(), 200);
    assert_eq!(count(&pool, "SELECT count(*) FROM order_order").await, 0);
    let paid = stripe.complete(&session_id, Completion::default());
    let settled = signed(
        &app,
        &event(
            "evt_paid_later",
            "checkout.session.async_payment_succeeded",
            paid,
        ),
    )
    .await;
    assert_eq!(settled.status(), 200);
    assert_eq!(count(&pool, "SELECT count(*) FROM order_order").await, 1);
    let expired = signed(
        &app,
        &event(
            "evt_expired",
            "checkout.session.expired",
            json!({"id": "cs_x"}),
        ),
    )
    .await;
    assert_eq!(expired.status(), 200);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn an_order_email_queued_while_smtp_is_down_arrives_once_it_is_back(pool: PgPool) {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        listener.local_addr().expect("addr").port()
    };
    let stripe = FakeStripe::start().await;
    let mut config = config_with_smtp(port);
    config.stripe = Some(stripe.settings());
    config.email_delivery.max_attempts = 50;
    let app = spawn_app_with(config, pool.clone()).await;
    let session_id = checkout(&app, Some("later@example.com")).await;
    stripe.complete(&session_id, Completion::default());
    let success = app
        .get_json(&format!(
            "/order/checkout-session-success?session_id={session_id}"
        ))
        .await;
    assert_eq!(success["checkout_session_success"], json!("success"));
    let mut attempts = 0;
    for _ in 0..100 {
        attempts = count(
            &pool,
            "SELECT COALESCE(max(attempts), 0)::int8 FROM swa_email_outbox",
        )
        .await;
        if attempts > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(attempts > 0, "tried while SMTP was down");
    let sink = SmtpSink::start_on(port).await;
    let mails = sink.wait_for(1, WAIT).await;
    assert_eq!(mails[0].envelope_to, vec!["later@example.com".to_owned()]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.messages().len(), 1, "delivered once");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM order_order_email_failure").await,
        0
    );
}
