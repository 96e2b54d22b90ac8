//! Logging in to the dashboard: users with argon2id password hashes, sessions in an
//! `HttpOnly`, `SameSite=Strict` cookie (`Secure` over TLS) that hold only a random id
//! (its SHA-256 is what the store keeps), a CSRF token per session checked on every state
//! change, and failed logins limited per user name and per address (OWASP Authentication
//! Cheat Sheet).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Admin;
use super::html::{self, esc};

pub const COOKIE: &str = "cp_dash";
/// A session lasts a working day.
pub const LIFETIME_SECS: i64 = 12 * 3600;
/// Failed logins allowed per user name, and per address, in [`WINDOW`].
const PER_USER: u32 = 5;
const PER_ADDRESS: u32 = 20;
const WINDOW: Duration = Duration::from_secs(15 * 60);

/// A role on one site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, including the consent-record export.
    Owner,
    /// The statistics only.
    Viewer,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "owner" => Some(Role::Owner),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// Who is logged in, as the pages see it.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub username: String,
    pub csrf: String,
    /// The sites they may see, with their role, in configuration order.
    pub sites: Vec<(String, Role)>,
}

impl Viewer {
    pub fn role(&self, site: &str) -> Option<Role> {
        self.sites.iter().find(|(s, _)| s == site).map(|(_, r)| *r)
    }
}

/// The address a request came from (set by the listener).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub IpAddr);

/// Set by the public HTTPS listener on the dashboard host: the session cookie gets
/// `Secure`.
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

