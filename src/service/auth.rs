//! Users, devices, bearer tokens and login.
//!
//! * Passwords and device keys are stored only as Argon2id hashes.
//! * Bearer tokens are 256-bit random secrets, stored as SHA-256 digests (a fast hash is the
//!   right tool for a high-entropy secret) with an expiry and a scope (`full`, or
//!   `password_change` for a first login that must set its own password).
//! * Device keys look like `rgd_<32 hex id>_<43 base64url>`. A key of another shape, an unknown
//!   id or a revoked device is refused after at most one primary-key read, without Argon2. A
//!   verified key is cached by its digest, and every use re-reads the device row, so a
//!   revocation is seen at once on every node. Wrong secrets for a known id run Argon2 at most
//!   [`DEVICE_MISS_BUDGET`] times per device per minute on a node; past that they are refused
//!   without it (a key this node already verified keeps working from the cache).
//! * Login runs Argon2id against a dummy hash when the user does not exist, so an unknown user
//!   and a wrong password take the same time and get the same answer. Failed logins are counted
//!   per username and per address over a sliding window in a bounded map
//!   ([`super::auth_state::FailureMap`]); past the limit the answer is `429`. A username longer
//!   than 64 characters or a password longer than 1024 bytes is a plain `401` with no Argon2
//!   and nothing of it kept.
//! * Denied requests are counted in memory and written into the access log once per flush
//!   ([`flush_denied`]), not one fsync per request.

use super::audit::{self, Entry, Outcome};
use super::auth_state::{key16, DeniedKey, DeniedLog, FailureMap};
use super::{new_id, Principal, Registro, Role};
use crate::config::Config;
use crate::crypto::{password, random_secret, token_digest};
use crate::db::models::{DeviceRow, TokenRow, UserRow};
use crate::db::schema::{devices, tokens, users};
use crate::error::{ApiError, ApiResult};
use diesel::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Longest username (characters) and password (bytes) any credential route looks at.
pub const MAX_USERNAME: usize = 64;
pub const MAX_PASSWORD: usize = 1024;
/// Keys kept in the login-failure map (usernames and addresses together): at the ~200 bytes
/// each entry takes, about 13 MB at most.
pub const FAILURE_MAP_CAP: usize = 65_536;
/// Distinct (actor, route, status, source, minute) keys counted between two flushes.
pub const DENIED_CAP: usize = 4096;
/// Argon2 runs for wrong secrets of one known device, per minute, per node.
pub const DEVICE_MISS_BUDGET: u32 = 10;
const DEVICE_CACHE_CAP: usize = 10_000;
const DEVICE_CACHE_TTL: Duration = Duration::from_secs(3600);
pub const SCOPE_FULL: &str = "full";
pub const SCOPE_PASSWORD_CHANGE: &str = "password_change";

