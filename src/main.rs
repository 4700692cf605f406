//! The `registro` binary: CLI and wiring only.

use anyhow::Context;
use clap::{Parser, Subcommand};
use registro::config::Config;
use registro::service::{auth, keys, loader, Registro};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "registro",
    version,
    about = "Registration and biometric de-duplication of migrants at first arrival"
)]
struct Cli {
    /// Database URL: sqlite://PATH (default) or postgres://USER@HOST/DB.
    #[arg(
        long,
        global = true,
        env = "REGISTRO_DATABASE_URL",
        default_value = "sqlite://./registro.db"
    )]
    database: String,
    /// Data key file: the AES-256-GCM master keys (default: registro.key beside the SQLite
    /// file). In production: a secret mount filled from a KMS or HSM, not the database volume.
    #[arg(long, global = true, env = "REGISTRO_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Blind-index key file (default: <key file>.index; created for a new store; a store
    /// created before separate key files derives it from the data key while this is absent).
    #[arg(long, global = true, env = "REGISTRO_INDEX_KEY_FILE")]
    index_key_file: Option<PathBuf>,
    /// Access-log key file: chain key and checkpoint signing keys (default: <key file>.audit;
    /// created for a new store; an older store derives it from the data key while absent).
    #[arg(long, global = true, env = "REGISTRO_AUDIT_KEY_FILE")]
    audit_key_file: Option<PathBuf>,
    /// Append the JSON log to this file instead of stderr. A destination that fails (full
    /// disk) never stops the service: lines are dropped and counted in /metrics.
    #[arg(long, global = true, env = "REGISTRO_LOG_FILE")]
    log_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (migrations run at start-up).
    Serve {
        #[arg(long, env = "REGISTRO_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Largest request body in bytes (413 past it).
        #[arg(long, env = "REGISTRO_BODY_LIMIT", default_value_t = 16 * 1024 * 1024)]
        body_limit: usize,
        /// HTTP worker threads (0 = one per core).
        #[arg(long, env = "REGISTRO_WORKERS", default_value_t = 0)]
        workers: usize,
        /// Directory of the face model files.
        #[arg(long, env = "REGISTRO_MODELS_DIR")]
        models_dir: Option<PathBuf>,
        /// How often to follow other nodes' enrollments (ms).
        #[arg(long, env = "REGISTRO_FOLLOW_MS", default_value_t = 1000)]
        follow_ms: u64,
        /// PEM certificate chain: serve HTTPS (with --tls-key).
        #[arg(long, env = "REGISTRO_TLS_CERT", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key of --tls-cert.
        #[arg(long, env = "REGISTRO_TLS_KEY", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Reverse proxies whose X-Forwarded-For is believed: addresses or CIDR blocks,
        /// comma-separated (default: none, the header is ignored).
        #[arg(long, env = "REGISTRO_TRUSTED_PROXIES", value_delimiter = ',')]
        trusted_proxies: Vec<String>,
        /// Units of biometric work (photos plus fingers) that may wait for the engine before
        /// new work is refused with 503 overloaded.
        #[arg(long, env = "REGISTRO_MAX_QUEUE", default_value_t = 256)]
        max_queue: u64,
        /// Longest a biometric request waits before it is started or refused (ms).
        #[arg(long, env = "REGISTRO_MAX_WAIT_MS", default_value_t = 5000)]
        max_wait_ms: u64,
        /// On SIGTERM, how long in-flight requests may take to finish (s).
        #[arg(long, env = "REGISTRO_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
        shutdown_grace_secs: u64,
        /// Hours after a transfer's departure before `missing_after_transfer` (fractions allowed).
        #[arg(long, env = "REGISTRO_TRANSFER_GRACE_HOURS", default_value_t = 48.0)]
        transfer_grace_hours: f64,
        /// Designed false-positive identification rate of `duplicate` per search; the
        /// threshold in decades follows the number of identities searched (docs/FUSION.md).
        #[arg(long, env = "REGISTRO_DUPLICATE_FPIR", default_value_t = 1e-3)]
        duplicate_fpir: f64,
        /// Designed false-positive identification rate of `possible` per search.
        #[arg(long, env = "REGISTRO_POSSIBLE_FPIR", default_value_t = 0.1)]
        possible_fpir: f64,
        /// Smaller galleries are decided as if they held this many identities.
        #[arg(long, env = "REGISTRO_DECISION_MIN_GALLERY", default_value_t = 1000)]
        decision_min_gallery: u64,
    },
    /// Run pending migrations and exit.
    Migrate,
    /// Administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Key management.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// A consistent online copy of the SQLite store and the access-log head into DIR.
    Backup { dir: PathBuf },
    /// The access log, offline.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the whole chain (and a kept checkpoint); exits 1 when anything fails.
    Verify {
        /// A checkpoint JSON file saved from GET /api/v1/audit/checkpoint.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// The checkpoint public key (base64) the auditor trusts; default: any of the audit
        /// key file's checkpoint keys.
        #[arg(long)]
        public_key: Option<String>,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create the first admin; prints {"username", "password"} once.
    Bootstrap {
        #[arg(long)]
        username: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new data key and re-seal every ciphertext under it (readers keep working).
    Rotate,
    /// Add a new checkpoint signing key to the audit key file (the chain key stays; old
    /// checkpoints keep verifying). Restart the nodes to sign with it.
    RotateAudit,
    /// A new blind-index key and every record re-indexed with it, in one transaction. Stop
    /// the other nodes first and restart them with the new index key file; run it again to
    /// finish an interrupted rotation.
    RotateIndex,
}

fn init_logging(log_file: Option<&std::path::Path>) -> anyhow::Result<registro::logsink::Guard> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REGISTRO_LOG")
        .unwrap_or_else(|_| "info".into());
    let dest: Box<dyn std::io::Write + Send> = match log_file {
        Some(p) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("cannot open the log file {}", p.display()))?,
        ),
        None => Box::new(std::io::stderr()),
    };
    let (sink, guard) = registro::logsink::start(dest).context("cannot start the log writer")?;
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(sink)
        .init();
    Ok(guard)
}

