//! Durable storage: the consent records now, the statistics later.
//!
//! SQLite is the embedded default: one file in the data directory, zero setup. The
//! database runs in WAL mode with `synchronous = FULL`, so a record is on disk when its
//! insert returns — the proxy answers a consent only after that (GDPR art. 7(1): the
//! controller must be able to demonstrate consent).

pub mod consents;
pub mod events;
pub mod funnel;
pub mod ga_queue;
pub mod retention;
pub mod salts;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use consents::{ConsentQuery, ConsentRecord, Method, StoredConsent};
pub use events::{GaQueued, Ingest};
pub use ga_queue::QueuedEvent;

/// Why the store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage url `{0}` is not supported (use `sqlite://FILE`)")]
    Unsupported(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot create the database file privately: {0}")]
    File(std::io::Error),
    #[error("the store's writer has stopped")]
    Closed,
    #[error("write failed: {0}")]
    Write(String),
}

/// The store, shared by every worker and the admin listener.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    /// The group-committing event writer (see `events`).
    writer: tokio::sync::mpsc::Sender<events::Job>,
}

impl Store {
    /// Opens (creating if needed) the database named by `url`, relative to `data_dir`,
    /// and brings its schema up to date.
    pub async fn open(url: &str, data_dir: &Path) -> Result<Store, StoreError> {
        let file = url
            .strip_prefix("sqlite://")
            .ok_or_else(|| StoreError::Unsupported(url.to_owned()))?;
        let path = data_dir.join(file);
        crate::secrets::private_file(&path).map_err(StoreError::File)?;
        for suffix in ["-wal", "-shm"] {
            let mut side = path.clone().into_os_string();
            side.push(suffix);
            let side = std::path::PathBuf::from(side);
            if side.exists() {
                crate::secrets::private_file(&side).map_err(StoreError::File)?;
            }
        }
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let (writer, jobs) = tokio::sync::mpsc::channel(4096);
        let store = Store { pool, writer };
        store.migrate().await?;
        tokio::spawn(events::run_writer(store.pool.clone(), jobs));
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let schemas = [
            consents::SCHEMA,
            events::SCHEMA,
            ga_queue::SCHEMA,
            salts::SCHEMA,
            funnel::SCHEMA,
        ];
        for statement in schemas.into_iter().flatten() {
            sqlx::query(statement).execute(&self.pool).await?;
        }
        Ok(())
    }
}
