//! Where ACME state lives: `data_dir/acme/` — the account (per directory URL) and each
//! site's chain and key, private to the proxy's user (0600), written whole or not at all.

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct AcmeFiles {
    dir: PathBuf,
}

impl AcmeFiles {
    pub fn new(data_dir: &Path) -> AcmeFiles {
        AcmeFiles {
            dir: data_dir.join("acme"),
        }
    }

    fn ensure(&self) -> io::Result<()> {
        crate::secrets::private_dir(&self.dir)
    }

    /// The account's credentials (JSON) for this directory, if one was created before.
    pub fn account(&self, directory: &str) -> io::Result<Option<String>> {
        read_optional(&self.account_path(directory))
    }

    pub fn save_account(&self, directory: &str, credentials: &str) -> io::Result<()> {
        self.ensure()?;
        write_private(&self.account_path(directory), credentials.as_bytes())
    }

    /// The site's stored chain and key (PEM).
    pub fn certificate(&self, site: &str) -> io::Result<Option<(String, String)>> {
        let (chain, key) = self.cert_paths(site);
        match (read_optional(&chain)?, read_optional(&key)?) {
            (Some(chain), Some(key)) => Ok(Some((chain, key))),
            _ => Ok(None),
        }
    }

    /// The key first, then the chain: a crash in between leaves the old chain with a new
    /// key, which fails to load as a pair and is ordered again — never a mismatched pair
    /// served.
    pub fn save_certificate(&self, site: &str, chain: &str, key: &str) -> io::Result<()> {
        self.ensure()?;
        let (chain_path, key_path) = self.cert_paths(site);
        write_private(&key_path, key.as_bytes())?;
        write_private(&chain_path, chain.as_bytes())
    }

    /// Account files are named by a hash of the directory URL: staging and production (or
    /// a test CA) never share an account.
    fn account_path(&self, directory: &str) -> PathBuf {
        let digest = ring::digest::digest(&ring::digest::SHA256, directory.as_bytes());
        let short: String = digest.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.dir.join(format!("account-{short}.json"))
    }

    /// Site names are validated to `a-z0-9-_`, so they are safe file names.
    fn cert_paths(&self, site: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("{site}.crt")),
            self.dir.join(format!("{site}.key")),
        )
    }
}

fn read_optional(path: &Path) -> io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("`{}`: {e}", path.display()),
        )),
    }
}

/// Writes to a temporary file (0600) in the same directory and renames it into place.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
