//! The catalogue over HTTP (contract api-order.md §1, §3, §4.1–4.3, §7):
//! `/order/`, `/order/products` and `/order/product/{identifier}` against the
//! seeded database, plus the cases the legacy answered with a 500.

use serde_json::{Value, json};
use sqlx::PgPool;
use startupwebapp_tests::spawn_app;

async fn get_json(app: &startupwebapp_tests::TestApp, path: &str) -> (u16, Value) {
    let response = app.get(path).await;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{path}: content type {content_type}"
    );
    let body = response.json().await.expect("a JSON body");
    (status, body)
}

fn seed_products() -> Value {
    json!({
        "bSusp6dBHm": {
            "title": "Paper Clips",
            "title_url": "PaperClips",
            "identifier": "bSusp6dBHm",
            "headline": "Paper clips can hold up to 20 pieces of paper together!",
            "description_part_1": "Made out of high quality metal and folded to exact specifications.",
            "description_part_2": "Use paperclips for all your paper binding needs!",
            "price_low": "3.50",
            "price_high": "3.50",
            "product_image_url": "/img/product/paper_clip_main_2.jpg"
        },
        "ITHJW3mytn": {
            "title": "Binder Clips",
            "title_url": "BinderClips",
            "identifier": "ITHJW3mytn",
            "headline": "Binder clips can hold up to 100 pieces of paper together!",
            "description_part_1": "These strong binder clips will hold your papers together and won't ever give up!",
            "description_part_2": "Just be careful not to pinch your finger!<br><br>Come in packs of 10.",
            "price_low": "3.99",
            "price_high": "5.99",
            "product_image_url": "/img/product/binder_clips_main_2.jpg"
        },
        "v26ujdy3N1": {
            "title": "Rubber Bands",
            "title_url": "RubberBands",
            "identifier": "v26ujdy3N1",
            "headline": "Rubber bands are perfect for keeping rolled paper rolled!",
            "description_part_1": "Assorted colors and sizes.",
            "description_part_2": "",
            "price_low": "14.99",
            "price_high": "14.99",
            "product_image_url": "/img/product/rubber_bands_2.jpg"
        }
    })
}

fn paper_clips() -> Value {
    json!({
        "title": "Paper Clips",
        "title_url": "PaperClips",
        "identifier": "bSusp6dBHm",
        "headline": "Paper clips can hold up to 20 pieces of paper together!",
        "description_part_1": "Made out of high quality metal and folded to exact specifications.",
        "description_part_2": "Use paperclips for all your paper binding needs!",
        "product_images": {
            "1": {"image_url": "/img/product/paper_clip_main_2.jpg", "main": true, "caption": "Paperclips"}
        },
        "product_videos": {
            "1": {
                "video_url": "https://player.vimeo.com/video/334006583",
                "video_thumbnail_url": "/img/product/paper_clip_video_1_2_thumbnail.jpg",
                "caption": "Watch the paper clip in action!"
            }
        },
        "skus": {
            "1": {
                "color": "Silver",
                "size": "Medium",
                "description": "Left Sided Paperclip",
                "price": "3.50",
                "inventory_status_identifier": "in-stock",
                "inventory_status_title": "In Stock",
                "inventory_status_description": "In Stock items are available to purchase.",
                "sku_images": {
                    "1": {"image_url": "/img/product/paper_clip_left_2.jpg", "main": true, "caption": "Left sided paperclip"}
                }
            },
            "2": {
                "color": "Silver",
                "size": "Medium",
                "description": "Right sided paperclip",
                "price": "3.50",
                "inventory_status_identifier": "back-ordered",
                "inventory_status_title": "Back Ordered",
                "inventory_status_description": "Back Ordered items are not available to purchase at this time.",
                "sku_images": {
                    "2": {"image_url": "/img/product/paper_clip_right_2.jpg", "main": true, "caption": "Right sided paperclip"}
                }
            }
        }
    })
}

