//! Cookie enforcement on the hot path, per request: the `Cookie` header of a returning
//! visitor (site cookies, GA and Meta cookies, the consent cookie) stripped for an
//! undecided visitor, the upstream's `Set-Cookie`s sorted, and the consent cookie found.
//! Measured before and after the move to the `cookie` crate (README, Performance).
//!
//!     cargo bench --bench cookies

use consent_proxy::catalog::trackers::{self, Rules};
use consent_proxy::catalog::{CategorySet, UnknownCookies};
use consent_proxy::consent::ConsentState;
use consent_proxy::consent::enforce::{self, Enforced};
use criterion::{Criterion, criterion_group, criterion_main};
use http::HeaderMap;
use http::header::{COOKIE, HeaderValue, SET_COOKIE};

const REQUEST_COOKIES: &str = "PHPSESSID=9f2c1b7e4a; wp-settings-1=libraryContent%3Dbrowse; \
    _ga=GA1.1.1234567890.1764000000; _ga_ABC123=GS1.1.1764000000.3.1.1764000100.0.0.0; \
    _gid=GA1.2.987654321.1764000000; _fbp=fb.1.1764000000000.123456789; \
    cp_consent=1.AAECAwQFBgcICQoLDA0ODw.1764000000.1779552000.abcdefghijklmnopqrstuvwxyz012345; \
    lang=nl";

const SET_COOKIES: [&str; 4] = [
    "PHPSESSID=9f2c1b7e4a; path=/; HttpOnly; SameSite=Lax",
    "_ga=GA1.1.1234567890.1764000000; Path=/; Domain=.voipexpress.nl; Max-Age=63072000; SameSite=Lax",
    "_fbp=fb.1.1764000000000.123456789; Path=/; Max-Age=7776000; SameSite=Lax",
    "lang=nl; Path=/; Max-Age=31536000",
];

fn bench(c: &mut Criterion) {
    let rules = Rules::compile(&trackers::builtin()).expect("rules");
    let undecided = ConsentState::undecided();
    let granted = ConsentState::decided(CategorySet::ALL);
    let mut request = HeaderMap::new();
    request.insert(COOKIE, HeaderValue::from_static(REQUEST_COOKIES));
    let mut response = HeaderMap::new();
    for value in SET_COOKIES {
        response.append(SET_COOKIE, HeaderValue::from_static(value));
    }

    c.bench_function("cookies/strip_request_undecided", |b| {
        b.iter(|| {
            let mut headers = request.clone();
            let mut out = Enforced::default();
            enforce::strip_request_cookies(
                &mut headers,
                &rules,
                &undecided,
                UnknownCookies::Allow,
                &mut out,
            );
            headers
        })
    });
    c.bench_function("cookies/strip_request_granted", |b| {
        b.iter(|| {
            let mut headers = request.clone();
            let mut out = Enforced::default();
            enforce::strip_request_cookies(
                &mut headers,
                &rules,
                &granted,
                UnknownCookies::Allow,
                &mut out,
            );
            headers
        })
    });
    c.bench_function("cookies/drop_set_cookies_undecided", |b| {
        b.iter(|| {
            let mut headers = response.clone();
            let mut out = Enforced::default();
            enforce::drop_set_cookies(
                &mut headers,
                &rules,
                &undecided,
                UnknownCookies::Allow,
                &mut out,
            );
            headers
        })
    });
    c.bench_function("cookies/expiry_cookies", |b| {
        b.iter(|| enforce::expiry_cookies("_ga", "www.voipexpress.nl", true))
    });
    c.bench_function("cookies/find_consent", |b| {
        b.iter(|| consent_proxy::consent::cookie::find(&request).map(str::len))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
