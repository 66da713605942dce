//! One typed configuration, read from the environment once at start-up.
//!
//! Every problem is collected and reported together, each naming the variable
//! and what it expects, so an operator fixes a task definition in one pass.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;

/// Where the service runs; decides cookie security, log format and error detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Staging,
    Production,
}

impl Environment {
    pub fn is_development(self) -> bool {
        self == Environment::Development
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }
}

impl FromStr for Environment {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "development" | "dev" => Ok(Environment::Development),
            "staging" => Ok(Environment::Staging),
            "production" | "prod" => Ok(Environment::Production),
            _ => Err(()),
        }
    }
}

/// A value that must never reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A browser origin (`scheme://host[:port]`), compared byte for byte with the
/// `Origin` request header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let rest = raw
            .strip_prefix("https://")
            .or_else(|| raw.strip_prefix("http://"))
            .ok_or_else(|| format!("'{raw}' must start with http:// or https://"))?;
        if rest.is_empty() || rest.contains('/') || rest.contains('?') || rest.contains('#') {
            return Err(format!(
                "'{raw}' must be an origin like https://www.example.com (no path, no trailing slash)"
            ));
        }
        Ok(Origin(raw.to_ascii_lowercase()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone)]
pub struct DatabaseSettings {
    pub connect_options: PgConnectOptions,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
    pub idle_timeout: Duration,
}

impl fmt::Debug for DatabaseSettings {
    // PgConnectOptions' own Debug prints the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("host", &self.connect_options.get_host())
            .field("port", &self.connect_options.get_port())
            .field("database", &self.connect_options.get_database())
            .field("max_connections", &self.max_connections)
            .field("min_connections", &self.min_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct StripeSettings {
    pub secret_key: Secret,
    /// Several signing secrets are accepted at once so a secret can be rotated
    /// without dropping webhooks.
    pub webhook_secrets: Vec<Secret>,
    /// Base URL of the Stripe API; tests point it at a fake server.
    pub api_base: Option<String>,
    /// `pk_…`, echoed to the confirm page as the legacy did (unused by Checkout).
    pub publishable_key: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    StartTls,
    Tls,
    /// Plain SMTP, for a local mail sink only.
    None,
}

#[derive(Clone, Debug)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub security: SmtpSecurity,
    pub from: String,
}

/// One rate limit: at most `max` requests per fixed `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub window: Duration,
}

impl FromStr for RateLimit {
    type Err = ();
    /// `<max>/<seconds>`, e.g. `10/3600`.
    fn from_str(v: &str) -> Result<Self, ()> {
        let (max, secs) = v.split_once('/').ok_or(())?;
        let max: u32 = max.trim().parse().map_err(|_| ())?;
        let secs: u64 = secs.trim().parse().map_err(|_| ())?;
        if max == 0 || !(1..=86_400).contains(&secs) {
            return Err(());
        }
        Ok(RateLimit {
            max,
            window: Duration::from_secs(secs),
        })
    }
}

/// Limits on the abuse-prone forms, each configurable as `APP_RATE_LIMIT_<NAME>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Per client address (legacy: 10/h).
    pub login: RateLimit,
    /// Per client address (legacy: 5/h).
    pub create_account: RateLimit,
    /// Per posted username (legacy: 5/h).
    pub reset_password: RateLimit,
    /// Per client address.
    pub set_new_password: RateLimit,
    /// Per client address.
    pub forgot_username: RateLimit,
    /// Per client address.
    pub put_chat_message: RateLimit,
    /// Per client address.
    pub pythonabot_notify_me: RateLimit,
}

