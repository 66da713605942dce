//! Carts, the checkout gate and the confirm pages, over HTTP against a real
//! PostgreSQL, for anonymous visitors and members (contract api-order.md
//! §1.5, §1.6, §3, §4.5–4.16).

use futures_util::future::join_all;
use serde_json::{Value, json};
use sqlx::PgPool;
use startupwebapp_tests::{TestApp, create_member, spawn_app};

const SKU1_LINE: &str = r#"{"sku_id": 1, "sku_type__title": "product", "sku_inventory__title": "In Stock",
  "sku_inventory__identifier": "in-stock", "color": "Silver", "size": "Medium",
  "description": "Left Sided Paperclip", "price": "3.50", "quantity": 2,
  "parent_product__title": "Paper Clips", "parent_product__title_url": "PaperClips",
  "parent_product__identifier": "bSusp6dBHm", "sku_image_url": "/img/product/paper_clip_left_2.jpg"}"#;

fn seed_methods() -> Value {
    json!({
        "0": {"identifier": "USPSPriorityMail2Day", "carrier": "USPS Priority Mail 2-Day", "shipping_cost": "13.65",
              "tracking_code_base_url": "https://tools.usps.com/go/TrackConfirmAction.action?tRef=fullpage&tLc=1&text28777=&tLabels="},
        "1": {"identifier": "UPSGround", "carrier": "UPS Ground", "shipping_cost": "11.34",
              "tracking_code_base_url": "https://wwwapps.ups.com/WebTracking/track?&track.x=Track&trackNums="},
        "2": {"identifier": "FedExGround", "carrier": "FedEx Ground", "shipping_cost": "10.85",
              "tracking_code_base_url": "https://www.fedex.com/apps/fedextrack/?action=track&cntry_code=us&trackingnumber="},
        "3": {"identifier": "USPSRetailGround", "carrier": "USPS Retail Ground", "shipping_cost": "9.56",
              "tracking_code_base_url": "https://tools.usps.com/go/TrackConfirmAction.action?tRef=fullpage&tLc=1&text28777=&tLabels="},
    })
}

async fn carts_in_db(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM order_cart")
        .fetch_one(pool)
        .await
        .expect("count carts")
}

