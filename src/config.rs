//! Configuration: one value built in `main` from flags and environment, passed down
//! explicitly (no global).

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: String,
    pub database_url: String,
    pub key_file: PathBuf,
    pub models_dir: PathBuf,
    /// Largest accepted request body for single requests (bytes). Default 16 MiB: a 10 MB
    /// photo in base64 plus ten templates.
    pub body_limit: usize,
    /// Largest accepted body for offline batches (bytes).
    pub batch_body_limit: usize,
    pub token_ttl_secs: i64,
    pub pool_size: u32,
    /// Failed logins allowed per username and per address within `login_window_secs`.
    pub login_max_failures: u32,
    pub login_window_secs: u64,
    pub workers: usize,
    /// Threads of the dedicated biometric pool (0 = number of cores).
    pub engine_threads: usize,
    pub thresholds: crate::indicators::Thresholds,
    /// Fused score at or above which a gallery hit is a `duplicate`. Default 8/12: evidence
    /// of 8 decades, a false-positive identification rate of 0.1 % against 100 000 people
    /// (see `biometrics::fusion` and docs/FUSION.md).
    pub duplicate_threshold: f64,
    /// Fused score at or above which a gallery hit is a `possible` match. Default 6/12: 10 %
    /// false-positive identification rate against 100 000 people — worth a human look.
    pub possible_threshold: f64,
    /// How often a node polls the change sequence for other nodes' enrollments (ms).
    pub follow_interval_ms: u64,
    /// Hours after a transfer's departure within which a check-in at the destination is
    /// expected before `missing_after_transfer` is raised (fractions allowed).
    pub transfer_grace_hours: f64,
}

impl Config {
    /// The key file's default location: `registro.key` beside the SQLite file, or in the
    /// working directory for PostgreSQL.
    pub fn default_key_file(database_url: &str) -> PathBuf {
        if let Ok((crate::db::Backend::Sqlite, path)) = crate::db::parse_url(database_url) {
            let p = PathBuf::from(path);
            if let Some(parent) = p.parent() {
                return parent.join("registro.key");
            }
        }
        PathBuf::from("registro.key")
    }

    pub fn new(database_url: &str) -> Config {
        Config {
            listen: "127.0.0.1:8080".into(),
            database_url: database_url.into(),
            key_file: Self::default_key_file(database_url),
            models_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models")),
            body_limit: 16 * 1024 * 1024,
            batch_body_limit: 256 * 1024 * 1024,
            token_ttl_secs: 8 * 3600,
            pool_size: 8,
            login_max_failures: 5,
            login_window_secs: 15 * 60,
            workers: 0,
            engine_threads: 0,
            thresholds: crate::indicators::Thresholds::default(),
            duplicate_threshold: 8.0 / 12.0,
            possible_threshold: 6.0 / 12.0,
            follow_interval_ms: 1000,
            transfer_grace_hours: 48.0,
        }
    }
}