fn binder_clips() -> Value {
    json!({
        "title": "Binder Clips",
        "title_url": "BinderClips",
        "identifier": "ITHJW3mytn",
        "headline": "Binder clips can hold up to 100 pieces of paper together!",
        "description_part_1": "These strong binder clips will hold your papers together and won't ever give up!",
        "description_part_2": "Just be careful not to pinch your finger!<br><br>Come in packs of 10.",
        "product_images": {
            "2": {"image_url": "/img/product/binder_clips_main_2.jpg", "main": true, "caption": "Multiple sizes available"}
        },
        "product_videos": {
            "2": {
                "video_url": "https://player.vimeo.com/video/334006589",
                "video_thumbnail_url": "/img/product/binder_clip_video_1_2_thumbnail.jpg",
                "caption": "Watch the paper binder in action!"
            }
        },
        "skus": {
            "4": {
                "color": "Black",
                "size": "Large",
                "description": "Large Binder Clip",
                "price": "5.99",
                "inventory_status_identifier": "back-ordered",
                "inventory_status_title": "Back Ordered",
                "inventory_status_description": "Back Ordered items are not available to purchase at this time.",
                "sku_images": {
                    "4": {"image_url": "/img/product/binder_clip_large_2.jpg", "main": true, "caption": "Large Binder Clip"}
                }
            },
            "5": {
                "color": "Black",
                "size": "Medium",
                "description": "Medium Binder Clip",
                "price": "4.99",
                "inventory_status_identifier": "out-of-stock",
                "inventory_status_title": "Out of Stock",
                "inventory_status_description": "Out of Stock items are not available to purchase.",
                "sku_images": {
                    "5": {"image_url": "/img/product/binder_clip_medium_2.jpg", "main": true, "caption": "Medium Binder Clip"}
                }
            },
            "6": {
                "color": "Black",
                "size": "Small",
                "description": "Small Binder Clip",
                "price": "3.99",
                "inventory_status_identifier": "in-stock",
                "inventory_status_title": "In Stock",
                "inventory_status_description": "In Stock items are available to purchase.",
                "sku_images": {
                    "6": {"image_url": "/img/product/binder_clip_small_2.jpg", "main": true, "caption": "Small Binder Clip"}
                }
            }
        }
    })
}

fn rubber_bands() -> Value {
    json!({
        "title": "Rubber Bands",
        "title_url": "RubberBands",
        "identifier": "v26ujdy3N1",
        "headline": "Rubber bands are perfect for keeping rolled paper rolled!",
        "description_part_1": "Assorted colors and sizes.",
        "description_part_2": "",
        "product_images": {
            "3": {"image_url": "/img/product/rubber_bands_2.jpg", "main": true, "caption": "Multicolor rubber bands"}
        },
        "product_videos": {},
        "skus": {
            "7": {
                "color": "Multi",
                "size": "Multi",
                "description": "Multiple sizes and colors",
                "price": "14.99",
                "inventory_status_identifier": "in-stock",
                "inventory_status_title": "In Stock",
                "inventory_status_description": "In Stock items are available to purchase.",
                "sku_images": {}
            }
        }
    })
}

fn not_found(identifier: &str) -> Value {
    json!({
        "product": "error",
        "errors": {"error": "product-identifier-not-found"},
        "product_identifier": identifier,
        "order-api-version": "0.0.1"
    })
}

/// Adds a SKU (in stock, product type) to `product_id`, optionally with a
/// price; returns its id.
async fn add_sku(pool: &PgPool, product_id: i32, price: Option<&str>) -> i32 {
    let sku_id: i32 = sqlx::query_scalar(
        "INSERT INTO order_sku (sku_type_id, sku_inventory_id, color, size, description) \
         VALUES (1, 1, 'Red', 'Tiny', 'Test SKU') RETURNING id",
    )
    .fetch_one(pool)
    .await
    .expect("insert sku");
    sqlx::query("INSERT INTO order_product_sku (product_id, sku_id) VALUES ($1, $2)")
        .bind(product_id)
        .bind(sku_id)
        .execute(pool)
        .await
        .expect("link sku");
    if let Some(price) = price {
        sqlx::query(
            "INSERT INTO order_sku_price (sku_id, price, created_date_time) \
             VALUES ($1, $2::numeric, now())",
        )
        .bind(sku_id)
        .bind(price)
        .execute(pool)
        .await
        .expect("insert price");
    }
    sku_id
}