pub struct AuthState {
    failures: Mutex<FailureMap>,
    /// Digest of a verified device key → (device id, when verified).
    device_cache: Mutex<HashMap<String, (String, Instant)>>,
    /// Device id → (minute window start, Argon2 runs for wrong secrets in it).
    device_misses: Mutex<HashMap<String, (Instant, u32)>>,
    denied: Mutex<DeniedLog>,
    argon2_runs: AtomicU64,
    dummy_hash: String,
    max_failures: u32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AuthState {
    pub fn new(config: &Config) -> AuthState {
        AuthState {
            failures: Mutex::new(FailureMap::new(
                FAILURE_MAP_CAP,
                config.login_max_failures as usize,
                Duration::from_secs(config.login_window_secs),
            )),
            device_cache: Mutex::new(HashMap::new()),
            device_misses: Mutex::new(HashMap::new()),
            denied: Mutex::new(DeniedLog::new(DENIED_CAP)),
            argon2_runs: AtomicU64::new(0),
            dummy_hash: password::hash(&random_secret(16)).unwrap_or_default(),
            max_failures: config.login_max_failures,
        }
    }

    fn over_limit(&self, labels: &[String]) -> bool {
        let mut map = lock(&self.failures);
        let now = Instant::now();
        labels
            .iter()
            .any(|l| map.count(&key16(l), now) as u32 >= self.max_failures)
    }

    fn record_failure(&self, labels: &[String]) {
        let mut map = lock(&self.failures);
        let now = Instant::now();
        for l in labels {
            map.record(key16(l), now);
        }
    }

    fn clear_failures(&self, label: &str) {
        lock(&self.failures).clear(&key16(label));
    }

    /// Keys in the login-failure map, and an upper bound of its bytes.
    pub fn failure_map_size(&self) -> (usize, usize) {
        let m = lock(&self.failures);
        (m.len(), m.bytes())
    }

    /// Argon2 verifications run by this node (logins, password changes, device keys).
    pub fn argon2_runs(&self) -> u64 {
        self.argon2_runs.load(Ordering::Relaxed)
    }

    /// Denied-request keys waiting for the next flush.
    pub fn denied_pending(&self) -> usize {
        lock(&self.denied).len()
    }

    fn verify(&self, secret: &str, hash: &str) -> bool {
        self.argon2_runs.fetch_add(1, Ordering::Relaxed);
        password::verify(secret, hash)
    }

    /// Verifies `secret` against `hash` unless this user is over the failure limit; counts a
    /// failure. The same work whether the user exists or not (a dummy hash otherwise).
    pub(crate) fn check_password(
        &self,
        username: &str,
        secret: &str,
        stored: Option<&str>,
        remote: &str,
    ) -> Result<(), &'static str> {
        let labels = [format!("u:{username}"), format!("a:{remote}")];
        if self.over_limit(&labels) {
            return Err("too_many_attempts");
        }
        let ok = self.verify(secret, stored.unwrap_or(&self.dummy_hash)) && stored.is_some();
        if !ok {
            self.record_failure(&labels);
            return Err("invalid_credentials");
        }
        self.clear_failures(&labels[0]);
        Ok(())
    }
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LoginOk {
    pub token: String,
    pub role: Role,
    pub expires_at: String,
    /// The account was given its password by an admin: this token is good only for
    /// `POST /api/v1/auth/password`.
    pub must_change_password: bool,
}

/// Counts a denied or failed request for the next flush (no database work).
fn count_denied(
    reg: &Registro,
    actor: &str,
    role: &str,
    action: &str,
    status: i32,
    failed: bool,
    remote: &str,
) {
    let minute = crate::db::now().and_utc().timestamp().div_euclid(60) * 60;
    lock(&reg.auth.denied).add(DeniedKey {
        actor: actor.into(),
        role: role.into(),
        action: action.into(),
        status,
        failed,
        remote: remote.into(),
        minute,
    });
}

fn credential_error(code: &'static str) -> ApiError {
    match code {
        "too_many_attempts" => ApiError::client(
            "too_many_attempts",
            "too many failed logins; try again later",
        ),
        _ => ApiError::client("invalid_credentials", "wrong username or password"),
    }
}

/// Whether a username is within the length any credential route looks at.
pub fn username_in_bounds(username: &str) -> bool {
    !username.is_empty() && username.chars().count() <= MAX_USERNAME
}

pub fn login(reg: &Registro, username: &str, secret: &str, remote: &str) -> ApiResult<LoginOk> {
    let state = &reg.auth;
    if !username_in_bounds(username) || secret.len() > MAX_PASSWORD {
        count_denied(reg, "anonymous", "", "auth.login", 401, true, remote);
        return Err(credential_error("invalid_credentials"));
    }
    let user: Option<UserRow> = reg.db.read(|c| -> ApiResult<_> {
        Ok(users::table
            .filter(users::username.eq(username))
            .filter(users::disabled_at.is_null())
            .select(UserRow::as_select())
            .first(c)
            .optional()?)
    })?;
    if let Err(code) = state.check_password(
        username,
        secret,
        user.as_ref().map(|u| u.password_hash.as_str()),
        remote,
    ) {
        let status = if code == "too_many_attempts" {
            429
        } else {
            401
        };
        count_denied(
            reg,
            username,
            "",
            "auth.login",
            status,
            status == 401,
            remote,
        );
        return Err(credential_error(code));
    }
    let Some(user) = user else {
        return Err(credential_error("invalid_credentials"));
    };
    let must_change: bool = reg.db.read(|c| -> ApiResult<bool> {
        Ok(users::table
            .filter(users::id.eq(&user.id))
            .select(users::must_change_password)
            .first(c)?)
    })?;
    let role =
        Role::parse(&user.role).ok_or_else(|| ApiError::internal("stored role is unknown"))?;
    let token = format!("rgt_{}", random_secret(32));
    let now = crate::db::now();
    let expires = now + chrono::Duration::seconds(reg.config.token_ttl_secs);
    let scope = if must_change {
        SCOPE_PASSWORD_CHANGE
    } else {
        SCOPE_FULL
    };
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<()> {
        diesel::insert_into(tokens::table)
            .values((
                TokenRow {
                    token_hash: token_digest(&token),
                    user_id: user.id.clone(),
                    username: user.username.clone(),
                    role: user.role.clone(),
                    expires_at: expires,
                    created_at: now,
                },
                tokens::scope.eq(scope),
            ))
            .execute(c)?;
        audit::append(
            c,
            &keys,
            Entry {
                actor: user.username.clone(),
                role: user.role.clone(),
                action: "auth.login".into(),
                record_id: None,
                purpose: None,
                status: 200,
                outcome: Outcome::Ok,
                remote_addr: remote.into(),
            },
        )?;
        Ok(())
    })?;
    Ok(LoginOk {
        token,
        role,
        expires_at: super::rfc3339(expires),
        must_change_password: must_change,
    })
}

