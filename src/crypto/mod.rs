//! Field encryption, blind indexes and the key ring.
//!
//! Three key files, each created with mode 0600 on a new store's first start, so that no file
//! yields another's keys:
//!
//! * The **data key file** (`--key-file`) holds one or more 32-byte master keys, one per line
//!   as `<kid>:<hex>`; the last line is the current key. Each is expanded with HKDF-SHA256
//!   into an AES-256-GCM data key. `keys rotate` appends a key.
//! * The **index key file** (`--index-key-file`, default `<key file>.index`) holds one master
//!   key, `<kid>:<hex>`, from which one HMAC key per indexed field is derived.
//! * The **audit key file** (`--audit-key-file`, default `<key file>.audit`) holds the
//!   access-log chain key (`chain:<hex>`) and the checkpoint signing seeds (`sign:<kid>:<hex>`;
//!   the last one signs, every one verifies). `keys rotate-audit` appends a signing key.
//!
//! A store created before the files were separate has neither of the last two: its index and
//! audit keys are derived from the first data key, as they always were (see
//! [`KeySource::Derived`]), so its indexes and its chain keep verifying. The database keeps a
//! check value of the index key and of the chain key, so a missing or swapped file is refused
//! at start instead of silently breaking searches or the chain.
//! * A sealed field is `b'R' | version (1) | kid (u32 BE) | nonce (12) | ciphertext‖tag`, with
//!   the record id and field name bound as associated data, so a ciphertext moved to another
//!   row or column fails to open.
//! * Blind indexes are HMAC-SHA256 of the normalised value under a per-field index key. They
//!   are deliberately *not* changed by `keys rotate`: rotation re-seals every ciphertext, while
//!   exact search keeps working for readers during and after it. (Changing the index key means
//!   re-indexing every row: `keys rotate-index`, offline, in one transaction.)
//! * A check value per key id is kept in the database (`meta`), so starting with the wrong key
//!   file is refused before anything is read or written.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

const MAGIC: u8 = b'R';
const VERSION: u8 = 1;
const HEADER: usize = 2 + 4 + 12;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("ciphertext is malformed")]
    Malformed,
    #[error("ciphertext sealed under unknown key id {0}")]
    UnknownKey(u32),
    #[error("ciphertext failed authentication (wrong key, or moved/edited)")]
    Open,
    #[error("sealing failed")]
    Seal,
}

/// Checks an Ed25519 signature made by [`KeyRing::sign_checkpoint`] (or anyone's key).
pub fn verify_signature(public_key: &[u8], msg: &[u8], signature: &[u8]) -> bool {
    let (Ok(pk), Ok(sig)) = (
        <[u8; 32]>::try_from(public_key),
        <[u8; 64]>::try_from(signature),
    ) else {
        return false;
    };
    match ed25519_dalek::VerifyingKey::from_bytes(&pk) {
        Ok(vk) => vk
            .verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig))
            .is_ok(),
        Err(_) => false,
    }
}

/// Fields whose exact value can be searched through a blind index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexedField {
    DocumentNumber,
    Phone,
    FamilyNames,
}

impl IndexedField {
    fn label(self) -> &'static [u8] {
        match self {
            IndexedField::DocumentNumber => b"registro/index/document_number/v1",
            IndexedField::Phone => b"registro/index/phone/v1",
            IndexedField::FamilyNames => b"registro/index/family_names/v1",
        }
    }
    /// Normalisation applied before indexing, so trivially different spellings of the same
    /// value match: document numbers keep only letters and digits, upper-cased; phones keep
    /// only digits (a leading `+` dropped); names are trimmed, upper-cased, inner spaces collapsed.
    pub fn normalise(self, value: &str) -> String {
        match self {
            IndexedField::DocumentNumber => value
                .chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(|c| c.to_uppercase())
                .collect(),
            IndexedField::Phone => value.chars().filter(|c| c.is_ascii_digit()).collect(),
            IndexedField::FamilyNames => value
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_uppercase(),
        }
    }
}

