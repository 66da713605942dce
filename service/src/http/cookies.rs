//! The cookies the storefront relies on, with the legacy attributes.
//!
//! Set-Cookie headers are written here rather than through poem's cookie
//! jar, which percent-encodes values: Django writes signed values such as
//! `an_ct` raw (`value:ts:sig`), and both backends must read each other's
//! cookies while they run side by side during a switch-over.

use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

use crate::config::Config;

pub const SESSION: &str = "sessionid";
pub const CSRF: &str = "csrftoken";
pub const ANONYMOUS_CART: &str = "an_ct";
/// Salt the legacy code signs `an_ct` with (`set_signed_cookie(..., salt=...)`).
pub const ANONYMOUS_CART_SALT: &str = "anonymouscartcookieisthis";
/// The storefront sends this cookie's raw value as `anonymous_id` on client events.
pub const ANONYMOUS_CLIENT_EVENT: &str = "anonymousclientevent";
pub const ANONYMOUS_CLIENT_EVENT_SALT: &str = "clienteventanonymousclienteventoccurrence";

/// Django's CSRF_COOKIE_AGE: 52 weeks.
const CSRF_AGE: Duration = Duration::weeks(52);
/// The anonymous cart cookie lives a year.
const ANONYMOUS_CART_AGE: Duration = Duration::days(365);

/// One `Set-Cookie` header.
#[derive(Debug, Clone)]
pub struct SetCookie {
    name: &'static str,
    value: String,
    max_age: Option<Duration>,
    domain: Option<String>,
    http_only: bool,
    secure: bool,
    same_site_lax: bool,
}

impl SetCookie {
    fn new(config: &Config, name: &'static str, value: String) -> Self {
        SetCookie {
            name,
            value,
            max_age: None,
            domain: config.cookie_domain.clone(),
            http_only: false,
            secure: false,
            same_site_lax: false,
        }
    }

    pub fn name(&self) -> &str {
        self.name
    }

    pub fn header_value(&self) -> String {
        let mut out = format!("{}={}", self.name, self.value);
        if let Some(domain) = &self.domain {
            out.push_str(&format!("; Domain={domain}"));
        }
        if let Some(age) = self.max_age {
            let expires = Utc::now() + age;
            out.push_str(&format!(
                "; expires={}; Max-Age={}",
                expires.format("%a, %d %b %Y %H:%M:%S GMT"),
                age.num_seconds().max(0)
            ));
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        out.push_str("; Path=/");
        if self.same_site_lax {
            out.push_str("; SameSite=Lax");
        }
        if self.secure {
            out.push_str("; Secure");
        }
        out
    }
}

/// `sessionid`: HttpOnly, SameSite=Lax, Secure outside development. Without
/// "remember me" it is a browser-session cookie (no Max-Age).
pub fn session(config: &Config, key: &str, remember: bool) -> SetCookie {
    let mut cookie = SetCookie::new(config, SESSION, key.to_owned());
    cookie.http_only = true;
    cookie.same_site_lax = true;
    cookie.secure = !config.environment.is_development();
    if remember {
        cookie.max_age = Some(crate::db::sessions::SESSION_AGE);
    }
    cookie
}

/// `csrftoken`: readable by the storefront's JavaScript (not HttpOnly).
pub fn csrf(config: &Config, secret: &str) -> SetCookie {
    let mut cookie = SetCookie::new(config, CSRF, secret.to_owned());
    cookie.same_site_lax = true;
    cookie.secure = !config.environment.is_development();
    cookie.max_age = Some(CSRF_AGE);
    cookie
}

/// `an_ct` exactly as the legacy sets it: not HttpOnly, not Secure, no SameSite.
pub fn anonymous_cart(config: &Config, signed_value: String) -> SetCookie {
    let mut cookie = SetCookie::new(config, ANONYMOUS_CART, signed_value);
    cookie.max_age = Some(ANONYMOUS_CART_AGE);
    cookie
}

/// `anonymousclientevent` as the legacy sets it: a year, readable by
/// JavaScript, no SameSite.
pub fn anonymous_client_event(config: &Config, signed_value: String) -> SetCookie {
    let mut cookie = SetCookie::new(config, ANONYMOUS_CLIENT_EVENT, signed_value);
    cookie.max_age = Some(ANONYMOUS_CART_AGE);
    cookie
}

/// A deletion of `name` with the same Path and Domain it was set with.
pub fn removal(config: &Config, name: &'static str) -> SetCookie {
    let mut cookie = SetCookie::new(config, name, String::new());
    cookie.max_age = Some(Duration::zero());
    cookie
}

/// Cookies a handler wants set on its response; the `OutgoingCookies`
/// middleware turns them into `Set-Cookie` headers.
#[derive(Clone, Default)]
pub struct Outgoing(Arc<Mutex<Vec<SetCookie>>>);

impl Outgoing {
    /// Queues `cookie`, replacing an earlier one of the same name.
    pub fn set(&self, cookie: SetCookie) {
        if let Ok(mut list) = self.0.lock() {
            list.retain(|c| c.name != cookie.name);
            list.push(cookie);
        }
    }