fn is_b64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `Some((id, secret))` for a bearer of the device-key shape `rgd_<32 hex>_<43 base64url>`.
pub fn device_key_parts(bearer: &str) -> Option<(&str, &str)> {
    let rest = bearer.strip_prefix("rgd_")?;
    let (id, secret) = rest.split_at_checked(32)?;
    let secret = secret.strip_prefix('_')?;
    (id.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && secret.len() == 43
        && is_b64url(secret))
    .then_some((id, secret))
}

/// Whether a bearer has the user-token shape `rgt_<43 base64url>`.
pub fn is_user_token_shape(bearer: &str) -> bool {
    bearer
        .strip_prefix("rgt_")
        .is_some_and(|s| s.len() == 43 && is_b64url(s))
}

fn device_principal(row: DeviceRow, remote: &str) -> Principal {
    Principal {
        actor: format!("device:{}", row.id),
        role: Role::Scanner,
        device_id: Some(row.id),
        site: Some(row.site),
        remote_addr: remote.into(),
    }
}

fn authenticate_device(reg: &Registro, bearer: &str, remote: &str) -> ApiResult<Option<Principal>> {
    let Some((device_id, secret)) = device_key_parts(bearer) else {
        return Ok(None);
    };
    let row: Option<DeviceRow> = reg.db.read(|c| -> ApiResult<_> {
        Ok(devices::table
            .filter(devices::id.eq(device_id))
            .filter(devices::revoked_at.is_null())
            .select(DeviceRow::as_select())
            .first(c)
            .optional()?)
    })?;
    let Some(row) = row else { return Ok(None) };
    let digest = token_digest(bearer);
    {
        let cache = lock(&reg.auth.device_cache);
        if let Some((id, at)) = cache.get(&digest) {
            if id == device_id && at.elapsed() < DEVICE_CACHE_TTL {
                return Ok(Some(device_principal(row, remote)));
            }
        }
    }
    {
        let mut misses = lock(&reg.auth.device_misses);
        if let Some((start, n)) = misses.get_mut(device_id) {
            if start.elapsed() >= Duration::from_secs(60) {
                *start = Instant::now();
                *n = 0;
            }
            if *n >= DEVICE_MISS_BUDGET {
                return Ok(None);
            }
        }
    }
    if !reg.auth.verify(secret, &row.key_hash) {
        let mut misses = lock(&reg.auth.device_misses);
        if misses.len() >= DEVICE_CACHE_CAP {
            misses.retain(|_, (start, _)| start.elapsed() < Duration::from_secs(60));
        }
        if misses.len() < DEVICE_CACHE_CAP {
            misses
                .entry(device_id.to_string())
                .or_insert_with(|| (Instant::now(), 0))
                .1 += 1;
        }
        return Ok(None);
    }
    let mut cache = lock(&reg.auth.device_cache);
    if cache.len() >= DEVICE_CACHE_CAP {
        cache.retain(|_, (_, at)| at.elapsed() < DEVICE_CACHE_TTL);
        if cache.len() >= DEVICE_CACHE_CAP {
            cache.clear();
        }
    }
    cache.insert(digest, (device_id.to_string(), Instant::now()));
    Ok(Some(device_principal(row, remote)))
}

