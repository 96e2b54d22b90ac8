//! The retention job (GDPR art. 5(1)(e), storage limitation): deletes what has been kept
//! long enough, at start and then every hour, until shutdown.

use std::time::Duration;

use tokio::sync::watch;

use super::Store;
use crate::config::RetentionConfig;

const EVERY: Duration = Duration::from_secs(3600);

pub async fn run(store: Store, retention: RetentionConfig, mut shutdown: watch::Receiver<bool>) {
    loop {
        sweep(&store, &retention).await;
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One pass; returns the number of consent records deleted (raw events past their
/// retention go too).
pub async fn sweep(store: &Store, retention: &RetentionConfig) -> u64 {
    let cutoff_ms = crate::clock::unix_now_ms()
        .saturating_sub(i64::try_from(retention.events.as_millis()).unwrap_or(i64::MAX));
    match store.delete_events_before(cutoff_ms).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            deleted = n,
            "retention: raw events past their retention deleted"
        ),
        Err(e) => tracing::error!(error = %e, "retention: cannot delete old events"),
    }
    let rollup_cutoff_day = crate::clock::unix_now_ms()
        .saturating_sub(i64::try_from(retention.rollups.as_millis()).unwrap_or(i64::MAX))
        .div_euclid(super::rollup::DAY_MS);
    match store.delete_rollups_before(rollup_cutoff_day).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            deleted = n,
            "retention: rollups past their retention deleted"
        ),
        Err(e) => tracing::error!(error = %e, "retention: cannot delete old rollups"),
    }
    let cutoff = crate::clock::unix_now().saturating_sub(retention.consent_records.as_secs());
    match store
        .delete_consents_before(i64::try_from(cutoff).unwrap_or(i64::MAX))
        .await
    {
        Ok(0) => 0,
        Ok(n) => {
            tracing::info!(
                deleted = n,
                "retention: consent records past their retention deleted"
            );
            n
        }
        Err(e) => {
            tracing::error!(error = %e, "retention: cannot delete old consent records");
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::CategorySet;
    use crate::catalog::ConsentId;
    use crate::privacy::{BrowserFamily, IpAnonymizer};
    use crate::store::{ConsentQuery, ConsentRecord, Method};

    #[tokio::test]
    async fn records_past_retention_are_deleted_and_younger_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open("sqlite://r.db", dir.path()).await.unwrap();
        let now = i64::try_from(crate::clock::unix_now()).unwrap();
        let day = 24 * 3600;
        for age_days in [800, 700, 1] {
            let at = now - age_days * day;
            store
                .record_consent(&ConsentRecord {
                    id: ConsentId::random(),
                    site: "s".into(),
                    recorded_at: at,
                    expires_at: at + 180 * day,
                    policy_version: "1".into(),
                    granted: CategorySet::NECESSARY_ONLY,
                    refused: CategorySet::ALL,
                    method: Method::RejectAll,
                    gpc: false,
                    language: "nl",
                    ip: IpAnonymizer::new(24, 48).anonymize("192.0.2.1".parse().unwrap()),
                    browser: BrowserFamily::Other,
                })
                .await
                .unwrap();
        }
        let two_years = RetentionConfig::default();
        assert_eq!(
            sweep(&store, &two_years).await,
            1,
            "only the 800-day-old one"
        );
        let left = store.consents(&ConsentQuery::default(), 10).await.unwrap();
        assert_eq!(left.len(), 2);
        assert!(left.iter().all(|r| r.recorded_at > now - 731 * day));
    }

    #[tokio::test]
    async fn raw_events_past_retention_are_deleted() {
        use crate::privacy::event::{Parts, Visit};
        use crate::privacy::{AnonymizedEvent, CleanPage, Device, Location, Salt, VisitorHash};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open("sqlite://e.db", dir.path()).await.unwrap();
        let now = crate::clock::unix_now_ms();
        let day = 24 * 3600 * 1000;
        let hosts = vec!["a.nl".to_owned()];
        let events = [100, 89, 0]
            .into_iter()
            .map(|age| {
                AnonymizedEvent::new(Parts {
                    site: "s".into(),
                    ts_ms: now - age * day,
                    name: "page_view".into(),
                    visitor: VisitorHash::of(
                        &Salt([0; 32]),
                        "s",
                        "192.0.2.1".parse().unwrap(),
                        "UA",
                    ),
                    visit: Visit {
                        id: 1,
                        started_ms: now,
                        entry: true,
                    },
                    page: CleanPage::of("https://a.nl/", &hosts, &[]).unwrap(),
                    referrer: None,
                    location: Location::default(),
                    device: Device::of("UA"),
                    language: None,
                    engagement_ms: 0,
                    params: Vec::new(),
                })
            })
            .collect();
        store
            .ingest(crate::store::Ingest {
                events,
                ga: Vec::new(),
            })
            .await
            .unwrap();
        let today = now.div_euclid(day);
        let row = crate::store::rollup::Rolled {
            dim: "",
            value: String::new(),
            counts: crate::store::rollup::Counts::default(),
        };
        for age in [800, 700] {
            store
                .write_rollup("s", today - age, 0, std::slice::from_ref(&row))
                .await
                .unwrap();
        }
        sweep(&store, &RetentionConfig::default()).await;
        assert_eq!(
            store.count_events("s", 0, i64::MAX).await.unwrap(),
            2,
            "the 100-day-old one went"
        );
        assert_eq!(
            store.rolled_days("s", 0, today).await.unwrap(),
            vec![today - 700],
            "rollups are kept 25 months: the 800-day-old day went"
        );
    }
}
