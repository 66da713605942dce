//! `/user/create-account`, `/user/verify-email-address` and
//! `/user/verify-email-address-response`.

use poem::Request;
use poem::web::Data;
use poem::web::cookie::CookieJar;
use poem_openapi::payload::{Form, Json};
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;

use super::{
    FieldResult, LimitedFormErrors, UserFormErrors, field, flag, hash_password,
    issue_login_cookies, now_secs, open_session, queue_mail, signer, site, version,
};
use crate::api::ApiTags;
use crate::api::failure::{Failure, ServerErrors};
use crate::app::AppState;
use crate::db::users::{self, CreateAccountError, NewAccount};
use crate::db::{prospects, terms};
use crate::domain::account_emails::{self, Person};
use crate::domain::signing::random_alphanumeric;
use crate::domain::tokens::TokenKind;
use crate::domain::validation::{self, UserAttributes};
use crate::error::AppError;
use crate::http::cookies::{self, Outgoing};
use crate::http::visitor::{self, Visitor};

pub struct RegistrationApi {
    state: AppState,
}

impl RegistrationApi {
    pub fn new(state: AppState) -> Self {
        RegistrationApi { state }
    }
}

#[derive(Object, Deserialize, Debug)]
pub struct CreateAccountForm {
    /// Letters, digits and spaces, up to 30 characters.
    pub firstname: Option<String>,
    /// Letters, digits and spaces, up to 150 characters.
    pub lastname: Option<String>,
    /// 6–150 characters of `A-Z a-z 0-9 _ -`, not taken.
    pub username: Option<String>,
    /// Up to 254 characters.
    pub email_address: Option<String>,
    /// 8–150 characters with a capital letter and one of `!@#$%^&*()~{}[]`.
    pub password: Option<String>,
    pub confirm_password: Option<String>,
    /// `true` subscribes to the newsletter.
    pub newsletter: Option<String>,
    /// `true` for a persistent session cookie.
    pub remember_me: Option<String>,
}

/// Every field's result; `email-address` keeps the legacy hyphen.
#[derive(Object, Debug)]
pub struct CreateAccountErrors {
    pub firstname: FieldResult,
    pub lastname: FieldResult,
    pub username: FieldResult,
    #[oai(rename = "email-address")]
    pub email_address: FieldResult,
    pub password: FieldResult,
}

#[derive(Object, Debug)]
pub struct CreateAccountResult {
    /// `"true"` (created and logged in) or `"false"` (see `errors`).
    pub create_account: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<CreateAccountErrors>,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

#[derive(Object, Debug)]
pub struct VerifyEmailAddressResult {
    /// `verification_email_sent` or `user_not_authenticated`.
    pub verify_email_address: String,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

#[derive(Object, Deserialize, Debug)]
pub struct VerificationCodeForm {
    /// The signed code from the emailed link (`value:timestamp:signature`).
    pub email_verification_code: Option<String>,
}

#[derive(Object, Debug)]
pub struct VerifyResponseResult {
    /// `success`, `code-doesnt-match` (not the latest code, or already used),
    /// `signature-invalid` (altered or expired) or `user_not_authenticated`.
    pub verify_email_address_response: String,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

impl RegistrationApi {
    async fn verify_email_address_impl(
        &self,
        jar: &CookieJar,
    ) -> Result<Json<VerifyEmailAddressResult>, AppError> {
        let state = &self.state;
        let reply = |word: &str| {
            Json(VerifyEmailAddressResult {
                verify_email_address: word.to_owned(),
                user_api_version: version(),
            })
        };
        let Visitor::Member(user) = visitor::identify(&state.pool, &state.config, jar).await?
        else {
            return Ok(reply("user_not_authenticated"));
        };
        let mut tx = state.pool.begin().await?;
        let Some(account) = users::account(&mut tx, user.user_id, true).await? else {
            return Ok(reply("user_not_authenticated"));
        };
        let value = random_alphanumeric(20);
        let token = signer(state).sign_token(TokenKind::EmailVerification, &value, now_secs());
        users::set_verification(&mut tx, account.member_id, &value, &token).await?;
        let who = Person {
            first_name: &account.first_name,
            last_name: &account.last_name,
            username: &account.username,
        };
        let letter = account_emails::verification_request(site(state), who, &token);
        queue_mail(
            &mut tx,
            "email-verification",
            vec![account.email.clone()],
            letter,
        )
        .await?;
        tx.commit().await?;
        state.mailer.wake();
        Ok(reply("verification_email_sent"))
    }
}

#[OpenApi(tag = "ApiTags::Accounts")]
impl RegistrationApi {
    /// Registers a member, agrees to the current terms of use, logs in
    /// (adopting the anonymous cart), converts a prospect with the same
    /// email and mails a verification link — all in one transaction. Limited
    /// per client address.
    #[oai(path = "/user/create-account", method = "post")]
    async fn create_account(
        &self,
        req: &Request,
        jar: &CookieJar,
        outgoing: Data<&Outgoing>,
        form: Form<CreateAccountForm>,
    ) -> Result<Json<CreateAccountResult>, Failure<LimitedFormErrors>> {
        let state = &self.state;
        super::limit(
            state,
            req,
            "create-account",
            None,
            state.config.rate_limits.create_account,
        )
        .await?;
        let form = form.0;
        let first_name = field(&form.firstname);
        let last_name = field(&form.lastname);
        let username = field(&form.username);
        let email = field(&form.email_address);
        let password = field(&form.password);

        let mut errors = CreateAccountErrors {
            firstname: validation::name(first_name, 30).into(),
            lastname: validation::name(last_name, 150).into(),
            username: username_check(state, username).await?,
            email_address: validation::email(email).into(),
            password: validation::password(password, field(&form.confirm_password)).into(),
        };
        let reply = |errors: Option<CreateAccountErrors>| {
            Json(CreateAccountResult {
                create_account: if errors.is_some() { "false" } else { "true" }.to_owned(),
                errors,
                user_api_version: version(),
            })
        };
        let all_valid = [
            &errors.firstname,
            &errors.lastname,
            &errors.username,
            &errors.email_address,
            &errors.password,
        ]
        .iter()
        .all(|r| r.is_valid());
        if !all_valid {
            return Ok(reply(Some(errors)));
        }
        let attributes = UserAttributes {
            username,
            first_name,
            last_name,
            email,
        };
        if let Err(problems) = validation::django_password_validators(password, &attributes) {
            errors.password = FieldResult::problems(&problems);
            return Ok(reply(Some(errors)));
        }

        let password_hash = hash_password(password).await?;
        let signer = signer(state);
        let unsubscribe_string = random_alphanumeric(20);
        let verification_string = random_alphanumeric(20);
        let verification_token = signer.sign_token(
            TokenKind::EmailVerification,
            &verification_string,
            now_secs(),
        );
        let new = NewAccount {
            username,
            password_hash: &password_hash,
            first_name,
            last_name,
            email,
            newsletter: flag(&form.newsletter),
            unsubscribe_string: &unsubscribe_string,
            unsubscribe_token: &signer.unsubscribe_token(&unsubscribe_string),
            verification_string: &verification_string,
            verification_token: &verification_token,
        };
        let persistent = flag(&form.remember_me);
        let visitor = visitor::identify(&state.pool, &state.config, jar).await?;
        let (old_session, anonymous_cart) = match &visitor {
            Visitor::Member(u) => (Some(u.session_key.as_str()), None),
            Visitor::Anonymous { cart_token } => (None, cart_token.as_deref()),
        };

        let mut tx = state.pool.begin().await.map_err(AppError::from)?;
        let (user_id, member_id) = match users::create_account(&mut tx, &new).await {
            Ok(ids) => ids,
            Err(CreateAccountError::UsernameTaken) => {
                errors.username = FieldResult::problems(&[validation::username_unavailable()]);
                return Ok(reply(Some(errors)));
            }
            Err(CreateAccountError::Database(e)) => return Err(AppError::from(e).into()),
        };
        match terms::current(&mut tx).await? {
            Some(current) => {
                terms::agree(&mut tx, member_id, current.id).await?;
            }
            None => tracing::warn!("no terms-of-use version exists; registration records none"),
        }
        let key = open_session(
            &mut tx,
            user_id,
            Some(member_id),
            persistent,
            old_session,
            anonymous_cart,
        )
        .await?;
        prospects::convert_to_member(&mut tx, email, user_id, member_id).await?;
        let who = Person {
            first_name,
            last_name,
            username,
        };
        let letter = account_emails::welcome(site(state), who, &verification_token);
        queue_mail(&mut tx, "welcome", vec![email.to_owned()], letter).await?;
        tx.commit().await.map_err(AppError::from)?;
        state.mailer.wake();

        issue_login_cookies(state, &outgoing, &key, persistent);
        if anonymous_cart.is_some() {
            // The cart now belongs to the member; the cookie names nothing.
            outgoing.set(cookies::removal(&state.config, cookies::ANONYMOUS_CART));
        }
        Ok(reply(None))
    }

