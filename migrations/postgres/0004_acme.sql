-- Automatic HTTPS shared by replicas (PostgreSQL): the ACME account per directory, each
-- site's certificate, a lease so only one replica orders at a time, and the http-01
-- answers any replica may be asked for. (A single SQLite proxy keeps these as files in
-- data_dir/acme; the tables exist on both for one schema history.)
CREATE TABLE acme_accounts (
    directory TEXT PRIMARY KEY,
    credentials TEXT NOT NULL
);

CREATE TABLE acme_certificates (
    site TEXT PRIMARY KEY,
    chain TEXT NOT NULL,
    private_key TEXT NOT NULL,
    updated BIGINT NOT NULL
);

CREATE TABLE acme_leases (
    site TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires BIGINT NOT NULL
);

CREATE TABLE acme_challenges (
    token TEXT PRIMARY KEY,
    key_authorization TEXT NOT NULL,
    expires BIGINT NOT NULL
);