fn config(cli: &Cli) -> Config {
    let mut c = Config::new(&cli.database);
    if let Some(k) = &cli.key_file {
        c.key_file = k.clone();
    }
    c.index_key_file = cli.index_key_file.clone();
    c.audit_key_file = cli.audit_key_file.clone();
    c
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _log = init_logging(cli.log_file.as_deref())?;
    let mut cfg = config(&cli);
    match cli.command {
        Command::Serve {
            listen,
            body_limit,
            workers,
            models_dir,
            follow_ms,
            tls_cert,
            tls_key,
            trusted_proxies,
            max_queue,
            max_wait_ms,
            shutdown_grace_secs,
            transfer_grace_hours,
            duplicate_fpir,
            possible_fpir,
            decision_min_gallery,
        } => {
            cfg.decisions = registro::biometrics::fusion::DecisionRule {
                duplicate_fpir,
                possible_fpir,
                min_gallery: decision_min_gallery as f64,
            };
            cfg.decisions.validate().map_err(|e| {
                anyhow::anyhow!("--duplicate-fpir / --possible-fpir / --decision-min-gallery: {e}")
            })?;
            cfg.tls_cert = tls_cert;
            cfg.tls_key = tls_key;
            cfg.trusted_proxies = trusted_proxies;
            cfg.max_queue = max_queue;
            cfg.max_wait_ms = max_wait_ms;
            cfg.shutdown_grace_secs = shutdown_grace_secs;
            if !(transfer_grace_hours.is_finite() && transfer_grace_hours >= 0.0) {
                anyhow::bail!("--transfer-grace-hours must be a non-negative number");
            }
            cfg.transfer_grace_hours = transfer_grace_hours;
            cfg.listen = listen;
            cfg.body_limit = body_limit;
            cfg.workers = workers;
            cfg.follow_interval_ms = follow_ms;
            if let Some(m) = models_dir {
                cfg.models_dir = m;
            }
            let reg = Registro::open(cfg.clone()).context("cannot start")?;
            let listener = std::net::TcpListener::bind(&cfg.listen)
                .with_context(|| format!("cannot listen on {}", cfg.listen))?;
            tracing::info!(listen = %cfg.listen, backend = ?reg.db.backend(), "registro serving");
            let rt = actix_web::rt::System::new();
            rt.block_on(async move {
                loader::start(reg.clone());
                registro::http::server(reg.clone(), listener, cfg.workers)?.await?;
                // Denied requests counted since the last flush go into the log before exit.
                auth::flush_denied(&reg).ok();
                std::io::Result::Ok(())
            })?;
        }
        Command::Migrate => {
            registro::db::Db::open(&cfg.database_url, 1)?;
            println!("migrations applied");
        }
        Command::Admin {
            command: AdminCommand::Bootstrap { username },
        } => {
            let reg = Registro::open(cfg)?;
            let password =
                auth::bootstrap_admin(&reg, &username).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "{}",
                serde_json::json!({"username": username, "password": password})
            );
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            let reg = Registro::open(cfg)?;
            let (kid, n) = keys::rotate(&reg.db, &reg.keys())?;
            println!("{}", serde_json::json!({"key_id": kid, "resealed": n}));
        }
        Command::Keys {
            command: KeysCommand::RotateAudit,
        } => {
            use base64::Engine;
            let reg = Registro::open(cfg)?;
            let (kid, pk) = keys::rotate_audit(&reg.db, &reg.keys())?;
            println!(
                "{}",
                serde_json::json!({"checkpoint_key_id": kid,
                    "public_key": base64::engine::general_purpose::STANDARD.encode(pk)})
            );
        }
        Command::Keys {
            command: KeysCommand::RotateIndex,
        } => {
            // The database and the key files only: no gallery is loaded, no node started.
            let db = registro::db::Db::open(&cfg.database_url, 1)?;
            let ring = registro::crypto::KeyRing::open_files(&cfg.key_paths(), false, false)?;
            let done = keys::rotate_index(&db, &ring)?;
            println!("{}", serde_json::to_string(&done)?);
        }
        Command::Backup { dir } => {
            let db = registro::db::Db::open(&cfg.database_url, 1)?;
            let ring = registro::crypto::KeyRing::open_files(&cfg.key_paths(), false, false)?;
            let report = registro::service::backup::backup(&db, &ring, &dir)?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Command::Audit {
            command:
                AuditCommand::Verify {
                    checkpoint,
                    public_key,
                },
        } => {
            if !audit_verify(&cfg, checkpoint, public_key)? {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}

/// `registro audit verify`: prints the verification as one JSON line; true when all is well.
fn audit_verify(
    cfg: &Config,
    checkpoint: Option<PathBuf>,
    public_key: Option<String>,
) -> anyhow::Result<bool> {
    use base64::Engine;
    let db = registro::db::Db::open(&cfg.database_url, 1)?;
    let ring = registro::crypto::KeyRing::open_files(&cfg.key_paths(), false, false)?;
    let cp: Option<registro::service::audit::Checkpoint> = match checkpoint {
        Some(p) => Some(
            serde_json::from_slice(
                &std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?,
            )
            .context("the checkpoint file is not a checkpoint")?,
        ),
        None => None,
    };
    let pk = match public_key {
        Some(k) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(k.trim())
                .context("--public-key is not base64")?,
        ),
        None => None,
    };
    let (v, sig) = registro::service::audit::verify_store(&db, &ring, cp.as_ref(), pk.as_deref())?;
    let ok = v.chain_ok && sig != Some(false) && v.checkpoint_ok != Some(false);
    println!(
        "{}",
        serde_json::json!({"entries": v.entries, "chain_ok": v.chain_ok, "first_bad_seq": v.first_bad_seq,
                           "checkpoint_ok": v.checkpoint_ok, "signature_ok": sig, "ok": ok})
    );
    Ok(ok)
}
