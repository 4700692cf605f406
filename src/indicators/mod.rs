//! Trafficking and smuggling indicators over records, companions and identity links.
//!
//! Each indicator is an alert with a stable code, a severity, a human explanation that names
//! no personal data, and the records that are its evidence. Indicators run inside the
//! enrollment transaction (for what the new record changes) and after every match decision
//! (for what a new identity link changes). An alert's *evidence key* is its code plus a digest
//! of the evidence (the sorted record ids, or the indexed value and the identities sharing it),
//! unique in the database: the same evidence never raises the same alert twice, while new
//! evidence (a fourth person on a shared phone) raises a new one.
//!
//! Definitions (thresholds from [`Thresholds`], configurable):
//! * `documents_held_by_other` / `travel_debt` — declared at enrollment (protection flags).
//! * `unaccompanied_minor` — declared, or a minor with no parent, guardian, sibling, spouse or
//!   other relative among the companions declared by or naming them.
//! * `document_reuse` — one document number (blind index) on records of different identities,
//!   leaving out records the biometrics already flagged as the same person (`duplicate`).
//! * `shared_phone` — one phone (blind index) on at least `shared_phone_people` identities
//!   that are not declared companions of each other.
//! * `adult_with_many_minors` — an adult identity registered with at least `adult_minors`
//!   different minors who are not declared their children, wards or siblings.
//! * `minor_with_many_adults` — a minor identity registered with at least `minor_adults`
//!   different adults.
//! * `repeat_crossing` — one identity (confirmed links plus biometric `duplicate`s) enrolled at
//!   least `repeat_crossings` times within `repeat_window_days`: a guide's pattern.
//! * `identity_change` — records confirmed as one person whose name, date of birth, sex or
//!   nationality disagree (the EU interoperability "red link").
//! * `age_inconsistency` — records of one person whose declared ages differ from the passage
//!   of time by more than `age_tolerance_years`, crossing the line between minor and adult.

pub mod journey;

use crate::db::models::{NewAlert, RecordRow};
use crate::db::schema::{alerts, companions, records};
use crate::db::DbConn;
use crate::error::{ApiError, ApiResult};
use crate::service::enrollment::{age_at, EnrollmentResponse, IndicatorView, SealedPerson};
use crate::service::{new_id, Registro};
use chrono::NaiveDate;
use diesel::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};

/// Thresholds of the indicators, from configuration.
#[derive(Debug, Clone)]
pub struct Thresholds {
    pub shared_phone_people: usize,
    pub adult_minors: usize,
    pub minor_adults: usize,
    pub repeat_crossings: usize,
    pub repeat_window_days: i64,
    pub age_tolerance_years: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            shared_phone_people: 3,
            adult_minors: 3,
            minor_adults: 3,
            repeat_crossings: 3,
            repeat_window_days: 90,
            age_tolerance_years: 2,
        }
    }
}

const FAMILY: [&str; 5] = ["parent", "guardian", "sibling", "spouse", "other_relative"];
const CHILD_LINKS: [&str; 3] = ["parent", "guardian", "sibling"];

struct Raised {
    code: &'static str,
    severity: &'static str,
    detail: String,
    records: Vec<String>,
    evidence: String,
}

