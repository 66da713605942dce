//! `/user/logged-in`, `/user/login` and `/user/logout`.

use chrono::Utc;
use poem::Request;
use poem::web::Data;
use poem::web::cookie::CookieJar;
use poem_openapi::payload::{Form, Json};
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;

use super::{
    LimitedFormErrors, UserFormErrors, field, flag, issue_login_cookies, open_session, version,
};
use crate::api::ApiTags;
use crate::api::failure::{Failure, ServerErrors};
use crate::app::AppState;
use crate::db::{carts, users};
use crate::domain::signing::{CookieSigner, random_alphanumeric};
use crate::error::AppError;
use crate::http::cookies::{self, Outgoing};
use crate::http::csrf;
use crate::http::visitor::{self, Visitor};

pub const INDEX_TEXT: &str =
    "Hello, you're at the user API (version 0.0.1) root. Nothing to see here...";

pub struct LoginApi {
    state: AppState,
}

impl LoginApi {
    pub fn new(state: AppState) -> Self {
        LoginApi { state }
    }
}

/// `client_event_id`: the user id (a number) for a member, the string
/// `"null"` for an anonymous visitor.
#[derive(Debug)]
pub enum ClientEventId {
    UserId(i32),
    Anonymous(String),
}

crate::api::wire::one_of_two!(
    ClientEventId,
    "ClientEventId",
    UserId(i32),
    Anonymous(String)
);

#[derive(Object, Debug)]
pub struct LoggedIn {
    pub logged_in: bool,
    pub log_client_events: bool,
    pub client_event_id: ClientEventId,
    /// Members only: first letters of the first and last names.
    #[oai(skip_serializing_if_is_none)]
    pub member_initials: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub first_name: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub last_name: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub email_address: Option<String>,
    /// Number of distinct lines in the visitor's cart.
    pub cart_item_count: i64,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

#[derive(Object, Deserialize, Debug)]
pub struct LoginForm {
    pub username: Option<String>,
    pub password: Option<String>,
    /// `true` for a persistent two-week cookie; anything else gives a
    /// browser-session cookie.
    pub remember_me: Option<String>,
}

#[derive(Object, Debug)]
pub struct LoginResult {
    /// `"true"` or `"false"` (unknown user, wrong password or inactive account).
    pub login: String,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

#[derive(Object, Debug)]
pub struct LogoutResult {
    /// `"true"`, or `"user_not_authenticated"` when nobody was logged in.
    pub logout: String,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

fn client_event_signer(state: &AppState) -> CookieSigner {
    CookieSigner::new(
        state.config.secret_key.expose(),
        cookies::ANONYMOUS_CLIENT_EVENT,
        cookies::ANONYMOUS_CLIENT_EVENT_SALT,
    )
}

fn new_client_event_cookie(state: &AppState, outgoing: &Outgoing) {
    let signed = client_event_signer(state).sign(
        &random_alphanumeric(20),
        Utc::now().timestamp().max(0) as u64,
    );
    outgoing.set(cookies::anonymous_client_event(&state.config, signed));
}

fn initial(name: &str) -> String {
    name.chars().next().map(String::from).unwrap_or_default()
}

impl LoginApi {
    async fn logout_impl(
        &self,
        jar: &CookieJar,
        outgoing: &Outgoing,
    ) -> Result<Json<LogoutResult>, AppError> {
        let visitor = visitor::identify(&self.state.pool, &self.state.config, jar).await?;
        let reply = |word: &str| {
            Json(LogoutResult {
                logout: word.to_owned(),
                user_api_version: version(),
            })
        };
        let Visitor::Member(user) = visitor else {
            if jar.get(cookies::SESSION).is_some() {
                outgoing.set(cookies::removal(&self.state.config, cookies::SESSION));
            }
            return Ok(reply("user_not_authenticated"));
        };
        let mut conn = self.state.pool.acquire().await?;
        crate::db::sessions::delete(&mut conn, &user.session_key).await?;
        outgoing.set(cookies::removal(&self.state.config, cookies::SESSION));
        outgoing.set(cookies::removal(
            &self.state.config,
            cookies::ANONYMOUS_CART,
        ));
        new_client_event_cookie(&self.state, outgoing);
        Ok(reply("true"))
    }
}

#[OpenApi(tag = "ApiTags::Accounts")]
impl LoginApi {
    /// User API index: a plain greeting, never cached. The legacy path is
    /// `/user/` (with the slash), which serves the same page.
    #[oai(path = "/user", method = "get")]
    async fn user_index(&self) -> crate::api::wire::IndexPage {
        crate::api::wire::IndexPage::new(INDEX_TEXT)
    }

