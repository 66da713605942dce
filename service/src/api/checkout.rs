//! Stripe Checkout: `/order/create-checkout-session`,
//! `/order/checkout-session-success`, `/order/stripe-webhook`, and the
//! confirm page's email steps. Both the success page and the webhook create
//! the order through `db::orders::create_from_checkout`, exactly once per
//! Checkout Session.

use poem::Request;
use poem::web::cookie::CookieJar;
use poem_openapi::param::Query;
use poem_openapi::payload::{Binary, Form, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::ApiTags;
use super::cart::checkout_gate;
use super::failure::{Failure, FormPostErrors, ServerErrors};
use super::wire::{LastValue, ORDER_API_VERSION};
use crate::app::AppState;
use crate::db::carts;
use crate::db::orders::{self, OrderContext, OrderOutcome};
use crate::db::prospects::{self, NewProspect};
use crate::domain::checkout::CheckoutFacts;
use crate::domain::signing::random_alphanumeric;
use crate::domain::stripe_signature;
use crate::domain::tokens::TokenSigner;
use crate::error::AppError;
use crate::http::visitor::{self, Visitor};
use crate::integrations::stripe::{LineItem, NewCheckoutSession, StripeError};

pub struct CheckoutApi {
    state: AppState,
}

impl CheckoutApi {
    pub fn new(state: AppState) -> Self {
        CheckoutApi { state }
    }
}

fn version() -> String {
    ORDER_API_VERSION.to_owned()
}

/// `{"error": code[, "description": text]}`.
#[derive(Object, Debug)]
pub struct CheckoutError {
    pub error: String,
    #[oai(skip_serializing_if_is_none)]
    pub description: Option<String>,
}

fn error(code: &str, description: Option<String>) -> Option<CheckoutError> {
    Some(CheckoutError {
        error: code.to_owned(),
        description,
    })
}

#[derive(Object, Deserialize, Debug)]
pub struct CreateSessionForm {
    /// Sent by the storefront; the terms checkbox is enforced there.
    pub agree_to_terms_of_sale: Option<String>,
    pub newsletter: Option<String>,
    pub save_defaults: Option<String>,
    /// Anonymous buyers: the receipt address.
    pub anonymous_email_address: Option<String>,
}

#[derive(Object, Debug)]
pub struct CreateSessionResult {
    /// `success` or `error` (`checkout-not-allowed`, `cart-not-found`,
    /// `cart-is-empty`, `stripe-error`).
    pub create_checkout_session: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<CheckoutError>,
    /// `cs_…`.
    #[oai(skip_serializing_if_is_none)]
    pub session_id: Option<String>,
    /// Stripe's hosted page; the storefront sends the browser there.
    #[oai(skip_serializing_if_is_none)]
    pub checkout_url: Option<String>,
    #[oai(rename = "order-api-version")]
    pub order_api_version: String,
}

#[derive(Object, Debug)]
pub struct SessionSuccessResult {
    /// `success` or `error` (`session-id-required`, `invalid-session`,
    /// `payment-not-completed`, `cart-not-found`, `stripe-error`).
    pub checkout_session_success: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<CheckoutError>,
    #[oai(skip_serializing_if_is_none)]
    pub order_identifier: Option<String>,
    #[oai(rename = "order-api-version")]
    pub order_api_version: String,
}

#[derive(Object, Debug)]
pub struct WebhookAck {
    pub received: bool,
    #[oai(skip_serializing_if_is_none)]
    pub order_identifier: Option<String>,
}

#[derive(Object, Debug)]
pub struct WebhookRefusal {
    /// `invalid-signature`, `invalid-payload`, `no-cart-id`, `cart-not-found`,
    /// `webhook-not-configured`.
    pub error: String,
}

#[derive(ApiResponse)]
pub enum WebhookResponse {
    /// Handled (or already handled: a repeated delivery has no second effect).
    #[oai(status = 200)]
    Ok(Json<WebhookAck>),
    /// Refused: Stripe shows the reason and retries.
    #[oai(status = 400)]
    BadRequest(Json<WebhookRefusal>),
}

fn refuse(code: &str) -> WebhookResponse {
    WebhookResponse::BadRequest(Json(WebhookRefusal {
        error: code.to_owned(),
    }))
}

#[derive(Object, Deserialize, Debug)]
pub struct AnonymousEmailForm {
    pub anonymous_email_address: Option<String>,
}

#[derive(Object, Debug)]
pub struct AnonymousEmailResult {
    pub checkout_allowed: bool,
    /// `success` or `error` (`anonymous-email-address-required`,
    /// `email-address-is-associated-with-member`).
    pub anonymous_email_address_payment_lookup: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<CheckoutError>,
    #[oai(skip_serializing_if_is_none)]
    pub stripe_publishable_key: Option<String>,
    /// Always `null` (kept for the storefront).
    #[oai(skip_serializing_if_is_none)]
    pub customer_data: Option<String>,
    #[oai(rename = "order-api-version")]
    pub order_api_version: String,
}

#[derive(Object, Debug)]
pub struct ChangeEmailResult {
    pub checkout_allowed: bool,
    /// `success`, or `error` when checkout is not allowed.
    pub change_confirmation_email_address: String,
    #[oai(rename = "order-api-version")]
    pub order_api_version: String,
}

/// The fields of a webhook event we read.
#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: serde_json::Value,
}

