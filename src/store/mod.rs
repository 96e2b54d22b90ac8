//! Durable storage: consent records, raw events and their rollups, the GA queue, the
//! daily salts, API tokens.
//!
//! SQLite is the embedded default: one file in the data directory, zero setup. The
//! database runs in WAL mode with `synchronous = FULL`, so a record is on disk when its
//! insert returns — the proxy answers a consent only after that (GDPR art. 7(1): the
//! controller must be able to demonstrate consent). PostgreSQL (`postgres://…`) is the
//! shared store of several replicas behind one load balancer; everything that must be
//! the same for all of them (salts, the GA queue, rollups) is decided in the database.
//! Schemas are versioned migrations embedded in the binary (`migrations/`), run at start.

pub mod acme;
pub mod consents;
pub mod db;
pub mod enforcement;
pub mod events;
pub mod funnel;
pub mod ga_queue;
pub mod retention;
pub mod rollup;
pub mod salts;
pub mod tokens;
pub mod users;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use consents::{ConsentQuery, ConsentRecord, Method, StoredConsent};
pub use events::{GaQueued, Ingest};
pub use ga_queue::QueuedEvent;

/// Why the store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage url `{0}` is not supported (use `sqlite://FILE` or `postgres://…`)")]
    Unsupported(String),
    #[error("cannot bring the database schema up to date: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
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
    db: db::Db,
    /// The group-committing event writer (see `events`).
    writer: tokio::sync::mpsc::Sender<events::Job>,
}

impl Store {
    /// Opens (creating if needed) the database named by `url` — `sqlite://FILE` relative
    /// to `data_dir`, or `postgres://…` — and brings its schema up to date.
    pub async fn open(url: &str, data_dir: &Path) -> Result<Store, StoreError> {
        let db = if let Some(file) = url.strip_prefix("sqlite://") {
            db::Db::Sqlite(open_sqlite(&data_dir.join(file)).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            db::Db::Postgres(
                PgPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await?,
            )
        } else {
            return Err(StoreError::Unsupported(crate::config::redacted_url(url)));
        };
        match &db {
            // Several replicas may start at once: sqlx's migrator holds an advisory lock
            // on PostgreSQL while it runs.
            db::Db::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
            db::Db::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        let (writer, jobs) = tokio::sync::mpsc::channel(4096);
        tokio::spawn(events::run_writer(db.clone(), jobs));
        Ok(Store { db, writer })
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        self.db.kind()
    }
}

async fn open_sqlite(path: &Path) -> Result<sqlx::SqlitePool, StoreError> {
    crate::secrets::private_file(path).map_err(StoreError::File)?;
    for suffix in ["-wal", "-shm"] {
        let mut side = path.to_path_buf().into_os_string();
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
    Ok(SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await?)
}
