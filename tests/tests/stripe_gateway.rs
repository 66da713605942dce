//! `StripeGateway` (async-stripe) against the fake Stripe: the exact form
//! parameters of a Checkout Session (contract api-order.md §4.19), the
//! idempotency header, reading a completed session into `CheckoutFacts`
//! (§6.2), and how Stripe's failures are classified.

use std::time::Duration;

use serde_json::json;
use startupwebapp::domain::checkout::PostalAddress;
use startupwebapp::integrations::stripe::{
    LineItem, NewCheckoutSession, StripeError, StripeGateway,
};
use startupwebapp_tests::fake_stripe::{Completion, FakeAddress, FakeStripe, SECRET_KEY};

fn item(name: &str, cents: i64, quantity: u64) -> LineItem {
    LineItem {
        name: name.to_owned(),
        description: Some(format!("{name} - Large")),
        image_url: Some(format!("https://cdn.example.com/{cents}.png")),
        unit_amount_cents: cents,
        quantity,
    }
}

fn cart_session(line_items: Vec<LineItem>, customer_email: Option<&str>) -> NewCheckoutSession {
    NewCheckoutSession {
        line_items,
        success_url: "http://localhost:8080/checkout/success?session_id={CHECKOUT_SESSION_ID}"
            .to_owned(),
        cancel_url: "http://localhost:8080/checkout/confirm".to_owned(),
        customer_email: customer_email.map(str::to_owned),
        cart_id: 7,
    }
}

async fn gateway(fake: &FakeStripe) -> StripeGateway {
    StripeGateway::new(&fake.settings()).expect("a Stripe client for the fake")
}

