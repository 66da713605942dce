//! The mailed tokens (contract §6.2), signed exactly like Django's
//! `django.core.signing` so links already sent by the Django deployment keep
//! working under the same `SECRET_KEY`.
//!
//! `sig(salt, msg)` = unpadded URL-safe base64 of HMAC-SHA256 with
//! key = SHA256(salt ‖ "signer" ‖ SECRET_KEY) over `msg` (43 characters).
//!
//! - **Email verification** and **password reset** are `TimestampSigner`
//!   tokens: `value:ts:sig(salt, "value:ts")`, `ts` = base62 Unix seconds,
//!   salts `email_verification` and `reset_email`.
//! - **Unsubscribe** tokens are only the signature part,
//!   `sig("email_unsubscribe", string)`, with no timestamp and no expiry; a
//!   token dies when the stored string is rotated.
//!
//! **Lifetimes.** The legacy code checked both timestamped kinds with
//! 86,400 s, but its password-reset email promised 1 hour. Here each kind has
//! one constant that drives both the check and the email text
//! ([`TokenKind::max_age_secs`], [`TokenKind::lifetime_text`]):
//! - email verification: [`EMAIL_VERIFICATION_MAX_AGE_SECS`] = 24 hours, as
//!   both the legacy check and its emails said;
//! - password reset: [`PASSWORD_RESET_MAX_AGE_SECS`] = 1 hour, what every
//!   reset email ever sent promised. A reset token is worth a password, so the
//!   shorter window is kept. A legacy reset link is refused after 1 hour,
//!   whereas Django accepted it for 24.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;

use super::signing::{base62_decode, base62_encode, salted_hmac};

/// Django `TimestampSigner(salt="email_verification")`.
pub const EMAIL_VERIFICATION_SALT: &str = "email_verification";
/// Django `TimestampSigner(salt="reset_email")`.
pub const PASSWORD_RESET_SALT: &str = "reset_email";
/// Django `Signer(salt="email_unsubscribe")`; only the signature is used.
pub const EMAIL_UNSUBSCRIBE_SALT: &str = "email_unsubscribe";

/// How long an email-verification link is valid: 24 hours.
pub const EMAIL_VERIFICATION_MAX_AGE_SECS: u64 = 24 * 60 * 60;
/// How long a password-reset link is valid: 1 hour (see the module docs).
pub const PASSWORD_RESET_MAX_AGE_SECS: u64 = 60 * 60;

const SEP: char = ':';

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not `value:timestamp:signature` at all.
    #[error("malformed token")]
    Malformed,
    /// The signature does not match: altered, forged, or signed with another
    /// key or salt.
    #[error("bad signature")]
    BadSignature,
    /// A genuine token older than its maximum age.
    #[error("signature expired")]
    Expired,
}

/// The two timestamped token kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    EmailVerification,
    PasswordReset,
}

impl TokenKind {
    pub const fn salt(self) -> &'static str {
        match self {
            TokenKind::EmailVerification => EMAIL_VERIFICATION_SALT,
            TokenKind::PasswordReset => PASSWORD_RESET_SALT,
        }
    }

    pub const fn max_age_secs(self) -> u64 {
        match self {
            TokenKind::EmailVerification => EMAIL_VERIFICATION_MAX_AGE_SECS,
            TokenKind::PasswordReset => PASSWORD_RESET_MAX_AGE_SECS,
        }
    }

    /// The lifetime as the emails state it ("expires 24 hours after …").
    pub fn lifetime_text(self) -> String {
        duration_text(self.max_age_secs())
    }
}

/// English for a duration, in the largest whole unit up to hours:
/// `"1 hour"`, `"24 hours"`, `"30 minutes"`, `"61 seconds"`.
pub fn duration_text(secs: u64) -> String {
    let (amount, unit) = if secs.is_multiple_of(3600) {
        (secs / 3600, "hour")
    } else if secs.is_multiple_of(60) {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    let plural = if amount == 1 { "" } else { "s" };
    format!("{amount} {unit}{plural}")
}

/// Signs and checks the mailed tokens under one Django `SECRET_KEY`.
#[derive(Clone)]
pub struct TokenSigner {
    secret_key: String,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner").finish_non_exhaustive()
    }
}

