//! Account form validators, reporting exactly what the legacy Django backend
//! reported (`StartupWebApp/form/validator.py` and Django's
//! `AUTH_PASSWORD_VALIDATORS`; contract `api-user-clientevent.md` §2).
//!
//! Each check returns `Ok(())` where the legacy code returned `true`, or the
//! list of error objects it returned, in the same order. Endpoints put either
//! value verbatim under `errors.<field>`.
//!
//! Deliberate difference: the legacy regexes used Python's `$`, which also
//! matched before a trailing `"\n"`. These checks reject that newline.
//!
//! Lengths are counted in Unicode code points, like Python's `len`.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::LazyLock;

use serde::Serialize;

/// One legacy error object: `{"type": …, "description": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    #[serde(rename = "type")]
    pub r#type: &'static str,
    pub description: Cow<'static, str>,
}

/// `Ok(())` is the legacy `true`; `Err` holds the legacy error array.
pub type Check = Result<(), Vec<FieldError>>;

const fn error(r#type: &'static str, description: &'static str) -> FieldError {
    FieldError {
        r#type,
        description: Cow::Borrowed(description),
    }
}

pub const REQUIRED: FieldError = error("required", "This is a required field.");
pub const NOT_VALID_EMAIL: FieldError = error(
    "not_valid",
    "Please enter a valid email address. For example johndoe@domain.com.",
);
pub const NOT_VALID_NAME: FieldError = error(
    "not_valid",
    "Please enter a valid name. Characters, numbers, and spaces are allowed.",
);
pub const TOO_MANY_CHARS: FieldError = error(
    "too_many_chars",
    "The value you entered is too long for this field.",
);
pub const NOT_VALID_USERNAME: FieldError = error(
    "not_valid",
    "Please enter a valid username. Characters, numbers, underscore (\"_\"), and hyphens (\"-\") are allowed.",
);
pub const USERNAME_TOO_SHORT: FieldError = error(
    "too_short",
    "The username you entered is too short. Usernames must be between 6 and 150 characters in length.",
);
pub const USERNAME_UNAVAILABLE: FieldError = error(
    "unavailable",
    "The username you entered is unavailable. Please enter a different username and try again.",
);
pub const PASSWORD_TOO_SHORT: FieldError = error(
    "too_short",
    "The password you entered is too short. Passwords must be between 8 and 150 characters in length.",
);
pub const NO_CAPITAL: FieldError = error(
    "no_capital_letter",
    "Passwords must contain at least one capital letter.",
);
pub const NO_SPECIAL: FieldError = error(
    "no_special_character",
    "Passwords must contain at least one special character.",
);
pub const MISMATCH: FieldError = error(
    "confirm_password_doesnt_match",
    "Please make sure your passwords match.",
);
pub const OUT_OF_RANGE: FieldError = error("out_of_range", "The value provided is out of range.");
pub const NOT_AN_INT: FieldError = error("not_an_int", "The value provided is not an integer.");

/// `type` of every Django password-validator error.
pub const DJANGO_VALIDATION: &str = "django_validation";
pub const DJANGO_TOO_COMMON: FieldError = error(DJANGO_VALIDATION, "This password is too common.");
pub const DJANGO_TOO_SHORT: FieldError = error(
    DJANGO_VALIDATION,
    "This password is too short. It must contain at least 8 characters.",
);
pub const DJANGO_ENTIRELY_NUMERIC: FieldError =
    error(DJANGO_VALIDATION, "This password is entirely numeric.");

/// Maximum lengths the legacy endpoints pass to the validators.
pub const FIRST_NAME_MAX: usize = 30;
pub const CHAT_NAME_MAX: usize = 30;
pub const LAST_NAME_MAX: usize = 150;
pub const USERNAME_MAX: usize = 150;
pub const USERNAME_MIN: usize = 6;
pub const EMAIL_MAX: usize = 254;
pub const PASSWORD_MAX: usize = 150;
pub const PASSWORD_MIN: usize = 8;
pub const CHAT_MESSAGE_MAX: usize = 5000;

