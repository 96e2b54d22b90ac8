-- The schema as it was before versioned migrations: `IF NOT EXISTS` so a database made by
-- an earlier version adopts this history unchanged.
CREATE TABLE IF NOT EXISTS consent_records (
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
);
CREATE INDEX IF NOT EXISTS consent_records_id ON consent_records (consent_id);
CREATE INDEX IF NOT EXISTS consent_records_site_time ON consent_records (site, recorded_at);
CREATE INDEX IF NOT EXISTS consent_records_time ON consent_records (recorded_at);

CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    ts INTEGER NOT NULL,
    name TEXT NOT NULL,
    visitor INTEGER NOT NULL,
    visit INTEGER NOT NULL,
    visit_start INTEGER NOT NULL,
    entry INTEGER NOT NULL,
    host TEXT NOT NULL,
    path TEXT NOT NULL,
    query TEXT,
    referrer TEXT,
    utm_source TEXT,
    utm_medium TEXT,
    utm_campaign TEXT,
    utm_term TEXT,
    utm_content TEXT,
    country TEXT,
    region TEXT,
    browser TEXT NOT NULL,
    browser_version TEXT,
    os TEXT NOT NULL,
    device TEXT NOT NULL,
    language TEXT,
    engagement_ms INTEGER NOT NULL,
    props TEXT
);
CREATE INDEX IF NOT EXISTS events_site_ts ON events (site, ts);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);

CREATE TABLE IF NOT EXISTS ga_queue (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    consent_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    created INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ga_queue_next ON ga_queue (next_at);
CREATE INDEX IF NOT EXISTS ga_queue_consent ON ga_queue (consent_id);

CREATE TABLE IF NOT EXISTS salts (
    day INTEGER PRIMARY KEY,
    salt BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS consent_funnel (
    site TEXT NOT NULL,
    hour INTEGER NOT NULL,
    metric TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (site, hour, metric)
);