struct DataKey {
    cipher: Aes256Gcm,
    check: String,
}

/// Where the index and audit keys of a ring came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// Their own file.
    File,
    /// Derived from the first data key (a store created before the files were separate).
    Derived,
}

/// The three key files of a store.
#[derive(Debug, Clone)]
pub struct KeyPaths {
    pub data: PathBuf,
    pub index: PathBuf,
    pub audit: PathBuf,
}

impl KeyPaths {
    /// The index and audit key files beside the data key file (`<key file>.index`,
    /// `<key file>.audit`): the default, for development.
    pub fn beside(data: &Path) -> KeyPaths {
        let with = |suffix: &str| {
            let mut name = data.file_name().unwrap_or_default().to_os_string();
            name.push(suffix);
            data.with_file_name(name)
        };
        KeyPaths {
            data: data.to_path_buf(),
            index: with(".index"),
            audit: with(".audit"),
        }
    }
}

/// The contents of an audit key file.
#[derive(Clone)]
pub struct AuditKeys {
    chain: [u8; 32],
    signing: Vec<(u32, [u8; 32])>,
}

impl AuditKeys {
    pub fn signing_keys(&self) -> usize {
        self.signing.len()
    }
}

/// The loaded key ring: every key id that can open, the current one that seals.
pub struct KeyRing {
    keys: BTreeMap<u32, DataKey>,
    current: u32,
    index_keys: [[u8; 32]; 3],
    audit: AuditKeys,
    index_source: KeySource,
    audit_source: KeySource,
    path: PathBuf,
    paths: Option<KeyPaths>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("KeyRing")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .field("current", &self.current)
            .finish()
    }
}

fn hkdf32(master: &[u8; 32], info: &[u8]) -> [u8; 32] {
    let hk = hkdf::Hkdf::<Sha256>::new(Some(b"registro-hkdf-salt-v1"), master);
    let mut out = [0u8; 32];
    // 32 bytes is always a valid HKDF-SHA256 output length.
    hk.expand(info, &mut out).unwrap_or_default();
    out
}

fn key_error(path: &Path, reason: impl Into<String>) -> CryptoError {
    CryptoError::KeyFile {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    key
}

fn index_keys_from(master: &[u8; 32]) -> [[u8; 32]; 3] {
    [
        hkdf32(master, IndexedField::DocumentNumber.label()),
        hkdf32(master, IndexedField::Phone.label()),
        hkdf32(master, IndexedField::FamilyNames.label()),
    ]
}

/// The audit keys a store created before the files were separate uses: derived from its
/// first data key.
fn derived_audit_keys(first: &[u8; 32]) -> AuditKeys {
    AuditKeys {
        chain: hkdf32(first, b"registro/audit-chain/v1"),
        // The checkpoint signing key has a label of its own: it signs, and nothing else.
        signing: vec![(1, hkdf32(first, b"registro/audit-checkpoint/ed25519/v1"))],
    }
}

fn read_private(path: &Path) -> Result<String, CryptoError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| key_error(path, e.to_string()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(key_error(
                path,
                "is readable by group or others; run `chmod 600` on it",
            ));
        }
    }
    std::fs::read_to_string(path).map_err(|e| key_error(path, e.to_string()))
}

impl KeyRing {
    /// Loads the data key file alone, creating it (mode 0600, one fresh key) when `create` and
    /// absent; index and audit keys derived from it (the layout before separate key files).
    pub fn load_or_create(path: &Path, create: bool) -> Result<KeyRing, CryptoError> {
        if !path.exists() {
            if !create {
                return Err(key_error(path, "does not exist"));
            }
            write_key_file(path, &[(1, random_key())])?;
        }
        Self::load(path)
    }

