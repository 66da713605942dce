//! The emailed unsubscribe flow: `/user/email-unsubscribe-lookup`,
//! `-confirm` and `-why`, for members (`token`) and prospects (`pr_token`).
//! A token is the bare signature of the row's unsubscribe string; confirming
//! rotates it, so an old link then reads `member-not-found`.

use poem_openapi::param::Query;
use poem_openapi::payload::{Form, Json};
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;
use sqlx::PgConnection;

use super::account::reasons;
use super::{UserFormErrors, signer, version};
use crate::api::ApiTags;
use crate::api::failure::{Failure, ServerErrors};
use crate::api::wire::LastValue;
use crate::app::AppState;
use crate::db::prospects::{self, Subscriber, UnsubscribeTarget};
use crate::error::AppError;

pub struct UnsubscribeApi {
    state: AppState,
}

impl UnsubscribeApi {
    pub fn new(state: AppState) -> Self {
        UnsubscribeApi { state }
    }
}

#[derive(Object, Debug)]
pub struct UnsubscribeError {
    /// `token-required`, `member-not-found`, `email-address-already-unsubscribed`
    /// or `token-altered`.
    pub error: String,
}

#[derive(Object, Debug)]
pub struct LookupResult {
    /// `success` or `error`.
    pub email_unsubscribe_lookup: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<UnsubscribeError>,
    /// The address with all but the first four characters before `@` masked.
    #[oai(skip_serializing_if_is_none)]
    pub email_address: Option<String>,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

#[derive(Object, Deserialize, Debug)]
pub struct ConfirmForm {
    /// A member's token; wins over `pr_token` when both are sent.
    pub token: Option<String>,
    /// A prospect's token.
    pub pr_token: Option<String>,
}

#[derive(Object, Debug)]
pub struct ConfirmResult {
    /// `success` or `error`.
    pub email_unsubscribe_confirm: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<UnsubscribeError>,
    #[oai(skip_serializing_if_is_none)]
    pub email_address: Option<String>,
    /// The new token, for the follow-up `email-unsubscribe-why`.
    #[oai(skip_serializing_if_is_none)]
    pub token: Option<String>,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

#[derive(Object, Deserialize, Debug)]
pub struct WhyForm {
    pub token: Option<String>,
    pub pr_token: Option<String>,
    pub no_longer_want_to_receive: Option<String>,
    pub never_signed_up: Option<String>,
    pub inappropriate: Option<String>,
    pub spam: Option<String>,
    /// Free text, kept up to 5,000 characters.
    pub other: Option<String>,
}

#[derive(Object, Debug)]
pub struct WhyResult {
    /// `success` or `error`.
    pub email_unsubscribe_why: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<UnsubscribeError>,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

/// Keeps the first four characters of the local part, masks the rest.
pub fn mask_email(email: &str) -> String {
    let (local, domain) = match email.rsplit_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (email, None),
    };
    let mut masked: String = local
        .chars()
        .enumerate()
        .map(|(i, c)| if i < 4 { c } else { '*' })
        .collect();
    if let Some(domain) = domain {
        masked.push('@');
        masked.push_str(domain);
    }
    masked
}

/// The member or prospect a token names, locked for the transaction, or the
/// error code to answer with.
async fn resolve(
    state: &AppState,
    conn: &mut PgConnection,
    token: Option<&str>,
    pr_token: Option<&str>,
    refuse_if_unsubscribed: bool,
) -> Result<Result<(Subscriber, UnsubscribeTarget), &'static str>, AppError> {
    let (who, token) = match (token, pr_token) {
        (Some(t), _) => (Subscriber::Member, t),
        (None, Some(t)) => (Subscriber::Prospect, t),
        (None, None) => return Ok(Err("token-required")),
    };
    let Some(target) = prospects::find_by_unsubscribe_token(conn, who, token).await? else {
        return Ok(Err("member-not-found"));
    };
    if refuse_if_unsubscribed && target.email_unsubscribed {
        return Ok(Err("email-address-already-unsubscribed"));
    }
    // The stored token was found by equality; re-signing the stored string
    // catches a row whose pair was edited or a changed secret key.
    let genuine = target
        .unsubscribe_string
        .as_deref()
        .is_some_and(|s| signer(state).unsubscribe_token_matches(s, token));
    if !genuine {
        return Ok(Err("token-altered"));
    }
    Ok(Ok((who, target)))
}

#[OpenApi(tag = "ApiTags::Subscriptions")]
impl UnsubscribeApi {
    /// Shows (masked) which address an unsubscribe link is for.
    #[oai(path = "/user/email-unsubscribe-lookup", method = "get")]
    async fn email_unsubscribe_lookup(
        &self,
        /// A member's token from the email link.
        token: Query<Option<LastValue>>,
        /// A prospect's token from the email link.
        pr_token: Query<Option<LastValue>>,
    ) -> Result<Json<LookupResult>, Failure<ServerErrors>> {
        let mut conn = self.state.pool.acquire().await.map_err(AppError::from)?;
        let token = token.0.map(LastValue::into_inner);
        let pr_token = pr_token.0.map(LastValue::into_inner);
        let resolved = resolve(
            &self.state,
            &mut conn,
            token.as_deref(),
            pr_token.as_deref(),
            true,
        )
        .await?;
        Ok(Json(match resolved {
            Ok((_, target)) => LookupResult {
                email_unsubscribe_lookup: "success".to_owned(),
                errors: None,
                email_address: Some(mask_email(target.email.as_deref().unwrap_or(""))),
                user_api_version: version(),
            },
            Err(code) => LookupResult {
                email_unsubscribe_lookup: "error".to_owned(),
                errors: Some(UnsubscribeError {
                    error: code.to_owned(),
                }),
                email_address: None,
                user_api_version: version(),
            },
        }))
    }

