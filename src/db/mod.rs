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

pub mod models;
pub mod schema;

use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
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
                ] {
                    diesel::sql_query(pragma)
                        .execute(&mut c)
                        .map_err(r2d2::Error::QueryError)?;
                }
                Ok(DbConn::Sqlite(c))
            }
            Backend::Postgres => diesel::PgConnection::establish(&self.target)
                .map(DbConn::Postgres)
                .map_err(r2d2::Error::ConnectionError),
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        diesel::sql_query("SELECT 1")
            .execute(conn)
            .map(|_| ())
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

pub type Conn = PooledConnection<Manager>;

/// The store: a pool plus the write discipline described in the module docs.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    backend: Backend,
    write_gate: Arc<Mutex<()>>,
}

impl Db {
    /// Connects, and runs pending migrations.
    pub fn open(url: &str, pool_size: u32) -> Result<Db, DbError> {
        let (backend, target) = parse_url(url)?;
        if backend == Backend::Sqlite {
            if let Some(parent) = std::path::Path::new(&target).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent).map_err(|e| DbError::Connect(e.to_string()))?;
                }
            }
        }
        let manager = Manager { backend, target };
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
            .connection_timeout(Duration::from_secs(30))
            .build(manager)
            .map_err(|e| DbError::Pool(e.to_string()))?;
        Ok(Db {
            pool,
            backend,
            write_gate: Arc::new(Mutex::new(())),
        })
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
        conn.transaction(f)
    }

    /// Runs `f` in a write transaction, serialised with every other writer (see module docs).
    /// Commits when `f` returns `Ok`, rolls back otherwise.
    pub fn write<T, E>(&self, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
    where
        E: From<diesel::result::Error> + From<diesel::r2d2::PoolError>,
    {
        let mut pooled = self.pool.get()?;
        let conn: &mut DbConn = &mut pooled;
        match self.backend {
            Backend::Sqlite => {
                let _guard = self.write_gate.lock().unwrap_or_else(|p| p.into_inner());
                conn.transaction(|c| {
                    // Take the write lock before the first read: a deferred transaction that
                    // read first and then finds another process's commit in between cannot
                    // upgrade (SQLITE_BUSY, which no busy timeout retries). A write statement
                    // first waits for the lock instead, so writers of several processes (or
                    // several nodes in one) queue like writers of one.
                    diesel::sql_query("UPDATE meta SET value = value WHERE 0").execute(c)?;
                    f(c)
                })
            }
            Backend::Postgres => conn.transaction(|c| {
                diesel::sql_query(format!("SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})"))
                    .execute(c)?;
                f(c)
            }),
        }
    }

    pub fn ping(&self) -> bool {
        self.pool
            .get()
            .map(|mut c| diesel::sql_query("SELECT 1").execute(&mut *c).is_ok())
            .unwrap_or(false)
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
