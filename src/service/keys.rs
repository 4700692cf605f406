//! Key-file checks at start and `registro keys rotate`.

use crate::crypto::KeyRing;
use crate::db::schema::{deletions, match_cases, meta, records};
use crate::db::Db;
use diesel::prelude::*;

fn check_key(kid: u32) -> String {
    format!("key_check:{kid}")
}

const INDEX_CHECK: &str = "index_key_check";
const AUDIT_CHECK: &str = "audit_key_check";

/// Whether the store has never been opened with a key file (no key check value yet): its
/// index and audit key files are then created apart from the data key file.
pub fn store_is_new(db: &Db) -> anyhow::Result<bool> {
    let n: i64 = db.read(|conn| -> anyhow::Result<i64> {
        Ok(meta::table
            .filter(meta::key.like("key_check:%"))
            .count()
            .get_result(conn)?)
    })?;
    Ok(n == 0)
}

fn source(s: crate::crypto::KeySource) -> &'static str {
    match s {
        crate::crypto::KeySource::File => "its own file",
        crate::crypto::KeySource::Derived => "derived from the data key (no file)",
    }
}

/// Compares one stored check value (index or chain key) with the ring's, or records it.
fn check_one(
    conn: &mut crate::db::DbConn,
    key: &str,
    value: &str,
    what: &str,
    from: crate::crypto::KeySource,
    file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let stored: Option<String> = meta::table
        .filter(meta::key.eq(key))
        .select(meta::value)
        .first(conn)
        .optional()?;
    match stored {
        Some(s) if crate::crypto::ct_eq(&s, value) => Ok(()),
        Some(_) => anyhow::bail!(
            "the {what} key ({}{}) is not the one this database uses: refusing to start. \
             Use the {what} key file this database was created with (or, for a store created \
             before separate key files, no {what} key file at all){}.",
            source(from),
            file.map(|f| format!(", {}", f.display()))
                .unwrap_or_default(),
            if key == INDEX_CHECK {
                "; if `registro keys rotate-index` was interrupted, run it again to finish it"
            } else {
                ""
            }
        ),
        None => {
            diesel::insert_into(meta::table)
                .values((meta::key.eq(key), meta::value.eq(value)))
                .execute(conn)?;
            Ok(())
        }
    }
}

/// Refuses key files that do not hold the keys the database was sealed, indexed and chained
/// with, and records the check value of any new key. Runs before anything is read or written.
pub fn check_or_register(db: &Db, ring: &KeyRing) -> anyhow::Result<()> {
    db.write(|conn| -> anyhow::Result<()> {
        let paths = ring.paths();
        check_one(
            conn,
            INDEX_CHECK,
            &ring.index_check(),
            "blind-index",
            ring.index_source(),
            paths.map(|p| p.index.as_path()),
        )?;
        check_one(
            conn,
            AUDIT_CHECK,
            &ring.audit_check(),
            "access-log",
            ring.audit_source(),
            paths.map(|p| p.audit.as_path()),
        )?;
        let known: Vec<(String, String)> = meta::table
            .filter(meta::key.like("key_check:%"))
            .select((meta::key, meta::value))
            .load(conn)?;
        let mut matched = known.is_empty();
        for (k, v) in &known {
            let kid: u32 = k.trim_start_matches("key_check:").parse().unwrap_or(0);
            match ring.check_value(kid) {
                Some(c) if crate::crypto::ct_eq(c, v) => matched = true,
                Some(_) => anyhow::bail!(
                    "the key file {} does not match this database (key id {kid} differs): \
                     refusing to start. Use the key file this database was created with.",
                    ring.path().display()
                ),
                None => anyhow::bail!(
                    "the key file {} lacks key id {kid}, which this database uses: refusing to start",
                    ring.path().display()
                ),
            }
        }
        if !matched {
            anyhow::bail!("the key file does not match this database: refusing to start");
        }
        for kid in ring.kids() {
            let key = check_key(kid);
            if !known.iter().any(|(k, _)| *k == key) {
                let value = ring.check_value(kid).unwrap_or_default().to_string();
                diesel::insert_into(meta::table)
                    .values((meta::key.eq(key), meta::value.eq(value)))
                    .execute(conn)?;
            }
        }
        Ok(())
    })
}

/// `registro keys rotate-audit`: a new checkpoint signing key in the audit key file. New
/// checkpoints are signed with it; checkpoints signed before keep verifying (`audit verify`
/// tries every key of the file, and an auditor who pinned an old public key keeps it). The
/// chain key does not change: every entry ever written must keep verifying. Running nodes
/// sign with the new key after their next start. Returns the new key id and its public key.
pub fn rotate_audit(db: &Db, ring: &KeyRing) -> anyhow::Result<(u32, [u8; 32])> {
    let (ring, kid) = ring.add_audit_key()?;
    check_or_register(db, &ring)?;
    Ok((kid, ring.checkpoint_public_key()))
}

