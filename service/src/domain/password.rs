//! Password hashing: Argon2id for every hash written, and verification of the
//! hashes the Django deployment stored, so existing members keep logging in.
//!
//! **Written format.** `argon2$argon2id$v=19$m=12288,t=3,p=1$<salt>$<hash>`:
//! Django's own Argon2 encoding, i.e. the literal `argon2` followed by the
//! standard PHC string (unpadded standard base64 salt and hash). Django's
//! default `PASSWORD_HASHERS` includes its Argon2 hasher, so a Django
//! deployment with `argon2-cffi` installed can still check these hashes (e.g.
//! after a rollback). The parameters are one of OWASP's equivalent minimum
//! Argon2id settings: 12 MiB of memory, 3 passes, 1 lane; 16-byte salt,
//! 32-byte output. Of those settings this one keeps two concurrent hashes
//! (one per core) inside the 60 MB memory budget: 19 MiB × 2 passes took the
//! service to 65 MB at the login benchmark's peak (docs/benchmarks.md).
//!
//! **Read formats.**
//! - `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>` (Django's default; the
//!   iteration count is read from the string: 1,000,000 at Django 5.2,
//!   600,000 at 4.2). Always reported as needing a rehash.
//! - `argon2$<PHC>` (Django's Argon2 hasher, and what [`hash`] writes) and a
//!   bare `$argon2id$…` PHC string. Argon2i/Argon2d, version 0x10, less
//!   memory × passes than the current setting, under 7 MiB, fewer lanes or
//!   a shorter output is reported as needing a rehash.
//! - Everything else never matches: Django's unusable passwords (`!…`), the
//!   empty string, other algorithms (`pbkdf2_sha1`, `bcrypt_sha256`, `scrypt`,
//!   none of which the legacy database holds) and malformed strings. These
//!   still spend one Argon2 computation (like Django since 5.0.7), so an
//!   account with an unusable password cannot be told apart by timing.
//!
//! Hash comparisons are constant time. For a login with an unknown username,
//! call [`dummy_verify`] so the response takes about as long as for a known
//! one.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use rand::Rng;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Argon2id memory cost in KiB (OWASP: 12 MiB with t=3, p=1).
pub const ARGON2_M_COST_KIB: u32 = 12_288;
/// Argon2id passes.
pub const ARGON2_T_COST: u32 = 3;
/// The least memory a stored Argon2id hash may use and be kept (OWASP's
/// smallest setting, 7 MiB with 5 passes).
const MIN_M_COST_KIB: u32 = 7_168;
/// Argon2id lanes.
pub const ARGON2_P_COST: u32 = 1;

const SALT_LEN: usize = 16;
const OUTPUT_LEN: usize = 32;

/// The parameters every new hash uses, checked at compile time.
const PARAMS: Params = match Params::new(
    ARGON2_M_COST_KIB,
    ARGON2_T_COST,
    ARGON2_P_COST,
    Some(OUTPUT_LEN),
) {
    Ok(params) => params,
    Err(_) => panic!("invalid Argon2 parameters"),
};

/// Upper bounds on costs read from a stored string: a corrupt row must not
/// make one login allocate gigabytes or spin for minutes.
const MAX_M_COST_KIB: u32 = 1 << 20; // 1 GiB
const MAX_T_COST: u32 = 32;
const MAX_P_COST: u32 = 64;
const MAX_PBKDF2_ITERATIONS: u32 = 20_000_000;
const PBKDF2_OUTPUT_LEN: usize = 32;

/// The prefix Django's Argon2 hasher puts before the PHC string.
const DJANGO_ARGON2_PREFIX: &str = "argon2";
const DJANGO_PBKDF2_PREFIX: &str = "pbkdf2_sha256$";

/// The outcome of checking a password against a stored hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verification {
    /// Wrong password, or a stored value that can never match.
    Invalid,
    /// The password matches. When `needs_rehash` is true the caller should
    /// store [`hash`] of the password in place of the old value.
    Valid { needs_rehash: bool },
}

impl Verification {
    pub fn is_valid(self) -> bool {
        matches!(self, Verification::Valid { .. })
    }