/// Argon2id with the crate's defaults (19 MiB, 2 passes: OWASP's recommendation).
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| "no system randomness".to_owned())?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Failed logins per key in a sliding window.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginLimiter {
    fn blocked(&self, key: &str, limit: u32) -> bool {
        let map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(key)
            .is_some_and(|(n, since)| *n >= limit && since.elapsed() < WINDOW)
    }

    fn fail(&self, key: String) {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 100_000 {
            map.retain(|_, (_, since)| since.elapsed() < WINDOW);
        }
        let entry = map.entry(key).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    fn clear(&self, key: &str) {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.remove(key);
    }
}

/// The session id in the request's cookies.
fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

/// Pages behind the login: a request without a live session goes to the login form.
pub async fn require_session(State(admin): State<Admin>, mut req: Request, next: Next) -> Response {
    let Some(id) = session_id(req.headers()) else {
        return redirect("/dashboard/login");
    };
    let now = i64::try_from(crate::clock::unix_now()).unwrap_or(i64::MAX);
    let session = match admin.store.session(&id, now).await {
        Ok(Some(s)) => s,
        Ok(None) => return redirect("/dashboard/login"),
        Err(e) => {
            tracing::error!(error = %e, "cannot read a dashboard session");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let user = match admin.store.user(&session.username).await {
        Ok(Some(u)) => u,
        Ok(None) => return redirect("/dashboard/login"),
        Err(e) => {
            tracing::error!(error = %e, "cannot read a dashboard user");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    // The configured order; sites no longer configured are left out.
    let configured = admin.sites.load();
    let sites = configured
        .iter()
        .filter_map(|s| {
            user.sites
                .iter()
                .find(|(name, _)| *name == s.name)
                .and_then(|(name, role)| Some((name.clone(), Role::parse(role)?)))
        })
        .collect();
    req.extensions_mut().insert(Viewer {
        username: user.username,
        csrf: session.csrf,
        sites,
    });
    next.run(req).await
}

pub async fn login_form() -> Response {
    login_page(StatusCode::OK, None)
}

fn login_page(status: StatusCode, problem: Option<&str>) -> Response {
    let problem = problem
        .map(|p| format!("<p class=\"problem\" role=\"alert\">{}</p>", esc(p)))
        .unwrap_or_default();
    let body = format!(
        "<main class=\"login\"><h1>consent-proxy statistics</h1>{problem}\
         <form method=\"post\" action=\"/dashboard/login\">\
         <label for=\"username\">User name</label>\
         <input id=\"username\" name=\"username\" autocomplete=\"username\" required>\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Log in</button></form></main>"
    );
    with_headers(status, html::page("Log in — consent-proxy", &body))
}

/// An HTML answer with the dashboard's security headers.
pub fn with_headers(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, html::CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
            // `same-origin`, not `no-referrer`: with the latter a browser sends `Origin: null` on
            // the login form, which the login CSRF check has to refuse.
            (header::REFERRER_POLICY, "same-origin"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
        .into_response()
}

#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

/// A cross-site form cannot log a visitor into an account of the attacker's (login CSRF):
/// a browser's `Origin` must be this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        None => true,
        Some(origin) => host.is_some_and(|h| {
            origin
                .split_once("://")
                .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(h))
        }),
    }
}

pub async fn login(
    State(admin): State<Admin>,
    peer: Option<axum::Extension<Peer>>,
    tls: Option<axum::Extension<OverTls>>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        return login_page(StatusCode::FORBIDDEN, Some("Log in from this page."));
    }
    let address = peer.map(|p| p.0.0.to_string()).unwrap_or_default();
    let user_key = format!("u:{}", form.username.to_lowercase());
    let address_key = format!("a:{address}");
    if admin.logins.blocked(&user_key, PER_USER) || admin.logins.blocked(&address_key, PER_ADDRESS)
    {
        let mut resp = login_page(
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many failed attempts. Try again in 15 minutes."),
        );
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("900"),
        );
        return resp;
    }
    let user = match admin.store.user(&form.username).await {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, "cannot read dashboard users");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    // An unknown name costs the same hash as a known one: the time says nothing.
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.to_owned());
    let password = form.password.clone();
    let ok = tokio::task::spawn_blocking(move || verify(&password, &hash))
        .await
        .unwrap_or(false)
        && user.is_some();
    if !ok {
        admin.logins.fail(user_key);
        admin.logins.fail(address_key);
        // Only the fact, never the name typed (it may be a password typed in the wrong box).
        tracing::warn!(%address, "dashboard: failed login");
        return login_page(
            StatusCode::UNAUTHORIZED,
            Some("Wrong user name or password."),
        );
    }
    admin.logins.clear(&user_key);
    let id = random_hex(32);
    let csrf = random_hex(16);
    let now = i64::try_from(crate::clock::unix_now()).unwrap_or(i64::MAX);
    if let Err(e) = admin
        .store
        .add_session(&id, &form.username, &csrf, now, now + LIFETIME_SECS)
        .await
    {
        tracing::error!(error = %e, "cannot store a dashboard session");
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let secure = if tls.is_some() { "; Secure" } else { "" };
    let mut resp = redirect("/dashboard");
    if let Ok(v) =
        format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={LIFETIME_SECS}{secure}")
            .parse()
    {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// A hash of a random password, for the timing of unknown user names.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Q1rKhV2o6y0h5kh3Gq0b1P0g2cE0lQfY0a7Nf2s9YbE";

#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    /// Missing is the same as wrong: `403`, not a form error.
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(admin): State<Admin>,
    axum::Extension(viewer): axum::Extension<Viewer>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Response {
    if !csrf_ok(&viewer, &form.csrf) {
        return (StatusCode::FORBIDDEN, "missing or wrong CSRF token\n").into_response();
    }
    if let Some(id) = session_id(&headers)
        && let Err(e) = admin.store.end_session(&id).await
    {
        tracing::error!(error = %e, "cannot end a dashboard session");
    }
    let mut resp = redirect("/dashboard/login");
    resp.headers_mut().insert(
        header::SET_COOKIE,
        axum::http::HeaderValue::from_static(
            "cp_dash=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    resp
}

/// Constant-time comparison of the presented CSRF token with the session's.
pub fn csrf_ok(viewer: &Viewer, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    !viewer.csrf.is_empty() && bool::from(viewer.csrf.as_bytes().ct_eq(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify("correct horse", &hash));
        assert!(!verify("Correct horse", &hash));
        assert!(!verify("correct horse", DUMMY_HASH));
    }

    #[test]
    fn failures_are_limited_per_key() {
        let limiter = LoginLimiter::default();
        for _ in 0..PER_USER {
            assert!(!limiter.blocked("u:a", PER_USER));
            limiter.fail("u:a".into());
        }
        assert!(limiter.blocked("u:a", PER_USER));
        assert!(!limiter.blocked("u:b", PER_USER));
        limiter.clear("u:a");
        assert!(!limiter.blocked("u:a", PER_USER));
    }
}
