//! Gallery lifecycle: load every live record's features at start (decrypting in parallel,
//! progress in the log, `/readyz` not ready until done), then follow the database's change
//! sequence so enrollments and deletions made by other nodes reach this node's galleries
//! within `follow_interval_ms`.
//!
//! PostgreSQL sequence values can commit out of order (a transaction that drew seq 10 may
//! commit after one that drew 11), so the follower re-reads a window behind its watermark and
//! remembers what it applied there, instead of trusting "greater than the last seen".

use super::enrollment::open_biometrics;
use super::Registro;
use crate::db::models::ChangeRow;
use crate::db::schema::{changes, records};
use crate::error::ApiResult;
use diesel::prelude::*;
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PAGE: i64 = 2000;
const LOOKBACK: i64 = 1000;

/// Starts the loader and follower on a background thread.
pub fn start(reg: Arc<Registro>) {
    super::reception::presence::start_sweeper(reg.clone());
    std::thread::Builder::new()
        .name("registro-gallery".into())
        .spawn(move || {
            let watermark = loop {
                match load_all(&reg) {
                    Ok(w) => break w,
                    Err(e) => {
                        tracing::error!(error = %e, "gallery load failed; retrying");
                        std::thread::sleep(Duration::from_secs(2));
                    }
                }
            };
            reg.set_ready();
            // From here on the follower holds the registro weakly: once everything else has
            // dropped it (a stopped server, a finished test), the thread ends and the
            // registro's connection pool closes.
            let weak = Arc::downgrade(&reg);
            drop(reg);
            follow_while_alive(weak, watermark);
        })
        .ok();
}

/// [`follow`] for as long as the registro is alive anywhere else.
fn follow_while_alive(weak: std::sync::Weak<Registro>, mut watermark: i64) {
    let mut applied: BTreeSet<i64> = BTreeSet::new();
    loop {
        let Some(every) = weak.upgrade().map(|r| r.config.follow_interval_ms.max(50)) else {
            return;
        };
        std::thread::sleep(Duration::from_millis(every));
        let Some(reg) = weak.upgrade() else { return };
        match poll(&reg, watermark, &mut applied) {
            Ok(w) => watermark = w,
            Err(e) => tracing::warn!(error = %e, "change follower: poll failed"),
        }
    }
}

/// Loads every live record into the galleries; returns the change watermark read before
/// loading began (so nothing committed during the load is missed).
pub fn load_all(reg: &Registro) -> ApiResult<i64> {
    let started = Instant::now();
    let watermark: i64 = reg.db.read(|c| -> ApiResult<i64> {
        Ok(changes::table
            .select(diesel::dsl::max(changes::seq))
            .first::<Option<i64>>(c)?
            .unwrap_or(0))
    })?;
    let total: i64 = reg.db.read(|c| -> ApiResult<i64> {
        Ok(records::table
            .filter(records::deleted_at.is_null())
            .count()
            .get_result(c)?)
    })?;
    tracing::info!(records = total, "loading galleries");
    let mut after = 0i64;
    let mut loaded = 0usize;
    loop {
        let rows: Vec<(i64, String, Vec<u8>)> = reg.db.read(|c| -> ApiResult<_> {
            Ok(records::table
                .filter(records::seq.gt(after))
                .filter(records::deleted_at.is_null())
                .order(records::seq.asc())
                .limit(PAGE)
                .select((records::seq, records::id, records::biometrics_enc))
                .load(c)?)
        })?;
        let Some(last) = rows.last().map(|r| r.0) else {
            break;
        };
        // The key ring is taken before entering the pool (no locks inside pool work).
        let ring = reg.keys();
        let opened: Vec<ApiResult<(i64, super::matching::Extracted)>> = reg.matcher.install(|| {
            rows.par_iter()
                .map(|(seq, id, enc)| {
                    let json = ring
                        .open(id, "biometrics", enc)
                        .map_err(crate::error::ApiError::from)?;
                    Ok((
                        *seq,
                        serde_json::from_slice(&json).map_err(crate::error::ApiError::internal)?,
                    ))
                })
                .collect()
        });
        let batch: Vec<(i64, super::matching::Extracted)> =
            opened.into_iter().collect::<ApiResult<_>>()?;
        loaded += batch.len();
        let refs: Vec<(i64, &super::matching::Extracted)> =
            batch.iter().map(|(k, ex)| (*k, ex)).collect();
        reg.matcher.insert_many(&refs);
        after = last;
        tracing::info!(loaded, total, "gallery load progress");
    }
    tracing::info!(
        loaded,
        ms = started.elapsed().as_millis() as u64,
        "galleries loaded"
    );
    // Every change up to the watermark is in the galleries now (`inflight::Coverage`).
    reg.coverage.advance(watermark);
    Ok(watermark)
}

/// Applies changes after `watermark`, forever.
pub fn follow(reg: &Registro, mut watermark: i64) {
    let mut applied: BTreeSet<i64> = BTreeSet::new();
    loop {
        std::thread::sleep(Duration::from_millis(reg.config.follow_interval_ms.max(50)));
        match poll(reg, watermark, &mut applied) {
            Ok(w) => watermark = w,
            Err(e) => tracing::warn!(error = %e, "change follower: poll failed"),
        }
    }
}

/// One poll of the change sequence. Returns the new watermark.
pub fn poll(reg: &Registro, watermark: i64, applied: &mut BTreeSet<i64>) -> ApiResult<i64> {
    let from = (watermark - LOOKBACK).max(0);
    let rows: Vec<ChangeRow> = reg.db.read(|c| -> ApiResult<_> {
        Ok(changes::table
            .filter(changes::seq.gt(from))
            .order(changes::seq.asc())
            .select(ChangeRow::as_select())
            .load(c)?)
    })?;
    let mut high = watermark;
    for ch in rows {
        high = high.max(ch.seq);
        if ch.seq <= watermark - LOOKBACK || applied.contains(&ch.seq) {
            continue;
        }
        if ch.seq <= watermark
            && !applied.is_empty()
            && ch.seq < *applied.iter().next().unwrap_or(&0)
        {
            continue;
        }
        apply(reg, &ch)?;
        applied.insert(ch.seq);
    }
    // Forget what fell out of the window.
    let keep_from = high - LOOKBACK;
    while applied.first().is_some_and(|s| *s <= keep_from) {
        applied.pop_first();
    }
    // Everything read has been applied, and writers draw change numbers in commit order
    // (`inflight`), so the galleries are complete through `high`.
    reg.coverage.advance(high);
    Ok(high)
}

fn apply(reg: &Registro, ch: &ChangeRow) -> ApiResult<()> {
    let row: Option<(i64, Option<chrono::NaiveDateTime>, Vec<u8>)> =
        reg.db.read(|c| -> ApiResult<_> {
            Ok(records::table
                .filter(records::id.eq(&ch.record_id))
                .select((records::seq, records::deleted_at, records::biometrics_enc))
                .first(c)
                .optional()?)
        })?;
    let Some((seq, deleted, enc)) = row else {
        return Ok(());
    };
    if deleted.is_some() {
        reg.matcher.remove(seq);
    } else if ch.kind == "enrolled" && !reg.matcher.contains(seq) {
        let ex = open_biometrics(reg, &ch.record_id, &enc)?;
        reg.matcher.insert(seq, &ex);
    }
    Ok(())
}
