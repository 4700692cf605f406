//! Configuration: one value built in `main` from flags and environment, passed down
//! explicitly (no global).

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: String,
    pub database_url: String,
    /// The data key file (AES-256-GCM master keys).
    pub key_file: PathBuf,
    /// The blind-index key file (default: `<key file>.index`).
    pub index_key_file: Option<PathBuf>,
    /// The access-log key file: chain key and checkpoint signing keys (default:
    /// `<key file>.audit`).
    pub audit_key_file: Option<PathBuf>,
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
    /// The `duplicate` / `possible` decisions, by their designed false-positive
    /// identification rate per search (defaults 0.1 % and 10 %), turned into decades of fused
    /// evidence at the number of identities each probe was compared with, never fewer than
    /// the floor (default 1 000). One rule for enrollment, batches, identify and check-in
    /// (`biometrics::fusion::DecisionRule`; derived and measured in docs/FUSION.md).
    pub decisions: crate::biometrics::fusion::DecisionRule,
    /// How often a node polls the change sequence for other nodes' enrollments (ms).
    pub follow_interval_ms: u64,
    /// How often denied requests counted in memory are written into the access log (ms).
    pub denied_flush_ms: u64,
    /// PEM certificate chain and private key: serve HTTPS (rustls) instead of plain HTTP.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Reverse proxies (addresses or CIDR blocks) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
    /// Admission control (`service::admission`): units of biometric work (photos plus
    /// fingers) that may wait for the engine before new work is refused with `503 overloaded`.
    pub max_queue: u64,
    /// Longest a biometric request waits before it is started or refused (ms).
    pub max_wait_ms: u64,
    /// Biometric jobs running at once (0: engine threads + 1).
    pub max_running: usize,
    /// How long a request waits for a database connection before `503 database_unavailable`.
    pub db_connect_timeout_ms: u64,
    /// On `SIGTERM`, how long in-flight requests may take to finish (s).
    pub shutdown_grace_secs: u64,
    /// Soft and hard capture-quality limits and the duplicate-finger threshold (API.md v1.1
    /// "Capture checks"; docs/FACE.md and docs/FINGER.md, "Capture quality").
    pub capture_limits: crate::biometrics::quality::CaptureLimits,
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

    /// The three key files: the index and audit ones beside the data key file unless set.
    pub fn key_paths(&self) -> crate::crypto::KeyPaths {
        let mut p = crate::crypto::KeyPaths::beside(&self.key_file);
        if let Some(i) = &self.index_key_file {
            p.index = i.clone();
        }
        if let Some(a) = &self.audit_key_file {
            p.audit = a.clone();
        }
        p
    }

    pub fn new(database_url: &str) -> Config {
        Config {
            listen: "127.0.0.1:8080".into(),
            database_url: database_url.into(),
            key_file: Self::default_key_file(database_url),
            index_key_file: None,
            audit_key_file: None,
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
            decisions: Default::default(),
            follow_interval_ms: 1000,
            denied_flush_ms: 10_000,
            tls_cert: None,
            tls_key: None,
            trusted_proxies: Vec::new(),
            max_queue: 256,
            max_wait_ms: 5000,
            max_running: 0,
            db_connect_timeout_ms: 10_000,
            shutdown_grace_secs: 30,
            capture_limits: Default::default(),
            transfer_grace_hours: 48.0,
        }
    }
}
