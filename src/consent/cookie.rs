//! The signed consent cookie `cp_consent`: the visitor's choice travels with every request,
//! so the proxy decides on the server, per request, what a page may contain — and stays
//! stateless, so replicas scale out.
//!
//! Format: `1.<payload>.<tag>`, base64url. The payload is 26 bytes: version, consent id
//! (16 random bytes), granted categories, issued and expiry time (Unix seconds). The tag is
//! HMAC-SHA-256 over the payload, the site name and the policy version, so a cookie from
//! another site, or from before a policy change, does not verify ("ask again"). A tampered,
//! unknown-version or expired cookie counts as no decision at all.

use std::fmt;
use std::io;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

use super::CategorySet;
use crate::catalog::ConsentId;

pub const NAME: &str = "cp_consent";
const VERSION: u8 = 1;
const PAYLOAD_LEN: usize = 26;
/// The file in the data directory that holds the signing key.
pub const KEY_FILE: &str = "secret.key";

/// The server's signing key. Replicas behind one load balancer must share it.
pub struct CookieKey(hmac::Key);

impl fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CookieKey(…)")
    }
}

impl CookieKey {
    pub fn from_bytes(bytes: &[u8]) -> CookieKey {
        CookieKey(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// Reads `data_dir/secret.key`, creating it with 32 random bytes (mode 0600) on first
    /// start.
    /// The key a server uses: its `secret_key_file` (which must exist) or the one in its
    /// data directory.
    pub fn for_server(server: &crate::config::ServerConfig) -> io::Result<CookieKey> {
        match &server.secret_key_file {
            Some(path) => crate::secrets::load(path, 32).map(|bytes| CookieKey::from_bytes(&bytes)),
            None => CookieKey::load_or_create(&server.data_dir),
        }
    }

    /// The server's key only if it already exists (for tools that sign as the server).
    pub fn existing(server: &crate::config::ServerConfig) -> io::Result<CookieKey> {
        let path = server
            .secret_key_file
            .clone()
            .unwrap_or_else(|| server.data_dir.join(KEY_FILE));
        crate::secrets::load(&path, 32).map(|bytes| CookieKey::from_bytes(&bytes))
    }

    pub fn load_or_create(data_dir: &Path) -> io::Result<CookieKey> {
        let bytes = crate::secrets::load_or_create(&data_dir.join(KEY_FILE), 32, Vec::from)?;
        Ok(CookieKey::from_bytes(&bytes))
    }
}

/// What a consent cookie says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentCookie {
    pub id: ConsentId,
    pub granted: CategorySet,
    /// Unix seconds.
    pub issued: u32,
    /// Unix seconds.
    pub expires: u32,
}

impl ConsentCookie {
    /// The cookie value, bound to `site` and `policy_version`.
    pub fn encode(&self, key: &CookieKey, site: &str, policy_version: &str) -> String {
        let payload = self.payload();
        let tag = hmac::sign(&key.0, &signed_bytes(&payload, site, policy_version));
        format!(
            "{VERSION}.{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
    }

    /// The cookie if `value` is authentic for this site and policy and not expired at
    /// `now` (Unix seconds); `None` means "no decision yet".
    pub fn verify(
        value: &str,
        key: &CookieKey,
        site: &str,
        policy_version: &str,
        now: u64,
    ) -> Option<ConsentCookie> {
        // Far longer than any cookie this proxy writes: not worth decoding.
        if value.len() > 128 {
            return None;
        }
        let mut parts = value.split('.');
        let (Some(version), Some(payload), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        if version != "1" {
            return None;
        }
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if payload.len() != PAYLOAD_LEN || payload[0] != VERSION {
            return None;
        }
        hmac::verify(&key.0, &signed_bytes(&payload, site, policy_version), &tag).ok()?;
        let mut id = [0u8; 16];
        id.copy_from_slice(&payload[1..17]);
        let granted = CategorySet::from_bits(payload[17])?;
        let issued = u32::from_be_bytes(payload[18..22].try_into().ok()?);
        let expires = u32::from_be_bytes(payload[22..26].try_into().ok()?);
        if u64::from(expires) <= now {
            return None;
        }
        Some(ConsentCookie {
            id: ConsentId(id),
            granted,
            issued,
            expires,
        })
    }

    fn payload(&self) -> [u8; PAYLOAD_LEN] {
        let mut p = [0u8; PAYLOAD_LEN];
        p[0] = VERSION;
        p[1..17].copy_from_slice(&self.id.0);
        p[17] = self.granted.bits();
        p[18..22].copy_from_slice(&self.issued.to_be_bytes());
        p[22..26].copy_from_slice(&self.expires.to_be_bytes());
        p
    }
}

fn signed_bytes(payload: &[u8], site: &str, policy_version: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(payload.len() + site.len() + policy_version.len() + 2);
    m.extend_from_slice(payload);
    m.push(0);
    m.extend_from_slice(site.as_bytes());
    m.push(0);
    m.extend_from_slice(policy_version.as_bytes());
    m
}

/// The `cp_consent` value among the request's `Cookie` headers.
/// Split by hand: this runs on every request with cookies, where the `cookie` crate's
/// splitter measured 3× slower (README, Performance).
pub fn find(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == NAME)
        .map(|(_, value)| value.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Category;

    fn key() -> CookieKey {
        CookieKey::from_bytes(&[7u8; 32])
    }

    fn cookie() -> ConsentCookie {
        ConsentCookie {
            id: ConsentId([0xab; 16]),
            granted: CategorySet::NECESSARY_ONLY.with(Category::Analytics),
            issued: 1_790_000_000,
            expires: 1_800_000_000,
        }
    }

    #[test]
    fn round_trips_and_is_compact() {
        let value = cookie().encode(&key(), "voipexpress-nl", "2026-11");
        assert!(value.len() < 90, "{value}");
        let back =
            ConsentCookie::verify(&value, &key(), "voipexpress-nl", "2026-11", 1_795_000_000);
        assert_eq!(back, Some(cookie()));
    }

    #[test]
    fn other_site_policy_key_expiry_or_tampering_is_no_decision() {
        let value = cookie().encode(&key(), "voipexpress-nl", "2026-11");
        let now = 1_795_000_000;
        assert!(ConsentCookie::verify(&value, &key(), "zonenummer-be", "2026-11", now).is_none());
        assert!(ConsentCookie::verify(&value, &key(), "voipexpress-nl", "2027-01", now).is_none());
        let other = CookieKey::from_bytes(&[8u8; 32]);
        assert!(ConsentCookie::verify(&value, &other, "voipexpress-nl", "2026-11", now).is_none());
        assert!(
            ConsentCookie::verify(&value, &key(), "voipexpress-nl", "2026-11", 1_800_000_000)
                .is_none()
        );
        // Flip one character of the payload: the tag no longer matches.
        let mut tampered = value.clone().into_bytes();
        tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).expect("ascii");
        assert!(
            ConsentCookie::verify(&tampered, &key(), "voipexpress-nl", "2026-11", now).is_none()
        );
        assert!(
            ConsentCookie::verify(
                &value.replacen('1', "2", 1),
                &key(),
                "voipexpress-nl",
                "2026-11",
                now
            )
            .is_none()
        );
        for junk in ["", "1", "1..", "1.!!!.???", &"x".repeat(500)] {
            assert!(
                ConsentCookie::verify(junk, &key(), "voipexpress-nl", "2026-11", now).is_none()
            );
        }
    }

    #[test]
    fn key_is_created_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = CookieKey::load_or_create(dir.path()).expect("create");
        let value = cookie().encode(&first, "s", "1");
        let again = CookieKey::load_or_create(dir.path()).expect("load");
        assert!(ConsentCookie::verify(&value, &again, "s", "1", 1_795_000_000).is_some());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn consent_cookie_is_found_among_others() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            http::HeaderValue::from_static("a=1; cp_consent=1.abc.def; PHPSESSID=xyz"),
        );
        assert_eq!(find(&h), Some("1.abc.def"));
    }
}