/// The idempotency key of a session request: the same cart contents and
/// email give the same key, so a double click returns the same session.
fn idempotency_key(cart_id: i32, new: &NewCheckoutSession) -> String {
    let mut hash = Sha256::new();
    hash.update(cart_id.to_le_bytes());
    for item in &new.line_items {
        hash.update(item.name.as_bytes());
        hash.update([0]);
        hash.update(item.unit_amount_cents.to_le_bytes());
        hash.update(item.quantity.to_le_bytes());
    }
    hash.update(new.customer_email.as_deref().unwrap_or("").as_bytes());
    let digest = hash.finalize();
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("swa-checkout-{cart_id}-{hex}")
}

fn absolute(site: &str, url: &str) -> String {
    if url.starts_with("http://") || url.starts_with("https://") {
        url.to_owned()
    } else if url.starts_with('/') {
        format!("{site}{url}")
    } else {
        format!("{site}/{url}")
    }
}

impl CheckoutApi {
    fn signer(&self) -> TokenSigner {
        TokenSigner::new(self.state.config.secret_key.expose())
    }

    async fn create_order(&self, facts: &CheckoutFacts) -> Result<OrderOutcome, AppError> {
        let signer = self.signer();
        let ctx = OrderContext {
            site: &self.state.config.storefront_url,
            signer: &signer,
        };
        let outcome = orders::create_from_checkout(&self.state.pool, facts, &ctx).await?;
        if matches!(outcome, OrderOutcome::Created { .. }) {
            self.state.mailer.wake();
        }
        Ok(outcome)
    }
}

