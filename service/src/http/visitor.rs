//! Who is calling: a member (through the `sessionid` cookie) or an anonymous
//! visitor (perhaps with a signed `an_ct` cart cookie).

use poem::web::cookie::CookieJar;
use sqlx::PgPool;

use crate::config::Config;
use crate::db::carts::CartOwner;
use crate::db::sessions::{self, SessionUser};
use crate::domain::signing::CookieSigner;
use crate::http::cookies;

#[derive(Debug, Clone)]
pub enum Visitor {
    Member(SessionUser),
    /// `cart_token` is the unsigned `an_ct` value, when the cookie verifies.
    Anonymous {
        cart_token: Option<String>,
    },
}

impl Visitor {
    /// Who owns this visitor's cart, if anyone can: a member with a member
    /// row, or an anonymous visitor with a valid `an_ct` cookie.
    pub fn cart_owner(&self) -> Option<CartOwner<'_>> {
        match self {
            Visitor::Member(user) => user.member_id.map(CartOwner::Member),
            Visitor::Anonymous {
                cart_token: Some(token),
            } => Some(CartOwner::Anonymous(token)),
            Visitor::Anonymous { cart_token: None } => None,
        }
    }
}

pub fn cart_signer(config: &Config) -> CookieSigner {
    CookieSigner::new(
        config.secret_key.expose(),
        cookies::ANONYMOUS_CART,
        cookies::ANONYMOUS_CART_SALT,
    )
}

/// Resolves the visitor; costs one query only when a session cookie is present.
pub async fn identify(
    pool: &PgPool,
    config: &Config,
    jar: &CookieJar,
) -> Result<Visitor, sqlx::Error> {
    identify_with(pool, config, jar).await
}

/// Whether the request carries a cookie that could name a member or a cart;
/// without one the visitor is a new anonymous one and no query is needed.
pub fn has_identity_cookie(jar: &CookieJar) -> bool {
    jar.get(cookies::SESSION).is_some() || jar.get(cookies::ANONYMOUS_CART).is_some()
}

/// [`identify`] on a connection the handler already holds.
pub async fn identify_with<'e>(
    db: impl sqlx::PgExecutor<'e>,
    config: &Config,
    jar: &CookieJar,
) -> Result<Visitor, sqlx::Error> {
    if let Some(cookie) = jar.get(cookies::SESSION)
        && let Some(user) = sessions::find_user(db, cookie.value_str()).await?
    {
        return Ok(Visitor::Member(user));
    }
    let cart_token = jar
        .get(cookies::ANONYMOUS_CART)
        .and_then(|c| cart_signer(config).unsign(c.value_str()));
    Ok(Visitor::Anonymous { cart_token })
}
