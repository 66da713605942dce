//! Helpers shared by the fuzz targets in `fuzz_targets/`.
//!
//! The targets call the service's own parsers (`startupwebapp::…`) and
//! assert properties of their results; these helpers only build inputs.

use std::borrow::Cow;
use std::future::Future;
use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::Unstructured;

/// Splits a fuzz input at its first NUL: the text under test (a cookie, a
/// header, …) before it, and control bytes after it, from which a target
/// draws the rest of its scenario (times, keys, which byte to change). A
/// seed is plain text; without control bytes every choice is its default.
pub fn split_input(data: &[u8]) -> (Cow<'_, str>, Unstructured<'_>) {
    let (text, control) = match data.iter().position(|b| *b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (data, &[][..]),
    };
    (String::from_utf8_lossy(text), Unstructured::new(control))
}

/// Runs a future to completion on one current-thread runtime per process.
/// The poem extractors the targets drive are async but never wait on I/O.
pub fn block_on<F: Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("cannot build a tokio runtime: {e}"))
    });
    runtime.block_on(future)
}

/// `text` with the byte at `at % len` replaced by `to`, when that changes
/// the text and leaves valid UTF-8 (the values under test are `&str`).
pub fn flip_one_byte(text: &str, at: usize, to: u8) -> Option<String> {
    if text.is_empty() {
        return None;
    }
    let mut bytes = text.as_bytes().to_vec();
    let index = at % bytes.len();
    if bytes[index] == to {
        return None;
    }
    bytes[index] = to;
    String::from_utf8(bytes).ok()
}

/// `bytes` with the byte at `at % len` replaced by `to`, when that changes it.
pub fn flip_one_raw_byte(bytes: &[u8], at: usize, to: u8) -> Option<Vec<u8>> {
    if bytes.is_empty() {
        return None;
    }
    let mut out = bytes.to_vec();
    let index = at % out.len();
    if out[index] == to {
        return None;
    }
    out[index] = to;
    Some(out)
}

/// Lower-case hex, as Stripe writes `v1` signatures.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `value` can travel in a `Cookie` header unchanged: RFC 6265
/// cookie-octets, minus `%`, which poem's cookie jar percent-decodes. The
/// service only signs random alphanumeric values, a subset of this.
pub fn is_cookie_safe(value: &str) -> bool {
    value.bytes().all(|b| {
        matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E) && b != b'%'
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_control_split_at_the_first_nul() {
        let (text, control) = split_input(b"t=1,v1=ab\0\x01\0");
        assert_eq!(text, "t=1,v1=ab");
        assert_eq!(control.len(), 2);
        let (text, control) = split_input(b"plain");
        assert_eq!(text, "plain");
        assert!(control.is_empty());
    }

    #[test]
    fn flipping_changes_exactly_one_byte_or_nothing() {
        assert_eq!(flip_one_byte("abc", 4, b'x').as_deref(), Some("axc"));
        assert_eq!(flip_one_byte("abc", 1, b'b'), None);
        assert_eq!(flip_one_byte("", 0, b'x'), None);
        // Half of a two-byte character is not UTF-8.
        assert_eq!(flip_one_byte("é", 0, b'x'), None);
    }

    #[test]
    fn cookie_safe_values_exclude_separators_and_percent() {
        assert!(is_cookie_safe("AbC:1vNYyu:sig-_"));
        for bad in ["a b", "a;b", "a,b", "a\"b", "a\\b", "a%41", "é"] {
            assert!(!is_cookie_safe(bad), "{bad}");
        }
    }
}