    /// Mails a new verification link (the storefront calls this with GET);
    /// earlier links stop matching.
    #[oai(path = "/user/verify-email-address", method = "get")]
    async fn verify_email_address(
        &self,
        jar: &CookieJar,
    ) -> Result<Json<VerifyEmailAddressResult>, Failure<ServerErrors>> {
        Ok(self.verify_email_address_impl(jar).await?)
    }

    /// The same as `GET /user/verify-email-address`, CSRF-checked.
    #[oai(path = "/user/verify-email-address", method = "post")]
    async fn verify_email_address_post(
        &self,
        jar: &CookieJar,
    ) -> Result<Json<VerifyEmailAddressResult>, Failure<UserFormErrors>> {
        Ok(self.verify_email_address_impl(jar).await?)
    }

    /// Verifies the logged-in member's email with the code from the link
    /// (valid 24 hours, single use).
    #[oai(path = "/user/verify-email-address-response", method = "post")]
    async fn verify_email_address_response(
        &self,
        jar: &CookieJar,
        form: Form<VerificationCodeForm>,
    ) -> Result<Json<VerifyResponseResult>, Failure<UserFormErrors>> {
        let state = &self.state;
        let reply = |word: &str| {
            Json(VerifyResponseResult {
                verify_email_address_response: word.to_owned(),
                user_api_version: version(),
            })
        };
        let Visitor::Member(user) = visitor::identify(&state.pool, &state.config, jar).await?
        else {
            return Ok(reply("user_not_authenticated"));
        };
        let Some(member_id) = user.member_id else {
            return Ok(reply("user_not_authenticated"));
        };
        let code = field(&form.0.email_verification_code);
        let Ok(value) = signer(state).unsign_token(TokenKind::EmailVerification, code, now_secs())
        else {
            return Ok(reply("signature-invalid"));
        };
        let mut conn = state.pool.acquire().await.map_err(AppError::from)?;
        if users::verify_email(&mut conn, member_id, &value).await? {
            Ok(reply("success"))
        } else {
            Ok(reply("code-doesnt-match"))
        }
    }
}

/// The username rules, then availability (exact, case-sensitive match).
async fn username_check(state: &AppState, username: &str) -> Result<FieldResult, AppError> {
    let mut result: FieldResult = validation::username_format(username).into();
    if result.is_valid() && users::username_exists(&state.pool, username).await? {
        result = FieldResult::problems(&[validation::username_unavailable()]);
    }
    Ok(result)
}