    pub fn needs_rehash(self) -> bool {
        matches!(self, Verification::Valid { needs_rehash: true })
    }
}

/// A new Argon2id hash of `password` with a random salt, in Django's
/// `argon2$argon2id$v=19$m=…,t=…,p=…$salt$hash` encoding.
pub fn hash(password: &str) -> String {
    let mut salt = [0u8; SALT_LEN];
    rand::rng().fill(&mut salt[..]);
    encode_argon2(password, &salt, Algorithm::Argon2id, PARAMS)
}

fn encode_argon2(password: &str, salt: &[u8], algorithm: Algorithm, params: Params) -> String {
    let mut out = vec![0u8; params.output_len().unwrap_or(OUTPUT_LEN)];
    argon2_into(
        &Argon2::new(algorithm, Version::V0x13, params.clone()),
        password,
        salt,
        &mut out,
    )
    .expect("Argon2 with valid parameters and a 16-byte salt cannot fail");
    format!(
        "{DJANGO_ARGON2_PREFIX}${}$v=19$m={},t={},p={}${}${}",
        algorithm.as_str(),
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(&out),
    )
}

/// Blocks reserved for every Argon2 work area: 33 MiB, above glibc's
/// largest adaptive mmap threshold (32 MiB on 64-bit), so the area is always
/// its own mapping and goes back to the system when the hash is done. Only
/// the `m_cost` blocks written become resident. Allocated per hash by the
/// argon2 crate instead, a 19 MiB area fell under the adapted threshold
/// and every thread that ever hashed kept one in its malloc arena (464 MB
/// resident after the login benchmark).
const WORK_AREA_RESERVE_BLOCKS: usize = 33 * 1024;

/// `Argon2::hash_password_into` with a work area that does not outlive it.
fn argon2_into(
    argon2: &Argon2<'_>,
    password: &str,
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let blocks = argon2.params().block_count();
    let mut memory = Vec::with_capacity(blocks.max(WORK_AREA_RESERVE_BLOCKS));
    memory.resize(blocks, argon2::Block::default());
    argon2.hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory)
}

/// Checks `password` against a stored hash (see the module docs for the
/// accepted formats). Never panics; anything unrecognised is `Invalid`.
pub fn verify(password: &str, stored: &str) -> Verification {
    let checked = if let Some(rest) = stored.strip_prefix(DJANGO_PBKDF2_PREFIX) {
        verify_pbkdf2_sha256(password, rest)
    } else if let Some(phc) = stored.strip_prefix(DJANGO_ARGON2_PREFIX) {
        verify_argon2(password, phc)
    } else if stored.starts_with("$argon2") {
        verify_argon2(password, stored)
    } else {
        None
    };
    match checked {
        Some(verification) => verification,
        None => {
            // Unusable (`!…`), empty, unknown or malformed: spend the same
            // work as a real check, then fail.
            dummy_verify(password);
            Verification::Invalid
        }
    }
}

/// Spends about the time of checking a current Argon2id hash, and discards
/// the result. Call it when the username does not exist.
pub fn dummy_verify(password: &str) {
    const DUMMY_SALT: &[u8; SALT_LEN] = b"timing-equalizer";
    let mut out = [0u8; OUTPUT_LEN];
    let _ = argon2_into(
        &Argon2::new(Algorithm::Argon2id, Version::V0x13, PARAMS.clone()),
        password,
        DUMMY_SALT,
        &mut out,
    );
    std::hint::black_box(out);
}

/// `<iterations>$<salt>$<standard base64 hash>` after `pbkdf2_sha256$`.
/// `None` when malformed.
fn verify_pbkdf2_sha256(password: &str, rest: &str) -> Option<Verification> {
    let mut fields = rest.splitn(3, '$');
    let iterations = parse_decimal(fields.next()?)?;
    let salt = fields.next()?;
    let expected = STANDARD.decode(fields.next()?).ok()?;
    if iterations == 0
        || iterations > MAX_PBKDF2_ITERATIONS
        || salt.is_empty()
        || expected.len() != PBKDF2_OUTPUT_LEN
    {
        return None;
    }
    let mut actual = [0u8; PBKDF2_OUTPUT_LEN];
    pbkdf2::pbkdf2_hmac::<Sha256>(
        password.as_bytes(),
        salt.as_bytes(),
        iterations,
        &mut actual,
    );
    Some(if bool::from(actual.ct_eq(&expected[..])) {
        // Every Django hash is replaced by Argon2id on the next login.
        Verification::Valid { needs_rehash: true }
    } else {
        Verification::Invalid
    })
}

