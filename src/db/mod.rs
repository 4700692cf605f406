//! Storage: diesel over SQLite (the embedded default) and PostgreSQL through one code path.
//!
//! * [`DbConn`] is a `MultiConnection` over both backends; the variant is chosen from the URL
//!   scheme here, so a PostgreSQL connection error reaches the user as it is.
//! * Migrations live in `migrations/sqlite` and `migrations/postgres` (same names), embedded
//!   in the binary and run at start-up.
//! * SQLite runs in WAL mode with `synchronous=FULL` (every commit is fsynced before it is
//!   acknowledged, so an enrollment that got `201` survives `kill -9` or power loss) and a
//!   busy timeout. SQLite has one writer at a time; we serialise writers of this process on a
//!   mutex ([`Db::write`]) instead of letting deferred transactions collide and fail, and each
//!   write transaction takes SQLite's write lock with its first statement, so writers in
//!   other processes queue too.
//! * On PostgreSQL every write transaction first takes one transaction-scoped advisory lock.
//!   That is what keeps the hash-chained access log linear across many nodes: two writers
//!   never read the same chain head.

pub mod fault;
pub mod models;
pub mod reception;
pub mod schema;

use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Advisory lock key that serialises writers on PostgreSQL ("registro" in ASCII, truncated).
const PG_WRITE_LOCK: i64 = 0x7265_6769_7374_726f;

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL (expected sqlite://PATH or postgres://…)")]
    BadUrl,
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("migrations failed: {0}")]
    Migrate(String),
    #[error("database pool: {0}")]
    Pool(String),
}

/// Parses a database URL into its backend and the string diesel wants.
pub fn parse_url(url: &str) -> Result<(Backend, String), DbError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        Ok((Backend::Sqlite, path.to_string()))
    } else if let Some(path) = url.strip_prefix("sqlite:") {
        Ok((Backend::Sqlite, path.to_string()))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok((Backend::Postgres, url.to_string()))
    } else if url.ends_with(".db") || url.ends_with(".sqlite") {
        Ok((Backend::Sqlite, url.to_string()))
    } else {
        Err(DbError::BadUrl)
    }
}

/// r2d2 manager that picks the variant from the URL scheme and sets SQLite's pragmas on every
/// connection.
#[derive(Debug, Clone)]
pub struct Manager {
    backend: Backend,
    target: String,
    storage: Arc<fault::StorageState>,
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        match self.backend {
            Backend::Sqlite => {
                let mut c = diesel::SqliteConnection::establish(&self.target)
                    .map_err(r2d2::Error::ConnectionError)?;
                diesel::sql_query("PRAGMA busy_timeout = 30000")
                    .execute(&mut c)
                    .map_err(r2d2::Error::QueryError)?;
                for pragma in [
                    "PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = FULL",
                    "PRAGMA foreign_keys = ON",
                    // Freed pages and deleted cells are zeroed, so a deleted record's
                    // ciphertext does not linger in free pages (see records::delete).
                    "PRAGMA secure_delete = ON",
                ] {
                    diesel::sql_query(pragma)
                        .execute(&mut c)
                        .map_err(r2d2::Error::QueryError)?;
                }
                c.set_instrumentation(fault::watcher(self.storage.clone()));
                Ok(DbConn::Sqlite(c))
            }
            Backend::Postgres => {
                let mut c = diesel::PgConnection::establish(&self.target)
                    .map_err(r2d2::Error::ConnectionError)?;
                c.set_instrumentation(fault::watcher(self.storage.clone()));
                Ok(DbConn::Postgres(c))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        diesel::sql_query("SELECT 1")
            .execute(conn)
            .map(|_| ())
            .map_err(r2d2::Error::QueryError)
    }

    /// A connection whose transaction state was lost (a failed rollback after a lost
    /// connection or `SQLITE_FULL`) is dropped rather than handed to the next caller.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

pub type Conn = PooledConnection<Manager>;

/// The store: a pool plus the write discipline described in the module docs.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    backend: Backend,
    write_gate: Arc<Mutex<()>>,
    storage: Arc<fault::StorageState>,
    /// SQLite only: `max_page_count` applied to every write (0: never set, SQLite's default).
    max_pages: Arc<AtomicU64>,
    /// SQLite only: the database file.
    sqlite_path: Option<std::path::PathBuf>,
}

/// The largest `max_page_count` SQLite accepts: what "no cap" is set back to.
const NO_PAGE_CAP: u64 = 0xFFFF_FFFE;

/// How long a caller waits for a pooled connection before the database counts as
/// unavailable (`503 database_unavailable`), unless [`Db::open_with`] says otherwise.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Db {
    /// Connects, and runs pending migrations.
    pub fn open(url: &str, pool_size: u32) -> Result<Db, DbError> {
        Self::open_with(url, pool_size, CONNECT_TIMEOUT)
    }

