//! `/user/token`: issues (or refreshes) the `csrftoken` cookie. The
//! storefront calls it on nearly every page and again after a 403; it only
//! needs the cookie, but the legacy body is kept.

use poem::web::Data;
use poem::web::cookie::CookieJar;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::app::AppState;
use crate::http::cookies::{self, Outgoing};
use crate::http::csrf;

pub const USER_API_VERSION: &str = "0.0.1";

pub struct SessionApi {
    state: AppState,
}

impl SessionApi {
    pub fn new(state: AppState) -> Self {
        SessionApi { state }
    }
}

#[derive(Object, Debug)]
pub struct Token {
    /// The rendered hidden form field with the masked CSRF token (ignored by the storefront).
    pub token: String,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

#[derive(ApiResponse)]
pub enum TokenResponse {
    /// Sets the `csrftoken` cookie (readable by JavaScript) to send back in `X-CSRFToken`.
    #[oai(status = 200)]
    Ok(Json<Token>, #[oai(header = "Vary")] String),
}

#[OpenApi(tag = "ApiTags::Session")]
impl SessionApi {
    /// Issues the CSRF cookie, keeping a valid existing secret.
    #[oai(path = "/user/token", method = "get")]
    async fn token(&self, jar: &CookieJar, outgoing: Data<&Outgoing>) -> TokenResponse {
        let secret = jar
            .get(cookies::CSRF)
            .map(|c| c.value_str().to_owned())
            .filter(|s| csrf::is_valid_secret(s))
            .unwrap_or_else(csrf::new_secret);
        outgoing.set(cookies::csrf(&self.state.config, &secret));
        let field = format!(
            "<input type=\"hidden\" name=\"csrfmiddlewaretoken\" value=\"{}\">",
            csrf::mask(&secret)
        );
        TokenResponse::Ok(
            Json(Token {
                token: field,
                user_api_version: USER_API_VERSION.to_owned(),
            }),
            "Cookie".to_owned(),
        )
    }
}
