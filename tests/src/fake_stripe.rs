//! An in-process fake of the two Stripe Checkout endpoints the service calls,
//! on 127.0.0.1, speaking Stripe's wire format:
//!
//! - `POST /v1/checkout/sessions`: a form body with bracketed nested keys
//!   (`line_items[0][price_data][unit_amount]=1999`), decoded into a JSON tree;
//!   answered with a complete Checkout Session object (async-stripe parses
//!   strictly and rejects objects missing required fields);
//! - `GET /v1/checkout/sessions/{id}`: the session as it is now.
//!
//! Like Stripe it demands a `Bearer sk_…` key, replays the first answer for a
//! repeated `Idempotency-Key` (and refuses the key with different
//! parameters), and answers unknown ids with a `resource_missing` error.
//! Tests complete sessions ([`FakeStripe::complete`]), inject failures
//! ([`FakeStripe::fail_next`], [`FakeStripe::delay`]) and read every request
//! back ([`FakeStripe::requests`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use poem::http::StatusCode;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::{Endpoint, Request, Response, Server};
use serde_json::{Map, Value, json};
use startupwebapp::config::{Secret, StripeSettings};
use tokio::task::JoinHandle;

/// The secret key [`FakeStripe::settings`] configures; the fake accepts any
/// `sk_…` key.
pub const SECRET_KEY: &str = "sk_test_fake_stripe_key";
/// The webhook signing secret [`FakeStripe::settings`] configures.
pub const WEBHOOK_SECRET: &str = "whsec_fake_stripe_secret";

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// Without the query string.
    pub path: String,
    pub query: Option<String>,
    /// Header names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The raw form body.
    pub body: String,
    /// The form body decoded into a tree: `a[b][0]=x` → `{"a": {"b": ["x"]}}`.
    /// Values stay strings, as on the wire.
    pub params: Value,
}

impl RecordedRequest {
    /// A header's value (the name is matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn idempotency_key(&self) -> Option<&str> {
        self.header("idempotency-key")
    }

    /// A value by its wire key, e.g. `line_items[0][price_data][unit_amount]`.
    pub fn param(&self, wire_key: &str) -> Option<&str> {
        let mut node = &self.params;
        for segment in key_segments(wire_key) {
            node = match node {
                Value::Object(map) => map.get(&segment)?,
                Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        node.as_str()
    }
}

/// A postal address as Stripe reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FakeAddress {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    /// Two-letter country code.
    pub country: Option<String>,
}

impl FakeAddress {
    /// A complete US address.
    pub fn us(line1: &str, city: &str, state: &str, postal_code: &str) -> Self {
        FakeAddress {
            line1: Some(line1.to_owned()),
            line2: None,
            city: Some(city.to_owned()),
            state: Some(state.to_owned()),
            postal_code: Some(postal_code.to_owned()),
            country: Some("US".to_owned()),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "city": self.city, "country": self.country, "line1": self.line1,
            "line2": self.line2, "postal_code": self.postal_code, "state": self.state,
        })
    }
}

/// What the customer did on the hosted page.
#[derive(Clone, Debug)]
pub struct Completion {
    /// `paid` or `no_payment_required` (or `unpaid` for a delayed method).
    pub payment_status: String,
    pub customer_name: Option<String>,
    /// Goes to `customer_details.email` (the session's own `customer_email`
    /// stays what it was created with).
    pub customer_email: Option<String>,
    pub billing_address: Option<FakeAddress>,
    /// The shipping name and address (`collected_information.shipping_details`).
    pub shipping: Option<(String, FakeAddress)>,
    /// Cents taken off by a promotion code.
    pub amount_discount: i64,
}

impl Default for Completion {
    /// Paid by Jane Doe, billed and shipped to two Illinois addresses.
    fn default() -> Self {
        Completion {
            payment_status: "paid".to_owned(),
            customer_name: Some("Jane Doe".to_owned()),
            customer_email: Some("jane@example.com".to_owned()),
            billing_address: Some(FakeAddress::us("1 Main St", "Springfield", "IL", "62701")),
            shipping: Some((
                "John Doe".to_owned(),
                FakeAddress::us("9 Elm St", "Shelbyville", "IL", "62565"),
            )),
            amount_discount: 0,
        }
    }
}