#[tokio::test]
async fn the_session_is_created_with_the_contract_parameters_in_exact_cents() {
    let fake = FakeStripe::start().await;
    let stripe = gateway(&fake).await;
    let mut shipping = item("Shipping", 201, 1);
    shipping.description = Some("Standard Shipping".to_owned());
    shipping.image_url = None;
    let new = cart_session(
        vec![
            item("Paper Clips", 1999, 2),
            item("Pin", 29, 3),
            item("Tape", 115, 1),
            shipping,
        ],
        Some("jane@example.com"),
    );

    let created = stripe
        .create_checkout_session(&new, "cart-7-attempt-1")
        .await
        .expect("session created");

    assert!(created.id.starts_with("cs_test_"), "{created:?}");
    assert_eq!(
        created.url,
        format!("https://checkout.stripe.com/c/pay/{}", created.id)
    );
    let requests = fake.create_requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.idempotency_key(), Some("cart-7-attempt-1"));
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {SECRET_KEY}").as_str())
    );
    assert_eq!(
        sent.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let p = &sent.params;
    assert_eq!(p["mode"], "payment");
    for (i, (name, cents, quantity)) in [
        ("Paper Clips", "1999", "2"),
        ("Pin", "29", "3"),
        ("Tape", "115", "1"),
        ("Shipping", "201", "1"),
    ]
    .into_iter()
    .enumerate()
    {
        let line = &p["line_items"][i];
        assert_eq!(line["price_data"]["currency"], "usd", "line {i}");
        assert_eq!(line["price_data"]["unit_amount"], cents, "line {i}");
        assert_eq!(line["price_data"]["product_data"]["name"], name, "line {i}");
        assert_eq!(line["quantity"], quantity, "line {i}");
    }
    assert_eq!(
        sent.param("line_items[0][price_data][product_data][images][0]"),
        Some("https://cdn.example.com/1999.png")
    );
    assert_eq!(
        sent.param("line_items[0][price_data][product_data][description]"),
        Some("Paper Clips - Large")
    );
    assert_eq!(
        p["line_items"][3]["price_data"]["product_data"],
        json!({"name": "Shipping", "description": "Standard Shipping"}),
        "no images key when there is no image"
    );
    assert_eq!(p["line_items"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        p["success_url"],
        "http://localhost:8080/checkout/success?session_id={CHECKOUT_SESSION_ID}"
    );
    assert_eq!(p["cancel_url"], "http://localhost:8080/checkout/confirm");
    assert_eq!(p["allow_promotion_codes"], "true");
    assert_eq!(p["billing_address_collection"], "required");
    assert_eq!(
        p["shipping_address_collection"]["allowed_countries"],
        json!(["US", "CA"])
    );
    assert_eq!(p["phone_number_collection"]["enabled"], "true");
    assert_eq!(p["metadata"], json!({"cart_id": "7"}));
    assert_eq!(p["customer_email"], "jane@example.com");
    let keys: Vec<&String> = p.as_object().expect("an object").keys().collect();
    for absent in [
        "client_reference_id",
        "shipping_options",
        "automatic_tax",
        "expires_at",
        "locale",
        "customer",
    ] {
        assert!(
            !keys.iter().any(|k| *k == absent),
            "{absent} sent: {keys:?}"
        );
    }

    // The fake totals what was sent: 2×1999 + 3×29 + 115 + 201.
    let session = fake.session_json(&created.id);
    assert_eq!(session["amount_subtotal"], 4401);
    assert_eq!(session["amount_total"], 4401);
}

#[tokio::test]
async fn no_customer_email_is_sent_when_there_is_none() {
    let fake = FakeStripe::start().await;
    let stripe = gateway(&fake).await;
    stripe
        .create_checkout_session(&cart_session(vec![item("Pin", 29, 1)], None), "k-none")
        .await
        .expect("session created");
    stripe
        .create_checkout_session(&cart_session(vec![item("Pin", 29, 1)], Some("")), "k-empty")
        .await
        .expect("session created");
    for request in fake.create_requests() {
        assert!(
            request.params.get("customer_email").is_none(),
            "{:?}",
            request.body
        );
    }
}

#[tokio::test]
async fn the_same_idempotency_key_gives_the_same_session() {
    let fake = FakeStripe::start().await;
    let stripe = gateway(&fake).await;
    let new = cart_session(vec![item("Pin", 29, 2)], Some("a@example.com"));
    let first = stripe
        .create_checkout_session(&new, "cart-7-v1")
        .await
        .expect("first");
    let again = stripe
        .create_checkout_session(&new, "cart-7-v1")
        .await
        .expect("replay");
    let other = stripe
        .create_checkout_session(&new, "cart-7-v2")
        .await
        .expect("another key");
    assert_eq!(first, again);
    assert_ne!(first.id, other.id);
    assert_eq!(fake.session_count(), 2);
    let keys: Vec<Option<String>> = fake
        .create_requests()
        .iter()
        .map(|r| r.idempotency_key().map(str::to_owned))
        .collect();
    assert_eq!(
        keys,
        ["cart-7-v1", "cart-7-v1", "cart-7-v2"].map(|k| Some(k.to_owned()))
    );

    // Stripe refuses a key reused with other parameters.
    let changed = cart_session(vec![item("Pin", 29, 3)], Some("a@example.com"));
    let err = stripe
        .create_checkout_session(&changed, "cart-7-v1")
        .await
        .expect_err("key reused with other parameters");
    assert!(matches!(err, StripeError::InvalidRequest(_)), "{err:?}");
}

#[tokio::test]
async fn a_completed_session_is_read_into_checkout_facts() {
    let fake = FakeStripe::start().await;
    let stripe = gateway(&fake).await;
    let created = stripe
        .create_checkout_session(
            &cart_session(vec![item("Paper Clips", 2999, 2)], None),
            "k1",
        )
        .await
        .expect("created");

    let open = stripe
        .retrieve_checkout_session(&created.id)
        .await
        .expect("open session");
    assert_eq!(open.payment_status, "unpaid");
    assert!(!open.is_settled());
    assert_eq!(open.payment_intent, None);
    assert_eq!(open.shipping, None);
    assert_eq!(open.cart_id.as_deref(), Some("7"));

    let completed = fake.complete(
        &created.id,
        Completion {
            amount_discount: 600,
            ..Completion::default()
        },
    );
    let facts = stripe
        .retrieve_checkout_session(&created.id)
        .await
        .expect("completed session");
    assert_eq!(facts.session_id, created.id);
    assert_eq!(facts.payment_status, "paid");
    assert!(facts.is_settled());
    assert_eq!(
        facts.payment_intent.as_deref(),
        completed["payment_intent"].as_str()
    );
    assert!(
        facts
            .payment_intent
            .as_deref()
            .is_some_and(|p| p.starts_with("pi_"))
    );
    assert_eq!(facts.amount_total, Some(5998 - 600));
    assert_eq!(facts.amount_discount, Some(600));
    assert_eq!(facts.customer_email.as_deref(), Some("jane@example.com"));
    assert_eq!(facts.customer_name.as_deref(), Some("Jane Doe"));
    assert_eq!(
        facts.billing,
        PostalAddress {
            name: Some("Jane Doe".to_owned()),
            line1: Some("1 Main St".to_owned()),
            city: Some("Springfield".to_owned()),
            state: Some("IL".to_owned()),
            postal_code: Some("62701".to_owned()),
            country: Some("US".to_owned()),
        }
    );
    assert_eq!(
        facts.shipping,
        Some(PostalAddress {
            name: Some("John Doe".to_owned()),
            line1: Some("9 Elm St".to_owned()),
            city: Some("Shelbyville".to_owned()),
            state: Some("IL".to_owned()),
            postal_code: Some("62565".to_owned()),
            country: Some("US".to_owned()),
        })
    );
    assert_eq!(facts.cart_id.as_deref(), Some("7"));

    // The webhook path reads the same object with `CheckoutFacts::from_json`.
    let from_json =
        startupwebapp::domain::checkout::CheckoutFacts::from_json(&fake.session_json(&created.id))
            .expect("the fake's object parses");
    assert_eq!(from_json, facts);
}

#[tokio::test]
async fn the_session_email_wins_and_free_sessions_have_no_payment_intent() {
    let fake = FakeStripe::start().await;
    let stripe = gateway(&fake).await;
    let created = stripe
        .create_checkout_session(
            &cart_session(vec![item("Pin", 29, 1)], Some("member@example.com")),
            "k1",
        )
        .await
        .expect("created");
    fake.complete(
        &created.id,
        Completion {
            payment_status: "no_payment_required".to_owned(),
            customer_email: Some("typed@example.com".to_owned()),
            customer_name: None,
            billing_address: Some(FakeAddress {
                country: Some("CA".to_owned()),
                ..FakeAddress::default()
            }),
            shipping: None,
            amount_discount: 29,
        },
    );
    let facts = stripe
        .retrieve_checkout_session(&created.id)
        .await
        .expect("completed");
    assert!(facts.is_settled());
    assert_eq!(facts.payment_status, "no_payment_required");
    assert_eq!(facts.payment_intent, None);
    assert_eq!(facts.amount_total, Some(0));
    assert_eq!(facts.customer_email.as_deref(), Some("member@example.com"));
    assert_eq!(facts.customer_name, None);
    assert_eq!(facts.billing.country.as_deref(), Some("CA"));
    assert_eq!(facts.shipping, None);
}

#[tokio::test]
async fn an_unknown_session_is_not_found_with_stripes_message() {
    let fake = FakeStripe::start().await;
    let stripe = gateway(&fake).await;
    let err = stripe
        .retrieve_checkout_session("cs_x")
        .await
        .expect_err("no such session");
    match &err {
        StripeError::NotFound(message) => {
            assert_eq!(message, "No such checkout.session: 'cs_x'")
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(err.safe_description(), "No such checkout.session: 'cs_x'");
    let request = fake.requests().pop().expect("a request was made");
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/v1/checkout/sessions/cs_x");

    // An id that would change the path never reaches Stripe.
    let err = stripe
        .retrieve_checkout_session("cs_x/line_items")
        .await
        .expect_err("not a session id");
    assert!(matches!(err, StripeError::NotFound(_)), "{err:?}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_stripe_outage_is_unavailable_with_a_generic_description() {
    let fake = FakeStripe::start().await;
    let stripe = gateway(&fake).await;
    let new = cart_session(vec![item("Pin", 29, 1)], None);

    fake.fail_next(1, 500);
    let err = stripe
        .create_checkout_session(&new, "k-500")
        .await
        .expect_err("Stripe answered 500");
    assert!(matches!(err, StripeError::Unavailable(_)), "{err:?}");
    assert!(err.is_transient());
    let description = err.safe_description();
    assert!(description.contains("try again"), "{description}");
    assert!(!description.contains("sk_"), "{description}");
    assert_eq!(fake.session_count(), 0);
    assert_eq!(fake.requests().len(), 1, "one attempt, no silent retries");

    fake.fail_next(1, 503);
    let err = stripe
        .retrieve_checkout_session("cs_anything")
        .await
        .expect_err("Stripe answered 503");
    assert!(matches!(err, StripeError::Unavailable(_)), "{err:?}");

    // After the outage the same key creates the session.
    let created = stripe
        .create_checkout_session(&new, "k-500")
        .await
        .expect("Stripe is back");
    assert!(created.id.starts_with("cs_test_"));
}

#[tokio::test]
async fn a_hung_stripe_times_out_as_unavailable() {
    let fake = FakeStripe::start().await;
    let stripe = gateway(&fake)
        .await
        .with_timeout(Duration::from_millis(300));
    let new = cart_session(vec![item("Pin", 29, 1)], None);
    fake.delay(Duration::from_secs(5));

    let started = std::time::Instant::now();
    let err = stripe
        .create_checkout_session(&new, "k-slow")
        .await
        .expect_err("no answer in time");
    assert!(matches!(err, StripeError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let err = stripe
        .retrieve_checkout_session("cs_slow")
        .await
        .expect_err("no answer in time");
    assert!(matches!(err, StripeError::Unavailable(_)), "{err:?}");

    // Stripe did create the session; retrying with the key finds it.
    fake.delay(Duration::ZERO);
    let created = stripe
        .create_checkout_session(&new, "k-slow")
        .await
        .expect("answered now");
    assert_eq!(fake.session_count(), 1);
    assert!(fake.session_json(&created.id)["id"] == created.id.as_str());
}

#[tokio::test]
async fn an_unreachable_stripe_is_unavailable() {
    // Bind then drop a listener: nothing accepts on that port now.
    let port = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        listener.local_addr().expect("address").port()
    };
    let fake = FakeStripe::start().await;
    let mut settings = fake.settings();
    settings.api_base = Some(format!("http://127.0.0.1:{port}"));
    let stripe = StripeGateway::new(&settings).expect("client");
    let err = stripe
        .retrieve_checkout_session("cs_x")
        .await
        .expect_err("connection refused");
    assert!(matches!(err, StripeError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn a_rejected_key_is_not_shown_to_the_storefront() {
    let fake = FakeStripe::start().await;
    let mut settings = fake.settings();
    settings.secret_key = startupwebapp::config::Secret::new("pk_test_wrong_kind_of_key");
    let stripe = StripeGateway::new(&settings).expect("client");
    let err = stripe
        .retrieve_checkout_session("cs_x")
        .await
        .expect_err("401");
    assert!(matches!(err, StripeError::Unexpected(_)), "{err:?}");
    assert!(err.safe_description().contains("try again"));
}