/// How the background sender works through the email outbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmailDelivery {
    /// Attempts before a message is marked failed.
    pub max_attempts: u32,
    /// First retry delay; each later retry doubles it, capped at one hour.
    pub retry_base: Duration,
    /// How often the outbox is polled when nothing wakes the sender.
    pub poll_interval: Duration,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub environment: Environment,
    pub bind_address: SocketAddr,
    pub database: DatabaseSettings,
    pub secret_key: Secret,
    pub storefront_origins: Vec<Origin>,
    /// `Domain=` attribute of the cookies we set; `None` gives host-only cookies.
    pub cookie_domain: Option<String>,
    /// Public URL of the storefront, used to build links in emails and redirects.
    pub storefront_url: String,
    pub shutdown_timeout: Duration,
    /// How long a client has to deliver a request (from connecting, or from
    /// its first byte on a kept-alive connection) before it is disconnected.
    pub request_timeout: Duration,
    pub log_json: bool,
    pub stripe: Option<StripeSettings>,
    pub smtp: Option<SmtpSettings>,
    pub email_delivery: EmailDelivery,
    /// Where site notifications (new chat messages) go; none are sent when unset.
    pub site_owner_email: Option<String>,
    /// Load balancers and proxies whose `X-Forwarded-For` entries are trusted.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub rate_limits: RateLimits,
    /// How long reference data (catalogue, client-event switch) may be served
    /// from memory; zero turns the cache off. Changes normally reach every
    /// instance at once through LISTEN/NOTIFY; this bounds what could not.
    pub reference_cache_ttl: Duration,
    pub request_limits: RequestLimits,
}

/// Size caps on what a client may send; above them the request is refused
/// (413 or 431) before a handler sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestLimits {
    pub max_body_bytes: usize,
    /// Names plus values of all request headers together.
    pub max_header_bytes: usize,
}

/// One variable that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub variable: &'static str,
    pub expected: String,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n{}", .problems.iter().map(|p| format!("  - {}: {}", p.variable, p.expected)).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