    /// Opens the three key files of a store. The data key file is created when absent and
    /// `create`. The index and audit key files are read when present; when absent they are
    /// created with fresh keys for a `new_store`, and otherwise derived from the first data
    /// key, as a store created before the files were separate expects.
    pub fn open_files(
        paths: &KeyPaths,
        create: bool,
        new_store: bool,
    ) -> Result<KeyRing, CryptoError> {
        let mut ring = Self::load_or_create(&paths.data, create)?;
        if !paths.index.exists() && new_store && create {
            write_private(
                &paths.index,
                &format!(
                    "# registro blind-index key: <kid>:<hex>. Changing it means re-indexing.\n1:{}\n",
                    hex::encode(random_key())
                ),
            )?;
        }
        if paths.index.exists() {
            let entries = parse_key_file(&read_private(&paths.index)?)
                .map_err(|r| key_error(&paths.index, r))?;
            if entries.len() != 1 {
                return Err(key_error(
                    &paths.index,
                    "an index key file holds exactly one key",
                ));
            }
            ring.index_keys = index_keys_from(&entries[0].1);
            ring.index_source = KeySource::File;
        }
        if !paths.audit.exists() && new_store && create {
            write_audit_key_file(
                &paths.audit,
                &AuditKeys {
                    chain: random_key(),
                    signing: vec![(1, random_key())],
                },
            )?;
        }
        if paths.audit.exists() {
            ring.audit = parse_audit_key_file(&read_private(&paths.audit)?)
                .map_err(|r| key_error(&paths.audit, r))?;
            ring.audit_source = KeySource::File;
        }
        ring.paths = Some(paths.clone());
        Ok(ring)
    }

    /// Re-reads the data and audit key files (after another process rotated one), keeping
    /// this ring's index keys.
    pub fn reload(&self) -> Result<KeyRing, CryptoError> {
        let mut ring = Self::load(&self.path)?;
        ring.index_keys = self.index_keys;
        ring.index_source = self.index_source;
        ring.audit = self.audit.clone();
        ring.audit_source = self.audit_source;
        ring.paths = self.paths.clone();
        if let (KeySource::File, Some(p)) = (self.audit_source, &self.paths) {
            ring.audit = parse_audit_key_file(&read_private(&p.audit)?)
                .map_err(|r| key_error(&p.audit, r))?;
        }
        Ok(ring)
    }

    /// Loads the data key file alone (index and audit keys derived from its first key).
    pub fn load(path: &Path) -> Result<KeyRing, CryptoError> {
        let text = read_private(path)?;
        let entries = parse_key_file(&text).map_err(|r| key_error(path, r))?;
        Ok(Self::from_keys(&entries, path.to_path_buf()))
    }

    fn from_keys(entries: &[(u32, [u8; 32])], path: PathBuf) -> KeyRing {
        let mut keys = BTreeMap::new();
        for (kid, key) in entries {
            let data = hkdf32(key, b"registro/data/aes-256-gcm/v1");
            let check = hkdf32(key, b"registro/key-check/v1");
            let cipher = Aes256Gcm::new(&data.into());
            keys.insert(
                *kid,
                DataKey {
                    cipher,
                    check: hex::encode(&check[..16]),
                },
            );
        }
        let first = entries[0].1;
        KeyRing {
            keys,
            current: entries[entries.len() - 1].0,
            index_keys: index_keys_from(&first),
            audit: derived_audit_keys(&first),
            index_source: KeySource::Derived,
            audit_source: KeySource::Derived,
            path,
            paths: None,
        }
    }

    /// An in-memory ring for tests and tools: data, index and audit keys independent.
    pub fn ephemeral() -> KeyRing {
        let mut ring = Self::from_keys(&[(1, random_key())], PathBuf::new());
        ring.index_keys = index_keys_from(&random_key());
        ring.audit = AuditKeys {
            chain: random_key(),
            signing: vec![(1, random_key())],
        };
        ring.index_source = KeySource::File;
        ring.audit_source = KeySource::File;
        ring
    }

    pub fn index_source(&self) -> KeySource {
        self.index_source
    }
    pub fn audit_source(&self) -> KeySource {
        self.audit_source
    }
    pub fn paths(&self) -> Option<&KeyPaths> {
        self.paths.as_ref()
    }

