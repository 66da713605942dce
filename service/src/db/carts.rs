//! Carts: lookup by owner, items with current prices, totals in cents,
//! shipping selection, and the changes the storefront makes. Every change
//! runs in one transaction with the cart row locked, so concurrent requests
//! on one cart apply one after another.

use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::domain::money::Cents;

/// Who owns a cart.
#[derive(Debug, Clone)]
pub enum CartOwner<'a> {
    Member(i32),
    /// The unsigned `an_ct` value.
    Anonymous(&'a str),
    /// An anonymous visitor without a (valid) cart cookie: never has a cart yet.
    NewAnonymous,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CartItem {
    pub sku_id: i32,
    pub sku_type_title: String,
    pub inventory_title: String,
    pub inventory_identifier: String,
    pub color: Option<String>,
    pub size: Option<String>,
    pub description: Option<String>,
    /// `None` when the SKU has no price row.
    pub price_cents: Option<i64>,
    pub quantity: i32,
    pub product_title: Option<String>,
    pub product_title_url: Option<String>,
    pub product_identifier: Option<String>,
    pub image_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub items: Cents,
    pub shipping: Cents,
}

impl Totals {
    pub fn total(self) -> Cents {
        self.items + self.shipping
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ShippingMethod {
    pub identifier: String,
    pub carrier: String,
    pub cost_cents: i64,
    pub tracking_code_base_url: String,
}

/// The current price of a SKU: its latest price row.
const CURRENT_PRICE: &str = "SELECT (p.price * 100)::int8 AS cents FROM order_sku_price p \
     WHERE p.sku_id = s.id ORDER BY p.created_date_time DESC, p.id DESC LIMIT 1";

pub async fn find(pool: &PgPool, owner: &CartOwner<'_>) -> Result<Option<i32>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    find_in(&mut conn, owner, false).await
}

/// [`find`] on a connection the caller holds.
pub async fn find_on(
    conn: &mut PgConnection,
    owner: &CartOwner<'_>,
) -> Result<Option<i32>, sqlx::Error> {
    find_in(conn, owner, false).await
}

/// The owner's cart; with `lock`, the row is locked until the transaction ends.
async fn find_in(
    conn: &mut PgConnection,
    owner: &CartOwner<'_>,
    lock: bool,
) -> Result<Option<i32>, sqlx::Error> {
    // A member had at most one cart in the legacy data; if an old database
    // holds two, the oldest wins instead of an error.
    const MEMBER: &str = "SELECT id FROM order_cart WHERE member_id = $1 ORDER BY id LIMIT 1";
    const MEMBER_LOCKED: &str =
        "SELECT id FROM order_cart WHERE member_id = $1 ORDER BY id LIMIT 1 FOR UPDATE";
    const ANONYMOUS: &str =
        "SELECT id FROM order_cart WHERE anonymous_cart_id = $1 ORDER BY id LIMIT 1";
    const ANONYMOUS_LOCKED: &str =
        "SELECT id FROM order_cart WHERE anonymous_cart_id = $1 ORDER BY id LIMIT 1 FOR UPDATE";
    let query = match owner {
        CartOwner::NewAnonymous => return Ok(None),
        CartOwner::Member(id) => {
            sqlx::query_scalar::<_, i32>(if lock { MEMBER_LOCKED } else { MEMBER }).bind(*id)
        }
        CartOwner::Anonymous(token) => {
            sqlx::query_scalar::<_, i32>(if lock { ANONYMOUS_LOCKED } else { ANONYMOUS })
                .bind(*token)
        }
    };
    query.fetch_optional(&mut *conn).await
}

/// Items of SKU type `product`, in cart order, with price and image.
pub async fn items(pool: &PgPool, cart_id: i32) -> Result<Vec<CartItem>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    items_in(&mut conn, cart_id).await
}

/// [`items`] inside the caller's transaction.
pub async fn items_in(conn: &mut PgConnection, cart_id: i32) -> Result<Vec<CartItem>, sqlx::Error> {
    let sql = format!(
        "SELECT cs.sku_id, st.title AS sku_type_title, si.title AS inventory_title, \
                si.identifier AS inventory_identifier, s.color, s.size, s.description, \
                price.cents AS price_cents, cs.quantity, \
                prod.title AS product_title, prod.title_url AS product_title_url, \
                prod.identifier AS product_identifier, \
                COALESCE(simg.image_url, pimg.image_url) AS image_url \
         FROM order_cart_sku cs \
         JOIN order_sku s ON s.id = cs.sku_id \
         JOIN order_sku_type st ON st.id = s.sku_type_id \
         JOIN order_sku_inventory si ON si.id = s.sku_inventory_id \
         LEFT JOIN LATERAL ({CURRENT_PRICE}) price ON true \
         LEFT JOIN LATERAL (SELECT p.id, p.title, p.title_url, p.identifier \
                FROM order_product_sku ps JOIN order_product p ON p.id = ps.product_id \
                WHERE ps.sku_id = s.id ORDER BY ps.id LIMIT 1) prod ON true \
         LEFT JOIN LATERAL (SELECT image_url FROM order_sku_image \
                WHERE sku_id = s.id AND main_image ORDER BY id LIMIT 1) simg ON true \
         LEFT JOIN LATERAL (SELECT image_url FROM order_product_image \
                WHERE product_id = prod.id AND main_image ORDER BY id LIMIT 1) pimg ON true \
         WHERE cs.cart_id = $1 AND st.title = 'product' \
         ORDER BY cs.id"
    );
    sqlx::query_as::<_, CartItem>(sqlx::AssertSqlSafe(sql))
        .bind(cart_id)
        .fetch_all(conn)
        .await
}

/// Item subtotal over every cart row (all SKU types) and the selected shipping.
pub async fn totals(conn: &mut PgConnection, cart_id: i32) -> Result<Totals, sqlx::Error> {
    let sql = format!(
        "SELECT \
           (SELECT COALESCE(sum(COALESCE(price.cents, 0) * cs.quantity), 0)::int8 \
              FROM order_cart_sku cs JOIN order_sku s ON s.id = cs.sku_id \
              LEFT JOIN LATERAL ({CURRENT_PRICE}) price ON true \
              WHERE cs.cart_id = $1), \
           COALESCE((SELECT (sm.shipping_cost * 100)::int8 \
              FROM order_cart_shipping_method csm \
              JOIN order_shipping_method sm ON sm.id = csm.shippingmethod_id \
              WHERE csm.cart_id = $1 ORDER BY csm.id LIMIT 1), 0)"
    );
    let (items, shipping): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(cart_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(Totals {
        items: Cents(items),
        shipping: Cents(shipping),
    })
}

pub async fn totals_in_pool(pool: &PgPool, cart_id: i32) -> Result<Totals, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    totals(&mut conn, cart_id).await
}

/// Active methods, most expensive first.
pub async fn active_shipping_methods(
    conn: &mut PgConnection,
) -> Result<Vec<ShippingMethod>, sqlx::Error> {
    sqlx::query_as(
        "SELECT identifier, carrier, (shipping_cost * 100)::int8 AS cost_cents, tracking_code_base_url \
         FROM order_shipping_method WHERE active ORDER BY shipping_cost DESC, id",
    )
    .fetch_all(&mut *conn)
    .await
}

pub async fn selected_shipping_method(
    conn: &mut PgConnection,
    cart_id: i32,
) -> Result<Option<ShippingMethod>, sqlx::Error> {
    sqlx::query_as(
        "SELECT sm.identifier, sm.carrier, (sm.shipping_cost * 100)::int8 AS cost_cents, \
                sm.tracking_code_base_url \
         FROM order_cart_shipping_method csm \
         JOIN order_shipping_method sm ON sm.id = csm.shippingmethod_id \
         WHERE csm.cart_id = $1 ORDER BY csm.id LIMIT 1",
    )
    .bind(cart_id)
    .fetch_optional(&mut *conn)
    .await
}

/// Selects the configured default method for a cart that has none.
pub async fn assign_default_shipping(
    conn: &mut PgConnection,
    cart_id: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO order_cart_shipping_method (cart_id, shippingmethod_id) \
         SELECT $1, sm.id FROM order_configuration c \
         JOIN order_shipping_method sm ON sm.identifier = c.string_value \
         WHERE c.key = 'default_shipping_method' \
           AND NOT EXISTS (SELECT 1 FROM order_cart_shipping_method WHERE cart_id = $1) \
         ORDER BY c.id, sm.id LIMIT 1 \
         ON CONFLICT DO NOTHING",
    )
    .bind(cart_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn item_count(conn: &mut PgConnection, cart_id: i32) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM order_cart_sku WHERE cart_id = $1")
        .bind(cart_id)
        .fetch_one(&mut *conn)
        .await
}

/// Why an add did not happen.
#[derive(Debug)]
pub enum AddRejected {
    SkuNotFound,
    /// The cart would hold more than the maximum quantity of this SKU.
    QuantityOutOfRange,
    Database(sqlx::Error),
}

impl From<sqlx::Error> for AddRejected {
    fn from(e: sqlx::Error) -> Self {
        AddRejected::Database(e)
    }
}

pub struct Added {
    pub cart_id: i32,
    pub item_count: i64,
    /// The `an_ct` value of an anonymous cart (new or kept).
    pub anonymous_token: Option<String>,
}

pub const MAX_QUANTITY: i32 = 99;

/// Adds `quantity` of `sku_id`, creating the cart when needed, in one
/// transaction: a rejected add leaves no cart behind.
pub async fn add_sku(
    pool: &PgPool,
    owner: &CartOwner<'_>,
    new_anonymous_token: impl FnOnce() -> String,
    sku_id: i32,
    quantity: i32,
) -> Result<Added, AddRejected> {
    let mut tx: Transaction<'_, Postgres> = pool.begin().await?;
    // A SKU is sellable when it belongs to a product and has a price.
    let sellable: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM order_sku s \
           WHERE s.id = $1 \
             AND EXISTS (SELECT 1 FROM order_product_sku ps WHERE ps.sku_id = s.id) \
             AND EXISTS (SELECT 1 FROM order_sku_price p WHERE p.sku_id = s.id))",
    )
    .bind(sku_id)
    .fetch_one(&mut *tx)
    .await?;
    if !sellable {
        return Err(AddRejected::SkuNotFound);
    }

    if let CartOwner::Member(member_id) = owner {
        // Serialises a member's first adds so they cannot create two carts.
        sqlx::query("SELECT pg_advisory_xact_lock(7401, $1)")
            .bind(*member_id)
            .execute(&mut *tx)
            .await?;
    }
    let existing = find_in(&mut tx, owner, true).await?;
    let (cart_id, anonymous_token) = match (existing, owner) {
        (Some(id), CartOwner::Member(_)) => (id, None),
        (Some(id), CartOwner::Anonymous(token)) => (id, Some((*token).to_owned())),
        (Some(id), CartOwner::NewAnonymous) => (id, None),
        (None, CartOwner::Member(member_id)) => {
            let id: i32 =
                sqlx::query_scalar("INSERT INTO order_cart (member_id) VALUES ($1) RETURNING id")
                    .bind(*member_id)
                    .fetch_one(&mut *tx)
                    .await?;
            (id, None)
        }
        (None, CartOwner::Anonymous(_) | CartOwner::NewAnonymous) => {
            let token = new_anonymous_token();
            let id: i32 = sqlx::query_scalar(
                "INSERT INTO order_cart (anonymous_cart_id) VALUES ($1) RETURNING id",
            )
            .bind(&token)
            .fetch_one(&mut *tx)
            .await?;
            (id, Some(token))
        }
    };

    let current: Option<i32> = sqlx::query_scalar(
        "SELECT quantity FROM order_cart_sku WHERE cart_id = $1 AND sku_id = $2",
    )
    .bind(cart_id)
    .bind(sku_id)
    .fetch_optional(&mut *tx)
    .await?;
    let new_quantity = current.unwrap_or(0) + quantity;
    if new_quantity > MAX_QUANTITY {
        return Err(AddRejected::QuantityOutOfRange);
    }
    if new_quantity > 0 {
        sqlx::query(
            "INSERT INTO order_cart_sku (cart_id, sku_id, quantity) VALUES ($1, $2, $3) \
             ON CONFLICT (cart_id, sku_id) DO UPDATE SET quantity = EXCLUDED.quantity",
        )
        .bind(cart_id)
        .bind(sku_id)
        .bind(new_quantity)
        .execute(&mut *tx)
        .await?;
    }
    let item_count = item_count(&mut tx, cart_id).await?;
    tx.commit().await?;
    Ok(Added {
        cart_id,
        item_count,
        anonymous_token,
    })
}