    /// [`Db::open`] with the time a caller may wait for a connection.
    pub fn open_with(url: &str, pool_size: u32, connect_timeout: Duration) -> Result<Db, DbError> {
        let (backend, target) = parse_url(url)?;
        if backend == Backend::Sqlite {
            if let Some(parent) = std::path::Path::new(&target).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent).map_err(|e| DbError::Connect(e.to_string()))?;
                }
            }
        }
        let storage = Arc::new(fault::StorageState::default());
        let sqlite_path = (backend == Backend::Sqlite).then(|| std::path::PathBuf::from(&target));
        let manager = Manager {
            backend,
            target,
            storage: storage.clone(),
        };
        // Connect once outside the pool so that the real error (host down, bad password,
        // unwritable file) reaches the user instead of a pool time-out.
        let mut first = manager
            .connect()
            .map_err(|e| DbError::Connect(e.to_string()))?;
        run_migrations(&mut first)?;
        drop(first);
        let pool = Pool::builder()
            .max_size(pool_size)
            .min_idle(Some(1))
            // Idle connections above the minimum go back to the server after a minute (a
            // shared PostgreSQL has a fixed number of connection slots for every node).
            .idle_timeout(Some(Duration::from_secs(60)))
            .connection_timeout(connect_timeout)
            .build(manager)
            .map_err(|e| DbError::Pool(e.to_string()))?;
        Ok(Db {
            pool,
            backend,
            write_gate: Arc::new(Mutex::new(())),
            storage,
            max_pages: Arc::new(AtomicU64::new(0)),
            sqlite_path,
        })
    }

    /// What the last writes learnt about storage (see [`fault::StorageState`]).
    pub fn storage(&self) -> &fault::StorageState {
        &self.storage
    }

    /// SQLite only: caps the database at `pages` pages (`PRAGMA max_page_count`) for every
    /// following write; `None` lifts the cap. An operator's size limit, and how the fault
    /// suite fills the store without filling a disk.
    pub fn set_max_pages(&self, pages: Option<u64>) {
        self.max_pages.store(
            pages.unwrap_or(NO_PAGE_CAP).min(NO_PAGE_CAP),
            Ordering::Release,
        );
    }

    /// Whether storage is full now: the last write failed for space (until a write
    /// commits), or, on SQLite, the page cap is reached or the disk has less than
    /// [`fault::MIN_FREE_BYTES`] free. Clears the remembered state when SQLite finds room.
    pub fn storage_full(&self) -> bool {
        if self.backend != Backend::Sqlite {
            return self.storage.is_full();
        }
        let Ok(mut c) = self.pool.get_timeout(Duration::from_secs(1)) else {
            return self.storage.is_full();
        };
        let cap =
            Some(self.max_pages.load(Ordering::Acquire)).filter(|c| (1..NO_PAGE_CAP).contains(c));
        match fault::sqlite_full(&mut c, cap, self.sqlite_path.as_deref()) {
            Some(true) => true,
            Some(false) => {
                self.storage.set_full(false);
                false
            }
            None => self.storage.is_full(),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn conn(&self) -> Result<Conn, diesel::r2d2::PoolError> {
        self.pool.get()
    }

    /// Runs `f` in a read transaction (a consistent snapshot).
    pub fn read<T, E>(&self, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
    where
        E: From<diesel::result::Error> + From<diesel::r2d2::PoolError>,
    {
        let mut pooled = self.pool.get()?;
        let conn: &mut DbConn = &mut pooled;
        transaction(conn, f)
    }

    /// Runs `f` in a write transaction, serialised with every other writer (see module docs).
    /// Commits when `f` returns `Ok`, rolls back otherwise. Work registered with
    /// [`after_commit`] inside `f` runs once the commit succeeded (still under SQLite's write
    /// gate), and is dropped on a rollback.
    pub fn write<T, E>(&self, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
    where
        E: From<diesel::result::Error> + From<diesel::r2d2::PoolError>,
    {
        let mut pooled = self.pool.get()?;
        let conn: &mut DbConn = &mut pooled;
        take_after_commit();
        match self.backend {
            Backend::Sqlite => {
                let _guard = self.write_gate.lock().unwrap_or_else(|p| p.into_inner());
                let cap = self.max_pages.load(Ordering::Acquire);
                if cap > 0 {
                    diesel::sql_query(format!("PRAGMA max_page_count = {cap}")).execute(conn)?;
                }
                let out = transaction(conn, |c| {
                    // Take the write lock before the first read: a deferred transaction that
                    // read first and then finds another process's commit in between cannot
                    // upgrade (SQLITE_BUSY, which no busy timeout retries). A write statement
                    // first waits for the lock instead, so writers of several processes (or
                    // several nodes in one) queue like writers of one.
                    diesel::sql_query("UPDATE meta SET value = value WHERE 0").execute(c)?;
                    f(c)
                });
                run_after_commit(out.is_ok());
                out
            }
            Backend::Postgres => {
                let out = transaction(conn, |c| {
                    diesel::sql_query(format!("SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})"))
                        .execute(c)?;
                    f(c)
                });
                run_after_commit(out.is_ok());
                out
            }
        }
    }

    pub fn ping(&self) -> bool {
        self.pool
            .get_timeout(Duration::from_secs(2))
            .map(|mut c| diesel::sql_query("SELECT 1").execute(&mut *c).is_ok())
            .unwrap_or(false)
    }
}

type AfterCommit = Vec<(&'static str, Box<dyn FnOnce()>)>;

thread_local! {
    static AFTER_COMMIT: std::cell::RefCell<AfterCommit> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Registers `f` to run after the current [`Db::write`] transaction commits (never if it rolls
/// back). A later registration under the same `key` in the same transaction replaces the
/// earlier one, so e.g. only the last access-log head of a transaction is mirrored.
pub fn after_commit(key: &'static str, f: impl FnOnce() + 'static) {
    AFTER_COMMIT.with(|q| {
        let mut q = q.borrow_mut();
        q.retain(|(k, _)| *k != key);
        q.push((key, Box::new(f)));
    });
}

fn take_after_commit() -> AfterCommit {
    AFTER_COMMIT.with(|q| std::mem::take(&mut *q.borrow_mut()))
}

fn run_after_commit(committed: bool) {
    let work = take_after_commit();
    if committed {
        for (_, f) in work {
            f();
        }
    }
}

/// `conn.transaction(f)`, except that when `f` fails its own error is returned even if the
/// rollback fails too. After `SQLITE_FULL` (or a lost connection) the transaction may already be
/// gone, and diesel would otherwise answer with the rollback's "no transaction is active"
/// instead of the error that says what happened.
fn transaction<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    let mut failed = None;
    let res = conn.transaction::<T, diesel::result::Error, _>(|c| match f(c) {
        Ok(v) => Ok(v),
        Err(e) => {
            failed = Some(e);
            Err(diesel::result::Error::RollbackTransaction)
        }
    });
    match (res, failed) {
        (Ok(v), _) => Ok(v),
        (Err(_), Some(e)) => Err(e),
        (Err(e), None) => Err(E::from(e)),
    }
}

fn run_migrations(conn: &mut DbConn) -> Result<(), DbError> {
    let res = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
        DbConn::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ()),
    };
    res.map_err(|e| DbError::Migrate(e.to_string()))
}

/// The current time, truncated to whole seconds: SQLite keeps timestamps as text with whole
/// seconds and PostgreSQL keeps microseconds; truncating keeps both backends (and the
/// access-log hashes computed over them) identical.
pub fn now() -> chrono::NaiveDateTime {
    let t = chrono::Utc::now().naive_utc();
    chrono::DateTime::from_timestamp(t.and_utc().timestamp(), 0)
        .map(|d| d.naive_utc())
        .unwrap_or(t)
}

/// Whether a diesel error is a unique-constraint violation (a concurrent duplicate insert).
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}
