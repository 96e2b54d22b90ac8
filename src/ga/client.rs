//! The client id and session GA needs to count users and sessions — first-party cookies,
//! set only after `analytics` consent and expired with it (they are in the tracker table's
//! Google Analytics entry).
//!
//! - client id: the visitor's existing `_ga` value when present (so GA's returning users
//!   stay returning), else `cp_cid`, a random `<number>.<unix seconds>` like GA's own;
//! - session: `cp_sid` = `<session id>.<session number>.<last event ms>`; a session ends
//!   after 30 minutes without events, as in GA.

use ring::rand::{SecureRandom, SystemRandom};

pub const CLIENT_COOKIE: &str = "cp_cid";
pub const SESSION_COOKIE: &str = "cp_sid";

/// A session ends after this long without events (GA4's default).
pub const SESSION_TIMEOUT_MS: i64 = 30 * 60 * 1000;

/// Who the visitor is to GA, and whether the cookies need (re)setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    /// A new `cp_cid` to set (none when `_ga` or a valid `cp_cid` was there).
    pub new_client_cookie: bool,
    pub session_id: i64,
    pub session_number: u32,
}

/// The value of cookie `name` in `Cookie` header values.
fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .and_then(|c| c.value_raw())
}

/// `GA1.1.1234567890.1733212345` → `1234567890.1733212345`.
fn from_ga(value: &str) -> Option<String> {
    let mut parts = value.split('.');
    let (_, _, id, time) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    valid_id(id, time)
}

fn valid_id(id: &str, time: &str) -> Option<String> {
    let digits = |s: &str| !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit());
    (digits(id) && digits(time)).then(|| format!("{id}.{time}"))
}

impl Client {
    /// The client and session for an event at `now_ms`, from the request's cookies.
    pub fn of(headers: &http::HeaderMap, now_ms: i64) -> Client {
        let existing = cookie(headers, "_ga").and_then(from_ga).or_else(|| {
            let (id, time) = cookie(headers, CLIENT_COOKIE)?.split_once('.')?;
            valid_id(id, time)
        });
        let new_client_cookie = existing.is_none();
        let client_id = existing.unwrap_or_else(|| {
            let mut random = [0u8; 4];
            let _ = SystemRandom::new().fill(&mut random);
            format!(
                "{}.{}",
                u32::from_be_bytes(random) % 2_000_000_000,
                now_ms / 1000
            )
        });
        let previous = cookie(headers, SESSION_COOKIE).and_then(|v| {
            let mut parts = v.split('.');
            let id: i64 = parts.next()?.parse().ok()?;
            let number: u32 = parts.next()?.parse().ok()?;
            let last: i64 = parts.next()?.parse().ok()?;
            Some((id, number, last))
        });
        let (session_id, session_number) = match previous {
            Some((id, number, last)) if now_ms - last < SESSION_TIMEOUT_MS && last <= now_ms => {
                (id, number)
            }
            Some((_, number, _)) => (now_ms / 1000, number.saturating_add(1)),
            None => (now_ms / 1000, 1),
        };
        Client {
            client_id,
            new_client_cookie,
            session_id,
            session_number,
        }
    }

    /// The `Set-Cookie` values to send back: the session always (its last-event time
    /// moves), the client id when it is new. HttpOnly: only the proxy reads them.
    pub fn set_cookies(&self, now_ms: i64, max_age: u64, secure: bool) -> Vec<String> {
        let build = |name: &'static str, value: String| {
            cookie::Cookie::build((name, value))
                .path("/")
                .max_age(cookie::time::Duration::seconds(
                    i64::try_from(max_age).unwrap_or(i64::MAX),
                ))
                .same_site(cookie::SameSite::Lax)
                .http_only(true)
                .secure(secure)
                .to_string()
        };
        let mut out = vec![build(
            SESSION_COOKIE,
            format!("{}.{}.{now_ms}", self.session_id, self.session_number),
        )];
        if self.new_client_cookie {
            out.push(build(CLIENT_COOKIE, self.client_id.clone()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::COOKIE, cookie.parse().unwrap());
        h
    }

    #[test]
    fn an_existing_ga_cookie_keeps_the_client_id() {
        let c = Client::of(
            &headers("_ga=GA1.1.1234567890.1733212345; x=1"),
            1_800_000_000_000,
        );
        assert_eq!(c.client_id, "1234567890.1733212345");
        assert!(!c.new_client_cookie);
        assert_eq!((c.session_id, c.session_number), (1_800_000_000, 1));
    }

    #[test]
    fn sessions_continue_within_thirty_minutes_and_count_up_after() {
        let now = 1_800_000_000_000;
        let c = Client::of(
            &headers(&format!(
                "cp_cid=42.1700000000; cp_sid=1799999000.3.{}",
                now - 60_000
            )),
            now,
        );
        assert_eq!(c.client_id, "42.1700000000");
        assert_eq!((c.session_id, c.session_number), (1_799_999_000, 3));
        let later = Client::of(
            &headers(&format!(
                "cp_sid=1799999000.3.{}",
                now - SESSION_TIMEOUT_MS - 1
            )),
            now,
        );
        assert_eq!((later.session_id, later.session_number), (1_800_000_000, 4));
        assert!(later.new_client_cookie);
    }
}
