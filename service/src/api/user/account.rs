//! The member's own account: `/user/account-content`,
//! `/user/update-my-information`, `/user/update-communication-preferences`
//! and `/user/change-my-password`.

use poem::web::Data;
use poem::web::cookie::CookieJar;
use poem_openapi::payload::{Form, Json};
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;

use super::{
    FieldResult, Problem, UserFormErrors, field, flag, hash_password, issue_login_cookies,
    now_secs, open_session, queue_mail, signer, site, verify_password, version,
};
use crate::api::ApiTags;
use crate::api::failure::{Failure, ServerErrors};
use crate::api::wire::{KeyedMap, django_datetime};
use crate::app::AppState;
use crate::db::prospects::{self, Subscriber, UnsubscribeReasons};
use crate::db::sessions::SessionUser;
use crate::db::{sessions, terms, users};
use crate::domain::account_emails::{self, Person};
use crate::domain::money::Cents;
use crate::domain::signing::random_alphanumeric;
use crate::domain::tokens::TokenKind;
use crate::domain::validation::{self, UserAttributes};
use crate::error::AppError;
use crate::http::cookies::Outgoing;
use crate::http::visitor::{self, Visitor};

pub struct AccountApi {
    state: AppState,
}

impl AccountApi {
    pub fn new(state: AppState) -> Self {
        AccountApi { state }
    }
}

#[derive(Object, Debug)]
pub struct PersonalData {
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub newsletter_subscriber: bool,
    pub email_unsubscribed: bool,
    pub joined_date_time: String,
    pub last_login_date_time: Option<String>,
    /// The latest terms-of-use agreement, or `null`.
    pub terms_of_use_agreed_date_time: Option<String>,
}

#[derive(Object, Debug)]
pub struct EmailData {
    pub email_address: String,
    pub email_verified: bool,
    /// An unexpired verification link is outstanding.
    pub verification_request_sent_within_24_hours: bool,
}

#[derive(Object, Debug)]
pub struct OrderSummaryJson {
    pub order_id: i32,
    pub identifier: Option<String>,
    pub order_date_time: String,
    /// e.g. `"5.00"`.
    pub sales_tax_amt: String,
    /// e.g. `"55.50"`.
    pub order_total: String,
}

#[derive(Object, Debug)]
pub struct AccountContent {
    /// `"true"` or `"false"`; the other parts are present only when `"true"`.
    pub authenticated: String,
    #[oai(skip_serializing_if_is_none)]
    pub personal_data: Option<PersonalData>,
    #[oai(skip_serializing_if_is_none)]
    pub email_data: Option<EmailData>,
    /// Orders keyed `"1"`, `"2"`, … newest first.
    #[oai(skip_serializing_if_is_none)]
    pub orders_data: Option<KeyedMap<OrderSummaryJson>>,
}

