//! Client events: `/clientevent/` (index), `pageview`, `ajaxerror`,
//! `buttonclick` and `linkevent` (contract api-user-clientevent.md §5, §6.8).
//!
//! The storefront fires these with `$.get` on every page and ignores the
//! answer, which is always the JSON string `"thank you"`. Each stores at most
//! one row, in one statement; nothing is stored without a `url`.
//!
//! Deliberate changes from the legacy service:
//! - Only GET is an operation. The legacy answered `"thank you"` to every
//!   method and stored nothing for non-GET; here other methods get the API's
//!   JSON 405. The storefront only ever sends GET.
//! - Values longer than their column are cut to the column's length (in
//!   characters) and NUL characters, which PostgreSQL text cannot hold, are
//!   dropped, where the legacy failed with a 500.
//! - A `pageWidth` that is not an integer is stored as NULL (legacy: 500).
//! - `ajaxerror` without `error_id` and `buttonclick` without `button_id`
//!   store nothing, like a missing `url` (legacy: 500 on the NOT NULL column).

use poem::Request;
use poem_openapi::OpenApi;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;

use super::ApiTags;
use super::failure::{Failure, ServerErrors};
use super::wire::{IndexPage, LastValue};
use crate::app::AppState;
use crate::db::client_events::{self as db, EventSource, LinkCodes, PageView};

pub struct ClientEventsApi {
    state: AppState,
}

impl ClientEventsApi {
    pub fn new(state: AppState) -> Self {
        ClientEventsApi { state }
    }
}

pub const INDEX_TEXT: &str =
    "Hello, you're at the clientevent API (version 0.0.1) root. Nothing to see here...";

const THANK_YOU: &str = "thank you";

/// Column lengths (varchar(n), counted in characters as PostgreSQL does).
const URL_LEN: usize = 1000;
const ANONYMOUS_ID_LEN: usize = 100;
const EVENT_ID_LEN: usize = 100;
const REMOTE_ADDR_LEN: usize = 100;
const USER_AGENT_LEN: usize = 1000;

type Reply = Result<Json<String>, Failure<ServerErrors>>;

fn thank_you() -> Reply {
    Ok(Json(THANK_YOU.to_owned()))
}

/// Fits a client-supplied value to a `varchar(max_chars)` column: drops NUL
/// characters and keeps at most `max_chars` characters.
fn fit(value: &str, max_chars: usize) -> String {
    value
        .chars()
        .filter(|&c| c != '\0')
        .take(max_chars)
        .collect()
}

/// `client_event_id` as a user id: absent, `null`, `undefined`, non-numeric
/// or out of range all mean "no user".
fn user_id(value: &Option<LastValue>) -> Option<i32> {
    value.as_ref().and_then(|v| v.0.trim().parse::<i32>().ok())
}

/// A marketing code: absent, empty or the literal `null` (what the
/// storefront sends for a code the page lacks) mean "not sent".
fn code(value: Option<LastValue>) -> Option<String> {
    value
        .map(LastValue::into_inner)
        .filter(|v| !v.is_empty() && v != "null")
}

/// What is stored as `remote_addr`: the whole `X-Forwarded-For` header when
/// present (several header lines are joined with `, `), else the socket
/// peer's IP address.
fn remote_addr(req: &Request) -> Option<String> {
    let forwarded: Vec<String> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let value = if forwarded.is_empty() {
        req.remote_addr().as_socket_addr()?.ip().to_string()
    } else {
        forwarded.join(", ")
    };
    Some(fit(&value, REMOTE_ADDR_LEN))
}

fn user_agent(req: &Request) -> Option<String> {
    req.headers()
        .get(poem::http::header::USER_AGENT)
        .map(|v| fit(&String::from_utf8_lossy(v.as_bytes()), USER_AGENT_LEN))
}

fn source(
    client_event_id: &Option<LastValue>,
    anonymous_id: Option<LastValue>,
    url: LastValue,
) -> EventSource {
    EventSource {
        user_id: user_id(client_event_id),
        anonymous_id: anonymous_id.map(|v| fit(&v.0, ANONYMOUS_ID_LEN)),
        url: fit(&url.0, URL_LEN),
    }
}

#[OpenApi(tag = "ApiTags::ClientEvents")]
impl ClientEventsApi {
    /// Client event API index: a plain greeting, never cached. The legacy
    /// path is `/clientevent/` (with the slash), which serves the same page.
    #[oai(path = "/clientevent", method = "get")]
    async fn clientevent_index(&self) -> IndexPage {
        IndexPage::new(INDEX_TEXT)
    }

