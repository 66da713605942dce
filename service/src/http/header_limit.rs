//! Caps the total size of a request's headers. hyper bounds its read buffer
//! (about 400 KiB) and the header count (100), but one header value can still
//! fill that buffer; every request would then drag it through cookie parsing,
//! CSRF and logging. Past the cap the answer is 431 in the API's error shape.

use poem::{Endpoint, Middleware, Request, Result};

use crate::error::AppError;

pub struct HeaderLimit {
    max_bytes: usize,
}

impl HeaderLimit {
    pub fn new(max_bytes: usize) -> Self {
        HeaderLimit { max_bytes }
    }
}

impl<E: Endpoint> Middleware<E> for HeaderLimit {
    type Output = HeaderLimitEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        HeaderLimitEndpoint {
            inner: ep,
            max_bytes: self.max_bytes,
        }
    }
}

pub struct HeaderLimitEndpoint<E> {
    inner: E,
    max_bytes: usize,
}

/// Bytes of the header block as sent, less line endings: `name: value`.
fn header_bytes(req: &Request) -> usize {
    req.headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len())
        .sum()
}

impl<E: Endpoint> Endpoint for HeaderLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        if header_bytes(&req) > self.max_bytes {
            return Err(AppError::HeadersTooLarge {
                max_bytes: self.max_bytes,
            }
            .into());
        }
        self.inner.call(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::http::StatusCode;
    use poem::{EndpointExt, handler};

    #[handler]
    fn ok() -> &'static str {
        "ok"
    }

    #[tokio::test]
    async fn headers_up_to_the_cap_pass_and_one_byte_more_is_431() {
        let app = ok
            .with(HeaderLimit::new(4096))
            .catch_all_error(crate::error::render_error);
        // "x-fill: " + value is the whole header block of these requests.
        let at_cap = "v".repeat(4096 - "x-fill".len() - 2);
        let request = |value: String| Request::builder().header("x-fill", value).finish();
        let response = app.get_response(request(at_cap.clone())).await;
        assert_eq!(response.status(), StatusCode::OK);
        let response = app.get_response(request(format!("{at_cap}v"))).await;
        assert_eq!(
            response.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        let body = response.into_body().into_string().await.expect("body");
        assert!(body.contains(r#""error":"headers-too-large""#), "{body}");
        assert!(body.contains("4096"), "{body}");
    }
}
