//! The access log: append-only and hash-chained.
//!
//! Each entry carries the previous entry's hash and its own, an HMAC-SHA256 (under the chain
//! key of the audit key file, so someone with write access to the database, or the data key
//! file, but not the audit key file cannot forge a consistent chain) over a length-prefixed
//! encoding of every field. Entries are
//! appended only inside [`crate::db::Db::write`], which serialises writers (a mutex on
//! SQLite, an advisory lock on PostgreSQL) so the chain never forks; `seq` is the primary key
//! and is assigned as head + 1, so a fork would also fail on the key. The chain head is
//! mirrored in `meta` in the same transaction, so truncating the tail is detected too.
//!
//! Someone who can write the database can cut the tail *and* rewrite the head in `meta`. So
//! the head is mirrored a second time outside the database: a small file beside the key file
//! (`<key file>.audit-head`), rewritten and fsynced after every committed write transaction
//! that appended to the log ([`crate::db::after_commit`]). It is written only after the
//! commit, so it never names an entry that does not exist; it may lag one transaction behind
//! after a crash, never ahead. Verification requires the chain to reach the file's entry with
//! the file's hash.
//!
//! Signed checkpoints ([`checkpoint`]) let an auditor keep `(seq, hash)` outside the system
//! altogether: an Ed25519 signature by a key derived for that purpose only. Whoever holds an
//! older checkpoint detects a rewrite of the whole chain (`verify` with `seq` and `hash`).
//!
//! The online verification is incremental ([`VerifyState`]): each call checks every entry
//! appended since the last good verification, plus a rolling window of [`RECHECK_WINDOW`]
//! older entries, so the cost per call is bounded and every old entry is re-checked at least
//! once every `entries / RECHECK_WINDOW` calls. Any failure triggers a full scan, which names
//! the first bad entry. `registro audit verify` always scans in full.

use crate::crypto::KeyRing;
use crate::db::models::AuditRow;
use crate::db::schema::{audit_log, meta};
use crate::db::DbConn;
use diesel::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
    if let Some(path) = head_file(keys).filter(|p| file_agrees(conn, p, prev_seq, &row.prev_hash)) {
        let (seq, hash) = (row.seq, row.hash.clone());
        crate::db::after_commit("audit_head_file", move || {
            if let Err(e) = write_head_file(&path, seq, &hash) {
                tracing::error!(error = %e, "cannot mirror the access-log head to its file");
            }
        });
    }
    Ok(row)
}

/// Whether the head file agrees with the chain this entry extends, so it may advance. When it
/// does not (it names an entry past the chain's head, or one whose hash changed: rows were cut
/// or rewritten), it is left as it is, as the evidence [`verify`] reports, instead of being
/// overwritten by the shortened chain once that grows past it.
fn file_agrees(conn: &mut DbConn, path: &Path, prev_seq: i64, prev_hash: &str) -> bool {
    match read_head_file(path) {
        Ok(None) => true,
        Ok(Some((f, h))) if f == prev_seq => crate::crypto::ct_eq(&h, prev_hash),
        Ok(Some((f, h))) if f < prev_seq => {
            matches!(stored_hash(conn, f), Ok(Some(s)) if crate::crypto::ct_eq(&s, &h))
        }
        _ => false,
    }
}

/// Where the head is mirrored outside the database: beside the key file. `None` for an
/// in-memory key ring.
pub fn head_file(keys: &KeyRing) -> Option<PathBuf> {
    let key = keys.path();
    if key.as_os_str().is_empty() {
        return None;
    }
    let mut name = key.file_name()?.to_os_string();
    name.push(".audit-head");
    Some(key.with_file_name(name))
}

/// Serialises head-file writers of this process (several nodes in one process may share it).
static HEAD_FILE_LOCK: Mutex<()> = Mutex::new(());

/// Reads the mirrored head: `Ok(None)` when there is no file yet.
pub fn read_head_file(path: &Path) -> std::io::Result<Option<(i64, String)>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_head(&text).map(Some).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed head file")
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Parses a head file's text, `seq:hash` (64 hex digits); `None` when malformed.
pub fn parse_head(text: &str) -> Option<(i64, String)> {
    text.trim().split_once(':').and_then(|(s, h)| {
        let seq = s.parse::<i64>().ok()?;
        (h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())).then(|| (seq, h.to_string()))
    })
}