fn digest(parts: &[String]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// Stores the alerts whose evidence is new; returns those stored.
fn store(
    conn: &mut DbConn,
    site: Option<&str>,
    raised: Vec<Raised>,
) -> ApiResult<Vec<IndicatorView>> {
    let mut out = Vec::new();
    for r in raised {
        let key = format!("{}:{}", r.code, r.evidence);
        let exists: i64 = alerts::table
            .filter(alerts::evidence_key.eq(&key))
            .count()
            .get_result(conn)?;
        if exists > 0 {
            continue;
        }
        let mut ids = r.records.clone();
        ids.sort();
        ids.dedup();
        diesel::insert_into(alerts::table)
            .values(NewAlert {
                id: new_id("alert"),
                code: r.code.into(),
                severity: r.severity.into(),
                detail: r.detail.clone(),
                record_ids: serde_json::to_string(&ids).map_err(ApiError::internal)?,
                evidence_key: key,
                site: site.map(str::to_string),
                created_at: crate::db::now(),
            })
            .execute(conn)?;
        out.push(IndicatorView {
            code: r.code.into(),
            severity: r.severity.into(),
            detail: r.detail,
            related_records: ids,
        });
    }
    Ok(out)
}

fn live(
    conn: &mut DbConn,
) -> records::BoxedQuery<'static, <DbConn as diesel::Connection>::Backend> {
    let _ = conn;
    records::table
        .filter(records::deleted_at.is_null())
        .into_boxed()
}

/// Companion links touching any of `record_ids`, in both directions, as
/// (this side's record id, other side's record id, relationship). Links to captures not
/// (yet) enrolled are left out.
fn links_of(conn: &mut DbConn, record_ids: &[String]) -> ApiResult<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    let captures: Vec<(String, String)> = records::table
        .filter(records::id.eq_any(record_ids))
        .select((records::id, records::capture_id))
        .load(conn)?;
    let declared: Vec<(String, String, String)> = companions::table
        .filter(companions::record_id.eq_any(record_ids))
        .select((
            companions::record_id,
            companions::companion_capture_id,
            companions::relationship,
        ))
        .load(conn)?;
    for (rid, cap, rel) in declared {
        let other: Option<String> = live(conn)
            .filter(records::capture_id.eq(cap))
            .select(records::id)
            .first(conn)
            .optional()?;
        if let Some(o) = other {
            out.push((rid, o, rel));
        }
    }
    let caps: Vec<String> = captures.iter().map(|c| c.1.clone()).collect();
    let naming: Vec<(String, String, String)> = companions::table
        .filter(companions::companion_capture_id.eq_any(&caps))
        .select((
            companions::companion_capture_id,
            companions::record_id,
            companions::relationship,
        ))
        .load(conn)?;
    for (cap, other, rel) in naming {
        if let Some((rid, _)) = captures.iter().find(|c| c.1 == cap) {
            out.push((rid.clone(), other, rel));
        }
    }
    Ok(out)
}

fn record_rows(conn: &mut DbConn, ids: &[String]) -> ApiResult<Vec<RecordRow>> {
    Ok(live(conn)
        .filter(records::id.eq_any(ids))
        .select(RecordRow::as_select())
        .load(conn)?)
}

fn identity_records(conn: &mut DbConn, person_id: &str) -> ApiResult<Vec<RecordRow>> {
    Ok(live(conn)
        .filter(records::person_id.eq(person_id.to_string()))
        .order(records::captured_at.asc())
        .select(RecordRow::as_select())
        .load(conn)?)
}

