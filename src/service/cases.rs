//! Match cases, alerts and the access-log listing.

use super::audit::{self, Entry};
use super::{clamp_limit, parse_cursor, parse_instant, rfc3339, Page, Principal, Registro};
use crate::db::models::{AlertRow, AuditRow, MatchCaseRow, NewChange};
use crate::db::schema::{alert_withdrawals, alerts, audit_log, changes, match_cases, records};
use crate::error::{ApiError, ApiResult};
use diesel::prelude::*;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CaseView {
    pub case_id: String,
    pub record_ids: Vec<String>,
    pub score: f64,
    pub face_score: Option<f64>,
    pub finger_score: Option<f64>,
    pub decision: String,
    pub status: String,
    /// Shown on the decided case itself; always null in lists (see `has_note`).
    pub note: Option<String>,
    /// Whether the case carries a note (lists show this instead of the note).
    pub has_note: bool,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub created_at: String,
}

fn case_view(reg: &Registro, r: MatchCaseRow) -> ApiResult<CaseView> {
    let note = match &r.note_enc {
        Some(n) => Some(String::from_utf8_lossy(&reg.open_field(&r.id, "note", n)?).into_owned()),
        None => None,
    };
    Ok(CaseView {
        has_note: note.is_some(),
        case_id: r.id,
        record_ids: vec![r.record_a, r.record_b],
        score: r.score,
        face_score: r.face_score,
        finger_score: r.finger_score,
        decision: r.decision,
        status: r.status,
        note,
        decided_by: r.decided_by,
        decided_at: r.decided_at.map(rfc3339),
        created_at: rfc3339(r.created_at),
    })
}

pub fn list_cases(
    reg: &Registro,
    who: &Principal,
    status: Option<&str>,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> ApiResult<Page<CaseView>> {
    let limit = clamp_limit(limit)?;
    let cursor = parse_cursor(cursor)?;
    if let Some(s) = status {
        if ![
            "pending",
            "same_person",
            "different_person",
            "withdrawn",
            "",
        ]
        .contains(&s)
        {
            return Err(ApiError::client(
                "invalid_query",
                "status is pending, same_person or different_person",
            ));
        }
    }
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<Page<CaseView>> {
        let mut q = match_cases::table.into_boxed();
        if let Some(s) = status.filter(|s| !s.is_empty()) {
            q = q.filter(match_cases::status.eq(s.to_string()));
        }
        if let Some(cur) = cursor {
            q = q.filter(match_cases::seq.lt(cur));
        }
        // Cases of a deleted record are no longer listed.
        let deleted = records::table
            .filter(records::deleted_at.is_not_null())
            .select(records::id);
        q = q
            .filter(diesel::dsl::not(match_cases::record_a.eq_any(deleted)))
            .filter(diesel::dsl::not(match_cases::record_b.eq_any(deleted)));
        let rows: Vec<MatchCaseRow> = q
            .order(match_cases::seq.desc())
            .limit(limit + 1)
            .select(MatchCaseRow::as_select())
            .load(c)?;
        let page = Page::from_rows(rows, limit, |r| r.seq, |r| r);
        let mut items = Vec::new();
        for mut r in page.items {
            // Lists never open notes: a note is shown only on the case itself.
            let has_note = r.note_enc.take().is_some();
            let mut v = case_view(reg, r)?;
            v.has_note = has_note;
            items.push(v);
        }
        audit::append(c, &keys, Entry::by(who, "match.list", None, None, 200))?;
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    })
}

