//! Stripe's webhook signature scheme, checked on the raw body before it is
//! parsed: the `Stripe-Signature` header is `t=<unix seconds>,v1=<hex>[,v1=…]`
//! where each `v1` is HMAC-SHA256(signing secret, "<t>.<raw body>"). Several
//! `v1` values appear while Stripe rolls a secret, and we accept several
//! secrets while we roll ours.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Stripe's own default tolerance between the signed time and now.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    Missing,
    #[error("malformed Stripe-Signature header")]
    Malformed,
    #[error("signature timestamp outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

/// Checks `header` for `body` against every secret, at time `now`.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[&str],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp: Option<i64> = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" => timestamp = value.parse().ok(),
            "v1" => {
                if let Some(bytes) = decode_hex(value) {
                    signatures.push(bytes);
                }
            }
            // v0 (test-mode legacy) and future schemes are ignored.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    // abs_diff: `t` is the sender's, and `now - t` overflows for a `t` near
    // i64::MIN (a panic in debug builds, a wrap past the check in release).
    if now.abs_diff(timestamp) > TOLERANCE_SECS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    for secret in secrets {
        let expected = sign(secret, timestamp, body);
        if signatures
            .iter()
            .any(|candidate| bool::from(candidate.as_slice().ct_eq(expected.as_slice())))
        {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// HMAC-SHA256(secret, "<t>.<body>"): the bytes of a `v1` value.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so this never fails; an empty result
    // would simply match nothing.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return Vec::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// A complete header for `body`, as Stripe would send it (for tests and
/// tooling).
pub fn header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        encode_hex(&sign(secret, timestamp, body))
    )
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    // Hex digits only: `from_str_radix` alone would also take a sign
    // ("+f" for "0f"), a second spelling of the same signature.
    if !s.len().is_multiple_of(2) || s.len() > 128 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1","type":"checkout.session.completed"}"#;
    const NOW: i64 = 1_764_000_000;

    #[test]
    fn a_current_signature_by_any_configured_secret_verifies() {
        let h = header("whsec_new", NOW, BODY);
        assert_eq!(verify(Some(&h), BODY, &["whsec_new"], NOW), Ok(()));
        assert_eq!(
            verify(Some(&h), BODY, &["whsec_old", "whsec_new"], NOW + 299),
            Ok(())
        );
    }

    #[test]
    fn one_of_several_v1_values_may_match() {
        let good = encode_hex(&sign("whsec_a", NOW, BODY));
        let h = format!("t={NOW},v1={},v1={good},v0=abc", "00".repeat(32));
        assert_eq!(verify(Some(&h), BODY, &["whsec_a"], NOW), Ok(()));
    }

    #[test]
    fn bad_stale_missing_and_malformed_signatures_are_refused() {
        let h = header("whsec_a", NOW, BODY);
        assert_eq!(
            verify(Some(&h), b"{}", &["whsec_a"], NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&h), BODY, &["whsec_other"], NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&h), BODY, &["whsec_a"], NOW + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(None, BODY, &["whsec_a"], NOW),
            Err(SignatureError::Missing)
        );
        for garbage in ["", "t=abc,v1=00", "v1=00", &format!("t={NOW}"), "t=1,v1=zz"] {
            assert_eq!(
                verify(Some(garbage), BODY, &["whsec_a"], NOW),
                Err(SignatureError::Malformed),
                "{garbage}"
            );
        }
    }

    /// Found by the `stripe_signature` fuzz target: `+7` was read as the hex
    /// byte `07`, so a signature with a `0` replaced by `+` still verified.
    #[test]
    fn a_signature_is_hex_digits_only() {
        let hex = encode_hex(&sign("whsec_a", NOW, BODY));
        let zero = hex.find('0').expect("a 0 in 64 hex digits of this vector");
        let signed = format!("{}+{}", &hex[..zero], &hex[zero + 1..]);
        let h = format!("t={NOW},v1={signed}");
        assert_eq!(
            verify(Some(&h), BODY, &["whsec_a"], NOW),
            Err(SignatureError::Malformed)
        );
        assert_eq!(decode_hex("+f"), None);
        assert_eq!(decode_hex("0F"), Some(vec![0x0f]));
    }

    /// Found by the `stripe_signature` fuzz target: a timestamp at the far
    /// end of i64 made `now - t` overflow (a panic in debug builds).
    #[test]
    fn extreme_timestamps_are_stale_not_a_panic() {
        for t in [i64::MIN, i64::MIN + 1, i64::MAX] {
            let h = format!("t={t},v1={}", "00".repeat(32));
            assert_eq!(
                verify(Some(&h), BODY, &["whsec_a"], NOW),
                Err(SignatureError::Stale),
                "{t}"
            );
        }
        let h = header("whsec_a", NOW, BODY);
        assert_eq!(
            verify(Some(&h), BODY, &["whsec_a"], i64::MIN),
            Err(SignatureError::Stale)
        );
    }
}