pub const DEFAULT_BIND_ADDRESS: &str = "127.0.0.1:8000";

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests can supply a map.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut r = Reader {
            lookup: &lookup,
            problems: Vec::new(),
        };

        let environment = r.parsed(
            "APP_ENVIRONMENT",
            None,
            "one of development, staging, production",
            |v| v.parse::<Environment>().map_err(|_| ()),
        );
        let bind_address = r.parsed(
            "APP_BIND_ADDRESS",
            Some(DEFAULT_BIND_ADDRESS),
            "a socket address such as 127.0.0.1:8000 or 0.0.0.0:8000",
            |v| v.parse::<SocketAddr>().map_err(|_| ()),
        );
        let connect_options = r.parsed(
            "DATABASE_URL",
            None,
            "a PostgreSQL URL such as postgres://user:password@host:5432/dbname",
            |v| {
                if v.starts_with("postgres://") || v.starts_with("postgresql://") {
                    PgConnectOptions::from_str(v).map_err(|_| ())
                } else {
                    Err(())
                }
            },
        );
        let max_connections = r.parsed(
            "APP_DB_MAX_CONNECTIONS",
            Some("10"),
            "a whole number from 1 to 1000",
            |v| match v.parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => Ok(n),
                _ => Err(()),
            },
        );
        let min_connections = r.parsed(
            "APP_DB_MIN_CONNECTIONS",
            Some("0"),
            "a whole number not above APP_DB_MAX_CONNECTIONS",
            |v| v.parse::<u32>().map_err(|_| ()),
        );
        let acquire_timeout = r.parsed(
            "APP_DB_ACQUIRE_TIMEOUT_MS",
            Some("3000"),
            "milliseconds, a whole number from 1 to 60000",
            |v| millis(v, 60_000),
        );
        let idle_timeout = r.parsed(
            "APP_DB_IDLE_TIMEOUT_SECS",
            Some("600"),
            "seconds, a whole number from 1 to 86400",
            |v| secs(v, 86_400),
        );
        let secret_key = r.parsed(
            "APP_SECRET_KEY",
            None,
            "the signing key (at least 32 characters; keep the Django SECRET_KEY when adopting a Django database)",
            |v| {
                if v.chars().count() >= 32 {
                    Ok(Secret::new(v))
                } else {
                    Err(())
                }
            },
        );
        let storefront_origins = r.parsed(
            "APP_STOREFRONT_ORIGINS",
            None,
            "a comma-separated list of origins such as https://www.example.com,https://example.com",
            |v| {
                let origins: Result<Vec<_>, _> = v
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(Origin::parse)
                    .collect();
                match origins {
                    Ok(list) if !list.is_empty() => Ok(list),
                    _ => Err(()),
                }
            },
        );
        let cookie_domain = r.optional(
            "APP_COOKIE_DOMAIN",
            "a domain such as .example.com, or unset for host-only cookies",
            |v| {
                let ok = !v.is_empty()
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
                if ok { Ok(v.to_owned()) } else { Err(()) }
            },
        );
        let storefront_url = r.parsed(
            "APP_STOREFRONT_URL",
            None,
            "the storefront's public URL such as https://www.example.com (used in email links)",
            |v| {
                let host = v
                    .strip_prefix("https://")
                    .or_else(|| v.strip_prefix("http://"));
                match host {
                    Some(h) if !h.is_empty() && !h.starts_with('/') => {
                        Ok(v.trim_end_matches('/').to_owned())
                    }
                    _ => Err(()),
                }
            },
        );
        let shutdown_timeout = r.parsed(
            "APP_SHUTDOWN_TIMEOUT_SECS",
            Some("30"),
            "seconds, a whole number from 1 to 3600",
            |v| secs(v, 3600),
        );
        let request_timeout = r.parsed(
            "APP_REQUEST_TIMEOUT_SECS",
            Some("20"),
            "seconds, a whole number from 1 to 3600",
            |v| secs(v, 3600),
        );
        let log_format = r.optional("APP_LOG_FORMAT", "json or pretty", |v| match v {
            "json" => Ok(true),
            "pretty" => Ok(false),
            _ => Err(()),
        });
        let stripe = read_stripe(&mut r);
        let smtp = read_smtp(&mut r);
        let email_delivery = read_email_delivery(&mut r);
        let site_owner_email = r.optional(
            "APP_SITE_OWNER_EMAIL",
            "an email address that receives site notifications such as new chat messages",
            |v| {
                if v.contains('@') {
                    Ok(v.to_owned())
                } else {
                    Err(())
                }
            },
        );
        let trusted_proxies = r.parsed(
            "APP_TRUSTED_PROXIES",
            Some(""),
            "a comma-separated list of IP addresses or CIDR ranges (e.g. 10.0.0.0/16) of the load balancers in front of the service",
            parse_networks,
        );
        let rate_limits = read_rate_limits(&mut r);
        let request_limits = read_request_limits(&mut r);
        let reference_cache_ttl = r.parsed(
            "APP_REFERENCE_CACHE_TTL_SECS",
            Some("60"),
            "seconds, a whole number from 0 (no cache) to 86400",
            |v| match v.parse::<u64>() {
                Ok(n) if n <= 86_400 => Ok(Duration::from_secs(n)),
                _ => Err(()),
            },
        );

        if let (Some(min), Some(max)) = (min_connections, max_connections)
            && min > max
        {
            r.problem(
                "APP_DB_MIN_CONNECTIONS",
                "a whole number not above APP_DB_MAX_CONNECTIONS",
            );
        }

        match (
            environment,
            bind_address,
            connect_options,
            max_connections,
            min_connections,
            acquire_timeout,
            idle_timeout,
            secret_key,
            storefront_origins,
            storefront_url,
            shutdown_timeout,
            request_timeout,
            email_delivery,
            trusted_proxies,
            rate_limits,
            reference_cache_ttl,
            request_limits,
        ) {
            (
                Some(environment),
                Some(bind_address),
                Some(connect_options),
                Some(max_connections),
                Some(min_connections),
                Some(acquire_timeout),
                Some(idle_timeout),
                Some(secret_key),
                Some(storefront_origins),
                Some(storefront_url),
                Some(shutdown_timeout),
                Some(request_timeout),
                Some(email_delivery),
                Some(trusted_proxies),
                Some(rate_limits),
                Some(reference_cache_ttl),
                Some(request_limits),
            ) if r.problems.is_empty() => Ok(Config {
                environment,
                bind_address,
                database: DatabaseSettings {
                    connect_options: connect_options.application_name("startupwebapp"),
                    max_connections,
                    min_connections,
                    acquire_timeout,
                    idle_timeout,
                },
                secret_key,
                storefront_origins,
                cookie_domain: cookie_domain.flatten(),
                storefront_url,
                shutdown_timeout,
                request_timeout,
                log_json: log_format
                    .flatten()
                    .unwrap_or(!environment.is_development()),
                stripe: stripe.flatten(),
                smtp: smtp.flatten(),
                email_delivery,
                site_owner_email: site_owner_email.flatten(),
                trusted_proxies,
                rate_limits,
                reference_cache_ttl,
                request_limits,
            }),
            _ => Err(ConfigError {
                problems: r.problems,
            }),
        }
    }
}

