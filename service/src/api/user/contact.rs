//! The contact forms: `/user/put-chat-message` and
//! `/user/pythonabot-notify-me`. Both record an unknown sender as a prospect
//! (not opted in to marketing).

use chrono::Utc;
use poem::Request;
use poem::web::cookie::CookieJar;
use poem_openapi::payload::{Form, Json};
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;
use sqlx::PgConnection;

use super::{FieldResult, LimitedFormErrors, Problem, field, queue_mail, signer, site, version};
use crate::api::ApiTags;
use crate::api::failure::Failure;
use crate::app::AppState;
use crate::db::prospects::{self, ChatAuthor, NewProspect};
use crate::db::users;
use crate::domain::account_emails;
use crate::domain::signing::random_alphanumeric;
use crate::domain::validation;
use crate::error::AppError;
use crate::http::visitor::{self, Visitor};

pub struct ContactApi {
    state: AppState,
}

impl ContactApi {
    pub fn new(state: AppState) -> Self {
        ContactApi { state }
    }
}

#[derive(Object, Deserialize, Debug)]
pub struct ChatForm {
    /// Letters, digits and spaces, up to 30 characters.
    pub name: Option<String>,
    pub email_address: Option<String>,
    /// 1–5,000 characters.
    pub message: Option<String>,
}

#[derive(Object, Debug)]
pub struct ChatErrors {
    pub name: FieldResult,
    pub email_address: FieldResult,
    pub message: FieldResult,
}

#[derive(Object, Debug)]
pub struct ChatResult {
    /// `"true"` (stored; the site owner is notified by email) or
    /// `validation_error`.
    pub put_chat_message: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<ChatErrors>,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

#[derive(Object, Deserialize, Debug)]
pub struct NotifyMeForm {
    pub email_address: Option<String>,
    /// `1`–`5`.
    pub how_excited: Option<String>,
}

#[derive(Object, Debug)]
pub struct NotifyMeErrors {
    pub email_address: FieldResult,
    pub how_excited: FieldResult,
}

#[derive(Object, Debug)]
pub struct NotifyMeResult {
    /// `success`, `validation_error` or `duplicate_prospect`.
    pub pythonabot_notify_me: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<NotifyMeErrors>,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

/// Inserts a prospect for `email`; `None` when one already exists (also
/// when a concurrent request created it first).
async fn new_prospect(
    state: &AppState,
    conn: &mut PgConnection,
    email: &str,
    prospect_comment: Option<&str>,
    swa_comment: &str,
) -> Result<Option<i32>, sqlx::Error> {
    let unsubscribe_string = random_alphanumeric(20);
    let unsubscribe_token = signer(state).unsubscribe_token(&unsubscribe_string);
    prospects::insert(
        conn,
        &NewProspect {
            email,
            unsubscribe_string: &unsubscribe_string,
            unsubscribe_token: &unsubscribe_token,
            prospect_comment,
            swa_comment,
        },
    )
    .await
}

#[OpenApi(tag = "ApiTags::Contact")]
impl ContactApi {
    /// Stores a chat message, linked to the logged-in member, else to the
    /// member or prospect with that email (case-insensitive), else to a new
    /// prospect; the site owner is notified. Limited per client address.
    #[oai(path = "/user/put-chat-message", method = "post")]
    async fn put_chat_message(
        &self,
        req: &Request,
        jar: &CookieJar,
        form: Form<ChatForm>,
    ) -> Result<Json<ChatResult>, Failure<LimitedFormErrors>> {
        let state = &self.state;
        super::limit(
            state,
            req,
            "put-chat-message",
            None,
            state.config.rate_limits.put_chat_message,
        )
        .await?;
        let form = form.0;
        let name = field(&form.name);
        let email = field(&form.email_address);
        let message = field(&form.message);
        let errors = ChatErrors {
            name: validation::name(name, 30).into(),
            email_address: validation::email(email).into(),
            message: validation::chat_message(message).into(),
        };
        let reply = |word: &str, errors: Option<ChatErrors>| {
            Json(ChatResult {
                put_chat_message: word.to_owned(),
                errors,
                user_api_version: version(),
            })
        };
        if !(errors.name.is_valid() && errors.email_address.is_valid() && errors.message.is_valid())
        {
            return Ok(reply("validation_error", Some(errors)));
        }
        let member = match visitor::identify(&state.pool, &state.config, jar).await? {
            Visitor::Member(user) => user.member_id,
            Visitor::Anonymous { .. } => None,
        };
        let mut tx = state.pool.begin().await.map_err(AppError::from)?;
        let author = match member {
            Some(id) => ChatAuthor::Member(id),
            None => match users::member_by_email(&mut tx, email).await? {
                Some(id) => ChatAuthor::Member(id),
                None => {
                    let comment = "Captured from chat message submission";
                    let created = new_prospect(state, &mut tx, email, None, comment).await?;
                    match created {
                        Some(id) => ChatAuthor::Prospect(id),
                        None => match prospects::find_by_email(&mut tx, email).await? {
                            Some(id) => ChatAuthor::Prospect(id),
                            None => {
                                return Err(AppError::Internal(anyhow::anyhow!(
                                    "prospect insert conflicted but no prospect matches"
                                ))
                                .into());
                            }
                        },
                    }
                }
            },
        };
        prospects::insert_chat_message(&mut tx, author, name, email, message).await?;
        if let Some(owner) = &state.config.site_owner_email {
            let letter = account_emails::chat_notification(site(state), Utc::now());
            queue_mail(&mut tx, "chat-notification", vec![owner.clone()], letter).await?;
        }
        tx.commit().await.map_err(AppError::from)?;
        state.mailer.wake();
        Ok(reply("true", None))
    }

