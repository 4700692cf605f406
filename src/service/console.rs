//! What the review console needs beyond the API's service functions: withdrawing a token
//! issued to a role without console pages, the admin's lists of users and devices, and the
//! pending four-eyes approvals. Each list is an access-log entry. Logging out is the API's
//! own `credentials::logout`.

use super::approvals::Payload;
use super::audit::{self, Entry};
use super::{rfc3339, Principal, Registro};
use crate::crypto::token_digest;
use crate::db::schema::{approvals, devices, tokens, users};
use crate::error::ApiResult;
use diesel::prelude::*;

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
    pub disabled: bool,
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

/// Users and devices, newest first, logged as the API logs its two lists (`user.list`,
/// `device.list`).
pub fn directory(reg: &Registro, who: &Principal) -> ApiResult<(Vec<UserItem>, Vec<DeviceItem>)> {
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<_> {
        type UserRow = (
            String,
            String,
            String,
            Option<chrono::NaiveDateTime>,
            chrono::NaiveDateTime,
        );
        let us: Vec<UserRow> = users::table
            .order((users::created_at.desc(), users::id.desc()))
            .limit(ADMIN_LIST_LIMIT)
            .select((
                users::id,
                users::username,
                users::role,
                users::disabled_at,
                users::created_at,
            ))
            .load(c)?;
        let ds: Vec<(
            String,
            String,
            String,
            Option<chrono::NaiveDateTime>,
            chrono::NaiveDateTime,
        )> = devices::table
            .order((devices::created_at.desc(), devices::id.desc()))
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
        audit::append(c, &keys, Entry::by(who, "device.list", None, None, 200))?;
        Ok((
            us.into_iter()
                .map(|(id, username, role, disabled, at)| UserItem {
                    user_id: id,
                    username,
                    role,
                    disabled: disabled.is_some(),
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

/// A four-eyes request waiting for a second admin: what it would do, without the password
/// hash its sealed payload may carry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApprovalItem {
    pub approval_id: String,
    /// `user.create` or `record.delete`.
    pub kind: String,
    pub requested_by: String,
    pub created_at: String,
    /// For `user.create`: the username and role asked for.
    pub username: Option<String>,
    pub role: Option<String>,
    /// For `record.delete`: the record.
    pub record_id: Option<String>,
}

/// Pending approvals, oldest first, logged as `approval.list`.
pub fn pending_approvals(reg: &Registro, who: &Principal) -> ApiResult<Vec<ApprovalItem>> {
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<_> {
        let rows: Vec<(String, String, Vec<u8>, String, chrono::NaiveDateTime)> = approvals::table
            .filter(approvals::status.eq("pending"))
            .order((approvals::created_at.asc(), approvals::id.asc()))
            .limit(ADMIN_LIST_LIMIT)
            .select((
                approvals::id,
                approvals::kind,
                approvals::payload_enc,
                approvals::requested_by,
                approvals::created_at,
            ))
            .load(c)?;
        audit::append(c, &keys, Entry::by(who, "approval.list", None, None, 200))?;
        rows.into_iter()
            .map(|(id, kind, sealed, requested_by, at)| {
                let plain = reg.open_field(&id, "approval", &sealed)?;
                let p: Payload =
                    serde_json::from_slice(&plain).map_err(crate::error::ApiError::internal)?;
                Ok(ApprovalItem {
                    approval_id: id,
                    kind,
                    requested_by,
                    created_at: rfc3339(at),
                    username: p.username,
                    role: p.role,
                    record_id: p.record_id,
                })
            })
            .collect()
    })
}