#[derive(Default)]
struct State {
    requests: Vec<RecordedRequest>,
    sessions: HashMap<String, Value>,
    /// Idempotency key → (the parameters first sent, the answer given).
    idempotent: HashMap<String, (Value, Value)>,
    fail_remaining: usize,
    fail_status: u16,
    delay: Duration,
}

/// The running fake; it stops when dropped.
pub struct FakeStripe {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl FakeStripe {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> FakeStripe {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Stripe");
        let acceptor = TcpAcceptor::from_tokio(listener).expect("fake Stripe acceptor");
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .expect("fake Stripe address");
        let state = Arc::new(Mutex::new(State::default()));
        let endpoint = FakeEndpoint {
            state: state.clone(),
        };
        let task = tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor).run(endpoint).await;
        });
        FakeStripe { addr, state, task }
    }

    /// `http://127.0.0.1:PORT/`: the API base (async-stripe appends `v1/…`).
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stripe settings pointing at the fake.
    pub fn settings(&self) -> StripeSettings {
        StripeSettings {
            secret_key: Secret::new(SECRET_KEY),
            webhook_secrets: vec![Secret::new(WEBHOOK_SECRET)],
            api_base: Some(self.base_url()),
            publishable_key: Some("pk_test_fake_stripe".to_owned()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// The `POST /v1/checkout/sessions` requests received so far.
    pub fn create_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == "/v1/checkout/sessions")
            .collect()
    }

    /// How many distinct sessions exist.
    pub fn session_count(&self) -> usize {
        self.lock().sessions.len()
    }

    /// The session object as `GET /v1/checkout/sessions/{id}` would return
    /// it, e.g. for `data.object` of a signed webhook event.
    ///
    /// # Panics
    /// When no session has that id.
    pub fn session_json(&self, id: &str) -> Value {
        match self.lock().sessions.get(id) {
            Some(session) => session.clone(),
            None => panic!("the fake Stripe has no session {id}"),
        }
    }

    /// Marks the session completed as Stripe does when the customer pays:
    /// status `complete`, customer details, collected shipping details, a
    /// payment intent (only when `paid`: free sessions have none), and the
    /// totals after the discount. Returns the updated object.
    ///
    /// # Panics
    /// When no session has that id.
    pub fn complete(&self, id: &str, completion: Completion) -> Value {
        let mut state = self.lock();
        let Some(session) = state.sessions.get_mut(id) else {
            panic!("the fake Stripe has no session {id}")
        };
        let subtotal = session["amount_subtotal"].as_i64().unwrap_or(0);
        let total = (subtotal - completion.amount_discount).max(0);
        session["status"] = json!("complete");
        session["payment_status"] = json!(completion.payment_status);
        session["payment_intent"] = if completion.payment_status == "paid" {
            json!(new_id("pi"))
        } else {
            Value::Null
        };
        session["amount_total"] = json!(total);
        session["total_details"] = json!({
            "amount_discount": completion.amount_discount,
            "amount_shipping": 0,
            "amount_tax": 0,
        });
        session["customer_details"] = json!({
            "address": completion.billing_address.as_ref().map(FakeAddress::to_json),
            "business_name": null,
            "email": completion.customer_email,
            "individual_name": null,
            "name": completion.customer_name,
            "phone": "+15555550123",
            "tax_exempt": "none",
            "tax_ids": [],
        });
        session["collected_information"] = json!({
            "business_name": null,
            "individual_name": null,
            "shipping_details": completion.shipping.as_ref().map(|(name, address)| json!({
                "address": address.to_json(),
                "name": name,
            })),
        });
        session["url"] = Value::Null;
        session.clone()
    }

    /// The next `n` requests are answered `status` with Stripe's error object
    /// (`api_error` for 5xx) and change nothing.
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut state = self.lock();
        state.fail_remaining = n;
        state.fail_status = status;
    }

    /// Every later answer waits this long (after the request has been
    /// processed, as when Stripe's answer is lost); `Duration::ZERO` stops it.
    pub fn delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panicking test thread must not hide the recorded requests.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct FakeEndpoint {
    state: Arc<Mutex<State>>,
}

