//! The access log: append-only and hash-chained.
//!
//! Each entry carries the previous entry's hash and its own, an HMAC-SHA256 (keyed from the
//! master key, so someone with write access to the database but not the key file cannot
//! forge a consistent chain) over a length-prefixed encoding of every field. Entries are
//! appended only inside [`crate::db::Db::write`], which serialises writers (a mutex on
//! SQLite, an advisory lock on PostgreSQL) so the chain never forks; `seq` is the primary key
//! and is assigned as head + 1, so a fork would also fail on the key. The chain head is
//! mirrored in `meta` in the same transaction, so truncating the tail is detected too.

use crate::crypto::KeyRing;
use crate::db::models::AuditRow;
use crate::db::schema::{audit_log, meta};
use crate::db::DbConn;
use diesel::prelude::*;
use serde::Serialize;

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const HEAD_KEY: &str = "audit_head";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Denied,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// What happened, by whom: the caller fills this, [`append`] chains it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub actor: String,
    pub role: String,
    pub action: String,
    pub record_id: Option<String>,
    pub purpose: Option<String>,
    pub status: i32,
    pub outcome: Outcome,
    pub remote_addr: String,
}

impl Entry {
    /// A successful action by an authenticated caller.
    pub fn by(
        who: &super::Principal,
        action: &str,
        record_id: Option<String>,
        purpose: Option<String>,
        status: i32,
    ) -> Entry {
        Entry {
            actor: who.actor.clone(),
            role: who.role.as_str().into(),
            action: action.into(),
            record_id,
            purpose,
            status,
            outcome: Outcome::Ok,
            remote_addr: who.remote_addr.clone(),
        }
    }
}

fn field(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// The hash of one row given its predecessor's hash.
pub fn entry_hash(keys: &KeyRing, row: &AuditRow) -> String {
    let mut buf = Vec::with_capacity(256);
    field(&mut buf, &row.prev_hash);
    field(&mut buf, &row.seq.to_string());
    field(&mut buf, &row.at.format("%Y-%m-%dT%H:%M:%S").to_string());
    field(&mut buf, &row.actor);
    field(&mut buf, &row.role);
    field(&mut buf, &row.action);
    field(&mut buf, row.record_id.as_deref().unwrap_or("\u{0}none"));
    field(&mut buf, row.purpose.as_deref().unwrap_or("\u{0}none"));
    field(&mut buf, &row.status.to_string());
    field(&mut buf, &row.outcome);
    field(&mut buf, &row.remote_addr);
    keys.audit_mac(&buf)
}

/// Appends one entry. Call only inside `Db::write` (it relies on the writer lock).
pub fn append(conn: &mut DbConn, keys: &KeyRing, e: Entry) -> QueryResult<AuditRow> {
    // The head mirrored in `meta` is the source of truth for chaining, so a deleted tail
    // stays a visible gap instead of being papered over by the next entry.
    let mirrored: Option<String> = meta::table
        .filter(meta::key.eq(HEAD_KEY))
        .select(meta::value)
        .first(conn)
        .optional()?;
    let parsed = mirrored.as_deref().and_then(|h| {
        let (seq, hash) = h.split_once(':')?;
        Some((seq.parse::<i64>().ok()?, hash.to_string()))
    });
    let (prev_seq, prev_hash) = match parsed {
        Some(head) => head,
        None => audit_log::table
            .select((audit_log::seq, audit_log::hash))
            .order(audit_log::seq.desc())
            .first(conn)
            .optional()?
            .unwrap_or((0, GENESIS.to_string())),
    };
    let mut row = AuditRow {
        seq: prev_seq + 1,
        at: crate::db::now(),
        actor: e.actor,
        role: e.role,
        action: e.action,
        record_id: e.record_id,
        purpose: e.purpose,
        status: e.status,
        outcome: e.outcome.as_str().to_string(),
        remote_addr: e.remote_addr,
        prev_hash,
        hash: String::new(),
    };
    row.hash = entry_hash(keys, &row);
    diesel::insert_into(audit_log::table)
        .values(&row)
        .execute(conn)?;
    let head_value = format!("{}:{}", row.seq, row.hash);
    let updated = diesel::update(meta::table.filter(meta::key.eq(HEAD_KEY)))
        .set(meta::value.eq(&head_value))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(meta::table)
            .values((meta::key.eq(HEAD_KEY), meta::value.eq(&head_value)))
            .execute(conn)?;
    }
    Ok(row)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Verification {
    pub entries: i64,
    pub chain_ok: bool,
    pub first_bad_seq: Option<i64>,
}

/// Walks the whole chain in `seq` order and names the first entry that was edited, deleted
/// (a gap: the missing seq is named) or reordered, or a truncated tail (the first missing seq).
pub fn verify(conn: &mut DbConn, keys: &KeyRing) -> QueryResult<Verification> {
    const PAGE: i64 = 5000;
    let mut expected_seq = 1i64;
    let mut prev_hash = GENESIS.to_string();
    let mut first_bad = None;
    'pages: loop {
        let rows: Vec<AuditRow> = audit_log::table
            .filter(audit_log::seq.ge(expected_seq))
            .order(audit_log::seq.asc())
            .limit(PAGE)
            .select(AuditRow::as_select())
            .load(conn)?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            if row.seq != expected_seq
                || !crate::crypto::ct_eq(&row.prev_hash, &prev_hash)
                || !crate::crypto::ct_eq(&entry_hash(keys, &row), &row.hash)
            {
                first_bad = Some(expected_seq);
                break 'pages;
            }
            prev_hash = row.hash;
            expected_seq += 1;
        }
    }
    if first_bad.is_none() {
        // Entries before the first row (seq 1 deleted) show up as a mismatch above; a missing
        // tail only shows against the head mirrored in `meta`.
        let head: Option<String> = meta::table
            .filter(meta::key.eq(HEAD_KEY))
            .select(meta::value)
            .first(conn)
            .optional()?;
        if let Some(head) = head {
            let expect = format!("{}:{}", expected_seq - 1, prev_hash);
            if !crate::crypto::ct_eq(&head, &expect) {
                first_bad = Some(expected_seq);
            }
        }
    }
    let entries: i64 = audit_log::table.count().get_result(conn)?;
    Ok(Verification {
        entries,
        chain_ok: first_bad.is_none(),
        first_bad_seq: first_bad,
    })
}

/// Appends one entry standing for `count` denied requests of one minute (written by
/// `auth::flush_denied` instead of one entry, and one fsync, per request). The count and the
/// minute go in `purpose` as `denied count=N minute=RFC3339`.
pub fn append_denied_aggregate(
    conn: &mut DbConn,
    keys: &KeyRing,
    mut e: Entry,
    count: u64,
    minute: chrono::NaiveDateTime,
) -> QueryResult<AuditRow> {
    e.purpose = Some(format!(
        "denied count={count} minute={}",
        super::rfc3339(minute)
    ));
    append(conn, keys, e)
}