    fn take(&self) -> Vec<SetCookie> {
        self.0
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }
}

pub struct OutgoingCookies;

impl<E: Endpoint> Middleware<E> for OutgoingCookies {
    type Output = OutgoingCookiesEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        OutgoingCookiesEndpoint(ep)
    }
}

pub struct OutgoingCookiesEndpoint<E>(E);

impl<E: Endpoint> Endpoint for OutgoingCookiesEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let outgoing = Outgoing::default();
        req.extensions_mut().insert(outgoing.clone());
        let mut response = self.0.call(req).await?.into_response();
        for cookie in outgoing.take() {
            if let Ok(value) = HeaderValue::from_str(&cookie.header_value()) {
                response
                    .headers_mut()
                    .append(poem::http::header::SET_COOKIE, value);
            }
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(environment: &str, domain: Option<&str>) -> Config {
        let mut c = crate::placeholder_config();
        c.environment = environment.parse().unwrap_or(c.environment);
        c.cookie_domain = domain.map(str::to_owned);
        c
    }

    #[test]
    fn the_session_cookie_is_http_only_lax_and_secure_outside_development() {
        let prod = config("production", Some(".example.com"));
        let remembered = session(&prod, "k", true).header_value();
        assert!(
            remembered.starts_with("sessionid=k; Domain=.example.com; expires="),
            "{remembered}"
        );
        assert!(remembered.contains("Max-Age=1209600"), "{remembered}");
        assert!(
            remembered.ends_with("; HttpOnly; Path=/; SameSite=Lax; Secure"),
            "{remembered}"
        );

        let browser_session = session(&prod, "k", false).header_value();
        assert!(
            !browser_session.contains("Max-Age") && !browser_session.contains("expires"),
            "{browser_session}"
        );

        let dev = session(&config("development", None), "k", true).header_value();
        assert!(!dev.contains("Secure") && !dev.contains("Domain"), "{dev}");
    }

    #[test]
    fn signed_values_are_written_raw() {
        let cookie = anonymous_cart(&config("production", None), "abc:1vNYyu:sig-_".to_owned());
        let value = cookie.header_value();
        assert!(
            value.starts_with("an_ct=abc:1vNYyu:sig-_; expires="),
            "{value}"
        );
        assert!(
            !value.contains("HttpOnly") && !value.contains("Secure") && !value.contains("SameSite")
        );
    }

    #[test]
    fn a_removal_expires_the_cookie_with_the_same_domain_and_path() {
        let value = removal(&config("production", Some(".example.com")), SESSION).header_value();
        assert!(
            value.starts_with("sessionid=; Domain=.example.com; expires="),
            "{value}"
        );
        assert!(
            value.contains("Max-Age=0") && value.contains("Path=/"),
            "{value}"
        );
    }

    #[test]
    fn queued_cookies_replace_earlier_ones_of_the_same_name() {
        let out = Outgoing::default();
        let c = config("development", None);
        out.set(csrf(&c, "first"));
        out.set(csrf(&c, "second"));
        let taken = out.take();
        assert_eq!(taken.len(), 1);
        assert!(taken[0].header_value().starts_with("csrftoken=second;"));
    }
}
