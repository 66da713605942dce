//! `Stripe-Signature` (`domain::stripe_signature::verify`): the webhook
//! header `t=<unix>,v1=<hex>[,v1=…]`, checked on the raw body.
//!
//! The input is `header\nbody[\0control]` (see `split_input`): a header as
//! an attacker sends it, and the raw body it came with.
//!
//! Properties:
//! - a header made with the secret for the body and a fuzzed timestamp
//!   verifies exactly while the clock is within the tolerance, and is
//!   `Stale` outside;
//! - it verifies when its secret is one of several configured, and is a
//!   `Mismatch` under another secret or after a one-byte change of the body;
//! - after a one-byte change of the header it does not verify, unless the
//!   change only switched the case of a hex digit (the same bytes);
//! - the attacker's header never panics the parser, whatever the clock, and
//!   one that verifies carries, in hex digits, the secret's signature for
//!   one of its timestamps within the tolerance.

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use startupwebapp::domain::stripe_signature::{
    SignatureError, TOLERANCE_SECS, header, sign, verify,
};
use startupwebapp_fuzz::{flip_one_byte, flip_one_raw_byte, hex, split_input};

/// The secret the seed headers are signed with.
const SECRET: &str = "whsec_fuzz0123456789abcdefghijklmnop";
const OTHER_SECRET: &str = "whsec_other0123456789abcdefghijklmno";

#[derive(Arbitrary, Debug)]
enum Clock {
    /// The header's own `t`, shifted: the realistic case.
    NearHeader(i16),
    /// Any time at all: the function's contract covers every `i64`.
    At(i64),
}

#[derive(Arbitrary, Debug)]
struct Control {
    timestamp: i64,
    /// How far the receiving clock is from the signing time.
    skew: i16,
    flip_at: usize,
    flip_to: u8,
    /// When the attacker's header is checked.
    clock: Clock,
}

fn header_time(header: &str) -> Option<i64> {
    header
        .split(',')
        .find_map(|part| part.trim().strip_prefix("t=")?.parse().ok())
}

fuzz_target!(|data: &[u8]| {
    let (text, control) = split_input(data);
    let Ok(control) = Control::arbitrary_take_rest(control) else {
        return;
    };
    let (forged, body) = text.split_once('\n').unwrap_or((&text, ""));
    let body = body.as_bytes();

    let signed = header(SECRET, control.timestamp, body);
    let Some(now) = control.timestamp.checked_add(i64::from(control.skew)) else {
        return;
    };
    let fresh = i64::from(control.skew).abs() <= TOLERANCE_SECS;
    let expected = if fresh {
        Ok(())
    } else {
        Err(SignatureError::Stale)
    };
    assert_eq!(
        verify(Some(&signed), body, &[SECRET], now),
        expected,
        "{signed:?} at {now}"
    );
    if fresh {
        assert_eq!(
            verify(Some(&signed), body, &[OTHER_SECRET, SECRET], now),
            Ok(())
        );
        assert_eq!(
            verify(Some(&signed), body, &[OTHER_SECRET], now),
            Err(SignatureError::Mismatch),
            "verified under another secret: {signed:?}"
        );
        if let Some(tampered) = flip_one_raw_byte(body, control.flip_at, control.flip_to) {
            assert_eq!(
                verify(Some(&signed), &tampered, &[SECRET], now),
                Err(SignatureError::Mismatch),
                "a one-byte change of the body verified"
            );
        }
        if let Some(tampered) = flip_one_byte(&signed, control.flip_at, control.flip_to)
            && verify(Some(&tampered), body, &[SECRET], now).is_ok()
        {
            assert_eq!(
                tampered.to_ascii_lowercase(),
                signed,
                "a one-byte change of {signed:?} verified: {tampered:?}"
            );
        }
    }

    let forged_now = match control.clock {
        Clock::NearHeader(shift) => header_time(forged)
            .unwrap_or(control.timestamp)
            .saturating_add(i64::from(shift)),
        Clock::At(now) => now,
    };
    if verify(Some(forged), body, &[SECRET], forged_now).is_ok() {
        // `t` is read as a number (leading zeros and a `+` are accepted, as
        // Stripe's own libraries do) and signed in its canonical spelling.
        let lower = forged.to_ascii_lowercase();
        let genuine = forged
            .split(',')
            .filter_map(|part| part.trim().strip_prefix("t=")?.parse::<i64>().ok())
            .any(|t| {
                forged_now.abs_diff(t) <= TOLERANCE_SECS.unsigned_abs()
                    && lower.contains(&hex(&sign(SECRET, t, body)))
            });
        assert!(
            genuine,
            "a header without the secret's signature verified: {forged:?}"
        );
    }
});
