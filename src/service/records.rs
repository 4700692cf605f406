//! Reading, searching and deleting records. Every read writes its access-log entry in the
//! same transaction.

use super::audit::{self, Entry};
use super::enrollment::{Person, Protection, SealedPerson};
use super::{clamp_limit, parse_cursor, rfc3339, Page, Principal, Registro};
use crate::crypto::IndexedField;
use crate::db::models::{AlertRow, CompanionRow, NewChange, RecordRow};
use crate::db::schema::{alert_withdrawals, alerts, changes, companions, records};
use crate::db::DbConn;
use crate::error::{ApiError, ApiResult};
use diesel::prelude::*;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EnrollmentView {
    pub record_id: String,
    pub capture_id: String,
    pub site: String,
    pub captured_at: String,
    pub device_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LinkView {
    pub record_id: String,
    /// `companion` (declared travelling together) or `same_person` (confirmed duplicate).
    pub kind: String,
    pub relationship: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertRef {
    pub alert_id: String,
    pub code: String,
    pub severity: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordView {
    pub record_id: String,
    pub person_id: String,
    pub capture_id: String,
    pub site: String,
    pub captured_at: String,
    pub age_group: String,
    pub person: Person,
    pub protection: Protection,
    pub enrollments: Vec<EnrollmentView>,
    pub links: Vec<LinkView>,
    pub indicators: Vec<AlertRef>,
    /// Reception events of every record of the identity, oldest first.
    pub events: Vec<super::reception::EventView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordSummary {
    pub record_id: String,
    pub person_id: String,
    pub site: String,
    pub captured_at: String,
    pub given_names: Option<String>,
    pub family_names: Option<String>,
    pub date_of_birth: Option<String>,
    pub sex: Option<String>,
    pub nationality: Option<String>,
}

pub fn open_person(reg: &Registro, row: &RecordRow) -> ApiResult<SealedPerson> {
    let json = reg.open_field(&row.id, "person", &row.person_enc)?;
    serde_json::from_slice(&json).map_err(ApiError::internal)
}

fn log_read(
    conn: &mut DbConn,
    reg: &Registro,
    who: &Principal,
    action: &str,
    record_id: Option<&str>,
    purpose: Option<&str>,
) -> QueryResult<()> {
    audit::append(
        conn,
        &reg.keys(),
        Entry::by(
            who,
            action,
            record_id.map(str::to_string),
            purpose.map(|p| p.chars().take(500).collect()),
            200,
        ),
    )
    .map(|_| ())
}

/// The record `id`, unless it does not exist (404) or was deleted (`410 record_deleted`).
fn load_live(conn: &mut DbConn, id: &str) -> ApiResult<RecordRow> {
    let row = records::table
        .filter(records::id.eq(id))
        .select(RecordRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("record"))?;
    if row.deleted_at.is_some() {
        return Err(super::erasure::deleted());
    }
    Ok(row)
}

pub fn get(reg: &Registro, who: &Principal, id: &str, purpose: &str) -> ApiResult<RecordView> {
    reg.db.write(|c| -> ApiResult<RecordView> {
        let row = load_live(c, id)?;
        let sealed = open_person(reg, &row)?;
        let same: Vec<RecordRow> = records::table
            .filter(records::person_id.eq(&row.person_id))
            .filter(records::deleted_at.is_null())
            .order(records::captured_at.asc())
            .select(RecordRow::as_select())
            .load(c)?;
        let enrollments = same
            .iter()
            .map(|r| EnrollmentView {
                record_id: r.id.clone(),
                capture_id: r.capture_id.clone(),
                site: r.site.clone(),
                captured_at: rfc3339(r.captured_at),
                device_id: r.device_id.clone(),
            })
            .collect();
        let mut links: Vec<LinkView> = same
            .iter()
            .filter(|r| r.id != row.id)
            .map(|r| LinkView {
                record_id: r.id.clone(),
                kind: "same_person".into(),
                relationship: None,
            })
            .collect();
        // Companions this record declared, and records that declared this one.
        let declared: Vec<CompanionRow> = companions::table
            .filter(companions::record_id.eq(&row.id))
            .select(CompanionRow::as_select())
            .load(c)?;
        for comp in declared {
            let rid: Option<String> = records::table
                .filter(records::capture_id.eq(&comp.companion_capture_id))
                .filter(records::deleted_at.is_null())
                .select(records::id)
                .first(c)
                .optional()?;
            if let Some(rid) = rid {
                links.push(LinkView {
                    record_id: rid,
                    kind: "companion".into(),
                    relationship: Some(comp.relationship),
                });
            }
        }
        let declared_by: Vec<(String, String)> = companions::table
            .inner_join(records::table.on(records::id.eq(companions::record_id)))
            .filter(companions::companion_capture_id.eq(&row.capture_id))
            .filter(records::deleted_at.is_null())
            .select((companions::record_id, companions::relationship))
            .load(c)?;
        for (rid, rel) in declared_by {
            if !links
                .iter()
                .any(|l| l.record_id == rid && l.kind == "companion")
            {
                links.push(LinkView {
                    record_id: rid,
                    kind: "companion".into(),
                    relationship: Some(rel),
                });
            }
        }
        let pattern = format!("%\"{}\"%", row.id);
        let alerts: Vec<AlertRow> = alerts::table
            .filter(alerts::record_ids.like(pattern))
            .filter(diesel::dsl::not(alerts::id.eq_any(
                alert_withdrawals::table.select(alert_withdrawals::alert_id),
            )))
            .order(alerts::seq.desc())
            .select(AlertRow::as_select())
            .load(c)?;
        let events = super::reception::journey_of(reg, c, &row.person_id)?;
        log_read(c, reg, who, "record.read", Some(&row.id), Some(purpose))?;
        Ok(RecordView {
            record_id: row.id.clone(),
            person_id: row.person_id.clone(),
            capture_id: row.capture_id.clone(),
            site: row.site.clone(),
            captured_at: rfc3339(row.captured_at),
            age_group: row.age_group.clone(),
            person: sealed.person,
            protection: sealed.protection,
            enrollments,
            links,
            indicators: alerts
                .into_iter()
                .map(|a| AlertRef {
                    alert_id: a.id,
                    code: a.code,
                    severity: a.severity,
                    detail: a.detail,
                })
                .collect(),
            events,
        })
    })
}

#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::IntoParams)]
pub struct SearchQuery {
    pub document_number: Option<String>,
    pub phone: Option<String>,
    pub nationality: Option<String>,
    pub family_names: Option<String>,
    pub site: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// Most records one search page returns (API v1.1).
pub const SEARCH_MAX_LIMIT: i64 = 100;

/// Exact-match search. Document number, phone and family names are matched through their
/// blind indexes. A purpose is required, and each record returned is an access-log entry
/// naming it, so `GET /audit?record_id=R` finds every search that showed R.
pub fn search(
    reg: &Registro,
    who: &Principal,
    q: &SearchQuery,
    purpose: &str,
) -> ApiResult<Page<RecordSummary>> {
    let limit = clamp_limit(q.limit)?;
    if limit > SEARCH_MAX_LIMIT {
        return Err(ApiError::client(
            "invalid_query",
            "limit must be between 1 and 100 for record searches",
        ));
    }
    let purpose = Some(purpose);
    let cursor = parse_cursor(q.cursor.as_deref())?;
    let keys = reg.keys();
    let nonempty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let index = |f: IndexedField, v: &Option<String>| -> ApiResult<Option<String>> {
        match nonempty(v) {
            None => Ok(None),
            Some(v) => keys.blind_index(f, &v).map(Some).ok_or_else(|| {
                ApiError::client("invalid_query", "search value is empty after normalisation")
            }),
        }
    };
    let doc = index(IndexedField::DocumentNumber, &q.document_number)?;
    let phone = index(IndexedField::Phone, &q.phone)?;
    let family = index(IndexedField::FamilyNames, &q.family_names)?;
    let nationality = nonempty(&q.nationality);
    let site = nonempty(&q.site);
    reg.db.write(|c| -> ApiResult<Page<RecordSummary>> {
        let mut query = records::table
            .filter(records::deleted_at.is_null())
            .into_boxed();
        if let Some(d) = &doc {
            query = query.filter(records::doc_index.eq(d.clone()));
        }
        if let Some(p) = &phone {
            query = query.filter(records::phone_index.eq(p.clone()));
        }
        if let Some(f) = &family {
            query = query.filter(records::family_index.eq(f.clone()));
        }
        if let Some(n) = &nationality {
            query = query.filter(records::nationality.eq(n.clone()));
        }
        if let Some(s) = &site {
            query = query.filter(records::site.eq(s.clone()));
        }
        if let Some(cur) = cursor {
            query = query.filter(records::seq.lt(cur));
        }
        let rows: Vec<RecordRow> = query
            .order(records::seq.desc())
            .limit(limit + 1)
            .select(RecordRow::as_select())
            .load(c)?;
        let mut items = Vec::new();
        let page = Page::from_rows(rows, limit, |r| r.seq, |r| r);
        for row in page.items {
            let sealed = open_person(reg, &row)?;
            log_read(c, reg, who, "record.search", Some(&row.id), purpose)?;
            items.push(RecordSummary {
                record_id: row.id,
                person_id: row.person_id,
                site: row.site,
                captured_at: rfc3339(row.captured_at),
                given_names: sealed.person.given_names,
                family_names: sealed.person.family_names,
                date_of_birth: sealed.person.date_of_birth,
                sex: sealed.person.sex,
                nationality: sealed.person.nationality,
            });
        }
        if items.is_empty() {
            log_read(c, reg, who, "record.search", None, purpose)?;
        }
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    })
}

/// Deletes a record (admin, with a reason). The row stays as a tombstone (id, capture id, site
/// and times) so the access log keeps its references and a replay of the capture answers
/// `410 record_deleted`; everything personal goes, through the steps in
/// [`super::erasure::STEPS`]. Every node drops it from its gallery through the change sequence.
/// The reason is sealed in `deletions`; the access log names that row, never the reason.
pub fn delete(reg: &Registro, who: &Principal, id: &str, reason: &str) -> ApiResult<()> {
    let reason = reason.trim();
    if reason.is_empty() || reason.len() > 500 {
        return Err(ApiError::client(
            "reason_required",
            "a reason of 1-500 characters is required",
        ));
    }
    let seq = reg.db.write(|c| -> ApiResult<i64> {
        let row = load_live(c, id)?;
        let now = crate::db::now();
        let keys = reg.keys();
        for step in super::erasure::STEPS {
            step(c, &row)?;
        }
        let deletion_id = super::new_id("del");
        diesel::insert_into(crate::db::schema::deletions::table)
            .values((
                crate::db::schema::deletions::id.eq(&deletion_id),
                crate::db::schema::deletions::record_id.eq(id),
                crate::db::schema::deletions::reason_enc.eq(keys.seal(
                    &deletion_id,
                    "reason",
                    reason.as_bytes(),
                )?),
                crate::db::schema::deletions::deleted_by.eq(&who.actor),
                crate::db::schema::deletions::deleted_at.eq(now),
            ))
            .execute(c)?;
        super::case_evidence::erase(c, id)?;
        diesel::insert_into(changes::table)
            .values(NewChange {
                record_id: id.into(),
                kind: "deleted".into(),
                at: now,
            })
            .execute(c)?;
        audit::append(
            c,
            &keys,
            Entry::by(
                who,
                "record.delete",
                Some(id.into()),
                Some(format!("reason sealed in deletion {deletion_id}")),
                200,
            ),
        )?;
        // Under SQLite's write gate, once committed: no writer of this process sits in a
        // transaction that the checkpoint would have to wait for.
        let db = reg.db.clone();
        crate::db::after_commit("erasure_checkpoint", move || {
            super::erasure::after_commit(&db)
        });
        Ok(row.seq)
    })?;
    reg.matcher.remove(seq);
    Ok(())
}