/// Resolves a bearer token (user token or device key) to its principal. `None` for an
/// unknown, malformed, expired, revoked or password-change-only one.
pub fn authenticate(reg: &Registro, bearer: &str, remote: &str) -> ApiResult<Option<Principal>> {
    if bearer.starts_with("rgd_") {
        return authenticate_device(reg, bearer, remote);
    }
    if !is_user_token_shape(bearer) {
        return Ok(None);
    }
    let digest = token_digest(bearer);
    let row: Option<TokenRow> = reg.db.read(|c| -> ApiResult<_> {
        Ok(tokens::table
            .filter(tokens::token_hash.eq(&digest))
            .filter(tokens::expires_at.gt(crate::db::now()))
            .filter(tokens::scope.eq(SCOPE_FULL))
            .select(TokenRow::as_select())
            .first(c)
            .optional()?)
    })?;
    Ok(row.and_then(|t| {
        Role::parse(&t.role).map(|role| Principal {
            actor: t.username,
            role,
            device_id: None,
            site: None,
            remote_addr: remote.into(),
        })
    }))
}

pub(crate) fn valid_username(u: &str) -> bool {
    (1..=MAX_USERNAME).contains(&u.len())
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

pub(crate) fn check_username(username: &str) -> ApiResult<()> {
    if valid_username(username) {
        Ok(())
    } else {
        Err(ApiError::client(
            "invalid_username",
            "username must be 1-64 characters of letters, digits, '.', '_', '-' or '@'",
        ))
    }
}

/// How a new user's password is set.
pub(crate) enum NewSecret {
    /// A generated one printed once (the CLI's first admin): usable at once.
    Generated(String),
    /// Set by an admin (an Argon2id hash): must be changed at first login.
    AdminSet(String),
    /// None yet: the user sets it with the one-time reset token returned.
    ResetToken,
}

/// Inserts a user inside the caller's write transaction and logs it; returns the user id and,
/// for [`NewSecret::ResetToken`], the reset token.
pub(crate) fn insert_user_in(
    c: &mut crate::db::DbConn,
    reg: &Registro,
    by: Option<&Principal>,
    username: &str,
    secret: &NewSecret,
    role: Role,
) -> ApiResult<(String, Option<String>)> {
    let taken: i64 = users::table
        .filter(users::username.eq(username))
        .count()
        .get_result(c)?;
    if taken > 0 {
        return Err(ApiError::client("username_taken", "that username exists"));
    }
    let id = new_id("usr");
    let (hash, must_change) = match secret {
        NewSecret::Generated(h) => (h.clone(), false),
        NewSecret::AdminSet(h) => (h.clone(), true),
        // No password can verify against this until the user sets one.
        NewSecret::ResetToken => (password::hash(&random_secret(32))?, true),
    };
    diesel::insert_into(users::table)
        .values((
            UserRow {
                id: id.clone(),
                username: username.into(),
                password_hash: hash,
                role: role.as_str().into(),
                created_at: crate::db::now(),
            },
            users::must_change_password.eq(must_change),
        ))
        .execute(c)?;
    let reset = match secret {
        NewSecret::ResetToken => Some(super::credentials::issue_reset_token(c, &id)?),
        _ => None,
    };
    audit::append(
        c,
        &reg.keys(),
        Entry {
            actor: by.map(|p| p.actor.clone()).unwrap_or_else(|| "cli".into()),
            role: by.map(|p| p.role.as_str()).unwrap_or("admin").into(),
            action: format!("user.create:{}", role.as_str()),
            record_id: None,
            purpose: None,
            status: 201,
            outcome: Outcome::Ok,
            remote_addr: by
                .map(|p| p.remote_addr.clone())
                .unwrap_or_else(|| "local".into()),
        },
    )?;
    Ok((id, reset))
}

/// `registro admin bootstrap`: creates an admin with a generated password, printed once.
pub fn bootstrap_admin(reg: &Registro, username: &str) -> ApiResult<String> {
    check_username(username)?;
    let secret = random_secret(18);
    let hash = password::hash(&secret)?;
    reg.db.write(|c| {
        insert_user_in(
            c,
            reg,
            None,
            username,
            &NewSecret::Generated(hash.clone()),
            Role::Admin,
        )
    })?;
    Ok(secret)
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct NewDevice {
    pub device_id: String,
    pub api_key: String,
}

pub fn create_device(
    reg: &Registro,
    by: &Principal,
    name: &str,
    site: &str,
) -> ApiResult<NewDevice> {
    create_device_with(reg, by, name, site, &[])
}

/// Registers a device at `site`; `mobile_sites` are the other sites it may name.
pub fn create_device_with(
    reg: &Registro,
    by: &Principal,
    name: &str,
    site: &str,
    mobile_sites: &[String],
) -> ApiResult<NewDevice> {
    if name.trim().is_empty() || name.len() > 200 {
        return Err(ApiError::client(
            "invalid_name",
            "name must be 1-200 characters",
        ));
    }
    super::enrollment::validate_site(site)?;
    if mobile_sites.len() > 100 {
        return Err(ApiError::client("invalid_site", "at most 100 mobile_sites"));
    }
    for s in mobile_sites {
        super::enrollment::validate_site(s)?;
    }
    let mobile = serde_json::to_string(mobile_sites).map_err(ApiError::internal)?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let secret = random_secret(32);
    let api_key = format!("rgd_{id}_{secret}");
    let hash = password::hash(&secret)?;
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<()> {
        diesel::insert_into(devices::table)
            .values((
                DeviceRow {
                    id: id.clone(),
                    name: name.trim().into(),
                    site: site.into(),
                    key_hash: hash.clone(),
                    created_by: by.actor.clone(),
                    created_at: crate::db::now(),
                    revoked_at: None,
                },
                devices::mobile_sites.eq(&mobile),
            ))
            .execute(c)?;
        audit::append(c, &keys, Entry::by(by, "device.create", None, None, 201))?;
        Ok(())
    })?;
    Ok(NewDevice {
        device_id: id,
        api_key,
    })
}

/// Counts a denied request (401/403/429) for the access log; written by [`flush_denied`].
pub fn log_denied(
    reg: &Registro,
    actor: &str,
    role: &str,
    action: &str,
    status: i32,
    remote: &str,
) {
    count_denied(reg, actor, role, action, status, false, remote);
}

/// Counts a failed credential check (a wrong or out-of-bounds login or password proof).
pub fn log_failed(reg: &Registro, actor: &str, action: &str, status: i32, remote: &str) {
    count_denied(reg, actor, "", action, status, status == 401, remote);
}

/// Writes the denied requests counted since the last flush into the access log, one entry
/// per (actor, route, status, source, minute) with its count, all in one transaction.
pub fn flush_denied(reg: &Registro) -> ApiResult<usize> {
    let items = lock(&reg.auth.denied).take();
    if items.is_empty() {
        return Ok(0);
    }
    let keys = reg.keys();
    let n = items.len();
    let res = reg.db.write(|c| -> ApiResult<()> {
        for (k, count) in &items {
            let minute = chrono::DateTime::from_timestamp(k.minute, 0)
                .map(|d| d.naive_utc())
                .unwrap_or_else(crate::db::now);
            audit::append_denied_aggregate(
                c,
                &keys,
                Entry {
                    actor: k.actor.clone(),
                    role: k.role.clone(),
                    action: k.action.clone(),
                    record_id: None,
                    purpose: None,
                    status: k.status,
                    outcome: if k.failed {
                        Outcome::Failed
                    } else {
                        Outcome::Denied
                    },
                    remote_addr: k.remote.clone(),
                },
                *count,
                minute,
            )?;
        }
        Ok(())
    });
    if let Err(e) = res {
        lock(&reg.auth.denied).restore(items);
        return Err(e);
    }
    Ok(n)
}

/// Flushes denied requests every `denied_flush_ms` until the registro is dropped.
pub fn start_denied_flusher(reg: &Arc<Registro>) {
    let weak = Arc::downgrade(reg);
    let every = Duration::from_millis(reg.config.denied_flush_ms.max(50));
    std::thread::Builder::new()
        .name("registro-denied".into())
        .spawn(move || loop {
            std::thread::sleep(every);
            let Some(reg) = weak.upgrade() else { return };
            if let Err(e) = flush_denied(&reg) {
                tracing::warn!(error = %e, "could not flush denied requests; kept for the next try");
            }
        })
        .ok();
}
