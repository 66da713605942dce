//! `/user/reset-password`, `/user/set-new-password` and
//! `/user/forgot-username`. None of them reveals whether a username or an
//! email address exists: the answers depend only on the request.

use poem::Request;
use poem_openapi::payload::{Form, Json};
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;

use super::{
    FieldResult, LimitedFormErrors, field, hash_password, now_secs, queue_mail, signer, site,
    version,
};
use crate::api::ApiTags;
use crate::api::failure::Failure;
use crate::app::AppState;
use crate::db::{sessions, users};
use crate::domain::account_emails::{self, Person};
use crate::domain::signing::random_alphanumeric;
use crate::domain::tokens::TokenKind;
use crate::domain::validation::{self, UserAttributes};
use crate::error::AppError;

pub struct RecoveryApi {
    state: AppState,
}

impl RecoveryApi {
    pub fn new(state: AppState) -> Self {
        RecoveryApi { state }
    }
}

#[derive(Object, Deserialize, Debug)]
pub struct ResetPasswordForm {
    pub username: Option<String>,
    pub email_address: Option<String>,
}

#[derive(Object, Debug)]
pub struct ResetPasswordResult {
    /// Always `success`; a link is mailed only when the username exists and
    /// the email matches it (case-insensitively).
    pub reset_password: String,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

#[derive(Object, Deserialize, Debug)]
pub struct SetNewPasswordForm {
    pub username: Option<String>,
    /// The signed code from the emailed link.
    pub password_reset_code: Option<String>,
    pub new_password: Option<String>,
    pub confirm_new_password: Option<String>,
}

#[derive(Object, Debug)]
pub struct NewPasswordErrors {
    #[oai(rename = "new-password")]
    pub new_password: FieldResult,
}

#[derive(Object, Debug)]
pub struct SetNewPasswordResult {
    /// `success`; `signature-invalid` (altered or expired code);
    /// `code-doesnt-match` (not this username's latest code, or already used);
    /// `password-error` (see `errors`; the code stays usable).
    pub set_new_password: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<NewPasswordErrors>,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

#[derive(Object, Deserialize, Debug)]
pub struct ForgotUsernameForm {
    pub email_address: Option<String>,
}

#[derive(Object, Debug)]
pub struct ForgotUsernameResult {
    /// Always `success`; each account with this email gets its username.
    pub forgot_username: String,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

#[OpenApi(tag = "ApiTags::Accounts")]
impl RecoveryApi {
    /// Mails a single-use password-reset link (valid one hour) when the
    /// username exists and the email is its address. Limited per username.
    #[oai(path = "/user/reset-password", method = "post")]
    async fn reset_password(
        &self,
        req: &Request,
        form: Form<ResetPasswordForm>,
    ) -> Result<Json<ResetPasswordResult>, Failure<LimitedFormErrors>> {
        let state = &self.state;
        let form = form.0;
        let username = field(&form.username);
        super::limit(
            state,
            req,
            "reset-password",
            Some(username),
            state.config.rate_limits.reset_password,
        )
        .await?;
        let email = field(&form.email_address);
        let reply = Json(ResetPasswordResult {
            reset_password: "success".to_owned(),
            user_api_version: version(),
        });
        if username.is_empty() || email.is_empty() {
            return Ok(reply);
        }
        let mut tx = state.pool.begin().await.map_err(AppError::from)?;
        let Some(user) = users::credentials_by_username(&mut tx, username).await? else {
            return Ok(reply);
        };
        if !user.is_active {
            return Ok(reply);
        }
        let Some(account) = users::account(&mut tx, user.user_id, true).await? else {
            return Ok(reply);
        };
        if account.email.to_lowercase() != email.to_lowercase() {
            return Ok(reply);
        }
        let value = random_alphanumeric(20);
        let token = signer(state).sign_token(TokenKind::PasswordReset, &value, now_secs());
        users::set_reset(&mut tx, account.member_id, &value, &token).await?;
        let who = Person {
            first_name: &account.first_name,
            last_name: &account.last_name,
            username: &account.username,
        };
        let letter = account_emails::password_reset(site(state), who, &token);
        queue_mail(
            &mut tx,
            "password-reset",
            vec![account.email.clone()],
            letter,
        )
        .await?;
        tx.commit().await.map_err(AppError::from)?;
        state.mailer.wake();
        Ok(reply)
    }

