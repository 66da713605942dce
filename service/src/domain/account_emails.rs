//! The account emails: subjects and plain-text bodies with the legacy
//! structure, links and distinctive phrases, in our own words. Lines end in
//! CRLF as the legacy mail did. Each link's lifetime is taken from the token
//! rules, so the text and the check cannot disagree.

use chrono::{DateTime, Utc};

use crate::domain::tokens::TokenKind;

/// A subject and body, ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    pub subject: String,
    pub body: String,
}

/// The storefront's public URL (`ENVIRONMENT_DOMAIN` in the legacy), which
/// every link and subject embeds.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a>(pub &'a str);

/// The addressee's names as the greeting shows them.
#[derive(Debug, Clone, Copy)]
pub struct Person<'a> {
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub username: &'a str,
}

impl Person<'_> {
    fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_owned()
    }
}

const SECURITY_NOTE: &str = "If you did NOT request this, please contact us right away: someone may \
     be trying to use your account.";
const CONTACT_NOTE: &str =
    "If you have any questions, reply to this email and we will be glad to help.";
const SIGN_OFF: &str = "Sincerely,\r\nStartUpWebApp";

fn lines(parts: &[&str]) -> String {
    let mut body = parts.join("\r\n");
    body.push_str("\r\n");
    body
}

pub fn verification_link(site: Site<'_>, token: &str) -> String {
    format!("{}/account/?email_verification_code={token}", site.0)
}

pub fn reset_link(site: Site<'_>, token: &str) -> String {
    format!("{}/set-new-password?password_reset_code={token}", site.0)
}

/// Sent on registration: a welcome and the first verification link.
pub fn welcome(site: Site<'_>, who: Person<'_>, verification_token: &str) -> Letter {
    let lifetime = TokenKind::EmailVerification.lifetime_text();
    Letter {
        subject: format!("Welcome to {}", site.0),
        body: lines(&[
            &format!("Hi {}!", who.full_name()),
            "",
            &format!("Thank you for creating an account at {}.", site.0),
            &format!("Your username is \"{}\".", who.username),
            "",
            "Please verify your email address by opening this link:",
            &verification_link(site, verification_token),
            "",
            &format!("The link expires {lifetime} after you registered."),
            "",
            SECURITY_NOTE,
            CONTACT_NOTE,
            "",
            "StartUpWebApp",
        ]),
    }
}

/// Sent when a member asks for a new verification link.
pub fn verification_request(site: Site<'_>, who: Person<'_>, token: &str) -> Letter {
    let lifetime = TokenKind::EmailVerification.lifetime_text();
    Letter {
        subject: format!("Email Verification Request for {}", site.0),
        body: lines(&[
            &format!("{},", who.full_name()),
            "",
            &format!(
                "We received a request to verify this email address for the username \"{}\" at {}.",
                who.username, site.0
            ),
            "Please open this link to verify it:",
            &verification_link(site, token),
            "",
            &format!("The link expires {lifetime} after this verification request."),
            "",
            SECURITY_NOTE,
            CONTACT_NOTE,
            "",
            SIGN_OFF,
        ]),
    }
}

/// Sent to both the old and the new address when a member changes email.
pub fn email_changed(
    site: Site<'_>,
    who: Person<'_>,
    previous: &str,
    new: &str,
    token: &str,
) -> Letter {
    let lifetime = TokenKind::EmailVerification.lifetime_text();
    Letter {
        subject: format!("Email Address Changed on {}", site.0),
        body: lines(&[
            &format!("Hi {}!", who.full_name()),
            "",
            &format!(
                "The email address of the username \"{}\" at {} was changed.",
                who.username, site.0
            ),
            &format!("Previous email address: {previous}"),
            &format!("New email address: {new}"),
            "",
            "Please verify the new address by opening this link:",
            &verification_link(site, token),
            "",
            &format!("The link expires {lifetime} after you changed email addresses."),
            "",
            SECURITY_NOTE,
            CONTACT_NOTE,
            "",
            SIGN_OFF,
        ]),
    }
}

