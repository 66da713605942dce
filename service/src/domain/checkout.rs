//! What an order needs from a Stripe Checkout Session, whichever way the
//! session arrives: inside a signed webhook event or retrieved from Stripe.
//! Only these fields are read, so a change elsewhere in Stripe's payload (a
//! new API version) cannot break order creation.

use serde::Deserialize;

/// A postal address as Stripe reports it (`line2` and phone are not kept,
/// as in the legacy orders).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostalAddress {
    pub name: Option<String>,
    pub line1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    /// Two-letter country code.
    pub country: Option<String>,
}

/// The session's facts an order is built from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckoutFacts {
    /// `cs_…`: the key that makes order creation exactly-once.
    pub session_id: String,
    /// `paid`, `unpaid` or `no_payment_required`.
    pub payment_status: String,
    pub payment_intent: Option<String>,
    /// What Stripe charged, in cents, after any promotion code.
    pub amount_total: Option<i64>,
    /// `total_details.amount_discount`, in cents.
    pub amount_discount: Option<i64>,
    pub customer_email: Option<String>,
    pub customer_name: Option<String>,
    pub billing: PostalAddress,
    /// `collected_information.shipping_details` (newer API versions) or
    /// `shipping_details` (older ones).
    pub shipping: Option<PostalAddress>,
    /// `metadata.cart_id`, as we set it when creating the session.
    pub cart_id: Option<String>,
}

impl CheckoutFacts {
    /// Paid, or free (a 100 % promotion code): either way the order is owed.
    pub fn is_settled(&self) -> bool {
        matches!(self.payment_status.as_str(), "paid" | "no_payment_required")
    }

    /// The customer's email: the one the session was created with, else the
    /// one typed on Stripe's page.
    pub fn email(&self) -> Option<&str> {
        self.customer_email.as_deref().filter(|e| !e.is_empty())
    }

    /// Parses the session object of a webhook event (`data.object`) or of a
    /// retrieve call.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, serde_json::Error> {
        let raw = RawSession::deserialize(value)?;
        let details = raw.customer_details.unwrap_or_default();
        let shipping = raw
            .collected_information
            .and_then(|c| c.shipping_details)
            .or(raw.shipping_details)
            .map(|s| s.into_address());
        Ok(CheckoutFacts {
            session_id: raw.id,
            payment_status: raw.payment_status.unwrap_or_default(),
            payment_intent: raw.payment_intent.and_then(IdOrObject::into_id),
            amount_total: raw.amount_total,
            amount_discount: raw.total_details.and_then(|t| t.amount_discount),
            customer_email: raw.customer_email.or(details.email.clone()),
            customer_name: details.name.clone(),
            billing: details.into_address(),
            shipping,
            cart_id: raw.metadata.and_then(|m| m.cart_id),
        })
    }
}

#[derive(Deserialize)]
struct RawSession {
    id: String,
    payment_status: Option<String>,
    payment_intent: Option<IdOrObject>,
    amount_total: Option<i64>,
    total_details: Option<RawTotals>,
    customer_email: Option<String>,
    customer_details: Option<RawCustomer>,
    collected_information: Option<RawCollected>,
    shipping_details: Option<RawShipping>,
    metadata: Option<RawMetadata>,
}

/// Stripe sends an id, or the object when expanded.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdOrObject {
    Id(String),
    Object { id: String },
}

impl IdOrObject {
    fn into_id(self) -> Option<String> {
        match self {
            IdOrObject::Id(id) | IdOrObject::Object { id } => Some(id),
        }
    }
}

#[derive(Deserialize)]
struct RawTotals {
    amount_discount: Option<i64>,
}

#[derive(Deserialize, Default, Clone)]
struct RawCustomer {
    name: Option<String>,
    email: Option<String>,
    address: Option<RawAddress>,
}

impl RawCustomer {
    fn into_address(self) -> PostalAddress {
        self.address.unwrap_or_default().with_name(self.name)
    }
}

#[derive(Deserialize)]
struct RawCollected {
    shipping_details: Option<RawShipping>,
}

#[derive(Deserialize)]
struct RawShipping {
    name: Option<String>,
    address: Option<RawAddress>,
}

impl RawShipping {
    fn into_address(self) -> PostalAddress {
        self.address.unwrap_or_default().with_name(self.name)
    }
}

#[derive(Deserialize, Default, Clone)]
struct RawAddress {
    line1: Option<String>,
    city: Option<String>,
    state: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
}

impl RawAddress {
    fn with_name(self, name: Option<String>) -> PostalAddress {
        PostalAddress {
            name,
            line1: self.line1,
            city: self.city,
            state: self.state,
            postal_code: self.postal_code,
            country: self.country,
        }
    }
}

#[derive(Deserialize)]
struct RawMetadata {
    cart_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_only_what_an_order_needs_from_a_current_session_object() {
        let session = json!({
            "id": "cs_test_1", "object": "checkout.session", "payment_status": "paid",
            "payment_intent": "pi_1", "amount_total": 5550,
            "total_details": {"amount_discount": 450, "amount_shipping": 0, "amount_tax": 0},
            "customer_email": null,
            "customer_details": {"name": "Jane Doe", "email": "jane@example.com",
                "address": {"line1": "1 Main St", "line2": "Apt 2", "city": "Springfield",
                            "state": "IL", "postal_code": "62701", "country": "US"}},
            "collected_information": {"shipping_details": {"name": "John Doe",
                "address": {"line1": "9 Elm St", "city": "Shelbyville", "state": "IL",
                            "postal_code": "62565", "country": "US"}}},
            "metadata": {"cart_id": "42"},
            "a_field_from_a_future_api_version": {"anything": [1, 2, 3]}
        });
        let facts = CheckoutFacts::from_json(&session).expect("parses");
        assert!(facts.is_settled());
        assert_eq!(facts.email(), Some("jane@example.com"));
        assert_eq!(facts.amount_discount, Some(450));
        assert_eq!(facts.cart_id.as_deref(), Some("42"));
        assert_eq!(facts.billing.name.as_deref(), Some("Jane Doe"));
        let shipping = facts.shipping.expect("shipping");
        assert_eq!(shipping.name.as_deref(), Some("John Doe"));
        assert_eq!(shipping.postal_code.as_deref(), Some("62565"));
    }

    #[test]
    fn older_payloads_and_free_sessions_are_understood() {
        let session = json!({
            "id": "cs_test_2", "payment_status": "no_payment_required", "payment_intent": null,
            "customer_email": "buyer@example.com",
            "shipping_details": {"name": "B", "address": {"country": "CA"}},
        });
        let facts = CheckoutFacts::from_json(&session).expect("parses");
        assert!(facts.is_settled());
        assert_eq!(facts.payment_intent, None);
        assert_eq!(
            facts.shipping.and_then(|s| s.country).as_deref(),
            Some("CA")
        );
        let unpaid = json!({"id": "cs_3", "payment_status": "unpaid"});
        assert!(
            !CheckoutFacts::from_json(&unpaid)
                .expect("parses")
                .is_settled()
        );
        assert!(CheckoutFacts::from_json(&json!({"payment_status": "paid"})).is_err());
    }
}
