//! Carts, the checkout gate and the confirm pages (`/order/cart-*`,
//! `/order/checkout-allowed`, `/order/confirm-*`), wire-compatible with the
//! legacy storefront. State changes are POST (CSRF-checked by middleware);
//! reads are GET. Money is computed in cents and sent as `"3.50"` strings.

use chrono::Utc;
use poem::web::Data;
use poem::web::cookie::CookieJar;
use poem_openapi::payload::{Form, Json};
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;

use super::ApiTags;
use super::failure::{Failure, FormPostErrors, ServerErrors};
use super::wire::{KeyedMap, ORDER_API_VERSION};
use crate::app::AppState;
use crate::db::carts::{self, AddRejected, CartItem, CartOwner, ShippingMethod, Totals};
use crate::domain::signing::random_alphanumeric;
use crate::error::AppError;
use crate::http::cookies::{self, Outgoing};
use crate::http::visitor::{self, Visitor, cart_signer};

pub struct CartApi {
    state: AppState,
}

impl CartApi {
    pub fn new(state: AppState) -> Self {
        CartApi { state }
    }
}

fn version() -> String {
    ORDER_API_VERSION.to_owned()
}

// ---- request bodies -------------------------------------------------------

/// `sku_id` and `quantity`, form-encoded as the storefront posts them.
#[derive(Object, Deserialize, Debug)]
pub struct SkuQuantityForm {
    /// SKU id (digits).
    pub sku_id: Option<String>,
    /// Whole number 0–99.
    pub quantity: Option<String>,
}

#[derive(Object, Deserialize, Debug)]
pub struct SkuForm {
    /// SKU id (digits).
    pub sku_id: Option<String>,
}

#[derive(Object, Deserialize, Debug)]
pub struct ShippingMethodForm {
    /// Identifier of a shipping method, e.g. `USPSRetailGround`.
    pub shipping_method_identifier: Option<String>,
}

// ---- response parts -------------------------------------------------------

/// One cart line as the cart and confirm pages render it.
#[derive(Object, Debug, Clone)]
pub struct CartLine {
    pub sku_id: i32,
    #[oai(rename = "sku_type__title")]
    pub sku_type_title: String,
    #[oai(rename = "sku_inventory__title")]
    pub sku_inventory_title: String,
    /// `in-stock`, `back-ordered` or `out-of-stock`; checkout is hidden unless all are in stock.
    #[oai(rename = "sku_inventory__identifier")]
    pub sku_inventory_identifier: String,
    pub color: Option<String>,
    pub size: Option<String>,
    pub description: Option<String>,
    /// Current price, e.g. `"3.50"`.
    pub price: String,
    pub quantity: i32,
    #[oai(rename = "parent_product__title")]
    pub parent_product_title: Option<String>,
    #[oai(rename = "parent_product__title_url")]
    pub parent_product_title_url: Option<String>,
    #[oai(rename = "parent_product__identifier")]
    pub parent_product_identifier: Option<String>,
    /// The SKU's main image, else the product's main image.
    pub sku_image_url: Option<String>,
}

impl From<CartItem> for CartLine {
    fn from(i: CartItem) -> Self {
        CartLine {
            sku_id: i.sku_id,
            sku_type_title: i.sku_type_title,
            sku_inventory_title: i.inventory_title,
            sku_inventory_identifier: i.inventory_identifier,
            color: i.color,
            size: i.size,
            description: i.description,
            price: carts_price(i.price_cents),
            quantity: i.quantity,
            parent_product_title: i.product_title,
            parent_product_title_url: i.product_title_url,
            parent_product_identifier: i.product_identifier,
            sku_image_url: i.image_url,
        }
    }
}

fn carts_price(cents: Option<i64>) -> String {
    crate::domain::money::Cents(cents.unwrap_or(0)).to_string()
}

/// `{"product_sku_data": {"0": line, …}}` with a cart, `{}` without one.
#[derive(Object, Debug, Default)]
pub struct ItemData {
    #[oai(skip_serializing_if_is_none)]
    pub product_sku_data: Option<KeyedMap<CartLine>>,
}

#[derive(Object, Debug, Clone)]
pub struct ShippingMethodJson {
    pub identifier: String,
    pub carrier: String,
    /// e.g. `"9.56"`.
    pub shipping_cost: String,
    pub tracking_code_base_url: String,
}