    /// A check value of the blind-index keys (kept in the database: a missing or swapped index
    /// key file is refused at start).
    pub fn index_check(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"registro/key-check/index/v1");
        for k in &self.index_keys {
            h.update(k);
        }
        hex::encode(&h.finalize()[..16])
    }

    /// A check value of the access-log chain key.
    pub fn audit_check(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"registro/key-check/audit-chain/v1");
        h.update(self.audit.chain);
        hex::encode(&h.finalize()[..16])
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn current_kid(&self) -> u32 {
        self.current
    }
    pub fn kids(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }
    /// The check value stored for a key id: proves the file holds the key the data was sealed
    /// with, without revealing it.
    pub fn check_value(&self, kid: u32) -> Option<&str> {
        self.keys.get(&kid).map(|k| k.check.as_str())
    }

    fn aad(record_id: &str, field: &str) -> Vec<u8> {
        let mut aad = Vec::with_capacity(record_id.len() + field.len() + 1);
        aad.extend_from_slice(record_id.as_bytes());
        aad.push(0);
        aad.extend_from_slice(field.as_bytes());
        aad
    }

    /// Seals `plain` under the current key, bound to `(record_id, field)`.
    pub fn seal(&self, record_id: &str, field: &str, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = self.keys.get(&self.current).ok_or(CryptoError::Seal)?;
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let aad = Self::aad(record_id, field);
        let ct = key
            .cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Seal)?;
        let mut out = Vec::with_capacity(HEADER + ct.len());
        out.push(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&self.current.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// The key id a ciphertext was sealed under.
    pub fn kid_of(sealed: &[u8]) -> Result<u32, CryptoError> {
        if sealed.len() < HEADER + 16 || sealed[0] != MAGIC || sealed[1] != VERSION {
            return Err(CryptoError::Malformed);
        }
        Ok(u32::from_be_bytes([
            sealed[2], sealed[3], sealed[4], sealed[5],
        ]))
    }

    pub fn open(
        &self,
        record_id: &str,
        field: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let kid = Self::kid_of(sealed)?;
        let key = self.keys.get(&kid).ok_or(CryptoError::UnknownKey(kid))?;
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&sealed[6..18]);
        let aad = Self::aad(record_id, field);
        key.cipher
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: &sealed[HEADER..],
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Open)
    }

    /// Keyed blind index of a value: hex HMAC-SHA256 of its normalised form. `None` for a
    /// value that normalises to nothing.
    pub fn blind_index(&self, field: IndexedField, value: &str) -> Option<String> {
        let norm = field.normalise(value);
        if norm.is_empty() {
            return None;
        }
        let key = match field {
            IndexedField::DocumentNumber => &self.index_keys[0],
            IndexedField::Phone => &self.index_keys[1],
            IndexedField::FamilyNames => &self.index_keys[2],
        };
        let mut mac = <HmacSha256 as hmac::KeyInit>::new_from_slice(key).ok()?;
        mac.update(norm.as_bytes());
        Some(hex::encode(mac.finalize().into_bytes()))
    }

    fn current_seed(&self) -> [u8; 32] {
        // An audit key file always holds at least one signing key (the parser refuses others).
        self.audit.signing.last().map(|s| s.1).unwrap_or_default()
    }

    /// Signs `msg` with the access log's current checkpoint key (Ed25519); returns the
    /// signature and the public key that verifies it.
    pub fn sign_checkpoint(&self, msg: &[u8]) -> ([u8; 64], [u8; 32]) {
        use ed25519_dalek::Signer;
        let key = ed25519_dalek::SigningKey::from_bytes(&self.current_seed());
        (key.sign(msg).to_bytes(), key.verifying_key().to_bytes())
    }

    /// The public half of the current checkpoint key.
    pub fn checkpoint_public_key(&self) -> [u8; 32] {
        ed25519_dalek::SigningKey::from_bytes(&self.current_seed())
            .verifying_key()
            .to_bytes()
    }

    /// The public halves of every checkpoint key of the audit key file, oldest first: a
    /// checkpoint signed before a rotation still verifies.
    pub fn checkpoint_public_keys(&self) -> Vec<[u8; 32]> {
        self.audit
            .signing
            .iter()
            .map(|(_, seed)| {
                ed25519_dalek::SigningKey::from_bytes(seed)
                    .verifying_key()
                    .to_bytes()
            })
            .collect()
    }

    /// HMAC-SHA256 (hex) of an access-log entry encoding, under the chain key (stable across
    /// every rotation: the whole chain must keep verifying).
    pub fn audit_mac(&self, data: &[u8]) -> String {
        match <HmacSha256 as hmac::KeyInit>::new_from_slice(&self.audit.chain) {
            Ok(mut mac) => {
                mac.update(data);
                hex::encode(mac.finalize().into_bytes())
            }
            Err(_) => String::new(),
        }
    }

    /// Appends a fresh key to the key file (atomically: write a temporary file, fsync,
    /// rename) and returns the reloaded ring whose current key is the new one.
    pub fn add_key(&self) -> Result<KeyRing, CryptoError> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| key_error(&self.path, e.to_string()))?;
        let mut entries = parse_key_file(&text).map_err(|r| key_error(&self.path, r))?;
        let next = entries.iter().map(|(k, _)| *k).max().unwrap_or(0) + 1;
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        entries.push((next, key));
        write_key_file(&self.path, &entries)?;
        self.reload()
    }

    /// Appends a fresh checkpoint signing key to the audit key file and returns the reloaded
    /// ring (new checkpoints are signed with it; older ones keep verifying). A store whose
    /// audit keys were derived from the data key gets its audit key file now, holding the
    /// derived chain key and signing key 1 (so the chain and old checkpoints keep verifying)
    /// and the new key. Returns the new key id too.
    pub fn add_audit_key(&self) -> Result<(KeyRing, u32), CryptoError> {
        let Some(paths) = &self.paths else {
            return Err(key_error(&self.path, "this key ring has no audit key file"));
        };
        let mut audit = match self.audit_source {
            KeySource::File => parse_audit_key_file(&read_private(&paths.audit)?)
                .map_err(|r| key_error(&paths.audit, r))?,
            KeySource::Derived if paths.audit.exists() => {
                return Err(key_error(
                    &paths.audit,
                    "exists but this store's audit keys are derived from the data key",
                ))
            }
            KeySource::Derived => self.audit.clone(),
        };
        let next = audit.signing.iter().map(|(k, _)| *k).max().unwrap_or(0) + 1;
        audit.signing.push((next, random_key()));
        write_audit_key_file(&paths.audit, &audit)?;
        let mut ring = self.reload()?;
        ring.audit = audit;
        ring.audit_source = KeySource::File;
        Ok((ring, next))
    }
}