/// Sets a row's quantity; 0 removes the row. `false` when the row is absent.
pub async fn set_quantity(
    tx: &mut PgConnection,
    cart_id: i32,
    sku_id: i32,
    quantity: i32,
) -> Result<bool, sqlx::Error> {
    let sql = if quantity == 0 {
        "DELETE FROM order_cart_sku WHERE cart_id = $1 AND sku_id = $2 AND $3 = 0"
    } else {
        "UPDATE order_cart_sku SET quantity = $3 WHERE cart_id = $1 AND sku_id = $2"
    };
    let done = sqlx::query(sql)
        .bind(cart_id)
        .bind(sku_id)
        .bind(quantity)
        .execute(&mut *tx)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The price of one SKU, for a row subtotal.
pub async fn current_price(conn: &mut PgConnection, sku_id: i32) -> Result<Cents, sqlx::Error> {
    let sql = format!("SELECT ({CURRENT_PRICE}) FROM order_sku s WHERE s.id = $1");
    let cents: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(sku_id)
        .fetch_optional(&mut *conn)
        .await?
        .flatten();
    Ok(Cents(cents.unwrap_or(0)))
}

/// Removes a SKU and resets the shipping selection. `false` when absent.
pub async fn remove_sku(
    tx: &mut PgConnection,
    cart_id: i32,
    sku_id: i32,
) -> Result<bool, sqlx::Error> {
    let removed = sqlx::query("DELETE FROM order_cart_sku WHERE cart_id = $1 AND sku_id = $2")
        .bind(cart_id)
        .bind(sku_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if removed == 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM order_cart_shipping_method WHERE cart_id = $1")
        .bind(cart_id)
        .execute(&mut *tx)
        .await?;
    Ok(true)
}

/// Selects the method with `identifier` (the active flag is not checked, as
/// in the legacy). `false` when no method has that identifier.
pub async fn set_shipping_method(
    tx: &mut PgConnection,
    cart_id: i32,
    identifier: &str,
) -> Result<bool, sqlx::Error> {
    let method: Option<i32> = sqlx::query_scalar(
        "SELECT id FROM order_shipping_method WHERE identifier = $1 ORDER BY id LIMIT 1",
    )
    .bind(identifier)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(method_id) = method else {
        return Ok(false);
    };
    sqlx::query("DELETE FROM order_cart_shipping_method WHERE cart_id = $1")
        .bind(cart_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO order_cart_shipping_method (cart_id, shippingmethod_id) VALUES ($1, $2)",
    )
    .bind(cart_id)
    .bind(method_id)
    .execute(&mut *tx)
    .await?;
    Ok(true)
}

/// Deletes a cart with its rows (the schema has no ON DELETE CASCADE).
pub async fn delete(tx: &mut PgConnection, cart_id: i32) -> Result<(), sqlx::Error> {
    for sql in [
        "DELETE FROM order_cart_sku WHERE cart_id = $1",
        "DELETE FROM order_cart_shipping_method WHERE cart_id = $1",
        "DELETE FROM order_cart WHERE id = $1",
    ] {
        sqlx::query(sql).bind(cart_id).execute(&mut *tx).await?;
    }
    Ok(())
}

/// Begins a transaction holding the owner's cart row locked; `None` when
/// the owner has no cart.
pub async fn lock(
    pool: &PgPool,
    owner: &CartOwner<'_>,
) -> Result<Option<(Transaction<'static, Postgres>, i32)>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    match find_in(&mut tx, owner, true).await? {
        Some(id) => Ok(Some((tx, id))),
        None => Ok(None),
    }
}

/// The checkout allow-list from configuration: `None` when the row is missing.
pub async fn checkout_allow_list(pool: &PgPool, key: &str) -> Result<Option<String>, sqlx::Error> {
    let row: Option<Option<String>> = sqlx::query_scalar(
        "SELECT string_value FROM order_configuration WHERE key = $1 ORDER BY id LIMIT 1",
    )
    .bind(key)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Option::unwrap_or_default))
}

