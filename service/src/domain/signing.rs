//! Django-compatible signing, so values signed by an existing Django
//! deployment (the `an_ct` cookie, later the mailed tokens) stay valid under
//! the same secret key.
//!
//! `signing.get_cookie_signer(salt=name + salt)` signs `value` as
//! `value:ts:sig`, where `ts` is base62 of the Unix time and `sig` is the
//! unpadded URL-safe base64 of HMAC-SHA256(key = SHA256(salt + "signer" +
//! secret), message = "value:ts"), and the secret is
//! "django.http.cookies" + SECRET_KEY.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub fn base62_encode(mut n: u64) -> String {
    if n == 0 {
        return "0".to_owned();
    }
    let mut out = Vec::new();
    while n > 0 {
        out.push(BASE62[(n % 62) as usize]);
        n /= 62;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

pub fn base62_decode(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u64, |acc, b| {
        let digit = BASE62.iter().position(|c| *c == b)? as u64;
        acc.checked_mul(62)?.checked_add(digit)
    })
}

/// Django's `salted_hmac(key_salt, value, secret)` with SHA-256.
pub(crate) fn salted_hmac(key_salt: &str, secret: &str, message: &str) -> Option<HmacSha256> {
    let key = Sha256::new()
        .chain_update(key_salt.as_bytes())
        .chain_update(secret.as_bytes())
        .finalize();
    let mut mac = HmacSha256::new_from_slice(&key).ok()?;
    mac.update(message.as_bytes());
    Some(mac)
}

/// The signer behind `HttpResponse.set_signed_cookie(name, value, salt=salt)`.
pub struct CookieSigner {
    salt: String,
    secret: String,
}

impl CookieSigner {
    pub fn new(secret_key: &str, cookie_name: &str, salt: &str) -> Self {
        CookieSigner {
            salt: format!("{cookie_name}{salt}signer"),
            secret: format!("django.http.cookies{secret_key}"),
        }
    }

    /// `value:timestamp:signature`.
    pub fn sign(&self, value: &str, unix_time: u64) -> String {
        let message = format!("{value}:{}", base62_encode(unix_time));
        let signature = salted_hmac(&self.salt, &self.secret, &message)
            .map(|mac| URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
            .unwrap_or_default();
        format!("{message}:{signature}")
    }

    /// The value when the signature is valid (checked in constant time);
    /// `None` for anything else. Like the legacy, the age is not enforced.
    pub fn unsign(&self, signed: &str) -> Option<String> {
        let (message, signature) = signed.rsplit_once(':')?;
        let (value, timestamp) = message.rsplit_once(':')?;
        base62_decode(timestamp)?;
        let expected = URL_SAFE_NO_PAD.decode(signature).ok()?;
        salted_hmac(&self.salt, &self.secret, message)?
            .verify_slice(&expected)
            .ok()?;
        Some(value.to_owned())
    }
}

/// A random `[A-Za-z0-9]` string from the OS-seeded CSPRNG.
pub fn random_alphanumeric(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A random `[a-z0-9]` string (Django's session-key alphabet).
pub fn random_lower_alphanumeric(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "django-insecure-test-key-0123456789abcdefghijklmnop";

    #[test]
    fn base62_round_trips_and_matches_django_alphabet() {
        assert_eq!(base62_encode(0), "0");
        assert_eq!(base62_encode(61), "z");
        assert_eq!(base62_encode(62), "10");
        for n in [1u64, 1_764_000_000, u32::MAX as u64] {
            assert_eq!(base62_decode(&base62_encode(n)), Some(n));
        }
        assert_eq!(base62_decode("!"), None);
    }

    #[test]
    fn a_signed_cookie_unsigns_to_its_value() {
        let signer = CookieSigner::new(KEY, "an_ct", "anonymouscartcookieisthis");
        let signed = signer.sign("AbCdEfGhIjKlMnOpQrSt", 1_764_000_000);
        assert!(signed.starts_with("AbCdEfGhIjKlMnOpQrSt:"));
        assert_eq!(
            signer.unsign(&signed).as_deref(),
            Some("AbCdEfGhIjKlMnOpQrSt")
        );
    }

    #[test]
    fn tampering_or_another_key_or_salt_is_rejected() {
        let signer = CookieSigner::new(KEY, "an_ct", "anonymouscartcookieisthis");
        let signed = signer.sign("value123", 1_764_000_000);
        let tampered = signed.replacen("value123", "value124", 1);
        assert_eq!(signer.unsign(&tampered), None);
        let other_key = CookieSigner::new(
            "another-key-0123456789abcdefghijklmnop",
            "an_ct",
            "anonymouscartcookieisthis",
        );
        assert_eq!(other_key.unsign(&signed), None);
        let other_salt = CookieSigner::new(KEY, "an_ct", "othersalt");
        assert_eq!(other_salt.unsign(&signed), None);
        for junk in ["", "nocolons", "a:b", "a:!!:sig", "value123:1:"] {
            assert_eq!(signer.unsign(junk), None, "{junk}");
        }
    }

    /// A vector produced by Django 5.2 itself:
    /// `signing.get_cookie_signer(salt="an_ct" + "anonymouscartcookieisthis")`
    /// with the timestamp fixed at 1764000000, under `KEY`.
    #[test]
    fn matches_a_cookie_signed_by_django() {
        let signer = CookieSigner::new(KEY, "an_ct", "anonymouscartcookieisthis");
        let django = "AbCdEfGhIjKlMnOpQrSt:1vNYyu:rtgRzMIEPJVtyzkIdHR6wuCiVAR3Jxx9Dg6LsCNP0sE";
        assert_eq!(signer.sign("AbCdEfGhIjKlMnOpQrSt", 1_764_000_000), django);
        assert_eq!(
            signer.unsign(django).as_deref(),
            Some("AbCdEfGhIjKlMnOpQrSt")
        );
    }

    #[test]
    fn random_strings_use_the_right_alphabets() {
        let a = random_alphanumeric(20);
        assert_eq!(a.len(), 20);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        let s = random_lower_alphanumeric(32);
        assert!(
            s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        assert_ne!(random_alphanumeric(20), a);
    }
}
