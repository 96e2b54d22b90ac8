//! Fuzz target: any text as a `cp_consent` value — verifying never panics and never
//! accepts what the key did not sign; a signed cookie with one byte changed is refused.
//!
//!     cargo +nightly fuzz run consent_cookie

#![no_main]

use consent_proxy::catalog::{CategorySet, ConsentId};
use consent_proxy::consent::cookie::{ConsentCookie, CookieKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = CookieKey::from_bytes(&[7u8; 32]);
    let now = 1_800_000_000;
    if let Ok(text) = std::str::from_utf8(data) {
        // Random text is never a valid signature.
        assert!(ConsentCookie::verify(text, &key, "site", "1", now).is_none());
    }
    let signed = ConsentCookie {
        id: ConsentId([3; 16]),
        granted: CategorySet::ALL,
        issued: 1_799_999_000,
        expires: 1_800_999_000,
    }
    .encode(&key, "site", "1");
    let Some((&at, rest)) = data.split_first() else { return };
    let Some(&with) = rest.first() else { return };
    let mut bytes = signed.into_bytes();
    let at = usize::from(at) % bytes.len();
    if bytes[at] == with {
        return;
    }
    bytes[at] = with;
    if let Ok(tampered) = String::from_utf8(bytes) {
        assert!(ConsentCookie::verify(&tampered, &key, "site", "1", now).is_none());
    }
});
