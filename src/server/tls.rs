//! TLS: one certificate per site, chosen by SNI, with ALPN `h2` and `http/1.1`.
//!
//! Certificates are looked up by host name in a [`CertStore`] that is part of the
//! reloadable state, so a reload (or, later, an ACME client filling the store) changes
//! certificates without dropping the listener.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::State;
use crate::acme::{ALPN_CHALLENGE_PROTOCOL, Acme};
use crate::config::{Config, Problem};

/// Host name → certificate, for every site with a `tls` section.
#[derive(Debug, Default)]
pub struct CertStore {
    by_host: HashMap<String, Arc<CertifiedKey>>,
}

impl CertStore {
    pub fn load(config: &Config) -> Result<CertStore, Vec<Problem>> {
        let mut by_host = HashMap::new();
        let mut problems = Vec::new();
        for site in &config.sites {
            let Some(files) = site.tls.as_ref().and_then(crate::config::SiteTls::files) else {
                continue;
            };
            // `check-config --offline` has reported a missing file as a warning already.
            if !files.cert.is_file() || !files.key.is_file() {
                continue;
            }
            match load_certified_key(&files.cert, &files.key) {
                Ok(key) => {
                    let key = Arc::new(key);
                    for host in &site.hosts {
                        by_host.insert(host.clone(), Arc::clone(&key));
                    }
                }
                Err((field, message)) => problems.push(Problem::site(&site.name, field, message)),
            }
        }
        if problems.is_empty() {
            Ok(CertStore { by_host })
        } else {
            Err(problems)
        }
    }

    pub fn get(&self, server_name: &str) -> Option<Arc<CertifiedKey>> {
        self.by_host.get(&server_name.to_ascii_lowercase()).cloned()
    }
}

fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, (&'static str, String)> {
    let chain = crate::pem::certificates(cert).map_err(|e| ("tls.cert", e))?;
    let der = crate::pem::private_key(key).map_err(|e| ("tls.key", e))?;
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&der).map_err(|e| {
        (
            "tls.key",
            format!("`{}`: unsupported key: {e}", key.display()),
        )
    })?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified.keys_match().map_err(|e| {
        (
            "tls.key",
            format!(
                "`{}` does not belong to the certificate: {e}",
                key.display()
            ),
        )
    })?;
    Ok(certified)
}

/// Resolves a certificate from the *current* state on every handshake: the site's files,
/// or what ACME holds for the name.
#[derive(Debug)]
struct SniResolver {
    state: Arc<ArcSwap<State>>,
    acme: Arc<Acme>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // No SNI, or a name no site has: the handshake fails rather than revealing which
        // sites live here through a default certificate.
        let name = hello.server_name()?.to_ascii_lowercase();
        // A CA validating `tls-alpn-01` offers only `acme-tls/1` and gets only the challenge
        // certificate (RFC 8737 §3); nobody else ever sees one.
        if hello
            .alpn()
            .is_some_and(|mut offered| offered.any(|p| p == ALPN_CHALLENGE_PROTOCOL))
        {
            return self.acme.alpn_certificate(&name);
        }
        self.state
            .load()
            .certs
            .get(&name)
            .or_else(|| self.acme.certificate(&name))
    }
}

/// `alpn_challenge`: offer `acme-tls/1` so a CA can validate by `tls-alpn-01`.
pub fn server_config(
    state: Arc<ArcSwap<State>>,
    acme: Arc<Acme>,
    alpn_challenge: bool,
) -> Result<ServerConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { state, acme }));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    if alpn_challenge {
        config.alpn_protocols.push(ALPN_CHALLENGE_PROTOCOL.to_vec());
    }
    Ok(config)
}