#[derive(Object, Debug)]
pub struct AccountContentResult {
    pub account_content: AccountContent,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

#[derive(Object, Deserialize, Debug)]
pub struct MyInformationForm {
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub email_address: Option<String>,
}

#[derive(Object, Debug)]
pub struct MyInformationErrors {
    pub firstname: FieldResult,
    pub lastname: FieldResult,
    #[oai(rename = "email-address")]
    pub email_address: FieldResult,
}

#[derive(Object, Debug)]
pub struct MyInformationResult {
    /// `success`, `errors` or `user_not_authenticated`.
    pub update_my_information: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<MyInformationErrors>,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

#[derive(Object, Deserialize, Debug)]
pub struct PreferencesForm {
    pub newsletter: Option<String>,
    pub email_unsubscribe: Option<String>,
    pub no_longer_want_to_receive: Option<String>,
    pub never_signed_up: Option<String>,
    pub inappropriate: Option<String>,
    pub spam: Option<String>,
    pub other: Option<String>,
}

#[derive(Object, Debug)]
pub struct PreferencesErrors {
    #[oai(skip_serializing_if_is_none)]
    pub data_missing: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub invalid_data: Option<String>,
}

#[derive(Object, Debug)]
pub struct PreferencesResult {
    /// `success`, `errors` or `user_not_authenticated`.
    pub update_communication_preferences: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<PreferencesErrors>,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

#[derive(Object, Deserialize, Debug)]
pub struct ChangePasswordForm {
    pub current_password: Option<String>,
    pub new_password: Option<String>,
    pub confirm_new_password: Option<String>,
}

#[derive(Object, Debug)]
pub struct ChangePasswordErrors {
    #[oai(rename = "current-password", skip_serializing_if_is_none)]
    pub current_password: Option<Vec<Problem>>,
    #[oai(skip_serializing_if_is_none)]
    pub password: Option<FieldResult>,
}

#[derive(Object, Debug)]
pub struct ChangePasswordResult {
    /// `success`, `errors` or `user_not_authenticated`.
    pub change_my_password: String,
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<ChangePasswordErrors>,
    #[oai(rename = "user-api-version")]
    pub user_api_version: String,
}

/// Longest `other` reason kept (the column's size).
pub(crate) const OTHER_REASON_MAX: usize = 5000;

/// The reason flags and text of an unsubscribe form.
pub(crate) fn reasons(
    no_longer: &Option<String>,
    never_signed_up: &Option<String>,
    inappropriate: &Option<String>,
    spam: &Option<String>,
    other: &Option<String>,
) -> UnsubscribeReasons {
    UnsubscribeReasons {
        no_longer_want_to_receive: flag(no_longer),
        never_signed_up: flag(never_signed_up),
        inappropriate: flag(inappropriate),
        spam: flag(spam),
        other: field(other).chars().take(OTHER_REASON_MAX).collect(),
    }
}

impl AccountApi {
    /// The logged-in member, or `None` for anyone else.
    async fn member(&self, jar: &CookieJar) -> Result<Option<(SessionUser, i32)>, AppError> {
        Ok(
            match visitor::identify(&self.state.pool, &self.state.config, jar).await? {
                Visitor::Member(user) => user.member_id.map(|m| (user, m)),
                Visitor::Anonymous { .. } => None,
            },
        )
    }
}

#[OpenApi(tag = "ApiTags::Accounts")]
impl AccountApi {
    /// The account page: personal data, email state and order history.
    #[oai(path = "/user/account-content", method = "get")]
    async fn account_content(
        &self,
        jar: &CookieJar,
    ) -> Result<Json<AccountContentResult>, Failure<ServerErrors>> {
        let state = &self.state;
        let anonymous = || {
            Json(AccountContentResult {
                account_content: AccountContent {
                    authenticated: "false".to_owned(),
                    personal_data: None,
                    email_data: None,
                    orders_data: None,
                },
                user_api_version: version(),
            })
        };
        let Some((user, _)) = self.member(jar).await? else {
            return Ok(anonymous());
        };
        let mut conn = state.pool.acquire().await.map_err(AppError::from)?;
        let Some(account) = users::account(&mut conn, user.user_id, false).await? else {
            return Ok(anonymous());
        };
        drop(conn);
        let agreed = terms::latest_agreement(&state.pool, account.member_id).await?;
        let orders = users::orders(&state.pool, account.member_id).await?;
        let pending_verification = !account.email_verified
            && account
                .email_verification_string_signed
                .as_deref()
                .is_some_and(|token| {
                    signer(state)
                        .unsign_token(TokenKind::EmailVerification, token, now_secs())
                        .is_ok()
                });
        let orders_data = orders
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                (
                    i + 1,
                    OrderSummaryJson {
                        order_id: o.order_id,
                        identifier: o.identifier,
                        order_date_time: django_datetime(o.order_date_time),
                        sales_tax_amt: Cents(o.sales_tax_cents).to_string(),
                        order_total: Cents(o.order_total_cents).to_string(),
                    },
                )
            })
            .collect();
        Ok(Json(AccountContentResult {
            account_content: AccountContent {
                authenticated: "true".to_owned(),
                personal_data: Some(PersonalData {
                    username: account.username,
                    first_name: account.first_name,
                    last_name: account.last_name,
                    newsletter_subscriber: account.newsletter_subscriber,
                    email_unsubscribed: account.email_unsubscribed,
                    joined_date_time: django_datetime(account.date_joined),
                    last_login_date_time: account.last_login.map(django_datetime),
                    terms_of_use_agreed_date_time: agreed.map(django_datetime),
                }),
                email_data: Some(EmailData {
                    email_address: account.email,
                    email_verified: account.email_verified,
                    verification_request_sent_within_24_hours: pending_verification,
                }),
                orders_data: Some(orders_data),
            },
            user_api_version: version(),
        }))
    }

