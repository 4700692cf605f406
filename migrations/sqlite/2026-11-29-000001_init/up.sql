-- registro schema, SQLite flavour. Keep the same tables and columns as migrations/postgres.
CREATE TABLE meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE devices (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    site TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);

CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    username TEXT NOT NULL,
    role TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    capture_id TEXT NOT NULL UNIQUE,
    person_id TEXT NOT NULL,
    site TEXT NOT NULL,
    device_id TEXT,
    enrolled_by TEXT NOT NULL,
    captured_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    sex TEXT,
    nationality TEXT,
    age_group TEXT NOT NULL,
    is_minor BOOLEAN,
    doc_index TEXT,
    phone_index TEXT,
    family_index TEXT,
    person_enc BLOB NOT NULL,
    biometrics_enc BLOB NOT NULL,
    response_json TEXT NOT NULL,
    deleted_at TIMESTAMP
);
CREATE INDEX records_doc ON records (doc_index);
CREATE INDEX records_phone ON records (phone_index);
CREATE INDEX records_family ON records (family_index);
CREATE INDEX records_person ON records (person_id);
CREATE INDEX records_nationality ON records (nationality);
CREATE INDEX records_site ON records (site);

CREATE TABLE companions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL,
    companion_capture_id TEXT NOT NULL,
    relationship TEXT NOT NULL
);
CREATE INDEX companions_record ON companions (record_id);
CREATE INDEX companions_capture ON companions (companion_capture_id);

CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    record_id TEXT,
    purpose TEXT,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    remote_addr TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_record ON audit_log (record_id);
CREATE INDEX audit_actor ON audit_log (actor);

CREATE TABLE match_cases (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    record_a TEXT NOT NULL,
    record_b TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    face_score DOUBLE PRECISION,
    finger_score DOUBLE PRECISION,
    decision TEXT NOT NULL,
    status TEXT NOT NULL,
    note_enc BLOB,
    decided_by TEXT,
    decided_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (record_a, record_b)
);
CREATE INDEX match_cases_status ON match_cases (status);

CREATE TABLE alerts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    code TEXT NOT NULL,
    severity TEXT NOT NULL,
    detail TEXT NOT NULL,
    record_ids TEXT NOT NULL,
    evidence_key TEXT NOT NULL UNIQUE,
    site TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX alerts_code ON alerts (code);

-- The change sequence other nodes follow to keep their in-memory galleries current.
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
