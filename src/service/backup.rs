//! `registro backup DIR`: a consistent online copy of the store with the access log's head.
//!
//! SQLite: the head file is copied first, then `VACUUM INTO` writes a consistent snapshot of the
//! database (a read transaction: the service keeps running). The copy therefore holds at least
//! the entry the copied head names, so the restored pair verifies. PostgreSQL: use `pg_dump`
//! (see docs/SECURITY.md, "Backups"); this command refuses with that advice.
//!
//! The key files (data, index, audit) are deliberately *not* copied: keys are backed up
//! separately, elsewhere.

use crate::crypto::KeyRing;
use crate::db::{Backend, Db};
use diesel::prelude::*;
use std::path::{Path, PathBuf};

/// What a backup wrote.
#[derive(Debug, serde::Serialize)]
pub struct BackupReport {
    pub database: PathBuf,
    pub audit_head: Option<PathBuf>,
}

pub fn backup(db: &Db, keys: &KeyRing, dir: &Path) -> anyhow::Result<BackupReport> {
    if db.backend() != Backend::Sqlite {
        anyhow::bail!(
            "backups of PostgreSQL are taken with pg_dump --format=custom (with the \
             `.audit-head` file beside the key file copied first); see docs/SECURITY.md"
        );
    }
    std::fs::create_dir_all(dir)?;
    let database = dir.join("registro.db");
    if database.exists() {
        anyhow::bail!(
            "{} exists already; choose an empty directory",
            database.display()
        );
    }
    let mut audit_head = None;
    if let Some(head) = super::audit::head_file(keys) {
        if let Some((seq, hash)) = super::audit::read_head_file(&head)? {
            let name = head.file_name().unwrap_or_default().to_os_string();
            let target = dir.join(name);
            super::audit::write_head_file(&target, seq, &hash)?;
            audit_head = Some(target);
        }
    }
    let target = database.to_string_lossy().replace('\'', "''");
    let mut conn = db.conn()?;
    diesel::sql_query(format!("VACUUM INTO '{target}'")).execute(&mut *conn)?;
    Ok(BackupReport {
        database,
        audit_head,
    })
}
