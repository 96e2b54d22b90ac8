-- Dashboard users (argon2id hashes), their roles per site, and login sessions (only a
-- SHA-256 of each session id is stored).
CREATE TABLE users (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created BIGINT NOT NULL
);

CREATE TABLE user_sites (
    username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    site TEXT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (username, site)
);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires);