    /// Changes names and email. A changed email is unverified until the
    /// link mailed to the new address (with a copy to the old one) is used.
    #[oai(path = "/user/update-my-information", method = "post")]
    async fn update_my_information(
        &self,
        jar: &CookieJar,
        form: Form<MyInformationForm>,
    ) -> Result<Json<MyInformationResult>, Failure<UserFormErrors>> {
        let state = &self.state;
        let reply = |word: &str, errors: Option<MyInformationErrors>| {
            Json(MyInformationResult {
                update_my_information: word.to_owned(),
                errors,
                user_api_version: version(),
            })
        };
        let Some((user, _)) = self.member(jar).await? else {
            return Ok(reply("user_not_authenticated", None));
        };
        let form = form.0;
        let first_name = field(&form.firstname);
        let last_name = field(&form.lastname);
        let email = field(&form.email_address);
        let errors = MyInformationErrors {
            firstname: validation::name(first_name, 30).into(),
            lastname: validation::name(last_name, 150).into(),
            email_address: validation::email(email).into(),
        };
        if !(errors.firstname.is_valid()
            && errors.lastname.is_valid()
            && errors.email_address.is_valid())
        {
            return Ok(reply("errors", Some(errors)));
        }
        let mut tx = state.pool.begin().await.map_err(AppError::from)?;
        let Some(account) = users::account(&mut tx, user.user_id, true).await? else {
            return Ok(reply("user_not_authenticated", None));
        };
        users::update_names_and_email(&mut tx, user.user_id, first_name, last_name, email).await?;
        if account.email != email {
            let value = random_alphanumeric(20);
            let token = signer(state).sign_token(TokenKind::EmailVerification, &value, now_secs());
            users::require_reverification(&mut tx, account.member_id, &value, &token).await?;
            let who = Person {
                first_name,
                last_name,
                username: &account.username,
            };
            let letter =
                account_emails::email_changed(site(state), who, &account.email, email, &token);
            let to = vec![email.to_owned(), account.email.clone()];
            queue_mail(&mut tx, "email-changed", to, letter).await?;
        }
        tx.commit().await.map_err(AppError::from)?;
        state.mailer.wake();
        Ok(reply("success", None))
    }

    /// Newsletter and marketing-email choices, with optional reasons for
    /// unsubscribing. A change of the unsubscribe flag issues a new
    /// unsubscribe token.
    #[oai(path = "/user/update-communication-preferences", method = "post")]
    async fn update_communication_preferences(
        &self,
        jar: &CookieJar,
        form: Form<PreferencesForm>,
    ) -> Result<Json<PreferencesResult>, Failure<UserFormErrors>> {
        let state = &self.state;
        let reply = |word: &str, errors: Option<PreferencesErrors>| {
            Json(PreferencesResult {
                update_communication_preferences: word.to_owned(),
                errors,
                user_api_version: version(),
            })
        };
        let Some((user, member_id)) = self.member(jar).await? else {
            return Ok(reply("user_not_authenticated", None));
        };
        let form = form.0;
        if form.newsletter.is_none() || form.email_unsubscribe.is_none() {
            let errors = PreferencesErrors {
                data_missing: Some("Required data was missing from the request.".to_owned()),
                invalid_data: None,
            };
            return Ok(reply("errors", Some(errors)));
        }
        let newsletter = flag(&form.newsletter);
        let unsubscribe = flag(&form.email_unsubscribe);
        if newsletter && unsubscribe {
            let errors = PreferencesErrors {
                data_missing: None,
                invalid_data: Some("The request included an invalid data combination.".to_owned()),
            };
            return Ok(reply("errors", Some(errors)));
        }
        let why = reasons(
            &form.no_longer_want_to_receive,
            &form.never_signed_up,
            &form.inappropriate,
            &form.spam,
            &form.other,
        );
        let mut tx = state.pool.begin().await.map_err(AppError::from)?;
        let Some(account) = users::account(&mut tx, user.user_id, true).await? else {
            return Ok(reply("user_not_authenticated", None));
        };
        if account.email_unsubscribed != unsubscribe {
            let signer = signer(state);
            prospects::rotate_unsubscribe(&mut tx, Subscriber::Member, member_id, |s| {
                signer.unsubscribe_token(s)
            })
            .await?;
        }
        users::set_preferences(&mut tx, member_id, newsletter, unsubscribe).await?;
        if !why.is_empty() {
            prospects::insert_reasons(&mut tx, Subscriber::Member, member_id, &why).await?;
        }
        tx.commit().await.map_err(AppError::from)?;
        Ok(reply("success", None))
    }

