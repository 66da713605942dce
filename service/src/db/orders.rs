//! Orders created from Stripe Checkout Sessions, exactly once per session.
//!
//! The success page and the webhook (and their duplicates and retries) all
//! call [`create_from_checkout`]. Its transaction starts by inserting the
//! session id into `swa_checkout_session`: the first caller wins the row and
//! creates the order, payment, addresses, lines, status, shipping method and
//! confirmation email, deletes the cart, and commits. A concurrent caller's
//! insert waits on that row; once the winner commits it conflicts and reads
//! the order; if the winner rolled back it proceeds itself.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::db::carts;
use crate::domain::checkout::{CheckoutFacts, PostalAddress};
use crate::domain::money::Cents;
use crate::domain::order_email::{self, OrderLetter, OrderedLine};
use crate::domain::signing::random_alphanumeric;
use crate::domain::tokens::TokenSigner;
use crate::email::{self, OutgoingEmail};

/// What happened to a settled Checkout Session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderOutcome {
    Created {
        order_id: i32,
        identifier: String,
    },
    /// An earlier call (or a concurrent one) created it.
    Existing {
        order_id: i32,
        identifier: String,
    },
    /// The session carries no usable `metadata.cart_id`.
    NoCartId,
    /// The cart is gone and no order was made from this session.
    CartNotFound,
}

impl OrderOutcome {
    pub fn identifier(&self) -> Option<&str> {
        match self {
            OrderOutcome::Created { identifier, .. }
            | OrderOutcome::Existing { identifier, .. } => Some(identifier),
            _ => None,
        }
    }
}

/// What order creation needs besides the session.
pub struct OrderContext<'a> {
    /// The storefront URL for links in the email.
    pub site: &'a str,
    pub signer: &'a TokenSigner,
}

/// The email kind of order confirmations; the sender turns a final failure
/// of one into an `order_order_email_failure` row.
pub const CONFIRMATION_KIND: &str = "order-confirmation";

/// The dedupe key of an order's confirmation: one email per order.
pub fn confirmation_key(order_id: i32) -> String {
    format!("{CONFIRMATION_KIND}:{order_id}")
}

async fn existing(
    conn: &mut PgConnection,
    session_id: &str,
) -> Result<Option<(i32, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT o.id, COALESCE(o.identifier, '') FROM swa_checkout_session s \
         JOIN order_order o ON o.id = s.order_id WHERE s.session_id = $1",
    )
    .bind(session_id)
    .fetch_optional(conn)
    .await
}

