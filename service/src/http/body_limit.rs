//! Caps request bodies. A declared `Content-Length` above the cap is refused
//! before anything is read; a chunked body is read up to the cap and refused
//! past it. Requests without a body (most GETs) pass untouched.

use poem::error::SizedLimitError;
use poem::http::header;
use poem::{Endpoint, Middleware, Request, Result};

pub struct BodyLimit {
    max_bytes: usize,
}

impl BodyLimit {
    pub fn new(max_bytes: usize) -> Self {
        BodyLimit { max_bytes }
    }
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        BodyLimitEndpoint {
            inner: ep,
            max_bytes: self.max_bytes,
        }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
    max_bytes: usize,
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match declared {
            Some(n) if n > self.max_bytes as u64 => {
                return Err(SizedLimitError::PayloadTooLarge.into());
            }
            Some(_) => {}
            None if req.headers().contains_key(header::TRANSFER_ENCODING) => {
                let body = req
                    .take_body()
                    .into_bytes_limit(self.max_bytes)
                    .await
                    .map_err(|_| SizedLimitError::PayloadTooLarge)?;
                req.set_body(body);
            }
            None => {}
        }
        self.inner.call(req).await
    }
}
