//! Form bodies (`application/x-www-form-urlencoded`): the service's own
//! request structs decoded by poem-openapi's `Form<T>` extractor, the path
//! every `/user/*` and checkout form POST takes, then the create-account
//! validators that read the decoded strings.
//!
//! Properties:
//! - decoding never panics, and fails only when a field of the struct is
//!   sent more than once;
//! - each decoded field is the value of the one pair with its name (unknown
//!   names are ignored, missing ones are `None`);
//! - a decoded form re-encodes and decodes to the same form;
//! - the create-account validators accept or refuse any decoded strings
//!   without panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;
use poem::Request;
use poem_openapi::payload::{Form, ParsePayload};
use serde::de::DeserializeOwned;
use startupwebapp::api::checkout::{AnonymousEmailForm, CreateSessionForm};
use startupwebapp::api::user::login::LoginForm;
use startupwebapp::api::user::registration::{CreateAccountForm, VerificationCodeForm};
use startupwebapp::domain::validation::{self, UserAttributes};
use startupwebapp_fuzz::block_on;

/// A form struct's fields by name, to compare and re-encode it.
trait Fields {
    const NAMES: &'static [&'static str];
    fn fields(&self) -> Vec<(&'static str, Option<&str>)>;
}

macro_rules! fields {
    ($form:ty { $($field:ident),+ $(,)? }) => {
        impl Fields for $form {
            const NAMES: &'static [&'static str] = &[$(stringify!($field)),+];
            fn fields(&self) -> Vec<(&'static str, Option<&str>)> {
                vec![$((stringify!($field), self.$field.as_deref())),+]
            }
        }
    };
}

fields!(LoginForm {
    username,
    password,
    remember_me
});
fields!(CreateAccountForm {
    firstname,
    lastname,
    username,
    email_address,
    password,
    confirm_password,
    newsletter,
    remember_me,
});
fields!(VerificationCodeForm {
    email_verification_code
});
fields!(CreateSessionForm {
    agree_to_terms_of_sale,
    newsletter,
    save_defaults,
    anonymous_email_address,
});
fields!(AnonymousEmailForm {
    anonymous_email_address
});

/// The body through poem-openapi's `Form<T>`, as an operation receives it.
fn decode<T: DeserializeOwned + Send>(body: &[u8]) -> poem::Result<T> {
    let (request, mut body) = Request::builder()
        .content_type("application/x-www-form-urlencoded")
        .body(body.to_vec())
        .split();
    block_on(Form::<T>::from_request(&request, &mut body)).map(|form| form.0)
}

/// Checks the properties for one form type; returns the decoded form.
fn check<T: DeserializeOwned + Send + Fields>(
    body: &[u8],
    pairs: &[(String, String)],
) -> Option<T> {
    let decoded = decode::<T>(body);
    let form = match decoded {
        Ok(form) => form,
        Err(e) => {
            let repeated = T::NAMES
                .iter()
                .any(|name| pairs.iter().filter(|(k, _)| k == name).count() > 1);
            assert!(repeated, "refused without a repeated field: {e}");
            return None;
        }
    };
    let fields = form.fields();
    for (name, value) in &fields {
        let sent: Vec<&str> = pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        assert!(
            sent.len() <= 1,
            "{name} sent {} times was accepted",
            sent.len()
        );
        assert_eq!(*value, sent.first().copied(), "field {name}");
    }
    let present: Vec<(&str, &str)> = fields
        .iter()
        .filter_map(|(name, value)| value.map(|v| (*name, v)))
        .collect();
    let encoded = serde_urlencoded::to_string(&present)
        .unwrap_or_else(|e| panic!("cannot re-encode {present:?}: {e}"));
    let again = decode::<T>(encoded.as_bytes())
        .unwrap_or_else(|e| panic!("re-encoded form {encoded:?} does not decode: {e}"));
    assert_eq!(again.fields(), fields, "re-encoded as {encoded:?}");
    Some(form)
}

/// What `create_account` runs on the decoded strings before any I/O.
fn validate(form: &CreateAccountForm) {
    let field = |v: &Option<String>| v.clone().unwrap_or_default();
    let (first, last, user, email, password, confirm) = (
        field(&form.firstname),
        field(&form.lastname),
        field(&form.username),
        field(&form.email_address),
        field(&form.password),
        field(&form.confirm_password),
    );
    let _ = validation::name(&first, 30);
    let _ = validation::name(&last, 150);
    let _ = validation::username_format(&user);
    let _ = validation::email(&email);
    if validation::password(&password, &confirm).is_ok() {
        let attributes = UserAttributes {
            username: &user,
            first_name: &first,
            last_name: &last,
            email: &email,
        };
        let _ = validation::django_password_validators(&password, &attributes);
    }
}

fuzz_target!(|body: &[u8]| {
    // The pairs as sent; parsing them as a list never fails (bad UTF-8 and
    // bad escapes are decoded lossily).
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .unwrap_or_else(|e| panic!("the pair list does not parse: {e}"));
    check::<LoginForm>(body, &pairs);
    check::<VerificationCodeForm>(body, &pairs);
    check::<CreateSessionForm>(body, &pairs);
    check::<AnonymousEmailForm>(body, &pairs);
    if let Some(form) = check::<CreateAccountForm>(body, &pairs) {
        validate(&form);
    }
});
