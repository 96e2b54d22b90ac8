//! Consent records: one row per choice a visitor makes, kept for the configured retention
//! (GDPR art. 7(1): demonstrate consent; art. 5(1)(e): no longer than needed).

use super::db::on_db;
use super::{Store, StoreError};
use crate::catalog::ConsentId;
use crate::catalog::{Category, CategorySet};
use crate::privacy::{AnonymizedIp, BrowserFamily};

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
        on_db!(&self.db, pool => {
            sqlx::query(&pool.sql(
                "INSERT INTO consent_records (consent_id, site, recorded_at, expires_at,
                    policy_version, granted, refused, method, gpc, language, ip, browser)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ))
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
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Every record of one consent id, oldest first: the history of one visitor's choices.
    pub async fn consent_history(&self, id: &str) -> Result<Vec<StoredConsent>, StoreError> {
        let rows: Vec<Row> = on_db!(&self.db, pool => {
            sqlx::query_as(&pool.sql(
                "SELECT * FROM consent_records WHERE consent_id = ? ORDER BY recorded_at, seq",
            ))
            .bind(id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(Row::stored).collect())
    }

    /// Records matching `query`, oldest first, at most `limit`.
    pub async fn consents(
        &self,
        query: &ConsentQuery,
        limit: u32,
    ) -> Result<Vec<StoredConsent>, StoreError> {
        let rows: Vec<Row> = on_db!(&self.db, pool => {
            let mut select = sqlx::QueryBuilder::new("SELECT * FROM consent_records WHERE ");
            if let Some(site) = &query.site {
                select.push("site = ").push_bind(site).push(" AND ");
            }
            select
                .push("recorded_at >= ")
                .push_bind(query.from.unwrap_or(i64::MIN))
                .push(" AND recorded_at < ")
                .push_bind(query.to.unwrap_or(i64::MAX))
                .push(" ORDER BY recorded_at, seq LIMIT ")
                .push_bind(i64::from(limit));
            select.build_query_as().fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(Row::stored).collect())
    }

    /// Deletes records made before `cutoff` (Unix seconds); returns how many.
    pub async fn delete_consents_before(&self, cutoff: i64) -> Result<u64, StoreError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query(&pool.sql("DELETE FROM consent_records WHERE recorded_at < ?"))
                .bind(cutoff)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}

/// A stored record as both databases return it.
#[derive(sqlx::FromRow)]
struct Row {
    consent_id: String,
    site: String,
    recorded_at: i64,
    expires_at: i64,
    policy_version: String,
    granted: String,
    refused: String,
    method: String,
    gpc: bool,
    language: String,
    ip: String,
    browser: String,
}

impl Row {
    fn stored(self) -> StoredConsent {
        StoredConsent {
            consent_id: self.consent_id,
            site: self.site,
            recorded_at: self.recorded_at,
            expires_at: self.expires_at,
            policy_version: self.policy_version,
            granted: split(&self.granted),
            refused: split(&self.refused),
            method: self.method,
            gpc: self.gpc,
            language: self.language,
            ip: self.ip,
            browser: self.browser,
        }
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
        let err = Store::open("mysql://user:hunter2@db/x", dir.path())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not supported"), "{err}");
        assert!(
            !err.to_string().contains("hunter2"),
            "the password is redacted: {err}"
        );
    }
}