    /// Who is visiting: the header, menu, badge and chat form read this on
    /// every page. Always (re)sets the `csrftoken` cookie; an anonymous
    /// visitor without a valid `anonymousclientevent` cookie gets one.
    #[oai(path = "/user/logged-in", method = "get")]
    async fn logged_in(
        &self,
        jar: &CookieJar,
        outgoing: Data<&Outgoing>,
    ) -> Result<Json<LoggedIn>, Failure<ServerErrors>> {
        let state = &self.state;
        let secret = jar
            .get(cookies::CSRF)
            .map(|c| c.value_str().to_owned())
            .filter(|s| csrf::is_valid_secret(s))
            .unwrap_or_else(csrf::new_secret);
        outgoing.set(cookies::csrf(&state.config, &secret));

        let visitor = visitor::identify(&state.pool, &state.config, jar).await?;
        let log_client_events = state
            .reference_cache
            .load_logging_enabled(&state.pool)
            .await?;
        let owner = visitor.cart_owner();
        let cart_item_count = match owner {
            Some(owner) => match carts::find(&state.pool, &owner).await? {
                Some(cart_id) => {
                    let mut conn = state.pool.acquire().await.map_err(AppError::from)?;
                    carts::item_count(&mut conn, cart_id).await?
                }
                None => 0,
            },
            None => 0,
        };
        let mut reply = LoggedIn {
            logged_in: false,
            log_client_events,
            client_event_id: ClientEventId::Anonymous("null".to_owned()),
            member_initials: None,
            first_name: None,
            last_name: None,
            email_address: None,
            cart_item_count,
            user_api_version: version(),
        };
        match visitor {
            Visitor::Member(user) => {
                if let Some(g) = users::greeting(&state.pool, user.user_id).await? {
                    reply.member_initials = Some(format!(
                        "{}{}",
                        initial(&g.first_name),
                        initial(&g.last_name)
                    ));
                    reply.first_name = Some(g.first_name);
                    reply.last_name = Some(g.last_name);
                    reply.email_address = Some(g.email);
                }
                reply.logged_in = true;
                reply.client_event_id = ClientEventId::UserId(user.user_id);
            }
            Visitor::Anonymous { .. } => {
                let valid = jar
                    .get(cookies::ANONYMOUS_CLIENT_EVENT)
                    .and_then(|c| client_event_signer(state).unsign(c.value_str()))
                    .is_some();
                if !valid {
                    new_client_event_cookie(state, &outgoing);
                }
            }
        }
        Ok(Json(reply))
    }

    /// Logs in by exact username and password. On success the session and
    /// CSRF secret are new, the anonymous cart is merged into the member's
    /// and `an_ct` is deleted. Limited per client address.
    #[oai(path = "/user/login", method = "post")]
    async fn login(
        &self,
        req: &Request,
        jar: &CookieJar,
        outgoing: Data<&Outgoing>,
        form: Form<LoginForm>,
    ) -> Result<Json<LoginResult>, Failure<LimitedFormErrors>> {
        let state = &self.state;
        super::limit(state, req, "login", None, state.config.rate_limits.login).await?;
        let form = form.0;
        let reply = |ok: bool| {
            Json(LoginResult {
                login: if ok { "true" } else { "false" }.to_owned(),
                user_api_version: version(),
            })
        };
        let username = field(&form.username);
        let password = field(&form.password);
        let persistent = flag(&form.remember_me);

        let mut conn = state.pool.acquire().await.map_err(AppError::from)?;
        let found = if username.is_empty() {
            None
        } else {
            users::credentials_by_username(&mut conn, username).await?
        };
        drop(conn);
        let verification =
            super::verify_password(password, found.as_ref().map(|c| c.password_hash.clone()))
                .await?;
        let Some(user) = found.filter(|u| u.is_active && verification.is_valid()) else {
            return Ok(reply(false));
        };
        // Rehash outside the transaction: it takes tens of milliseconds.
        let rehashed = if verification.needs_rehash() {
            Some(super::hash_password(password).await?)
        } else {
            None
        };

        let visitor = visitor::identify(&state.pool, &state.config, jar).await?;
        let (old_session, anonymous_cart) = match &visitor {
            Visitor::Member(u) => (Some(u.session_key.as_str()), None),
            Visitor::Anonymous { cart_token } => (None, cart_token.as_deref()),
        };
        let mut tx = state.pool.begin().await.map_err(AppError::from)?;
        if let Some(new_hash) = &rehashed {
            users::replace_password_hash(&mut tx, user.user_id, &user.password_hash, new_hash)
                .await?;
        }
        let key = open_session(
            &mut tx,
            user.user_id,
            user.member_id,
            persistent,
            old_session,
            anonymous_cart,
        )
        .await?;
        tx.commit().await.map_err(AppError::from)?;

        issue_login_cookies(state, &outgoing, &key, persistent);
        outgoing.set(cookies::removal(&state.config, cookies::ANONYMOUS_CART));
        Ok(reply(true))
    }

    /// Ends the session (the storefront calls this with GET). The member's
    /// cart stays with the member; `an_ct` is deleted and a fresh
    /// `anonymousclientevent` cookie issued.
    #[oai(path = "/user/logout", method = "get")]
    async fn logout(
        &self,
        jar: &CookieJar,
        outgoing: Data<&Outgoing>,
    ) -> Result<Json<LogoutResult>, Failure<ServerErrors>> {
        Ok(self.logout_impl(jar, &outgoing).await?)
    }

    /// The same as `GET /user/logout`, CSRF-checked.
    #[oai(path = "/user/logout", method = "post")]
    async fn logout_post(
        &self,
        jar: &CookieJar,
        outgoing: Data<&Outgoing>,
    ) -> Result<Json<LogoutResult>, Failure<UserFormErrors>> {
        Ok(self.logout_impl(jar, &outgoing).await?)
    }
}
