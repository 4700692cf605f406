//! Alerts: gathers the facts the indicator rules ([`crate::indicators`]) need, inside the
//! caller's transaction, and stores what they raise.
//!
//! **One person** is the *biometric identity*: the records connected by a confirmed
//! identity (`person_id`) or by a biometric `duplicate` match case that is pending or
//! confirmed, but not by one decided `different_person` (nor withdrawn by a deletion). It is
//! a connected component, found by walking records and cases ([`people_of`]); its
//! representative is its first-committed record. An edge decided `different_person` is
//! removed from the graph; two records decided different can still be one person through
//! other links, which is what the remaining evidence says.
//!
//! Every alert that counts records as one person remembers the match cases that held that
//! person together (`alert_links`). A `different_person` decision on one of them re-runs the
//! rules over what is left: an alert whose evidence no longer holds is withdrawn
//! (`alert_withdrawals`; `GET /alerts?status=withdrawn` lists them), and what still holds on
//! the smaller evidence is raised as a new alert.

use super::enrollment::{EnrollmentResponse, IndicatorView, SealedPerson};
use super::{new_id, Registro};
use crate::db::models::{NewAlert, NewAlertLink, NewAlertWithdrawal, RecordRow};
use crate::db::schema::{alert_links, alert_withdrawals, alerts, companions, match_cases, records};
use crate::db::DbConn;
use crate::error::{ApiError, ApiResult};
use crate::indicators::{self as rules, Declared, Flags, Link, Raised, Rec};
use chrono::NaiveDate;
use diesel::prelude::*;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::rc::Rc;

/// A person larger than this stops growing (a guard against a pathological graph; a real
/// person has a handful of records).
const MAX_PERSON_RECORDS: usize = 500;

/// The case statuses under which a `duplicate` still links its two records.
const LINKING: [&str; 2] = ["pending", "same_person"];

/// One biometric identity.
struct Person {
    rep: String,
    records: Vec<RecordRow>,
    /// The `duplicate` cases that hold it together.
    cases: BTreeSet<String>,
}

/// Biometric identities computed in one transaction, by record id.
#[derive(Default)]
struct People(HashMap<String, Rc<Person>>);

impl People {
    fn of(&mut self, conn: &mut DbConn, record_id: &str) -> ApiResult<Rc<Person>> {
        if let Some(p) = self.0.get(record_id) {
            return Ok(p.clone());
        }
        let p = Rc::new(people_of(conn, record_id)?);
        for r in &p.records {
            self.0.insert(r.id.clone(), p.clone());
        }
        self.0.entry(record_id.to_string()).or_insert(p.clone());
        Ok(p)
    }

    fn rec(&mut self, conn: &mut DbConn, row: &RecordRow) -> ApiResult<Rec> {
        let p = self.of(conn, &row.id)?;
        Ok(to_rec(row, &p.rep))
    }
}

fn to_rec(row: &RecordRow, person: &str) -> Rec {
    Rec {
        id: row.id.clone(),
        person: person.to_string(),
        captured_at: row.captured_at,
        seq: row.seq,
        site: row.site.clone(),
        is_minor: row.is_minor,
    }
}

fn live() -> records::BoxedQuery<'static, <DbConn as diesel::Connection>::Backend> {
    records::table
        .filter(records::deleted_at.is_null())
        .into_boxed()
}

/// Walks the biometric identity of `record_id` (see the module docs).
fn people_of(conn: &mut DbConn, record_id: &str) -> ApiResult<Person> {
    let mut rows: HashMap<String, RecordRow> = HashMap::new();
    let mut persons: HashSet<String> = HashSet::new();
    let mut edges: Vec<(String, String, String)> = Vec::new();
    let mut frontier = vec![record_id.to_string()];
    while !frontier.is_empty() && rows.len() < MAX_PERSON_RECORDS {
        let found: Vec<RecordRow> = live()
            .filter(records::id.eq_any(&frontier))
            .select(RecordRow::as_select())
            .load(conn)?;
        let new_persons: Vec<String> = found
            .iter()
            .map(|r| r.person_id.clone())
            .filter(|p| persons.insert(p.clone()))
            .collect();
        let mut added: Vec<String> = Vec::new();
        let same: Vec<RecordRow> = if new_persons.is_empty() {
            vec![]
        } else {
            live()
                .filter(records::person_id.eq_any(&new_persons))
                .select(RecordRow::as_select())
                .load(conn)?
        };
        for r in found.into_iter().chain(same) {
            if !rows.contains_key(&r.id) {
                added.push(r.id.clone());
                rows.insert(r.id.clone(), r);
            }
        }
        if added.is_empty() {
            break;
        }
        let cases: Vec<(String, String, String)> = match_cases::table
            .filter(match_cases::decision.eq("duplicate"))
            .filter(match_cases::status.eq_any(LINKING))
            .filter(
                match_cases::record_a
                    .eq_any(&added)
                    .or(match_cases::record_b.eq_any(&added)),
            )
            .select((
                match_cases::id,
                match_cases::record_a,
                match_cases::record_b,
            ))
            .load(conn)?;
        frontier = cases
            .iter()
            .flat_map(|(_, a, b)| [a.clone(), b.clone()])
            .filter(|id| !rows.contains_key(id))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        edges.extend(cases);
    }
    let cases = edges
        .into_iter()
        .filter(|(_, a, b)| rows.contains_key(a) && rows.contains_key(b))
        .map(|e| e.0)
        .collect();
    let mut records: Vec<RecordRow> = rows.into_values().collect();
    records.sort_by_key(|r| (r.captured_at, r.seq));
    let rep = records
        .iter()
        .min_by_key(|r| r.seq)
        .map(|r| r.id.clone())
        .unwrap_or_else(|| record_id.to_string());
    Ok(Person {
        rep,
        records,
        cases,
    })
}