impl Endpoint for FakeEndpoint {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let body = req.take_body().into_bytes().await.unwrap_or_default();
        let body = String::from_utf8_lossy(&body).into_owned();
        let recorded = RecordedRequest {
            method: req.method().as_str().to_owned(),
            path: req.uri().path().to_owned(),
            query: req.uri().query().map(str::to_owned),
            headers: req
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            params: decode_form(&body),
            body,
        };
        let (status, answer, delay) = {
            let mut state = lock(&self.state);
            state.requests.push(recorded.clone());
            let (status, answer) = answer(&mut state, &recorded);
            (status, answer, state.delay)
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Ok(Response::builder()
            .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .content_type("application/json")
            .header("request-id", new_id("req"))
            .body(answer.to_string()))
    }
}

/// Stripe's routing, authentication, failure injection and idempotency.
fn answer(state: &mut State, req: &RecordedRequest) -> (u16, Value) {
    if state.fail_remaining > 0 {
        state.fail_remaining -= 1;
        return injected_failure(state.fail_status);
    }
    let authorised = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|key| key.starts_with("sk_"));
    if !authorised {
        return error(
            401,
            "invalid_request_error",
            None,
            "You did not provide an API key. You need to provide your API key in the \
             Authorization header, using Bearer auth.",
            None,
        );
    }
    const COLLECTION: &str = "/v1/checkout/sessions";
    match (req.method.as_str(), req.path.as_str()) {
        ("POST", COLLECTION) => create(state, req),
        ("GET", path) if path.starts_with("/v1/checkout/sessions/") => {
            let id = &path[COLLECTION.len() + 1..];
            match state.sessions.get(id) {
                Some(session) if !id.is_empty() && !id.contains('/') => (200, session.clone()),
                _ => error(
                    404,
                    "invalid_request_error",
                    Some("resource_missing"),
                    &format!("No such checkout.session: '{id}'"),
                    Some("id"),
                ),
            }
        }
        (method, path) => error(
            404,
            "invalid_request_error",
            None,
            &format!("Unrecognized request URL ({method}: {path})."),
            None,
        ),
    }
}

fn create(state: &mut State, req: &RecordedRequest) -> (u16, Value) {
    let key = req.idempotency_key().map(str::to_owned);
    if let Some(key) = &key
        && let Some((params, answer)) = state.idempotent.get(key)
    {
        if *params == req.params {
            return (200, answer.clone());
        }
        return error(
            400,
            "idempotency_error",
            None,
            &format!(
                "Keys for idempotent requests can only be used with the same parameters they \
                 were first used with. Try using a key other than '{key}' if you meant to \
                 execute a different request."
            ),
            None,
        );
    }
    let session = match new_session(&req.params) {
        Ok(session) => session,
        Err((param, message)) => {
            return error(
                400,
                "invalid_request_error",
                Some("parameter_missing"),
                &message,
                Some(&param),
            );
        }
    };
    let id = session["id"].as_str().unwrap_or_default().to_owned();
    state.sessions.insert(id, session.clone());
    if let Some(key) = key {
        state
            .idempotent
            .insert(key, (req.params.clone(), session.clone()));
    }
    (200, session)
}