/// Creates the order of a settled session, or finds the one already made.
/// The caller checks `facts.is_settled()` first.
pub async fn create_from_checkout(
    pool: &PgPool,
    facts: &CheckoutFacts,
    ctx: &OrderContext<'_>,
) -> Result<OrderOutcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let claimed: Option<String> = sqlx::query_scalar(
        "INSERT INTO swa_checkout_session (session_id) VALUES ($1) \
         ON CONFLICT (session_id) DO NOTHING RETURNING session_id",
    )
    .bind(&facts.session_id)
    .fetch_optional(&mut *tx)
    .await?;
    if claimed.is_none() {
        let found = existing(&mut tx, &facts.session_id).await?;
        tx.rollback().await?;
        return Ok(match found {
            Some((order_id, identifier)) => OrderOutcome::Existing {
                order_id,
                identifier,
            },
            // A committed claim always carries its order; a missing one
            // means the order was deleted by an operator.
            None => OrderOutcome::CartNotFound,
        });
    }
    let Some(cart_id) = facts
        .cart_id
        .as_deref()
        .and_then(|c| c.trim().parse::<i32>().ok())
    else {
        tx.rollback().await?;
        return Ok(OrderOutcome::NoCartId);
    };
    let cart: Option<Option<i32>> =
        sqlx::query_scalar("SELECT member_id FROM order_cart WHERE id = $1 FOR UPDATE")
            .bind(cart_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(member_id) = cart else {
        tx.rollback().await?;
        return Ok(OrderOutcome::CartNotFound);
    };

    let totals = carts::totals(&mut tx, cart_id).await?;
    let shipping_method = carts::selected_shipping_method(&mut tx, cart_id).await?;
    let items = carts::items_in(&mut tx, cart_id).await?;
    let identifier = new_identifier(&mut tx).await?;
    let email = facts.email().unwrap_or("").to_owned();
    let customer_name = facts
        .customer_name
        .clone()
        .unwrap_or_else(|| "Customer".to_owned());
    let shipping_address = facts.shipping.clone().unwrap_or_else(|| PostalAddress {
        name: Some(customer_name.clone()),
        ..facts.billing.clone()
    });

    let payment_id: i32 = sqlx::query_scalar(
        "INSERT INTO order_order_payment (email, payment_type, card_name, stripe_payment_intent_id) \
         VALUES ($1, 'card', $2, $3) RETURNING id",
    )
    .bind(fit(&email, 254))
    .bind(fit(&customer_name, 200))
    .bind(&facts.payment_intent)
    .fetch_one(&mut *tx)
    .await?;
    let shipping_id =
        insert_address(&mut tx, "order_order_shipping_address", &shipping_address).await?;
    let billing = PostalAddress {
        name: Some(customer_name.clone()),
        ..facts.billing.clone()
    };
    let billing_id = insert_address(&mut tx, "order_order_billing_address", &billing).await?;

    let (member_id, prospect) = match member_id {
        Some(m) => (Some(m), None),
        None if email.is_empty() => (None, None),
        None => (
            None,
            Some(prospect_for(&mut tx, &email, &identifier, ctx).await?),
        ),
    };
    // The stored total is what the customer paid; the cart's total is kept
    // next to it in swa_checkout_session when the two differ.
    let charged = facts.amount_total.map(Cents).unwrap_or(totals.total());
    let order_id: i32 = sqlx::query_scalar(
        "INSERT INTO order_order (identifier, member_id, prospect_id, payment_id, \
             shipping_address_id, billing_address_id, sales_tax_amt, item_subtotal, shipping_amt, \
             order_total, agreed_with_terms_of_sale, order_date_time) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7::numeric / 100, $8::numeric / 100, \
                 $9::numeric / 100, true, now()) RETURNING id",
    )
    .bind(&identifier)
    .bind(member_id)
    .bind(prospect.as_ref().map(|p| p.0))
    .bind(payment_id)
    .bind(shipping_id)
    .bind(billing_id)
    .bind(totals.items.0)
    .bind(totals.shipping.0)
    .bind(charged.0)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO order_order_sku (order_id, sku_id, quantity, price_each) \
         SELECT $1, cs.sku_id, cs.quantity, COALESCE((SELECT p.price FROM order_sku_price p \
                WHERE p.sku_id = cs.sku_id ORDER BY p.created_date_time DESC, p.id DESC LIMIT 1), 0) \
         FROM order_cart_sku cs WHERE cs.cart_id = $2 ORDER BY cs.id",
    )
    .bind(order_id)
    .bind(cart_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO order_order_status (order_id, status_id, created_date_time) \
         SELECT $1, s.id, now() FROM order_status s \
         WHERE s.identifier = COALESCE((SELECT string_value FROM order_configuration \
               WHERE key = 'initial_order_status' ORDER BY id LIMIT 1), 'accepted') \
         ORDER BY s.id LIMIT 1",
    )
    .bind(order_id)
    .execute(&mut *tx)
    .await?;
    if let Some(method) = &shipping_method {
        sqlx::query(
            "INSERT INTO order_order_shipping_method (order_id, shippingmethod_id) \
             SELECT $1, id FROM order_shipping_method WHERE identifier = $2 ORDER BY id LIMIT 1",
        )
        .bind(order_id)
        .bind(&method.identifier)
        .execute(&mut *tx)
        .await?;
    }

    let discount = Cents(facts.amount_discount.unwrap_or(0));
    if charged != totals.total() {
        tracing::warn!(
            session_id = %facts.session_id,
            order_id,
            cart_total_cents = totals.total().0,
            charged_cents = charged.0,
            discount_cents = discount.0,
            "[ORDER_TOTAL_MISMATCH] Stripe charged a different amount than the cart total"
        );
    }
    sqlx::query(
        "UPDATE swa_checkout_session SET order_id = $2, cart_total_cents = $3, \
             amount_total_cents = $4, amount_discount_cents = $5 WHERE session_id = $1",
    )
    .bind(&facts.session_id)
    .bind(order_id)
    .bind(totals.total().0)
    .bind(facts.amount_total)
    .bind(facts.amount_discount)
    .execute(&mut *tx)
    .await?;

    if !email.is_empty() {
        let lines: Vec<OrderedLine> = items
            .iter()
            .map(|i| OrderedLine {
                product_title: i.product_title.clone().unwrap_or_default(),
                description: i.description.clone(),
                color: i.color.clone(),
                size: i.size.clone(),
                price_each: Cents(i.price_cents.unwrap_or(0)),
                quantity: i.quantity,
            })
            .collect();
        let customer_code = match (&member_id, &prospect) {
            (Some(m), _) => ("mb_cd", member_code(&mut tx, *m).await?),
            (None, Some((_, pr_cd))) => ("pr_cd", pr_cd.clone()),
            (None, None) => ("pr_cd", String::new()),
        };
        let template = confirmation_template(&mut tx, member_id.is_some()).await?;
        let letter = OrderLetter {
            site: ctx.site,
            identifier: &identifier,
            recipient_name: facts.customer_name.as_deref(),
            lines: &lines,
            shipping_method: shipping_method
                .as_ref()
                .map(|m| (m.carrier.as_str(), Cents(m.cost_cents))),
            item_subtotal: totals.items,
            shipping: totals.shipping,
            total: charged,
            discount,
            shipping_address: &shipping_address,
            billing_address: &billing,
            payment_email: &email,
            em_cd: &template.em_cd,
            customer_code: (customer_code.0, &customer_code.1),
        };
        let fields = order_email::fields(&letter);
        email::enqueue(
            &mut tx,
            &OutgoingEmail {
                kind: CONFIRMATION_KIND,
                to: vec![email.clone()],
                subject: template.subject,
                body: order_email::fill(&template.body_text, &fields),
                dedupe_key: Some(confirmation_key(order_id)),
            },
        )
        .await?;
    }
    carts::delete(&mut tx, cart_id).await?;
    tx.commit().await?;
    Ok(OrderOutcome::Created {
        order_id,
        identifier,
    })
}

