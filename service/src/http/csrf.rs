//! CSRF protection as the storefront expects it from Django: the
//! `csrftoken` cookie holds a 32-character secret; every state-changing
//! request echoes it (or Django's 64-character masked form) in
//! `X-CSRFToken`; the two are compared in constant time. A present `Origin`
//! must be one of the storefront origins. Failure is a 403, to which the
//! storefront reacts by fetching `/user/token` and retrying once.

use std::sync::Arc;

use poem::http::{Method, header};
use poem::{Endpoint, Middleware, Request, Result};
use subtle::ConstantTimeEq;

use crate::config::Origin;
use crate::domain::signing::random_alphanumeric;
use crate::error::AppError;
use crate::http::cookies;

const SECRET_LEN: usize = 32;
const ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Paths that authenticate by other means (Stripe signs its webhook).
const EXEMPT: &[&str] = &["/order/stripe-webhook"];

pub fn new_secret() -> String {
    random_alphanumeric(SECRET_LEN)
}

pub fn is_valid_secret(s: &str) -> bool {
    s.len() == SECRET_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn index(b: u8) -> Option<usize> {
    ALPHABET.iter().position(|c| *c == b)
}

/// Django's masked token: 32 mask chars, then each secret char shifted by its mask char.
pub fn mask(secret: &str) -> String {
    let mask = random_alphanumeric(SECRET_LEN);
    let cipher: String = secret
        .bytes()
        .zip(mask.bytes())
        .map(|(s, m)| {
            let (si, mi) = (index(s).unwrap_or(0), index(m).unwrap_or(0));
            ALPHABET[(si + mi) % ALPHABET.len()] as char
        })
        .collect();
    format!("{mask}{cipher}")
}

fn unmask(token: &str) -> Option<String> {
    let (mask, cipher) = token.split_at(SECRET_LEN);
    mask.bytes()
        .zip(cipher.bytes())
        .map(|(m, c)| {
            let (mi, ci) = (index(m)?, index(c)?);
            Some(ALPHABET[(ci + ALPHABET.len() - mi) % ALPHABET.len()] as char)
        })
        .collect()
}

/// Whether `token` (plain or masked) carries `secret`.
pub fn token_matches(secret: &str, token: &str) -> bool {
    if !is_valid_secret(secret) || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let candidate = match token.len() {
        SECRET_LEN => token.to_owned(),
        64 => match unmask(token) {
            Some(s) => s,
            None => return false,
        },
        _ => return false,
    };
    candidate.as_bytes().ct_eq(secret.as_bytes()).into()
}

pub struct Csrf {
    origins: Arc<Vec<Origin>>,
}

impl Csrf {
    pub fn new(origins: Vec<Origin>) -> Self {
        Csrf {
            origins: Arc::new(origins),
        }
    }
}

impl<E: Endpoint> Middleware<E> for Csrf {
    type Output = CsrfEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        CsrfEndpoint {
            inner: ep,
            origins: self.origins.clone(),
        }
    }
}

pub struct CsrfEndpoint<E> {
    inner: E,
    origins: Arc<Vec<Origin>>,
}

impl<E> CsrfEndpoint<E> {
    fn check(&self, req: &Request) -> Result<(), &'static str> {
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            if !self
                .origins
                .iter()
                .any(|o| o.as_str().eq_ignore_ascii_case(origin))
            {
                return Err("origin not trusted");
            }
        }
        let secret = req
            .cookie()
            .get(cookies::CSRF)
            .map(|c| c.value_str().to_owned())
            .ok_or("CSRF cookie not set")?;
        let token = req
            .headers()
            .get("x-csrftoken")
            .and_then(|v| v.to_str().ok())
            .ok_or("CSRF token missing")?;
        if token_matches(&secret, token) {
            Ok(())
        } else {
            Err("CSRF token incorrect")
        }
    }
}

impl<E: Endpoint> Endpoint for CsrfEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let safe = matches!(
            *req.method(),
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        );
        if !safe
            && !EXEMPT.contains(&req.uri().path())
            && let Err(reason) = self.check(&req)
        {
            tracing::info!(reason, "CSRF check failed");
            return Err(AppError::CsrfFailed.into());
        }
        self.inner.call(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_masked_tokens_match_their_secret_only() {
        let secret = new_secret();
        assert!(is_valid_secret(&secret));
        assert!(token_matches(&secret, &secret));
        let masked = mask(&secret);
        assert_eq!(masked.len(), 64);
        assert!(token_matches(&secret, &masked));
        assert!(!token_matches(&secret, &new_secret()));
        assert!(!token_matches(&secret, &mask(&new_secret())));
    }

    #[test]
    fn malformed_tokens_fail() {
        let secret = new_secret();
        for bad in [
            "",
            "short",
            &secret[..31],
            &format!("{secret}x"),
            &"!".repeat(32),
        ] {
            assert!(!token_matches(&secret, bad), "{bad}");
        }
        assert!(!token_matches("not-a-secret", "not-a-secret"));
    }
}
