//! Wire-format helpers the legacy API needs and poem-openapi lacks: lists
//! sent as JSON objects keyed in a chosen order, query parameters where the
//! last repeated value wins, and the plain-text index pages.

use std::borrow::Cow;

use poem_openapi::ApiResponse;
use poem_openapi::payload::Html;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde_json::Value;

/// The `order-api-version` every `/order/*` JSON body carries.
pub const ORDER_API_VERSION: &str = "0.0.1";

/// A list the legacy API sends as a JSON object (`{"<key>": item, …}`),
/// keys written in insertion order. Integer-like keys (database ids) are
/// re-sorted numerically by browsers; other keys (product identifiers) keep
/// this order, so it is part of the contract.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedMap<V>(Vec<(String, V)>);

impl<V> KeyedMap<V> {
    pub fn new() -> Self {
        KeyedMap(Vec::new())
    }

    pub fn push(&mut self, key: impl ToString, value: V) {
        self.0.push((key.to_string(), value));
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<V> Default for KeyedMap<V> {
    fn default() -> Self {
        KeyedMap::new()
    }
}

impl<K: ToString, V> FromIterator<(K, V)> for KeyedMap<V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        KeyedMap(iter.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
}

impl<V: Type> Type for KeyedMap<V> {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = V::RawValueType;

    fn name() -> Cow<'static, str> {
        format!("keyed_map_{}", V::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            additional_properties: Some(Box::new(V::schema_ref())),
            ..MetaSchema::new("object")
        }))
    }

    fn register(registry: &mut Registry) {
        V::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.0.iter().filter_map(|(_, v)| v.as_raw_value()))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<V: ToJSON> ToJSON for KeyedMap<V> {
    fn to_json(&self) -> Option<Value> {
        let mut map = serde_json::Map::with_capacity(self.0.len());
        for (key, value) in &self.0 {
            if let Some(value) = value.to_json() {
                map.insert(key.clone(), value);
            }
        }
        Some(Value::Object(map))
    }
}

impl<V: ParseFromJSON> ParseFromJSON for KeyedMap<V> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::Object(map) => map
                .into_iter()
                .map(|(k, v)| {
                    V::parse_from_json(Some(v))
                        .map(|v| (k, v))
                        .map_err(ParseError::propagate)
                })
                .collect::<Result<Vec<_>, _>>()
                .map(KeyedMap),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

/// A text query parameter of which the **last** occurrence wins when the key
/// repeats (`?url=a&url=b` is `b`), as the legacy form parser had it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastValue(pub String);

impl LastValue {
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl Type for LastValue {
    const IS_REQUIRED: bool = true;

    type RawValueType = String;

    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromParameter for LastValue {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(LastValue(value.to_owned()))
    }

    fn parse_from_parameters<I: IntoIterator<Item = A>, A: AsRef<str>>(
        iter: I,
    ) -> ParseResult<Self> {
        iter.into_iter()
            .last()
            .map(|v| LastValue(v.as_ref().to_owned()))
            .ok_or_else(ParseError::expected_input)
    }
}

/// `Cache-Control` of the legacy never-cache pages (Django's `never_cache`).
pub const NEVER_CACHE: &str = "max-age=0, no-cache, no-store, must-revalidate, private";

/// A plain greeting page (`/order/`, `/clientevent/`): HTML content type,
/// never cached, no database access.
#[derive(ApiResponse)]
pub enum IndexPage {
    /// The greeting text.
    #[oai(status = 200)]
    Ok(
        Html<String>,
        /// Always `max-age=0, no-cache, no-store, must-revalidate, private`.
        #[oai(header = "Cache-Control")]
        String,
        /// The time of the response, so the page is already expired.
        #[oai(header = "Expires")]
        String,
    ),
}

/// The index page as a plain poem endpoint (GET only). poem-openapi drops a
/// trailing slash from operation paths, so the operation is documented at
/// `/order` while the legacy path `/order/` is routed here (see `app.rs`).
pub fn index_endpoint(body: &'static str) -> impl poem::Endpoint + 'static {
    poem::get(poem::endpoint::make_sync(move |_| IndexPage::new(body)))
}

impl IndexPage {
    pub fn new(body: &str) -> Self {
        let expires = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        IndexPage::Ok(Html(body.to_owned()), NEVER_CACHE.to_owned(), expires)
    }
}

/// A timestamp as Django's JSON encoder writes it: UTC, millisecond
/// precision, `Z` suffix, and no fraction when the microseconds are zero
/// (`2026-11-26T08:16:09.877Z`, `2026-11-26T08:16:09Z`).
pub fn django_datetime(at: chrono::DateTime<chrono::Utc>) -> String {
    if at.timestamp_subsec_micros() == 0 {
        at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }
}

/// Implements the poem-openapi traits for a two-variant enum sent as either
/// of two JSON types (`true` or a list, a number or a string). The derived
/// `Union` also declares `type: object`, which no such value satisfies.
macro_rules! one_of_two {
    ($ty:ident, $name:literal, $a:ident($ta:ty), $b:ident($tb:ty)) => {
        impl poem_openapi::types::Type for $ty {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }

            fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
                poem_openapi::registry::MetaSchemaRef::Inline(Box::new(
                    poem_openapi::registry::MetaSchema {
                        one_of: vec![<$ta>::schema_ref(), <$tb>::schema_ref()],
                        ..poem_openapi::registry::MetaSchema::ANY
                    },
                ))
            }

            fn register(registry: &mut poem_openapi::registry::Registry) {
                <$ta>::register(registry);
                <$tb>::register(registry);
            }

            fn as_raw_value(&self) -> Option<&Self> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
                Box::new(std::iter::once(self))
            }
        }

        impl poem_openapi::types::ToJSON for $ty {
            fn to_json(&self) -> Option<serde_json::Value> {
                match self {
                    $ty::$a(v) => v.to_json(),
                    $ty::$b(v) => v.to_json(),
                }
            }
        }

        impl poem_openapi::types::ParseFromJSON for $ty {
            fn parse_from_json(
                value: Option<serde_json::Value>,
            ) -> poem_openapi::types::ParseResult<Self> {
                if let Ok(v) = <$ta>::parse_from_json(value.clone()) {
                    return Ok($ty::$a(v));
                }
                <$tb>::parse_from_json(value)
                    .map($ty::$b)
                    .map_err(poem_openapi::types::ParseError::propagate)
            }
        }
    };
}
pub(crate) use one_of_two;

#[cfg(test)]
mod datetime_tests {
    use super::django_datetime;
    use chrono::{TimeZone, Utc};

    #[test]
    fn milliseconds_are_kept_and_a_zero_fraction_dropped() {
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 8, 16, 9).single();
        let at = at.expect("valid date");
        assert_eq!(django_datetime(at), "2026-11-26T08:16:09Z");
        let with_micros = at + chrono::Duration::microseconds(877_123);
        assert_eq!(django_datetime(with_micros), "2026-11-26T08:16:09.877Z");
    }
}
