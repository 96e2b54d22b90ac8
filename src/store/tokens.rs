//! API tokens scoped to sites (`consent-proxy token add --site NAME`). Only a SHA-256 of
//! each token is stored: a copy of the database does not let anyone read statistics.

use super::db::on_db;
use super::{Store, StoreError};

/// A token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiToken {
    pub id: String,
    /// Comma-separated site names.
    pub sites: String,
    pub label: String,
    pub created: i64,
}

impl ApiToken {
    pub fn site_names(&self) -> impl Iterator<Item = &str> {
        self.sites.split(',').filter(|s| !s.is_empty())
    }
}

/// The stored form of a presented token.
pub fn token_hash(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    pub async fn add_token(
        &self,
        id: &str,
        token: &str,
        sites: &[String],
        label: &str,
        created: i64,
    ) -> Result<(), StoreError> {
        on_db!(&self.db, pool => {
            sqlx::query(&pool.sql(
                "INSERT INTO api_tokens (id, hash, sites, label, created) VALUES (?, ?, ?, ?, ?)",
            ))
            .bind(id)
            .bind(token_hash(token))
            .bind(sites.join(","))
            .bind(label)
            .bind(created)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The token presented as `token`, if one was issued.
    pub async fn find_token(&self, token: &str) -> Result<Option<ApiToken>, StoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query_as(&pool.sql(
                "SELECT id, sites, label, created FROM api_tokens WHERE hash = ?",
            ))
            .bind(token_hash(token))
            .fetch_optional(pool)
            .await?
        }))
    }

    pub async fn tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query_as("SELECT id, sites, label, created FROM api_tokens ORDER BY created, id")
                .fetch_all(pool)
                .await?
        }))
    }

    /// Revokes a token by its id; `false` when there was none.
    pub async fn remove_token(&self, id: &str) -> Result<bool, StoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query(&pool.sql("DELETE FROM api_tokens WHERE id = ?"))
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
                > 0
        }))
    }
}