#[OpenApi(tag = "ApiTags::Checkout")]
impl CheckoutApi {
    /// Opens a Stripe Checkout Session for the cart, in exact cents, with a
    /// shipping line, billing and shipping address and phone collection and
    /// promotion codes. The same cart contents give the same session.
    #[oai(path = "/order/create-checkout-session", method = "post")]
    async fn create_checkout_session(
        &self,
        jar: &CookieJar,
        form: Form<CreateSessionForm>,
    ) -> Result<Json<CreateSessionResult>, Failure<FormPostErrors>> {
        let state = &self.state;
        let reply = |errors: Option<CheckoutError>, created: Option<(String, String)>| {
            let (session_id, checkout_url) = created.unzip();
            Json(CreateSessionResult {
                create_checkout_session: if errors.is_some() { "error" } else { "success" }
                    .to_owned(),
                errors,
                session_id,
                checkout_url,
                order_api_version: version(),
            })
        };
        let visitor = visitor::identify(&state.pool, &state.config, jar).await?;
        if !checkout_gate(state, &visitor).await? {
            return Ok(reply(error("checkout-not-allowed", None), None));
        }
        let owner = visitor.cart_owner();
        let cart_id = match &owner {
            Some(owner) => carts::find(&state.pool, owner).await?,
            None => None,
        };
        let Some(cart_id) = cart_id else {
            return Ok(reply(error("cart-not-found", None), None));
        };
        let items = carts::items(&state.pool, cart_id).await?;
        if items.is_empty() {
            return Ok(reply(error("cart-is-empty", None), None));
        }
        let site = state.config.storefront_url.as_str();
        let mut line_items: Vec<LineItem> = items
            .iter()
            .map(|i| {
                let description: Vec<&str> = [i.color.as_deref(), i.size.as_deref()]
                    .into_iter()
                    .flatten()
                    .filter(|s| !s.is_empty())
                    .collect();
                LineItem {
                    name: i
                        .product_title
                        .clone()
                        .unwrap_or_else(|| i.sku_type_title.clone()),
                    description: (!description.is_empty()).then(|| description.join(" - ")),
                    image_url: i.image_url.as_deref().map(|u| absolute(site, u)),
                    unit_amount_cents: i.price_cents.unwrap_or(0),
                    quantity: u64::try_from(i.quantity).unwrap_or(0),
                }
            })
            .collect();
        let mut conn = state.pool.acquire().await.map_err(AppError::from)?;
        let shipping = carts::selected_shipping_method(&mut conn, cart_id).await?;
        let email = match &visitor {
            Visitor::Member(u) => crate::db::users::greeting(&state.pool, u.user_id)
                .await?
                .map(|g| g.email),
            Visitor::Anonymous { .. } => form.0.anonymous_email_address.clone(),
        }
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty());
        drop(conn);
        if let Some(method) = shipping.filter(|m| m.cost_cents > 0) {
            line_items.push(LineItem {
                name: "Shipping".to_owned(),
                description: Some(method.carrier),
                image_url: None,
                unit_amount_cents: method.cost_cents,
                quantity: 1,
            });
        }
        let new = NewCheckoutSession {
            line_items,
            success_url: format!("{site}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}"),
            cancel_url: format!("{site}/checkout/confirm"),
            customer_email: email,
            cart_id,
        };
        let Some(stripe) = state.stripe.as_ref() else {
            let text = "Payments are not configured on this server.".to_owned();
            return Ok(reply(error("stripe-error", Some(text)), None));
        };
        match stripe
            .create_checkout_session(&new, &idempotency_key(cart_id, &new))
            .await
        {
            Ok(created) => Ok(reply(None, Some((created.id, created.url)))),
            Err(e) => {
                tracing::warn!(error = %e, cart_id, "Stripe refused or failed to create a session");
                Ok(reply(
                    error("stripe-error", Some(e.safe_description())),
                    None,
                ))
            }
        }
    }

    /// Called by the storefront's success page: confirms the session with
    /// Stripe and reports the order, creating it if the webhook has not yet.
    #[oai(path = "/order/checkout-session-success", method = "get")]
    async fn checkout_session_success(
        &self,
        /// The `cs_…` id Stripe put in the success URL.
        session_id: Query<Option<LastValue>>,
    ) -> Result<Json<SessionSuccessResult>, Failure<ServerErrors>> {
        let reply = |errors: Option<CheckoutError>, identifier: Option<String>| {
            Json(SessionSuccessResult {
                checkout_session_success: if errors.is_some() { "error" } else { "success" }
                    .to_owned(),
                errors,
                order_identifier: identifier,
                order_api_version: version(),
            })
        };
        let id = session_id.0.map(LastValue::into_inner).unwrap_or_default();
        if id.trim().is_empty() {
            return Ok(reply(error("session-id-required", None), None));
        }
        let Some(stripe) = self.state.stripe.as_ref() else {
            let text = "Payments are not configured on this server.".to_owned();
            return Ok(reply(error("stripe-error", Some(text)), None));
        };
        let facts = match stripe.retrieve_checkout_session(id.trim()).await {
            Ok(facts) => facts,
            Err(StripeError::NotFound(message)) | Err(StripeError::InvalidRequest(message)) => {
                return Ok(reply(error("invalid-session", Some(message)), None));
            }
            Err(e) => {
                return Ok(reply(
                    error("stripe-error", Some(e.safe_description())),
                    None,
                ));
            }
        };
        if !facts.is_settled() {
            return Ok(reply(error("payment-not-completed", None), None));
        }
        Ok(match self.create_order(&facts).await? {
            OrderOutcome::Created { identifier, .. }
            | OrderOutcome::Existing { identifier, .. } => reply(None, Some(identifier)),
            OrderOutcome::NoCartId | OrderOutcome::CartNotFound => {
                reply(error("cart-not-found", None), None)
            }
        })
    }

    /// Stripe's webhook: the signature is checked on the raw body (any of the
    /// configured secrets, 300 s tolerance) before anything is parsed.
    /// `checkout.session.completed` and `…async_payment_succeeded` create the
    /// order; a repeated event id is answered without a second effect.
    #[oai(path = "/order/stripe-webhook", method = "post")]
    async fn stripe_webhook(
        &self,
        req: &Request,
        body: Binary<Vec<u8>>,
    ) -> Result<WebhookResponse, Failure<ServerErrors>> {
        let Some(settings) = self.state.config.stripe.as_ref() else {
            // Nothing can be verified: refused like a bad signature.
            return Ok(refuse("webhook-not-configured"));
        };
        let secrets: Vec<&str> = settings
            .webhook_secrets
            .iter()
            .map(|s| s.expose())
            .collect();
        let header = req
            .headers()
            .get("stripe-signature")
            .and_then(|v| v.to_str().ok());
        let now = chrono::Utc::now().timestamp();
        if let Err(e) = stripe_signature::verify(header, &body.0, &secrets, now) {
            tracing::warn!(reason = %e, "webhook signature refused");
            return Ok(refuse("invalid-signature"));
        }
        let Ok(event) = serde_json::from_slice::<Event>(&body.0) else {
            return Ok(refuse("invalid-payload"));
        };
        let ack = |identifier: Option<String>| {
            WebhookResponse::Ok(Json(WebhookAck {
                received: true,
                order_identifier: identifier,
            }))
        };
        let seen: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM swa_stripe_event WHERE event_id = $1)",
        )
        .bind(&event.id)
        .fetch_one(&self.state.pool)
        .await
        .map_err(AppError::from)?;
        if seen {
            return Ok(ack(None));
        }
        let mut identifier = None;
        match event.kind.as_str() {
            "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
                let Ok(facts) = CheckoutFacts::from_json(&event.data.object) else {
                    return Ok(refuse("invalid-payload"));
                };
                if facts.is_settled() {
                    match self.create_order(&facts).await? {
                        OrderOutcome::Created { identifier: id, .. }
                        | OrderOutcome::Existing { identifier: id, .. } => identifier = Some(id),
                        OrderOutcome::NoCartId => return Ok(refuse("no-cart-id")),
                        OrderOutcome::CartNotFound => {
                            tracing::error!(
                                session_id = %facts.session_id,
                                "[ORDER_CART_MISSING] a settled Checkout Session has no cart and no order"
                            );
                            return Ok(refuse("cart-not-found"));
                        }
                    }
                } else {
                    // An asynchronous payment method: the order waits for
                    // `async_payment_succeeded`.
                    tracing::info!(session_id = %facts.session_id, "checkout completed, payment pending");
                }
            }
            "checkout.session.expired" => {
                tracing::info!(event_id = %event.id, "checkout session expired");
            }
            _ => {}
        }
        let mut conn = self.state.pool.acquire().await.map_err(AppError::from)?;
        orders::record_event(&mut conn, &event.id, &event.kind).await?;
        Ok(ack(identifier))
    }

    /// Confirm page, anonymous buyer: checks the receipt email is not a
    /// member's (who should log in) and records it as a prospect.
    #[oai(
        path = "/order/anonymous-email-address-payment-lookup",
        method = "post"
    )]
    async fn anonymous_email_address_payment_lookup(
        &self,
        jar: &CookieJar,
        form: Form<AnonymousEmailForm>,
    ) -> Result<Json<AnonymousEmailResult>, Failure<FormPostErrors>> {
        let state = &self.state;
        let visitor = visitor::identify(&state.pool, &state.config, jar).await?;
        let allowed = checkout_gate(state, &visitor).await?;
        let reply = |errors: Option<CheckoutError>| {
            let ok = errors.is_none();
            Json(AnonymousEmailResult {
                checkout_allowed: allowed,
                anonymous_email_address_payment_lookup: if ok { "success" } else { "error" }
                    .to_owned(),
                errors,
                stripe_publishable_key: ok.then(|| {
                    state
                        .config
                        .stripe
                        .as_ref()
                        .and_then(|s| s.publishable_key.clone())
                        .unwrap_or_default()
                }),
                customer_data: None,
                order_api_version: version(),
            })
        };
        if !allowed {
            return Ok(reply(error("checkout-not-allowed", None)));
        }
        let Some(email) = form
            .0
            .anonymous_email_address
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty())
        else {
            let text = "Anonymous email address is required".to_owned();
            return Ok(reply(error("anonymous-email-address-required", Some(text))));
        };
        let mut tx = state.pool.begin().await.map_err(AppError::from)?;
        if crate::db::users::member_by_email(&mut tx, &email)
            .await?
            .is_some()
        {
            let text = "This email address is already associated with a member account. Please \
                 <span class=\"login-form-error-link\"><a href=\"/login?next=checkout/confirm\">login</a></span> \
                 to continue."
                .to_owned();
            return Ok(reply(error(
                "email-address-is-associated-with-member",
                Some(text),
            )));
        }
        if prospects::find_by_email(&mut tx, &email).await?.is_none() {
            let unsubscribe_string = random_alphanumeric(20);
            let token = self.signer().unsubscribe_token(&unsubscribe_string);
            prospects::insert(
                &mut tx,
                &NewProspect {
                    email: &email,
                    unsubscribe_string: &unsubscribe_string,
                    unsubscribe_token: &token,
                    prospect_comment: None,
                    swa_comment: "Captured from incomplete anonymous order",
                },
            )
            .await?;
        }
        tx.commit().await.map_err(AppError::from)?;
        Ok(reply(None))
    }

    /// Confirm page, "change email" (legacy): forgets the cart's stored
    /// payment and shipping address. A visitor without a cart has nothing to
    /// forget.
    #[oai(path = "/order/change-confirmation-email-address", method = "get")]
    async fn change_confirmation_email_address(
        &self,
        jar: &CookieJar,
    ) -> Result<Json<ChangeEmailResult>, Failure<ServerErrors>> {
        let state = &self.state;
        let visitor = visitor::identify(&state.pool, &state.config, jar).await?;
        let allowed = checkout_gate(state, &visitor).await?;
        if allowed {
            let owner = visitor.cart_owner();
            if let Some(owner) = owner
                && let Some(cart_id) = carts::find(&state.pool, &owner).await?
            {
                sqlx::query(
                    "UPDATE order_cart SET payment_id = NULL, shipping_address_id = NULL \
                     WHERE id = $1",
                )
                .bind(cart_id)
                .execute(&state.pool)
                .await
                .map_err(AppError::from)?;
            }
        }
        Ok(Json(ChangeEmailResult {
            checkout_allowed: allowed,
            change_confirmation_email_address: if allowed { "success" } else { "error" }.to_owned(),
            order_api_version: version(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(amount: i64, email: Option<&str>) -> NewCheckoutSession {
        NewCheckoutSession {
            line_items: vec![LineItem {
                name: "Paper Clips".into(),
                description: None,
                image_url: None,
                unit_amount_cents: amount,
                quantity: 2,
            }],
            success_url: String::new(),
            cancel_url: String::new(),
            customer_email: email.map(str::to_owned),
            cart_id: 7,
        }
    }

    #[test]
    fn the_idempotency_key_follows_the_cart_contents() {
        let a = idempotency_key(7, &session(350, None));
        assert_eq!(a, idempotency_key(7, &session(350, None)));
        assert_ne!(a, idempotency_key(7, &session(351, None)));
        assert_ne!(a, idempotency_key(8, &session(350, None)));
        assert_ne!(a, idempotency_key(7, &session(350, Some("a@example.com"))));
        assert!(a.starts_with("swa-checkout-7-"));
    }

    #[test]
    fn image_urls_are_made_absolute() {
        assert_eq!(
            absolute("https://shop.example.com", "/img/a.jpg"),
            "https://shop.example.com/img/a.jpg"
        );
        assert_eq!(
            absolute("https://shop.example.com", "https://cdn.example.com/a.jpg"),
            "https://cdn.example.com/a.jpg"
        );
    }
}