/// Records an investigator's decision. `same_person` merges the two identities (every
/// record of the second identity takes the first's person id); `different_person` keeps the
/// pair out of future candidate lists. Indicators are re-evaluated afterwards.
pub fn decide(
    reg: &Registro,
    who: &Principal,
    case_id: &str,
    decision: &str,
    note: &str,
) -> ApiResult<CaseView> {
    if !["same_person", "different_person"].contains(&decision) {
        return Err(ApiError::client(
            "invalid_decision",
            "decision must be same_person or different_person",
        ));
    }
    if note.len() > 4000 {
        return Err(ApiError::client(
            "invalid_note",
            "note must be at most 4000 characters",
        ));
    }
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<CaseView> {
        let row: MatchCaseRow = match_cases::table
            .filter(match_cases::id.eq(case_id))
            .select(MatchCaseRow::as_select())
            .first(c)
            .optional()?
            .ok_or_else(|| ApiError::not_found("match case"))?;
        if row.status != "pending" {
            return Err(ApiError::client(
                "already_decided",
                "this case is already decided",
            ));
        }
        let now = crate::db::now();
        let note_enc = if note.is_empty() {
            None
        } else {
            Some(keys.seal(case_id, "note", note.as_bytes())?)
        };
        diesel::update(match_cases::table.filter(match_cases::seq.eq(row.seq)))
            .set((
                match_cases::status.eq(decision),
                match_cases::note_enc.eq(note_enc),
                match_cases::decided_by.eq(Some(who.actor.clone())),
                match_cases::decided_at.eq(Some(now)),
            ))
            .execute(c)?;
        if decision == "same_person" {
            let pa: String = records::table
                .filter(records::id.eq(&row.record_a))
                .select(records::person_id)
                .first(c)?;
            let pb: String = records::table
                .filter(records::id.eq(&row.record_b))
                .select(records::person_id)
                .first(c)?;
            if pa != pb {
                diesel::update(records::table.filter(records::person_id.eq(&pb)))
                    .set(records::person_id.eq(&pa))
                    .execute(c)?;
                super::reception::presence::on_identity_merged(c, &pb, &pa)?;
            }
            diesel::insert_into(changes::table)
                .values(NewChange {
                    record_id: row.record_b.clone(),
                    kind: "linked".into(),
                    at: now,
                })
                .execute(c)?;
        }
        // The note is sealed in the case; the log names the case, never the note.
        let purpose = format!(
            "case {case_id}{}",
            if note.is_empty() {
                ""
            } else {
                " (note sealed in the case)"
            }
        );
        for rid in [&row.record_a, &row.record_b] {
            audit::append(
                c,
                &keys,
                Entry::by(
                    who,
                    &format!("match.decide:{decision}"),
                    Some(rid.clone()),
                    Some(purpose.clone()),
                    200,
                ),
            )?;
        }
        super::alerting::after_decision(reg, c, &row.id, &row.record_a, &row.record_b, decision)?;
        let updated: MatchCaseRow = match_cases::table
            .filter(match_cases::seq.eq(row.seq))
            .select(MatchCaseRow::as_select())
            .first(c)?;
        case_view(reg, updated)
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertView {
    pub alert_id: String,
    pub code: String,
    pub severity: String,
    pub detail: String,
    pub record_ids: Vec<String>,
    pub site: Option<String>,
    pub created_at: String,
    /// `active`, or `withdrawn` when a biometric link it rested on was decided
    /// `different_person`.
    pub status: String,
}

#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::IntoParams)]
pub struct AlertQuery {
    pub code: Option<String>,
    pub severity: Option<String>,
    pub site: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
    /// `active` (the default), `withdrawn` or `all`.
    pub status: Option<String>,
}

pub fn list_alerts(reg: &Registro, who: &Principal, q: &AlertQuery) -> ApiResult<Page<AlertView>> {
    let limit = clamp_limit(q.limit)?;
    let cursor = parse_cursor(q.cursor.as_deref())?;
    let from = parse_instant("from", q.from.as_deref())?;
    let to = parse_instant("to", q.to.as_deref())?;
    let status = q
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or("active");
    if !["active", "withdrawn", "all"].contains(&status) {
        return Err(ApiError::client(
            "invalid_query",
            "status is active, withdrawn or all",
        ));
    }
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<Page<AlertView>> {
        let mut b = alerts::table.into_boxed();
        let withdrawn_ids = alert_withdrawals::table.select(alert_withdrawals::alert_id);
        match status {
            "active" => b = b.filter(diesel::dsl::not(alerts::id.eq_any(withdrawn_ids))),
            "withdrawn" => b = b.filter(alerts::id.eq_any(withdrawn_ids)),
            _ => {}
        }
        if let Some(v) = q.code.as_deref().filter(|s| !s.is_empty()) {
            b = b.filter(alerts::code.eq(v.to_string()));
        }
        if let Some(v) = q.severity.as_deref().filter(|s| !s.is_empty()) {
            b = b.filter(alerts::severity.eq(v.to_string()));
        }
        if let Some(v) = q.site.as_deref().filter(|s| !s.is_empty()) {
            b = b.filter(alerts::site.eq(v.to_string()));
        }
        if let Some(f) = from {
            b = b.filter(alerts::created_at.ge(f));
        }
        if let Some(t) = to {
            b = b.filter(alerts::created_at.lt(t));
        }
        if let Some(cur) = cursor {
            b = b.filter(alerts::seq.lt(cur));
        }
        let rows: Vec<AlertRow> = b
            .order(alerts::seq.desc())
            .limit(limit + 1)
            .select(AlertRow::as_select())
            .load(c)?;
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let withdrawn: std::collections::HashSet<String> = alert_withdrawals::table
            .filter(alert_withdrawals::alert_id.eq_any(ids))
            .select(alert_withdrawals::alert_id)
            .load::<String>(c)?
            .into_iter()
            .collect();
        let page = Page::from_rows(
            rows,
            limit,
            |r| r.seq,
            |r| AlertView {
                status: if withdrawn.contains(&r.id) {
                    "withdrawn".into()
                } else {
                    "active".into()
                },
                alert_id: r.id,
                code: r.code,
                severity: r.severity,
                detail: r.detail,
                record_ids: serde_json::from_str(&r.record_ids).unwrap_or_default(),
                site: r.site,
                created_at: rfc3339(r.created_at),
            },
        );
        audit::append(c, &keys, Entry::by(who, "alert.list", None, None, 200))?;
        Ok(page)
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditView {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub record_id: Option<String>,
    pub purpose: Option<String>,
    pub status: i32,
    pub outcome: String,
    pub remote_addr: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub record_id: Option<String>,
    pub action: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

pub fn list_audit(reg: &Registro, who: &Principal, q: &AuditQuery) -> ApiResult<Page<AuditView>> {
    // Denied requests counted in memory are written first, so the reader sees every one.
    super::auth::flush_denied(reg)?;
    let limit = clamp_limit(q.limit)?;
    let cursor = parse_cursor(q.cursor.as_deref())?;
    let from = parse_instant("from", q.from.as_deref())?;
    let to = parse_instant("to", q.to.as_deref())?;
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<Page<AuditView>> {
        let mut b = audit_log::table.into_boxed();
        if let Some(v) = q.actor.as_deref().filter(|s| !s.is_empty()) {
            b = b.filter(audit_log::actor.eq(v.to_string()));
        }
        if let Some(v) = q.record_id.as_deref().filter(|s| !s.is_empty()) {
            b = b.filter(audit_log::record_id.eq(v.to_string()));
        }
        if let Some(v) = q.action.as_deref().filter(|s| !s.is_empty()) {
            b = b.filter(audit_log::action.eq(v.to_string()));
        }
        if let Some(f) = from {
            b = b.filter(audit_log::at.ge(f));
        }
        if let Some(t) = to {
            b = b.filter(audit_log::at.lt(t));
        }
        if let Some(cur) = cursor {
            b = b.filter(audit_log::seq.lt(cur));
        }
        let rows: Vec<AuditRow> = b
            .order(audit_log::seq.desc())
            .limit(limit + 1)
            .select(AuditRow::as_select())
            .load(c)?;
        let page = Page::from_rows(
            rows,
            limit,
            |r| r.seq,
            |r| AuditView {
                seq: r.seq,
                at: rfc3339(r.at),
                actor: r.actor,
                role: r.role,
                action: r.action,
                record_id: r.record_id,
                purpose: r.purpose,
                status: r.status,
                outcome: r.outcome,
                remote_addr: r.remote_addr,
                prev_hash: r.prev_hash,
                hash: r.hash,
            },
        );
        audit::append(c, &keys, Entry::by(who, "audit.read", None, None, 200))?;
        Ok(page)
    })
}

pub fn verify_audit(
    reg: &Registro,
    who: &Principal,
    checkpoint: Option<(i64, &str)>,
) -> ApiResult<audit::Verification> {
    super::auth::flush_denied(reg)?;
    let keys = reg.keys();
    // Verify first (read), then log the verification itself.
    let v = reg.db.read(|c| -> ApiResult<_> {
        let mut v = audit::verify_incremental(c, &keys, &reg.audit_state)?;
        if let Some((seq, hash)) = checkpoint {
            let ok = audit::check_checkpoint(c, seq, hash)?;
            v.checkpoint_ok = Some(ok);
            if !ok {
                v.chain_ok = false;
                v.first_bad_seq = Some(v.first_bad_seq.map_or(seq.max(1), |b| b.min(seq.max(1))));
            }
        }
        Ok(v)
    })?;
    reg.db.write(|c| -> ApiResult<()> {
        audit::append(c, &keys, Entry::by(who, "audit.verify", None, None, 200))?;
        Ok(())
    })?;
    Ok(v)
}

/// Signs the head of a verified log (auditor). A broken chain is not signed.
pub fn audit_checkpoint(reg: &Registro, who: &Principal) -> ApiResult<audit::Checkpoint> {
    let keys = reg.keys();
    let cp = reg.db.read(|c| -> ApiResult<_> {
        let v = audit::verify_incremental(c, &keys, &reg.audit_state)?;
        if !v.chain_ok {
            return Err(ApiError::client(
                "audit_chain_broken",
                "the access log does not verify; no checkpoint is signed",
            ));
        }
        Ok(audit::checkpoint(c, &keys)?)
    })?;
    reg.db.write(|c| -> ApiResult<()> {
        audit::append(
            c,
            &keys,
            Entry::by(who, "audit.checkpoint", None, None, 200),
        )?;
        Ok(())
    })?;
    match cp {
        Some(cp) => Ok(cp),
        // An empty log cannot exist here (the caller's login is an entry), but be plain.
        None => Err(ApiError::not_found("access log entry")),
    }
}
