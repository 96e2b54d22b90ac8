//! The retention job (GDPR art. 5(1)(e), storage limitation): deletes what has been kept
//! long enough, at start and then every hour, until shutdown.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// One pass; returns the number of consent records deleted.
pub async fn sweep(store: &Store, retention: &RetentionConfig) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let cutoff = now.saturating_sub(retention.consent_records.as_secs());
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
