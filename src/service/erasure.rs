//! What deleting a record erases, step by step.
//!
//! [`STEPS`] run in order inside the deletion's write transaction (see
//! [`super::records::delete`]), each given the record's row as it was before deletion. A module
//! that stores more data about a record (sealed photos, events, …) adds its own step here, so a
//! deletion stays complete as the store grows. A step must leave nothing personal of the record
//! behind: delete the rows, or overwrite the columns with values that say nothing.
//!
//! What stays: the tombstone row in `records` (id, capture id, person id, site, device, times),
//! so the access log keeps its references, pairs of match cases keep their shape, and a replay of
//! the same capture answers `410 record_deleted` instead of enrolling the person again; and the
//! access log itself, which never held personal data in clear.
//!
//! After the commit, [`after_commit`] checkpoints SQLite's write-ahead log, so the old pages
//! (and the ciphertexts on them) leave the WAL file; `PRAGMA secure_delete` (set on every
//! connection) zeroes freed space in the main file.

use crate::db::models::RecordRow;
use crate::db::schema::{alerts, companions, match_cases, records};
use crate::db::{Backend, Db, DbConn};
use crate::error::{ApiError, ApiResult};
use diesel::prelude::*;

/// One erasure step: runs in the deletion's transaction.
pub type Step = fn(&mut DbConn, &RecordRow) -> ApiResult<()>;

/// Every erasure step, in order. Append new steps at the end.
pub const STEPS: &[Step] = &[
    erase_record_row,
    erase_companion_links,
    erase_case_notes,
    redact_alerts,
    erase_reception_events,
];

/// The record's reception events: gone, their effects out of the site counts, and the
/// identity's presence replayed from what remains.
fn erase_reception_events(c: &mut DbConn, row: &RecordRow) -> ApiResult<()> {
    super::reception::presence::erase_record(c, &row.id, &row.person_id)
}

/// The answer to any request about a deleted record.
pub fn deleted() -> ApiError {
    ApiError::client("record_deleted", "this record was deleted")
}

/// The record's own row: ciphertexts emptied (not re-sealed: an empty column has no key id and
/// no ciphertext to recover), blind indexes, coarse demographics and the stored answer cleared.
fn erase_record_row(c: &mut DbConn, row: &RecordRow) -> ApiResult<()> {
    diesel::update(records::table.filter(records::seq.eq(row.seq)))
        .set((
            records::deleted_at.eq(Some(crate::db::now())),
            records::person_enc.eq(Vec::<u8>::new()),
            records::biometrics_enc.eq(Vec::<u8>::new()),
            records::response_json.eq(""),
            records::doc_index.eq(None::<String>),
            records::phone_index.eq(None::<String>),
            records::family_index.eq(None::<String>),
            records::sex.eq(None::<String>),
            records::nationality.eq(None::<String>),
            records::is_minor.eq(None::<bool>),
            records::age_group.eq("unknown"),
        ))
        .execute(c)?;
    Ok(())
}

/// Companions this record declared. (Declarations by others name only this record's capture
/// id, and every reader looks the capture up among live records, so they no longer resolve.)
fn erase_companion_links(c: &mut DbConn, row: &RecordRow) -> ApiResult<()> {
    diesel::delete(companions::table.filter(companions::record_id.eq(&row.id))).execute(c)?;
    Ok(())
}

/// Pending cases are withdrawn; decided cases lose their notes.
fn erase_case_notes(c: &mut DbConn, row: &RecordRow) -> ApiResult<()> {
    let touches = match_cases::record_a
        .eq(row.id.clone())
        .or(match_cases::record_b.eq(row.id.clone()));
    diesel::update(match_cases::table.filter(match_cases::status.eq("pending")))
        .filter(touches.clone())
        .set(match_cases::status.eq("withdrawn"))
        .execute(c)?;
    diesel::update(match_cases::table.filter(touches))
        .set(match_cases::note_enc.eq(None::<Vec<u8>>))
        .execute(c)?;
    Ok(())
}

/// Alerts keep their code, severity and counts, but drop the record's id.
fn redact_alerts(c: &mut DbConn, row: &RecordRow) -> ApiResult<()> {
    let pattern = format!("%\"{}\"%", row.id);
    let hits: Vec<(i64, String)> = alerts::table
        .filter(alerts::record_ids.like(pattern))
        .select((alerts::seq, alerts::record_ids))
        .load(c)?;
    for (seq, ids) in hits {
        let ids: Vec<String> = serde_json::from_str(&ids).unwrap_or_default();
        let kept: Vec<String> = ids.into_iter().filter(|i| *i != row.id).collect();
        diesel::update(alerts::table.filter(alerts::seq.eq(seq)))
            .set(alerts::record_ids.eq(serde_json::to_string(&kept).map_err(ApiError::internal)?))
            .execute(c)?;
    }
    Ok(())
}

/// After a deletion commits (run it from [`crate::db::after_commit`], under the write gate):
/// on SQLite, move every WAL page into the main file and truncate the
/// WAL, so the pre-deletion pages are gone from it. (On PostgreSQL the old row versions stay in
/// the table's pages until autovacuum reuses them; see docs/SECURITY.md.)
pub fn after_commit(db: &Db) {
    if db.backend() != Backend::Sqlite {
        return;
    }
    let result = db.conn().map_err(|e| e.to_string()).and_then(|mut c| {
        diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut *c)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    if let Err(e) = result {
        tracing::warn!(error = %e, "WAL checkpoint after a deletion failed");
    }
}

/// Whether record `id` exists and was deleted.
pub fn is_deleted(c: &mut DbConn, id: &str) -> ApiResult<bool> {
    let at: Option<Option<chrono::NaiveDateTime>> = records::table
        .filter(records::id.eq(id))
        .select(records::deleted_at)
        .first(c)
        .optional()?;
    Ok(matches!(at, Some(Some(_))))
}