/// Companion links touching any of `record_ids`, in both directions, as (this side's record
/// id, other side's record id, relationship). Links to captures not (yet) enrolled are left
/// out.
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
        let other: Option<String> = live()
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

/// The companion links of a person's records, the other side resolved to its person.
fn links(conn: &mut DbConn, people: &mut People, mine: &[String]) -> ApiResult<Vec<Link>> {
    let raw = links_of(conn, mine)?;
    let others: Vec<String> = raw.iter().map(|l| l.1.clone()).collect();
    let rows: Vec<RecordRow> = live()
        .filter(records::id.eq_any(&others))
        .select(RecordRow::as_select())
        .load(conn)?;
    let mut by_id: HashMap<String, Rec> = HashMap::new();
    for r in &rows {
        by_id.insert(r.id.clone(), people.rec(conn, r)?);
    }
    Ok(raw
        .into_iter()
        .filter_map(|(mine, other, relationship)| {
            by_id.get(&other).map(|o| Link {
                mine,
                other: o.clone(),
                relationship,
            })
        })
        .collect())
}

fn open(reg: &Registro, row: &RecordRow) -> ApiResult<SealedPerson> {
    super::records::open_person(reg, row)
}

fn declared(p: &SealedPerson) -> Declared {
    Declared {
        given_names: p.person.given_names.clone(),
        family_names: p.person.family_names.clone(),
        date_of_birth: p
            .person
            .date_of_birth
            .as_deref()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()),
        sex: p.person.sex.clone(),
        nationality: p.person.nationality.clone(),
        age_estimate: p.person.age_estimate,
    }
}

/// Every rule about one person's unity, for `person`.
fn about(
    reg: &Registro,
    conn: &mut DbConn,
    people: &mut People,
    person: &Person,
) -> ApiResult<Vec<Raised>> {
    let mut mine = Vec::new();
    for r in &person.records {
        mine.push((to_rec(r, &person.rep), declared(&open(reg, r)?)));
    }
    let ids: Vec<String> = person.records.iter().map(|r| r.id.clone()).collect();
    let links = links(conn, people, &ids)?;
    Ok(rules::about_person(&reg.config.thresholds, &mine, &links))
}

/// An alert to store and the match cases it rests on.
type Rested = (Raised, BTreeSet<String>);

/// Stores the alerts whose evidence is new (or was withdrawn and holds again); returns them.
fn store(
    conn: &mut DbConn,
    site: Option<&str>,
    raised: Vec<Rested>,
) -> ApiResult<Vec<IndicatorView>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (r, cases) in raised {
        let key = r.key();
        if !seen.insert(key.clone()) {
            continue;
        }
        let existing: Option<String> = alerts::table
            .filter(alerts::evidence_key.eq(&key))
            .select(alerts::id)
            .first(conn)
            .optional()?;
        let alert_id = match existing {
            Some(id) => {
                let withdrawn = diesel::delete(
                    alert_withdrawals::table.filter(alert_withdrawals::alert_id.eq(&id)),
                )
                .execute(conn)?;
                if withdrawn == 0 {
                    continue;
                }
                id
            }
            None => {
                let id = new_id("alert");
                let mut ids = r.records.clone();
                ids.sort();
                ids.dedup();
                diesel::insert_into(alerts::table)
                    .values(NewAlert {
                        id: id.clone(),
                        code: r.code.into(),
                        severity: r.severity.into(),
                        detail: r.detail.clone(),
                        record_ids: serde_json::to_string(&ids).map_err(ApiError::internal)?,
                        evidence_key: key,
                        site: site.map(str::to_string),
                        created_at: crate::db::now(),
                    })
                    .execute(conn)?;
                id
            }
        };
        for case_id in cases {
            diesel::insert_into(alert_links::table)
                .values(NewAlertLink {
                    alert_id: alert_id.clone(),
                    case_id,
                })
                .execute(conn)?;
        }
        let mut ids = r.records;
        ids.sort();
        ids.dedup();
        out.push(IndicatorView {
            code: r.code.into(),
            severity: r.severity.into(),
            detail: r.detail,
            related_records: ids,
        });
    }
    Ok(out)
}