/// Sent on a password-reset request whose username and email match.
pub fn password_reset(site: Site<'_>, who: Person<'_>, token: &str) -> Letter {
    let lifetime = TokenKind::PasswordReset.lifetime_text();
    Letter {
        subject: format!("Password Reset Request for {}", site.0),
        body: lines(&[
            &format!("{},", who.full_name()),
            "",
            &format!(
                "We received a request to send you a password reset link for the username \"{}\" at {}.",
                who.username, site.0
            ),
            "Open this link to choose a new password:",
            &reset_link(site, token),
            "",
            &format!("The link expires {lifetime} after this request and works once."),
            "",
            SECURITY_NOTE,
            CONTACT_NOTE,
            "",
            SIGN_OFF,
        ]),
    }
}

/// Sent after a password change or a completed reset.
pub fn password_changed(site: Site<'_>, who: Person<'_>) -> Letter {
    Letter {
        subject: format!("Password Changed on {}", site.0),
        body: lines(&[
            &format!("{},", who.full_name()),
            "",
            &format!(
                "The password of the username \"{}\" at {} has been changed. Every other \
                 session of this account was signed out.",
                who.username, site.0
            ),
            "",
            SECURITY_NOTE,
            CONTACT_NOTE,
            "",
            SIGN_OFF,
        ]),
    }
}

/// Sent to each account with the requested email address.
pub fn forgot_username(site: Site<'_>, who: Person<'_>, email: &str) -> Letter {
    Letter {
        subject: format!("Forgot Username Request for {}", site.0),
        body: lines(&[
            &format!("{},", who.full_name()),
            "",
            &format!(
                "We received a request to resend your username at {}.",
                site.0
            ),
            &format!(
                "The username for the account associated with {email} is \"{}\". Please go to \
                 the following URL to login:",
                who.username
            ),
            &format!("{}/login", site.0),
            "",
            SECURITY_NOTE,
            CONTACT_NOTE,
            "",
            SIGN_OFF,
        ]),
    }
}

/// Tells the site owner a chat message arrived (without its text).
pub fn chat_notification(site: Site<'_>, at: DateTime<Utc>) -> Letter {
    Letter {
        subject: format!("New Chat Message @ {}", site.0),
        body: lines(&[
            "Hi!,",
            "",
            &format!("A new chat message has been submitted at {}.", site.0),
            &format!("Date/Time: {}", at.format("%Y-%m-%d %H:%M:%S%.6f+00:00")),
            "",
            "Check it out!",
            "",
            "StartUpWebApp",
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: Site<'static> = Site("https://shop.example.com");
    const WHO: Person<'static> = Person {
        first_name: "Jane",
        last_name: "Doe",
        username: "jdoe_test",
    };

    #[test]
    fn links_follow_the_storefront_routes() {
        let welcome = welcome(SITE, WHO, "abc:1xWUhw:sig");
        assert_eq!(welcome.subject, "Welcome to https://shop.example.com");
        assert!(welcome.body.contains(
            "https://shop.example.com/account/?email_verification_code=abc:1xWUhw:sig\r\n"
        ));
        assert!(welcome.body.starts_with("Hi Jane Doe!\r\n"));
        let reset = password_reset(SITE, WHO, "v:ts:sig");
        assert!(
            reset
                .body
                .contains("https://shop.example.com/set-new-password?password_reset_code=v:ts:sig")
        );
    }

    #[test]
    fn the_stated_lifetimes_are_the_enforced_ones() {
        assert!(
            password_reset(SITE, WHO, "t")
                .body
                .contains("expires 1 hour after")
        );
        assert!(
            verification_request(SITE, WHO, "t")
                .body
                .contains("expires 24 hours after")
        );
    }

    #[test]
    fn every_line_ends_in_crlf() {
        let body = forgot_username(SITE, WHO, "jane@example.com").body;
        assert!(body.contains("is \"jdoe_test\""));
        assert!(!body.replace("\r\n", "").contains('\n'));
        assert!(body.ends_with("\r\n"));
    }
}