impl KeyRing {
    /// The ring's key files, for the index key operations below.
    fn index_paths(&self) -> Result<&KeyPaths, CryptoError> {
        self.paths
            .as_ref()
            .ok_or_else(|| key_error(&self.path, "this key ring has no index key file"))
    }

    /// Where `registro keys rotate-index` stages the new blind-index key before it re-indexes:
    /// `<index key file>.new`.
    pub fn staged_index_path(paths: &KeyPaths) -> PathBuf {
        let mut name = paths.index.file_name().unwrap_or_default().to_os_string();
        name.push(".new");
        paths.index.with_file_name(name)
    }

    /// The ring with the staged index key (data and audit keys as this ring's), if a key is
    /// staged.
    pub fn staged_index_ring(&self) -> Result<Option<KeyRing>, CryptoError> {
        let paths = self.index_paths()?;
        let staged = Self::staged_index_path(paths);
        if !staged.exists() {
            return Ok(None);
        }
        let entries = parse_key_file(&read_private(&staged)?).map_err(|r| key_error(&staged, r))?;
        if entries.len() != 1 {
            return Err(key_error(
                &staged,
                "an index key file holds exactly one key",
            ));
        }
        let mut ring = self.reload()?;
        ring.index_keys = index_keys_from(&entries[0].1);
        ring.index_source = KeySource::File;
        Ok(Some(ring))
    }