fn millis(v: &str, max: u64) -> Result<Duration, ()> {
    match v.parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(Duration::from_millis(n)),
        _ => Err(()),
    }
}

fn secs(v: &str, max: u64) -> Result<Duration, ()> {
    match v.parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(Duration::from_secs(n)),
        _ => Err(()),
    }
}

fn parse_networks(v: &str) -> Result<Vec<ipnet::IpNet>, ()> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| ())
        })
        .collect()
}

fn read_email_delivery(r: &mut Reader<'_>) -> Option<EmailDelivery> {
    let max_attempts = r.parsed(
        "APP_EMAIL_MAX_ATTEMPTS",
        Some("8"),
        "a whole number from 1 to 100",
        |v| match v.parse::<u32>() {
            Ok(n) if (1..=100).contains(&n) => Ok(n),
            _ => Err(()),
        },
    );
    let retry_base = r.parsed(
        "APP_EMAIL_RETRY_BASE_MS",
        Some("30000"),
        "milliseconds, a whole number from 1 to 3600000",
        |v| millis(v, 3_600_000),
    );
    let poll_interval = r.parsed(
        "APP_EMAIL_POLL_MS",
        Some("5000"),
        "milliseconds, a whole number from 1 to 600000",
        |v| millis(v, 600_000),
    );
    Some(EmailDelivery {
        max_attempts: max_attempts?,
        retry_base: retry_base?,
        poll_interval: poll_interval?,
    })
}

fn read_rate_limits(r: &mut Reader<'_>) -> Option<RateLimits> {
    const EXPECTED: &str = "<max requests>/<window seconds>, e.g. 10/3600";
    let mut limit = |variable: &'static str, default: &str| {
        r.parsed(variable, Some(default), EXPECTED, |v| {
            v.parse::<RateLimit>()
        })
    };
    let login = limit("APP_RATE_LIMIT_LOGIN", "10/3600");
    let create_account = limit("APP_RATE_LIMIT_CREATE_ACCOUNT", "5/3600");
    let reset_password = limit("APP_RATE_LIMIT_RESET_PASSWORD", "5/3600");
    let set_new_password = limit("APP_RATE_LIMIT_SET_NEW_PASSWORD", "10/3600");
    let forgot_username = limit("APP_RATE_LIMIT_FORGOT_USERNAME", "5/3600");
    let put_chat_message = limit("APP_RATE_LIMIT_PUT_CHAT_MESSAGE", "10/3600");
    let pythonabot_notify_me = limit("APP_RATE_LIMIT_PYTHONABOT_NOTIFY_ME", "10/3600");
    Some(RateLimits {
        login: login?,
        create_account: create_account?,
        reset_password: reset_password?,
        set_new_password: set_new_password?,
        forgot_username: forgot_username?,
        put_chat_message: put_chat_message?,
        pythonabot_notify_me: pythonabot_notify_me?,
    })
}

fn read_request_limits(r: &mut Reader<'_>) -> Option<RequestLimits> {
    // The storefront's largest body is a checkout form of a few KiB and its
    // headers a few cookies; the defaults leave room without letting one
    // client make the service buffer megabytes.
    let bytes = |v: &str, min: usize, max: usize| match v.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(()),
    };
    let max_body_bytes = r.parsed(
        "APP_MAX_BODY_BYTES",
        Some("262144"),
        "bytes, a whole number from 1024 to 104857600",
        |v| bytes(v, 1024, 100 * 1024 * 1024),
    );
    let max_header_bytes = r.parsed(
        "APP_MAX_HEADER_BYTES",
        Some("32768"),
        "bytes, a whole number from 4096 to 1048576",
        |v| bytes(v, 4096, 1024 * 1024),
    );
    Some(RequestLimits {
        max_body_bytes: max_body_bytes?,
        max_header_bytes: max_header_bytes?,
    })
}

