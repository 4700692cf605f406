-- One row per record deletion: the reason sealed (AES-256-GCM under the data key, bound to
-- this row's id), so the access log can name the deletion by id instead of quoting it.
CREATE TABLE deletions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    record_id TEXT NOT NULL,
    reason_enc BLOB NOT NULL,
    deleted_by TEXT NOT NULL,
    deleted_at TIMESTAMP NOT NULL
);
