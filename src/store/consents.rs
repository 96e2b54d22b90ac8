//! Consent records: one row per choice a visitor makes, kept for the configured retention
//! (GDPR art. 7(1): demonstrate consent; art. 5(1)(e): no longer than needed).

use sqlx::Row;

use super::{Store, StoreError};
use crate::catalog::ConsentId;
use crate::catalog::{Category, CategorySet};
use crate::privacy::{AnonymizedIp, BrowserFamily};

pub(super) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS consent_records (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        consent_id TEXT NOT NULL,
        site TEXT NOT NULL,
        recorded_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        policy_version TEXT NOT NULL,
        granted TEXT NOT NULL,
        refused TEXT NOT NULL,
        method TEXT NOT NULL,
        gpc INTEGER NOT NULL,
        language TEXT NOT NULL,
        ip TEXT NOT NULL,
        browser TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS consent_records_id ON consent_records (consent_id)",
    "CREATE INDEX IF NOT EXISTS consent_records_site_time ON consent_records (site, recorded_at)",
    "CREATE INDEX IF NOT EXISTS consent_records_time ON consent_records (recorded_at)",
];

/// How a choice was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    AcceptAll,
    RejectAll,
    Custom,
}

impl Method {
    /// The consent funnel's name of this way of choosing.
    pub fn funnel_metric(self) -> &'static str {
        match self {
            Method::AcceptAll => "accept_all",
            Method::RejectAll => "reject_all",
            Method::Custom => "custom",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::AcceptAll => "accept-all",
            Method::RejectAll => "reject-all",
            Method::Custom => "custom",
        }
    }
}

/// A choice as the proxy writes it. The address and browser fields can only be filled
/// with anonymised values (see [`crate::privacy`]).
#[derive(Debug, Clone)]
pub struct ConsentRecord {
    pub id: ConsentId,
    pub site: String,
    /// Unix seconds.
    pub recorded_at: i64,
    /// When the consent cookie expires (Unix seconds).
    pub expires_at: i64,
    pub policy_version: String,
    pub granted: CategorySet,
    /// The site's categories not granted.
    pub refused: CategorySet,
    pub method: Method,
    /// The browser sent `Sec-GPC: 1`.
    pub gpc: bool,
    pub language: &'static str,
    pub ip: AnonymizedIp,
    pub browser: BrowserFamily,
}

/// A record as read back for export and lookup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredConsent {
    pub consent_id: String,
    pub site: String,
    pub recorded_at: i64,
    pub expires_at: i64,
    pub policy_version: String,
    pub granted: Vec<String>,
    pub refused: Vec<String>,
    pub method: String,
    pub gpc: bool,
    pub language: String,
    pub ip: String,
    pub browser: String,
}

/// Which records an export wants; times in Unix seconds, `to` exclusive.
#[derive(Debug, Clone, Default)]
pub struct ConsentQuery {
    pub site: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

fn names(set: CategorySet) -> String {
    set.iter()
        .map(Category::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

fn split(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Store {
    /// Writes one record; returns once it is durable.
    pub async fn record_consent(&self, r: &ConsentRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO consent_records (consent_id, site, recorded_at, expires_at,
                policy_version, granted, refused, method, gpc, language, ip, browser)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(r.id.to_string())
        .bind(&r.site)
        .bind(r.recorded_at)
        .bind(r.expires_at)
        .bind(&r.policy_version)
        .bind(names(r.granted))
        .bind(names(r.refused))
        .bind(r.method.as_str())
        .bind(r.gpc)
        .bind(r.language)
        .bind(r.ip.to_string())
        .bind(r.browser.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every record of one consent id, oldest first: the history of one visitor's choices.
    pub async fn consent_history(&self, id: &str) -> Result<Vec<StoredConsent>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM consent_records WHERE consent_id = ? ORDER BY recorded_at, seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(stored).collect())
    }

    /// Records matching `query`, oldest first, at most `limit`.
    pub async fn consents(
        &self,
        query: &ConsentQuery,
        limit: u32,
    ) -> Result<Vec<StoredConsent>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM consent_records
             WHERE (?1 IS NULL OR site = ?1) AND recorded_at >= ?2 AND recorded_at < ?3
             ORDER BY recorded_at, seq LIMIT ?4",
        )
        .bind(query.site.as_deref())
        .bind(query.from.unwrap_or(i64::MIN))
        .bind(query.to.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(stored).collect())
    }

    /// Deletes records made before `cutoff` (Unix seconds); returns how many.
    pub async fn delete_consents_before(&self, cutoff: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM consent_records WHERE recorded_at < ?")
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

fn stored(row: &sqlx::sqlite::SqliteRow) -> StoredConsent {
    StoredConsent {
        consent_id: row.get("consent_id"),
        site: row.get("site"),
        recorded_at: row.get("recorded_at"),
        expires_at: row.get("expires_at"),
        policy_version: row.get("policy_version"),
        granted: split(row.get("granted")),
        refused: split(row.get("refused")),
        method: row.get("method"),
        gpc: row.get("gpc"),
        language: row.get("language"),
        ip: row.get("ip"),
        browser: row.get("browser"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::IpAnonymizer;

    fn record(site: &str, at: i64, granted: CategorySet) -> ConsentRecord {
        ConsentRecord {
            id: ConsentId::random(),
            site: site.to_owned(),
            recorded_at: at,
            expires_at: at + 100,
            policy_version: "1".into(),
            granted,
            refused: CategorySet::ALL
                .iter()
                .filter(|c| !granted.contains(*c))
                .collect(),
            method: Method::Custom,
            gpc: false,
            language: "nl",
            ip: IpAnonymizer::new(24, 48).anonymize("192.0.2.77".parse().unwrap()),
            browser: BrowserFamily::Firefox,
        }
    }

    #[tokio::test]
    async fn records_survive_reopening_and_are_found_by_id_site_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open("sqlite://c.db", dir.path()).await.unwrap();
        let a = record(
            "a",
            100,
            CategorySet::NECESSARY_ONLY.with(Category::Analytics),
        );
        store.record_consent(&a).await.unwrap();
        store
            .record_consent(&record("b", 200, CategorySet::ALL))
            .await
            .unwrap();
        store
            .record_consent(&record("a", 300, CategorySet::ALL))
            .await
            .unwrap();
        drop(store);

        let store = Store::open("sqlite://c.db", dir.path()).await.unwrap();
        let history = store.consent_history(&a.id.to_string()).await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].granted, ["necessary", "analytics"]);
        assert_eq!(history[0].refused, ["preferences", "marketing"]);
        assert_eq!(history[0].ip, "192.0.2.0");
        assert_eq!(history[0].browser, "firefox");

        let query = ConsentQuery {
            site: Some("a".into()),
            from: Some(100),
            to: Some(300),
        };
        let found = store.consents(&query, 10).await.unwrap();
        assert_eq!(found.len(), 1, "site filter and exclusive end");
        assert_eq!(
            store
                .consents(&ConsentQuery::default(), 10)
                .await
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            store
                .consents(&ConsentQuery::default(), 2)
                .await
                .unwrap()
                .len(),
            2
        );

        assert_eq!(store.delete_consents_before(250).await.unwrap(), 2);
        assert_eq!(
            store
                .consents(&ConsentQuery::default(), 10)
                .await
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn other_urls_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = Store::open("postgres://db/x", dir.path())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not supported"), "{err}");
    }
}