impl TokenSigner {
    pub fn new(secret_key: &str) -> Self {
        TokenSigner {
            secret_key: secret_key.to_owned(),
        }
    }

    /// Django's `TimestampSigner(salt=salt).sign(value)` at `now` (Unix
    /// seconds): `value:ts:sig`.
    pub fn sign(&self, value: &str, salt: &str, now: u64) -> String {
        let message = format!("{value}{SEP}{}", base62_encode(now));
        let signature = self.signature(salt, &message);
        format!("{message}{SEP}{signature}")
    }

    /// Django's `TimestampSigner(salt=salt).unsign(token, max_age=max_age)`:
    /// the value when the signature is valid (checked in constant time) and
    /// `now - ts <= max_age_secs`. The signature is checked before the age,
    /// so an altered old token is `BadSignature`, not `Expired`.
    pub fn unsign(
        &self,
        token: &str,
        salt: &str,
        max_age_secs: u64,
        now: u64,
    ) -> Result<String, TokenError> {
        let (message, signature) = token.rsplit_once(SEP).ok_or(TokenError::Malformed)?;
        if !self.signature_matches(salt, message, signature) {
            return Err(TokenError::BadSignature);
        }
        let (value, timestamp) = message.rsplit_once(SEP).ok_or(TokenError::Malformed)?;
        let timestamp = base62_decode(timestamp).ok_or(TokenError::Malformed)?;
        if now.saturating_sub(timestamp) > max_age_secs {
            return Err(TokenError::Expired);
        }
        Ok(value.to_owned())
    }

    /// [`sign`](Self::sign) with the kind's salt.
    pub fn sign_token(&self, kind: TokenKind, value: &str, now: u64) -> String {
        self.sign(value, kind.salt(), now)
    }

    /// [`unsign`](Self::unsign) with the kind's salt and lifetime.
    pub fn unsign_token(
        &self,
        kind: TokenKind,
        token: &str,
        now: u64,
    ) -> Result<String, TokenError> {
        self.unsign(token, kind.salt(), kind.max_age_secs(), now)
    }

    /// The unsubscribe token for a member's or prospect's
    /// `email_unsubscribe_string`: `sig("email_unsubscribe", string)`.
    pub fn unsubscribe_token(&self, unsubscribe_string: &str) -> String {
        self.signature(EMAIL_UNSUBSCRIBE_SALT, unsubscribe_string)
    }

    /// Whether `token` is the unsubscribe token of `unsubscribe_string`
    /// (constant time).
    pub fn unsubscribe_token_matches(&self, unsubscribe_string: &str, token: &str) -> bool {
        self.signature_matches(EMAIL_UNSUBSCRIBE_SALT, unsubscribe_string, token)
    }

