//! `/user/terms-of-use-agree-check` and `/user/terms-of-use-agree`. The
//! current terms are the highest version number; agreement is checked by
//! version number (the legacy compared the number with a row id).

use poem::web::cookie::CookieJar;
use poem_openapi::payload::{Form, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;

use super::{UserFormErrors, version};
use crate::api::ApiTags;
use crate::api::failure::{Failure, ServerErrors};
use crate::app::AppState;
use crate::db::terms;
use crate::error::AppError;
use crate::http::visitor::{self, Visitor};

pub struct TermsApi {
    state: AppState,
}

impl TermsApi {
    pub fn new(state: AppState) -> Self {
        TermsApi { state }
    }
}

/// Where an anonymous caller is sent, as the legacy `@login_required` did.
const LOGIN_REDIRECT: &str = "/login?next=/user/terms-of-use-agree-check";

#[derive(Object, Debug)]
pub struct AgreeCheck {
    /// `true` when the member agreed to the current version.
    pub terms_of_use_agree_check: bool,
    /// The current version number (only when not agreed).
    #[oai(skip_serializing_if_is_none)]
    pub version: Option<i32>,
    /// HTML shown in the re-consent dialog (only when not agreed).
    #[oai(skip_serializing_if_is_none)]
    pub version_note: Option<String>,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

#[derive(ApiResponse)]
pub enum AgreeCheckResponse {
    #[oai(status = 200)]
    Ok(Json<AgreeCheck>),
    /// Not logged in: redirected to the storefront's login page.
    #[oai(status = 302)]
    LoginRequired(#[oai(header = "Location")] String),
}

#[derive(Object, Deserialize, Debug)]
pub struct AgreeForm {
    /// The version number from the check.
    pub version: Option<String>,
}

#[derive(Object, Debug)]
pub struct AgreeError {
    /// `version-required`, `version-not-found`,
    /// `version-provided-not-most-recent` or `version-already-agreed`.
    pub error: String,
}

#[derive(Object, Debug)]
pub struct AgreeResult {
    /// `success`, `error` or `user_not_authenticated`.
    pub terms_of_use_agree: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<AgreeError>,
    /// The posted value, echoed.
    #[oai(skip_serializing_if_is_none)]
    pub version: Option<String>,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

#[OpenApi(tag = "ApiTags::Accounts")]
impl TermsApi {
    /// Whether the logged-in member agreed to the current terms of use; if
    /// not, the version and note to show. With no terms published there is
    /// nothing to agree to (`true`).
    #[oai(path = "/user/terms-of-use-agree-check", method = "get")]
    async fn terms_of_use_agree_check(
        &self,
        jar: &CookieJar,
    ) -> Result<AgreeCheckResponse, Failure<ServerErrors>> {
        let state = &self.state;
        let member_id = match visitor::identify(&state.pool, &state.config, jar).await? {
            Visitor::Member(user) => user.member_id,
            Visitor::Anonymous { .. } => None,
        };
        let Some(member_id) = member_id else {
            return Ok(AgreeCheckResponse::LoginRequired(LOGIN_REDIRECT.to_owned()));
        };
        let mut conn = state.pool.acquire().await.map_err(AppError::from)?;
        let current = terms::current(&mut conn).await?;
        drop(conn);
        let agreed = |yes: bool, current: Option<terms::TermsVersion>| {
            AgreeCheckResponse::Ok(Json(AgreeCheck {
                terms_of_use_agree_check: yes,
                version: current.as_ref().map(|c| c.version),
                version_note: current.and_then(|c| c.version_note),
                user_api_version: version(),
            }))
        };
        match current {
            None => Ok(agreed(true, None)),
            Some(current) => {
                if terms::has_agreed_to_version(&state.pool, member_id, current.version).await? {
                    Ok(agreed(true, None))
                } else {
                    Ok(agreed(false, Some(current)))
                }
            }
        }
    }

    /// Records the member's agreement to the current version.
    #[oai(path = "/user/terms-of-use-agree", method = "post")]
    async fn terms_of_use_agree(
        &self,
        jar: &CookieJar,
        form: Form<AgreeForm>,
    ) -> Result<Json<AgreeResult>, Failure<UserFormErrors>> {
        let state = &self.state;
        let raw = form.0.version;
        let reply = |word: &str, error: Option<&str>, echo: Option<String>| {
            Json(AgreeResult {
                terms_of_use_agree: word.to_owned(),
                errors: error.map(|e| AgreeError {
                    error: e.to_owned(),
                }),
                version: echo,
                user_api_version: version(),
            })
        };
        let member_id = match visitor::identify(&state.pool, &state.config, jar).await? {
            Visitor::Member(user) => user.member_id,
            Visitor::Anonymous { .. } => None,
        };
        let Some(member_id) = member_id else {
            return Ok(reply("user_not_authenticated", None, None));
        };
        let Some(raw) = raw else {
            return Ok(reply("error", Some("version-required"), None));
        };
        let Ok(number) = raw.trim().parse::<i32>() else {
            return Ok(reply("error", Some("version-not-found"), Some(raw)));
        };
        let mut tx = state.pool.begin().await.map_err(AppError::from)?;
        let current = terms::current(&mut tx).await?;
        let current = match current {
            Some(c) if c.version == number => c,
            _ => {
                let code = if terms::version_exists(&mut tx, number).await? {
                    "version-provided-not-most-recent"
                } else {
                    "version-not-found"
                };
                return Ok(reply("error", Some(code), Some(raw)));
            }
        };
        if !terms::agree(&mut tx, member_id, current.id).await? {
            return Ok(reply("error", Some("version-already-agreed"), Some(raw)));
        }
        tx.commit().await.map_err(AppError::from)?;
        Ok(reply("success", None, Some(raw)))
    }
}
