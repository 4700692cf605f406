//! Which database errors are conditions an operator can fix — storage full, database
//! unreachable — rather than bugs. The service answers them with their own codes
//! (`507 storage_full`, `503 database_unavailable`) instead of `500 internal`.
//!
//! Diesel does not expose the SQLSTATE of a PostgreSQL error it does not map to a kind, so
//! disk full (53100) is recognised by the server's message, which names the OS error
//! ("No space left on device") or the failed extension ("could not extend file"). SQLite's
//! `SQLITE_FULL` (a full disk or `max_page_count` reached) always reads
//! "database or disk is full".

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::result::{DatabaseErrorKind, Error};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// An operator-fixable database condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The disk (or SQLite's `max_page_count`) is full: writes fail, reads work.
    StorageFull,
    /// The server cannot be reached, or the connection was lost or is being restarted.
    Unavailable,
}

const FULL_MESSAGES: &[&str] = &[
    "database or disk is full",
    "no space left on device",
    "could not extend file",
    "disk quota exceeded",
];

const UNAVAILABLE_MESSAGES: &[&str] = &[
    "server closed the connection",
    "terminating connection",
    "the database system is",
    "could not receive data from server",
    "could not send data to server",
    "no connection to the server",
    "connection refused",
    "connection to server",
    "connection reset",
    "broken pipe",
    "ssl syscall error",
];

fn has_any(message: &str, needles: &[&str]) -> bool {
    let m = message.to_ascii_lowercase();
    needles.iter().any(|n| m.contains(n))
}

/// Classifies a message of a database or connection error.
pub fn classify_message(message: &str) -> Option<Fault> {
    if has_any(message, FULL_MESSAGES) {
        Some(Fault::StorageFull)
    } else if has_any(message, UNAVAILABLE_MESSAGES) {
        Some(Fault::Unavailable)
    } else {
        None
    }
}

/// Classifies a diesel error; `None` for everything that is not operator-fixable.
pub fn classify(e: &Error) -> Option<Fault> {
    match e {
        Error::DatabaseError(kind, info) => match kind {
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                // A write that failed for space can still surface as a lost connection
                // (PostgreSQL PANICs when it cannot write its WAL); the message tells.
                Some(classify_message(info.message()).unwrap_or(Fault::Unavailable))
            }
            _ => classify_message(info.message()),
        },
        Error::RollbackErrorOnCommit { commit_error, .. } => classify(commit_error),
        // The connection's transaction state was lost with the connection (the pool drops
        // such connections, see `Manager::has_broken`): retryable.
        Error::BrokenTransactionManager => Some(Fault::Unavailable),
        _ => None,
    }
}

/// What this process last learnt about its storage: set when a write fails for space,
/// cleared when a write commits or a probe finds room again. `/readyz` reports it.
#[derive(Debug, Default)]
pub struct StorageState {
    full: AtomicBool,
}

impl StorageState {
    pub fn set_full(&self, full: bool) {
        self.full.store(full, Ordering::Release);
    }
    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::Acquire)
    }
}

/// Room a store must have left to count as not full: 1 MiB, a few enrollments with photos.
pub const MIN_FREE_BYTES: u64 = 1024 * 1024;

/// A per-connection watcher (diesel instrumentation): a statement or commit failing for space
/// marks storage full; a committed transaction that wrote clears it. Statements are only
/// looked at while storage is marked full, so the normal path costs nothing.
pub fn watcher(state: Arc<StorageState>) -> impl Instrumentation {
    let mut wrote = false;
    move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::FinishQuery { query, error, .. } = event {
            match error {
                Some(e) if classify(e) == Some(Fault::StorageFull) => state.set_full(true),
                None if state.is_full() => {
                    let sql = query.to_string();
                    let head: String = sql
                        .trim_start()
                        .chars()
                        .take_while(char::is_ascii_alphabetic)
                        .collect::<String>()
                        .to_ascii_uppercase();
                    match head.as_str() {
                        "BEGIN" => wrote = false,
                        "INSERT" | "UPDATE" | "DELETE" => wrote = true,
                        "COMMIT" if wrote => {
                            state.set_full(false);
                            wrote = false;
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Pages {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn pragma(c: &mut crate::db::DbConn, name: &str) -> Option<u64> {
    use diesel::RunQueryDsl;
    diesel::sql_query(format!("SELECT {name} AS n FROM pragma_{name}()"))
        .get_result::<Pages>(c)
        .ok()
        .map(|p| p.n.max(0) as u64)
}

/// SQLite: whether the store has less than [`MIN_FREE_BYTES`] of room, under the page cap
/// `cap` (if any) or on the file system holding `path`. `None` when it cannot tell.
pub fn sqlite_full(
    c: &mut crate::db::DbConn,
    cap: Option<u64>,
    path: Option<&std::path::Path>,
) -> Option<bool> {
    let page_size = pragma(c, "page_size")?.max(512);
    let free_pages = pragma(c, "freelist_count").unwrap_or(0);
    if let Some(cap) = cap {
        let used = pragma(c, "page_count")?;
        let room = cap.saturating_sub(used) + free_pages;
        if room * page_size < MIN_FREE_BYTES {
            return Some(true);
        }
    }
    let dir = path.and_then(|p| p.parent()).map(|d| {
        if d.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            d
        }
    })?;
    let avail = available_bytes(dir)?;
    Some(avail + free_pages * page_size < MIN_FREE_BYTES)
}

/// Bytes available to an unprivileged writer on the file system holding `dir`.
fn available_bytes(dir: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_of_both_backends_are_recognised() {
        assert_eq!(
            classify_message("database or disk is full"),
            Some(Fault::StorageFull)
        );
        assert_eq!(
            classify_message("could not extend file \"base/16384/16385\": No space left on device"),
            Some(Fault::StorageFull)
        );
        assert_eq!(
            classify_message("server closed the connection unexpectedly"),
            Some(Fault::Unavailable)
        );
        assert_eq!(
            classify_message("FATAL:  the database system is shutting down"),
            Some(Fault::Unavailable)
        );
        assert_eq!(classify_message("UNIQUE constraint failed: x.y"), None);
        assert_eq!(classify(&Error::NotFound), None);
        assert_eq!(
            classify(&Error::BrokenTransactionManager),
            Some(Fault::Unavailable)
        );
    }
}