    /// Records interest in PythonABot as a prospect. Limited per client
    /// address.
    #[oai(path = "/user/pythonabot-notify-me", method = "post")]
    async fn pythonabot_notify_me(
        &self,
        req: &Request,
        form: Form<NotifyMeForm>,
    ) -> Result<Json<NotifyMeResult>, Failure<LimitedFormErrors>> {
        let state = &self.state;
        super::limit(
            state,
            req,
            "pythonabot-notify-me",
            None,
            state.config.rate_limits.pythonabot_notify_me,
        )
        .await?;
        let form = form.0;
        let email = field(&form.email_address);
        let how_excited = field(&form.how_excited);
        let errors = NotifyMeErrors {
            email_address: validation::email(email).into(),
            how_excited: validation::how_excited(how_excited).into(),
        };
        let reply = |word: &str, errors: Option<NotifyMeErrors>| {
            Json(NotifyMeResult {
                pythonabot_notify_me: word.to_owned(),
                errors,
                user_api_version: version(),
            })
        };
        if !(errors.email_address.is_valid() && errors.how_excited.is_valid()) {
            return Ok(reply("validation_error", Some(errors)));
        }
        let duplicate = || {
            reply(
                "duplicate_prospect",
                Some(NotifyMeErrors {
                    email_address: FieldResult::Invalid(vec![Problem {
                        kind: "duplicate".to_owned(),
                        description: "I already know about this email address. Please enter a \
                                      different email address."
                            .to_owned(),
                    }]),
                    how_excited: FieldResult::Valid(true),
                }),
            )
        };
        let mut tx = state.pool.begin().await.map_err(AppError::from)?;
        if prospects::find_by_email(&mut tx, email).await?.is_some() {
            return Ok(duplicate());
        }
        let comment = format!("{how_excited} on a scale of 1-5 for how excited they are");
        let swa =
            "This prospect would like to be notified when PythonABot is ready to be purchased.";
        if new_prospect(state, &mut tx, email, Some(&comment), swa)
            .await?
            .is_none()
        {
            return Ok(duplicate());
        }
        tx.commit().await.map_err(AppError::from)?;
        Ok(reply("success", None))
    }
}
