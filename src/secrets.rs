//! Secrets kept in the data directory (the consent-cookie signing key, the admin API
//! token): created on first start from the system's randomness, mode 0600, and never
//! rewritten, so restarts and replicas sharing the directory agree. The data directory
//! itself is private too: consent records and keys are nobody else's business.

use std::io::{self, Write};
use std::path::Path;

use ring::rand::{SecureRandom, SystemRandom};

/// Creates `dir` if needed and makes it private to the proxy's user (0700).
pub fn private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Creates `file` empty if it does not exist, and makes it private (0600) either way.
/// SQLite gives its `-wal` and `-shm` files the mode of the database file, so a database
/// created through this stays private with them.
pub fn private_file(file: &Path) -> io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(file)?;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
}

/// Reads a secret that must exist. A file shorter than `min_len` is an error, not
/// silently replaced: another replica or an operator may rely on it.
pub fn load(path: &Path, min_len: usize) -> io::Result<Vec<u8>> {
    let bytes = std::fs::read(path)
        .map_err(|e| io::Error::new(e.kind(), format!("`{}`: {e}", path.display())))?;
    if bytes.len() < min_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("`{}` is shorter than {min_len} bytes", path.display()),
        ));
    }
    Ok(bytes)
}

/// Reads `path` like [`load`], or creates it with `encode(32 random bytes)` when it does
/// not exist.
pub fn load_or_create(
    path: &Path,
    min_len: usize,
    encode: impl FnOnce([u8; 32]) -> Vec<u8>,
) -> io::Result<Vec<u8>> {
    match load(path, min_len) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        other => return other,
    }
    let mut random = [0u8; 32];
    SystemRandom::new()
        .fill(&mut random)
        .map_err(|_| io::Error::other("no system randomness"))?;
    let bytes = encode(random);
    // Written under a temporary name and renamed, so a crash never leaves half a secret.
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(bytes)
}
