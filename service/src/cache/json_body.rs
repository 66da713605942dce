//! A JSON response body serialised once and sent many times.
//!
//! `JsonBody<T>` is documented in the OpenAPI spec exactly as `Json<T>` (same
//! status, media type and schema), and its bytes are those `Json<T>` would
//! send, but a cached copy costs a reference-count increment instead of
//! building and serialising the value again.

use std::marker::PhantomData;

use bytes::Bytes;
use poem::http::header;
use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaResponses, Registry};
use poem_openapi::types::ToJSON;

pub struct JsonBody<T> {
    bytes: Bytes,
    // The schema the bytes follow; no `T` is kept.
    schema: PhantomData<fn() -> T>,
}

impl<T> Clone for JsonBody<T> {
    fn clone(&self) -> Self {
        JsonBody {
            bytes: self.bytes.clone(),
            schema: PhantomData,
        }
    }
}

impl<T: ToJSON> JsonBody<T> {
    /// Serialises `value` the way poem-openapi's `Json<T>` does.
    pub fn encode(value: &T) -> Result<Self, serde_json::Error> {
        let bytes = serde_json::to_vec(&value.to_json())?;
        Ok(JsonBody {
            bytes: Bytes::from(bytes),
            schema: PhantomData,
        })
    }

    /// A body produced earlier by [`JsonBody::encode`] for the same `T`.
    pub fn from_encoded(bytes: Bytes) -> Self {
        JsonBody {
            bytes,
            schema: PhantomData,
        }
    }

    pub fn bytes(&self) -> Bytes {
        self.bytes.clone()
    }
}

impl<T: ToJSON> IntoResponse for JsonBody<T> {
    fn into_response(self) -> Response {
        Response::builder()
            .header(header::CONTENT_TYPE, Json::<T>::CONTENT_TYPE)
            .body(self.bytes)
    }
}

impl<T: ToJSON> ApiResponse for JsonBody<T> {
    fn meta() -> MetaResponses {
        Json::<T>::meta()
    }

    fn register(registry: &mut Registry) {
        <Json<T> as ApiResponse>::register(registry);
    }
}