/// The username check needs the database, so the caller appends this error
/// (last, after the format errors) when an `auth_user` row has exactly this
/// username.
pub fn username_unavailable() -> FieldError {
    USERNAME_UNAVAILABLE
}

fn char_len(value: &str) -> usize {
    value.chars().count()
}

fn to_check(errors: Vec<FieldError>) -> Check {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// `isNameValid(value, max)`: ASCII letters, digits and spaces only.
pub fn name(value: &str, max: usize) -> Check {
    if value.is_empty() {
        return Err(vec![REQUIRED]);
    }
    let mut errors = Vec::new();
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ') {
        errors.push(NOT_VALID_NAME);
    }
    if char_len(value) > max {
        errors.push(TOO_MANY_CHARS);
    }
    to_check(errors)
}

/// `isUserNameValid(value, 150)` without the database lookup (see
/// [`username_unavailable`]).
pub fn username_format(value: &str) -> Check {
    if value.is_empty() {
        return Err(vec![REQUIRED]);
    }
    let mut errors = Vec::new();
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !value.chars().all(allowed) {
        errors.push(NOT_VALID_USERNAME);
    }
    let len = char_len(value);
    if len > USERNAME_MAX {
        errors.push(TOO_MANY_CHARS);
    }
    if len < USERNAME_MIN {
        errors.push(USERNAME_TOO_SHORT);
    }
    to_check(errors)
}

/// `isEmailValid(value, 254)`. No uniqueness check, as in the legacy code.
pub fn email(value: &str) -> Check {
    if value.is_empty() {
        return Err(vec![REQUIRED]);
    }
    let mut errors = Vec::new();
    if !email_format_ok(value) {
        errors.push(NOT_VALID_EMAIL);
    }
    if char_len(value) > EMAIL_MAX {
        errors.push(TOO_MANY_CHARS);
    }
    to_check(errors)
}

/// The legacy email regex, by hand: `local@(label.)+tld`.
fn email_format_ok(value: &str) -> bool {
    // Neither part may contain '@', so the first one is the only split.
    match value.split_once('@') {
        Some((local, domain)) => email_local_ok(local) && email_domain_ok(domain),
        None => false,
    }
}

/// Starts and ends with `[a-zA-Z0-9]` (one character may be both), with
/// `[a-zA-Z0-9_.+-]` in between.
fn email_local_ok(local: &str) -> bool {
    let bytes = local.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"_.+-".contains(b))
}

