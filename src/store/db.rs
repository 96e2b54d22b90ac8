//! The two databases behind one store: SQLite embedded (one file, zero setup) and
//! PostgreSQL shared by several replicas. Every query is written once in the SQL both
//! understand, with `?` placeholders; [`on_db!`] runs it on whichever pool is open,
//! translating the placeholders to PostgreSQL's `$n` on the way.

use std::borrow::Cow;

use sqlx::{PgPool, SqlitePool};

/// An open database.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    pub fn kind(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }
}

/// The SQL of one query for the pool it runs on.
pub trait Dialect {
    fn sql(&self, text: &'static str) -> Cow<'static, str>;
}

impl Dialect for SqlitePool {
    fn sql(&self, text: &'static str) -> Cow<'static, str> {
        Cow::Borrowed(text)
    }
}

impl Dialect for PgPool {
    fn sql(&self, text: &'static str) -> Cow<'static, str> {
        Cow::Owned(numbered(text))
    }
}

/// `?` → `$1`, `$2`, … (queries here never hold a `?` inside a string literal).
fn numbered(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut n = 0;
    for c in text.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs `$body` with `$pool` bound to the open pool, once per database type: the body is
/// compiled twice, so rows, builders and transactions are typed for each.
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::db::Db::Sqlite($pool) => {
                #[allow(unused_imports)]
                use $crate::store::db::Dialect as _;
                $body
            }
            $crate::store::db::Db::Postgres($pool) => {
                #[allow(unused_imports)]
                use $crate::store::db::Dialect as _;
                $body
            }
        }
    };
}
pub(crate) use on_db;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(
            numbered("SELECT a FROM t WHERE b = ? AND c < ? LIMIT ?"),
            "SELECT a FROM t WHERE b = $1 AND c < $2 LIMIT $3"
        );
        assert_eq!(numbered("SELECT 1"), "SELECT 1");
    }
}