/// A new open session, as Stripe returns it from the create call (API
/// version 2025-xx "basil"/"clover" shape: shipping under
/// `collected_information`).
fn new_session(params: &Value) -> Result<Value, (String, String)> {
    let str_param = |name: &str| params.get(name).and_then(Value::as_str);
    let mode = str_param("mode").ok_or_else(|| {
        (
            "mode".to_owned(),
            "Missing required param: mode.".to_owned(),
        )
    })?;
    let items = params
        .get("line_items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if mode == "payment" && items.is_empty() {
        return Err((
            "line_items".to_owned(),
            "You must provide at least one line item.".to_owned(),
        ));
    }
    let mut subtotal: i64 = 0;
    for (i, item) in items.iter().enumerate() {
        let amount = item["price_data"]["unit_amount"]
            .as_str()
            .and_then(|v| v.parse::<i64>().ok());
        let quantity = item["quantity"]
            .as_str()
            .and_then(|v| v.parse::<i64>().ok());
        match (amount, quantity) {
            (Some(amount), Some(quantity)) => subtotal += amount * quantity,
            (None, _) => {
                return Err((
                    format!("line_items[{i}][price_data][unit_amount]"),
                    format!("Missing required param: line_items[{i}][price_data][unit_amount]."),
                ));
            }
            (_, None) => {
                return Err((
                    format!("line_items[{i}][quantity]"),
                    format!("Missing required param: line_items[{i}][quantity]."),
                ));
            }
        }
    }
    let id = new_id("cs_test");
    let now = now_secs();
    let currency = items
        .first()
        .and_then(|i| i["price_data"]["currency"].as_str())
        .unwrap_or("usd");
    let allowed_countries = params
        .pointer("/shipping_address_collection/allowed_countries")
        .cloned();
    // Built in two halves: one `json!` this size exceeds the macro recursion limit.
    let mut session = json!({
        "id": id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": false},
        "after_expiration": null,
        "allow_promotion_codes": str_param("allow_promotion_codes").map(|v| v == "true"),
        "amount_subtotal": subtotal,
        "amount_total": subtotal,
        "automatic_tax": {"enabled": false, "liability": null, "provider": null, "status": null},
        "billing_address_collection": str_param("billing_address_collection"),
        "cancel_url": str_param("cancel_url"),
        "client_reference_id": str_param("client_reference_id"),
        "client_secret": null,
        "collected_information": null,
        "consent": null,
        "consent_collection": null,
        "created": now,
        "currency": currency,
        "currency_conversion": null,
        "custom_fields": [],
        "custom_text": {
            "after_submit": null, "shipping_address": null, "submit": null,
            "terms_of_service_acceptance": null,
        },
    });
    let rest = json!({
        "customer": null,
        "customer_creation": "if_required",
        "customer_details": null,
        "customer_email": str_param("customer_email"),
        "discounts": [],
        "expires_at": now + 24 * 3600,
        "invoice": null,
        "invoice_creation": null,
        "livemode": false,
        "locale": null,
        "metadata": params.get("metadata").cloned().unwrap_or_else(|| json!({})),
        "mode": mode,
        "origin_context": null,
        "payment_intent": null,
        "payment_link": null,
        "payment_method_collection": "if_required",
        "payment_method_configuration_details": null,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "permissions": null,
        "phone_number_collection": {
            "enabled": params.pointer("/phone_number_collection/enabled").and_then(Value::as_str)
                == Some("true"),
        },
        "recovered_from": null,
        "saved_payment_method_options": null,
        "setup_intent": null,
        "shipping_address_collection": allowed_countries.map(|c| json!({"allowed_countries": c})),
        "shipping_cost": null,
        "shipping_options": [],
        "status": "open",
        "submit_type": null,
        "subscription": null,
        "success_url": str_param("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": format!("https://checkout.stripe.com/c/pay/{id}"),
        "wallet_options": null,
    });
    if let (Some(first), Value::Object(rest)) = (session.as_object_mut(), rest) {
        first.extend(rest);
    }
    Ok(session)
}

fn injected_failure(status: u16) -> (u16, Value) {
    match status {
        500..=599 => error(status, "api_error", None, "An unknown error occurred", None),
        429 => error(
            429,
            "invalid_request_error",
            Some("rate_limit"),
            "Too many requests hit the API too quickly.",
            None,
        ),
        _ => error(
            status,
            "invalid_request_error",
            None,
            "Injected failure from the fake Stripe.",
            None,
        ),
    }
}

fn error(
    status: u16,
    kind: &str,
    code: Option<&str>,
    message: &str,
    param: Option<&str>,
) -> (u16, Value) {
    let mut object = Map::new();
    object.insert("type".to_owned(), json!(kind));
    if let Some(code) = code {
        object.insert("code".to_owned(), json!(code));
        object.insert(
            "doc_url".to_owned(),
            json!(format!(
                "https://stripe.com/docs/error-codes/{}",
                code.replace('_', "-")
            )),
        );
    }
    object.insert("message".to_owned(), json!(message));
    if let Some(param) = param {
        object.insert("param".to_owned(), json!(param));
    }
    (status, json!({ "error": object }))
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A unique id with Stripe's prefix, e.g. `cs_test_…`, `pi_…`.
fn new_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_a1{n:06}{nanos:09}{:08x}", std::process::id())
}

/// Decodes an `application/x-www-form-urlencoded` body with Stripe's
/// bracketed keys into a tree. Objects whose keys are all indices become
/// arrays, in index order; `a[]=x` appends.
pub fn decode_form(body: &str) -> Value {
    let mut root = Value::Object(Map::new());
    for pair in body.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (percent_decode(key), percent_decode(value));
        insert(&mut root, &key_segments(&key), value);
    }
    arrays_from_indices(root)
}

