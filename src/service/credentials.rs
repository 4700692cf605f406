//! The credential lifecycle (API.md v1.1 "Credentials"): users set their own passwords with
//! one-time reset tokens, change them, log out; admins list, disable and reset users and
//! revoke devices; once two admins exist, creating an admin and deleting a record need a
//! second admin's approval (four eyes).
//!
//! Revocation is immediate on every node because nothing is cached that outlives it: user
//! tokens are looked up in `tokens` on every request (disabling a user or changing a password
//! deletes that user's rows in the same transaction), and a device key's row is re-read on
//! every request (see `auth::authenticate`).

use super::approvals::{active_admins, request_approval, Payload};
pub use super::approvals::{approve, delete_record, Approved, Created, Deleted};
use super::audit::{self, Entry};
use super::auth::{self, NewSecret, MAX_PASSWORD};
use super::{clamp_limit, parse_cursor, rfc3339, Principal, Registro, Role};
use crate::crypto::{password, random_secret, token_digest};
use crate::db::schema::{devices, reset_tokens, tokens, users};
use crate::db::DbConn;
use crate::error::{ApiError, ApiResult};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::OnceLock;

/// A reset token is good once, for this long.
pub const RESET_TTL_HOURS: i64 = 24;
pub const MIN_PASSWORD_CHARS: usize = 12;

static COMMON_TEXT: &str = include_str!("../../data/common-passwords.txt");

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_TEXT
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    })
}

/// The password policy: at least 12 characters (at most 1024 bytes), not containing the
/// username (case-insensitive, for usernames of 3 or more characters), not in the shipped
/// list of common passwords (case-insensitive).
pub fn check_password_policy(username: &str, pw: &str) -> ApiResult<()> {
    let weak = |why: &str| ApiError::client("weak_password", why.to_string());
    if pw.chars().count() < MIN_PASSWORD_CHARS {
        return Err(weak("a password needs at least 12 characters"));
    }
    if pw.len() > MAX_PASSWORD {
        return Err(weak("a password may have at most 1024 bytes"));
    }
    let lower = pw.to_lowercase();
    if username.chars().count() >= 3 && lower.contains(&username.to_lowercase()) {
        return Err(weak("a password may not contain the username"));
    }
    if common_passwords().contains(lower.as_str()) {
        return Err(weak("that password is on the list of common passwords"));
    }
    Ok(())
}

fn digest_of_reset(token: &str) -> String {
    token_digest(token)
}