/// Inside a write transaction that stores blind indexes: refuses when the store's index key
/// is no longer this node's (another process ran `registro keys rotate-index` since this node
/// started), so that no index computed with the old key is written after a re-key. One read
/// of one `meta` row by its key.
pub fn ensure_index_key(
    conn: &mut crate::db::DbConn,
    ring: &KeyRing,
) -> crate::error::ApiResult<()> {
    match stored_index_check(conn)? {
        Some(s) if !crate::crypto::ct_eq(&s, &ring.index_check()) => {
            Err(crate::error::ApiError::index_key_changed())
        }
        _ => Ok(()),
    }
}

/// The check value of the blind-index key the database indexes with, once one is recorded.
fn stored_index_check(conn: &mut crate::db::DbConn) -> QueryResult<Option<String>> {
    meta::table
        .filter(meta::key.eq(INDEX_CHECK))
        .select(meta::value)
        .first(conn)
        .optional()
}

/// What `registro keys rotate-index` did.
#[derive(Debug, serde::Serialize)]
pub struct IndexRotation {
    /// Records whose three index columns were recomputed.
    pub reindexed: usize,
    /// Whether this run only finished a rotation that an earlier run had committed to the
    /// database but not yet moved into the index key file.
    pub finished_interrupted: bool,
}

/// `registro keys rotate-index`: a new blind-index key, and every live record's three index
/// columns recomputed with it from its sealed person, in **one** write transaction (so the
/// store never holds indexes under two keys; on PostgreSQL the write lock makes every other
/// node's writes wait for it). Steps, each safe to interrupt:
///
/// 1. the new key is written to `<index key file>.new` (0600, fsynced);
/// 2. the transaction re-indexes every record and stores the new key's check value;
/// 3. the staged file is renamed over the index key file.
///
/// Run again after an interruption: a staged key the database already uses (crash between 2
/// and 3) is moved into place; one it does not use (crash before 2 committed) is discarded
/// and the rotation starts over. Stop the other nodes first: a node still running with the
/// old key refuses to write (`503 index_key_changed`, [`ensure_index_key`]) until it is
/// restarted with the new file, and its exact searches find nothing new meanwhile.
pub fn rotate_index(db: &Db, ring: &KeyRing) -> anyhow::Result<IndexRotation> {
    let stored = || db.read(|c| -> anyhow::Result<_> { Ok(stored_index_check(c)?) });
    if let Some(staged) = ring.staged_index_ring()? {
        if stored()?.is_some_and(|s| crate::crypto::ct_eq(&s, &staged.index_check())) {
            staged.commit_staged_index_key()?;
            return Ok(IndexRotation {
                reindexed: 0,
                finished_interrupted: true,
            });
        }
        ring.discard_staged_index_key()?;
    }
    let old_check = ring.index_check();
    if let Some(s) = stored()? {
        if !crate::crypto::ct_eq(&s, &old_check) {
            anyhow::bail!(
                "the blind-index key file is not the one this database uses: refusing to re-index"
            );
        }
    }
    let new = ring.stage_index_key()?;
    let reindexed = db.write(|c| -> anyhow::Result<usize> {
        // Checked again under the write lock: another rotation may have committed meanwhile.
        ensure_index_key(c, ring).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut n = 0usize;
        let mut after = 0i64;
        loop {
            let batch: Vec<(i64, String, Vec<u8>)> = records::table
                .filter(records::seq.gt(after))
                .filter(records::deleted_at.is_null())
                .order(records::seq.asc())
                .limit(500)
                .select((records::seq, records::id, records::person_enc))
                .load(c)?;
            let Some(last) = batch.last().map(|b| b.0) else {
                break;
            };
            for (seq, id, sealed) in &batch {
                if sealed.is_empty() {
                    continue;
                }
                let person: super::enrollment::SealedPerson =
                    serde_json::from_slice(&ring.open(id, "person", sealed)?)?;
                let [doc, phone, family] = super::enrollment::blind_indexes(&new, &person.person);
                diesel::update(records::table.filter(records::seq.eq(seq)))
                    .set((
                        records::doc_index.eq(doc),
                        records::phone_index.eq(phone),
                        records::family_index.eq(family),
                    ))
                    .execute(c)?;
                n += 1;
            }
            after = last;
        }
        let check = new.index_check();
        let updated = diesel::update(meta::table.filter(meta::key.eq(INDEX_CHECK)))
            .set(meta::value.eq(&check))
            .execute(c)?;
        if updated == 0 {
            diesel::insert_into(meta::table)
                .values((meta::key.eq(INDEX_CHECK), meta::value.eq(&check)))
                .execute(c)?;
        }
        Ok(n)
    });
    let reindexed = match reindexed {
        Ok(n) => n,
        Err(e) => {
            // Nothing committed: the staged key is not the database's.
            ring.discard_staged_index_key()?;
            return Err(e);
        }
    };
    new.commit_staged_index_key()?;
    Ok(IndexRotation {
        reindexed,
        finished_interrupted: false,
    })
}

