//! The daily salts of the visitor hashes: one random salt per UTC day, the same for every
//! replica sharing the store (the first to ask creates it), deleted after two days so no
//! hash can ever be recomputed.

use ring::rand::{SecureRandom, SystemRandom};

use super::db::on_db;
use super::{Store, StoreError};
use crate::privacy::Salt;

impl Store {
    /// The salt of `day` (days since the Unix epoch, UTC), created if it does not exist;
    /// salts older than yesterday are deleted on the way.
    pub async fn salt(&self, day: i64) -> Result<Salt, StoreError> {
        let mut fresh = [0u8; 32];
        SystemRandom::new()
            .fill(&mut fresh)
            .map_err(|_| StoreError::Write("no system randomness".into()))?;
        // Every replica asks; the first insert wins and everyone reads the winner.
        let stored: Vec<u8> = on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(&pool.sql("DELETE FROM salts WHERE day < ?"))
                .bind(day - 1)
                .execute(&mut *tx)
                .await?;
            sqlx::query(&pool.sql(
                "INSERT INTO salts (day, salt) VALUES (?, ?) ON CONFLICT (day) DO NOTHING",
            ))
            .bind(day)
            .bind(&fresh[..])
            .execute(&mut *tx)
            .await?;
            let stored: Vec<u8> = sqlx::query_scalar(&pool.sql("SELECT salt FROM salts WHERE day = ?"))
                .bind(day)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            stored
        });
        let mut salt = [0u8; 32];
        if stored.len() == 32 {
            salt.copy_from_slice(&stored);
        }
        Ok(Salt(salt))
    }
}
