//! Where ACME state is kept: files in `data_dir/acme` for a single proxy (SQLite), or the
//! shared PostgreSQL store when replicas run side by side — then they share the account
//! and certificates, answer each other's `http-01` challenges, and a lease lets only one
//! of them order a site's certificate at a time.

use std::time::Duration;

use super::files::AcmeFiles;
use crate::store::Store;

/// How long one replica may hold a site's order before another may take over (an order
/// takes seconds; a crashed replica's lease runs out).
const LEASE: Duration = Duration::from_secs(600);

/// How long a published `http-01` answer stays valid.
const CHALLENGE_LIFETIME: Duration = Duration::from_secs(600);

#[derive(Debug)]
pub enum Keeper {
    Files(AcmeFiles),
    Shared { store: Store, holder: String },
}

fn now() -> i64 {
    i64::try_from(crate::clock::unix_now()).unwrap_or(i64::MAX)
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Keeper {
    pub fn new(data_dir: &std::path::Path, store: &Store) -> Keeper {
        if store.kind() == "postgres" {
            // Unique per process: a lease names who holds it.
            let mut id = [0u8; 12];
            let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id);
            Keeper::Shared {
                store: store.clone(),
                holder: id.iter().map(|b| format!("{b:02x}")).collect(),
            }
        } else {
            Keeper::Files(AcmeFiles::new(data_dir))
        }
    }

    pub fn is_shared(&self) -> bool {
        matches!(self, Keeper::Shared { .. })
    }

    pub async fn account(&self, directory: &str) -> Result<Option<String>, String> {
        match self {
            Keeper::Files(files) => files.account(directory).map_err(|e| e.to_string()),
            Keeper::Shared { store, .. } => store
                .acme_account(directory)
                .await
                .map_err(|e| e.to_string()),
        }
    }

    /// Stores new credentials; returns the ones kept (another replica's, if it was first).
    pub async fn save_account(&self, directory: &str, credentials: &str) -> Result<String, String> {
        match self {
            Keeper::Files(files) => files
                .save_account(directory, credentials)
                .map(|()| credentials.to_owned())
                .map_err(|e| e.to_string()),
            Keeper::Shared { store, .. } => store
                .save_acme_account(directory, credentials)
                .await
                .map_err(|e| e.to_string()),
        }
    }

    pub async fn certificate(&self, site: &str) -> Result<Option<(String, String)>, String> {
        match self {
            Keeper::Files(files) => files.certificate(site).map_err(|e| e.to_string()),
            Keeper::Shared { store, .. } => store
                .acme_certificate(site)
                .await
                .map_err(|e| e.to_string()),
        }
    }

    pub async fn save_certificate(&self, site: &str, chain: &str, key: &str) -> Result<(), String> {
        match self {
            Keeper::Files(files) => files
                .save_certificate(site, chain, key)
                .map_err(|e| e.to_string()),
            Keeper::Shared { store, .. } => store
                .save_acme_certificate(site, chain, key, now())
                .await
                .map_err(|e| e.to_string()),
        }
    }

    /// Whether this process may order the site's certificate now. A single proxy always
    /// may (its data directory is locked to it).
    pub async fn lease(&self, site: &str) -> Result<bool, String> {
        match self {
            Keeper::Files(_) => Ok(true),
            Keeper::Shared { store, holder } => {
                let now = now();
                store
                    .acme_lease(site, holder, now, now + secs(LEASE))
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }

    pub async fn release(&self, site: &str) {
        if let Keeper::Shared { store, holder } = self
            && let Err(error) = store.release_acme_lease(site, holder).await
        {
            tracing::warn!(site, %error, "cannot release the ACME order lease; it runs out by itself");
        }
    }

    /// Makes an `http-01` answer visible to the other replicas.
    pub async fn publish(&self, token: &str, key_authorization: &str) -> Result<(), String> {
        match self {
            Keeper::Files(_) => Ok(()),
            Keeper::Shared { store, .. } => store
                .add_acme_challenge(token, key_authorization, now() + secs(CHALLENGE_LIFETIME))
                .await
                .map_err(|e| e.to_string()),
        }
    }

    pub async fn withdraw(&self, token: &str) {
        if let Keeper::Shared { store, .. } = self {
            let _ = store.remove_acme_challenge(token, now()).await;
        }
    }

    /// Another replica's `http-01` answer.
    pub async fn published(&self, token: &str) -> Option<String> {
        match self {
            Keeper::Files(_) => None,
            Keeper::Shared { store, .. } => store.acme_challenge(token, now()).await.ok().flatten(),
        }
    }
}