    /// Writes a fresh blind-index key to the staged file (mode 0600, fsynced) and returns the
    /// ring that indexes with it.
    pub fn stage_index_key(&self) -> Result<KeyRing, CryptoError> {
        let paths = self.index_paths()?;
        write_private(
            &Self::staged_index_path(paths),
            &format!(
                "# registro blind-index key: <kid>:<hex>. Changing it means re-indexing.\n1:{}\n",
                hex::encode(random_key())
            ),
        )?;
        self.staged_index_ring()?
            .ok_or_else(|| key_error(&paths.index, "the staged key vanished"))
    }

    /// Moves the staged index key file over the index key file (a rename, then an fsync of
    /// the directory), once the database indexes with it.
    pub fn commit_staged_index_key(&self) -> Result<(), CryptoError> {
        let paths = self.index_paths()?;
        std::fs::rename(Self::staged_index_path(paths), &paths.index)
            .map_err(|e| key_error(&paths.index, e.to_string()))?;
        if let Some(dir) = paths.index.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| key_error(&paths.index, e.to_string()))?;
        }
        Ok(())
    }

    /// Removes a staged index key that the database never came to use (a rotation
    /// interrupted before its transaction committed).
    pub fn discard_staged_index_key(&self) -> Result<(), CryptoError> {
        if let Some(paths) = &self.paths {
            let staged = Self::staged_index_path(paths);
            if staged.exists() {
                std::fs::remove_file(&staged).map_err(|e| key_error(&staged, e.to_string()))?;
            }
        }
        Ok(())
    }
}

/// Parses an audit key file's text: one `chain:<hex>` line, one or more `sign:<kid>:<hex>`
/// lines (the last signs), `#` comments. Pure, fuzzed.
pub fn parse_audit_key_file(text: &str) -> Result<AuditKeys, String> {
    let mut chain = None;
    let mut signing: Vec<(u32, [u8; 32])> = Vec::new();
    let key32 = |n: usize, h: &str| -> Result<[u8; 32], String> {
        hex::decode(h)
            .map_err(|_| format!("line {n}: key is not hex"))?
            .try_into()
            .map_err(|_| format!("line {n}: key must be 32 bytes"))
    };
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(h) = line.strip_prefix("chain:") {
            if chain.replace(key32(n, h)?).is_some() {
                return Err(format!("line {n}: a second chain key"));
            }
        } else if let Some(rest) = line.strip_prefix("sign:") {
            let (kid, h) = rest
                .split_once(':')
                .ok_or_else(|| format!("line {n}: expected sign:<kid>:<hex key>"))?;
            let kid: u32 = kid.parse().map_err(|_| format!("line {n}: bad key id"))?;
            if signing.iter().any(|(k, _)| *k == kid) {
                return Err(format!("line {n}: duplicate key id {kid}"));
            }
            signing.push((kid, key32(n, h)?));
        } else {
            return Err(format!(
                "line {n}: expected chain:<hex> or sign:<kid>:<hex>"
            ));
        }
    }
    let chain = chain.ok_or("holds no chain key")?;
    if signing.is_empty() {
        return Err("holds no signing key".into());
    }
    Ok(AuditKeys { chain, signing })
}

fn write_audit_key_file(path: &Path, keys: &AuditKeys) -> Result<(), CryptoError> {
    let mut text = String::from(
        "# registro audit keys: chain:<hex> (never changes), sign:<kid>:<hex> (the last signs).\n",
    );
    text.push_str(&format!("chain:{}\n", hex::encode(keys.chain)));
    for (kid, key) in &keys.signing {
        text.push_str(&format!("sign:{kid}:{}\n", hex::encode(key)));
    }
    write_private(path, &text)
}