/// Issues a one-time reset token for `user_id` (replacing any earlier one), inside the
/// caller's write transaction.
pub(crate) fn issue_reset_token(c: &mut DbConn, user_id: &str) -> ApiResult<String> {
    diesel::delete(reset_tokens::table.filter(reset_tokens::user_id.eq(user_id))).execute(c)?;
    let token = format!("rgr_{}", random_secret(32));
    let now = crate::db::now();
    diesel::insert_into(reset_tokens::table)
        .values((
            reset_tokens::token_hash.eq(digest_of_reset(&token)),
            reset_tokens::user_id.eq(user_id),
            reset_tokens::expires_at.eq(now + chrono::Duration::hours(RESET_TTL_HOURS)),
            reset_tokens::created_at.eq(now),
        ))
        .execute(c)?;
    Ok(token)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NewUser {
    pub user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_token: Option<String>,
}

/// `POST /users`: a reset token for the user to set their own password, or (with `password`)
/// an admin-set one that must be changed at first login. An `admin` needs a second admin once
/// two exist.
pub fn create_user(
    reg: &Registro,
    by: &Principal,
    username: &str,
    password: Option<&str>,
    role: &str,
) -> ApiResult<Created<NewUser>> {
    let role = Role::parse(role).ok_or_else(|| {
        ApiError::client(
            "invalid_role",
            "role must be scanner, investigator, auditor or admin",
        )
    })?;
    auth::check_username(username)?;
    if let Some(pw) = password {
        check_password_policy(username, pw)?;
    }
    let hash = password.map(password::hash).transpose()?;
    reg.db.write(|c| -> ApiResult<Created<NewUser>> {
        if role == Role::Admin && active_admins(c)? >= 2 {
            let taken: i64 = users::table
                .filter(users::username.eq(username))
                .count()
                .get_result(c)?;
            if taken > 0 {
                return Err(ApiError::client("username_taken", "that username exists"));
            }
            let p = Payload {
                username: Some(username.into()),
                role: Some(role.as_str().into()),
                password_hash: hash.clone(),
                record_id: None,
                reason: None,
            };
            let approval_id = request_approval(c, reg, by, "user.create", &p, None)?;
            return Ok(Created::Pending { approval_id });
        }
        let secret = match &hash {
            Some(h) => NewSecret::AdminSet(h.clone()),
            None => NewSecret::ResetToken,
        };
        let (user_id, reset_token) =
            auth::insert_user_in(c, reg, Some(by), username, &secret, role)?;
        Ok(Created::Done(NewUser {
            user_id,
            reset_token,
        }))
    })
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct PasswordChange {
    pub username: String,
    #[serde(default)]
    pub current_password: Option<String>,
    #[serde(default)]
    pub reset_token: Option<String>,
    pub new_password: String,
}

/// `POST /auth/password`: proves the account with its current password or a reset token, sets
/// the new password, and ends every other session of the user. Bad proofs count against the
/// same failure limit as logins.
pub fn change_password(reg: &Registro, req: &PasswordChange, remote: &str) -> ApiResult<()> {
    let unauthorized = || ApiError::client("invalid_credentials", "wrong username or password");
    let too_long = req
        .current_password
        .as_ref()
        .is_some_and(|p| p.len() > MAX_PASSWORD)
        || req.reset_token.as_ref().is_some_and(|t| t.len() > 128)
        || req.new_password.len() > MAX_PASSWORD;
    if !auth::username_in_bounds(&req.username) || too_long {
        auth::log_failed(reg, "anonymous", "auth.password", 401, remote);
        return Err(unauthorized());
    }
    let user: Option<(String, String)> = reg.db.read(|c| -> ApiResult<_> {
        Ok(users::table
            .filter(users::username.eq(&req.username))
            .filter(users::disabled_at.is_null())
            .select((users::id, users::password_hash))
            .first(c)
            .optional()?)
    })?;
    let reset_digest = match (&req.current_password, &req.reset_token) {
        (Some(current), None) => {
            if let Err(code) = reg.auth.check_password(
                &req.username,
                current,
                user.as_ref().map(|u| u.1.as_str()),
                remote,
            ) {
                let status = if code == "too_many_attempts" {
                    429
                } else {
                    401
                };
                auth::log_failed(reg, &req.username, "auth.password", status, remote);
                return Err(if status == 429 {
                    ApiError::client(
                        "too_many_attempts",
                        "too many failed attempts; try again later",
                    )
                } else {
                    unauthorized()
                });
            }
            None
        }
        (None, Some(token)) => Some(digest_of_reset(token)),
        _ => {
            return Err(ApiError::client(
                "bad_request",
                "give exactly one of current_password and reset_token",
            ))
        }
    };
    let Some((user_id, _)) = user else {
        auth::log_failed(reg, &req.username, "auth.password", 401, remote);
        return Err(unauthorized());
    };
    if let Some(d) = &reset_digest {
        let found: i64 = reg.db.read(|c| -> ApiResult<i64> {
            Ok(reset_tokens::table
                .filter(reset_tokens::token_hash.eq(d))
                .filter(reset_tokens::user_id.eq(&user_id))
                .filter(reset_tokens::expires_at.gt(crate::db::now()))
                .count()
                .get_result(c)?)
        })?;
        if found == 0 {
            auth::log_failed(reg, &req.username, "auth.password", 401, remote);
            return Err(unauthorized());
        }
    }
    check_password_policy(&req.username, &req.new_password)?;
    let hash = password::hash(&req.new_password)?;
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<()> {
        if let Some(d) = &reset_digest {
            // Used once: a concurrent second use finds it gone.
            let used = diesel::delete(
                reset_tokens::table
                    .filter(reset_tokens::token_hash.eq(d))
                    .filter(reset_tokens::user_id.eq(&user_id))
                    .filter(reset_tokens::expires_at.gt(crate::db::now())),
            )
            .execute(c)?;
            if used == 0 {
                return Err(unauthorized());
            }
        }
        diesel::update(users::table.filter(users::id.eq(&user_id)))
            .set((
                users::password_hash.eq(&hash),
                users::must_change_password.eq(false),
            ))
            .execute(c)?;
        diesel::delete(tokens::table.filter(tokens::user_id.eq(&user_id))).execute(c)?;
        diesel::delete(reset_tokens::table.filter(reset_tokens::user_id.eq(&user_id)))
            .execute(c)?;
        audit::append(
            c,
            &keys,
            Entry {
                actor: req.username.clone(),
                role: String::new(),
                action: "auth.password".into(),
                record_id: None,
                purpose: None,
                status: 204,
                outcome: audit::Outcome::Ok,
                remote_addr: remote.into(),
            },
        )?;
        Ok(())
    })
}

/// `POST /auth/logout`: that user token stops working. A device key is not a session: an admin
/// revokes it.
pub fn logout(reg: &Registro, who: &Principal, bearer: &str) -> ApiResult<()> {
    if who.device_id.is_some() {
        return Err(ApiError::client(
            "not_a_session",
            "a device key cannot be logged out; an admin revokes the device",
        ));
    }
    let digest = token_digest(bearer);
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<()> {
        diesel::delete(tokens::table.filter(tokens::token_hash.eq(&digest))).execute(c)?;
        audit::append(c, &keys, Entry::by(who, "auth.logout", None, None, 204))?;
        Ok(())
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub user_id: String,
    pub username: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeviceView {
    pub device_id: String,
    pub name: String,
    pub site: String,
    pub mobile_sites: Vec<String>,
    pub revoked: bool,
    pub created_at: String,
}

/// A page of an admin list: the cursor is an offset into a stable order (newest first, then id).
#[derive(Debug, Clone, Serialize)]
pub struct AdminPage<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

fn page<T>(mut items: Vec<T>, offset: i64, limit: i64) -> AdminPage<T> {
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    AdminPage {
        items,
        next_cursor: more.then(|| (offset + limit).to_string()),
    }
}

pub fn list_users(
    reg: &Registro,
    by: &Principal,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> ApiResult<AdminPage<UserView>> {
    let limit = clamp_limit(limit)?;
    let offset = parse_cursor(cursor)?.unwrap_or(0);
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<_> {
        type Row = (
            String,
            String,
            String,
            Option<chrono::NaiveDateTime>,
            chrono::NaiveDateTime,
        );
        let rows: Vec<Row> = users::table
            .order((users::created_at.desc(), users::id.desc()))
            .offset(offset)
            .limit(limit + 1)
            .select((
                users::id,
                users::username,
                users::role,
                users::disabled_at,
                users::created_at,
            ))
            .load(c)?;
        audit::append(c, &keys, Entry::by(by, "user.list", None, None, 200))?;
        let items = rows
            .into_iter()
            .map(|(id, username, role, disabled, created)| UserView {
                user_id: id,
                username,
                role,
                disabled: disabled.is_some(),
                created_at: rfc3339(created),
            })
            .collect();
        Ok(page(items, offset, limit))
    })
}

pub fn list_devices(
    reg: &Registro,
    by: &Principal,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> ApiResult<AdminPage<DeviceView>> {
    let limit = clamp_limit(limit)?;
    let offset = parse_cursor(cursor)?.unwrap_or(0);
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<_> {
        type Row = (
            String,
            String,
            String,
            String,
            Option<chrono::NaiveDateTime>,
            chrono::NaiveDateTime,
        );
        let rows: Vec<Row> = devices::table
            .order((devices::created_at.desc(), devices::id.desc()))
            .offset(offset)
            .limit(limit + 1)
            .select((
                devices::id,
                devices::name,
                devices::site,
                devices::mobile_sites,
                devices::revoked_at,
                devices::created_at,
            ))
            .load(c)?;
        audit::append(c, &keys, Entry::by(by, "device.list", None, None, 200))?;
        let items = rows
            .into_iter()
            .map(|(id, name, site, mobile, revoked, created)| DeviceView {
                device_id: id,
                name,
                site,
                mobile_sites: serde_json::from_str(&mobile).unwrap_or_default(),
                revoked: revoked.is_some(),
                created_at: rfc3339(created),
            })
            .collect();
        Ok(page(items, offset, limit))
    })
}

/// Disables a user: every token of theirs is deleted in the same transaction, so it answers
/// `401` on every node from the next request.
pub fn disable_user(reg: &Registro, by: &Principal, user_id: &str) -> ApiResult<UserView> {
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<UserView> {
        type Row = (
            String,
            String,
            Option<chrono::NaiveDateTime>,
            chrono::NaiveDateTime,
        );
        let (username, role, disabled, created): Row = users::table
            .filter(users::id.eq(user_id))
            .select((
                users::username,
                users::role,
                users::disabled_at,
                users::created_at,
            ))
            .first(c)
            .optional()?
            .ok_or_else(|| ApiError::not_found("user"))?;
        if username == by.actor {
            return Err(ApiError::client(
                "cannot_disable_self",
                "an admin cannot disable their own account",
            ));
        }
        if disabled.is_none() {
            diesel::update(users::table.filter(users::id.eq(user_id)))
                .set(users::disabled_at.eq(Some(crate::db::now())))
                .execute(c)?;
        }
        diesel::delete(tokens::table.filter(tokens::user_id.eq(user_id))).execute(c)?;
        diesel::delete(reset_tokens::table.filter(reset_tokens::user_id.eq(user_id))).execute(c)?;
        audit::append(c, &keys, Entry::by(by, "user.disable", None, None, 200))?;
        Ok(UserView {
            user_id: user_id.into(),
            username,
            role,
            disabled: true,
            created_at: rfc3339(created),
        })
    })
}

/// A new one-time reset token for a user (shown once, valid 24 h); an earlier one stops
/// working.
pub fn reset_password(reg: &Registro, by: &Principal, user_id: &str) -> ApiResult<String> {
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<String> {
        let live: i64 = users::table
            .filter(users::id.eq(user_id))
            .filter(users::disabled_at.is_null())
            .count()
            .get_result(c)?;
        if live == 0 {
            return Err(ApiError::not_found("user"));
        }
        let token = issue_reset_token(c, user_id)?;
        audit::append(
            c,
            &keys,
            Entry::by(by, "user.password_reset", None, None, 200),
        )?;
        Ok(token)
    })
}

/// Revokes a device: its key answers `401` on every node from the next request.
pub fn revoke_device(reg: &Registro, by: &Principal, device_id: &str) -> ApiResult<DeviceView> {
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<DeviceView> {
        type Row = (
            String,
            String,
            String,
            Option<chrono::NaiveDateTime>,
            chrono::NaiveDateTime,
        );
        let (name, site, mobile, revoked, created): Row = devices::table
            .filter(devices::id.eq(device_id))
            .select((
                devices::name,
                devices::site,
                devices::mobile_sites,
                devices::revoked_at,
                devices::created_at,
            ))
            .first(c)
            .optional()?
            .ok_or_else(|| ApiError::not_found("device"))?;
        if revoked.is_none() {
            diesel::update(devices::table.filter(devices::id.eq(device_id)))
                .set(devices::revoked_at.eq(Some(crate::db::now())))
                .execute(c)?;
        }
        audit::append(c, &keys, Entry::by(by, "device.revoke", None, None, 200))?;
        Ok(DeviceView {
            device_id: device_id.into(),
            name,
            site,
            mobile_sites: serde_json::from_str(&mobile).unwrap_or_default(),
            revoked: true,
            created_at: rfc3339(created),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_refuses_short_username_bearing_and_common_passwords() {
        let code = |u: &str, p: &str| check_password_policy(u, p).err().map(|e| e.code());
        assert_eq!(code("maria", "short"), Some("weak_password"));
        assert_eq!(
            code("maria.lopez", "xx-Maria.Lopez-2026"),
            Some("weak_password")
        );
        assert_eq!(code("maria", "passwordpassword"), Some("weak_password"));
        assert_eq!(code("maria", "QWERTYUIOP123"), Some("weak_password"));
        assert_eq!(code("maria", "123456789012"), Some("weak_password"));
        assert_eq!(code("maria", "orange kettle under rain"), None);
        assert!(common_passwords().len() > 3000);
        assert!(common_passwords().iter().all(|p| *p == p.to_lowercase()));
    }
}
