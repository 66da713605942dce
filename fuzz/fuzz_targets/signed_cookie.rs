//! Signed cookies (`an_ct`, `anonymousclientevent`): Django's
//! `value:timestamp:signature` as `domain::signing::CookieSigner` writes and
//! reads it, and the trip through a `Set-Cookie` header and poem's cookie jar.
//!
//! Properties:
//! - a signed value unsigns to itself, also after the trip through
//!   `http::cookies::anonymous_cart` → `Cookie` header → poem's `CookieJar`;
//! - it does not verify under another secret key, nor as the other cookie
//!   (another salt), nor after any one-byte change;
//! - an attacker's cookie value never panics the parser, and one that verifies is
//!   exactly what the signer would have written (no second spelling).

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use poem::middleware::CookieJarManager;
use poem::{Endpoint, EndpointExt, Request};
use startupwebapp::Config;
use startupwebapp::domain::signing::{CookieSigner, base62_decode};
use startupwebapp::http::cookies;
use startupwebapp_fuzz::{block_on, flip_one_byte, is_cookie_safe, split_input};

const KEY: &str = "fuzz-secret-key-0123456789abcdefghijklmnopqrstuvwxyz";
const OTHER_KEY: &str = "fuzz-other-secret-key-0123456789abcdefghijklmnopqrst";

/// The input is `cookie value[\0control]` (see `split_input`): the value
/// as an attacker sends it. Its value part (all but the last two
/// `:`-separated fields) is also signed afresh.
#[derive(Arbitrary, Debug)]
struct Control {
    unix_time: u64,
    flip_at: usize,
    flip_to: u8,
}

fn cart_signer(key: &str) -> CookieSigner {
    CookieSigner::new(key, cookies::ANONYMOUS_CART, cookies::ANONYMOUS_CART_SALT)
}

/// What the service reads back from `an_ct` after the browser returns the
/// cookie that `cookies::anonymous_cart` set.
fn through_the_browser(signed: &str) -> Option<String> {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    let config = CONFIG.get_or_init(startupwebapp::placeholder_config);
    let set_cookie = cookies::anonymous_cart(config, signed.to_owned()).header_value();
    // A browser sends back only `name=value`, the part before the attributes.
    let pair = set_cookie.split("; ").next().unwrap_or_default().to_owned();
    let endpoint = poem::endpoint::make_sync(|req: Request| {
        req.cookie()
            .get(cookies::ANONYMOUS_CART)
            .map(|c| c.value_str().to_owned())
            .unwrap_or_default()
    })
    .with(CookieJarManager::new());
    let request = Request::builder()
        .header("cookie", format!("csrftoken=abc; {pair}; other=1"))
        .finish();
    let response = block_on(endpoint.get_response(request));
    let raw = block_on(response.into_body().into_string()).ok()?;
    cart_signer(KEY).unsign(&raw)
}

fuzz_target!(|data: &[u8]| {
    let (text, control) = split_input(data);
    let Ok(control) = Control::arbitrary_take_rest(control) else {
        return;
    };
    let forged: &str = &text;
    let value = forged.rsplitn(3, ':').last().unwrap_or_default();
    let signer = cart_signer(KEY);
    let signed = signer.sign(value, control.unix_time);

    assert_eq!(
        signer.unsign(&signed).as_deref(),
        Some(value),
        "a signed value must unsign to itself: {signed:?}"
    );
    assert_eq!(
        cart_signer(OTHER_KEY).unsign(&signed),
        None,
        "verified under another key: {signed:?}"
    );
    let other_cookie = CookieSigner::new(
        KEY,
        cookies::ANONYMOUS_CLIENT_EVENT,
        cookies::ANONYMOUS_CLIENT_EVENT_SALT,
    );
    assert_eq!(
        other_cookie.unsign(&signed),
        None,
        "one cookie's value verified as another's: {signed:?}"
    );
    if let Some(tampered) = flip_one_byte(&signed, control.flip_at, control.flip_to) {
        assert_eq!(
            signer.unsign(&tampered),
            None,
            "a one-byte change of {signed:?} verified: {tampered:?}"
        );
    }
    if is_cookie_safe(value) {
        assert_eq!(
            through_the_browser(&signed).as_deref(),
            Some(value),
            "the cookie did not survive Set-Cookie -> Cookie -> jar: {signed:?}"
        );
    }

    if let Some(value) = signer.unsign(forged) {
        let timestamp = forged
            .rsplitn(3, ':')
            .nth(1)
            .and_then(base62_decode)
            .unwrap_or_else(|| panic!("verified without a timestamp: {:?}", forged));
        assert_eq!(
            signer.sign(&value, timestamp),
            forged,
            "a second spelling of a signed value verified"
        );
    }
});
