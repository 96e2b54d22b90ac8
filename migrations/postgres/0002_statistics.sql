-- Statistics: daily rollups per site and dimension (summable across days because the
-- visitor hash changes every day), which days are rolled up, proof of enforcement per
-- day, and API tokens scoped to sites.
CREATE TABLE rollups (
    site TEXT NOT NULL,
    day BIGINT NOT NULL,
    dim TEXT NOT NULL,
    value TEXT NOT NULL,
    visitors BIGINT NOT NULL,
    visits BIGINT NOT NULL,
    pageviews BIGINT NOT NULL,
    events BIGINT NOT NULL,
    bounces BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    PRIMARY KEY (site, dim, day, value)
);
CREATE INDEX rollups_day ON rollups (day);

CREATE TABLE rollup_days (
    site TEXT NOT NULL,
    day BIGINT NOT NULL,
    rolled_at BIGINT NOT NULL,
    raw_events BIGINT NOT NULL,
    PRIMARY KEY (site, day)
);

CREATE TABLE enforcement (
    site TEXT NOT NULL,
    day BIGINT NOT NULL,
    category TEXT NOT NULL,
    action TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (site, day, category, action)
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    sites TEXT NOT NULL,
    label TEXT NOT NULL,
    created BIGINT NOT NULL
);