/// At login: moves an anonymous visitor's cart to the member, in the
/// caller's transaction. Without a member cart the anonymous cart becomes
/// the member's; otherwise each anonymous line the member cart lacks is
/// copied (lines the member already has keep the member's quantity), the
/// shipping selection is copied when the member cart has none, and the
/// anonymous cart is deleted. Returns the member's cart id, if any.
pub async fn merge_anonymous_into_member(
    tx: &mut PgConnection,
    anonymous_token: &str,
    member_id: i32,
) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(7401, $1)")
        .bind(member_id)
        .execute(&mut *tx)
        .await?;
    let member_cart = find_in(tx, &CartOwner::Member(member_id), true).await?;
    let Some(anonymous_cart) = find_in(tx, &CartOwner::Anonymous(anonymous_token), true).await?
    else {
        return Ok(member_cart);
    };
    let Some(member_cart) = member_cart else {
        sqlx::query("UPDATE order_cart SET member_id = $1, anonymous_cart_id = NULL WHERE id = $2")
            .bind(member_id)
            .bind(anonymous_cart)
            .execute(&mut *tx)
            .await?;
        return Ok(Some(anonymous_cart));
    };
    sqlx::query(
        "INSERT INTO order_cart_sku (cart_id, sku_id, quantity) \
         SELECT $1, sku_id, quantity FROM order_cart_sku WHERE cart_id = $2 \
         ON CONFLICT (cart_id, sku_id) DO NOTHING",
    )
    .bind(member_cart)
    .bind(anonymous_cart)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO order_cart_shipping_method (cart_id, shippingmethod_id) \
         SELECT $1, shippingmethod_id FROM order_cart_shipping_method WHERE cart_id = $2 \
           AND NOT EXISTS (SELECT 1 FROM order_cart_shipping_method WHERE cart_id = $1) \
         ORDER BY id LIMIT 1",
    )
    .bind(member_cart)
    .bind(anonymous_cart)
    .execute(&mut *tx)
    .await?;
    delete(tx, anonymous_cart).await?;
    Ok(Some(member_cart))
}