/// Parses a master key file's text (`<kid>:<hex>` lines; `#` comments). Pure, fuzzed.
pub fn parse_key_file(text: &str) -> Result<Vec<(u32, [u8; 32])>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (kid, hexkey) = line
            .split_once(':')
            .ok_or_else(|| format!("line {}: expected <kid>:<hex key>", n + 1))?;
        let kid: u32 = kid
            .parse()
            .map_err(|_| format!("line {}: bad key id", n + 1))?;
        let bytes = hex::decode(hexkey).map_err(|_| format!("line {}: key is not hex", n + 1))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| format!("line {}: key must be 32 bytes", n + 1))?;
        if out.iter().any(|(k, _)| *k == kid) {
            return Err(format!("line {}: duplicate key id {kid}", n + 1));
        }
        out.push((kid, key));
    }
    if out.is_empty() {
        return Err("holds no key".into());
    }
    Ok(out)
}

fn write_key_file(path: &Path, entries: &[(u32, [u8; 32])]) -> Result<(), CryptoError> {
    let mut text = String::from(
        "# registro master keys: <kid>:<hex>; the last line seals. Keep secret, keep a backup.\n",
    );
    for (kid, key) in entries {
        text.push_str(&format!("{kid}:{}\n", hex::encode(key)));
    }
    write_private(path, &text)
}

