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
    /// Master key file (default: registro.key beside the SQLite file).
    #[arg(long, global = true, env = "REGISTRO_KEY_FILE")]
    key_file: Option<PathBuf>,
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
        /// Hours after a transfer's departure before `missing_after_transfer` (fractions allowed).
        #[arg(long, env = "REGISTRO_TRANSFER_GRACE_HOURS", default_value_t = 48.0)]
        transfer_grace_hours: f64,
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
    /// Add a new master key and re-seal every ciphertext under it (readers keep working).
    Rotate,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REGISTRO_LOG")
        .unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn config(cli: &Cli) -> Config {
    let mut c = Config::new(&cli.database);
    if let Some(k) = &cli.key_file {
        c.key_file = k.clone();
    }
    c
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging();
    let mut cfg = config(&cli);
    match cli.command {
        Command::Serve {
            listen,
            body_limit,
            workers,
            models_dir,
            follow_ms,
            transfer_grace_hours,
        } => {
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
                registro::http::server(reg, listener, cfg.workers)?.await
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
    }
    Ok(())
}
