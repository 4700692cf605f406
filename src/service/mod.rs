//! The rules and the transactions. Handlers call one function here; every read of personal or
//! match data writes its access-log entry in the same transaction as the read.

pub mod admission;
pub mod alerting;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod auth_state;
pub mod backup;
pub mod capture;
pub mod case_evidence;
pub mod cases;
pub mod console;
pub mod credentials;
pub mod enrollment;
pub mod erasure;
pub mod evidence;
pub mod identify;
pub mod inflight;
pub mod keys;
pub mod loader;
pub mod matching;
pub mod metrics;
pub mod need_to_know;
pub mod reception;
pub mod records;
pub mod stats;
pub mod trust;

use crate::config::Config;
use crate::crypto::KeyRing;
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// The four roles of API.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Scanner,
    Investigator,
    Auditor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Scanner => "scanner",
            Role::Investigator => "investigator",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "scanner" => Some(Role::Scanner),
            "investigator" => Some(Role::Investigator),
            "auditor" => Some(Role::Auditor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Who is calling: a user or a device, with its role. Never holds a secret.
#[derive(Debug, Clone)]
pub struct Principal {
    /// `username` for users, `device:<id>` for devices.
    pub actor: String,
    pub role: Role,
    pub device_id: Option<String>,
    pub site: Option<String>,
    pub remote_addr: String,
}

/// Everything a request needs, built once in `main`.
pub struct Registro {
    pub db: Db,
    keys: RwLock<Arc<KeyRing>>,
    pub config: Config,
    pub auth: auth::AuthState,
    pub metrics: metrics::Metrics,
    pub matcher: matching::Matcher,
    ready: AtomicBool,
    /// What the last online verification of the access log established.
    pub audit_state: audit::VerifyState,
    /// The bounded queue in front of the engine pool.
    pub admission: Arc<admission::Admission>,
    /// Through which change this node's galleries are complete (`inflight`).
    pub coverage: inflight::Coverage,
}

impl Registro {
    /// Opens the store, checks the key file against it, and loads the engines.
    pub fn open(config: Config) -> anyhow::Result<Arc<Registro>> {
        let db = Db::open_with(
            &config.database_url,
            config.pool_size,
            std::time::Duration::from_millis(config.db_connect_timeout_ms.max(1)),
        )?;
        let new_store = keys::store_is_new(&db)?;
        let ring = KeyRing::open_files(&config.key_paths(), true, new_store)?;
        keys::check_or_register(&db, &ring)?;
        let matcher = matching::Matcher::new(&config)?;
        let admission = Arc::new(admission::Admission::new(
            config.max_running,
            config.max_queue,
            std::time::Duration::from_millis(config.max_wait_ms),
        ));
        let reg = Arc::new(Registro {
            auth: auth::AuthState::new(&config),
            metrics: metrics::Metrics::default(),
            matcher,
            db,
            keys: RwLock::new(Arc::new(ring)),
            config,
            ready: AtomicBool::new(false),
            audit_state: audit::VerifyState::default(),
            admission,
            coverage: inflight::Coverage::default(),
        });
        auth::start_denied_flusher(&reg);
        Ok(reg)
    }

    /// The current key ring (cheap: an `Arc`).
    pub fn keys(&self) -> Arc<KeyRing> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Re-reads the key file: called when a ciphertext names a key id this process has not
    /// loaded yet (another process ran `keys rotate`).
    pub fn reload_keys(&self) -> ApiResult<Arc<KeyRing>> {
        let old = self.keys();
        let ring = Arc::new(old.reload().map_err(ApiError::from)?);
        // The new file must still hold every key this process knew, unchanged. (No database
        // work here: this runs inside callers' transactions.)
        for kid in old.kids() {
            match (old.check_value(kid), ring.check_value(kid)) {
                (Some(a), Some(b)) if crate::crypto::ct_eq(a, b) => {}
                _ => {
                    return Err(ApiError::internal(
                        "the key file changed incompatibly; refusing to use it",
                    ))
                }
            }
        }
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = ring.clone();
        Ok(ring)
    }

    /// Opens a sealed field, reloading the key file once if it was sealed under a newer key.
    pub fn open_field(&self, record_id: &str, field: &str, sealed: &[u8]) -> ApiResult<Vec<u8>> {
        let ring = self.keys();
        match ring.open(record_id, field, sealed) {
            Ok(v) => Ok(v),
            Err(crate::crypto::CryptoError::UnknownKey(_)) => {
                Ok(self.reload_keys()?.open(record_id, field, sealed)?)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }
}

/// Cursor pagination helpers: cursors are the `seq` of the last item, as an opaque string.
pub fn parse_cursor(cursor: Option<&str>) -> ApiResult<Option<i64>> {
    match cursor {
        None | Some("") => Ok(None),
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|v| *v > 0)
            .map(Some)
            .ok_or_else(|| {
                ApiError::client("invalid_cursor", "cursor is not one this server issued")
            }),
    }
}

pub fn clamp_limit(limit: Option<i64>) -> ApiResult<i64> {
    match limit {
        None => Ok(50),
        Some(l) if (1..=1000).contains(&l) => Ok(l),
        Some(_) => Err(ApiError::client(
            "invalid_query",
            "limit must be between 1 and 1000",
        )),
    }
}

/// A page of items, newest first, with the cursor of the next page.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows and a function giving each row's seq.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        limit: i64,
        seq: impl Fn(&R) -> i64,
        map: impl FnMut(R) -> T,
    ) -> Page<T> {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| seq(r).to_string())
        } else {
            None
        };
        Page {
            items: rows.into_iter().map(map).collect(),
            next_cursor,
        }
    }
}

/// Parses an RFC 3339 instant or a `YYYY-MM-DD` date (midnight UTC) from a query parameter.
pub fn parse_instant(name: &str, v: Option<&str>) -> ApiResult<Option<chrono::NaiveDateTime>> {
    let Some(v) = v.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(Some(t.naive_utc()));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0));
    }
    Err(ApiError::client(
        "invalid_query",
        format!("{name} must be RFC 3339 or YYYY-MM-DD"),
    ))
}

/// Formats a stored naive UTC time as RFC 3339.
pub fn rfc3339(t: chrono::NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}