    /// Records a page view. Always answers the JSON string `"thank you"`;
    /// nothing is stored without `url`. `remote_addr` is the whole
    /// `X-Forwarded-For` header, else the peer address; the `User-Agent`
    /// header is stored too. Values longer than their column are cut to fit.
    #[oai(path = "/clientevent/pageview", method = "get")]
    async fn pageview(
        &self,
        req: &Request,
        /// The visitor's user id from `/user/logged-in`, or `null`. An id
        /// that is not a number or not a user is stored as no user.
        client_event_id: Query<Option<LastValue>>,
        /// The raw `anonymousclientevent` cookie value (at most 100 characters are kept).
        anonymous_id: Query<Option<LastValue>>,
        /// The page URL (at most 1000 characters are kept). Without it nothing is stored.
        url: Query<Option<LastValue>>,
        /// The page width in pixels; a value that is not an integer is stored as null.
        #[oai(name = "pageWidth")]
        page_width: Query<Option<LastValue>>,
    ) -> Reply {
        let Some(url) = url.0 else {
            return thank_you();
        };
        let event = PageView {
            source: source(&client_event_id.0, anonymous_id.0, url),
            page_width: page_width.0.and_then(|v| v.0.trim().parse::<i32>().ok()),
            remote_addr: remote_addr(req),
            http_user_agent: user_agent(req),
        };
        db::insert_page_view(&self.state.pool, &event).await?;
        thank_you()
    }

    /// Records a failed storefront request. Always answers `"thank you"`;
    /// nothing is stored without `url` and `error_id`.
    #[oai(path = "/clientevent/ajaxerror", method = "get")]
    async fn ajaxerror(
        &self,
        /// The visitor's user id, or `null`.
        client_event_id: Query<Option<LastValue>>,
        /// The raw `anonymousclientevent` cookie value.
        anonymous_id: Query<Option<LastValue>>,
        /// The page URL. Without it nothing is stored.
        url: Query<Option<LastValue>>,
        /// What failed, e.g. `index-logged-in` (at most 100 characters are kept).
        error_id: Query<Option<LastValue>>,
    ) -> Reply {
        let (Some(url), Some(error_id)) = (url.0, error_id.0) else {
            return thank_you();
        };
        let source = source(&client_event_id.0, anonymous_id.0, url);
        db::insert_ajax_error(&self.state.pool, &source, &fit(&error_id.0, EVENT_ID_LEN)).await?;
        thank_you()
    }

    /// Records a button click. Always answers `"thank you"`; nothing is
    /// stored without `url` and `button_id`.
    #[oai(path = "/clientevent/buttonclick", method = "get")]
    async fn buttonclick(
        &self,
        /// The visitor's user id, or `null`.
        client_event_id: Query<Option<LastValue>>,
        /// The raw `anonymousclientevent` cookie value.
        anonymous_id: Query<Option<LastValue>>,
        /// The page URL. Without it nothing is stored.
        url: Query<Option<LastValue>>,
        /// Which button, e.g. `chat-icon` (at most 100 characters are kept).
        button_id: Query<Option<LastValue>>,
    ) -> Reply {
        let (Some(url), Some(button_id)) = (url.0, button_id.0) else {
            return thank_you();
        };
        let source = source(&client_event_id.0, anonymous_id.0, url);
        db::insert_button_click(&self.state.pool, &source, &fit(&button_id.0, EVENT_ID_LEN))
            .await?;
        thank_you()
    }

    /// Records an arrival through a marketing link. Always answers
    /// `"thank you"`; nothing is stored without `url`. Each code is resolved
    /// on its own; an absent, empty, `null` or unknown code is stored as null.
    #[oai(path = "/clientevent/linkevent", method = "get")]
    async fn linkevent(
        &self,
        /// Member code from an email link: links the event to that member's user.
        mb_cd: Query<Option<LastValue>>,
        /// Prospect code from an email link.
        pr_cd: Query<Option<LastValue>>,
        /// The raw `anonymousclientevent` cookie value.
        anonymous_id: Query<Option<LastValue>>,
        /// Email code: which marketing email the link came from.
        em_cd: Query<Option<LastValue>>,
        /// Ad code: which ad the link came from.
        ad_cd: Query<Option<LastValue>>,
        /// The landing URL. Without it nothing is stored.
        url: Query<Option<LastValue>>,
    ) -> Reply {
        let Some(url) = url.0 else {
            return thank_you();
        };
        let codes = LinkCodes {
            mb_cd: code(mb_cd.0),
            pr_cd: code(pr_cd.0),
            em_cd: code(em_cd.0),
            ad_cd: code(ad_cd.0),
        };
        let anonymous_id = anonymous_id.0.map(|v| fit(&v.0, ANONYMOUS_ID_LEN));
        let resolved = db::insert_link_event(
            &self.state.pool,
            anonymous_id.as_deref(),
            &fit(&url.0, URL_LEN),
            &codes,
        )
        .await?;
        for (name, sent, found) in [
            ("mb_cd", &codes.mb_cd, resolved.user),
            ("pr_cd", &codes.pr_cd, resolved.prospect),
            ("em_cd", &codes.em_cd, resolved.email),
            ("ad_cd", &codes.ad_cd, resolved.ad),
        ] {
            if let (Some(value), false) = (sent, found) {
                let value = fit(value, 60);
                tracing::warn!(code = name, %value, "linkevent code matches no row; stored as null");
            }
        }
        thank_you()
    }
}