/// Replaces the head file with `seq:hash` (write a temporary file, fsync, rename, fsync the
/// directory), unless it already names a later entry (another node of this process, or of
/// another process sharing the file, got there first).
pub fn write_head_file(path: &Path, seq: i64, hash: &str) -> std::io::Result<()> {
    use std::io::Write;
    let _guard = HEAD_FILE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if let Ok(Some((current, _))) = read_head_file(path) {
        if current >= seq {
            return Ok(());
        }
    }
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(format!("{seq}:{hash}\n").as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Verification {
    pub entries: i64,
    pub chain_ok: bool,
    pub first_bad_seq: Option<i64>,
    /// Entries whose hash was recomputed by this call (all of them on a full scan).
    pub checked: i64,
    /// Whether entry `seq` still has `hash`, when the caller passed a checkpoint.
    pub checkpoint_ok: Option<bool>,
}

/// Rows per page when scanning.
const PAGE: i64 = 5000;
/// Older entries re-checked by each incremental verification.
pub const RECHECK_WINDOW: i64 = 50_000;

/// What the last good online verification established, per process.
#[derive(Debug, Default)]
pub struct VerifyState {
    inner: Mutex<Verified>,
}

#[derive(Debug, Default, Clone)]
struct Verified {
    /// Entries 1..=seq formed a good chain ending in `hash`.
    seq: i64,
    hash: String,
    /// Where the next rolling re-check of old entries starts.
    recheck_from: i64,
}

/// The outcome of checking rows `from..` against the hash of the entry before `from`.
struct Walk {
    /// The last good entry reached, and its hash.
    last_seq: i64,
    last_hash: String,
    first_bad: Option<i64>,
    checked: i64,
}

/// Checks entries `from..=until` (or to the end), chaining from `prev_hash`.
fn walk(
    conn: &mut DbConn,
    keys: &KeyRing,
    from: i64,
    prev_hash: String,
    until: Option<i64>,
) -> QueryResult<Walk> {
    let mut expected_seq = from;
    let mut prev_hash = prev_hash;
    let mut checked = 0i64;
    loop {
        let mut q = audit_log::table
            .filter(audit_log::seq.ge(expected_seq))
            .into_boxed();
        if let Some(u) = until {
            q = q.filter(audit_log::seq.le(u));
        }
        let rows: Vec<AuditRow> = q
            .order(audit_log::seq.asc())
            .limit(PAGE)
            .select(AuditRow::as_select())
            .load(conn)?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            checked += 1;
            if row.seq != expected_seq
                || !crate::crypto::ct_eq(&row.prev_hash, &prev_hash)
                || !crate::crypto::ct_eq(&entry_hash(keys, &row), &row.hash)
            {
                return Ok(Walk {
                    last_seq: expected_seq - 1,
                    last_hash: prev_hash,
                    first_bad: Some(expected_seq),
                    checked,
                });
            }
            prev_hash = row.hash;
            expected_seq += 1;
        }
    }
    if let Some(u) = until {
        if expected_seq <= u {
            // Rows missing inside the window.
            return Ok(Walk {
                last_seq: expected_seq - 1,
                last_hash: prev_hash,
                first_bad: Some(expected_seq),
                checked,
            });
        }
    }
    Ok(Walk {
        last_seq: expected_seq - 1,
        last_hash: prev_hash,
        first_bad: None,
        checked,
    })
}

fn stored_hash(conn: &mut DbConn, seq: i64) -> QueryResult<Option<String>> {
    if seq == 0 {
        return Ok(Some(GENESIS.to_string()));
    }
    audit_log::table
        .filter(audit_log::seq.eq(seq))
        .select(audit_log::hash)
        .first(conn)
        .optional()
}

/// The checks against the heads mirrored in `meta` and in the head file, once the chain is
/// known good up to `last_seq` (whose hash is `last_hash`). Returns the first bad seq.
fn check_heads(
    conn: &mut DbConn,
    keys: &KeyRing,
    last_seq: i64,
    last_hash: &str,
) -> QueryResult<Option<i64>> {
    let head: Option<String> = meta::table
        .filter(meta::key.eq(HEAD_KEY))
        .select(meta::value)
        .first(conn)
        .optional()?;
    if let Some(head) = head {
        let expect = format!("{last_seq}:{last_hash}");
        if !crate::crypto::ct_eq(&head, &expect) {
            return Ok(Some(last_seq + 1));
        }
    }
    let Some(path) = head_file(keys) else {
        return Ok(None);
    };
    match read_head_file(&path) {
        Ok(None) => Ok(None),
        Ok(Some((seq, hash))) => {
            if seq > last_seq {
                // Rows cut from the end: the file names an entry the chain no longer reaches.
                return Ok(Some(last_seq + 1));
            }
            match stored_hash(conn, seq)? {
                Some(h) if crate::crypto::ct_eq(&h, &hash) => Ok(None),
                _ => Ok(Some(seq.max(1))),
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read the access-log head file");
            Ok(Some(last_seq + 1))
        }
    }
}

fn count(conn: &mut DbConn) -> QueryResult<i64> {
    audit_log::table.count().get_result(conn)
}

/// Walks the whole chain in `seq` order and names the first entry that was edited, deleted
/// (a gap: the missing seq is named) or reordered, or a truncated tail (the first missing seq,
/// found against the head in `meta` or in the head file).
pub fn verify(conn: &mut DbConn, keys: &KeyRing) -> QueryResult<Verification> {
    let w = walk(conn, keys, 1, GENESIS.to_string(), None)?;
    let first_bad = match w.first_bad {
        Some(b) => Some(b),
        None => check_heads(conn, keys, w.last_seq, &w.last_hash)?,
    };
    Ok(Verification {
        entries: count(conn)?,
        chain_ok: first_bad.is_none(),
        first_bad_seq: first_bad,
        checked: w.checked,
        checkpoint_ok: None,
    })
}

/// Whether entry `seq` still has `hash` (a checkpoint the auditor kept).
pub fn check_checkpoint(conn: &mut DbConn, seq: i64, hash: &str) -> QueryResult<bool> {
    Ok(match stored_hash(conn, seq)? {
        Some(h) => seq > 0 && crate::crypto::ct_eq(&h, hash),
        None => false,
    })
}

/// The online verification: incremental from what `state` last established (see the module
/// docs), falling back to a full scan when anything fails, so the answer names the first bad
/// entry exactly as [`verify`] does.
pub fn verify_incremental(
    conn: &mut DbConn,
    keys: &KeyRing,
    state: &VerifyState,
) -> QueryResult<Verification> {
    let known = state
        .inner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let fallback = |conn: &mut DbConn| -> QueryResult<Verification> {
        let v = verify(conn, keys)?;
        Ok(v)
    };
    // The entry the last verification ended on must still be there, unchanged.
    let anchor_ok = known.seq == 0
        || matches!(stored_hash(conn, known.seq)?, Some(h) if crate::crypto::ct_eq(&h, &known.hash));
    if !anchor_ok {
        return fallback(conn);
    }
    let prev = if known.seq == 0 {
        GENESIS.to_string()
    } else {
        known.hash.clone()
    };
    let new = walk(conn, keys, known.seq + 1, prev, None)?;
    if new.first_bad.is_some() {
        return fallback(conn);
    }
    if check_heads(conn, keys, new.last_seq, &new.last_hash)?.is_some() {
        return fallback(conn);
    }
    // A rolling window of older entries, chained from the stored hash before it.
    let mut checked = new.checked;
    let mut recheck_from = known.recheck_from.max(1);
    if known.seq > 0 {
        if recheck_from > known.seq {
            recheck_from = 1;
        }
        let until = (recheck_from + RECHECK_WINDOW - 1).min(known.seq);
        let Some(before) = stored_hash(conn, recheck_from - 1)? else {
            return fallback(conn);
        };
        let old = walk(conn, keys, recheck_from, before, Some(until))?;
        checked += old.checked;
        let joins = old.first_bad.is_none()
            && (until < known.seq || crate::crypto::ct_eq(&old.last_hash, &known.hash));
        if !joins {
            return fallback(conn);
        }
        recheck_from = until + 1;
    }
    *state.inner.lock().unwrap_or_else(|p| p.into_inner()) = Verified {
        seq: new.last_seq,
        hash: new.last_hash,
        recheck_from,
    };
    Ok(Verification {
        entries: count(conn)?,
        chain_ok: true,
        first_bad_seq: None,
        checked,
        checkpoint_ok: None,
    })
}

/// A signed statement that entry `seq` of the access log has `hash`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub at: String,
    /// Ed25519 signature (base64) over [`checkpoint_message`].
    pub signature: String,
    /// The Ed25519 public key (base64, 32 bytes).
    pub public_key: String,
}

/// The text a checkpoint signs.
pub fn checkpoint_message(seq: i64, hash: &str, at: &str) -> String {
    format!("registro-audit-checkpoint\n{seq}\n{hash}\n{at}")
}

/// Signs the current head of the log (the caller verifies the chain first).
pub fn checkpoint(conn: &mut DbConn, keys: &KeyRing) -> QueryResult<Option<Checkpoint>> {
    use base64::Engine;
    let head: Option<AuditRow> = audit_log::table
        .order(audit_log::seq.desc())
        .select(AuditRow::as_select())
        .first(conn)
        .optional()?;
    Ok(head.map(|row| {
        let at = super::rfc3339(row.at);
        let (sig, pk) =
            keys.sign_checkpoint(checkpoint_message(row.seq, &row.hash, &at).as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD;
        Checkpoint {
            seq: row.seq,
            hash: row.hash,
            at,
            signature: b64.encode(sig),
            public_key: b64.encode(pk),
        }
    }))
}

/// Whether a checkpoint's signature is good under `public_key` (or the key it carries).
pub fn checkpoint_signature_ok(cp: &Checkpoint, public_key: Option<&[u8]>) -> bool {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let (Ok(sig), Ok(carried)) = (b64.decode(&cp.signature), b64.decode(&cp.public_key)) else {
        return false;
    };
    let pk = public_key.unwrap_or(&carried);
    crate::crypto::verify_signature(
        pk,
        checkpoint_message(cp.seq, &cp.hash, &cp.at).as_bytes(),
        &sig,
    )
}

/// `registro audit verify`: a full scan of the store, offline, plus (optionally) a kept
/// checkpoint: its signature must be good under one of the audit key file's checkpoint keys
/// (or under `public_key`, when the auditor pins one), and its entry must still have its hash.
pub fn verify_store(
    db: &crate::db::Db,
    keys: &KeyRing,
    checkpoint: Option<&Checkpoint>,
    public_key: Option<&[u8]>,
) -> crate::error::ApiResult<(Verification, Option<bool>)> {
    db.read(|c| -> crate::error::ApiResult<_> {
        let mut v = verify(c, keys)?;
        let mut signature_ok = None;
        if let Some(cp) = checkpoint {
            // A pinned key, or any checkpoint key of the audit key file (old ones verify the
            // checkpoints signed before a rotation).
            let sig = match public_key {
                Some(pk) => checkpoint_signature_ok(cp, Some(pk)),
                None => keys
                    .checkpoint_public_keys()
                    .iter()
                    .any(|pk| checkpoint_signature_ok(cp, Some(pk))),
            };
            signature_ok = Some(sig);
            let present = check_checkpoint(c, cp.seq, &cp.hash)?;
            v.checkpoint_ok = Some(present && sig);
            if !present {
                v.chain_ok = false;
                let at = cp.seq.max(1);
                v.first_bad_seq = Some(v.first_bad_seq.map_or(at, |b| b.min(at)));
            }
        }
        Ok((v, signature_ok))
    })
}

/// Appends one entry standing for `count` denied requests of one minute (written by
/// `auth::flush_denied` instead of one entry, and one fsync, per request). The count and the
/// minute go in `purpose` as `denied.count=N minute=RFC3339`.
pub fn append_denied_aggregate(
    conn: &mut DbConn,
    keys: &KeyRing,
    mut e: Entry,
    count: u64,
    minute: chrono::NaiveDateTime,
) -> QueryResult<AuditRow> {
    e.purpose = Some(format!(
        "denied.count={count} minute={}",
        super::rfc3339(minute)
    ));
    append(conn, keys, e)
}
