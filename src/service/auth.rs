//! Users, devices, bearer tokens and login.
//!
//! * Passwords and device keys are stored only as Argon2id hashes.
//! * Bearer tokens are 256-bit random secrets, stored as SHA-256 digests (a fast hash is the
//!   right tool for a high-entropy secret) with an expiry.
//! * Device keys look like `rgd_<device id>_<secret>`: the id finds the row, Argon2id checks the
//!   secret. A verified key is cached (by digest, for a few minutes) so scanners do not pay
//!   Argon2 on every request.
//! * Login runs Argon2id against a dummy hash when the user does not exist, so an unknown user
//!   and a wrong password take the same time and get the same answer. Failed logins are counted
//!   per username and per address over a sliding window; past the limit the answer is `429`.

use super::audit::{self, Entry, Outcome};
use super::{new_id, Principal, Registro, Role};
use crate::config::Config;
use crate::crypto::{password, random_secret, token_digest};
use crate::db::models::{DeviceRow, TokenRow, UserRow};
use crate::db::schema::{devices, tokens, users};
use crate::error::{ApiError, ApiResult};
use diesel::prelude::*;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const DEVICE_CACHE_TTL: Duration = Duration::from_secs(300);

pub struct AuthState {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
    device_cache: Mutex<HashMap<String, (Principal, Instant)>>,
    dummy_hash: String,
    max_failures: u32,
    window: Duration,
}

impl AuthState {
    pub fn new(config: &Config) -> AuthState {
        AuthState {
            failures: Mutex::new(HashMap::new()),
            device_cache: Mutex::new(HashMap::new()),
            dummy_hash: password::hash(&random_secret(16)).unwrap_or_default(),
            max_failures: config.login_max_failures,
            window: Duration::from_secs(config.login_window_secs),
        }
    }

    fn over_limit(&self, keys: &[String]) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        keys.iter().any(|k| {
            let q = map.entry(k.clone()).or_default();
            while q
                .front()
                .is_some_and(|t| now.duration_since(*t) > self.window)
            {
                q.pop_front();
            }
            q.len() as u32 >= self.max_failures
        })
    }

    fn record_failure(&self, keys: &[String]) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys {
            map.entry(k.clone()).or_default().push_back(Instant::now());
        }
        if map.len() > 100_000 {
            map.retain(|_, q| !q.is_empty());
        }
    }

    fn clear_failures(&self, username_key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(username_key);
    }
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LoginOk {
    pub token: String,
    pub role: Role,
    pub expires_at: String,
}

fn log_login(
    reg: &Registro,
    username: &str,
    role: &str,
    status: i32,
    outcome: Outcome,
    remote: &str,
) -> ApiResult<()> {
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<()> {
        audit::append(
            c,
            &keys,
            Entry {
                actor: username.chars().take(64).collect(),
                role: role.into(),
                action: "auth.login".into(),
                record_id: None,
                purpose: None,
                status,
                outcome,
                remote_addr: remote.into(),
            },
        )?;
        Ok(())
    })
}

pub fn login(reg: &Registro, username: &str, secret: &str, remote: &str) -> ApiResult<LoginOk> {
    let state = &reg.auth;
    let ukey = format!("u:{username}");
    let limit_keys = [ukey.clone(), format!("a:{remote}")];
    if state.over_limit(&limit_keys) {
        log_login(reg, username, "", 429, Outcome::Denied, remote)?;
        return Err(ApiError::client(
            "too_many_attempts",
            "too many failed logins; try again later",
        ));
    }
    let user: Option<UserRow> = reg.db.read(|c| -> ApiResult<_> {
        Ok(users::table
            .filter(users::username.eq(username))
            .select(UserRow::as_select())
            .first(c)
            .optional()?)
    })?;
    // Same work whether or not the user exists.
    let stored = user
        .as_ref()
        .map(|u| u.password_hash.as_str())
        .unwrap_or(&state.dummy_hash);
    let ok = password::verify(secret, stored) && user.is_some();
    let Some(user) = user.filter(|_| ok) else {
        state.record_failure(&limit_keys);
        log_login(reg, username, "", 401, Outcome::Failed, remote)?;
        return Err(ApiError::client(
            "invalid_credentials",
            "wrong username or password",
        ));
    };
    state.clear_failures(&ukey);
    let role =
        Role::parse(&user.role).ok_or_else(|| ApiError::internal("stored role is unknown"))?;
    let token = format!("rgt_{}", random_secret(32));
    let now = crate::db::now();
    let expires = now + chrono::Duration::seconds(reg.config.token_ttl_secs);
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<()> {
        diesel::insert_into(tokens::table)
            .values(TokenRow {
                token_hash: token_digest(&token),
                user_id: user.id.clone(),
                username: user.username.clone(),
                role: user.role.clone(),
                expires_at: expires,
                created_at: now,
            })
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
    })
}