/// 10 characters from the OS CSPRNG; a clash with an existing identifier
/// (62^10 space) draws again.
async fn new_identifier(conn: &mut PgConnection) -> Result<String, sqlx::Error> {
    loop {
        let candidate = random_alphanumeric(10);
        let taken: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM order_order WHERE identifier = $1)")
                .bind(&candidate)
                .fetch_one(&mut *conn)
                .await?;
        if !taken {
            return Ok(candidate);
        }
    }
}

fn fit(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}

fn opt_fit(value: &Option<String>, max: usize) -> String {
    value.as_deref().map(|v| fit(v, max)).unwrap_or_default()
}

async fn insert_address(
    conn: &mut PgConnection,
    table: &'static str,
    a: &PostalAddress,
) -> Result<i32, sqlx::Error> {
    let sql = match table {
        "order_order_shipping_address" => {
            "INSERT INTO order_order_shipping_address (name, address_line1, city, state, zip, \
             country, country_code) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id"
        }
        _ => {
            "INSERT INTO order_order_billing_address (name, address_line1, city, state, zip, \
             country, country_code) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id"
        }
    };
    // Values are fitted to the legacy column sizes so an unusual address
    // cannot fail a paid order.
    sqlx::query_scalar(sql)
        .bind(opt_fit(&a.name, 200))
        .bind(opt_fit(&a.line1, 200))
        .bind(opt_fit(&a.city, 200))
        .bind(opt_fit(&a.state, 40))
        .bind(opt_fit(&a.postal_code, 10))
        .bind(opt_fit(&a.country, 10))
        .fetch_one(conn)
        .await
}

/// The prospect of an anonymous order (found case-insensitively, else new,
/// not opted in to marketing). Returns `(id, pr_cd)`.
async fn prospect_for(
    conn: &mut PgConnection,
    email: &str,
    identifier: &str,
    ctx: &OrderContext<'_>,
) -> Result<(i32, String), sqlx::Error> {
    let note = format!("Captured from Stripe Checkout order identifier: {identifier}");
    let found: Option<(i32, Option<String>)> = sqlx::query_as(
        "UPDATE user_prospect SET swa_comment = $2, \
             pr_cd = COALESCE(pr_cd, $3) \
         WHERE id = (SELECT id FROM user_prospect WHERE lower(email) = lower($1) ORDER BY id LIMIT 1) \
         RETURNING id, pr_cd",
    )
    .bind(email)
    .bind(&note)
    .bind(random_alphanumeric(20))
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((id, pr_cd)) = found {
        return Ok((id, pr_cd.unwrap_or_default()));
    }
    let unsubscribe_string = random_alphanumeric(20);
    let pr_cd = random_alphanumeric(20);
    let id: i32 = sqlx::query_scalar(
        "INSERT INTO user_prospect (email, email_unsubscribed, email_unsubscribe_string, \
             email_unsubscribe_string_signed, swa_comment, pr_cd, created_date_time) \
         VALUES ($1, true, $2, $3, $4, $5, now()) RETURNING id",
    )
    .bind(fit(email, 254))
    .bind(&unsubscribe_string)
    .bind(ctx.signer.unsubscribe_token(&unsubscribe_string))
    .bind(&note)
    .bind(&pr_cd)
    .fetch_one(&mut *conn)
    .await?;
    Ok((id, pr_cd))
}

