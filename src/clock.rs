//! The one clock the proxy writes in: Unix seconds, for consent cookies, consent records
//! and retention.

/// Now, in Unix seconds: the clock consent cookies and records are written in.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