/// Writes a secret file atomically with mode 0600: a temporary file, fsync, rename.
fn write_private(path: &Path, text: &str) -> Result<(), CryptoError> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .map_err(|e| key_error(path, e.to_string()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| key_error(path, e.to_string()))?;
    f.sync_all().map_err(|e| key_error(path, e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| key_error(path, e.to_string()))?;
    Ok(())
}

/// SHA-256 hex of a high-entropy secret (bearer tokens), for storage and lookup.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time equality of two strings (hashes, check values).
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A random URL-safe secret of `bytes` random bytes.
pub fn random_secret(bytes: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Argon2id hashing of passwords and device keys (argon2 0.6 defaults: m = 19 MiB, t = 2, p = 1,
/// the OWASP minimum for Argon2id).
pub mod password {
    use argon2::password_hash::{phc::PasswordHash, PasswordHasher, PasswordVerifier};
    use argon2::Argon2;

    pub fn hash(secret: &str) -> Result<String, super::CryptoError> {
        Argon2::default()
            .hash_password(secret.as_bytes())
            .map(|h| h.to_string())
            .map_err(|_| super::CryptoError::Seal)
    }

    /// Verifies `secret` against a PHC string. A malformed stored hash verifies as false.
    pub fn verify(secret: &str, phc: &str) -> bool {
        match PasswordHash::new(phc) {
            Ok(parsed) => Argon2::default()
                .verify_password(secret.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_binding() {
        let ring = KeyRing::ephemeral();
        let sealed = ring.seal("rec1", "person", b"Maria Perez").unwrap();
        assert!(!sealed.windows(5).any(|w| w == b"Maria"));
        assert_eq!(
            ring.open("rec1", "person", &sealed).unwrap(),
            b"Maria Perez"
        );
        assert!(matches!(
            ring.open("rec2", "person", &sealed),
            Err(CryptoError::Open)
        ));
        assert!(matches!(
            ring.open("rec1", "biometrics", &sealed),
            Err(CryptoError::Open)
        ));
        let mut edited = sealed.clone();
        let last = edited.len() - 1;
        edited[last] ^= 1;
        assert!(matches!(
            ring.open("rec1", "person", &edited),
            Err(CryptoError::Open)
        ));
        let other = KeyRing::ephemeral();
        assert!(other.open("rec1", "person", &sealed).is_err());
    }

    #[test]
    fn blind_index_normalises_and_is_keyed() {
        let ring = KeyRing::ephemeral();
        let a = ring
            .blind_index(IndexedField::DocumentNumber, "ab-123 456")
            .unwrap();
        let b = ring
            .blind_index(IndexedField::DocumentNumber, "AB123456")
            .unwrap();
        assert_eq!(a, b);
        assert_ne!(
            a,
            ring.blind_index(IndexedField::Phone, "AB123456")
                .unwrap_or_default()
        );
        assert_ne!(
            a,
            KeyRing::ephemeral()
                .blind_index(IndexedField::DocumentNumber, "AB123456")
                .unwrap()
        );
        assert_eq!(
            ring.blind_index(IndexedField::Phone, "+57 300 123"),
            ring.blind_index(IndexedField::Phone, "57300123")
        );
        assert!(ring.blind_index(IndexedField::Phone, "  ").is_none());
    }

    #[test]
    fn key_file_rotation_keeps_old_keys_and_index() {
        let dir = std::env::temp_dir().join(format!("registro-key-{}", random_secret(6)));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("registro.key");
        let ring = KeyRing::load_or_create(&path, true).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let old = ring.seal("r", "f", b"x").unwrap();
        let idx = ring.blind_index(IndexedField::Phone, "123");
        let ring2 = ring.add_key().unwrap();
        assert_eq!(ring2.current_kid(), 2);
        assert_eq!(ring2.open("r", "f", &old).unwrap(), b"x");
        assert_eq!(
            KeyRing::kid_of(&ring2.seal("r", "f", b"x").unwrap()).unwrap(),
            2
        );
        assert_eq!(ring2.blind_index(IndexedField::Phone, "123"), idx);
        assert_eq!(ring.check_value(1), ring2.check_value(1));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn audit_key_file_parses_and_refuses_malformed_files() {
        let k = |c: &str| c.repeat(32);
        let text = format!(
            "# c\nchain:{}\nsign:1:{}\nsign:3:{}\n",
            k("aa"),
            k("bb"),
            k("cc")
        );
        let keys = parse_audit_key_file(&text).unwrap();
        assert_eq!(keys.signing_keys(), 2);
        assert_eq!(keys.signing.last().unwrap().0, 3);
        for bad in [
            String::new(),
            format!("chain:{}\n", k("aa")),
            format!("sign:1:{}\n", k("bb")),
            format!("chain:{}\nchain:{}\nsign:1:{}\n", k("aa"), k("aa"), k("bb")),
            format!(
                "chain:{}\nsign:1:{}\nsign:1:{}\n",
                k("aa"),
                k("bb"),
                k("cc")
            ),
            format!("chain:{}\nsign:x:{}\n", k("aa"), k("bb")),
            format!("chain:abc\nsign:1:{}\n", k("bb")),
            format!("1:{}\n", k("aa")),
        ] {
            assert!(parse_audit_key_file(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn separate_key_files_are_created_for_a_new_store_and_survive_data_rotation() {
        let dir = std::env::temp_dir().join(format!("registro-key-{}", random_secret(6)));
        std::fs::create_dir_all(&dir).unwrap();
        let paths = KeyPaths::beside(&dir.join("registro.key"));
        let ring = KeyRing::open_files(&paths, true, true).unwrap();
        assert!(paths.index.exists() && paths.audit.exists());
        let derived = KeyRing::load(&paths.data).unwrap();
        assert_ne!(ring.index_check(), derived.index_check());
        assert_ne!(ring.audit_check(), derived.audit_check());
        let idx = ring.blind_index(IndexedField::Phone, "123");
        let mac = ring.audit_mac(b"entry");
        let rotated = ring.add_key().unwrap();
        assert_eq!(rotated.blind_index(IndexedField::Phone, "123"), idx);
        assert_eq!(rotated.audit_mac(b"entry"), mac);
        let (signed, kid) = rotated.add_audit_key().unwrap();
        assert_eq!(kid, 2);
        assert_eq!(signed.audit_mac(b"entry"), mac);
        assert_eq!(signed.checkpoint_public_keys().len(), 2);
        assert_eq!(
            signed.checkpoint_public_keys()[0],
            ring.checkpoint_public_key()
        );
        // Reopened as an existing store: the same keys.
        let again = KeyRing::open_files(&paths, false, false).unwrap();
        assert_eq!(again.index_check(), ring.index_check());
        assert_eq!(
            again.checkpoint_public_key(),
            signed.checkpoint_public_key()
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = password::hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(password::verify("correct horse", &h));
        assert!(!password::verify("wrong", &h));
        assert!(!password::verify("x", "not a hash"));
    }
}