/// Indicators of a freshly enrolled record (inside its transaction). Adds the alerts raised
/// to the enrollment answer.
pub fn on_enrollment(
    reg: &Registro,
    conn: &mut DbConn,
    record_id: &str,
    mut response: EnrollmentResponse,
) -> ApiResult<EnrollmentResponse> {
    let th = &reg.config.thresholds;
    let row: RecordRow = records::table
        .filter(records::id.eq(record_id))
        .select(RecordRow::as_select())
        .first(conn)?;
    let sealed = open(reg, &row)?;
    let mut raised = Vec::new();
    if sealed.protection.documents_held_by_other {
        raised.push(Raised {
            code: "documents_held_by_other",
            severity: "high",
            detail: "the person declared that someone else holds their identity documents".into(),
            records: vec![row.id.clone()],
            evidence: row.id.clone(),
        });
    }
    if sealed.protection.travel_debt {
        raised.push(Raised {
            code: "travel_debt",
            severity: "high",
            detail: "the person declared a debt for their journey (possible debt bondage)".into(),
            records: vec![row.id.clone()],
            evidence: row.id.clone(),
        });
    }
    let links = links_of(conn, std::slice::from_ref(&row.id))?;
    if row.is_minor == Some(true) {
        let family = links
            .iter()
            .any(|(_, _, rel)| FAMILY.contains(&rel.as_str()))
            || sealed
                .companions
                .iter()
                .any(|c| FAMILY.contains(&c.relationship.as_str()));
        if sealed.protection.unaccompanied_minor || !family {
            raised.push(Raised {
                code: "unaccompanied_minor",
                severity: "high",
                detail: if sealed.protection.unaccompanied_minor {
                    "a minor declared as unaccompanied".into()
                } else {
                    "a minor registered with no parent, guardian or relative among their companions"
                        .into()
                },
                records: vec![row.id.clone()],
                evidence: row.id.clone(),
            });
        }
    }
    let same_person: BTreeSet<String> = response
        .duplicates
        .iter()
        .filter(|d| d.decision == "duplicate")
        .map(|d| d.record_id.clone())
        .collect();
    if let Some(doc) = &row.doc_index {
        let others: Vec<(String, String)> = live(conn)
            .filter(records::doc_index.eq(doc.clone()))
            .filter(records::person_id.ne(row.person_id.clone()))
            .select((records::id, records::person_id))
            .load(conn)?;
        let others: Vec<_> = others
            .into_iter()
            .filter(|(id, _)| !same_person.contains(id))
            .collect();
        if !others.is_empty() {
            let mut persons: Vec<String> = others.iter().map(|o| o.1.clone()).collect();
            persons.push(row.person_id.clone());
            persons.sort();
            persons.dedup();
            let mut ids: Vec<String> = others.iter().map(|o| o.0.clone()).collect();
            ids.push(row.id.clone());
            raised.push(Raised {
                code: "document_reuse",
                severity: "high",
                detail: format!(
                    "one document number is declared by {} different people",
                    persons.len()
                ),
                records: ids,
                evidence: digest(&[vec![doc.clone()], persons].concat()),
            });
        }
    }
    if let Some(phone) = &row.phone_index {
        let sharing: Vec<(String, String)> = live(conn)
            .filter(records::phone_index.eq(phone.clone()))
            .select((records::id, records::person_id))
            .load(conn)?;
        let companions: BTreeSet<String> = links.iter().map(|l| l.1.clone()).collect();
        let unrelated: Vec<&(String, String)> = sharing
            .iter()
            .filter(|(id, _)| {
                *id == row.id || (!companions.contains(id) && !same_person.contains(id))
            })
            .collect();
        let persons: BTreeSet<String> = unrelated.iter().map(|s| s.1.clone()).collect();
        if persons.len() >= th.shared_phone_people {
            let persons: Vec<String> = persons.into_iter().collect();
            raised.push(Raised {
                code: "shared_phone",
                severity: "medium",
                detail: format!(
                    "one phone number is declared by {} unrelated people",
                    persons.len()
                ),
                records: unrelated.iter().map(|s| s.0.clone()).collect(),
                evidence: digest(&[vec![phone.clone()], persons].concat()),
            });
        }
    }
    // Companion patterns, from the point of view of every identity this enrollment touches.
    let mut touched: Vec<String> = vec![row.person_id.clone()];
    touched.extend(
        record_rows(conn, &links.iter().map(|l| l.1.clone()).collect::<Vec<_>>())?
            .into_iter()
            .map(|r| r.person_id),
    );
    touched.sort();
    touched.dedup();
    for pid in touched {
        raised.extend(companion_patterns(conn, th, &pid)?);
    }
    raised.extend(repeat_crossing(conn, th, &row, &same_person)?);
    response.indicators = store(conn, Some(&row.site), raised)?;
    Ok(response)
}

fn open(reg: &Registro, row: &RecordRow) -> ApiResult<SealedPerson> {
    crate::service::records::open_person(reg, row)
}

