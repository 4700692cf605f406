-- Evidence kept for review (issue 11): the photo re-encoded at a bounded size, the aligned
-- face crop. Each row is sealed (AES-256-GCM, AAD = record id + field); deletion erases it.
CREATE TABLE evidence (
    record_id TEXT NOT NULL,
    field TEXT NOT NULL,
    data BYTEA NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (record_id, field)
);