    /// Changes the password after checking the current one. Every other
    /// session of the account ends; this one continues under a new key.
    #[oai(path = "/user/change-my-password", method = "post")]
    async fn change_my_password(
        &self,
        jar: &CookieJar,
        outgoing: Data<&Outgoing>,
        form: Form<ChangePasswordForm>,
    ) -> Result<Json<ChangePasswordResult>, Failure<UserFormErrors>> {
        let state = &self.state;
        let reply = |word: &str, errors: Option<ChangePasswordErrors>| {
            Json(ChangePasswordResult {
                change_my_password: word.to_owned(),
                errors,
                user_api_version: version(),
            })
        };
        let Some((user, member_id)) = self.member(jar).await? else {
            return Ok(reply("user_not_authenticated", None));
        };
        let form = form.0;
        let current = field(&form.current_password);
        let new_password = field(&form.new_password);
        let mut conn = state.pool.acquire().await.map_err(AppError::from)?;
        let account = users::account(&mut conn, user.user_id, false).await?;
        let credentials = users::credentials_by_id(&mut conn, user.user_id).await?;
        drop(conn);
        let (Some(account), Some(credentials)) = (account, credentials) else {
            return Ok(reply("user_not_authenticated", None));
        };
        let stored = credentials.password_hash.clone();
        if !verify_password(current, Some(stored)).await?.is_valid() {
            let errors = ChangePasswordErrors {
                current_password: Some(vec![Problem {
                    kind: "current_password_invalid".to_owned(),
                    description: "The current password you provided is incorrect.".to_owned(),
                }]),
                password: None,
            };
            return Ok(reply("errors", Some(errors)));
        }
        if new_password == current {
            let errors = ChangePasswordErrors {
                current_password: None,
                password: Some(FieldResult::Invalid(vec![Problem {
                    kind: "new_password_same_as_current_password".to_owned(),
                    description: "The new password cannot be the same as the old password."
                        .to_owned(),
                }])),
            };
            return Ok(reply("errors", Some(errors)));
        }
        let attributes = UserAttributes {
            username: &account.username,
            first_name: &account.first_name,
            last_name: &account.last_name,
            email: &account.email,
        };
        let check = validation::password(new_password, field(&form.confirm_new_password))
            .and_then(|()| validation::django_password_validators(new_password, &attributes));
        if let Err(problems) = check {
            let errors = ChangePasswordErrors {
                current_password: None,
                password: Some(FieldResult::problems(&problems)),
            };
            return Ok(reply("errors", Some(errors)));
        }

        let hash = hash_password(new_password).await?;
        let mut tx = state.pool.begin().await.map_err(AppError::from)?;
        users::set_password_hash(&mut tx, user.user_id, &hash).await?;
        sessions::delete_all_for_user(&mut tx, user.user_id).await?;
        let key = open_session(
            &mut tx,
            user.user_id,
            Some(member_id),
            user.persistent,
            None,
            None,
        )
        .await?;
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
        issue_login_cookies(state, &outgoing, &key, user.persistent);
        Ok(reply("success", None))
    }
}