    fn signature(&self, salt: &str, message: &str) -> String {
        salted_hmac(&format!("{salt}signer"), &self.secret_key, message)
            .map(|mac| URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
            .unwrap_or_default()
    }

    /// Decodes the canonical unpadded URL-safe base64 (as Django compares the
    /// text, a non-canonical encoding is refused) and verifies the HMAC with
    /// `verify_slice`, which is constant time.
    fn signature_matches(&self, salt: &str, message: &str, signature: &str) -> bool {
        let Ok(expected) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        salted_hmac(&format!("{salt}signer"), &self.secret_key, message)
            .is_some_and(|mac| mac.verify_slice(&expected).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "django-insecure-test-key-0123456789abcdefghijklmnop";
    const NOW: u64 = 1_764_000_000;

    // The following tokens were produced by Django 5.2's own code
    // (`django.core.signing`, Django 5.2.19) under SECRET_KEY = KEY, with
    // `TimestampSigner.timestamp` patched to return b62_encode(1764000000):
    //
    //   TimestampSigner(salt="email_verification").sign("WbOTJp1n41yItzlcvofR")
    //   TimestampSigner(salt="reset_email").sign("Rk3vQ9pLm2XzTt7YuE1a")
    //   Signer(salt="email_unsubscribe").signature("Ux7mN2bQ4kLp9ZrT1vWc")
    const DJANGO_VERIFICATION: &str =
        "WbOTJp1n41yItzlcvofR:1vNYyu:-bLPipbB1yGTncwwiWE62fnOwuk_VtCic-TUGiRSmGI";
    const DJANGO_RESET: &str =
        "Rk3vQ9pLm2XzTt7YuE1a:1vNYyu:bZruDBlVMP3YleGTPTTaV17W8JljF2VUnhESpdZYhXY";
    const DJANGO_UNSUBSCRIBE: &str = "4NVDcp4DhPnmSbtWbBfyqs6yxDqSFAgsg5OPws4oPbA";

    #[test]
    fn django_email_verification_token_unsigns_to_its_value() {
        let signer = TokenSigner::new(KEY);
        let kind = TokenKind::EmailVerification;
        assert_eq!(
            signer
                .unsign_token(kind, DJANGO_VERIFICATION, NOW + 60)
                .as_deref(),
            Ok("WbOTJp1n41yItzlcvofR")
        );
        assert_eq!(
            signer.sign_token(kind, "WbOTJp1n41yItzlcvofR", NOW),
            DJANGO_VERIFICATION
        );
    }

    #[test]
    fn django_password_reset_token_unsigns_to_its_value() {
        let signer = TokenSigner::new(KEY);
        let kind = TokenKind::PasswordReset;
        assert_eq!(
            signer.unsign_token(kind, DJANGO_RESET, NOW + 60).as_deref(),
            Ok("Rk3vQ9pLm2XzTt7YuE1a")
        );
        assert_eq!(
            signer.sign_token(kind, "Rk3vQ9pLm2XzTt7YuE1a", NOW),
            DJANGO_RESET
        );
    }

    #[test]
    fn django_unsubscribe_token_matches_its_string() {
        let signer = TokenSigner::new(KEY);
        assert_eq!(
            signer.unsubscribe_token("Ux7mN2bQ4kLp9ZrT1vWc"),
            DJANGO_UNSUBSCRIBE
        );
        assert!(signer.unsubscribe_token_matches("Ux7mN2bQ4kLp9ZrT1vWc", DJANGO_UNSUBSCRIBE));
        assert!(!signer.unsubscribe_token_matches("Ux7mN2bQ4kLp9ZrT1vWd", DJANGO_UNSUBSCRIBE));
        let other_key = TokenSigner::new("another-key-0123456789abcdefghijklmnop");
        assert!(!other_key.unsubscribe_token_matches("Ux7mN2bQ4kLp9ZrT1vWc", DJANGO_UNSUBSCRIBE));
        for junk in [
            "",
            "!!!",
            &DJANGO_UNSUBSCRIBE[..42],
            &format!("{DJANGO_UNSUBSCRIBE}="),
        ] {
            assert!(
                !signer.unsubscribe_token_matches("Ux7mN2bQ4kLp9ZrT1vWc", junk),
                "{junk}"
            );
        }
    }

    #[test]
    fn a_tampered_token_is_a_bad_signature() {
        let signer = TokenSigner::new(KEY);
        let kind = TokenKind::EmailVerification;
        let altered_value = DJANGO_VERIFICATION.replacen("WbOT", "WbOU", 1);
        let altered_time = DJANGO_VERIFICATION.replacen(":1vNYyu:", ":1vNYyv:", 1);
        let altered_signature = DJANGO_VERIFICATION.replacen(":-bLP", ":-bLQ", 1);
        let truncated = &DJANGO_VERIFICATION[..DJANGO_VERIFICATION.len() - 1];
        for token in [&altered_value, &altered_time, &altered_signature, truncated] {
            assert_eq!(
                signer.unsign_token(kind, token, NOW),
                Err(TokenError::BadSignature),
                "{token}"
            );
        }
        // The right token under another salt (kind) or key.
        assert_eq!(
            signer.unsign_token(TokenKind::PasswordReset, DJANGO_VERIFICATION, NOW),
            Err(TokenError::BadSignature)
        );
        let other_key = TokenSigner::new("another-key-0123456789abcdefghijklmnop");
        assert_eq!(
            other_key.unsign_token(kind, DJANGO_VERIFICATION, NOW),
            Err(TokenError::BadSignature)
        );
        // Altered and expired: the signature is checked first.
        assert_eq!(
            signer.unsign_token(
                kind,
                &altered_value,
                NOW + 10 * EMAIL_VERIFICATION_MAX_AGE_SECS
            ),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn an_old_token_is_expired() {
        let signer = TokenSigner::new(KEY);
        for (kind, token, value) in [
            (
                TokenKind::EmailVerification,
                DJANGO_VERIFICATION,
                "WbOTJp1n41yItzlcvofR",
            ),
            (
                TokenKind::PasswordReset,
                DJANGO_RESET,
                "Rk3vQ9pLm2XzTt7YuE1a",
            ),
        ] {
            let max_age = kind.max_age_secs();
            assert_eq!(
                signer.unsign_token(kind, token, NOW + max_age).as_deref(),
                Ok(value)
            );
            assert_eq!(
                signer.unsign_token(kind, token, NOW + max_age + 1),
                Err(TokenError::Expired)
            );
        }
        // 25 hours: the case the contract verified against Django.
        assert_eq!(
            signer.unsign_token(
                TokenKind::EmailVerification,
                DJANGO_VERIFICATION,
                NOW + 25 * 3600
            ),
            Err(TokenError::Expired)
        );
        // A timestamp in the future is accepted, as by Django.
        assert!(
            signer
                .unsign_token(TokenKind::PasswordReset, DJANGO_RESET, NOW - 60)
                .is_ok()
        );
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let signer = TokenSigner::new(KEY);
        for token in [
            "",
            "no-separator",
            "a:b",
            "a:b:c",
            "::",
            "WbOTJp1n41yItzlcvofR",
        ] {
            assert!(
                signer
                    .unsign(token, EMAIL_VERIFICATION_SALT, u64::MAX, NOW)
                    .is_err(),
                "{token}"
            );
        }
        assert_eq!(
            signer.unsign("no-separator", EMAIL_VERIFICATION_SALT, 1, NOW),
            Err(TokenError::Malformed)
        );
        // A genuine signature over a message without a timestamp.
        let untimed = format!(
            "value:{}",
            signer.signature(EMAIL_VERIFICATION_SALT, "value")
        );
        assert_eq!(
            signer.unsign(&untimed, EMAIL_VERIFICATION_SALT, 1, NOW),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn sign_and_unsign_round_trip() {
        let signer = TokenSigner::new(KEY);
        let token = signer.sign("abcDEF0123456789wxyz", "some-salt", NOW);
        assert_eq!(token.rsplit_once(':').map(|(_, sig)| sig.len()), Some(43));
        assert_eq!(
            signer.unsign(&token, "some-salt", 10, NOW + 10).as_deref(),
            Ok("abcDEF0123456789wxyz")
        );
    }

    #[test]
    fn lifetimes_are_single_constants_stated_in_the_emails() {
        assert_eq!(EMAIL_VERIFICATION_MAX_AGE_SECS, 86_400);
        assert_eq!(PASSWORD_RESET_MAX_AGE_SECS, 3_600);
        assert_eq!(TokenKind::EmailVerification.lifetime_text(), "24 hours");
        assert_eq!(TokenKind::PasswordReset.lifetime_text(), "1 hour");
        assert_eq!(duration_text(1_800), "30 minutes");
        assert_eq!(duration_text(61), "61 seconds");
    }
}