    /// Unsubscribes the address (a member also leaves the newsletter) and
    /// returns a new token for the optional "why" form.
    #[oai(path = "/user/email-unsubscribe-confirm", method = "post")]
    async fn email_unsubscribe_confirm(
        &self,
        form: Form<ConfirmForm>,
    ) -> Result<Json<ConfirmResult>, Failure<UserFormErrors>> {
        let state = &self.state;
        let form = form.0;
        let mut tx = state.pool.begin().await.map_err(AppError::from)?;
        let resolved = resolve(
            state,
            &mut tx,
            form.token.as_deref(),
            form.pr_token.as_deref(),
            true,
        )
        .await?;
        let (who, target) = match resolved {
            Ok(found) => found,
            Err(code) => {
                return Ok(Json(ConfirmResult {
                    email_unsubscribe_confirm: "error".to_owned(),
                    errors: Some(UnsubscribeError {
                        error: code.to_owned(),
                    }),
                    email_address: None,
                    token: None,
                    user_api_version: version(),
                }));
            }
        };
        prospects::mark_unsubscribed(&mut tx, who, target.id).await?;
        let signer = signer(state);
        let new_token =
            prospects::rotate_unsubscribe(&mut tx, who, target.id, |s| signer.unsubscribe_token(s))
                .await?;
        tx.commit().await.map_err(AppError::from)?;
        Ok(Json(ConfirmResult {
            email_unsubscribe_confirm: "success".to_owned(),
            errors: None,
            email_address: Some(mask_email(target.email.as_deref().unwrap_or(""))),
            token: Some(new_token),
            user_api_version: version(),
        }))
    }

    /// Records why someone unsubscribed (always a row, even with no reason).
    #[oai(path = "/user/email-unsubscribe-why", method = "post")]
    async fn email_unsubscribe_why(
        &self,
        form: Form<WhyForm>,
    ) -> Result<Json<WhyResult>, Failure<UserFormErrors>> {
        let state = &self.state;
        let form = form.0;
        let mut tx = state.pool.begin().await.map_err(AppError::from)?;
        let resolved = resolve(
            state,
            &mut tx,
            form.token.as_deref(),
            form.pr_token.as_deref(),
            false,
        )
        .await?;
        let reply = |word: &str, code: Option<&str>| {
            Json(WhyResult {
                email_unsubscribe_why: word.to_owned(),
                errors: code.map(|c| UnsubscribeError {
                    error: c.to_owned(),
                }),
                user_api_version: version(),
            })
        };
        let (who, target) = match resolved {
            Ok(found) => found,
            Err(code) => return Ok(reply("error", Some(code))),
        };
        let why = reasons(
            &form.no_longer_want_to_receive,
            &form.never_signed_up,
            &form.inappropriate,
            &form.spam,
            &form.other,
        );
        prospects::insert_reasons(&mut tx, who, target.id, &why).await?;
        tx.commit().await.map_err(AppError::from)?;
        Ok(reply("success", None))
    }
}

#[cfg(test)]
mod tests {
    use super::mask_email;

    #[test]
    fn masking_keeps_four_characters_and_the_domain() {
        assert_eq!(mask_email("johnny@example.com"), "john**@example.com");
        assert_eq!(mask_email("abcd@example.com"), "abcd@example.com");
        assert_eq!(mask_email("ab@x.co"), "ab@x.co");
        assert_eq!(mask_email("no-at-sign"), "no-a******");
    }
}
