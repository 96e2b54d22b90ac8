//! The daily salts of the visitor hashes: one random salt per UTC day, the same for every
//! replica sharing the store (the first to ask creates it), deleted after two days so no
//! hash can ever be recomputed.

use ring::rand::{SecureRandom, SystemRandom};

use super::{Store, StoreError};
use crate::privacy::Salt;

pub(super) const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS salts (
        day INTEGER PRIMARY KEY,
        salt BLOB NOT NULL
    )"];

impl Store {
    /// The salt of `day` (days since the Unix epoch, UTC), created if it does not exist;
    /// salts older than yesterday are deleted on the way.
    pub async fn salt(&self, day: i64) -> Result<Salt, StoreError> {
        let mut fresh = [0u8; 32];
        SystemRandom::new()
            .fill(&mut fresh)
            .map_err(|_| StoreError::Write("no system randomness".into()))?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM salts WHERE day < ?")
            .bind(day - 1)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT OR IGNORE INTO salts (day, salt) VALUES (?, ?)")
            .bind(day)
            .bind(&fresh[..])
            .execute(&mut *tx)
            .await?;
        let stored: Vec<u8> = sqlx::query_scalar("SELECT salt FROM salts WHERE day = ?")
            .bind(day)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut salt = [0u8; 32];
        if stored.len() == 32 {
            salt.copy_from_slice(&stored);
        }
        Ok(Salt(salt))
    }
}
