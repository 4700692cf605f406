-- Credential lifecycle (API.md v1.1 "Credentials"): disabled users, first-login password
-- changes, scoped tokens, one-time reset tokens, mobile devices, four-eyes approvals.
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMP;
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE devices ADD COLUMN mobile_sites TEXT NOT NULL DEFAULT '[]';
-- 'full', or 'password_change' for the token of a login that must change its password first.
ALTER TABLE tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'full';
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE reset_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX reset_tokens_user ON reset_tokens (user_id);

-- A request that needs a second admin: the payload is sealed (it may hold a deletion reason).
CREATE TABLE approvals (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    payload_enc BYTEA NOT NULL,
    requested_by TEXT NOT NULL,
    status TEXT NOT NULL,
    approved_by TEXT,
    created_at TIMESTAMP NOT NULL,
    decided_at TIMESTAMP
);
