//! Stripe Checkout through async-stripe: create a hosted Checkout Session for
//! a cart (§4.19 of the order contract) and retrieve one to build an order.
//!
//! Only the two calls the service makes are wrapped; their results are turned
//! into our own types ([`CreatedSession`], [`CheckoutFacts`]) and errors into
//! [`StripeError`], so nothing above this module depends on the crate.

use std::collections::HashMap;
use std::time::Duration;

use stripe::{
    ApiErrorsCode, Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeRequest,
};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    CreateCheckoutSessionPhoneNumberCollection, CreateCheckoutSessionShippingAddressCollection,
    CreateCheckoutSessionShippingAddressCollectionAllowedCountries as Country, ProductData,
    RetrieveCheckoutSession,
};
use stripe_checkout::{
    CheckoutSession, CheckoutSessionBillingAddressCollection, CheckoutSessionMode,
};

use crate::config::StripeSettings;
use crate::domain::checkout::{CheckoutFacts, PostalAddress};

/// How long one call to Stripe may take before the customer gets an error:
/// a hung connection must not hold a request (and its database connection)
/// for ever. Stripe answers these calls in well under a second.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The storefront's message for every failure that is not the request's fault.
const UNAVAILABLE_MESSAGE: &str =
    "The payment provider is unavailable at the moment; please try again.";

/// A Stripe API client for Checkout Sessions. Cheap to clone (the HTTP client
/// and its configuration are shared).
#[derive(Clone)]
pub struct StripeGateway {
    client: Client,
    timeout: Duration,
}

impl std::fmt::Debug for StripeGateway {
    // Written by hand so the secret key can never be printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeGateway")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// One line of the hosted payment page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineItem {
    pub name: String,
    /// Omitted from the request when `None`.
    pub description: Option<String>,
    /// An absolute URL; omitted from the request when `None`.
    pub image_url: Option<String>,
    /// Exact integer cents, sent as `price_data.unit_amount`.
    pub unit_amount_cents: i64,
    pub quantity: u64,
}

/// What a Checkout Session is created from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCheckoutSession {
    pub line_items: Vec<LineItem>,
    /// May contain Stripe's literal `{CHECKOUT_SESSION_ID}` placeholder.
    pub success_url: String,
    pub cancel_url: String,
    /// Sent only when present and non-empty.
    pub customer_email: Option<String>,
    /// Sent as `metadata.cart_id`, so the webhook can find the cart.
    pub cart_id: i32,
}

/// The session Stripe created: where to send the customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedSession {
    /// `cs_…`
    pub id: String,
    /// The hosted payment page (`https://checkout.stripe.com/c/pay/cs_…`).
    pub url: String,
}

/// A failed Stripe call. The messages are for logs: they carry Stripe's
/// message or the transport error, never a key.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// The object does not exist (`resource_missing`, or a 404).
    #[error("Stripe: not found: {0}")]
    NotFound(String),
    /// Stripe refused the request (a 4xx other than the cases below); the
    /// message is Stripe's own.
    #[error("Stripe rejected the request: {0}")]
    InvalidRequest(String),
    /// Stripe could not be reached or failed (5xx, 429, timeout, connection):
    /// the same request may succeed later.
    #[error("Stripe is unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a response we cannot read, a rejected API key, a
    /// configuration problem.
    #[error("unexpected Stripe error: {0}")]
    Unexpected(String),
}

impl StripeError {
    /// A message fit for the storefront: Stripe's own message when Stripe
    /// refused the request, a generic "try again" otherwise. Anything that
    /// looks like a key is masked even in Stripe's message.
    pub fn safe_description(&self) -> String {
        match self {
            StripeError::NotFound(message) | StripeError::InvalidRequest(message) => {
                redact_keys(message)
            }
            StripeError::Unavailable(_) | StripeError::Unexpected(_) => {
                UNAVAILABLE_MESSAGE.to_owned()
            }
        }
    }

    /// True when the call may succeed if repeated later.
    pub fn is_transient(&self) -> bool {
        matches!(self, StripeError::Unavailable(_))
    }
}

impl From<stripe::StripeError> for StripeError {
    fn from(err: stripe::StripeError) -> Self {
        match err {
            stripe::StripeError::Stripe(api, status) => {
                let message = api
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("Stripe answered {status}"));
                let missing = matches!(api.code, Some(ApiErrorsCode::ResourceMissing));
                classify(status, missing, message)
            }
            // Hyper's connection errors, including a refused connection.
            stripe::StripeError::ClientError(message) => StripeError::Unavailable(message),
            stripe::StripeError::Timeout => {
                StripeError::Unavailable("no answer from Stripe within the timeout".to_owned())
            }
            stripe::StripeError::JSONDeserialize(message) => {
                StripeError::Unexpected(format!("unreadable response from Stripe: {message}"))
            }
            stripe::StripeError::ConfigError(message) => {
                StripeError::Unexpected(format!("Stripe client configuration: {message}"))
            }
        }
    }
}