/// `adult_with_many_minors` and `minor_with_many_adults` for one identity.
fn companion_patterns(
    conn: &mut DbConn,
    th: &Thresholds,
    person_id: &str,
) -> ApiResult<Vec<Raised>> {
    let mine = identity_records(conn, person_id)?;
    let Some(latest) = mine.last() else {
        return Ok(vec![]);
    };
    let ids: Vec<String> = mine.iter().map(|r| r.id.clone()).collect();
    let links = links_of(conn, &ids)?;
    let others = record_rows(conn, &links.iter().map(|l| l.1.clone()).collect::<Vec<_>>())?;
    let by_id: HashMap<&str, &RecordRow> = others.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut out = Vec::new();
    match latest.is_minor {
        Some(false) => {
            let mut minors: BTreeSet<String> = BTreeSet::new();
            let mut evidence_records: Vec<String> = ids.clone();
            for (_, other, rel) in &links {
                if let Some(o) = by_id.get(other.as_str()) {
                    if o.is_minor == Some(true)
                        && !CHILD_LINKS.contains(&rel.as_str())
                        && o.person_id != person_id
                    {
                        minors.insert(o.person_id.clone());
                        evidence_records.push(o.id.clone());
                    }
                }
            }
            if minors.len() >= th.adult_minors {
                let persons: Vec<String> = minors.into_iter().collect();
                out.push(Raised {
                    code: "adult_with_many_minors",
                    severity: "high",
                    detail: format!(
                        "one adult registered with {} different minors who are not declared their children or siblings",
                        persons.len()
                    ),
                    records: evidence_records,
                    evidence: digest(&[vec![person_id.to_string()], persons].concat()),
                });
            }
        }
        Some(true) => {
            let mut adults: BTreeSet<String> = BTreeSet::new();
            let mut evidence_records: Vec<String> = ids.clone();
            for (_, other, _) in &links {
                if let Some(o) = by_id.get(other.as_str()) {
                    if o.is_minor == Some(false) && o.person_id != person_id {
                        adults.insert(o.person_id.clone());
                        evidence_records.push(o.id.clone());
                    }
                }
            }
            if adults.len() >= th.minor_adults {
                let persons: Vec<String> = adults.into_iter().collect();
                out.push(Raised {
                    code: "minor_with_many_adults",
                    severity: "high",
                    detail: format!(
                        "one minor registered with {} different adults",
                        persons.len()
                    ),
                    records: evidence_records,
                    evidence: digest(&[vec![person_id.to_string()], persons].concat()),
                });
            }
        }
        None => {}
    }
    Ok(out)
}

/// `repeat_crossing` for the identity of `row`, counting biometric duplicates as the same
/// person.
fn repeat_crossing(
    conn: &mut DbConn,
    th: &Thresholds,
    row: &RecordRow,
    same_person: &BTreeSet<String>,
) -> ApiResult<Vec<Raised>> {
    let mut visits = identity_records(conn, &row.person_id)?;
    if !same_person.is_empty() {
        let dup_rows = record_rows(conn, &same_person.iter().cloned().collect::<Vec<_>>())?;
        for d in dup_rows {
            visits.extend(identity_records(conn, &d.person_id)?);
        }
    }
    visits.sort_by_key(|r| (r.captured_at, r.seq));
    visits.dedup_by(|a, b| a.id == b.id);
    let window = chrono::Duration::days(th.repeat_window_days);
    let recent: Vec<&RecordRow> = visits
        .iter()
        .filter(|r| (row.captured_at - r.captured_at).abs() <= window)
        .collect();
    if recent.len() < th.repeat_crossings {
        return Ok(vec![]);
    }
    let ids: Vec<String> = recent.iter().map(|r| r.id.clone()).collect();
    let sites: BTreeSet<&str> = recent.iter().map(|r| r.site.as_str()).collect();
    Ok(vec![Raised {
        code: "repeat_crossing",
        severity: "medium",
        detail: format!(
            "one person enrolled {} times at {} site(s) within {} days",
            recent.len(),
            sites.len(),
            th.repeat_window_days
        ),
        evidence: digest(&ids),
        records: ids,
    }])
}

