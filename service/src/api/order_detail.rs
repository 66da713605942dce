//! `/order/{identifier}`: the order page. A member sees their own orders,
//! and also an order placed anonymously with the email address they have
//! since verified; an anonymous visitor holding the identifier sees an
//! anonymous order (as the legacy allowed) but must log in for a member's.

use poem::web::cookie::CookieJar;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTags;
use super::failure::{Failure, RouteErrors};
use super::wire::{KeyedMap, ORDER_API_VERSION, django_datetime};
use crate::app::AppState;
use crate::db::orders::{self, OrderHead, StoredAddress};
use crate::domain::money::Cents;
use crate::error::AppError;
use crate::http::visitor::{self, Visitor};

pub struct OrderDetailApi {
    state: AppState,
}

impl OrderDetailApi {
    pub fn new(state: AppState) -> Self {
        OrderDetailApi { state }
    }
}

#[derive(Object, Debug)]
pub struct OrderAttributes {
    pub identifier: String,
    pub order_date_time: String,
    pub sales_tax_amt: String,
}

#[derive(Object, Debug)]
pub struct OrderItem {
    pub sku_id: i32,
    #[oai(rename = "sku_type__title")]
    pub sku_type_title: String,
    #[oai(rename = "sku_inventory__title")]
    pub sku_inventory_title: String,
    pub color: Option<String>,
    pub size: Option<String>,
    pub description: Option<String>,
    /// The price paid for each, e.g. `"3.50"`.
    pub price: String,
    pub quantity: i32,
    #[oai(rename = "parent_product__title")]
    pub parent_product_title: Option<String>,
    #[oai(rename = "parent_product__title_url")]
    pub parent_product_title_url: Option<String>,
    #[oai(rename = "parent_product__identifier")]
    pub parent_product_identifier: Option<String>,
    pub sku_image_url: Option<String>,
}

#[derive(Object, Debug)]
pub struct OrderItems {
    pub product_sku_data: KeyedMap<OrderItem>,
}