async fn member_code(conn: &mut PgConnection, member_id: i32) -> Result<String, sqlx::Error> {
    let code: Option<Option<String>> =
        sqlx::query_scalar("SELECT mb_cd FROM user_member WHERE id = $1")
            .bind(member_id)
            .fetch_optional(conn)
            .await?;
    Ok(code.flatten().unwrap_or_default())
}

struct Template {
    subject: String,
    body_text: String,
    em_cd: String,
}

/// The configured `user_email` template; a built-in text when the row or the
/// configuration is missing (or its body was blanked, as a legacy migration
/// once did), so an order never waits on a template.
async fn confirmation_template(
    conn: &mut PgConnection,
    member: bool,
) -> Result<Template, sqlx::Error> {
    let key = if member {
        "order_confirmation_em_cd_member"
    } else {
        "order_confirmation_em_cd_prospect"
    };
    let row: Option<(String, String, String)> = sqlx::query_as(
        "SELECT e.subject, e.body_text, e.em_cd FROM user_email e \
         WHERE e.em_cd = (SELECT string_value FROM order_configuration WHERE key = $1 \
                          ORDER BY id LIMIT 1)",
    )
    .bind(key)
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        Some((subject, body_text, em_cd)) if !body_text.trim().is_empty() => Template {
            subject,
            body_text,
            em_cd,
        },
        _ => {
            tracing::warn!(
                key,
                "order confirmation template missing; using the built-in text"
            );
            Template {
                subject: "Order Confirmation".to_owned(),
                body_text: DEFAULT_TEMPLATE.to_owned(),
                em_cd: String::new(),
            }
        }
    })
}

const DEFAULT_TEMPLATE: &str = "Hi {recipient_first_name},{line_break}Thank you for your order!\
{line_break}ORDER INFORMATION{short_line_break}{order_information}{line_break}View your order \
here: {ENVIRONMENT_DOMAIN}/account/order?identifier={identifier}{line_break}PRODUCTS\
{short_line_break}{product_information}{line_break}SHIPPING METHOD{short_line_break}\
{shipping_information}{line_break}ORDER TOTAL{short_line_break}{order_total_information}\
{line_break}SHIPPING ADDRESS{short_line_break}{shipping_address_information}{line_break}\
BILLING ADDRESS{short_line_break}{billing_address_information}{line_break}PAYMENT INFORMATION\
{short_line_break}{payment_information}";

/// Records that an order's confirmation finally failed (the row operators
/// work from) — called by the email sender in its own transaction.
pub async fn record_email_failure(
    conn: &mut PgConnection,
    order_id: i32,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO order_order_email_failure (order_id, failure_type, error_message, \
             customer_email, is_member_order, phase, created_date_time, resolved) \
         SELECT o.id, 'smtp_send', $2, COALESCE(p.email, ''), o.member_id IS NOT NULL, \
                'email_send', now(), false \
         FROM order_order o LEFT JOIN order_order_payment p ON p.id = o.payment_id \
         WHERE o.id = $1",
    )
    .bind(order_id)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// The header of an order as its page shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderHead {
    pub id: i32,
    pub identifier: String,
    pub member_id: Option<i32>,
    pub order_date_time: DateTime<Utc>,
    pub sales_tax_cents: i64,
    pub item_subtotal_cents: i64,
    pub shipping_cents: i64,
    pub total_cents: i64,
    pub payment_id: Option<i32>,
    pub shipping_address_id: Option<i32>,
    pub billing_address_id: Option<i32>,
}

pub async fn head_by_identifier(
    pool: &PgPool,
    identifier: &str,
) -> Result<Option<OrderHead>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, COALESCE(identifier, '') AS identifier, member_id, order_date_time, \
                (sales_tax_amt * 100)::int8 AS sales_tax_cents, \
                (item_subtotal * 100)::int8 AS item_subtotal_cents, \
                (shipping_amt * 100)::int8 AS shipping_cents, \
                (order_total * 100)::int8 AS total_cents, \
                payment_id, shipping_address_id, billing_address_id \
         FROM order_order WHERE identifier = $1",
    )
    .bind(identifier)
    .fetch_optional(pool)
    .await
}

