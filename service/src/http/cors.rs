//! CORS for exactly the configured storefront origins, with credentials.
//!
//! Like django-cors-headers, a request from another origin is still served but
//! gets no CORS headers, so the browser withholds the response from that page.

use std::sync::Arc;

use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

use crate::config::Origin;

const ALLOW_METHODS: &str = "DELETE, GET, OPTIONS, PATCH, POST, PUT";
const ALLOW_HEADERS: &str =
    "accept, authorization, content-type, user-agent, x-csrftoken, x-requested-with, x-request-id";
const MAX_AGE_SECS: &str = "86400";

#[derive(Clone)]
pub struct Cors {
    origins: Arc<Vec<Origin>>,
}

impl Cors {
    pub fn new(origins: Vec<Origin>) -> Self {
        Cors {
            origins: Arc::new(origins),
        }
    }
}

impl<E: Endpoint> Middleware<E> for Cors {
    type Output = CorsEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        CorsEndpoint {
            inner: ep,
            origins: self.origins.clone(),
        }
    }
}

pub struct CorsEndpoint<E> {
    inner: E,
    origins: Arc<Vec<Origin>>,
}

impl<E> CorsEndpoint<E> {
    fn allowed_origin(&self, req: &Request) -> Option<HeaderValue> {
        let origin = req.headers().get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        self.origins
            .iter()
            .any(|o| o.as_str().eq_ignore_ascii_case(text))
            .then(|| origin.clone())
    }
}

impl<E: Endpoint> Endpoint for CorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let allowed = self.allowed_origin(&req);
        let preflight = req.method() == Method::OPTIONS
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);

        if preflight {
            let mut response = StatusCode::NO_CONTENT.into_response();
            let h = response.headers_mut();
            h.insert(header::VARY, HeaderValue::from_static("origin"));
            if let Some(origin) = allowed {
                allow_origin(h, origin);
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static(ALLOW_METHODS),
                );
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static(ALLOW_HEADERS),
                );
                h.insert(
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static(MAX_AGE_SECS),
                );
            }
            return Ok(response);
        }

        let mut response = match self.inner.call(req).await {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        };
        let h = response.headers_mut();
        h.append(header::VARY, HeaderValue::from_static("origin"));
        if let Some(origin) = allowed {
            allow_origin(h, origin);
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("x-request-id"),
            );
        }
        Ok(response)
    }
}

fn allow_origin(h: &mut poem::http::HeaderMap, origin: HeaderValue) {
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
}