/// `$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>` (the version field may be
/// absent, meaning 0x10). `None` when malformed.
fn verify_argon2(password: &str, phc: &str) -> Option<Verification> {
    let mut fields = phc.split('$');
    if !fields.next()?.is_empty() {
        return None;
    }
    let algorithm = match fields.next()? {
        "argon2id" => Algorithm::Argon2id,
        "argon2i" => Algorithm::Argon2i,
        "argon2d" => Algorithm::Argon2d,
        _ => return None,
    };
    let rest: Vec<&str> = fields.collect();
    let (version, params, salt, expected) = match rest.as_slice() {
        [version, params, salt, hash] => (parse_version(version)?, *params, *salt, *hash),
        [params, salt, hash] => (Version::V0x10, *params, *salt, *hash),
        _ => return None,
    };
    let (m_cost, t_cost, p_cost) = parse_argon2_params(params)?;
    let salt = STANDARD_NO_PAD.decode(salt).ok()?;
    let expected = STANDARD_NO_PAD.decode(expected).ok()?;
    if m_cost > MAX_M_COST_KIB
        || t_cost > MAX_T_COST
        || p_cost > MAX_P_COST
        || !(Params::MIN_OUTPUT_LEN..=64).contains(&expected.len())
    {
        return None;
    }
    let params = Params::new(m_cost, t_cost, p_cost, Some(expected.len())).ok()?;
    let mut actual = vec![0u8; expected.len()];
    argon2_into(
        &Argon2::new(algorithm, version, params),
        password,
        &salt,
        &mut actual,
    )
    .ok()?;
    if !bool::from(actual.ct_eq(&expected)) {
        return Some(Verification::Invalid);
    }
    // OWASP's equivalent settings trade memory for passes (19 MiB × 2,
    // 12 MiB × 3, 9 MiB × 4, 7 MiB × 5): a hash is weaker than ours when its
    // memory × passes is lower, or its memory is under the smallest of them.
    let needs_rehash = algorithm != Algorithm::Argon2id
        || version != Version::V0x13
        || u64::from(m_cost) * u64::from(t_cost)
            < u64::from(ARGON2_M_COST_KIB) * u64::from(ARGON2_T_COST)
        || m_cost < MIN_M_COST_KIB
        || p_cost < ARGON2_P_COST
        || expected.len() < OUTPUT_LEN;
    Some(Verification::Valid { needs_rehash })
}

fn parse_version(field: &str) -> Option<Version> {
    match field.strip_prefix("v=")? {
        "19" => Some(Version::V0x13),
        "16" => Some(Version::V0x10),
        _ => None,
    }
}

/// `m=…,t=…,p=…`, each exactly once, in any order.
fn parse_argon2_params(field: &str) -> Option<(u32, u32, u32)> {
    let (mut m, mut t, mut p) = (None, None, None);
    for pair in field.split(',') {
        let (key, value) = pair.split_once('=')?;
        let slot = match key {
            "m" => &mut m,
            "t" => &mut t,
            "p" => &mut p,
            _ => return None,
        };
        if slot.replace(parse_decimal(value)?).is_some() {
            return None;
        }
    }
    Some((m?, t?, p?))
}