/// Stripe is optional until checkout is configured; a partial set is an error.
fn read_stripe(r: &mut Reader<'_>) -> Option<Option<StripeSettings>> {
    let key = r.optional(
        "STRIPE_SECRET_KEY",
        "a Stripe secret key (sk_live_… or sk_test_…)",
        |v| {
            if v.starts_with("sk_") || v.starts_with("rk_") {
                Ok(Secret::new(v))
            } else {
                Err(())
            }
        },
    )?;
    let secrets = r.optional(
        "STRIPE_WEBHOOK_SECRETS",
        "a comma-separated list of webhook signing secrets (whsec_…)",
        |v| {
            let list: Vec<Secret> = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Secret::new)
                .collect();
            if list.is_empty() || list.iter().any(|s| !s.expose().starts_with("whsec_")) {
                Err(())
            } else {
                Ok(list)
            }
        },
    )?;
    let api_base = r.optional("STRIPE_API_BASE", "an http(s) URL of the Stripe API", |v| {
        if v.starts_with("http://") || v.starts_with("https://") {
            Ok(v.to_owned())
        } else {
            Err(())
        }
    })?;
    let publishable_key = r.optional(
        "STRIPE_PUBLISHABLE_KEY",
        "a Stripe publishable key (pk_live_… or pk_test_…)",
        |v| {
            if v.starts_with("pk_") {
                Ok(v.to_owned())
            } else {
                Err(())
            }
        },
    )?;
    match (key, secrets) {
        (Some(secret_key), Some(webhook_secrets)) => Some(Some(StripeSettings {
            secret_key,
            webhook_secrets,
            api_base,
            publishable_key,
        })),
        (None, None) => Some(None),
        (Some(_), None) => {
            r.problem(
                "STRIPE_WEBHOOK_SECRETS",
                "set together with STRIPE_SECRET_KEY",
            );
            None
        }
        (None, Some(_)) => {
            r.problem(
                "STRIPE_SECRET_KEY",
                "set together with STRIPE_WEBHOOK_SECRETS",
            );
            None
        }
    }
}

/// SMTP is optional until email is configured; `SMTP_HOST` switches it on.
fn read_smtp(r: &mut Reader<'_>) -> Option<Option<SmtpSettings>> {
    let host = r.optional("SMTP_HOST", "a host name", |v| Ok(v.to_owned()));
    let security = r.parsed(
        "SMTP_SECURITY",
        Some("starttls"),
        "one of starttls, tls, none",
        |v| match v {
            "starttls" => Ok(SmtpSecurity::StartTls),
            "tls" => Ok(SmtpSecurity::Tls),
            "none" => Ok(SmtpSecurity::None),
            _ => Err(()),
        },
    );
    let port = r.parsed("SMTP_PORT", Some("587"), "a port number", |v| {
        v.parse::<u16>().map_err(|_| ())
    });
    let username = r.optional("SMTP_USERNAME", "a user name", |v| Ok(v.to_owned()));
    let password = r.optional("SMTP_PASSWORD", "a password", |v| Ok(Secret::new(v)));
    let from = r.optional(
        "SMTP_FROM",
        "the sender address such as StartUpWebApp <noreply@example.com>",
        |v| {
            if v.contains('@') {
                Ok(v.to_owned())
            } else {
                Err(())
            }
        },
    );
    let host = host?;
    let (security, port, username, password, from) =
        (security?, port?, username?, password?, from?);
    match (host, from) {
        (None, _) => Some(None),
        (Some(_), None) => {
            r.problem("SMTP_FROM", "set whenever SMTP_HOST is set");
            None
        }
        (Some(host), Some(from)) => Some(Some(SmtpSettings {
            host,
            port,
            username,
            password,
            security,
            from,
        })),
    }
}

struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<ConfigProblem>,
}