/// Resolves a bearer token (user token or device key) to its principal. `None` for an
/// unknown, malformed or expired one.
pub fn authenticate(reg: &Registro, bearer: &str, remote: &str) -> ApiResult<Option<Principal>> {
    if bearer.len() > 512 {
        return Ok(None);
    }
    let digest = token_digest(bearer);
    if let Some(rest) = bearer.strip_prefix("rgd_") {
        {
            let cache = reg
                .auth
                .device_cache
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some((p, at)) = cache.get(&digest) {
                if at.elapsed() < DEVICE_CACHE_TTL {
                    let mut p = p.clone();
                    p.remote_addr = remote.into();
                    return Ok(Some(p));
                }
            }
        }
        let Some((device_id, secret)) = rest.split_once('_') else {
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
        if !password::verify(secret, &row.key_hash) {
            return Ok(None);
        }
        let p = Principal {
            actor: format!("device:{}", row.id),
            role: Role::Scanner,
            device_id: Some(row.id),
            site: Some(row.site),
            remote_addr: remote.into(),
        };
        let mut cache = reg
            .auth
            .device_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(digest, (p.clone(), Instant::now()));
        return Ok(Some(p));
    }
    let row: Option<TokenRow> = reg.db.read(|c| -> ApiResult<_> {
        Ok(tokens::table
            .filter(tokens::token_hash.eq(&digest))
            .filter(tokens::expires_at.gt(crate::db::now()))
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

fn valid_username(u: &str) -> bool {
    (1..=64).contains(&u.len())
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

fn insert_user(
    reg: &Registro,
    by: Option<&Principal>,
    username: &str,
    secret: &str,
    role: Role,
) -> ApiResult<String> {
    if !valid_username(username) {
        return Err(ApiError::client(
            "invalid_username",
            "username must be 1-64 characters of letters, digits, '.', '_', '-' or '@'",
        ));
    }
    if secret.chars().count() < 12 || secret.len() > 1024 {
        return Err(ApiError::client(
            "weak_password",
            "password must be 12 to 1024 characters",
        ));
    }
    let hash = password::hash(secret)?;
    let id = new_id("usr");
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<()> {
        let taken: i64 = users::table
            .filter(users::username.eq(username))
            .count()
            .get_result(c)?;
        if taken > 0 {
            return Err(ApiError::client("username_taken", "that username exists"));
        }
        diesel::insert_into(users::table)
            .values(UserRow {
                id: id.clone(),
                username: username.into(),
                password_hash: hash.clone(),
                role: role.as_str().into(),
                created_at: crate::db::now(),
            })
            .execute(c)?;
        audit::append(
            c,
            &keys,
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
        Ok(())
    })?;
    Ok(id)
}

pub fn create_user(
    reg: &Registro,
    by: &Principal,
    username: &str,
    secret: &str,
    role: &str,
) -> ApiResult<String> {
    let role = Role::parse(role).ok_or_else(|| {
        ApiError::client(
            "invalid_role",
            "role must be scanner, investigator, auditor or admin",
        )
    })?;
    insert_user(reg, Some(by), username, secret, role)
}

/// `registro admin bootstrap`: creates an admin with a generated password, printed once.
pub fn bootstrap_admin(reg: &Registro, username: &str) -> ApiResult<String> {
    let secret = random_secret(18);
    insert_user(reg, None, username, &secret, Role::Admin)?;
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
    if name.trim().is_empty() || name.len() > 200 {
        return Err(ApiError::client(
            "invalid_name",
            "name must be 1-200 characters",
        ));
    }
    super::enrollment::validate_site(site)?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let secret = random_secret(32);
    let api_key = format!("rgd_{id}_{secret}");
    let hash = password::hash(&secret)?;
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<()> {
        diesel::insert_into(devices::table)
            .values(DeviceRow {
                id: id.clone(),
                name: name.trim().into(),
                site: site.into(),
                key_hash: hash.clone(),
                created_by: by.actor.clone(),
                created_at: crate::db::now(),
                revoked_at: None,
            })
            .execute(c)?;
        audit::append(c, &keys, Entry::by(by, "device.create", None, None, 201))?;
        Ok(())
    })?;
    Ok(NewDevice {
        device_id: id,
        api_key,
    })
}

/// Writes the access-log entry of a denied request (401/403/429).
pub fn log_denied(
    reg: &Registro,
    actor: &str,
    role: &str,
    action: &str,
    status: i32,
    remote: &str,
) {
    let keys = reg.keys();
    let res = reg.db.write(|c| -> ApiResult<()> {
        audit::append(
            c,
            &keys,
            Entry {
                actor: actor.chars().take(80).collect(),
                role: role.into(),
                action: action.into(),
                record_id: None,
                purpose: None,
                status,
                outcome: Outcome::Denied,
                remote_addr: remote.into(),
            },
        )?;
        Ok(())
    });
    if let Err(e) = res {
        tracing::error!(error = %e, "could not log a denied request");
    }
}