/// One or more `[a-zA-Z0-9-]+` labels each followed by `.`, then at least two
/// `[a-zA-Z0-9]` (the regex's repeated 2–4 character groups).
fn email_domain_ok(domain: &str) -> bool {
    // Labels cannot contain '.', so splitting on it is the only parse.
    let Some((labels, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    labels.split('.').all(label_ok)
        && tld.len() >= 2
        && tld.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Characters the legacy password rule counts as special.
const SPECIAL_CHARACTERS: &str = "!@#$%^&*()~{}[]";

/// `isPasswordValid(pw, confirm, 150)`: every applicable error, in order.
pub fn password(pw: &str, confirm: &str) -> Check {
    if pw.is_empty() {
        return Err(vec![REQUIRED]);
    }
    let mut errors = Vec::new();
    let len = char_len(pw);
    if len > PASSWORD_MAX {
        errors.push(TOO_MANY_CHARS);
    }
    if len < PASSWORD_MIN {
        errors.push(PASSWORD_TOO_SHORT);
    }
    if !pw.chars().any(|c| c.is_ascii_uppercase()) {
        errors.push(NO_CAPITAL);
    }
    if !pw.chars().any(|c| SPECIAL_CHARACTERS.contains(c)) {
        errors.push(NO_SPECIAL);
    }
    if pw != confirm {
        errors.push(MISMATCH);
    }
    to_check(errors)
}

/// `isChatMessageValid(value, 5000)`.
pub fn chat_message(value: &str) -> Check {
    if value.is_empty() {
        return Err(vec![REQUIRED]);
    }
    if char_len(value) > CHAT_MESSAGE_MAX {
        return Err(vec![TOO_MANY_CHARS]);
    }
    Ok(())
}

/// `isHowExcitedValid`: exactly one of the strings `"1"` … `"5"`.
pub fn how_excited(value: &str) -> Check {
    match value {
        "" => Err(vec![REQUIRED]),
        "1" | "2" | "3" | "4" | "5" => Ok(()),
        _ => Err(vec![OUT_OF_RANGE]),
    }
}

// ---------------------------------------------------------------------------
// Django's AUTH_PASSWORD_VALIDATORS (Django 5.2 `password_validation.py`).
// ---------------------------------------------------------------------------

/// The user fields Django's `UserAttributeSimilarityValidator` looks at.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserAttributes<'a> {
    pub username: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub email: &'a str,
}

impl<'a> UserAttributes<'a> {
    /// Django's attribute order, each with the error message naming the
    /// field's `verbose_name`.
    fn with_messages(&self) -> [(&'a str, &'static str); 4] {
        [
            (
                self.username,
                "The password is too similar to the username.",
            ),
            (
                self.first_name,
                "The password is too similar to the first name.",
            ),
            (
                self.last_name,
                "The password is too similar to the last name.",
            ),
            (
                self.email,
                "The password is too similar to the email address.",
            ),
        ]
    }
}

/// Django's `validate_password` with the configured validators, in order:
/// attribute similarity, minimum length 8, common passwords, numeric. Every
/// failing validator contributes one message.
pub fn django_password_validators(pw: &str, user: &UserAttributes) -> Check {
    let mut errors = Vec::new();
    if let Some(message) = too_similar(pw, user) {
        errors.push(error(DJANGO_VALIDATION, message));
    }
    if char_len(pw) < PASSWORD_MIN {
        errors.push(DJANGO_TOO_SHORT);
    }
    if is_common_password(pw) {
        errors.push(DJANGO_TOO_COMMON);
    }
    if is_python_digit_string(pw) {
        errors.push(DJANGO_ENTIRELY_NUMERIC);
    }
    to_check(errors)
}

const MAX_SIMILARITY: f64 = 0.7;

/// `UserAttributeSimilarityValidator.validate`: the message for the first
/// attribute that is too similar (Django raises there, so at most one).
fn too_similar(pw: &str, user: &UserAttributes) -> Option<&'static str> {
    let pw: Vec<char> = pw.to_lowercase().chars().collect();
    user.with_messages()
        .into_iter()
        .filter(|(value, _)| !value.is_empty())
        .find(|(value, _)| attribute_too_similar(&pw, value))
        .map(|(_, message)| message)
}

/// Compares the password with each `\W+`-separated part of the lower-cased
/// value, then with the whole value.
fn attribute_too_similar(pw: &[char], value: &str) -> bool {
    let value = value.to_lowercase();
    let mut parts = split_non_word(&value);
    parts.push(value.chars().collect());
    parts.iter().any(|part| {
        !exceeds_maximum_length_ratio(pw.len(), part.len())
            && quick_ratio(pw, part) >= MAX_SIMILARITY
    })
}

/// Django's shortcut: a part much shorter than the password is skipped
/// because it can never reach the threshold.
fn exceeds_maximum_length_ratio(pwd_len: usize, value_len: usize) -> bool {
    // Same float expression as Django so boundary cases agree.
    let length_bound_similarity = MAX_SIMILARITY / 2.0 * pwd_len as f64;
    pwd_len >= 10 * value_len && (value_len as f64) < length_bound_similarity
}

/// Python `re.split(r"\W+", value)`, including the empty strings it yields
/// for leading or trailing separators.
fn split_non_word(value: &str) -> Vec<Vec<char>> {
    let mut parts = Vec::new();
    let mut current = Vec::new();
    let mut in_separator = false;
    for c in value.chars() {
        if is_word_char(c) {
            current.push(c);
            in_separator = false;
        } else if !in_separator {
            parts.push(std::mem::take(&mut current));
            in_separator = true;
        }
    }
    parts.push(current);
    parts
}

/// Python's Unicode `\w`: alphanumeric or underscore. Rust's alphanumeric
/// also counts `Other_Alphabetic` marks (e.g. Indic vowel signs, circled
/// letters) that Python does not; irrelevant for the ASCII-only names,
/// usernames and emails the legacy validators admit.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `difflib.SequenceMatcher(a=pw, b=part).quick_ratio()`: twice the size of
/// the multiset intersection of characters over the total length.
fn quick_ratio(a: &[char], b: &[char]) -> f64 {
    let length = a.len() + b.len();
    if length == 0 {
        return 1.0;
    }
    let mut available: HashMap<char, usize> = HashMap::new();
    for &c in b {
        *available.entry(c).or_default() += 1;
    }
    let mut matches = 0usize;
    for c in a {
        if let Some(count) = available.get_mut(c).filter(|count| **count > 0) {
            *count -= 1;
            matches += 1;
        }
    }
    2.0 * matches as f64 / length as f64
}

/// Django's bundled list (django 5.2.9 `contrib/auth/common-passwords.txt.gz`).
const COMMON_PASSWORDS_GZ: &[u8] = include_bytes!("common-passwords.txt.gz");

/// Decompressed once, on first use.
static COMMON_PASSWORDS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    // The file is embedded at build time and pinned by a unit test, so a
    // failure here is a build defect, not a runtime condition.
    load_common_passwords().expect("embedded common-passwords.txt.gz is valid gzip UTF-8")
});

