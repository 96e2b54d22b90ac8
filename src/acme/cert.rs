//! A stored certificate as the renewal schedule sees it: its names and validity, and the
//! rustls key that serves it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// A certificate chain with its key, ready for the SNI resolver.
#[derive(Debug, Clone)]
pub struct Issued {
    pub key: Arc<CertifiedKey>,
    pub names: Vec<String>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl Issued {
    /// Parses a PEM chain (leaf first) and its PEM private key.
    pub fn from_pem(chain_pem: &str, key_pem: &str) -> Result<Issued, String> {
        let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut chain_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("certificate chain is not valid PEM: {e}"))?;
        let leaf = chain.first().ok_or("the chain holds no certificate")?;
        let (names, not_before, not_after) = inspect(leaf)?;
        let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_bytes())
            .map_err(|e| format!("key is not valid PEM: {e}"))?
            .ok_or("no private key")?;
        let signing = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| format!("unsupported key: {e}"))?;
        let certified = CertifiedKey::new(chain, signing);
        certified
            .keys_match()
            .map_err(|e| format!("key does not belong to the certificate: {e}"))?;
        Ok(Issued {
            key: Arc::new(certified),
            names,
            not_before,
            not_after,
        })
    }

    /// Renewal starts when a third of the lifetime is left (Let's Encrypt's advice: day 60
    /// of 90), so a CA outage of weeks is survived.
    pub fn renew_at(&self) -> SystemTime {
        let lifetime = self
            .not_after
            .duration_since(self.not_before)
            .unwrap_or_default();
        self.not_after - lifetime / 3
    }

    /// Whether the certificate names exactly these hosts (a host added to the site needs a
    /// new certificate).
    pub fn covers(&self, hosts: &[String]) -> bool {
        hosts.iter().all(|h| self.names.iter().any(|n| n == h))
    }

    pub fn days_left(&self, now: SystemTime) -> f64 {
        match self.not_after.duration_since(now) {
            Ok(left) => left.as_secs_f64() / 86_400.0,
            Err(past) => -past.duration().as_secs_f64() / 86_400.0,
        }
    }
}

/// DNS names and validity of a DER certificate.
fn inspect(der: &CertificateDer<'_>) -> Result<(Vec<String>, SystemTime, SystemTime), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("certificate cannot be parsed: {e}"))?;
    let time = |t: i64| UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0));
    let validity = cert.validity();
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
                names.push(dns.to_ascii_lowercase());
            }
        }
    }
    Ok((
        names,
        time(validity.not_before.timestamp()),
        time(validity.not_after.timestamp()),
    ))
}

/// The self-signed certificate of a `tls-alpn-01` challenge (RFC 8737 §3): the name being
/// validated and the SHA-256 of the key authorization in the critical `acmeIdentifier`
/// extension.
pub fn alpn_challenge(host: &str, digest: &[u8]) -> Result<Arc<CertifiedKey>, String> {
    let mut params = rcgen::CertificateParams::new(vec![host.to_owned()])
        .map_err(|e| format!("challenge certificate for `{host}`: {e}"))?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    let der = PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let signing =
        rustls::crypto::ring::sign::any_supported_type(&der).map_err(|e| e.to_string())?;
    Ok(Arc::new(CertifiedKey::new(
        vec![cert.der().clone()],
        signing,
    )))
}