/// Reads one comparable biographic field of a person.
type FieldOf = fn(&SealedPerson) -> Option<String>;

fn norm_name(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(|v| {
            v.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_uppercase()
        })
        .filter(|v| !v.is_empty())
}

/// Indicators after an investigator's decision on a pair.
pub fn after_decision(
    reg: &Registro,
    conn: &mut DbConn,
    a: &str,
    b: &str,
    decision: &str,
) -> ApiResult<()> {
    if decision != "same_person" {
        return Ok(());
    }
    let th = reg.config.thresholds.clone();
    let row: RecordRow = records::table
        .filter(records::id.eq(a))
        .select(RecordRow::as_select())
        .first(conn)?;
    let members = identity_records(conn, &row.person_id)?;
    let people: Vec<(RecordRow, SealedPerson)> = members
        .into_iter()
        .map(|r| open(reg, &r).map(|p| (r, p)))
        .collect::<ApiResult<_>>()?;
    let mut raised = Vec::new();
    let ids: Vec<String> = people.iter().map(|p| p.0.id.clone()).collect();
    let mut differing = Vec::new();
    let fields: [(&str, FieldOf); 5] = [
        ("given names", |p| norm_name(&p.person.given_names)),
        ("family names", |p| norm_name(&p.person.family_names)),
        ("date of birth", |p| p.person.date_of_birth.clone()),
        ("sex", |p| p.person.sex.clone()),
        ("nationality", |p| p.person.nationality.clone()),
    ];
    for (name, get) in fields {
        let values: BTreeSet<String> = people.iter().filter_map(|p| get(&p.1)).collect();
        if values.len() > 1 {
            differing.push(name);
        }
    }
    if !differing.is_empty() {
        raised.push(Raised {
            code: "identity_change",
            severity: "high",
            detail: format!(
                "records confirmed as one person disagree on: {}",
                differing.join(", ")
            ),
            evidence: digest(
                &[
                    ids.clone(),
                    differing.iter().map(|s| s.to_string()).collect(),
                ]
                .concat(),
            ),
            records: ids.clone(),
        });
    }
    // Declared ages against the passage of time.
    let ages: Vec<(&RecordRow, i64)> = people
        .iter()
        .filter_map(|(r, p)| {
            let at = r.captured_at.date();
            let age = match p
                .person
                .date_of_birth
                .as_deref()
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            {
                Some(dob) => Some(age_at(dob, at)),
                None => p.person.age_estimate,
            };
            age.map(|a| (r, a))
        })
        .collect();
    'outer: for (i, (r1, a1)) in ages.iter().enumerate() {
        for (r2, a2) in ages.iter().skip(i + 1) {
            let years = (r2.captured_at - r1.captured_at).num_days() as f64 / 365.25;
            let expected = *a1 as f64 + years;
            let crosses = (*a1 < 18) != (*a2 < 18);
            if crosses && (expected - *a2 as f64).abs() > th.age_tolerance_years as f64 {
                let pair = vec![r1.id.clone(), r2.id.clone()];
                raised.push(Raised {
                    code: "age_inconsistency",
                    severity: "high",
                    detail: format!(
                        "declared as a minor at one visit and an adult at another, {:.1} years apart in declared age beyond the time elapsed",
                        (expected - *a2 as f64).abs()
                    ),
                    evidence: digest(&pair),
                    records: pair,
                });
                break 'outer;
            }
        }
    }
    if let Some(latest) = people.last() {
        raised.extend(repeat_crossing(conn, &th, &latest.0, &BTreeSet::new())?);
        raised.extend(companion_patterns(conn, &th, &latest.0.person_id)?);
    }
    let _ = b;
    store(conn, Some(&row.site), raised)?;
    Ok(())
}
