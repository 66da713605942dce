//! Gives every request an id (the caller's `X-Request-Id` when it is sane,
//! else a fresh UUID), runs the request inside a span carrying it so every log
//! line of the request shows it, echoes it back, and logs the outcome.

use std::time::Instant;

use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";

pub struct RequestId;

impl<E: Endpoint> Middleware<E> for RequestId {
    type Output = RequestIdEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        RequestIdEndpoint(ep)
    }
}

pub struct RequestIdEndpoint<E>(E);

/// Accept a caller's id only if it is short printable ASCII, so it cannot
/// forge log lines or bloat them.
fn incoming_id(req: &Request) -> Option<HeaderValue> {
    let value = req.headers().get(HEADER)?;
    let bytes = value.as_bytes();
    let sane = !bytes.is_empty()
        && bytes.len() <= 128
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=".contains(b));
    sane.then(|| value.clone())
}

impl<E: Endpoint> Endpoint for RequestIdEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let id = incoming_id(&req).unwrap_or_else(|| {
            HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("invalid"))
        });
        let id_text = id.to_str().unwrap_or("invalid").to_owned();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let span = tracing::info_span!("request", request_id = %id_text, %method, %path);
        async move {
            let started = Instant::now();
            let mut response = match self.0.call(req).await {
                Ok(r) => r.into_response(),
                Err(e) => e.into_response(),
            };
            response.headers_mut().insert(HEADER, id);
            let status = response.status().as_u16();
            let latency_us = started.elapsed().as_micros() as u64;
            // Load-balancer probes would drown the log at info.
            if path == "/healthz" || path == "/readyz" {
                tracing::debug!(status, latency_us, "request completed");
            } else {
                tracing::info!(status, latency_us, "request completed");
            }
            Ok(response)
        }
        .instrument(span)
        .await
    }
}
