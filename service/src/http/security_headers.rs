//! The legacy service's security headers (contract api-order.md §1.7):
//! nosniff, `X-Frame-Options: DENY`, `Referrer-Policy: same-origin`, COOP
//! `same-origin`, and HSTS (1 year, subdomains, preload) on HTTPS responses.
//! TLS ends at the load balancer, so HTTPS is read from `X-Forwarded-Proto`.

use poem::http::{HeaderValue, header};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

const HSTS: &str = "max-age=31536000; includeSubDomains; preload";

pub struct SecurityHeaders;

impl<E: Endpoint> Middleware<E> for SecurityHeaders {
    type Output = SecurityHeadersEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        SecurityHeadersEndpoint(ep)
    }
}

pub struct SecurityHeadersEndpoint<E>(E);

fn is_https(req: &Request) -> bool {
    req.headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.rsplit(',')
                .next()
                .unwrap_or(v)
                .trim()
                .eq_ignore_ascii_case("https")
        })
        .unwrap_or(false)
        || req.uri().scheme_str() == Some("https")
}

impl<E: Endpoint> Endpoint for SecurityHeadersEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let https = is_https(&req);
        let mut response = match self.0.call(req).await {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        };
        let h = response.headers_mut();
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        h.insert(
            "cross-origin-opener-policy",
            HeaderValue::from_static("same-origin"),
        );
        if https {
            h.insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS),
            );
        }
        Ok(response)
    }
}
