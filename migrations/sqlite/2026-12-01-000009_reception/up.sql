-- The reception flow: sites, events on records, where each identity is now, and daily
-- per-site counts kept with every event so that occupancy statistics never scan the events.

CREATE TABLE sites (
    code TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    country TEXT,
    capacity BIGINT,
    covered_area_m2 DOUBLE,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    record_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    site TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    day TEXT NOT NULL,
    month TEXT NOT NULL,
    to_site TEXT,
    departs_at TIMESTAMP,
    transport TEXT,
    to_country TEXT,
    vaccine TEXT,
    dose INTEGER,
    detail_enc BLOB,
    nationality TEXT,
    sex TEXT,
    age_group TEXT NOT NULL,
    is_minor BOOLEAN,
    entered_site TEXT,
    left_site TEXT,
    checks INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX events_record ON events (record_id);
CREATE INDEX events_kind_at ON events (kind, at);
CREATE INDEX events_checks ON events (checks);
CREATE INDEX events_to_site ON events (to_site, kind);

CREATE TABLE presence (
    person_id TEXT PRIMARY KEY NOT NULL,
    record_id TEXT NOT NULL,
    site TEXT NOT NULL,
    is_minor BOOLEAN,
    since TIMESTAMP NOT NULL
);
CREATE INDEX presence_site ON presence (site);

CREATE TABLE site_days (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    site TEXT NOT NULL,
    day TEXT NOT NULL,
    arrivals BIGINT NOT NULL,
    departures BIGINT NOT NULL,
    UNIQUE (site, day)
);
