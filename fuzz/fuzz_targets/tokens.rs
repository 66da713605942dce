//! The mailed tokens (`domain::tokens::TokenSigner`): email-verification and
//! password-reset codes (`value:timestamp:signature`) and unsubscribe tokens
//! (a bare signature), all taken from links and forms, so untrusted.
//!
//! The input is `token[\0control]` (see `split_input`). The token is checked
//! as an attacker's; its value part (all but the last two `:`-separated
//! fields) is also signed afresh, and for unsubscribing its last field is
//! taken as the token of that value.
//!
//! Properties:
//! - a token unsigns to its value exactly while `now - issued <= max age`,
//!   and is `Expired` after (a token from the future is accepted, as Django
//!   does);
//! - it is `BadSignature` under another key, under the other kind's salt and
//!   after any one-byte change (an altered old token is not `Expired`);
//! - an unsubscribe token matches its own string only, and not after a
//!   one-byte change;
//! - an attacker's token never panics the parser, and one that verifies is
//!   exactly what the signer would have written.

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use startupwebapp::domain::signing::base62_decode;
use startupwebapp::domain::tokens::{TokenError, TokenKind, TokenSigner};
use startupwebapp_fuzz::{flip_one_byte, split_input};

const KEY: &str = "fuzz-secret-key-0123456789abcdefghijklmnopqrstuvwxyz";
const OTHER_KEY: &str = "fuzz-other-secret-key-0123456789abcdefghijklmnopqrst";

#[derive(Arbitrary, Debug)]
struct Control {
    reset: bool,
    issued: u64,
    /// Seconds after (or, negative, before) `issued` that the link is used.
    elapsed: i32,
    flip_at: usize,
    flip_to: u8,
    /// When the attacker's token is checked.
    forged_now: u64,
}

fn kinds(reset: bool) -> (TokenKind, TokenKind) {
    if reset {
        (TokenKind::PasswordReset, TokenKind::EmailVerification)
    } else {
        (TokenKind::EmailVerification, TokenKind::PasswordReset)
    }
}

fuzz_target!(|data: &[u8]| {
    let (text, control) = split_input(data);
    let Ok(control) = Control::arbitrary_take_rest(control) else {
        return;
    };
    let forged: &str = &text;
    let value = forged.rsplitn(3, ':').last().unwrap_or_default();
    let signer = TokenSigner::new(KEY);
    let (kind, other_kind) = kinds(control.reset);
    let token = signer.sign_token(kind, value, control.issued);
    let now = control
        .issued
        .saturating_add_signed(i64::from(control.elapsed));

    let expected = if now.saturating_sub(control.issued) <= kind.max_age_secs() {
        Ok(value.to_owned())
    } else {
        Err(TokenError::Expired)
    };
    assert_eq!(
        signer.unsign_token(kind, &token, now),
        expected,
        "{token:?} used at {now}"
    );
    assert_eq!(
        TokenSigner::new(OTHER_KEY).unsign_token(kind, &token, now),
        Err(TokenError::BadSignature),
        "verified under another key: {token:?}"
    );
    assert_eq!(
        signer.unsign_token(other_kind, &token, now),
        Err(TokenError::BadSignature),
        "a {kind:?} token verified as {other_kind:?}: {token:?}"
    );
    if let Some(tampered) = flip_one_byte(&token, control.flip_at, control.flip_to) {
        assert_eq!(
            signer.unsign_token(kind, &tampered, now),
            Err(TokenError::BadSignature),
            "a one-byte change of {token:?}: {tampered:?}"
        );
    }

    let unsubscribe = signer.unsubscribe_token(value);
    assert!(signer.unsubscribe_token_matches(value, &unsubscribe));
    if forged != value {
        assert!(
            !signer.unsubscribe_token_matches(forged, &unsubscribe),
            "{unsubscribe:?} matched another string"
        );
    }
    if let Some(tampered) = flip_one_byte(&unsubscribe, control.flip_at, control.flip_to) {
        assert!(
            !signer.unsubscribe_token_matches(value, &tampered),
            "a one-byte change of an unsubscribe token matched: {tampered:?}"
        );
    }

    // The attacker's input: any outcome but a panic, and acceptance only of
    // the signer's own spelling.
    for kind in [TokenKind::EmailVerification, TokenKind::PasswordReset] {
        if let Ok(value) = signer.unsign_token(kind, forged, control.forged_now) {
            let issued = forged
                .rsplitn(3, ':')
                .nth(1)
                .and_then(base62_decode)
                .unwrap_or_else(|| panic!("verified without a timestamp: {forged:?}"));
            assert_eq!(signer.sign_token(kind, &value, issued), forged);
        }
    }
    let (string, forged_unsubscribe) = forged.rsplit_once(':').unwrap_or((forged, ""));
    if signer.unsubscribe_token_matches(string, forged_unsubscribe) {
        assert_eq!(
            forged_unsubscribe,
            signer.unsubscribe_token(string),
            "a second spelling matched"
        );
    }
});
