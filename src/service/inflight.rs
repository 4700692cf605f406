//! No window: enrollments of one person that are in flight at the same time find each other.
//!
//! An enrollment searches this node's galleries *before* it writes, and a record joins the
//! galleries only after its transaction commits (on another node, only once that node's
//! follower has read the change sequence). Two enrollments of one person in flight together
//! would each search a gallery that holds neither. Two facts close that window:
//!
//! 1. **Coverage.** [`Coverage`] is the change-sequence number through which this node's
//!    galleries are complete: every record whose `enrolled` change is at or below it is in the
//!    gallery. The start-up load sets it to the watermark it read before loading; the follower
//!    raises it after each poll has applied everything it read. An enrollment reads it
//!    *before* it searches.
//! 2. **Serialised commits.** Every write transaction holds the write lock (a process mutex on
//!    SQLite, `pg_advisory_xact_lock` on PostgreSQL, across nodes) from before it draws a
//!    change-sequence value until it commits, so change numbers are drawn in commit order.
//!
//! So a record that committed before an enrollment's own commit was either in the gallery when
//! the enrollment searched (its change is at or below the coverage read before the search),
//! or its change is above that coverage. [`Window`] compares the probe directly with the
//! records of every `enrolled` change above it: once outside the write lock, after the search
//! (what committed while it ran), and once more inside the write transaction (what committed
//! since), where the lock guarantees nothing further can commit first. The hits join the
//! search's candidates before they are resolved, so the match case, the `duplicate` in the
//! answer and the indicators come out as if the two had arrived one after the other. Of any
//! set of enrollments of one person, each one but the first to commit is linked to an earlier
//! one.
//!
//! The records found this way are committed, so they join this node's galleries at once
//! (the follower would add them a moment later; a second insert is ignored). The work is a
//! direct comparison with a handful of records in steady state: those enrolled on any node
//! within about one follow interval, plus this node's own commits since its last poll.

use super::enrollment::open_biometrics;
use super::matching::{Candidate, Extracted};
use super::Registro;
use crate::db::schema::{changes, records};
use crate::db::DbConn;
use crate::error::ApiResult;
use diesel::prelude::*;
use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};

/// Change rows read per page while scanning a window (bounds the `IN` lists).
const PAGE: i64 = 500;

/// The change-sequence number through which this node's galleries are complete.
#[derive(Debug)]
pub struct Coverage(AtomicI64);

impl Default for Coverage {
    fn default() -> Self {
        // Nothing loaded yet: every committed record is outside the gallery.
        Coverage(AtomicI64::new(0))
    }
}

impl Coverage {
    /// Raises the coverage to `seq` (never lowers it).
    pub fn advance(&self, seq: i64) {
        self.0.fetch_max(seq, Ordering::AcqRel);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Acquire)
    }
}

/// The records that committed while one enrollment was in flight, and the probe's scores
/// against them.
#[derive(Debug)]
pub struct Window {
    /// Change rows up to here have been scanned.
    after: i64,
    /// Gallery keys already scored (by the search or by an earlier scan).
    scored: HashSet<i64>,
    found: Vec<Candidate>,
    /// The galleries' size once the window is closed: the `N` of the decision rule
    /// ([`Window::gallery`]).
    gallery: usize,
}

impl Window {
    /// Opens the window at the coverage read *before* the search that produced `searched`.
    pub fn open(covered: i64, searched: &[Candidate]) -> Window {
        Window {
            after: covered,
            scored: searched.iter().map(|c| c.key).collect(),
            found: Vec::new(),
            gallery: 0,
        }
    }

    /// The number of records the probe was compared with, for the decision rule
    /// (`fusion::DecisionRule`), known once the window is closed: the galleries' size read
    /// inside the write transaction, after the window's records joined them. That is exactly
    /// the records the search covered plus those compared in flight: every record in the
    /// galleries then has committed, and one whose change is at or below the coverage read
    /// before the search was in the galleries searched, while one above it is in the window
    /// (which adds any it finds missing). Records deleted meanwhile are not counted.
    pub fn gallery(&self) -> usize {
        self.gallery
    }

    /// Scans what committed since the last scan, in a read transaction (outside the write
    /// lock, so that the locked part has little left to do).
    pub fn scan(&mut self, reg: &Registro, probe: &Extracted) -> ApiResult<()> {
        reg.db.read(|c| self.scan_in(reg, c, probe))
    }

    /// Scans the rest inside the enrollment's write transaction and returns the search's
    /// candidates together with every hit of the window, best first.
    pub fn close(
        &mut self,
        reg: &Registro,
        conn: &mut DbConn,
        probe: &Extracted,
        searched: Vec<Candidate>,
    ) -> ApiResult<Vec<Candidate>> {
        self.scan_in(reg, conn, probe)?;
        self.gallery = reg.matcher.len();
        let mut all = searched;
        all.extend(self.found.iter().cloned());
        all.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.key.cmp(&b.key)));
        Ok(all)
    }

    fn scan_in(&mut self, reg: &Registro, conn: &mut DbConn, probe: &Extracted) -> ApiResult<()> {
        loop {
            let page: Vec<(i64, String)> = changes::table
                .filter(changes::seq.gt(self.after))
                .filter(changes::kind.eq("enrolled"))
                .order(changes::seq.asc())
                .limit(PAGE)
                .select((changes::seq, changes::record_id))
                .load(conn)?;
            let Some(last) = page.last().map(|p| p.0) else {
                return Ok(());
            };
            let ids: Vec<String> = page.into_iter().map(|p| p.1).collect();
            let rows: Vec<(i64, String, Vec<u8>)> = records::table
                .filter(records::id.eq_any(&ids))
                .filter(records::deleted_at.is_null())
                .select((records::seq, records::id, records::biometrics_enc))
                .load(conn)?;
            let mut keys = Vec::new();
            let mut missing = Vec::new();
            for (seq, id, enc) in rows {
                if !self.scored.insert(seq) {
                    continue;
                }
                if !reg.matcher.contains(seq) {
                    missing.push((seq, open_biometrics(reg, &id, &enc)?));
                }
                keys.push(seq);
            }
            let refs: Vec<(i64, &Extracted)> = missing.iter().map(|(k, ex)| (*k, ex)).collect();
            reg.matcher.insert_many(&refs);
            self.found.extend(reg.matcher.score_keys(probe, &keys));
            self.after = last;
            if (ids.len() as i64) < PAGE {
                return Ok(());
            }
        }
    }
}