    /// Sets a new password with the code from the reset email. The code works
    /// once; every session of the account ends; nobody is logged in.
    #[oai(path = "/user/set-new-password", method = "post")]
    async fn set_new_password(
        &self,
        req: &Request,
        form: Form<SetNewPasswordForm>,
    ) -> Result<Json<SetNewPasswordResult>, Failure<LimitedFormErrors>> {
        let state = &self.state;
        super::limit(
            state,
            req,
            "set-new-password",
            None,
            state.config.rate_limits.set_new_password,
        )
        .await?;
        let form = form.0;
        let reply = |word: &str, errors: Option<NewPasswordErrors>| {
            Json(SetNewPasswordResult {
                set_new_password: word.to_owned(),
                errors,
                user_api_version: version(),
            })
        };
        let code = field(&form.password_reset_code);
        let Ok(value) = signer(state).unsign_token(TokenKind::PasswordReset, code, now_secs())
        else {
            return Ok(reply("signature-invalid", None));
        };
        let username = field(&form.username);
        let mut conn = state.pool.acquire().await.map_err(AppError::from)?;
        let account = match users::credentials_by_username(&mut conn, username).await? {
            Some(user) if user.is_active => users::account(&mut conn, user.user_id, false).await?,
            _ => None,
        };
        drop(conn);
        // An unknown username answers exactly like a code that is not its own.
        let Some(account) =
            account.filter(|a| a.reset_password_string.as_deref() == Some(value.as_str()))
        else {
            return Ok(reply("code-doesnt-match", None));
        };

        let new_password = field(&form.new_password);
        let attributes = UserAttributes {
            username: &account.username,
            first_name: &account.first_name,
            last_name: &account.last_name,
            email: &account.email,
        };
        let check = validation::password(new_password, field(&form.confirm_new_password))
            .and_then(|()| validation::django_password_validators(new_password, &attributes));
        if let Err(problems) = check {
            let errors = NewPasswordErrors {
                new_password: FieldResult::problems(&problems),
            };
            return Ok(reply("password-error", Some(errors)));
        }

        let hash = hash_password(new_password).await?;
        let mut tx = state.pool.begin().await.map_err(AppError::from)?;
        // Consuming the code in the same transaction makes it single-use
        // even when two requests race with it.
        if !users::consume_reset(&mut tx, account.member_id, &value).await? {
            return Ok(reply("code-doesnt-match", None));
        }
        users::set_password_hash(&mut tx, account.user_id, &hash).await?;
        sessions::delete_all_for_user(&mut tx, account.user_id).await?;
        let who = Person {
            first_name: &account.first_name,
            last_name: &account.last_name,
            username: &account.username,
        };
        let letter = account_emails::password_changed(site(state), who);
        queue_mail(
            &mut tx,
            "password-changed",
            vec![account.email.clone()],
            letter,
        )
        .await?;
        tx.commit().await.map_err(AppError::from)?;
        state.mailer.wake();
        Ok(reply("success", None))
    }

    /// Mails each account registered with this email (case-insensitive) its
    /// username. Limited per client address.
    #[oai(path = "/user/forgot-username", method = "post")]
    async fn forgot_username(
        &self,
        req: &Request,
        form: Form<ForgotUsernameForm>,
    ) -> Result<Json<ForgotUsernameResult>, Failure<LimitedFormErrors>> {
        let state = &self.state;
        super::limit(
            state,
            req,
            "forgot-username",
            None,
            state.config.rate_limits.forgot_username,
        )
        .await?;
        let email = field(&form.0.email_address).trim().to_owned();
        let reply = Json(ForgotUsernameResult {
            forgot_username: "success".to_owned(),
            user_api_version: version(),
        });
        if validation::email(&email).is_err() {
            return Ok(reply);
        }
        let mut tx = state.pool.begin().await.map_err(AppError::from)?;
        let accounts = users::accounts_by_email(&mut tx, &email).await?;
        if accounts.is_empty() {
            return Ok(reply);
        }
        for (_, username, first_name, last_name, address) in &accounts {
            let who = Person {
                first_name,
                last_name,
                username,
            };
            let letter = account_emails::forgot_username(site(state), who, address);
            queue_mail(&mut tx, "forgot-username", vec![address.clone()], letter).await?;
        }
        tx.commit().await.map_err(AppError::from)?;
        state.mailer.wake();
        Ok(reply)
    }
}