fn load_common_passwords() -> std::io::Result<HashSet<String>> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(COMMON_PASSWORDS_GZ).read_to_string(&mut text)?;
    Ok(text
        .lines()
        .map(|line| python_strip(line).to_owned())
        .collect())
}

/// `CommonPasswordValidator`: `password.lower().strip() in passwords`.
fn is_common_password(pw: &str) -> bool {
    COMMON_PASSWORDS.contains(python_strip(&pw.to_lowercase()))
}

/// Python's `str.strip()`: its whitespace is Unicode `White_Space` plus the
/// separators U+001C..U+001F.
fn python_strip(value: &str) -> &str {
    value.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// `NumericPasswordValidator` uses `str.isdigit()`. `char::is_numeric` is a
/// little wider (it also accepts fractions and Roman numerals); this
/// validator can never fire after the legacy password rule anyway, which
/// demands a capital letter and a special character.
fn is_python_digit_string(pw: &str) -> bool {
    !pw.is_empty() && pw.chars().all(char::is_numeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(check: Check) -> Vec<FieldError> {
        check.err().unwrap_or_default()
    }

    fn descriptions(check: Check) -> Vec<String> {
        errs(check)
            .into_iter()
            .map(|e| e.description.into_owned())
            .collect()
    }

    #[test]
    fn serializes_as_legacy_object() {
        let value = serde_json::to_value(REQUIRED).expect("serializable");
        assert_eq!(
            value,
            serde_json::json!({"type": "required", "description": "This is a required field."})
        );
    }

    #[test]
    fn error_constants_are_exact() {
        let expected = [
            (&NOT_VALID_EMAIL, "not_valid"),
            (&NOT_VALID_NAME, "not_valid"),
            (&TOO_MANY_CHARS, "too_many_chars"),
            (&NOT_VALID_USERNAME, "not_valid"),
            (&USERNAME_TOO_SHORT, "too_short"),
            (&USERNAME_UNAVAILABLE, "unavailable"),
            (&PASSWORD_TOO_SHORT, "too_short"),
            (&NO_CAPITAL, "no_capital_letter"),
            (&NO_SPECIAL, "no_special_character"),
            (&MISMATCH, "confirm_password_doesnt_match"),
            (&OUT_OF_RANGE, "out_of_range"),
            (&NOT_AN_INT, "not_an_int"),
        ];
        for (err, ty) in expected {
            assert_eq!(err.r#type, ty);
        }
        assert_eq!(
            NOT_VALID_USERNAME.description,
            r#"Please enter a valid username. Characters, numbers, underscore ("_"), and hyphens ("-") are allowed."#
        );
        assert_eq!(username_unavailable(), USERNAME_UNAVAILABLE);
    }

    #[test]
    fn name_rules() {
        assert_eq!(name("John Doe 3", 30), Ok(()));
        assert_eq!(errs(name("", 30)), vec![REQUIRED]);
        assert_eq!(errs(name("John-Doe", 30)), vec![NOT_VALID_NAME]);
        assert_eq!(errs(name("Jöhn", 30)), vec![NOT_VALID_NAME]);
        for bad in ["O'Brien", "J.", "a_b", "John\n", "John\t"] {
            assert_eq!(errs(name(bad, 30)), vec![NOT_VALID_NAME], "{bad:?}");
        }
        assert_eq!(name(&"a".repeat(30), 30), Ok(()));
        assert_eq!(errs(name(&"a".repeat(31), 30)), vec![TOO_MANY_CHARS]);
        assert_eq!(name(&"a".repeat(150), 150), Ok(()));
        assert_eq!(errs(name(&"a".repeat(151), 150)), vec![TOO_MANY_CHARS]);
        // Both format and length errors, in that order.
        assert_eq!(
            errs(name(&"-".repeat(31), 30)),
            vec![NOT_VALID_NAME, TOO_MANY_CHARS]
        );
        // Length counts code points: 30 "é" is 60 bytes but only too long
        // at 31 code points.
        assert_eq!(errs(name(&"é".repeat(30), 30)), vec![NOT_VALID_NAME]);
        assert_eq!(
            errs(name(&"é".repeat(31), 30)),
            vec![NOT_VALID_NAME, TOO_MANY_CHARS]
        );
    }

    #[test]
    fn username_rules() {
        assert_eq!(username_format("john_doe-1"), Ok(()));
        assert_eq!(username_format("abcdef"), Ok(()));
        assert_eq!(errs(username_format("")), vec![REQUIRED]);
        assert_eq!(errs(username_format("ab")), vec![USERNAME_TOO_SHORT]);
        assert_eq!(errs(username_format("abcde")), vec![USERNAME_TOO_SHORT]);
        assert_eq!(
            errs(username_format("a b")),
            vec![NOT_VALID_USERNAME, USERNAME_TOO_SHORT]
        );
        assert_eq!(errs(username_format("john.doe")), vec![NOT_VALID_USERNAME]);
        assert_eq!(errs(username_format("jöhndoe")), vec![NOT_VALID_USERNAME]);
        assert_eq!(errs(username_format("johndoe\n")), vec![NOT_VALID_USERNAME]);
        assert_eq!(username_format(&"a".repeat(150)), Ok(()));
        assert_eq!(
            errs(username_format(&"a".repeat(151))),
            vec![TOO_MANY_CHARS]
        );
        assert_eq!(
            errs(username_format(&"!".repeat(151))),
            vec![NOT_VALID_USERNAME, TOO_MANY_CHARS]
        );
    }

    #[test]
    fn email_pinned_examples() {
        for ok in [
            "user+tag@example.com",
            "123@example.com",
            "a@b.co",
            "test@subdomain.example.com",
            "a@b.museum",
            "first.last_x-y@my-host.example.org",
        ] {
            assert_eq!(email(ok), Ok(()), "{ok:?}");
        }
        for bad in [
            "user @example.com",
            "user@example",
            "user@.com",
            "user@@example.com",
            "user@example..com",
            "user.@example.com",
            ".user@example.com",
            "user@example.c",
            "user@example.c-m",
            "user@example.com.",
            "@example.com",
            "user@",
            "usér@example.com",
            "user@example.com\n",
            "john\n@example.com",
        ] {
            assert_eq!(errs(email(bad)), vec![NOT_VALID_EMAIL], "{bad:?}");
        }
        assert_eq!(errs(email("")), vec![REQUIRED]);
    }

    #[test]
    fn email_length() {
        let at_limit = format!("{}@example.com", "a".repeat(254 - 12));
        assert_eq!(email(&at_limit), Ok(()));
        let over = format!("{}@example.com", "a".repeat(255 - 12));
        assert_eq!(errs(email(&over)), vec![TOO_MANY_CHARS]);
        let bad_and_long = format!("{}@example", "a".repeat(255));
        assert_eq!(
            errs(email(&bad_and_long)),
            vec![NOT_VALID_EMAIL, TOO_MANY_CHARS]
        );
    }

    #[test]
    fn password_rules() {
        assert_eq!(password("Abcdefg!", "Abcdefg!"), Ok(()));
        assert_eq!(errs(password("", "")), vec![REQUIRED]);
        assert_eq!(errs(password("", "x")), vec![REQUIRED]);
        assert_eq!(
            errs(password("abc", "abd")),
            vec![PASSWORD_TOO_SHORT, NO_CAPITAL, NO_SPECIAL, MISMATCH]
        );
        assert_eq!(errs(password("Abc!", "Abc!")), vec![PASSWORD_TOO_SHORT]);
        assert_eq!(errs(password("abcdefgh!", "abcdefgh!")), vec![NO_CAPITAL]);
        assert_eq!(errs(password("Abcdefgh1", "Abcdefgh1")), vec![NO_SPECIAL]);
        assert_eq!(errs(password("Abcdefgh!", "Abcdefgh?")), vec![MISMATCH]);
        // '?', '-', '_' and a non-ASCII capital do not count.
        assert_eq!(
            errs(password("Abcdefgh?-_", "Abcdefgh?-_")),
            vec![NO_SPECIAL]
        );
        assert_eq!(errs(password("Äbcdefgh!", "Äbcdefgh!")), vec![NO_CAPITAL]);
        for special in SPECIAL_CHARACTERS.chars() {
            let pw = format!("Abcdefgh{special}");
            assert_eq!(password(&pw, &pw), Ok(()), "{pw:?}");
        }
        let long = format!("A!{}", "a".repeat(148));
        assert_eq!(password(&long, &long), Ok(()));
        let too_long = format!("A!{}", "a".repeat(149));
        assert_eq!(errs(password(&too_long, &too_long)), vec![TOO_MANY_CHARS]);
        let too_long_plain = "a".repeat(151);
        assert_eq!(
            errs(password(&too_long_plain, "")),
            vec![TOO_MANY_CHARS, NO_CAPITAL, NO_SPECIAL, MISMATCH]
        );
        // Seven code points (14 bytes) is still too short.
        assert_eq!(errs(password("Ä!éééééé", "Ä!éééééé")), vec![NO_CAPITAL]);
        assert_eq!(
            errs(password("A!ééééé", "A!ééééé")),
            vec![PASSWORD_TOO_SHORT]
        );
    }

    #[test]
    fn chat_message_rules() {
        assert_eq!(chat_message("Hello\nthere"), Ok(()));
        assert_eq!(errs(chat_message("")), vec![REQUIRED]);
        assert_eq!(chat_message(&"é".repeat(5000)), Ok(()));
        assert_eq!(errs(chat_message(&"a".repeat(5001))), vec![TOO_MANY_CHARS]);
    }

    #[test]
    fn how_excited_rules() {
        for ok in ["1", "2", "3", "4", "5"] {
            assert_eq!(how_excited(ok), Ok(()));
        }
        assert_eq!(errs(how_excited("")), vec![REQUIRED]);
        for bad in ["0", "6", "10", "-1", "abc", " 1", "1\n", "01"] {
            assert_eq!(errs(how_excited(bad)), vec![OUT_OF_RANGE], "{bad:?}");
        }
    }

    fn user<'a>(username: &'a str, email: &'a str) -> UserAttributes<'a> {
        UserAttributes {
            username,
            first_name: "",
            last_name: "",
            email,
        }
    }

    #[test]
    fn django_verified_examples() {
        assert_eq!(
            descriptions(django_password_validators(
                "Testuser123!",
                &user("testuser", "")
            )),
            vec!["The password is too similar to the username."]
        );
        assert_eq!(
            descriptions(django_password_validators("Password1!", &user("", ""))),
            vec!["This password is too common."]
        );
        assert_eq!(
            descriptions(django_password_validators(
                "Example!1",
                &user("", "john.doe@example.com")
            )),
            vec!["The password is too similar to the email address."]
        );
        assert!(
            errs(django_password_validators("Password1!", &user("", "")))
                .iter()
                .all(|e| e.r#type == "django_validation")
        );
    }

    #[test]
    fn django_similarity_stops_at_first_attribute_then_others_continue() {
        let attrs = UserAttributes {
            username: "zzzzzzzz",
            first_name: "password",
            last_name: "password",
            email: "password@example.com",
        };
        assert_eq!(
            descriptions(django_password_validators("password", &attrs)),
            vec![
                "The password is too similar to the first name.",
                "This password is too common.",
            ]
        );
        let attrs = UserAttributes {
            last_name: "Doe Smith",
            ..UserAttributes::default()
        };
        assert_eq!(
            descriptions(django_password_validators("SMITH!#", &attrs)),
            vec![
                "The password is too similar to the last name.",
                "This password is too short. It must contain at least 8 characters.",
            ]
        );
        assert_eq!(
            descriptions(django_password_validators(
                "12345",
                &UserAttributes::default()
            )),
            vec![
                "This password is too short. It must contain at least 8 characters.",
                "This password is too common.",
                "This password is entirely numeric.",
            ]
        );
        assert_eq!(
            django_password_validators("Xq7!vR2#pL9@", &user("testuser", "john.doe@example.com")),
            Ok(())
        );
    }

    #[test]
    fn similarity_port_details() {
        let chars = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(quick_ratio(&chars("testuser123!"), &chars("testuser")), 0.8);
        assert_eq!(quick_ratio(&chars("example!1"), &chars("example")), 0.875);
        assert_eq!(quick_ratio(&[], &[]), 1.0);
        assert_eq!(
            split_non_word("john.doe@example.com"),
            ["john", "doe", "example", "com"].map(chars)
        );
        assert_eq!(split_non_word("..a."), ["", "a", ""].map(chars));
        assert_eq!(split_non_word(""), [""].map(chars));
        assert_eq!(split_non_word("jo_hn é"), ["jo_hn", "é"].map(chars));
        // Django skips a part at most a tenth of the password and under
        // 35 % of it.
        assert!(exceeds_maximum_length_ratio(20, 2));
        assert!(!exceeds_maximum_length_ratio(20, 3));
        assert!(!exceeds_maximum_length_ratio(0, 0));
    }

    #[test]
    fn common_password_list_is_complete() {
        let mut text = String::new();
        flate2::read::GzDecoder::new(COMMON_PASSWORDS_GZ)
            .read_to_string(&mut text)
            .expect("valid gzip UTF-8");
        let lines = text.matches('\n').count();
        assert_eq!(lines, 19_640);
        assert_eq!(COMMON_PASSWORDS.len(), lines);
        assert!(is_common_password("123456"));
        assert!(is_common_password("fallen_angel"));
        assert!(is_common_password("  PassWord \n"));
        assert!(!is_common_password("Xq7!vR2#pL9@"));
    }

    #[test]
    fn python_strip_matches_str_strip() {
        assert_eq!(python_strip("\u{1c}\u{a0} x \u{3000}\n"), "x");
        assert_eq!(python_strip("\u{200b}x"), "\u{200b}x");
    }
}
