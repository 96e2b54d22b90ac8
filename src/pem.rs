//! Certificates and keys read from PEM files, with errors that name the file.
//!
//! Shared by the configuration check, the TLS listener, the origin client and the ACME
//! store, so every one of them reports a bad file the same way.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn open(path: &Path) -> Result<BufReader<File>, String> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

/// Every certificate in the file, in order; an error when there is none.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = rustls_pemfile::certs(&mut open(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("`{}` is not valid PEM: {e}", path.display()))?;
    if chain.is_empty() {
        return Err(format!("`{}` holds no certificate", path.display()));
    }
    Ok(chain)
}

/// The first private key in the file.
pub fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    rustls_pemfile::private_key(&mut open(path)?)
        .map_err(|e| format!("`{}` is not valid PEM: {e}", path.display()))?
        .ok_or_else(|| format!("`{}` holds no private key", path.display()))
}

/// rustls client settings that trust the certificates of `ca` (a private or test CA), or
/// Mozilla's public roots compiled in — so verification does not depend on the host's CA
/// bundle. There is no way to turn verification off.
pub fn client_config(ca: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(ca) => {
            for cert in certificates(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("`{}`: unusable CA certificate: {e}", ca.display()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