/// One ordered line as the order page shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderLine {
    pub sku_id: i32,
    pub sku_type_title: String,
    pub inventory_title: String,
    pub color: Option<String>,
    pub size: Option<String>,
    pub description: Option<String>,
    pub price_cents: i64,
    pub quantity: i32,
    pub product_title: Option<String>,
    pub product_title_url: Option<String>,
    pub product_identifier: Option<String>,
    pub image_url: Option<String>,
}

pub async fn lines(pool: &PgPool, order_id: i32) -> Result<Vec<OrderLine>, sqlx::Error> {
    sqlx::query_as(
        "SELECT os.sku_id, st.title AS sku_type_title, si.title AS inventory_title, s.color, \
                s.size, s.description, (os.price_each * 100)::int8 AS price_cents, os.quantity, \
                prod.title AS product_title, prod.title_url AS product_title_url, \
                prod.identifier AS product_identifier, \
                COALESCE(simg.image_url, pimg.image_url) AS image_url \
         FROM order_order_sku os \
         JOIN order_sku s ON s.id = os.sku_id \
         JOIN order_sku_type st ON st.id = s.sku_type_id \
         JOIN order_sku_inventory si ON si.id = s.sku_inventory_id \
         LEFT JOIN LATERAL (SELECT p.id, p.title, p.title_url, p.identifier \
                FROM order_product_sku ps JOIN order_product p ON p.id = ps.product_id \
                WHERE ps.sku_id = s.id ORDER BY ps.id LIMIT 1) prod ON true \
         LEFT JOIN LATERAL (SELECT image_url FROM order_sku_image \
                WHERE sku_id = s.id AND main_image ORDER BY id LIMIT 1) simg ON true \
         LEFT JOIN LATERAL (SELECT image_url FROM order_product_image \
                WHERE product_id = prod.id AND main_image ORDER BY id LIMIT 1) pimg ON true \
         WHERE os.order_id = $1 AND st.title = 'product' ORDER BY os.id",
    )
    .bind(order_id)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderStatusRow {
    pub identifier: String,
    pub title: String,
    pub description: String,
    pub created_date_time: DateTime<Utc>,
}

pub async fn statuses(pool: &PgPool, order_id: i32) -> Result<Vec<OrderStatusRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.identifier, s.title, s.description, os.created_date_time \
         FROM order_order_status os JOIN order_status s ON s.id = os.status_id \
         WHERE os.order_id = $1 ORDER BY os.created_date_time DESC, os.id DESC",
    )
    .bind(order_id)
    .fetch_all(pool)
    .await
}

pub async fn shipping_method(
    pool: &PgPool,
    order_id: i32,
) -> Result<Option<carts::ShippingMethod>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.identifier, m.carrier, (m.shipping_cost * 100)::int8 AS cost_cents, \
                m.tracking_code_base_url \
         FROM order_order_shipping_method om JOIN order_shipping_method m ON m.id = om.shippingmethod_id \
         WHERE om.order_id = $1 ORDER BY om.id LIMIT 1",
    )
    .bind(order_id)
    .fetch_optional(pool)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredAddress {
    pub name: Option<String>,
    pub address_line1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub country: Option<String>,
    pub country_code: Option<String>,
}

pub async fn address(
    pool: &PgPool,
    shipping: bool,
    id: i32,
) -> Result<Option<StoredAddress>, sqlx::Error> {
    let sql = if shipping {
        "SELECT name, address_line1, city, state, zip, country, country_code \
         FROM order_order_shipping_address WHERE id = $1"
    } else {
        "SELECT name, address_line1, city, state, zip, country, country_code \
         FROM order_order_billing_address WHERE id = $1"
    };
    sqlx::query_as(sql).bind(id).fetch_optional(pool).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredPayment {
    pub email: Option<String>,
    pub payment_type: Option<String>,
    pub card_name: Option<String>,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub card_exp_month: Option<String>,
    pub card_exp_year: Option<String>,
    pub card_zip: Option<String>,
}

pub async fn payment(pool: &PgPool, id: i32) -> Result<Option<StoredPayment>, sqlx::Error> {
    sqlx::query_as(
        "SELECT email, payment_type, card_name, card_brand, card_last4, card_exp_month, \
                card_exp_year, card_zip FROM order_order_payment WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Records a webhook event id; false when it was already handled.
pub async fn record_event(
    conn: &mut PgConnection,
    event_id: &str,
    event_type: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO swa_stripe_event (event_id, event_type) VALUES ($1, $2) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(event_type)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