/// `a[b][0][c]` → `["a", "b", "0", "c"]`; `a[]` → `["a", ""]`.
fn key_segments(key: &str) -> Vec<String> {
    let (head, rest) = key.split_once('[').unwrap_or((key, ""));
    let mut segments = vec![head.to_owned()];
    if !rest.is_empty() {
        let rest = rest.strip_suffix(']').unwrap_or(rest);
        segments.extend(rest.split("][").map(str::to_owned));
    }
    segments
}

fn insert(node: &mut Value, segments: &[String], value: String) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    let Value::Object(map) = node else {
        return;
    };
    // `a[]=x`: the next free index.
    let first = if first.is_empty() {
        map.len().to_string()
    } else {
        first.clone()
    };
    if rest.is_empty() {
        map.insert(first, Value::String(value));
    } else {
        let child = map
            .entry(first)
            .or_insert_with(|| Value::Object(Map::new()));
        if !child.is_object() {
            *child = Value::Object(Map::new());
        }
        insert(child, rest, value);
    }
}

fn arrays_from_indices(node: Value) -> Value {
    match node {
        Value::Object(map) => {
            let indexed = !map.is_empty() && map.keys().all(|k| k.parse::<usize>().is_ok());
            if indexed {
                let mut items: Vec<(usize, Value)> = map
                    .into_iter()
                    .filter_map(|(k, v)| Some((k.parse().ok()?, arrays_from_indices(v))))
                    .collect();
                items.sort_by_key(|(i, _)| *i);
                Value::Array(items.into_iter().map(|(_, v)| v).collect())
            } else {
                Value::Object(
                    map.into_iter()
                        .map(|(k, v)| (k, arrays_from_indices(v)))
                        .collect(),
                )
            }
        }
        other => other,
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 3 <= bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_form_keys_become_a_tree() {
        let body = "mode=payment&line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=1999\
                    &line_items[0][quantity]=2&line_items[1][quantity]=1\
                    &shipping_address_collection[allowed_countries][0]=US\
                    &shipping_address_collection[allowed_countries][1]=CA\
                    &metadata[cart_id]=7&success_url=http%3A%2F%2Fx%2F%3Fs%3D%7BCHECKOUT_SESSION_ID%7D\
                    &name=A+B&tags[]=x&tags[]=y";
        let tree = decode_form(body);
        assert_eq!(tree["line_items"][0]["price_data"]["unit_amount"], "1999");
        assert_eq!(tree["line_items"][1]["quantity"], "1");
        assert_eq!(
            tree["shipping_address_collection"]["allowed_countries"],
            json!(["US", "CA"])
        );
        assert_eq!(tree["metadata"], json!({"cart_id": "7"}));
        assert_eq!(tree["success_url"], "http://x/?s={CHECKOUT_SESSION_ID}");
        assert_eq!(tree["name"], "A B");
        assert_eq!(tree["tags"], json!(["x", "y"]));
    }
}