impl Reader<'_> {
    fn problem(&mut self, variable: &'static str, expected: &str) {
        self.problems.push(ConfigProblem {
            variable,
            expected: expected.to_owned(),
        });
    }

    fn raw(&self, variable: &str) -> Option<String> {
        (self.lookup)(variable)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A required variable (or one with a default); `None` once a problem is recorded.
    fn parsed<T>(
        &mut self,
        variable: &'static str,
        default: Option<&str>,
        expected: &str,
        parse: impl Fn(&str) -> Result<T, ()>,
    ) -> Option<T> {
        match self.raw(variable).or_else(|| default.map(str::to_owned)) {
            None => {
                self.problem(variable, &format!("missing; expected {expected}"));
                None
            }
            Some(v) => match parse(&v) {
                Ok(t) => Some(t),
                Err(()) => {
                    // Never echo a value back: it may be a secret.
                    self.problem(variable, &format!("malformed; expected {expected}"));
                    None
                }
            },
        }
    }

    /// An optional variable: `Some(None)` when unset, `None` when malformed.
    fn optional<T>(
        &mut self,
        variable: &'static str,
        expected: &str,
        parse: impl Fn(&str) -> Result<T, ()>,
    ) -> Option<Option<T>> {
        match self.raw(variable) {
            None => Some(None),
            Some(v) => match parse(&v) {
                Ok(t) => Some(Some(t)),
                Err(()) => {
                    self.problem(variable, &format!("malformed; expected {expected}"));
                    None
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn base() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("APP_ENVIRONMENT", "development"),
            (
                "DATABASE_URL",
                "postgres://app:db-password-xyz@127.0.0.1:5432/app",
            ),
            ("APP_SECRET_KEY", "0123456789abcdef0123456789abcdef-dev"),
            ("APP_STOREFRONT_ORIGINS", "http://localhost:8080"),
            ("APP_STOREFRONT_URL", "http://localhost:8080"),
        ])
    }

    fn load(map: &HashMap<&'static str, &'static str>) -> Result<Config, ConfigError> {
        Config::from_lookup(|k| map.get(k).map(|v| (*v).to_owned()))
    }

    fn variables(err: ConfigError) -> Vec<&'static str> {
        err.problems.iter().map(|p| p.variable).collect()
    }

    #[test]
    fn defaults_apply_when_optional_values_are_unset() {
        let config = load(&base()).expect("valid config");
        assert_eq!(config.bind_address.to_string(), DEFAULT_BIND_ADDRESS);
        assert_eq!(config.database.max_connections, 10);
        assert_eq!(config.request_timeout, Duration::from_secs(20));
        assert!(config.stripe.is_none());
        assert!(config.smtp.is_none());
        assert!(!config.log_json, "development logs are human-readable");
    }

    #[test]
    fn request_limits_have_defaults_and_refuse_nonsense() {
        assert_eq!(
            load(&base()).expect("valid").request_limits,
            RequestLimits {
                max_body_bytes: 262_144,
                max_header_bytes: 32_768
            }
        );
        let mut env = base();
        env.insert("APP_MAX_BODY_BYTES", "1048576");
        env.insert("APP_MAX_HEADER_BYTES", "8192");
        let limits = load(&env).expect("valid").request_limits;
        assert_eq!(
            (limits.max_body_bytes, limits.max_header_bytes),
            (1_048_576, 8192)
        );
        for (var, bad) in [
            ("APP_MAX_BODY_BYTES", "12"),
            ("APP_MAX_BODY_BYTES", "1MB"),
            ("APP_MAX_HEADER_BYTES", "0"),
            ("APP_MAX_HEADER_BYTES", "99999999"),
        ] {
            let mut env = base();
            env.insert(var, bad);
            let err = load(&env).expect_err(bad);
            assert!(
                err.problems.iter().any(|p| p.variable == var),
                "{var}={bad}"
            );
        }
    }

    #[test]
    fn reference_cache_ttl_defaults_to_a_minute_and_zero_turns_it_off() {
        assert_eq!(
            load(&base()).expect("valid").reference_cache_ttl,
            Duration::from_secs(60)
        );
        let mut env = base();
        env.insert("APP_REFERENCE_CACHE_TTL_SECS", "0");
        assert_eq!(
            load(&env).expect("valid").reference_cache_ttl,
            Duration::ZERO
        );
        env.insert("APP_REFERENCE_CACHE_TTL_SECS", "-1");
        assert_eq!(
            variables(load(&env).expect_err("negative")),
            vec!["APP_REFERENCE_CACHE_TTL_SECS"]
        );
    }

    #[test]
    fn every_missing_required_variable_is_named() {
        let err = load(&HashMap::new()).expect_err("empty environment");
        let vars = variables(err);
        for v in [
            "APP_ENVIRONMENT",
            "DATABASE_URL",
            "APP_SECRET_KEY",
            "APP_STOREFRONT_ORIGINS",
            "APP_STOREFRONT_URL",
        ] {
            assert!(vars.contains(&v), "{v} not reported in {vars:?}");
        }
    }

    #[test]
    fn malformed_values_are_reported_without_echoing_them() {
        let mut env = base();
        env.insert("APP_BIND_ADDRESS", "not-an-address");
        env.insert("APP_SECRET_KEY", "short-secret");
        env.insert("APP_STOREFRONT_ORIGINS", "https://shop.example.com/path");
        let err = load(&env).expect_err("malformed");
        let message = err.to_string();
        assert_eq!(
            variables(err),
            vec![
                "APP_BIND_ADDRESS",
                "APP_SECRET_KEY",
                "APP_STOREFRONT_ORIGINS"
            ]
        );
        assert!(message.contains("APP_BIND_ADDRESS: malformed; expected a socket address"));
        assert!(!message.contains("short-secret"));
    }

    #[test]
    fn stripe_settings_must_come_as_a_pair() {
        let mut env = base();
        env.insert("STRIPE_SECRET_KEY", "sk_test_123");
        assert_eq!(
            variables(load(&env).expect_err("half")),
            vec!["STRIPE_WEBHOOK_SECRETS"]
        );
        env.insert("STRIPE_WEBHOOK_SECRETS", "whsec_a, whsec_b");
        let stripe = load(&env).expect("pair").stripe.expect("stripe on");
        assert_eq!(stripe.webhook_secrets.len(), 2);
    }

    #[test]
    fn smtp_needs_a_sender_and_defaults_to_starttls() {
        let mut env = base();
        env.insert("SMTP_HOST", "email-smtp.us-east-1.amazonaws.com");
        assert_eq!(
            variables(load(&env).expect_err("no from")),
            vec!["SMTP_FROM"]
        );
        env.insert("SMTP_FROM", "StartUpWebApp <noreply@example.com>");
        let smtp = load(&env).expect("smtp").smtp.expect("smtp on");
        assert_eq!(smtp.security, SmtpSecurity::StartTls);
        assert_eq!(smtp.port, 587);
    }

    #[test]
    fn rate_limits_and_trusted_proxies_parse_and_reject_nonsense() {
        let mut env = base();
        env.insert("APP_TRUSTED_PROXIES", "10.0.0.0/16, 192.168.1.7");
        env.insert("APP_RATE_LIMIT_LOGIN", "3/60");
        let config = load(&env).expect("valid");
        assert_eq!(config.trusted_proxies.len(), 2);
        assert_eq!(config.rate_limits.login.max, 3);
        assert_eq!(config.rate_limits.login.window, Duration::from_secs(60));
        assert_eq!(config.rate_limits.create_account.max, 5);

        env.insert("APP_TRUSTED_PROXIES", "10.0.0.0/99");
        env.insert("APP_RATE_LIMIT_LOGIN", "0/60");
        assert_eq!(
            variables(load(&env).expect_err("malformed")),
            vec!["APP_TRUSTED_PROXIES", "APP_RATE_LIMIT_LOGIN"]
        );
    }

    #[test]
    fn production_defaults_to_json_logs() {
        let mut env = base();
        env.insert("APP_ENVIRONMENT", "production");
        assert!(load(&env).expect("prod").log_json);
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let config = load(&base()).expect("valid");
        let debug = format!("{config:?}");
        assert!(!debug.contains("0123456789abcdef"));
        assert!(!debug.contains("db-password-xyz"));
    }
}
