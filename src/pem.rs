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