impl From<ShippingMethod> for ShippingMethodJson {
    fn from(m: ShippingMethod) -> Self {
        ShippingMethodJson {
            identifier: m.identifier,
            carrier: m.carrier,
            shipping_cost: crate::domain::money::Cents(m.cost_cents).to_string(),
            tracking_code_base_url: m.tracking_code_base_url,
        }
    }
}

/// Amounts as 2-decimal strings; `"0.00"` when there is nothing to sum.
#[derive(Object, Debug)]
pub struct TotalsData {
    pub item_subtotal: String,
    pub shipping_subtotal: String,
    pub cart_total: String,
}

impl From<Totals> for TotalsData {
    fn from(t: Totals) -> Self {
        TotalsData {
            item_subtotal: t.items.to_string(),
            shipping_subtotal: t.shipping.to_string(),
            cart_total: t.total().to_string(),
        }
    }
}

impl TotalsData {
    fn empty() -> Self {
        Totals {
            items: crate::domain::money::Cents::ZERO,
            shipping: crate::domain::money::Cents::ZERO,
        }
        .into()
    }
}

/// One validation problem, as the storefront reads `errors.quantity[0][0].type`.
#[derive(Object, Debug, Clone)]
pub struct FieldProblem {
    /// `out_of_range` or `not_an_int`.
    #[oai(rename = "type")]
    pub kind: String,
    pub description: String,
}

/// `{"error": code}`, or for a bad quantity `{"quantity": [[problem]]}`.
#[derive(Object, Debug, Default)]
pub struct CartErrors {
    /// `sku-id-required`, `sku-not-found`, `cart-not-found`, `cart-sku-not-found`,
    /// `shipping-method-identifier-required`, `error-setting-cart-shipping-method`,
    /// `member-not-found`.
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub quantity: Option<Vec<Vec<FieldProblem>>>,
}

