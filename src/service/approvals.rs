//! Four eyes: once two active admins exist, creating an `admin` and deleting a record are
//! stored as requests (`approvals`, payload sealed) that another admin runs with
//! `POST /approvals/{id}/approve`. Both the request and the approval are logged.

use super::audit::{self, Entry};
use super::auth::{self, NewSecret};
use super::{new_id, Principal, Registro, Role};
use crate::db::schema::{approvals, records, users};
use crate::db::DbConn;
use crate::error::{ApiError, ApiResult};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

pub(crate) fn active_admins(c: &mut DbConn) -> QueryResult<i64> {
    users::table
        .filter(users::role.eq("admin"))
        .filter(users::disabled_at.is_null())
        .count()
        .get_result(c)
}

/// The answer to a request that may need a second admin.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Created<T> {
    Done(T),
    Pending { approval_id: String },
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Payload {
    #[serde(default)]
    pub(crate) username: Option<String>,
    #[serde(default)]
    pub(crate) role: Option<String>,
    #[serde(default)]
    pub(crate) password_hash: Option<String>,
    #[serde(default)]
    pub(crate) record_id: Option<String>,
    #[serde(default)]
    pub(crate) reason: Option<String>,
}

pub(crate) fn request_approval(
    c: &mut DbConn,
    reg: &Registro,
    by: &Principal,
    kind: &str,
    payload: &Payload,
    record_id: Option<String>,
) -> ApiResult<String> {
    let id = new_id("apr");
    let plain = serde_json::to_vec(payload).map_err(ApiError::internal)?;
    let sealed = reg.keys().seal(&id, "approval", &plain)?;
    diesel::insert_into(approvals::table)
        .values((
            approvals::id.eq(&id),
            approvals::kind.eq(kind),
            approvals::payload_enc.eq(sealed),
            approvals::requested_by.eq(&by.actor),
            approvals::status.eq("pending"),
            approvals::created_at.eq(crate::db::now()),
        ))
        .execute(c)?;
    audit::append(
        c,
        &reg.keys(),
        Entry::by(
            by,
            &format!("approval.request:{kind}"),
            record_id,
            None,
            202,
        ),
    )?;
    Ok(id)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Deleted {
    pub record_id: String,
    pub status: String,
}

/// `POST /records/{id}/delete`: runs `records::delete` at once while there is one admin, and
/// asks for a second admin's approval once there are two.
pub fn delete_record(
    reg: &Registro,
    by: &Principal,
    record_id: &str,
    reason: &str,
) -> ApiResult<Created<Deleted>> {
    let trimmed = reason.trim();
    if trimmed.is_empty() || trimmed.len() > 500 {
        return Err(ApiError::client(
            "reason_required",
            "a reason of 1-500 characters is required",
        ));
    }
    let pending = reg.db.write(|c| -> ApiResult<Option<String>> {
        if active_admins(c)? < 2 {
            return Ok(None);
        }
        let live: i64 = records::table
            .filter(records::id.eq(record_id))
            .filter(records::deleted_at.is_null())
            .count()
            .get_result(c)?;
        if live == 0 {
            return Err(ApiError::not_found("record"));
        }
        let p = Payload {
            username: None,
            role: None,
            password_hash: None,
            record_id: Some(record_id.into()),
            reason: Some(trimmed.into()),
        };
        request_approval(c, reg, by, "record.delete", &p, Some(record_id.into())).map(Some)
    })?;
    if let Some(approval_id) = pending {
        return Ok(Created::Pending { approval_id });
    }
    super::records::delete(reg, by, record_id, reason)?;
    Ok(Created::Done(Deleted {
        record_id: record_id.into(),
        status: "deleted".into(),
    }))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Approved {
    pub approval_id: String,
    pub kind: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
}

/// `POST /approvals/{id}/approve` by an admin other than the one who asked: runs the action.
pub fn approve(reg: &Registro, by: &Principal, approval_id: &str) -> ApiResult<Approved> {
    // Claim the approval first (pending → running), so two approvers cannot both run it.
    let (kind, payload) = reg.db.write(|c| -> ApiResult<(String, Payload)> {
        let (kind, sealed, requested_by, status): (String, Vec<u8>, String, String) =
            approvals::table
                .filter(approvals::id.eq(approval_id))
                .select((
                    approvals::kind,
                    approvals::payload_enc,
                    approvals::requested_by,
                    approvals::status,
                ))
                .first(c)
                .optional()?
                .ok_or_else(|| ApiError::not_found("approval"))?;
        if status != "pending" {
            return Err(ApiError::client(
                "already_decided",
                "this approval was already decided",
            ));
        }
        if requested_by == by.actor {
            return Err(ApiError::client(
                "self_approval",
                "another admin must approve this",
            ));
        }
        let plain = reg.open_field(approval_id, "approval", &sealed)?;
        let payload: Payload = serde_json::from_slice(&plain).map_err(ApiError::internal)?;
        diesel::update(approvals::table.filter(approvals::id.eq(approval_id)))
            .set(approvals::status.eq("running"))
            .execute(c)?;
        Ok((kind, payload))
    })?;
    let result = run_approved(reg, by, approval_id, &kind, &payload);
    let keys = reg.keys();
    let status = if result.is_ok() {
        "approved"
    } else {
        "pending"
    };
    reg.db.write(|c| -> ApiResult<()> {
        diesel::update(approvals::table.filter(approvals::id.eq(approval_id)))
            .set((
                approvals::status.eq(status),
                approvals::approved_by.eq(result.is_ok().then(|| by.actor.clone())),
                approvals::decided_at.eq(result.is_ok().then(crate::db::now)),
            ))
            .execute(c)?;
        if result.is_ok() {
            audit::append(
                c,
                &keys,
                Entry::by(
                    by,
                    &format!("approval.approve:{kind}"),
                    payload.record_id.clone(),
                    None,
                    200,
                ),
            )?;
        }
        Ok(())
    })?;
    result
}

fn run_approved(
    reg: &Registro,
    by: &Principal,
    approval_id: &str,
    kind: &str,
    p: &Payload,
) -> ApiResult<Approved> {
    let mut out = Approved {
        approval_id: approval_id.into(),
        kind: kind.into(),
        status: "approved".into(),
        user_id: None,
        reset_token: None,
        record_id: None,
    };
    match kind {
        "record.delete" => {
            let id = p.record_id.as_deref().unwrap_or_default();
            super::records::delete(reg, by, id, p.reason.as_deref().unwrap_or_default())?;
            out.record_id = Some(id.into());
        }
        "user.create" => {
            let username = p.username.as_deref().unwrap_or_default();
            let role = p
                .role
                .as_deref()
                .and_then(Role::parse)
                .ok_or_else(|| ApiError::internal("approval payload has no role"))?;
            let secret = match &p.password_hash {
                Some(h) => NewSecret::AdminSet(h.clone()),
                None => NewSecret::ResetToken,
            };
            let (user_id, reset) = reg
                .db
                .write(|c| auth::insert_user_in(c, reg, Some(by), username, &secret, role))?;
            out.user_id = Some(user_id);
            out.reset_token = reset;
        }
        _ => return Err(ApiError::internal("unknown approval kind")),
    }
    Ok(out)
}
