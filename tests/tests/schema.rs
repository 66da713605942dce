//! The migrated schema matches the contract (data-model.md §2–§3): exactly
//! the 44 app tables plus `auth_user`, the seed rows per table, and sequences
//! that continue after the seeded ids.

use sqlx::PgPool;

/// (table, seed rows) for every table the migrations create, from the contract.
const EXPECTED: &[(&str, i64)] = &[
    ("auth_user", 0),
    // user app (14)
    ("user_defaultshippingaddress", 0),
    ("user_member", 0),
    ("user_prospect", 0),
    ("user_emailunsubscribereasons", 0),
    ("user_terms_of_use_version", 1),
    ("user_member_terms_of_use_version_agreed", 0),
    ("user_email_type", 2),
    ("user_email_status", 3),
    ("user_email", 4),
    ("user_email_sent", 0),
    ("user_ad_type", 2),
    ("user_ad_status", 4),
    ("user_ad", 0),
    ("user_chat_message", 0),
    // clientevent app (5)
    ("clientevent_configuration", 1),
    ("clientevent_pageview", 0),
    ("clientevent_ajax_error", 0),
    ("clientevent_button_click", 0),
    ("clientevent_linkevent", 0),
    // order app (25)
    ("order_configuration", 6),
    ("order_sku_type", 1),
    ("order_sku_inventory", 3),
    ("order_sku", 6),
    ("order_sku_price", 7),
    ("order_sku_image", 5),
    ("order_product", 3),
    ("order_product_image", 3),
    ("order_product_video", 2),
    ("order_product_sku", 6),
    ("order_shipping_method", 5),
    ("order_status", 4),
    ("order_cart", 0),
    ("order_cart_shipping_address", 0),
    ("order_cart_payment", 0),
    ("order_cart_sku", 0),
    ("order_cart_shipping_method", 0),
    ("order_order", 0),
    ("order_order_payment", 0),
    ("order_order_shipping_address", 0),
    ("order_order_billing_address", 0),
    ("order_order_sku", 0),
    ("order_order_status", 0),
    ("order_order_shipping_method", 0),
    ("order_order_email_failure", 0),
];

/// Tables that later (additive) migrations add for the Rust service itself.
fn is_service_table(name: &str) -> bool {
    name.starts_with("_sqlx") || name.starts_with("swa_")
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    // Table names come from the constant above, never from input.
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{table}\""
    )))
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("count {table}: {e}"))
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn a_fresh_database_has_exactly_the_contract_tables(pool: PgPool) {
    let mut tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&pool)
    .await
    .expect("list tables");
    tables.retain(|t| !is_service_table(t));
    tables.sort();
    let mut expected: Vec<String> = EXPECTED.iter().map(|(t, _)| (*t).to_owned()).collect();
    expected.sort();
    assert_eq!(tables, expected);
    assert_eq!(expected.len(), 45, "44 app tables plus auth_user");
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn seed_rows_match_the_contract_table_by_table(pool: PgPool) {
    let mut total = 0;
    for (table, rows) in EXPECTED {
        assert_eq!(count(&pool, table).await, *rows, "seed rows in {table}");
        total += rows;
    }
    // The contract's 69 includes Django's own auth_group row, which is not ours.
    assert_eq!(total, 68);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn seeded_tables_continue_after_the_seeded_ids(pool: PgPool) {
    let id: i32 = sqlx::query_scalar(
        "INSERT INTO order_shipping_method \
         (identifier, carrier, shipping_cost, tracking_code_base_url, active) \
         VALUES ('test-method', 'Test', 1.00, 'https://example.com/', true) RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .expect("insert without an explicit id");
    assert_eq!(id, 6, "five shipping methods are seeded");

    let next_sku: i64 =
        sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('order_sku', 'id'))")
            .fetch_one(&pool)
            .await
            .expect("sku sequence");
    assert_eq!(next_sku, 8, "SKU ids 1–7 (no 3) are seeded");
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn key_seed_values_are_as_the_contract_gives_them(pool: PgPool) {
    let checkout: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT key, string_value FROM order_configuration \
         WHERE key IN ('usernames_allowed_to_checkout', 'an_ct_values_allowed_to_checkout') ORDER BY key",
    )
    .fetch_all(&pool)
    .await
    .expect("configuration");
    assert_eq!(
        checkout,
        vec![
            (
                "an_ct_values_allowed_to_checkout".to_owned(),
                Some("*".to_owned())
            ),
            (
                "usernames_allowed_to_checkout".to_owned(),
                Some("*".to_owned())
            ),
        ]
    );
    let skus: Vec<i32> = sqlx::query_scalar("SELECT id FROM order_sku ORDER BY id")
        .fetch_all(&pool)
        .await
        .expect("skus");
    assert_eq!(skus, vec![1, 2, 4, 5, 6, 7], "there is no SKU 3");
}