impl CartErrors {
    fn code(code: &str) -> Option<CartErrors> {
        Some(CartErrors {
            error: Some(code.to_owned()),
            quantity: None,
        })
    }
    fn quantity(problem: QuantityProblem) -> Option<CartErrors> {
        let (kind, description) = match problem {
            QuantityProblem::NotAnInt => ("not_an_int", "The value provided is not an integer."),
            QuantityProblem::OutOfRange => ("out_of_range", "The value provided is out of range."),
        };
        Some(CartErrors {
            error: None,
            quantity: Some(vec![vec![FieldProblem {
                kind: kind.to_owned(),
                description: description.to_owned(),
            }]]),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuantityProblem {
    NotAnInt,
    OutOfRange,
}

/// Python `int()` rules (surrounding whitespace, a sign, digits), then 0–99.
fn parse_quantity(raw: Option<&str>) -> Result<i32, QuantityProblem> {
    let text = raw.unwrap_or("").trim();
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QuantityProblem::NotAnInt);
    }
    match text.parse::<i64>() {
        Ok(n) if (0..=i64::from(carts::MAX_QUANTITY)).contains(&n) => Ok(n as i32),
        _ => Err(QuantityProblem::OutOfRange),
    }
}

/// A SKU id: digits that fit an `integer` column.
fn parse_id(raw: &str) -> Option<i32> {
    let t = raw.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

// ---- responses ------------------------------------------------------------

#[derive(Object, Debug)]
pub struct CheckoutAllowed {
    pub checkout_allowed: bool,
    #[oai(rename = "order-api-version")]
    pub order_api_version: String,
}

#[derive(Object, Debug)]
pub struct CartItems {
    pub cart_found: bool,
    pub item_data: ItemData,
    #[oai(rename = "order-api-version")]
    pub order_api_version: String,
}

#[derive(Object, Debug)]
pub struct CartShippingMethods {
    pub cart_found: bool,
    pub cart_shipping_methods: KeyedMap<ShippingMethodJson>,
    /// Identifier of the selected method, or null without a cart.
    #[oai(nullable)]
    pub shipping_method_selected: Option<String>,
    #[oai(rename = "order-api-version")]
    pub order_api_version: String,
}

#[derive(Object, Debug)]
pub struct CartTotals {
    pub cart_found: bool,
    pub cart_totals_data: TotalsData,
    #[oai(rename = "order-api-version")]
    pub order_api_version: String,
}

#[derive(Object, Debug)]
pub struct CartAddProductSku {
    /// `success` or `error`.
    pub cart_add_product_sku: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<CartErrors>,
    /// The posted `sku_id`, null when it was missing.
    #[oai(nullable)]
    pub sku_id: Option<String>,
    /// Number of distinct SKUs in the cart (on success).
    #[oai(skip_serializing_if_is_none)]
    pub cart_item_count: Option<i64>,
    #[oai(rename = "order-api-version")]
    pub order_api_version: String,
}

#[derive(Object, Debug)]
pub struct CartUpdateSkuQuantity {
    /// `success` or `error`.
    pub cart_update_sku_quantity: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<CartErrors>,
    #[oai(skip_serializing_if_is_none)]
    pub cart_found: Option<bool>,
    #[oai(skip_serializing_if_is_none)]
    pub sku_id: Option<String>,
    /// Price × quantity of the updated row.
    #[oai(skip_serializing_if_is_none)]
    pub sku_subtotal: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub cart_totals_data: Option<TotalsData>,
    #[oai(rename = "order-api-version")]
    pub order_api_version: String,
}

#[derive(Object, Debug)]
pub struct CartRemoveSku {
    /// `success` or `error`.
    pub cart_remove_sku: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<CartErrors>,
    #[oai(skip_serializing_if_is_none)]
    pub cart_found: Option<bool>,
    #[oai(skip_serializing_if_is_none)]
    pub sku_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub cart_item_count: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub cart_shipping_methods: Option<KeyedMap<ShippingMethodJson>>,
    /// Always null on success: removing an item resets the selection.
    #[oai(skip_serializing_if = "MaybeUndefined::is_undefined")]
    pub shipping_method_selected: MaybeUndefined<String>,
    #[oai(skip_serializing_if_is_none)]
    pub cart_totals_data: Option<TotalsData>,
    #[oai(rename = "order-api-version")]
    pub order_api_version: String,
}

#[derive(Object, Debug)]
pub struct CartUpdateShippingMethod {
    /// `success` or `error`.
    pub cart_update_shipping_method: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<CartErrors>,
    #[oai(skip_serializing_if_is_none)]
    pub cart_found: Option<bool>,
    #[oai(skip_serializing_if_is_none)]
    pub shipping_method_identifier: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub cart_totals_data: Option<TotalsData>,
    #[oai(rename = "order-api-version")]
    pub order_api_version: String,
}

#[derive(Object, Debug)]
pub struct CartDeleteCart {
    /// `success` or `error` (`cart-not-found`).
    pub cart_delete_cart: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<CartErrors>,
    #[oai(rename = "order-api-version")]
    pub order_api_version: String,
}

/// Confirm pages: with the gate closed only `checkout_allowed: false` and the version.
#[derive(Object, Debug)]
pub struct ConfirmItems {
    pub checkout_allowed: bool,
    #[oai(skip_serializing_if_is_none)]
    pub cart_found: Option<bool>,
    #[oai(skip_serializing_if_is_none)]
    pub item_data: Option<ItemData>,
    #[oai(rename = "order-api-version")]
    pub order_api_version: String,
}

#[derive(Object, Debug, Default)]
pub struct ConfirmShippingMethodData {
    #[oai(skip_serializing_if_is_none)]
    pub identifier: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub carrier: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub shipping_cost: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub tracking_code_base_url: Option<String>,
}

#[derive(Object, Debug)]
pub struct ConfirmShippingMethod {
    pub checkout_allowed: bool,
    #[oai(skip_serializing_if_is_none)]
    pub cart_found: Option<bool>,
    /// The selected method, or `{}` when none is selected.
    #[oai(skip_serializing_if_is_none)]
    pub confirm_shipping_method: Option<ConfirmShippingMethodData>,
    #[oai(rename = "order-api-version")]
    pub order_api_version: String,
}

#[derive(Object, Debug)]
pub struct ConfirmTotals {
    pub checkout_allowed: bool,
    #[oai(skip_serializing_if_is_none)]
    pub cart_found: Option<bool>,
    #[oai(skip_serializing_if_is_none)]
    pub confirm_totals_data: Option<TotalsData>,
    #[oai(rename = "order-api-version")]
    pub order_api_version: String,
}

// ---- helpers --------------------------------------------------------------

/// The cart owner for a visitor, if one can own a cart.
fn keyed<T, U: From<T>>(rows: Vec<T>) -> KeyedMap<U> {
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| (i, U::from(row)))
        .collect()
}

/// The checkout gate: `*` or the exact username / `an_ct` value in the
/// configured comma-separated list. A missing row or an empty list allows nobody.
pub(crate) async fn checkout_gate(state: &AppState, visitor: &Visitor) -> Result<bool, AppError> {
    let (key, value) = match visitor {
        Visitor::Member(u) => ("usernames_allowed_to_checkout", Some(u.username.as_str())),
        Visitor::Anonymous { cart_token } => {
            ("an_ct_values_allowed_to_checkout", cart_token.as_deref())
        }
    };
    let list = carts::checkout_allow_list(&state.pool, key).await?;
    Ok(list.is_some_and(|list| {
        list.split(',')
            .any(|entry| entry == "*" || (!entry.is_empty() && Some(entry) == value))
    }))
}

impl CartApi {
    async fn visitor(&self, jar: &CookieJar) -> Result<Visitor, AppError> {
        Ok(visitor::identify(&self.state.pool, &self.state.config, jar).await?)
    }

    async fn cart_id(&self, visitor: &Visitor) -> Result<Option<i32>, AppError> {
        match visitor.cart_owner() {
            Some(o) => Ok(carts::find(&self.state.pool, &o).await?),
            None => Ok(None),
        }
    }

    async fn gate(&self, visitor: &Visitor) -> Result<bool, AppError> {
        checkout_gate(&self.state, visitor).await
    }

    async fn item_data(
        conn: &mut sqlx::PgConnection,
        cart_id: Option<i32>,
    ) -> Result<ItemData, AppError> {
        Ok(match cart_id {
            Some(id) => ItemData {
                product_sku_data: Some(keyed(carts::items_in(conn, id).await?)),
            },
            None => ItemData::default(),
        })
    }

    async fn totals(&self, cart_id: Option<i32>) -> Result<TotalsData, AppError> {
        Ok(match cart_id {
            Some(id) => carts::totals_in_pool(&self.state.pool, id).await?.into(),
            None => TotalsData::empty(),
        })
    }
}

#[OpenApi(tag = "ApiTags::Cart")]
impl CartApi {
    /// Whether this visitor may check out (member by username, anonymous by cart cookie).
    #[oai(path = "/order/checkout-allowed", method = "get")]
    async fn checkout_allowed(
        &self,
        jar: &CookieJar,
    ) -> Result<Json<CheckoutAllowed>, Failure<ServerErrors>> {
        let visitor = self.visitor(jar).await?;
        Ok(Json(CheckoutAllowed {
            checkout_allowed: self.gate(&visitor).await?,
            order_api_version: version(),
        }))
    }

    /// The cart's product lines (cart page).
    #[oai(path = "/order/cart-items", method = "get")]
    async fn cart_items(&self, jar: &CookieJar) -> Result<Json<CartItems>, Failure<ServerErrors>> {
        let mut cart_id = None;
        let mut item_data = ItemData::default();
        // A first visit has no cookie that could name a cart: no query at all.
        if visitor::has_identity_cookie(jar) {
            // The page polls this: one pooled connection for its up to three
            // queries (each acquire/release costs sqlx a round trip of its own).
            let mut conn = self.state.pool.acquire().await.map_err(AppError::from)?;
            let visitor = visitor::identify_with(&mut *conn, &self.state.config, jar)
                .await
                .map_err(AppError::from)?;
            if let Some(owner) = visitor.cart_owner() {
                cart_id = carts::find_on(&mut conn, &owner)
                    .await
                    .map_err(AppError::from)?;
            }
            item_data = Self::item_data(&mut conn, cart_id).await?;
        }
        Ok(Json(CartItems {
            cart_found: cart_id.is_some(),
            item_data,
            order_api_version: version(),
        }))
    }

    /// Active shipping methods, most expensive first, and the selection.
    /// A cart without a selection gets the configured default selected.
    #[oai(path = "/order/cart-shipping-methods", method = "get")]
    async fn cart_shipping_methods(
        &self,
        jar: &CookieJar,
    ) -> Result<Json<CartShippingMethods>, Failure<ServerErrors>> {
        let visitor = self.visitor(jar).await?;
        let Some(cart_id) = self.cart_id(&visitor).await? else {
            return Ok(Json(CartShippingMethods {
                cart_found: false,
                cart_shipping_methods: KeyedMap::new(),
                shipping_method_selected: None,
                order_api_version: version(),
            }));
        };
        let mut conn = self.state.pool.acquire().await.map_err(AppError::from)?;
        carts::assign_default_shipping(&mut conn, cart_id).await?;
        let methods = carts::active_shipping_methods(&mut conn).await?;
        let selected = carts::selected_shipping_method(&mut conn, cart_id).await?;
        Ok(Json(CartShippingMethods {
            cart_found: true,
            cart_shipping_methods: keyed(methods),
            shipping_method_selected: selected.map(|m| m.identifier),
            order_api_version: version(),
        }))
    }

    /// Item subtotal, shipping and total.
    #[oai(path = "/order/cart-totals", method = "get")]
    async fn cart_totals(
        &self,
        jar: &CookieJar,
    ) -> Result<Json<CartTotals>, Failure<ServerErrors>> {
        let visitor = self.visitor(jar).await?;
        let cart_id = self.cart_id(&visitor).await?;
        Ok(Json(CartTotals {
            cart_found: cart_id.is_some(),
            cart_totals_data: self.totals(cart_id).await?,
            order_api_version: version(),
        }))
    }

    /// Adds a quantity (0–99; the cart line may not exceed 99) of a SKU,
    /// creating the cart if needed. An anonymous visitor gets the signed
    /// `an_ct` cookie. Errors: `sku-id-required`, `sku-not-found`, a
    /// `quantity` problem (`not_an_int`, `out_of_range`), `member-not-found`.
    #[oai(path = "/order/cart-add-product-sku", method = "post")]
    async fn cart_add_product_sku(
        &self,
        jar: &CookieJar,
        outgoing: Data<&Outgoing>,
        form: Form<SkuQuantityForm>,
    ) -> Result<Json<CartAddProductSku>, Failure<FormPostErrors>> {
        let form = form.0;
        let reply = |errors: Option<CartErrors>, sku_id: Option<String>, count: Option<i64>| {
            Json(CartAddProductSku {
                cart_add_product_sku: if errors.is_some() { "error" } else { "success" }.to_owned(),
                errors,
                sku_id,
                cart_item_count: count,
                order_api_version: version(),
            })
        };
        let Some(raw_sku) = form.sku_id else {
            return Ok(reply(CartErrors::code("sku-id-required"), None, None));
        };
        let quantity = match parse_quantity(form.quantity.as_deref()) {
            Ok(q) => q,
            Err(p) => return Ok(reply(CartErrors::quantity(p), Some(raw_sku), None)),
        };
        let Some(sku_id) = parse_id(&raw_sku) else {
            return Ok(reply(
                CartErrors::code("sku-not-found"),
                Some(raw_sku),
                None,
            ));
        };
        let visitor = self.visitor(jar).await?;
        let owner = match &visitor {
            Visitor::Member(u) => match u.member_id {
                Some(m) => CartOwner::Member(m),
                None => {
                    return Ok(reply(
                        CartErrors::code("member-not-found"),
                        Some(raw_sku),
                        None,
                    ));
                }
            },
            Visitor::Anonymous {
                cart_token: Some(token),
            } => CartOwner::Anonymous(token),
            Visitor::Anonymous { cart_token: None } => CartOwner::NewAnonymous,
        };
        match carts::add_sku(
            &self.state.pool,
            &owner,
            || random_alphanumeric(20),
            sku_id,
            quantity,
        )
        .await
        {
            Ok(added) => {
                if let Some(token) = added.anonymous_token {
                    let signed = cart_signer(&self.state.config)
                        .sign(&token, Utc::now().timestamp().max(0) as u64);
                    outgoing.set(cookies::anonymous_cart(&self.state.config, signed));
                }
                Ok(reply(None, Some(raw_sku), Some(added.item_count)))
            }
            Err(AddRejected::SkuNotFound) => Ok(reply(
                CartErrors::code("sku-not-found"),
                Some(raw_sku),
                None,
            )),
            Err(AddRejected::QuantityOutOfRange) => Ok(reply(
                CartErrors::quantity(QuantityProblem::OutOfRange),
                Some(raw_sku),
                None,
            )),
            Err(AddRejected::Database(e)) => Err(e.into()),
        }
    }

    /// Sets a line's quantity (0–99; 0 removes the line). Errors:
    /// `cart-not-found`, `sku-id-required`, `cart-sku-not-found`, a `quantity` problem.
    #[oai(path = "/order/cart-update-sku-quantity", method = "post")]
    async fn cart_update_sku_quantity(
        &self,
        jar: &CookieJar,
        form: Form<SkuQuantityForm>,
    ) -> Result<Json<CartUpdateSkuQuantity>, Failure<FormPostErrors>> {
        let form = form.0;
        let error = |errors: Option<CartErrors>, sku_id: Option<String>| {
            Json(CartUpdateSkuQuantity {
                cart_update_sku_quantity: "error".to_owned(),
                errors,
                cart_found: None,
                sku_id,
                sku_subtotal: None,
                cart_totals_data: None,
                order_api_version: version(),
            })
        };
        let visitor = self.visitor(jar).await?;
        let Some(owner) = visitor.cart_owner() else {
            return Ok(error(CartErrors::code("cart-not-found"), None));
        };
        let Some(raw_sku) = form.sku_id else {
            return Ok(error(CartErrors::code("sku-id-required"), None));
        };
        let quantity = match parse_quantity(form.quantity.as_deref()) {
            Ok(q) => q,
            Err(p) => return Ok(error(CartErrors::quantity(p), Some(raw_sku))),
        };
        let Some((mut tx, cart_id)) = carts::lock(&self.state.pool, &owner).await? else {
            return Ok(error(CartErrors::code("cart-not-found"), None));
        };
        let updated = match parse_id(&raw_sku) {
            Some(sku_id) => carts::set_quantity(&mut tx, cart_id, sku_id, quantity)
                .await?
                .then_some(sku_id),
            None => None,
        };
        let Some(sku_id) = updated else {
            return Ok(error(CartErrors::code("cart-sku-not-found"), Some(raw_sku)));
        };
        let price = carts::current_price(&mut tx, sku_id).await?;
        let totals = carts::totals(&mut tx, cart_id).await?;
        tx.commit().await.map_err(AppError::from)?;
        Ok(Json(CartUpdateSkuQuantity {
            cart_update_sku_quantity: "success".to_owned(),
            errors: None,
            cart_found: Some(true),
            sku_id: Some(raw_sku),
            sku_subtotal: Some((price * i64::from(quantity)).to_string()),
            cart_totals_data: Some(totals.into()),
            order_api_version: version(),
        }))
    }

    /// Removes a line and resets the shipping selection. Errors:
    /// `cart-not-found`, `sku-id-required`, `cart-sku-not-found`.
    #[oai(path = "/order/cart-remove-sku", method = "post")]
    async fn cart_remove_sku(
        &self,
        jar: &CookieJar,
        form: Form<SkuForm>,
    ) -> Result<Json<CartRemoveSku>, Failure<FormPostErrors>> {
        let error = |code: &str, sku_id: Option<String>| {
            Json(CartRemoveSku {
                cart_remove_sku: "error".to_owned(),
                errors: CartErrors::code(code),
                cart_found: None,
                sku_id,
                cart_item_count: None,
                cart_shipping_methods: None,
                shipping_method_selected: MaybeUndefined::Undefined,
                cart_totals_data: None,
                order_api_version: version(),
            })
        };
        let visitor = self.visitor(jar).await?;
        let Some(owner) = visitor.cart_owner() else {
            return Ok(error("cart-not-found", None));
        };
        let Some(raw_sku) = form.0.sku_id else {
            return Ok(error("sku-id-required", None));
        };
        let Some((mut tx, cart_id)) = carts::lock(&self.state.pool, &owner).await? else {
            return Ok(error("cart-not-found", None));
        };
        let removed = match parse_id(&raw_sku) {
            Some(sku_id) => carts::remove_sku(&mut tx, cart_id, sku_id).await?,
            None => false,
        };
        if !removed {
            return Ok(error("cart-sku-not-found", Some(raw_sku)));
        }
        let count = carts::item_count(&mut tx, cart_id).await?;
        let methods = carts::active_shipping_methods(&mut tx).await?;
        let totals = carts::totals(&mut tx, cart_id).await?;
        tx.commit().await.map_err(AppError::from)?;
        Ok(Json(CartRemoveSku {
            cart_remove_sku: "success".to_owned(),
            errors: None,
            cart_found: Some(true),
            sku_id: Some(raw_sku),
            cart_item_count: Some(count),
            cart_shipping_methods: Some(keyed(methods)),
            shipping_method_selected: MaybeUndefined::Null,
            cart_totals_data: Some(totals.into()),
            order_api_version: version(),
        }))
    }

    /// Selects a shipping method by identifier. Errors: `cart-not-found`,
    /// `shipping-method-identifier-required`, `error-setting-cart-shipping-method`.
    #[oai(path = "/order/cart-update-shipping-method", method = "post")]
    async fn cart_update_shipping_method(
        &self,
        jar: &CookieJar,
        form: Form<ShippingMethodForm>,
    ) -> Result<Json<CartUpdateShippingMethod>, Failure<FormPostErrors>> {
        let error = |code: &str, identifier: Option<String>| {
            Json(CartUpdateShippingMethod {
                cart_update_shipping_method: "error".to_owned(),
                errors: CartErrors::code(code),
                cart_found: None,
                shipping_method_identifier: identifier,
                cart_totals_data: None,
                order_api_version: version(),
            })
        };
        let visitor = self.visitor(jar).await?;
        let Some(owner) = visitor.cart_owner() else {
            return Ok(error("cart-not-found", None));
        };
        let Some(identifier) = form.0.shipping_method_identifier else {
            return Ok(error("shipping-method-identifier-required", None));
        };
        let Some((mut tx, cart_id)) = carts::lock(&self.state.pool, &owner).await? else {
            return Ok(error("cart-not-found", None));
        };
        if !carts::set_shipping_method(&mut tx, cart_id, &identifier).await? {
            return Ok(error(
                "error-setting-cart-shipping-method",
                Some(identifier),
            ));
        }
        let totals = carts::totals(&mut tx, cart_id).await?;
        tx.commit().await.map_err(AppError::from)?;
        Ok(Json(CartUpdateShippingMethod {
            cart_update_shipping_method: "success".to_owned(),
            errors: None,
            cart_found: Some(true),
            shipping_method_identifier: Some(identifier),
            cart_totals_data: Some(totals.into()),
            order_api_version: version(),
        }))
    }

    /// Deletes the cart with its lines and shipping selection. Error: `cart-not-found`.
    #[oai(path = "/order/cart-delete-cart", method = "post")]
    async fn cart_delete_cart(
        &self,
        jar: &CookieJar,
    ) -> Result<Json<CartDeleteCart>, Failure<FormPostErrors>> {
        let visitor = self.visitor(jar).await?;
        let locked = match visitor.cart_owner() {
            Some(o) => carts::lock(&self.state.pool, &o).await?,
            None => None,
        };
        let Some((mut tx, cart_id)) = locked else {
            return Ok(Json(CartDeleteCart {
                cart_delete_cart: "error".to_owned(),
                errors: CartErrors::code("cart-not-found"),
                order_api_version: version(),
            }));
        };
        carts::delete(&mut tx, cart_id).await?;
        tx.commit().await.map_err(AppError::from)?;
        Ok(Json(CartDeleteCart {
            cart_delete_cart: "success".to_owned(),
            errors: None,
            order_api_version: version(),
        }))
    }

    /// Confirm page lines, behind the checkout gate.
    #[oai(path = "/order/confirm-items", method = "get")]
    async fn confirm_items(
        &self,
        jar: &CookieJar,
    ) -> Result<Json<ConfirmItems>, Failure<ServerErrors>> {
        let visitor = self.visitor(jar).await?;
        if !self.gate(&visitor).await? {
            return Ok(Json(ConfirmItems {
                checkout_allowed: false,
                cart_found: None,
                item_data: None,
                order_api_version: version(),
            }));
        }
        let cart_id = self.cart_id(&visitor).await?;
        let mut conn = self.state.pool.acquire().await.map_err(AppError::from)?;
        Ok(Json(ConfirmItems {
            checkout_allowed: true,
            cart_found: Some(cart_id.is_some()),
            item_data: Some(Self::item_data(&mut conn, cart_id).await?),
            order_api_version: version(),
        }))
    }

    /// The selected shipping method (no default is assigned here), behind the gate.
    #[oai(path = "/order/confirm-shipping-method", method = "get")]
    async fn confirm_shipping_method(
        &self,
        jar: &CookieJar,
    ) -> Result<Json<ConfirmShippingMethod>, Failure<ServerErrors>> {
        let visitor = self.visitor(jar).await?;
        if !self.gate(&visitor).await? {
            return Ok(Json(ConfirmShippingMethod {
                checkout_allowed: false,
                cart_found: None,
                confirm_shipping_method: None,
                order_api_version: version(),
            }));
        }
        let cart_id = self.cart_id(&visitor).await?;
        let selected = match cart_id {
            Some(id) => {
                let mut conn = self.state.pool.acquire().await.map_err(AppError::from)?;
                carts::selected_shipping_method(&mut conn, id).await?
            }
            None => None,
        };
        let data = selected
            .map(|m| {
                let m = ShippingMethodJson::from(m);
                ConfirmShippingMethodData {
                    identifier: Some(m.identifier),
                    carrier: Some(m.carrier),
                    shipping_cost: Some(m.shipping_cost),
                    tracking_code_base_url: Some(m.tracking_code_base_url),
                }
            })
            .unwrap_or_default();
        Ok(Json(ConfirmShippingMethod {
            checkout_allowed: true,
            cart_found: Some(cart_id.is_some()),
            confirm_shipping_method: Some(data),
            order_api_version: version(),
        }))
    }

    /// Confirm page totals, behind the gate.
    #[oai(path = "/order/confirm-totals", method = "get")]
    async fn confirm_totals(
        &self,
        jar: &CookieJar,
    ) -> Result<Json<ConfirmTotals>, Failure<ServerErrors>> {
        let visitor = self.visitor(jar).await?;
        if !self.gate(&visitor).await? {
            return Ok(Json(ConfirmTotals {
                checkout_allowed: false,
                cart_found: None,
                confirm_totals_data: None,
                order_api_version: version(),
            }));
        }
        let cart_id = self.cart_id(&visitor).await?;
        Ok(Json(ConfirmTotals {
            checkout_allowed: true,
            cart_found: Some(cart_id.is_some()),
            confirm_totals_data: Some(self.totals(cart_id).await?),
            order_api_version: version(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_follow_python_int_then_the_0_to_99_range() {
        assert_eq!(parse_quantity(Some(" 5 ")), Ok(5));
        assert_eq!(parse_quantity(Some("+7")), Ok(7));
        assert_eq!(parse_quantity(Some("0")), Ok(0));
        assert_eq!(parse_quantity(Some("99")), Ok(99));
        assert_eq!(
            parse_quantity(Some("100")),
            Err(QuantityProblem::OutOfRange)
        );
        assert_eq!(parse_quantity(Some("-1")), Err(QuantityProblem::OutOfRange));
        assert_eq!(
            parse_quantity(Some("99999999999999999999")),
            Err(QuantityProblem::OutOfRange)
        );
        for bad in ["1.0", "x", "", " ", "+", "1 2"] {
            assert_eq!(
                parse_quantity(Some(bad)),
                Err(QuantityProblem::NotAnInt),
                "{bad}"
            );
        }
        assert_eq!(parse_quantity(None), Err(QuantityProblem::NotAnInt));
    }

    #[test]
    fn ids_are_digits_that_fit_an_integer() {
        assert_eq!(parse_id("7"), Some(7));
        assert_eq!(parse_id(" 7 "), Some(7));
        assert_eq!(parse_id("abc"), None);
        assert_eq!(parse_id("-1"), None);
        assert_eq!(parse_id("99999999999"), None);
    }
}