/// Indicators of a freshly enrolled record (inside its transaction, after its match cases
/// are written). Adds the alerts raised to the enrollment answer.
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
    let mut people = People::default();
    let me = people.of(conn, &row.id)?;
    let rec = to_rec(&row, &me.rep);
    let own = links(conn, &mut people, std::slice::from_ref(&row.id))?;
    let mut raised: Vec<Rested> = Vec::new();
    let flags = Flags {
        documents_held_by_other: sealed.protection.documents_held_by_other,
        travel_debt: sealed.protection.travel_debt,
        unaccompanied_minor: sealed.protection.unaccompanied_minor,
    };
    let rels: Vec<String> = sealed
        .companions
        .iter()
        .map(|c| c.relationship.clone())
        .collect();
    for r in rules::declared_needs(&rec, flags, &own, &rels) {
        raised.push((r, BTreeSet::new()));
    }
    if let Some(doc) = &row.doc_index {
        let rows: Vec<RecordRow> = live()
            .filter(records::doc_index.eq(doc.clone()))
            .select(RecordRow::as_select())
            .load(conn)?;
        let sharing = rows
            .iter()
            .map(|r| people.rec(conn, r))
            .collect::<ApiResult<Vec<_>>>()?;
        raised.extend(rules::document_reuse(&rec, doc, &sharing).map(|r| (r, BTreeSet::new())));
    }
    if let Some(phone) = &row.phone_index {
        let rows: Vec<RecordRow> = live()
            .filter(records::phone_index.eq(phone.clone()))
            .select(RecordRow::as_select())
            .load(conn)?;
        let sharing = rows
            .iter()
            .map(|r| people.rec(conn, r))
            .collect::<ApiResult<Vec<_>>>()?;
        let companions: BTreeSet<String> = own.iter().map(|l| l.other.id.clone()).collect();
        raised.extend(
            rules::shared_phone(th, &rec, phone, &sharing, &companions)
                .map(|r| (r, BTreeSet::new())),
        );
    }
    // The person of this record: every rule about one person.
    for r in about(reg, conn, &mut people, &me)? {
        raised.push((r, me.cases.clone()));
    }
    // The people travelling with them: companion patterns from their side.
    let mut done: BTreeSet<String> = BTreeSet::from([me.rep.clone()]);
    for l in &own {
        if !done.insert(l.other.person.clone()) {
            continue;
        }
        let other = people.of(conn, &l.other.id)?;
        let ids: Vec<String> = other.records.iter().map(|r| r.id.clone()).collect();
        let recs: Vec<Rec> = other
            .records
            .iter()
            .map(|r| to_rec(r, &other.rep))
            .collect();
        let their = links(conn, &mut people, &ids)?;
        if let Some(r) = rules::companion_patterns(th, &recs, &their) {
            raised.push((r, other.cases.clone()));
        }
    }
    response.indicators = store(conn, Some(&row.site), raised)?;
    Ok(response)
}

/// Indicators after an investigator's decision on case `case_id` between records `a` and
/// `b` (inside the decision's transaction, after the case and identities are updated).
pub fn after_decision(
    reg: &Registro,
    conn: &mut DbConn,
    case_id: &str,
    a: &str,
    b: &str,
    decision: &str,
) -> ApiResult<()> {
    let site: Option<String> = records::table
        .filter(records::id.eq(a))
        .select(records::site)
        .first(conn)
        .optional()?;
    let mut people = People::default();
    let pa = people.of(conn, a)?;
    let mut raised: Vec<Rested> = about(reg, conn, &mut people, &pa)?
        .into_iter()
        .map(|r| (r, pa.cases.clone()))
        .collect();
    if decision == "different_person" {
        let pb = people.of(conn, b)?;
        if pb.rep != pa.rep {
            raised.extend(
                about(reg, conn, &mut people, &pb)?
                    .into_iter()
                    .map(|r| (r, pb.cases.clone())),
            );
        }
        // Alerts that counted a and b as one person through this case, and whose evidence
        // does not hold without it, are withdrawn.
        let holds: HashSet<String> = raised.iter().map(|r| r.0.key()).collect();
        let rested_ids: Vec<String> = alert_links::table
            .filter(alert_links::case_id.eq(case_id))
            .select(alert_links::alert_id)
            .load(conn)?;
        let rested: Vec<(String, String)> = alerts::table
            .filter(alerts::id.eq_any(&rested_ids))
            .select((alerts::id, alerts::evidence_key))
            .load(conn)?;
        let now = crate::db::now();
        for (alert_id, key) in rested {
            if holds.contains(&key) {
                continue;
            }
            let already: i64 = alert_withdrawals::table
                .filter(alert_withdrawals::alert_id.eq(&alert_id))
                .count()
                .get_result(conn)?;
            if already == 0 {
                diesel::insert_into(alert_withdrawals::table)
                    .values(NewAlertWithdrawal {
                        alert_id,
                        case_id: case_id.to_string(),
                        at: now,
                    })
                    .execute(conn)?;
            }
        }
    }
    store(conn, site.as_deref(), raised)?;
    Ok(())
}
