//! What the review console needs beyond the API's service functions: ending a console
//! session (its bearer token) and the admin's lists of users and devices. Each is an
//! access-log entry.

use super::audit::{self, Entry};
use super::{rfc3339, Principal, Registro};
use crate::crypto::token_digest;
use crate::db::schema::{devices, tokens, users};
use crate::error::ApiResult;
use diesel::prelude::*;

/// Ends a session: its token stops working at once.
pub fn end_session(reg: &Registro, who: &Principal, token: &str) -> ApiResult<()> {
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<()> {
        diesel::delete(tokens::table.filter(tokens::token_hash.eq(token_digest(token))))
            .execute(c)?;
        audit::append(c, &keys, Entry::by(who, "auth.logout", None, None, 200))?;
        Ok(())
    })
}

/// Withdraws a token just issued to a role the console does not serve (no access-log entry
/// beyond the login's own and the denial the caller writes).
pub fn discard_token(reg: &Registro, token: &str) -> ApiResult<()> {
    reg.db.write(|c| -> ApiResult<()> {
        diesel::delete(tokens::table.filter(tokens::token_hash.eq(token_digest(token))))
            .execute(c)?;
        Ok(())
    })
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct UserItem {
    pub user_id: String,
    pub username: String,
    pub role: String,
    pub created_at: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceItem {
    pub device_id: String,
    pub name: String,
    pub site: String,
    pub revoked: bool,
    pub created_at: String,
}

/// Most rows of each admin list.
pub const ADMIN_LIST_LIMIT: i64 = 500;

/// Users and devices, newest first, logged as `user.list`.
pub fn directory(reg: &Registro, who: &Principal) -> ApiResult<(Vec<UserItem>, Vec<DeviceItem>)> {
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<_> {
        let us: Vec<(String, String, String, chrono::NaiveDateTime)> = users::table
            .order(users::created_at.desc())
            .limit(ADMIN_LIST_LIMIT)
            .select((users::id, users::username, users::role, users::created_at))
            .load(c)?;
        let ds: Vec<(
            String,
            String,
            String,
            Option<chrono::NaiveDateTime>,
            chrono::NaiveDateTime,
        )> = devices::table
            .order(devices::created_at.desc())
            .limit(ADMIN_LIST_LIMIT)
            .select((
                devices::id,
                devices::name,
                devices::site,
                devices::revoked_at,
                devices::created_at,
            ))
            .load(c)?;
        audit::append(c, &keys, Entry::by(who, "user.list", None, None, 200))?;
        Ok((
            us.into_iter()
                .map(|(id, username, role, at)| UserItem {
                    user_id: id,
                    username,
                    role,
                    created_at: rfc3339(at),
                })
                .collect(),
            ds.into_iter()
                .map(|(id, name, site, revoked, at)| DeviceItem {
                    device_id: id,
                    name,
                    site,
                    revoked: revoked.is_some(),
                    created_at: rfc3339(at),
                })
                .collect(),
        ))
    })
}