/// client-contract §3 flow 1 and the confirm page of flow 2, call by call:
/// products → product → token → add → cart page (items, shipping methods,
/// totals) → quantity → shipping choice → confirm page → remove → delete.
async fn storefront_cart_flow(app: &TestApp, pool: &PgPool, anonymous: bool) {
    let products = app.get_json("/order/products").await;
    assert!(
        products.to_string().contains("bSusp6dBHm"),
        "Paper Clips listed"
    );
    let product = app.get_json("/order/product/bSusp6dBHm").await;
    assert!(
        product.to_string().contains("Left Sided Paperclip"),
        "SKU 1 on its product page"
    );
    app.fetch_csrf_token().await;

    let empty = app.get_json("/order/cart-items").await;
    assert_eq!(
        empty,
        json!({"cart_found": false, "item_data": {}, "order-api-version": "0.0.1"})
    );

    let added = app
        .post_form(
            "/order/cart-add-product-sku",
            &[("sku_id", "1"), ("quantity", "2")],
        )
        .await;
    assert_eq!(added.status(), 200);
    let set_cookie: Vec<String> = added
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .filter(|c| c.starts_with("an_ct="))
        .collect();
    if anonymous {
        assert_eq!(set_cookie.len(), 1, "one an_ct cookie: {set_cookie:?}");
        let attrs = set_cookie[0].to_ascii_lowercase();
        assert!(
            attrs.contains("max-age=31536000")
                && attrs.contains("path=/")
                && attrs.contains("expires="),
            "{attrs}"
        );
        assert!(
            !attrs.contains("httponly") && !attrs.contains("secure") && !attrs.contains("samesite"),
            "{attrs}"
        );
    } else {
        assert!(set_cookie.is_empty(), "members get no an_ct cookie");
    }
    let body: Value = added.json().await.expect("json");
    assert_eq!(
        body,
        json!({"cart_add_product_sku": "success", "sku_id": "1", "cart_item_count": 1, "order-api-version": "0.0.1"})
    );

    let items = app.get_json("/order/cart-items").await;
    let line: Value = serde_json::from_str(SKU1_LINE).expect("fixture");
    assert_eq!(
        items,
        json!({"cart_found": true, "item_data": {"product_sku_data": {"0": line}}, "order-api-version": "0.0.1"})
    );

    let methods = app.get_json("/order/cart-shipping-methods").await;
    assert_eq!(
        methods,
        json!({"cart_found": true, "cart_shipping_methods": seed_methods(),
               "shipping_method_selected": "USPSRetailGround", "order-api-version": "0.0.1"})
    );

    let totals = app.get_json("/order/cart-totals").await;
    assert_eq!(
        totals,
        json!({"cart_found": true,
               "cart_totals_data": {"item_subtotal": "7.00", "shipping_subtotal": "9.56", "cart_total": "16.56"},
               "order-api-version": "0.0.1"})
    );

    let updated = app
        .post_json(
            "/order/cart-update-sku-quantity",
            &[("sku_id", "1"), ("quantity", "3")],
        )
        .await;
    assert_eq!(
        updated,
        json!({"cart_update_sku_quantity": "success", "cart_found": true, "sku_id": "1", "sku_subtotal": "10.50",
               "cart_totals_data": {"item_subtotal": "10.50", "shipping_subtotal": "9.56", "cart_total": "20.06"},
               "order-api-version": "0.0.1"})
    );

    let shipping = app
        .post_json(
            "/order/cart-update-shipping-method",
            &[("shipping_method_identifier", "UPSGround")],
        )
        .await;
    assert_eq!(
        shipping,
        json!({"cart_update_shipping_method": "success", "cart_found": true, "shipping_method_identifier": "UPSGround",
               "cart_totals_data": {"item_subtotal": "10.50", "shipping_subtotal": "11.34", "cart_total": "21.84"},
               "order-api-version": "0.0.1"})
    );

    assert_eq!(
        app.get_json("/order/checkout-allowed").await,
        json!({"checkout_allowed": true, "order-api-version": "0.0.1"})
    );
    let confirm_items = app.get_json("/order/confirm-items").await;
    assert_eq!(confirm_items["checkout_allowed"], true);
    assert_eq!(confirm_items["cart_found"], true);
    assert_eq!(
        confirm_items["item_data"]["product_sku_data"]["0"]["quantity"],
        3
    );
    let confirm_shipping = app.get_json("/order/confirm-shipping-method").await;
    assert_eq!(
        confirm_shipping,
        json!({"checkout_allowed": true, "cart_found": true,
               "confirm_shipping_method": {"identifier": "UPSGround", "carrier": "UPS Ground", "shipping_cost": "11.34",
                   "tracking_code_base_url": "https://wwwapps.ups.com/WebTracking/track?&track.x=Track&trackNums="},
               "order-api-version": "0.0.1"})
    );
    let confirm_totals = app.get_json("/order/confirm-totals").await;
    assert_eq!(confirm_totals["confirm_totals_data"]["cart_total"], "21.84");

    // Removing a line resets the shipping selection.
    let removed = app
        .post_json("/order/cart-remove-sku", &[("sku_id", "1")])
        .await;
    assert_eq!(
        removed,
        json!({"cart_remove_sku": "success", "cart_found": true, "sku_id": "1", "cart_item_count": 0,
               "cart_shipping_methods": seed_methods(), "shipping_method_selected": null,
               "cart_totals_data": {"item_subtotal": "0.00", "shipping_subtotal": "0.00", "cart_total": "0.00"},
               "order-api-version": "0.0.1"})
    );
    let selections: i64 = sqlx::query_scalar("SELECT count(*) FROM order_cart_shipping_method")
        .fetch_one(pool)
        .await
        .expect("count");
    assert_eq!(selections, 0);

    let deleted = app.post_json("/order/cart-delete-cart", &[]).await;
    assert_eq!(
        deleted,
        json!({"cart_delete_cart": "success", "order-api-version": "0.0.1"})
    );
    assert_eq!(carts_in_db(pool).await, 0);
    let again = app.post_json("/order/cart-delete-cart", &[]).await;
    assert_eq!(
        again,
        json!({"cart_delete_cart": "error", "errors": {"error": "cart-not-found"}, "order-api-version": "0.0.1"})
    );
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn anonymous_visitor_goes_from_browsing_to_confirm_and_back_to_empty(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    storefront_cart_flow(&app, &pool, true).await;
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn member_goes_from_browsing_to_confirm_and_back_to_empty(pool: PgPool) {
    let (user_id, _) = create_member(&pool, "flow_member").await;
    let app = spawn_app(pool.clone()).await;
    app.log_in_as(&pool, user_id).await;
    storefront_cart_flow(&app, &pool, false).await;
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn add_errors_have_the_legacy_shapes_and_create_no_cart(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let cases: Vec<(Vec<(&str, &str)>, Value)> = vec![
        (
            vec![("quantity", "1")],
            json!({"cart_add_product_sku": "error", "errors": {"error": "sku-id-required"}, "sku_id": null, "order-api-version": "0.0.1"}),
        ),
        (
            vec![("sku_id", "1"), ("quantity", "100")],
            json!({"cart_add_product_sku": "error",
                   "errors": {"quantity": [[{"type": "out_of_range", "description": "The value provided is out of range."}]]},
                   "sku_id": "1", "order-api-version": "0.0.1"}),
        ),
        (
            vec![("sku_id", "1"), ("quantity", "1.0")],
            json!({"cart_add_product_sku": "error",
                   "errors": {"quantity": [[{"type": "not_an_int", "description": "The value provided is not an integer."}]]},
                   "sku_id": "1", "order-api-version": "0.0.1"}),
        ),
        (
            vec![("sku_id", "1")],
            json!({"cart_add_product_sku": "error",
                   "errors": {"quantity": [[{"type": "not_an_int", "description": "The value provided is not an integer."}]]},
                   "sku_id": "1", "order-api-version": "0.0.1"}),
        ),
        (
            vec![("sku_id", "3"), ("quantity", "1")],
            json!({"cart_add_product_sku": "error", "errors": {"error": "sku-not-found"}, "sku_id": "3", "order-api-version": "0.0.1"}),
        ),
        (
            vec![("sku_id", "abc"), ("quantity", "1")],
            json!({"cart_add_product_sku": "error", "errors": {"error": "sku-not-found"}, "sku_id": "abc", "order-api-version": "0.0.1"}),
        ),
    ];
    for (form, expected) in cases {
        let body = app.post_json("/order/cart-add-product-sku", &form).await;
        assert_eq!(body, expected, "{form:?}");
    }
    assert_eq!(
        carts_in_db(&pool).await,
        0,
        "a rejected add creates no cart"
    );
    assert!(app.cookie("an_ct").is_none());
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn quantities_accumulate_up_to_99_and_zero_removes_a_line(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    app.post_json(
        "/order/cart-add-product-sku",
        &[("sku_id", "1"), ("quantity", "2")],
    )
    .await;
    let second = app
        .post_json(
            "/order/cart-add-product-sku",
            &[("sku_id", "1"), ("quantity", "3")],
        )
        .await;
    assert_eq!(second["cart_item_count"], 1);
    let items = app.get_json("/order/cart-items").await;
    assert_eq!(items["item_data"]["product_sku_data"]["0"]["quantity"], 5);

    let over = app
        .post_json(
            "/order/cart-add-product-sku",
            &[("sku_id", "1"), ("quantity", "95")],
        )
        .await;
    assert_eq!(over["errors"]["quantity"][0][0]["type"], "out_of_range");
    let update_over = app
        .post_json(
            "/order/cart-update-sku-quantity",
            &[("sku_id", "1"), ("quantity", "-1")],
        )
        .await;
    assert_eq!(
        update_over["errors"]["quantity"][0][0]["type"],
        "out_of_range"
    );

    let zero = app
        .post_json(
            "/order/cart-update-sku-quantity",
            &[("sku_id", "1"), ("quantity", "0")],
        )
        .await;
    assert_eq!(zero["cart_update_sku_quantity"], "success");
    assert_eq!(zero["sku_subtotal"], "0.00");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM order_cart_sku")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(rows, 0, "quantity 0 removes the line");
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn edits_without_a_cart_or_line_report_the_legacy_codes(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let no_cart = app
        .post_json(
            "/order/cart-update-sku-quantity",
            &[("sku_id", "1"), ("quantity", "1")],
        )
        .await;
    assert_eq!(
        no_cart,
        json!({"cart_update_sku_quantity": "error", "errors": {"error": "cart-not-found"}, "order-api-version": "0.0.1"})
    );
    let no_cart = app
        .post_json("/order/cart-remove-sku", &[("sku_id", "1")])
        .await;
    assert_eq!(
        no_cart,
        json!({"cart_remove_sku": "error", "errors": {"error": "cart-not-found"}, "order-api-version": "0.0.1"})
    );
    let no_cart = app
        .post_json(
            "/order/cart-update-shipping-method",
            &[("shipping_method_identifier", "UPSGround")],
        )
        .await;
    assert_eq!(
        no_cart,
        json!({"cart_update_shipping_method": "error", "errors": {"error": "cart-not-found"}, "order-api-version": "0.0.1"})
    );

    app.post_json(
        "/order/cart-add-product-sku",
        &[("sku_id", "1"), ("quantity", "1")],
    )
    .await;
    let missing = app
        .post_json("/order/cart-update-sku-quantity", &[("quantity", "1")])
        .await;
    assert_eq!(
        missing,
        json!({"cart_update_sku_quantity": "error", "errors": {"error": "sku-id-required"}, "order-api-version": "0.0.1"})
    );
    let absent = app
        .post_json(
            "/order/cart-update-sku-quantity",
            &[("sku_id", "2"), ("quantity", "1")],
        )
        .await;
    assert_eq!(
        absent,
        json!({"cart_update_sku_quantity": "error", "errors": {"error": "cart-sku-not-found"}, "sku_id": "2", "order-api-version": "0.0.1"})
    );
    let absent = app
        .post_json("/order/cart-remove-sku", &[("sku_id", "zz")])
        .await;
    assert_eq!(
        absent,
        json!({"cart_remove_sku": "error", "errors": {"error": "cart-sku-not-found"}, "sku_id": "zz", "order-api-version": "0.0.1"})
    );
    let missing = app
        .post_json("/order/cart-update-shipping-method", &[])
        .await;
    assert_eq!(
        missing,
        json!({"cart_update_shipping_method": "error", "errors": {"error": "shipping-method-identifier-required"}, "order-api-version": "0.0.1"})
    );
    let unknown = app
        .post_json(
            "/order/cart-update-shipping-method",
            &[("shipping_method_identifier", "Teleport")],
        )
        .await;
    assert_eq!(
        unknown,
        json!({"cart_update_shipping_method": "error", "errors": {"error": "error-setting-cart-shipping-method"},
                               "shipping_method_identifier": "Teleport", "order-api-version": "0.0.1"})
    );
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn state_changes_need_post_with_the_csrf_token(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let form = [("sku_id", "1"), ("quantity", "1")];

    let no_cookie = app
        .client
        .post(app.url("/order/cart-add-product-sku"))
        .form(&form)
        .send()
        .await
        .expect("post");
    assert_eq!(no_cookie.status(), 403);
    let body: Value = no_cookie.json().await.expect("json");
    assert_eq!(body["errors"]["error"], "csrf-failed");

    let secret = app.fetch_csrf_token().await;
    let no_header = app
        .client
        .post(app.url("/order/cart-add-product-sku"))
        .form(&form)
        .send()
        .await
        .expect("post");
    assert_eq!(no_header.status(), 403);
    let wrong = app
        .client
        .post(app.url("/order/cart-add-product-sku"))
        .header("X-CSRFToken", "A".repeat(32))
        .form(&form)
        .send()
        .await
        .expect("post");
    assert_eq!(wrong.status(), 403);
    let foreign_origin = app
        .client
        .post(app.url("/order/cart-add-product-sku"))
        .header("X-CSRFToken", &secret)
        .header("Origin", "https://evil.example.com")
        .form(&form)
        .send()
        .await
        .expect("post");
    assert_eq!(foreign_origin.status(), 403);
    assert_eq!(
        carts_in_db(&pool).await,
        0,
        "rejected requests change nothing"
    );

    // The masked 64-character form of the token, as Django renders it, is accepted.
    let masked = masked_token_from_body(&app).await;
    let ok = app
        .client
        .post(app.url("/order/cart-add-product-sku"))
        .header("X-CSRFToken", masked)
        .form(&form)
        .send()
        .await
        .expect("post");
    assert_eq!(ok.status(), 200);

    let get = app.get("/order/cart-add-product-sku").await;
    assert_eq!(get.status(), 405, "state changes are POST only");
}

async fn masked_token_from_body(app: &TestApp) -> String {
    let body = app.get_json("/user/token").await;
    let field = body["token"].as_str().expect("token field");
    assert_eq!(body["user-api-version"], "0.0.1");
    let value = field.split("value=\"").nth(1).expect("value attribute");
    let token = value.trim_end_matches("\">").to_owned();
    assert_eq!(token.len(), 64);
    token
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn a_tampered_cart_cookie_reads_as_no_cart(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    app.post_json(
        "/order/cart-add-product-sku",
        &[("sku_id", "1"), ("quantity", "1")],
    )
    .await;
    let cookie = app.cookie("an_ct").expect("an_ct set");
    let (raw, rest) = cookie.split_once(':').expect("signed value");
    let forged = format!("{}X:{rest}", &raw[..raw.len() - 1]);
    app.set_cookie("an_ct", &forged);
    let items = app.get_json("/order/cart-items").await;
    assert_eq!(items["cart_found"], false);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn a_member_cart_belongs_to_the_member(pool: PgPool) {
    let (user_id, member_id) = create_member(&pool, "member_one").await;
    let app = spawn_app(pool.clone()).await;
    app.log_in_as(&pool, user_id).await;
    let added = app
        .post_json(
            "/order/cart-add-product-sku",
            &[("sku_id", "7"), ("quantity", "1")],
        )
        .await;
    assert_eq!(added["cart_add_product_sku"], "success");
    assert!(
        app.cookie("an_ct").is_none(),
        "members get no anonymous cart cookie"
    );
    let owner: Option<i32> = sqlx::query_scalar("SELECT member_id FROM order_cart")
        .fetch_one(&pool)
        .await
        .expect("cart");
    assert_eq!(owner, Some(member_id));
    // SKU 7 has two price rows; the latest (14.99) is current.
    let items = app.get_json("/order/cart-items").await;
    assert_eq!(
        items["item_data"]["product_sku_data"]["0"]["price"],
        "14.99"
    );
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn concurrent_adds_to_one_cart_sum_into_one_line(pool: PgPool) {
    let (user_id, _) = create_member(&pool, "member_race").await;
    let app = spawn_app(pool.clone()).await;
    app.log_in_as(&pool, user_id).await;
    app.fetch_csrf_token().await;
    let adds = (0..12).map(|_| {
        app.post_form(
            "/order/cart-add-product-sku",
            &[("sku_id", "1"), ("quantity", "2")],
        )
    });
    for response in join_all(adds).await {
        assert_eq!(response.status(), 200);
    }
    let rows: Vec<(i32, i32)> = sqlx::query_as("SELECT cart_id, quantity FROM order_cart_sku")
        .fetch_all(&pool)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1, "one line: {rows:?}");
    assert_eq!(rows[0].1, 24);
    assert_eq!(carts_in_db(&pool).await, 1, "one cart for the member");

    // The same for an anonymous visitor whose cart exists.
    let anonymous = spawn_app(pool.clone()).await;
    anonymous
        .post_json(
            "/order/cart-add-product-sku",
            &[("sku_id", "2"), ("quantity", "1")],
        )
        .await;
    let adds = (0..12).map(|_| {
        anonymous.post_form(
            "/order/cart-add-product-sku",
            &[("sku_id", "2"), ("quantity", "1")],
        )
    });
    for response in join_all(adds).await {
        assert_eq!(response.status(), 200);
    }
    let quantity: i32 = sqlx::query_scalar("SELECT quantity FROM order_cart_sku WHERE sku_id = 2")
        .fetch_one(&pool)
        .await
        .expect("line");
    assert_eq!(quantity, 13);
    assert_eq!(carts_in_db(&pool).await, 2);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn the_checkout_gate_follows_the_configuration(pool: PgPool) {
    let (user_id, _) = create_member(&pool, "gate_user").await;
    let app = spawn_app(pool.clone()).await;
    app.log_in_as(&pool, user_id).await;
    let set = |value: Option<&'static str>| {
        let pool = pool.clone();
        async move {
            sqlx::query("UPDATE order_configuration SET string_value = $1 WHERE key = 'usernames_allowed_to_checkout'")
                .bind(value)
                .execute(&pool)
                .await
                .expect("update");
        }
    };
    let allowed =
        || async { app.get_json("/order/checkout-allowed").await["checkout_allowed"].clone() };

    assert_eq!(allowed().await, true, "seed `*` allows everyone");
    set(Some("someone,gate_user")).await;
    assert_eq!(allowed().await, true, "listed by name");
    set(Some("someone,gate_user_2")).await;
    assert_eq!(allowed().await, false, "exact names only");
    set(Some("")).await;
    assert_eq!(allowed().await, false, "an empty list allows nobody");
    set(None).await;
    assert_eq!(allowed().await, false, "a NULL list allows nobody");
    for path in [
        "/order/confirm-items",
        "/order/confirm-shipping-method",
        "/order/confirm-totals",
    ] {
        assert_eq!(
            app.get_json(path).await,
            json!({"checkout_allowed": false, "order-api-version": "0.0.1"}),
            "{path}"
        );
    }
    sqlx::query("DELETE FROM order_configuration WHERE key = 'usernames_allowed_to_checkout'")
        .execute(&pool)
        .await
        .expect("delete");
    assert_eq!(
        allowed().await,
        false,
        "a missing row allows nobody instead of a 500"
    );

    // Anonymous visitors are gated by the other key; the seed `*` allows them.
    let anonymous = spawn_app(pool.clone()).await;
    assert_eq!(
        anonymous.get_json("/order/checkout-allowed").await["checkout_allowed"],
        true
    );
}

/// A cart cookie signed by the Django backend under the same secret key
/// (vector produced by Django 5.2's signing module) finds its cart.
#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn a_cart_cookie_signed_by_django_still_finds_its_cart(pool: PgPool) {
    sqlx::query("INSERT INTO order_cart (anonymous_cart_id) VALUES ('AbCdEfGhIjKlMnOpQrSt')")
        .execute(&pool)
        .await
        .expect("cart");
    sqlx::query(
        "INSERT INTO order_cart_sku (cart_id, sku_id, quantity) SELECT id, 4, 3 FROM order_cart",
    )
    .execute(&pool)
    .await
    .expect("line");
    let mut config = startupwebapp_tests::test_config();
    config.secret_key =
        startupwebapp::config::Secret::new("django-insecure-test-key-0123456789abcdefghijklmnop");
    let app = startupwebapp_tests::spawn_app_with(config, pool.clone()).await;
    app.set_cookie(
        "an_ct",
        "AbCdEfGhIjKlMnOpQrSt:1vNYyu:rtgRzMIEPJVtyzkIdHR6wuCiVAR3Jxx9Dg6LsCNP0sE",
    );
    let totals = app.get_json("/order/cart-totals").await;
    assert_eq!(totals["cart_found"], true);
    assert_eq!(totals["cart_totals_data"]["item_subtotal"], "17.97");
}

async fn lines(pool: &PgPool, cart_id: i32) -> Vec<(i32, i32)> {
    sqlx::query_as("SELECT sku_id, quantity FROM order_cart_sku WHERE cart_id = $1 ORDER BY sku_id")
        .bind(cart_id)
        .fetch_all(pool)
        .await
        .expect("lines")
}

async fn merge(pool: &PgPool, token: &str, member_id: i32) -> Option<i32> {
    let mut tx = pool.begin().await.expect("tx");
    let cart = startupwebapp::db::carts::merge_anonymous_into_member(&mut tx, token, member_id)
        .await
        .expect("merge");
    tx.commit().await.expect("commit");
    cart
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn login_merge_hands_the_anonymous_cart_to_a_member_without_one(pool: PgPool) {
    let (_, member_id) = create_member(&pool, "merge_new").await;
    let app = spawn_app(pool.clone()).await;
    app.post_json(
        "/order/cart-add-product-sku",
        &[("sku_id", "1"), ("quantity", "2")],
    )
    .await;
    let token: String = sqlx::query_scalar("SELECT anonymous_cart_id FROM order_cart")
        .fetch_one(&pool)
        .await
        .expect("token");
    let cart = merge(&pool, &token, member_id).await.expect("member cart");
    let (owner, anonymous): (Option<i32>, Option<String>) =
        sqlx::query_as("SELECT member_id, anonymous_cart_id FROM order_cart WHERE id = $1")
            .bind(cart)
            .fetch_one(&pool)
            .await
            .expect("cart");
    assert_eq!(owner, Some(member_id));
    assert_eq!(anonymous, None, "the cookie value no longer matches");
    assert_eq!(lines(&pool, cart).await, vec![(1, 2)]);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn login_merge_adds_missing_lines_to_the_member_cart_and_drops_the_anonymous_one(
    pool: PgPool,
) {
    let (user_id, member_id) = create_member(&pool, "merge_both").await;
    let member = spawn_app(pool.clone()).await;
    member.log_in_as(&pool, user_id).await;
    member
        .post_json(
            "/order/cart-add-product-sku",
            &[("sku_id", "1"), ("quantity", "5")],
        )
        .await;

    let anonymous = spawn_app(pool.clone()).await;
    anonymous
        .post_json(
            "/order/cart-add-product-sku",
            &[("sku_id", "1"), ("quantity", "1")],
        )
        .await;
    anonymous
        .post_json(
            "/order/cart-add-product-sku",
            &[("sku_id", "4"), ("quantity", "2")],
        )
        .await;
    anonymous.get_json("/order/cart-shipping-methods").await; // selects the default
    let token: String = sqlx::query_scalar(
        "SELECT anonymous_cart_id FROM order_cart WHERE anonymous_cart_id IS NOT NULL",
    )
    .fetch_one(&pool)
    .await
    .expect("token");

    let cart = merge(&pool, &token, member_id).await.expect("member cart");
    assert_eq!(
        lines(&pool, cart).await,
        vec![(1, 5), (4, 2)],
        "member quantity kept, new line copied"
    );
    assert_eq!(carts_in_db(&pool).await, 1, "anonymous cart deleted");
    let selected = member.get_json("/order/confirm-shipping-method").await;
    assert_eq!(
        selected["confirm_shipping_method"]["identifier"], "USPSRetailGround",
        "selection copied"
    );

    // Merging a token that matches nothing leaves the member cart alone.
    assert_eq!(merge(&pool, "no-such-token", member_id).await, Some(cart));
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn the_csrf_cookie_is_readable_by_the_storefront_and_lasts_a_year(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.get("/user/token").await;
    assert_eq!(response.headers()["vary"], "Cookie");
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("csrftoken="))
        .expect("csrftoken set")
        .to_owned();
    let lower = cookie.to_ascii_lowercase();
    assert!(
        lower.contains("max-age=31449600")
            && lower.contains("samesite=lax")
            && lower.contains("path=/"),
        "{cookie}"
    );
    assert!(!lower.contains("httponly"), "JavaScript reads it: {cookie}");
    assert!(
        !lower.contains("secure"),
        "plain HTTP in development: {cookie}"
    );
    // A second call keeps the same secret.
    let first = app.cookie("csrftoken").expect("stored");
    app.get("/user/token").await;
    assert_eq!(app.cookie("csrftoken").expect("stored"), first);
}
