//! Dashboard users, their role per site, and login sessions. Passwords are stored only as
//! argon2id hashes (made by the dashboard), session ids only as SHA-256 digests: a copy of
//! the database lets nobody log in.

use super::db::on_db;
use super::{Store, StoreError};

/// A user with their sites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub username: String,
    pub password_hash: String,
    /// (site name, role) — role `owner` or `viewer`.
    pub sites: Vec<(String, String)>,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Session {
    pub username: String,
    pub csrf: String,
    pub expires: i64,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    username: String,
    password_hash: String,
}

#[derive(sqlx::FromRow)]
struct SiteRow {
    username: String,
    site: String,
    role: String,
}

pub fn digest(text: &str) -> String {
    super::tokens::token_hash(text)
}

impl Store {
    /// Creates or replaces `username` with this hash and these (site, role) pairs.
    pub async fn put_user(
        &self,
        username: &str,
        password_hash: &str,
        sites: &[(String, String)],
        created: i64,
    ) -> Result<(), StoreError> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(&pool.sql(
                "INSERT INTO users (username, password_hash, created) VALUES (?, ?, ?)
                 ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash",
            ))
            .bind(username)
            .bind(password_hash)
            .bind(created)
            .execute(&mut *tx)
            .await?;
            sqlx::query(&pool.sql("DELETE FROM user_sites WHERE username = ?"))
                .bind(username)
                .execute(&mut *tx)
                .await?;
            for (site, role) in sites {
                sqlx::query(&pool.sql(
                    "INSERT INTO user_sites (username, site, role) VALUES (?, ?, ?)",
                ))
                .bind(username)
                .bind(site)
                .bind(role)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Changes only the password; `false` when there is no such user. Their sessions end.
    pub async fn set_password(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        Ok(on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(&pool.sql("UPDATE users SET password_hash = ? WHERE username = ?"))
                .bind(password_hash)
                .bind(username)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(&pool.sql("DELETE FROM sessions WHERE username = ?"))
                .bind(username)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            n > 0
        }))
    }

    pub async fn remove_user(&self, username: &str) -> Result<bool, StoreError> {
        Ok(on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            for table in ["sessions", "user_sites"] {
                let sql = match table {
                    "sessions" => "DELETE FROM sessions WHERE username = ?",
                    _ => "DELETE FROM user_sites WHERE username = ?",
                };
                sqlx::query(&pool.sql(sql)).bind(username).execute(&mut *tx).await?;
            }
            let n = sqlx::query(&pool.sql("DELETE FROM users WHERE username = ?"))
                .bind(username)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            n > 0
        }))
    }

    pub async fn user(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .users()
            .await?
            .into_iter()
            .find(|u| u.username == username))
    }

    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        let (users, sites): (Vec<UserRow>, Vec<SiteRow>) = on_db!(&self.db, pool => {
            (
                sqlx::query_as("SELECT username, password_hash FROM users ORDER BY username")
                    .fetch_all(pool)
                    .await?,
                sqlx::query_as("SELECT username, site, role FROM user_sites ORDER BY site")
                    .fetch_all(pool)
                    .await?,
            )
        });
        Ok(users
            .into_iter()
            .map(|u| User {
                sites: sites
                    .iter()
                    .filter(|s| s.username == u.username)
                    .map(|s| (s.site.clone(), s.role.clone()))
                    .collect(),
                username: u.username,
                password_hash: u.password_hash,
            })
            .collect())
    }

    /// Stores a session by the digest of its id.
    pub async fn add_session(
        &self,
        id: &str,
        username: &str,
        csrf: &str,
        now: i64,
        expires: i64,
    ) -> Result<(), StoreError> {
        on_db!(&self.db, pool => {
            sqlx::query(&pool.sql("DELETE FROM sessions WHERE expires < ?"))
                .bind(now)
                .execute(pool)
                .await?;
            sqlx::query(&pool.sql(
                "INSERT INTO sessions (id_hash, username, csrf, created, expires) VALUES (?, ?, ?, ?, ?)",
            ))
            .bind(digest(id))
            .bind(username)
            .bind(csrf)
            .bind(now)
            .bind(expires)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The live session with id `id` at `now`.
    pub async fn session(&self, id: &str, now: i64) -> Result<Option<Session>, StoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query_as(&pool.sql(
                "SELECT username, csrf, expires FROM sessions WHERE id_hash = ? AND expires > ?",
            ))
            .bind(digest(id))
            .bind(now)
            .fetch_optional(pool)
            .await?
        }))
    }

    pub async fn end_session(&self, id: &str) -> Result<(), StoreError> {
        on_db!(&self.db, pool => {
            sqlx::query(&pool.sql("DELETE FROM sessions WHERE id_hash = ?"))
                .bind(digest(id))
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