#[derive(Object, Debug, Default)]
pub struct OrderShippingMethod {
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
pub struct OrderTotals {
    pub item_subtotal: String,
    pub shipping_subtotal: String,
    pub order_total: String,
}

#[derive(Object, Debug)]
pub struct OrderStatus {
    pub identifier: String,
    pub title: String,
    pub description: String,
    pub created_date_time: String,
}

/// `{}` when the order has no such address.
#[derive(Object, Debug, Default)]
pub struct OrderAddress {
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub address_line1: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub city: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub state: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub zip: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub country: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub country_code: Option<String>,
}

impl From<StoredAddress> for OrderAddress {
    fn from(a: StoredAddress) -> Self {
        OrderAddress {
            name: Some(a.name.unwrap_or_default()),
            address_line1: Some(a.address_line1.unwrap_or_default()),
            city: Some(a.city.unwrap_or_default()),
            state: Some(a.state.unwrap_or_default()),
            zip: Some(a.zip.unwrap_or_default()),
            country: Some(a.country.unwrap_or_default()),
            country_code: Some(a.country_code.unwrap_or_default()),
        }
    }
}

/// `{}` when the order has no payment row; card fields are null with Checkout.
#[derive(Object, Debug, Default)]
pub struct OrderPayment {
    #[oai(skip_serializing_if_is_none)]
    pub email: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub payment_type: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub card_name: Option<String>,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub card_exp_month: Option<String>,
    pub card_exp_year: Option<String>,
    pub card_zip: Option<String>,
}

#[derive(Object, Debug)]
pub struct OrderData {
    pub order_attributes: OrderAttributes,
    pub order_items: OrderItems,
    pub order_shipping_method: OrderShippingMethod,
    pub order_totals: OrderTotals,
    /// Newest first.
    pub order_statuses: KeyedMap<OrderStatus>,
    pub order_shipping_address: OrderAddress,
    pub order_billing_address: OrderAddress,
    pub order_payment_info: OrderPayment,
}

#[derive(Object, Debug)]
pub struct OrderDetailError {
    /// `order-not-found`, `log-in-required-to-view-order` or `order-not-in-account`.
    pub error: String,
}

#[derive(Object, Debug)]
pub struct OrderDetail {
    /// `success` or `error`.
    pub order_detail: String,
    #[oai(skip_serializing_if_is_none)]
    pub order_data: Option<OrderData>,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<OrderDetailError>,
    #[oai(skip_serializing_if_is_none)]
    pub order_identifier: Option<String>,
    #[oai(rename = "order-api-version")]
    pub order_api_version: String,
}

fn refused(code: &str, identifier: &str) -> Json<OrderDetail> {
    Json(OrderDetail {
        order_detail: "error".to_owned(),
        order_data: None,
        errors: Some(OrderDetailError {
            error: code.to_owned(),
        }),
        order_identifier: Some(identifier.to_owned()),
        order_api_version: ORDER_API_VERSION.to_owned(),
    })
}

impl OrderDetailApi {
    /// Whether the member may read an anonymous order: it was paid with the
    /// email address the member has verified.
    async fn claims_by_verified_email(
        &self,
        member_id: i32,
        order: &OrderHead,
    ) -> Result<bool, AppError> {
        let Some(payment_id) = order.payment_id else {
            return Ok(false);
        };
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM user_member m JOIN auth_user u ON u.id = m.user_id \
                 JOIN order_order_payment p ON p.id = $2 \
             WHERE m.id = $1 AND m.email_verified AND p.email <> '' \
               AND lower(p.email) = lower(u.email))",
        )
        .bind(member_id)
        .bind(payment_id)
        .fetch_one(&self.state.pool)
        .await?)
    }

    async fn data(&self, order: OrderHead) -> Result<OrderData, AppError> {
        let pool = &self.state.pool;
        let lines = orders::lines(pool, order.id).await?;
        let statuses = orders::statuses(pool, order.id).await?;
        let method = orders::shipping_method(pool, order.id).await?;
        let address = |id: Option<i32>, shipping: bool| async move {
            Ok::<_, AppError>(match id {
                Some(id) => orders::address(pool, shipping, id)
                    .await?
                    .map(OrderAddress::from)
                    .unwrap_or_default(),
                None => OrderAddress::default(),
            })
        };
        let payment = match order.payment_id {
            Some(id) => orders::payment(pool, id).await?,
            None => None,
        };
        Ok(OrderData {
            order_attributes: OrderAttributes {
                identifier: order.identifier.clone(),
                order_date_time: django_datetime(order.order_date_time),
                sales_tax_amt: Cents(order.sales_tax_cents).to_string(),
            },
            order_items: OrderItems {
                product_sku_data: lines
                    .into_iter()
                    .enumerate()
                    .map(|(i, l)| {
                        (
                            i,
                            OrderItem {
                                sku_id: l.sku_id,
                                sku_type_title: l.sku_type_title,
                                sku_inventory_title: l.inventory_title,
                                color: l.color,
                                size: l.size,
                                description: l.description,
                                price: Cents(l.price_cents).to_string(),
                                quantity: l.quantity,
                                parent_product_title: l.product_title,
                                parent_product_title_url: l.product_title_url,
                                parent_product_identifier: l.product_identifier,
                                sku_image_url: l.image_url,
                            },
                        )
                    })
                    .collect(),
            },
            order_shipping_method: method
                .map(|m| OrderShippingMethod {
                    identifier: Some(m.identifier),
                    carrier: Some(m.carrier),
                    shipping_cost: Some(Cents(m.cost_cents).to_string()),
                    tracking_code_base_url: Some(m.tracking_code_base_url),
                })
                .unwrap_or_default(),
            order_totals: OrderTotals {
                item_subtotal: Cents(order.item_subtotal_cents).to_string(),
                shipping_subtotal: Cents(order.shipping_cents).to_string(),
                order_total: Cents(order.total_cents).to_string(),
            },
            order_statuses: statuses
                .into_iter()
                .enumerate()
                .map(|(i, s)| {
                    (
                        i,
                        OrderStatus {
                            identifier: s.identifier,
                            title: s.title,
                            description: s.description,
                            created_date_time: django_datetime(s.created_date_time),
                        },
                    )
                })
                .collect(),
            order_shipping_address: address(order.shipping_address_id, true).await?,
            order_billing_address: address(order.billing_address_id, false).await?,
            order_payment_info: payment
                .map(|p| OrderPayment {
                    email: Some(p.email.unwrap_or_default()),
                    payment_type: Some(p.payment_type.unwrap_or_default()),
                    card_name: Some(p.card_name.unwrap_or_default()),
                    card_brand: p.card_brand,
                    card_last4: p.card_last4,
                    card_exp_month: p.card_exp_month,
                    card_exp_year: p.card_exp_year,
                    card_zip: p.card_zip,
                })
                .unwrap_or_default(),
        })
    }
}

#[OpenApi(tag = "ApiTags::Orders")]
impl OrderDetailApi {
    /// One order: lines, totals, statuses, addresses and payment.
    #[oai(path = "/order/:identifier", method = "get")]
    async fn order_detail(
        &self,
        jar: &CookieJar,
        /// The order's identifier, ASCII letters and digits; anything else
        /// matches no route (404 `not-found`).
        identifier: Path<String>,
    ) -> Result<Json<OrderDetail>, Failure<RouteErrors>> {
        let identifier = identifier.0;
        if identifier.is_empty()
            || identifier.len() > 100
            || !identifier.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(AppError::RouteNotFound {
                method: "GET".to_owned(),
                path: format!("/order/{identifier}"),
            }
            .into());
        }
        let state = &self.state;
        let Some(order) = orders::head_by_identifier(&state.pool, &identifier).await? else {
            return Ok(refused("order-not-found", &identifier));
        };
        match visitor::identify(&state.pool, &state.config, jar).await? {
            Visitor::Anonymous { .. } => {
                if order.member_id.is_some() {
                    return Ok(refused("log-in-required-to-view-order", &identifier));
                }
            }
            Visitor::Member(user) => {
                let Some(member_id) = user.member_id else {
                    return Ok(refused("order-not-found", &identifier));
                };
                let mine = order.member_id == Some(member_id)
                    || (order.member_id.is_none()
                        && self.claims_by_verified_email(member_id, &order).await?);
                if !mine {
                    return Ok(refused("order-not-in-account", &identifier));
                }
            }
        }
        Ok(Json(OrderDetail {
            order_detail: "success".to_owned(),
            order_data: Some(self.data(order).await?),
            errors: None,
            order_identifier: None,
            order_api_version: ORDER_API_VERSION.to_owned(),
        }))
    }
}