/// Maps an error answer by status. 401/403 mean our key is wrong: that is our
/// problem, not the customer's, and Stripe's message would echo part of the
/// key, so they are `Unexpected`. 429 is Stripe's rate limit: try later.
fn classify(status: u16, resource_missing: bool, message: String) -> StripeError {
    match status {
        _ if resource_missing => StripeError::NotFound(message),
        404 => StripeError::NotFound(message),
        401 | 403 => StripeError::Unexpected(format!("Stripe refused our credentials: {message}")),
        429 => StripeError::Unavailable(message),
        400..=499 => StripeError::InvalidRequest(message),
        _ => StripeError::Unavailable(format!("Stripe answered {status}: {message}")),
    }
}

/// Masks every word that looks like a Stripe secret (`sk_…`, `rk_…`,
/// `whsec_…`); Stripe already masks keys in its messages, this is a second
/// guard before text reaches a browser.
fn redact_keys(message: &str) -> String {
    message
        .split(' ')
        .map(|word| {
            let bare = word.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
            if ["sk_", "rk_", "whsec_"].iter().any(|p| bare.starts_with(p)) {
                "[redacted]"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl StripeGateway {
    /// A client for the Stripe API at `settings.api_base` (a fake in tests),
    /// else `https://api.stripe.com/`.
    pub fn new(settings: &StripeSettings) -> Result<Self, StripeError> {
        install_crypto_provider();
        let mut builder = ClientBuilder::new(settings.secret_key.expose());
        if let Some(base) = settings.api_base.as_deref() {
            builder = builder.url(normalise_base(base));
        }
        let client = builder.build().map_err(StripeError::from)?;
        Ok(StripeGateway {
            client,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Replaces the per-call timeout ([`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `POST /v1/checkout/sessions` with the parameters of §4.19. The
    /// idempotency key is sent as `Idempotency-Key`: a retried call with the
    /// same key gets the same session instead of a second one.
    pub async fn create_checkout_session(
        &self,
        new: &NewCheckoutSession,
        idempotency_key: &str,
    ) -> Result<CreatedSession, StripeError> {
        let key = IdempotencyKey::new(idempotency_key)
            .map_err(|e| StripeError::Unexpected(format!("idempotency key: {e}")))?;
        let session = build_create_request(new)
            .customize()
            .request_strategy(RequestStrategy::Idempotent(key))
            .timeout(self.timeout)
            .send(&self.client)
            .await?;
        let url = session.url.filter(|u| !u.is_empty()).ok_or_else(|| {
            StripeError::Unexpected(format!(
                "Stripe created session {} without a payment page URL",
                session.id
            ))
        })?;
        Ok(CreatedSession {
            id: session.id.to_string(),
            url,
        })
    }

    /// `GET /v1/checkout/sessions/{id}`, reduced to what an order needs.
    pub async fn retrieve_checkout_session(&self, id: &str) -> Result<CheckoutFacts, StripeError> {
        // An empty id would address the list endpoint instead.
        if id.is_empty() || id.contains(['/', '?', '#']) {
            return Err(StripeError::NotFound(format!(
                "No such checkout.session: '{id}'"
            )));
        }
        let session = RetrieveCheckoutSession::new(id)
            .customize()
            .timeout(self.timeout)
            .send(&self.client)
            .await?;
        Ok(facts_from_session(session))
    }
}

/// rustls panics when it cannot pick a crypto provider, which happens when a
/// workspace build enables both ring (ours) and aws-lc-rs (the AWS SDKs).
/// Installing ring first makes the choice explicit; if the process already
/// installed one, that one stays.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// async-stripe appends `v1/…` to the base, so it must end with a slash.
fn normalise_base(base: &str) -> String {
    let base = base.trim();
    if base.ends_with('/') {
        base.to_owned()
    } else {
        format!("{base}/")
    }
}

fn build_create_request(new: &NewCheckoutSession) -> CreateCheckoutSession {
    let line_items: Vec<CreateCheckoutSessionLineItems> =
        new.line_items.iter().map(line_item).collect();
    let metadata = HashMap::from([("cart_id".to_owned(), new.cart_id.to_string())]);
    let mut request = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Payment)
        .line_items(line_items)
        .success_url(new.success_url.clone())
        .cancel_url(new.cancel_url.clone())
        .allow_promotion_codes(true)
        .billing_address_collection(CheckoutSessionBillingAddressCollection::Required)
        .shipping_address_collection(CreateCheckoutSessionShippingAddressCollection::new(vec![
            Country::Us,
            Country::Ca,
        ]))
        .phone_number_collection(CreateCheckoutSessionPhoneNumberCollection::new(true))
        .metadata(metadata);
    if let Some(email) = new.customer_email.as_deref().map(str::trim)
        && !email.is_empty()
    {
        request = request.customer_email(email);
    }
    request
}

fn line_item(item: &LineItem) -> CreateCheckoutSessionLineItems {
    let mut product = ProductData::new(item.name.clone());
    product.description = item.description.clone();
    product.images = item.image_url.clone().map(|url| vec![url]);
    // `Currency` lives in async-stripe-types, which the facade does not
    // re-export; its `FromStr` is infallible and the field's type names it.
    let Ok(currency) = "usd".parse();
    let price_data = CreateCheckoutSessionLineItemsPriceData {
        currency,
        product: None,
        product_data: Some(product),
        recurring: None,
        tax_behavior: None,
        unit_amount: Some(item.unit_amount_cents),
        unit_amount_decimal: None,
    };
    let mut line = CreateCheckoutSessionLineItems::new();
    line.price_data = Some(price_data);
    line.quantity = Some(item.quantity);
    line
}

/// The same reading as [`CheckoutFacts::from_json`], from the typed object.
fn facts_from_session(session: CheckoutSession) -> CheckoutFacts {
    let details = session.customer_details;
    let customer_name = details.as_ref().and_then(|d| d.name.clone());
    // async-stripe's `Address` type is not re-exported, so its fields are
    // taken apart where the type is known.
    let billing = match details.as_ref().and_then(|d| d.address.clone()) {
        Some(a) => postal(
            customer_name.clone(),
            a.line1,
            a.city,
            a.state,
            a.postal_code,
            a.country,
        ),
        None => PostalAddress {
            name: customer_name.clone(),
            ..PostalAddress::default()
        },
    };
    let shipping = session
        .collected_information
        .and_then(|c| c.shipping_details)
        .map(|s| {
            let a = s.address;
            postal(
                Some(s.name),
                a.line1,
                a.city,
                a.state,
                a.postal_code,
                a.country,
            )
        });
    CheckoutFacts {
        session_id: session.id.to_string(),
        payment_status: session.payment_status.as_str().to_owned(),
        payment_intent: session.payment_intent.map(|p| p.id().to_string()),
        amount_total: session.amount_total,
        amount_discount: session.total_details.map(|t| t.amount_discount),
        customer_email: session
            .customer_email
            .or_else(|| details.and_then(|d| d.email)),
        customer_name,
        billing,
        shipping,
        cart_id: session.metadata.and_then(|mut m| m.remove("cart_id")),
    }
}

fn postal(
    name: Option<String>,
    line1: Option<String>,
    city: Option<String>,
    state: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
) -> PostalAddress {
    PostalAddress {
        name,
        line1,
        city,
        state,
        postal_code,
        country,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form_of(new: &NewCheckoutSession) -> Vec<(String, String)> {
        let body = build_create_request(new).build().body.expect("a form body");
        body.split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').expect("key=value");
                (decode(k), decode(v))
            })
            .collect()
    }

    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("hex");
                    out.push(u8::from_str_radix(hex, 16).expect("hex"));
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).expect("utf-8")
    }

    fn get<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
        form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn session() -> NewCheckoutSession {
        NewCheckoutSession {
            line_items: vec![
                LineItem {
                    name: "Paper Clips".to_owned(),
                    description: Some("Red - Large".to_owned()),
                    image_url: Some("https://example.com/clip.png".to_owned()),
                    unit_amount_cents: 1999,
                    quantity: 2,
                },
                LineItem {
                    name: "Shipping".to_owned(),
                    description: None,
                    image_url: None,
                    unit_amount_cents: 29,
                    quantity: 1,
                },
            ],
            success_url: "http://localhost:8080/checkout/success?session_id={CHECKOUT_SESSION_ID}"
                .to_owned(),
            cancel_url: "http://localhost:8080/checkout/confirm".to_owned(),
            customer_email: Some("jane@example.com".to_owned()),
            cart_id: 7,
        }
    }

    #[test]
    fn the_form_carries_the_contract_parameters() {
        let form = form_of(&session());
        let expect = [
            ("mode", "payment"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "1999"),
            (
                "line_items[0][price_data][product_data][name]",
                "Paper Clips",
            ),
            (
                "line_items[0][price_data][product_data][description]",
                "Red - Large",
            ),
            (
                "line_items[0][price_data][product_data][images][0]",
                "https://example.com/clip.png",
            ),
            ("line_items[0][quantity]", "2"),
            ("line_items[1][price_data][unit_amount]", "29"),
            ("line_items[1][quantity]", "1"),
            ("allow_promotion_codes", "true"),
            ("billing_address_collection", "required"),
            ("shipping_address_collection[allowed_countries][0]", "US"),
            ("shipping_address_collection[allowed_countries][1]", "CA"),
            ("phone_number_collection[enabled]", "true"),
            ("metadata[cart_id]", "7"),
            ("customer_email", "jane@example.com"),
            (
                "success_url",
                "http://localhost:8080/checkout/success?session_id={CHECKOUT_SESSION_ID}",
            ),
            ("cancel_url", "http://localhost:8080/checkout/confirm"),
        ];
        for (key, value) in expect {
            assert_eq!(get(&form, key), Some(value), "{key} in {form:?}");
        }
        assert!(
            !form.iter().any(|(k, _)| k
                .starts_with("line_items[1][price_data][product_data][description]")
                || k.starts_with("line_items[1][price_data][product_data][images]")),
            "absent description and image are omitted: {form:?}"
        );
    }

    #[test]
    fn a_missing_or_blank_email_is_not_sent() {
        for email in [None, Some(String::new()), Some("  ".to_owned())] {
            let mut new = session();
            new.customer_email = email;
            let form = form_of(&new);
            assert_eq!(get(&form, "customer_email"), None);
        }
    }

    #[test]
    fn errors_are_classified_by_status_and_code() {
        assert!(matches!(
            classify(404, false, "x".into()),
            StripeError::NotFound(_)
        ));
        assert!(matches!(
            classify(400, true, "x".into()),
            StripeError::NotFound(_)
        ));
        assert!(matches!(
            classify(400, false, "x".into()),
            StripeError::InvalidRequest(_)
        ));
        assert!(matches!(
            classify(402, false, "x".into()),
            StripeError::InvalidRequest(_)
        ));
        assert!(matches!(
            classify(401, false, "x".into()),
            StripeError::Unexpected(_)
        ));
        assert!(matches!(
            classify(429, false, "x".into()),
            StripeError::Unavailable(_)
        ));
        assert!(matches!(
            classify(500, false, "x".into()),
            StripeError::Unavailable(_)
        ));
        assert!(matches!(
            classify(503, false, "x".into()),
            StripeError::Unavailable(_)
        ));
        let timeout: StripeError = stripe::StripeError::Timeout.into();
        assert!(timeout.is_transient());
    }

    #[test]
    fn the_storefront_sees_stripe_messages_for_its_requests_only_and_never_a_key() {
        let invalid = StripeError::InvalidRequest("Invalid email address: x".into());
        assert_eq!(invalid.safe_description(), "Invalid email address: x");
        let leaky = StripeError::InvalidRequest("Invalid API Key provided: sk_test_abc123".into());
        assert!(!leaky.safe_description().contains("sk_test"));
        let down = StripeError::Unavailable("connection refused to 10.0.0.1 with sk_live_x".into());
        assert_eq!(down.safe_description(), UNAVAILABLE_MESSAGE);
        let odd = StripeError::Unexpected("Stripe refused our credentials: rk_live_1".into());
        assert_eq!(odd.safe_description(), UNAVAILABLE_MESSAGE);
    }

    #[test]
    fn the_base_url_gets_its_trailing_slash() {
        assert_eq!(normalise_base("http://127.0.0.1:9"), "http://127.0.0.1:9/");
        assert_eq!(
            normalise_base("https://api.stripe.com/"),
            "https://api.stripe.com/"
        );
    }

    #[test]
    fn the_debug_output_has_no_key() {
        let settings = StripeSettings {
            secret_key: crate::config::Secret::new("sk_test_secret123"),
            webhook_secrets: vec![],
            api_base: Some("http://127.0.0.1:9".to_owned()),
            publishable_key: None,
        };
        let gateway = StripeGateway::new(&settings).expect("builds");
        assert!(!format!("{gateway:?}").contains("sk_test"));
    }
}
