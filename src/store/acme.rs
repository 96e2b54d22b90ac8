//! ACME state shared by replicas through the store: the account, certificates, the order
//! lease and the `http-01` answers (the `acme` module uses them).

use super::db::on_db;
use super::{Store, StoreError};

impl Store {
    pub async fn acme_account(&self, directory: &str) -> Result<Option<String>, StoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query_scalar(&pool.sql("SELECT credentials FROM acme_accounts WHERE directory = ?"))
                .bind(directory)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Stores the account unless another replica stored one first; returns the one kept.
    pub async fn save_acme_account(
        &self,
        directory: &str,
        credentials: &str,
    ) -> Result<String, StoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query(&pool.sql(
                "INSERT INTO acme_accounts (directory, credentials) VALUES (?, ?) \
                 ON CONFLICT (directory) DO NOTHING",
            ))
            .bind(directory)
            .bind(credentials)
            .execute(pool)
            .await?;
            sqlx::query_scalar(&pool.sql("SELECT credentials FROM acme_accounts WHERE directory = ?"))
                .bind(directory)
                .fetch_one(pool)
                .await?
        }))
    }

    /// The site's chain and key (PEM).
    pub async fn acme_certificate(
        &self,
        site: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query_as(&pool.sql(
                "SELECT chain, private_key FROM acme_certificates WHERE site = ?",
            ))
            .bind(site)
            .fetch_optional(pool)
            .await?
        }))
    }

    pub async fn save_acme_certificate(
        &self,
        site: &str,
        chain: &str,
        key: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        on_db!(&self.db, pool => {
            sqlx::query(&pool.sql(
                "INSERT INTO acme_certificates (site, chain, private_key, updated) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (site) DO UPDATE SET chain = excluded.chain, \
                 private_key = excluded.private_key, updated = excluded.updated",
            ))
            .bind(site)
            .bind(chain)
            .bind(key)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Takes the site's order lease for `holder` until `expires` unless another holder's
    /// lease is still running; `true` when `holder` has it.
    pub async fn acme_lease(
        &self,
        site: &str,
        holder: &str,
        now: i64,
        expires: i64,
    ) -> Result<bool, StoreError> {
        let taken: Option<String> = on_db!(&self.db, pool => {
            sqlx::query_scalar(&pool.sql(
                "INSERT INTO acme_leases (site, holder, expires) VALUES (?, ?, ?) \
                 ON CONFLICT (site) DO UPDATE SET holder = excluded.holder, expires = excluded.expires \
                 WHERE acme_leases.expires < ? OR acme_leases.holder = excluded.holder \
                 RETURNING holder",
            ))
            .bind(site)
            .bind(holder)
            .bind(expires)
            .bind(now)
            .fetch_optional(pool)
            .await?
        });
        Ok(taken.as_deref() == Some(holder))
    }

    pub async fn release_acme_lease(&self, site: &str, holder: &str) -> Result<(), StoreError> {
        on_db!(&self.db, pool => {
            sqlx::query(&pool.sql("DELETE FROM acme_leases WHERE site = ? AND holder = ?"))
                .bind(site)
                .bind(holder)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn add_acme_challenge(
        &self,
        token: &str,
        key_authorization: &str,
        expires: i64,
    ) -> Result<(), StoreError> {
        on_db!(&self.db, pool => {
            sqlx::query(&pool.sql(
                "INSERT INTO acme_challenges (token, key_authorization, expires) VALUES (?, ?, ?) \
                 ON CONFLICT (token) DO UPDATE SET key_authorization = excluded.key_authorization, \
                 expires = excluded.expires",
            ))
            .bind(token)
            .bind(key_authorization)
            .bind(expires)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn acme_challenge(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query_scalar(&pool.sql(
                "SELECT key_authorization FROM acme_challenges WHERE token = ? AND expires > ?",
            ))
            .bind(token)
            .bind(now)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Removes the token and any answers left behind by a replica that crashed mid-order.
    pub async fn remove_acme_challenge(&self, token: &str, now: i64) -> Result<(), StoreError> {
        on_db!(&self.db, pool => {
            sqlx::query(&pool.sql("DELETE FROM acme_challenges WHERE token = ? OR expires <= ?"))
                .bind(token)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
