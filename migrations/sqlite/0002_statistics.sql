-- Statistics: daily rollups per site and dimension (summable across days because the
-- visitor hash changes every day), which days are rolled up, proof of enforcement per
-- day, and API tokens scoped to sites.
CREATE TABLE rollups (
    site TEXT NOT NULL,
    day INTEGER NOT NULL,
    dim TEXT NOT NULL,
    value TEXT NOT NULL,
    visitors INTEGER NOT NULL,
    visits INTEGER NOT NULL,
    pageviews INTEGER NOT NULL,
    events INTEGER NOT NULL,
    bounces INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    PRIMARY KEY (site, dim, day, value)
);
CREATE INDEX rollups_day ON rollups (day);

CREATE TABLE rollup_days (
    site TEXT NOT NULL,
    day INTEGER NOT NULL,
    rolled_at INTEGER NOT NULL,
    raw_events INTEGER NOT NULL,
    PRIMARY KEY (site, day)
);

CREATE TABLE enforcement (
    site TEXT NOT NULL,
    day INTEGER NOT NULL,
    category TEXT NOT NULL,
    action TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (site, day, category, action)
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    sites TEXT NOT NULL,
    label TEXT NOT NULL,
    created INTEGER NOT NULL
);