/// Adds a new key to the key file and re-seals every ciphertext under it, in small batches.
/// Each batch is read and written back in one write transaction, so a deletion (or any other
/// writer) that commits between batches is never overwritten with older contents; readers keep
/// working throughout, and a reader that meets the new key id reloads the key file. Deleted
/// records hold no ciphertext and are skipped. Returns (new key id, ciphertexts re-sealed).
pub fn rotate(db: &Db, ring: &KeyRing) -> anyhow::Result<(u32, usize)> {
    let ring = ring.add_key()?;
    check_or_register(db, &ring)?;
    let kid = ring.current_kid();
    let reseal = |id: &str, field: &str, sealed: &[u8]| -> anyhow::Result<Option<Vec<u8>>> {
        if sealed.is_empty() || KeyRing::kid_of(sealed)? == kid {
            return Ok(None);
        }
        Ok(Some(ring.seal(
            id,
            field,
            &ring.open(id, field, sealed)?,
        )?))
    };
    let mut done = 0usize;
    let mut after = 0i64;
    loop {
        let (last, n) = db.write(|c| -> anyhow::Result<(Option<i64>, usize)> {
            let batch: Vec<(i64, String, Vec<u8>, Vec<u8>)> = records::table
                .filter(records::seq.gt(after))
                .filter(records::deleted_at.is_null())
                .order(records::seq.asc())
                .limit(200)
                .select((
                    records::seq,
                    records::id,
                    records::person_enc,
                    records::biometrics_enc,
                ))
                .load(c)?;
            let mut n = 0;
            for (seq, id, person, bio) in &batch {
                let p = reseal(id, "person", person)?;
                let b = reseal(id, "biometrics", bio)?;
                if p.is_some() || b.is_some() {
                    diesel::update(records::table.filter(records::seq.eq(seq)))
                        .set((
                            records::person_enc.eq(p.unwrap_or_else(|| person.clone())),
                            records::biometrics_enc.eq(b.unwrap_or_else(|| bio.clone())),
                        ))
                        .execute(c)?;
                    n += 1;
                }
            }
            Ok((batch.last().map(|b| b.0), n))
        })?;
        done += n;
        match last {
            Some(l) => after = l,
            None => break,
        }
    }
    let mut after = 0i64;
    loop {
        let (last, n) = db.write(|c| -> anyhow::Result<(Option<i64>, usize)> {
            let batch: Vec<(i64, String, Vec<u8>)> = match_cases::table
                .filter(match_cases::seq.gt(after))
                .filter(match_cases::note_enc.is_not_null())
                .order(match_cases::seq.asc())
                .limit(200)
                .select((
                    match_cases::seq,
                    match_cases::id,
                    match_cases::note_enc.assume_not_null(),
                ))
                .load(c)?;
            let mut n = 0;
            for (seq, id, note) in &batch {
                if let Some(sealed) = reseal(id, "note", note)? {
                    diesel::update(match_cases::table.filter(match_cases::seq.eq(seq)))
                        .set(match_cases::note_enc.eq(sealed))
                        .execute(c)?;
                    n += 1;
                }
            }
            Ok((batch.last().map(|b| b.0), n))
        })?;
        done += n;
        match last {
            Some(l) => after = l,
            None => break,
        }
    }
    let mut after = 0i64;
    loop {
        let (last, n) = db.write(|c| -> anyhow::Result<(Option<i64>, usize)> {
            let batch: Vec<(i64, String, Vec<u8>)> = deletions::table
                .filter(deletions::seq.gt(after))
                .order(deletions::seq.asc())
                .limit(200)
                .select((deletions::seq, deletions::id, deletions::reason_enc))
                .load(c)?;
            let mut n = 0;
            for (seq, id, reason) in &batch {
                if let Some(sealed) = reseal(id, "reason", reason)? {
                    diesel::update(deletions::table.filter(deletions::seq.eq(seq)))
                        .set(deletions::reason_enc.eq(sealed))
                        .execute(c)?;
                    n += 1;
                }
            }
            Ok((batch.last().map(|b| b.0), n))
        })?;
        done += n;
        match last {
            Some(l) => after = l,
            None => break,
        }
    }
    Ok((kid, done))
}