/// Plain ASCII digits only (no sign, no spaces), fitting in a `u32`.
fn parse_decimal(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The following hashes were produced by Django 5.2's own code
    // (`django.contrib.auth.hashers`, Django 5.2.19), and Django's
    // `check_password` accepts each of them for "correct horse":
    //
    //   make_password("correct horse", salt="DjangoSaltForRustTests",
    //                 hasher="pbkdf2_sha256")          # default 1,000,000
    //   class Small(PBKDF2PasswordHasher): iterations = 1000
    //   Small().encode("correct horse", "SmallIterSaltRustTest1")
    //   make_password("correct horse", salt="DjangoArgonSalt1",
    //                 hasher="argon2")                 # argon2-cffi 25
    const DJANGO_PBKDF2_DEFAULT: &str =
        "pbkdf2_sha256$1000000$DjangoSaltForRustTests$wIQxXqQh7SQjngfOpx+qOel4nYsRFg2UUcVneMALWnc=";
    const DJANGO_PBKDF2_1000: &str =
        "pbkdf2_sha256$1000$SmallIterSaltRustTest1$SKnsNzI5YBRBf0HHyRs+tZlnBUnG4WDM5b+jxdd5pCE=";
    const DJANGO_ARGON2: &str = "argon2$argon2id$v=19$m=102400,t=2,p=8$RGphbmdvQXJnb25TYWx0MQ$xInwdIs4D2U9BcIzZKeW6K/j/Hjw74uBK5QIvgmURPU";

    #[test]
    fn a_django_pbkdf2_hash_with_default_iterations_verifies_and_needs_rehash() {
        assert_eq!(
            verify("correct horse", DJANGO_PBKDF2_DEFAULT),
            Verification::Valid { needs_rehash: true }
        );
    }

    #[test]
    fn the_pbkdf2_iteration_count_is_read_from_the_string() {
        let verification = verify("correct horse", DJANGO_PBKDF2_1000);
        assert!(verification.is_valid());
        assert!(verification.needs_rehash());
        // Same salt and hash with another count no longer matches.
        let other_count = DJANGO_PBKDF2_1000.replacen("$1000$", "$1001$", 1);
        assert_eq!(verify("correct horse", &other_count), Verification::Invalid);
    }

    #[test]
    fn a_wrong_password_fails() {
        for stored in [DJANGO_PBKDF2_1000, DJANGO_ARGON2, &hash("correct horse")] {
            assert_eq!(verify("Correct horse", stored), Verification::Invalid);
            assert_eq!(verify("", stored), Verification::Invalid);
        }
    }

    #[test]
    fn a_django_argon2_hash_verifies_without_rehash() {
        assert_eq!(
            verify("correct horse", DJANGO_ARGON2),
            Verification::Valid {
                needs_rehash: false
            }
        );
    }

    #[test]
    fn unusable_empty_unknown_and_malformed_hashes_never_match() {
        let unusable = format!("!{DJANGO_PBKDF2_1000}");
        let truncated = &DJANGO_PBKDF2_1000[..DJANGO_PBKDF2_1000.len() - 4];
        for stored in [
            "",
            "!",
            "!Xy7mZk2RbT9pLq4sNvWc0dEfGhIjKlMnOpQrSt",
            unusable.as_str(),
            truncated,
            "pbkdf2_sha1$1000$SmallIterSaltRustTest1$SKnsNzI5YBRBf0HHyRs+tZlnBUnG4WDM5b+jxdd5pCE=",
            "md5$salt$0123456789abcdef0123456789abcdef",
            "pbkdf2_sha256$",
            "pbkdf2_sha256$1000$",
            "pbkdf2_sha256$1000$SmallIterSaltRustTest1$",
            "pbkdf2_sha256$0$SmallIterSaltRustTest1$SKnsNzI5YBRBf0HHyRs+tZlnBUnG4WDM5b+jxdd5pCE=",
            "pbkdf2_sha256$+1000$SmallIterSaltRustTest1$SKnsNzI5YBRBf0HHyRs+tZlnBUnG4WDM5b+jxdd5pCE=",
            "pbkdf2_sha256$99999999999$s$SKnsNzI5YBRBf0HHyRs+tZlnBUnG4WDM5b+jxdd5pCE=",
            "pbkdf2_sha256$1000$$SKnsNzI5YBRBf0HHyRs+tZlnBUnG4WDM5b+jxdd5pCE=",
            "pbkdf2_sha256$1000$SmallIterSaltRustTest1$not base64!",
            "argon2",
            "argon2$",
            "argon2$argon2id",
            "argon2$argon2x$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            "argon2$argon2id$v=18$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            "argon2$argon2id$v=19$m=19456,t=2$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            "argon2$argon2id$v=19$m=19456,t=2,p=1,m=8$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            "argon2$argon2id$v=19$m=4294967295,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            "argon2$argon2id$v=19$m=19456,t=4294967295,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            "argon2$argon2id$v=19$m=19456,t=0,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            "argon2$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
            "argon2$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$",
            "argon2$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA$extra",
            "$argon2id$v=19$m=19456,t=2,p=1$$",
            "correct horse",
        ] {
            assert_eq!(
                verify("correct horse", stored),
                Verification::Invalid,
                "{stored:?}"
            );
        }
    }

    #[test]
    fn an_argon2_hash_round_trips_without_rehash() {
        let stored = hash("correct horse");
        assert!(
            stored.starts_with("argon2$argon2id$v=19$m=12288,t=3,p=1$"),
            "{stored}"
        );
        assert_eq!(
            verify("correct horse", &stored),
            Verification::Valid {
                needs_rehash: false
            }
        );
        // Fresh salt every time.
        assert_ne!(hash("correct horse"), stored);
        // The bare PHC form (without Django's `argon2` prefix) is read too.
        let bare = stored.trim_start_matches(DJANGO_ARGON2_PREFIX);
        assert!(bare.starts_with("$argon2id$"));
        assert!(verify("correct horse", bare).is_valid());
    }

    /// The written format is exactly what Django reads: this string was made
    /// with argon2-cffi 25.1 (`low_level.hash_secret(b"correct horse",
    /// b"0123456789abcdef", time_cost=2, memory_cost=19456, parallelism=1,
    /// hash_len=32, type=Type.ID)`, prefixed with `argon2`), and Django 5.2's
    /// `check_password("correct horse", …)` accepts it.
    #[test]
    fn the_written_format_is_what_django_reads() {
        let django_readable = "argon2$argon2id$v=19$m=19456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$rk2Mi3E4dgRMg0fHaYaptWVZRKqs//6b6k3/nntqGJk";
        let params = Params::new(19_456, 2, 1, Some(OUTPUT_LEN)).expect("valid params");
        assert_eq!(
            encode_argon2(
                "correct horse",
                b"0123456789abcdef",
                Algorithm::Argon2id,
                params
            ),
            django_readable
        );
        // Written by the previous release (19 MiB, 2 passes): an equivalent
        // setting, so kept as it is.
        assert_eq!(
            verify("correct horse", django_readable),
            Verification::Valid {
                needs_rehash: false
            }
        );
    }

    #[test]
    fn weaker_argon2_hashes_verify_but_need_rehash() {
        let salt = b"0123456789abcdef";
        let weak = |m, t, p| Params::new(m, t, p, Some(OUTPUT_LEN)).expect("valid test params");
        for (algorithm, params) in [
            (Algorithm::Argon2id, weak(8_192, 2, 1)),
            (Algorithm::Argon2id, weak(ARGON2_M_COST_KIB, 1, 1)),
            // Enough passes, too little memory.
            (Algorithm::Argon2id, weak(4_096, 20, 1)),
            (Algorithm::Argon2i, PARAMS.clone()),
        ] {
            let stored = encode_argon2("correct horse", salt, algorithm, params);
            assert_eq!(
                verify("correct horse", &stored),
                Verification::Valid { needs_rehash: true },
                "{stored}"
            );
            assert_eq!(verify("wrong horse", &stored), Verification::Invalid);
        }
        // Stronger than the minimum in every parameter: kept.
        let stronger = encode_argon2(
            "correct horse",
            salt,
            Algorithm::Argon2id,
            weak(2 * ARGON2_M_COST_KIB, 3, 2),
        );
        assert_eq!(
            verify("correct horse", &stronger),
            Verification::Valid {
                needs_rehash: false
            }
        );
    }

    #[test]
    fn dummy_verify_does_not_panic_on_any_input() {
        dummy_verify("");
        dummy_verify("correct horse");
        dummy_verify(&"x".repeat(10_000));
    }
}