async fn add_product(pool: &PgPool, identifier: &str) -> i32 {
    sqlx::query_scalar(
        "INSERT INTO order_product (title, title_url, identifier, headline, description_part_1, description_part_2) \
         VALUES ('Staples', 'Staples', $1, NULL, 'Part one', NULL) RETURNING id",
    )
    .bind(identifier)
    .fetch_one(pool)
    .await
    .expect("insert product")
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn order_index_is_a_never_cached_html_greeting(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.get("/order/").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        header("content-type").starts_with("text/html"),
        "{}",
        header("content-type")
    );
    assert_eq!(
        header("cache-control"),
        "max-age=0, no-cache, no-store, must-revalidate, private"
    );
    assert!(header("expires").ends_with(" GMT"), "{}", header("expires"));
    assert_eq!(
        response.text().await.expect("body"),
        "Hello, you're at the order API (version 0.0.1) root. Nothing to see here..."
    );
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn products_lists_the_seed_catalogue_exactly(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (status, body) = get_json(&app, "/order/products").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"products_data": seed_products(), "order-api-version": "0.0.1"})
    );
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn products_keep_catalogue_order_in_the_json_object(pool: PgPool) {
    // Browsers iterate non-numeric keys in the order they appear, so the
    // product list's order is in the bytes: Paper Clips, Binder Clips,
    // Rubber Bands (id order), not sorted by identifier.
    let app = spawn_app(pool).await;
    let text = app.get("/order/products").await.text().await.expect("body");
    let at = |key: &str| {
        text.find(&format!("\"{key}\""))
            .unwrap_or_else(|| panic!("{key} missing from {text}"))
    };
    assert!(at("bSusp6dBHm") < at("ITHJW3mytn"), "{text}");
    assert!(at("ITHJW3mytn") < at("v26ujdy3N1"), "{text}");
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn products_use_the_latest_price_row_even_when_it_is_lower(pool: PgPool) {
    // SKU 4 (5.99) gets a newer, lower price; SKU 7 a newer price than 14.99.
    sqlx::query(
        "INSERT INTO order_sku_price (sku_id, price, created_date_time) VALUES \
         (4, 2.00, '2020-01-01T00:00:00Z'), (7, 19.99, '2020-01-01T00:00:00Z'), \
         (1, 99.00, '2018-01-01T00:00:00Z')",
    )
    .execute(&pool)
    .await
    .expect("insert prices");
    let app = spawn_app(pool).await;
    let (_, body) = get_json(&app, "/order/products").await;
    let products = &body["products_data"];
    assert_eq!(products["ITHJW3mytn"]["price_low"], "2.00");
    assert_eq!(products["ITHJW3mytn"]["price_high"], "4.99");
    assert_eq!(products["v26ujdy3N1"]["price_low"], "19.99");
    assert_eq!(products["v26ujdy3N1"]["price_high"], "19.99");
    // An older row never wins.
    assert_eq!(products["bSusp6dBHm"]["price_high"], "3.50");

    let (_, page) = get_json(&app, "/order/product/ITHJW3mytn").await;
    assert_eq!(page["product_data"]["skus"]["4"]["price"], "2.00");
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn products_leave_out_a_product_with_an_unpriced_sku(pool: PgPool) {
    add_sku(&pool, 1, None).await;
    let app = spawn_app(pool).await;
    let (status, body) = get_json(&app, "/order/products").await;
    assert_eq!(status, 200);
    let mut expected = seed_products();
    expected
        .as_object_mut()
        .expect("object")
        .remove("bSusp6dBHm");
    assert_eq!(body["products_data"], expected);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn products_without_skus_or_main_image_have_nulls(pool: PgPool) {
    let product_id = add_product(&pool, "Staples0001").await;
    sqlx::query(
        "INSERT INTO order_product_image (product_id, image_url, main_image, caption) \
         VALUES ($1, '/img/product/staples_side.jpg', false, NULL)",
    )
    .bind(product_id)
    .execute(&pool)
    .await
    .expect("insert image");
    let app = spawn_app(pool).await;
    let (status, body) = get_json(&app, "/order/products").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["products_data"]["Staples0001"],
        json!({
            "title": "Staples",
            "title_url": "Staples",
            "identifier": "Staples0001",
            "headline": null,
            "description_part_1": "Part one",
            "description_part_2": null,
            "price_low": null,
            "price_high": null,
            "product_image_url": null
        })
    );
    assert_eq!(body["products_data"].as_object().map(|o| o.len()), Some(4));
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn products_of_an_empty_catalogue_is_an_empty_object(pool: PgPool) {
    for table in [
        "order_product_sku",
        "order_product_image",
        "order_product_video",
        "order_product",
    ] {
        // Table names are literals from the list above.
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
            .execute(&pool)
            .await
            .expect("delete");
    }
    let app = spawn_app(pool).await;
    let (status, body) = get_json(&app, "/order/products").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"products_data": {}, "order-api-version": "0.0.1"})
    );
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn each_seed_product_page_matches_the_contract(pool: PgPool) {
    let app = spawn_app(pool).await;
    for (identifier, data) in [
        ("bSusp6dBHm", paper_clips()),
        ("ITHJW3mytn", binder_clips()),
        ("v26ujdy3N1", rubber_bands()),
    ] {
        let (status, body) = get_json(&app, &format!("/order/product/{identifier}")).await;
        assert_eq!(status, 200, "{identifier}");
        assert_eq!(
            body,
            json!({
                "product": "success",
                "product_identifier": identifier,
                "product_data": data,
                "order-api-version": "0.0.1"
            }),
            "{identifier}"
        );
    }
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn product_lists_the_main_image_first_and_skus_by_ascending_id(pool: PgPool) {
    sqlx::query(
        "INSERT INTO order_product_image (id, product_id, image_url, main_image, caption) \
         VALUES (100, 1, '/img/a.jpg', false, 'side')",
    )
    .execute(&pool)
    .await
    .expect("insert image");
    sqlx::query(
        "INSERT INTO order_product_video (id, product_id, video_url, video_thumbnail_url, caption) \
         VALUES (100, 1, 'https://v/2', '/img/t2.jpg', NULL)",
    )
    .execute(&pool)
    .await
    .expect("insert video");
    let app = spawn_app(pool).await;
    let text = app
        .get("/order/product/bSusp6dBHm")
        .await
        .text()
        .await
        .expect("body");
    let body: Value = serde_json::from_str(&text).expect("json");
    let images = &body["product_data"]["product_images"];
    assert_eq!(
        images["100"],
        json!({"image_url": "/img/a.jpg", "main": false, "caption": "side"})
    );
    let main_at = text.find("\"1\":{\"image_url\"").expect("main image key");
    let side_at = text.find("\"100\":{\"image_url\"").expect("side image key");
    assert!(main_at < side_at, "main image first: {text}");
    // Videos: the newest id first.
    let videos = &body["product_data"]["product_videos"];
    assert_eq!(videos["100"]["caption"], Value::Null);
    let video_new = text.find("\"100\":{\"video_url\"").expect("new video key");
    let video_old = text.find("\"1\":{\"video_url\"").expect("old video key");
    assert!(video_new < video_old, "newest video first: {text}");
    let sku_keys: Vec<&String> = body["product_data"]["skus"]
        .as_object()
        .expect("skus object")
        .keys()
        .collect();
    assert_eq!(sku_keys, ["1", "2"]);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn unknown_product_identifier_is_the_legacy_error(pool: PgPool) {
    let app = spawn_app(pool).await;
    for identifier in ["nosuchthing", "BSUSP6DBHM", "0"] {
        let (status, body) = get_json(&app, &format!("/order/product/{identifier}")).await;
        assert_eq!(status, 200, "{identifier}");
        assert_eq!(body, not_found(identifier));
    }
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn product_identifier_outside_the_pattern_matches_no_route(pool: PgPool) {
    let app = spawn_app(pool).await;
    for path in [
        "/order/product/a-b",
        "/order/product/a_b",
        "/order/product/%C3%A9t%C3%A9",
        "/order/product/a%20b",
        "/order/product/",
    ] {
        let (status, body) = get_json(&app, path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["errors"]["error"], "not-found", "{path}");
    }
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn product_with_an_unpriced_sku_is_reported_not_found(pool: PgPool) {
    add_sku(&pool, 3, None).await;
    let app = spawn_app(pool).await;
    let (status, body) = get_json(&app, "/order/product/v26ujdy3N1").await;
    assert_eq!(status, 200);
    assert_eq!(body, not_found("v26ujdy3N1"));
    // The other products are unaffected.
    let (_, other) = get_json(&app, "/order/product/bSusp6dBHm").await;
    assert_eq!(other["product"], "success");
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn product_without_main_image_or_skus_is_still_shown(pool: PgPool) {
    let product_id = add_product(&pool, "Staples0002").await;
    sqlx::query(
        "INSERT INTO order_product_image (id, product_id, image_url, main_image, caption) \
         VALUES (200, $1, '/img/product/staples_side.jpg', false, NULL)",
    )
    .bind(product_id)
    .execute(&pool)
    .await
    .expect("insert image");
    let sku_id = add_sku(&pool, product_id, Some("1.15")).await;
    let app = spawn_app(pool).await;
    let (status, body) = get_json(&app, "/order/product/Staples0002").await;
    assert_eq!(status, 200);
    assert_eq!(body["product"], "success");
    let data = &body["product_data"];
    assert_eq!(data["headline"], Value::Null);
    assert_eq!(data["description_part_2"], Value::Null);
    assert_eq!(
        data["product_images"],
        json!({"200": {"image_url": "/img/product/staples_side.jpg", "main": false, "caption": null}})
    );
    assert_eq!(data["product_videos"], json!({}));
    assert_eq!(
        data["skus"][sku_id.to_string()],
        json!({
            "color": "Red",
            "size": "Tiny",
            "description": "Test SKU",
            "price": "1.15",
            "inventory_status_identifier": "in-stock",
            "inventory_status_title": "In Stock",
            "inventory_status_description": "In Stock items are available to purchase.",
            "sku_images": {}
        })
    );
}
