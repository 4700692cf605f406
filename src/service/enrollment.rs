//! Enrollment: validate, extract, search, decide, store — one transaction, idempotent by
//! `capture_id`.

use super::audit::{self, Entry};
use super::capture::{self, FaceBox, FaceQualityView, FingerMeasuresView};
use super::matching::{validate_biometrics, Candidate, Extracted, FingerInput};
use super::{new_id, Principal, Registro};
use crate::crypto::IndexedField;
use crate::db::models::{NewChange, NewCompanion, NewMatchCase, NewRecord};
use crate::db::schema::{changes, companions, match_cases, records};
use crate::db::DbConn;
use crate::error::{ApiError, ApiResult};
use chrono::{Datelike, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Document {
    #[serde(rename = "type")]
    pub doc_type: Option<String>,
    pub number: Option<String>,
    pub issuing_country: Option<String>,
}

/// Declared biographic data. Everything optional; sealed at rest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Person {
    pub given_names: Option<String>,
    pub family_names: Option<String>,
    pub sex: Option<String>,
    pub date_of_birth: Option<String>,
    pub age_estimate: Option<i64>,
    pub nationality: Option<String>,
    pub document: Option<Document>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Companion {
    pub capture_id: String,
    pub relationship: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Protection {
    #[serde(default)]
    pub documents_held_by_other: bool,
    #[serde(default)]
    pub travel_debt: bool,
    #[serde(default)]
    pub unaccompanied_minor: bool,
}

/// `POST /api/v1/enrollments` body (API.md).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct EnrollmentRequest {
    pub capture_id: String,
    pub captured_at: Option<String>,
    pub site: Option<String>,
    #[serde(default)]
    pub person: Person,
    #[serde(default)]
    pub companions: Vec<Companion>,
    #[serde(default)]
    pub protection: Protection,
    /// Base64 JPEG or PNG, a frontal face.
    pub photo: Option<String>,
    #[serde(default)]
    pub fingerprints: Vec<FingerInput>,
    /// Which face of a photo with several to use (otherwise `422 multiple_faces`).
    pub face_box: Option<FaceBox>,
}

/// What is sealed in `records.person_enc`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealedPerson {
    pub person: Person,
    pub protection: Protection,
    pub companions: Vec<Companion>,
}

/// A person's three blind indexes (document number, phone, family names) under `keys`; the
/// record's `doc_index`, `phone_index` and `family_index` columns.
pub fn blind_indexes(keys: &crate::crypto::KeyRing, p: &Person) -> [Option<String>; 3] {
    [
        p.document
            .as_ref()
            .and_then(|d| d.number.as_deref())
            .and_then(|n| keys.blind_index(IndexedField::DocumentNumber, n)),
        p.phone
            .as_deref()
            .and_then(|n| keys.blind_index(IndexedField::Phone, n)),
        p.family_names
            .as_deref()
            .and_then(|n| keys.blind_index(IndexedField::FamilyNames, n)),
    ]
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FingerQuality {
    pub position: u8,
    pub minutiae: usize,
    /// Accepted below a soft limit: retake if possible; the evidence counts for less.
    #[serde(default)]
    pub low_quality: bool,
    /// The capture measures, each with `pass` (v1.1).
    #[serde(default)]
    pub measures: Option<FingerMeasuresView>,
}

/// Capture quality (API.md; v1.1 adds the measures, the flags and `retake`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quality {
    /// Overall face quality in [0, 1] (v1).
    pub face: Option<f32>,
    pub fingers: Vec<FingerQuality>,
    /// The face's capture measures, each with `pass`.
    #[serde(default)]
    pub face_measures: Option<Box<FaceQualityView>>,
    /// What the scanner should retake: `face`, `finger:{position}`; empty when nothing.
    #[serde(default)]
    pub retake: Vec<String>,
}

impl Quality {
    /// The `quality` answer for an extracted (and checked) submission.
    pub fn of(ex: &Extracted, limits: &crate::biometrics::quality::CaptureLimits) -> Quality {
        Quality {
            face: ex.face.as_ref().map(|f| f.quality),
            fingers: ex
                .fingers
                .iter()
                .enumerate()
                .map(|(i, f)| FingerQuality {
                    position: f.position,
                    minutiae: f.minutiae,
                    low_quality: f.low_quality,
                    measures: capture::finger_view(ex, i, limits),
                })
                .collect(),
            face_measures: capture::face_view(ex, limits).map(Box::new),
            retake: capture::retake(ex),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DuplicateView {
    pub record_id: String,
    pub score: f64,
    pub face_score: Option<f64>,
    pub finger_score: Option<f64>,
    pub decision: String,
    pub case_id: Option<String>,
    /// Per-modality and per-finger evidence (docs/FUSION.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<crate::service::evidence::EvidenceView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IndicatorView {
    pub code: String,
    pub severity: String,
    pub detail: String,
    pub related_records: Vec<String>,
}

/// The enrollment answer (API.md); stored verbatim so a retry gets the same body.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnrollmentResponse {
    pub record_id: String,
    pub capture_id: String,
    pub status: String,
    /// The identity this record belongs to (shared by records confirmed as the same person).
    pub person_id: String,
    pub quality: Quality,
    pub duplicates: Vec<DuplicateView>,
    pub indicators: Vec<IndicatorView>,
}

/// A validated request: everything checked before any work or write.
pub struct Valid {
    pub capture_id: String,
    pub captured_at: NaiveDateTime,
    pub site: String,
    pub sealed: SealedPerson,
    pub sex: Option<String>,
    pub nationality: Option<String>,
    pub age: Option<i64>,
    pub photo: Option<Vec<u8>>,
    pub fingers: Vec<FingerInput>,
    pub face_box: Option<[f32; 4]>,
}

fn bad(code: &'static str, msg: &str) -> ApiError {
    ApiError::client(code, msg)
}

pub fn validate_capture_id(id: &str) -> ApiResult<()> {
    if id.is_empty()
        || id.len() > 128
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        return Err(bad(
            "invalid_capture_id",
            "capture_id must be 1-128 characters of [A-Za-z0-9-_.:]",
        ));
    }
    Ok(())
}

pub fn validate_site(site: &str) -> ApiResult<()> {
    if site.is_empty()
        || site.len() > 64
        || !site
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    {
        return Err(bad(
            "invalid_site",
            "site must be 1-64 characters of [A-Za-z0-9-_]",
        ));
    }
    Ok(())
}

fn valid_country(c: &str) -> bool {
    c.len() == 3 && c.chars().all(|c| c.is_ascii_uppercase())
}

fn clean_name(code: &'static str, v: &Option<String>) -> ApiResult<Option<String>> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) if s.chars().count() > 200 || s.chars().any(char::is_control) => {
            Err(bad(code, "names must be at most 200 printable characters"))
        }
        Some(s) => Ok(Some(s.to_string())),
    }
}

pub use crate::indicators::age_at;

pub fn age_group(age: Option<i64>) -> &'static str {
    match age {
        None => "unknown",
        Some(a) if a < 5 => "0-4",
        Some(a) if a < 12 => "5-11",
        Some(a) if a < 18 => "12-17",
        Some(a) if a < 60 => "18-59",
        Some(_) => "60+",
    }
}

const RELATIONSHIPS: [&str; 7] = [
    "parent",
    "guardian",
    "sibling",
    "spouse",
    "other_relative",
    "unrelated",
    "unknown",
];
const DOC_TYPES: [&str; 4] = ["passport", "id_card", "birth_certificate", "none"];

/// Checks every field before anything is done, so a rejected request changes nothing.
pub fn validate(req: EnrollmentRequest, principal: &Principal) -> ApiResult<Valid> {
    validate_capture_id(&req.capture_id)?;
    let now = crate::db::now();
    let captured_at = match req.captured_at.as_deref() {
        None | Some("") => now,
        Some(s) => {
            let t = chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|_| {
                    bad(
                        "invalid_captured_at",
                        "captured_at must be an RFC 3339 time",
                    )
                })?
                .naive_utc();
            if t.year() < 2000 {
                return Err(bad("invalid_captured_at", "captured_at is implausibly old"));
            }
            super::trust::time_ok(None, t, now)?;
            chrono::DateTime::from_timestamp(t.and_utc().timestamp(), 0)
                .map(|d| d.naive_utc())
                .unwrap_or(t)
        }
    };
    let site = match (req.site, &principal.site) {
        (Some(s), _) if !s.is_empty() => s,
        (_, Some(device_site)) => device_site.clone(),
        _ => return Err(bad("invalid_site", "site is required")),
    };
    validate_site(&site)?;

    let p = req.person;
    let sex = match p.sex.as_deref() {
        None | Some("") => None,
        Some(s @ ("F" | "M" | "X")) => Some(s.to_string()),
        Some(_) => return Err(bad("invalid_sex", "sex must be F, M or X")),
    };
    let dob = match p.date_of_birth.as_deref() {
        None | Some("") => None,
        Some(s) => {
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| bad("invalid_date_of_birth", "date_of_birth must be YYYY-MM-DD"))?;
            if d > captured_at.date() || d.year() < 1900 {
                return Err(bad(
                    "invalid_date_of_birth",
                    "date_of_birth is in the future or before 1900",
                ));
            }
            Some(d)
        }
    };
    if let Some(a) = p.age_estimate {
        if !(0..=120).contains(&a) {
            return Err(bad("invalid_age_estimate", "age_estimate must be 0-120"));
        }
    }
    let nationality = match p.nationality.as_deref() {
        None | Some("") => None,
        Some(n) if valid_country(n) => Some(n.to_string()),
        Some(_) => {
            return Err(bad(
                "invalid_nationality",
                "nationality must be ISO 3166-1 alpha-3, upper case",
            ))
        }
    };
    let document = match p.document {
        None => None,
        Some(d) => {
            if let Some(t) = d.doc_type.as_deref() {
                if !DOC_TYPES.contains(&t) {
                    return Err(bad(
                        "invalid_document",
                        "document.type must be passport, id_card, birth_certificate or none",
                    ));
                }
            }
            if let Some(c) = d.issuing_country.as_deref() {
                if !c.is_empty() && !valid_country(c) {
                    return Err(bad(
                        "invalid_document",
                        "document.issuing_country must be ISO 3166-1 alpha-3",
                    ));
                }
            }
            if let Some(n) = d.number.as_deref() {
                if n.len() > 64 || n.chars().any(char::is_control) {
                    return Err(bad(
                        "invalid_document",
                        "document.number must be at most 64 printable characters",
                    ));
                }
            }
            Some(d)
        }
    };
    let phone = match p.phone.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(ph) => {
            if ph.len() > 32
                || !ph
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')'))
                || !ph.chars().any(|c| c.is_ascii_digit())
            {
                return Err(bad(
                    "invalid_phone",
                    "phone must be digits with an optional + and separators",
                ));
            }
            Some(ph.to_string())
        }
    };
    if req.companions.len() > 50 {
        return Err(bad("invalid_companions", "at most 50 companions"));
    }
    for c in &req.companions {
        validate_capture_id(&c.capture_id)
            .map_err(|_| bad("invalid_companions", "companion capture_id is malformed"))?;
        if !RELATIONSHIPS.contains(&c.relationship.as_str()) {
            return Err(bad("invalid_relationship", "relationship must be one of parent, guardian, sibling, spouse, other_relative, unrelated, unknown"));
        }
    }
    let photo = validate_biometrics(req.photo.as_deref(), &req.fingerprints)?;
    let face_box = capture::face_box(req.face_box.as_ref(), photo.is_some())?;
    let age = dob
        .map(|d| age_at(d, captured_at.date()))
        .or(p.age_estimate);
    let person = Person {
        given_names: clean_name("invalid_name", &p.given_names)?,
        family_names: clean_name("invalid_name", &p.family_names)?,
        sex: sex.clone(),
        date_of_birth: dob.map(|d| d.format("%Y-%m-%d").to_string()),
        age_estimate: p.age_estimate,
        nationality: nationality.clone(),
        document,
        phone,
    };
    Ok(Valid {
        capture_id: req.capture_id,
        captured_at,
        site,
        sealed: SealedPerson {
            person,
            protection: req.protection,
            companions: req.companions,
        },
        sex,
        nationality,
        age,
        photo,
        fingers: req.fingerprints,
        face_box,
    })
}

/// The stored answer for a capture id, if that capture was enrolled.
pub fn stored_answer(conn: &mut DbConn, capture_id: &str) -> QueryResult<Option<(String, String)>> {
    records::table
        .filter(records::capture_id.eq(capture_id))
        .select((records::id, records::response_json))
        .first(conn)
        .optional()
}

/// A candidate resolved to its record and identity.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub record_id: String,
    pub person_id: String,
    pub cand: Candidate,
    pub decision: &'static str,
}

/// Maps gallery hits to records, keeps one (the best) per identity, drops pairs an
/// investigator already decided are different people, and decides each: the one decision
/// rule of enrollment, batches, identify and check-in (`Config::decisions`,
/// [`crate::biometrics::fusion::DecisionRule::decide`]). `gallery` is the number of records
/// the probe was compared with: the galleries searched plus those compared in flight
/// ([`super::inflight::Window::gallery`]); it counts identities conservatively (an identity
/// with several records counts several times).
pub fn resolve(
    reg: &Registro,
    conn: &mut DbConn,
    cands: Vec<Candidate>,
    gallery: usize,
    exclude_person: Option<&str>,
    probe_record: Option<&str>,
) -> QueryResult<Vec<Resolved>> {
    if cands.is_empty() {
        return Ok(vec![]);
    }
    let keys: Vec<i64> = cands.iter().map(|c| c.key).collect();
    let rows: Vec<(i64, String, String)> = records::table
        .filter(records::seq.eq_any(&keys))
        .filter(records::deleted_at.is_null())
        .select((records::seq, records::id, records::person_id))
        .load(conn)?;
    let by_seq: HashMap<i64, (String, String)> =
        rows.into_iter().map(|(s, i, p)| (s, (i, p))).collect();
    let mut different: Vec<(String, String)> = vec![];
    if let Some(probe) = probe_record {
        different = match_cases::table
            .filter(match_cases::status.eq("different_person"))
            .filter(
                match_cases::record_a
                    .eq(probe)
                    .or(match_cases::record_b.eq(probe)),
            )
            .select((match_cases::record_a, match_cases::record_b))
            .load(conn)?;
    }
    // Records per identity: an identity's best record is the best of that many (fusion).
    let persons: Vec<&String> = by_seq.values().map(|(_, p)| p).collect();
    let mut records_of: HashMap<String, u32> = HashMap::new();
    for p in records::table
        .filter(records::person_id.eq_any(&persons))
        .filter(records::deleted_at.is_null())
        .select(records::person_id)
        .load::<String>(conn)?
    {
        *records_of.entry(p).or_default() += 1;
    }
    let mut cands: Vec<Candidate> = cands
        .into_iter()
        .map(|c| {
            let m = by_seq
                .get(&c.key)
                .and_then(|(_, p)| records_of.get(p))
                .copied()
                .unwrap_or(1);
            crate::service::evidence::for_identity(c, m)
        })
        .collect();
    cands.sort_by(|a, b| a.ln_p.total_cmp(&b.ln_p).then(a.key.cmp(&b.key)));
    let mut seen_person = std::collections::HashSet::new();
    let mut out = Vec::new();
    for c in cands {
        let Some((rid, pid)) = by_seq.get(&c.key) else {
            continue;
        };
        if Some(pid.as_str()) == exclude_person || !seen_person.insert(pid.clone()) {
            continue;
        }
        if different.iter().any(|(a, b)| a == rid || b == rid) {
            continue;
        }
        let decision = reg.config.decisions.decide(c.ln_p, gallery).as_str();
        out.push(Resolved {
            record_id: rid.clone(),
            person_id: pid.clone(),
            cand: c,
            decision,
        });
    }
    Ok(out)
}

/// The sealed biometric blob of a record.
pub fn seal_biometrics(reg: &Registro, record_id: &str, ex: &Extracted) -> ApiResult<Vec<u8>> {
    let json = serde_json::to_vec(ex).map_err(ApiError::internal)?;
    Ok(reg.keys().seal(record_id, "biometrics", &json)?)
}

pub fn open_biometrics(reg: &Registro, record_id: &str, sealed: &[u8]) -> ApiResult<Extracted> {
    let json = reg.open_field(record_id, "biometrics", sealed)?;
    serde_json::from_slice(&json).map_err(ApiError::internal)
}

pub enum Enrolled {
    Created(EnrollmentResponse),
    Replayed(serde_json::Value),
}

/// Enrolls one capture. Blocking: call from `web::block`.
pub fn enroll(
    reg: &Registro,
    principal: &Principal,
    req: EnrollmentRequest,
) -> ApiResult<Enrolled> {
    enroll_unfiltered(reg, principal, req).map(|e| super::need_to_know::enrolled_for(principal, e))
}

/// [`enroll`] before the answer is cut to what the caller may see.
fn enroll_unfiltered(
    reg: &Registro,
    principal: &Principal,
    req: EnrollmentRequest,
) -> ApiResult<Enrolled> {
    let v = validate(req, principal)?;
    super::trust::check_capture(reg, principal, &v.site, v.captured_at)?;
    if let Some(ans) = replay(reg, principal, &v.capture_id)? {
        return Ok(Enrolled::Replayed(ans));
    }
    let ex = reg
        .matcher
        .extract_in(v.photo.as_deref(), v.face_box, &v.fingers)?;
    // What committed while this enrollment is in flight is compared too (`inflight`).
    let covered = reg.coverage.get();
    let cands = reg.matcher.search(&ex, 10);
    let mut window = super::inflight::Window::open(covered, &cands);
    window.scan(reg, &ex)?;
    let record_id = new_id("rec");
    let keys = reg.keys();
    let person_json = serde_json::to_vec(&v.sealed).map_err(ApiError::internal)?;
    let person_enc = keys.seal(&record_id, "person", &person_json)?;
    let biometrics_enc = seal_biometrics(reg, &record_id, &ex)?;
    let evidence_rows = match super::case_evidence::prepare(reg, v.photo.as_deref(), &ex)? {
        Some(ev) => super::case_evidence::seal(&keys, &record_id, &ev)?,
        None => vec![],
    };
    let [doc_index, phone_index, family_index] = blind_indexes(&keys, &v.sealed.person);
    let quality = Quality::of(&ex, reg.matcher.limits());

    let result = reg.db.write(|c| -> ApiResult<(i64, EnrollmentResponse)> {
        super::keys::ensure_index_key(c, &keys)?;
        if stored_answer(c, &v.capture_id)?.is_some() {
            // A concurrent retry won the race; answer from its record below.
            return Err(ApiError::client("conflict", "capture already enrolled"));
        }
        let cands = window.close(reg, c, &ex, cands.clone())?;
        let resolved = resolve(reg, c, cands, window.gallery(), None, None)?;
        let now = crate::db::now();
        let mut duplicates = Vec::new();
        // A new record starts its own identity; links are made when an investigator confirms.
        let person_id = new_id("per");
        for r in resolved.iter().filter(|r| r.decision != "none") {
            let case_id = new_id("case");
            diesel::insert_into(match_cases::table)
                .values(NewMatchCase {
                    id: case_id.clone(),
                    record_a: r.record_id.clone(),
                    record_b: record_id.clone(),
                    score: r.cand.score,
                    face_score: r.cand.face_score,
                    finger_score: r.cand.finger_score,
                    decision: r.decision.into(),
                    status: "pending".into(),
                    created_at: now,
                })
                .execute(c)?;
            duplicates.push(DuplicateView {
                record_id: r.record_id.clone(),
                score: r.cand.score,
                face_score: r.cand.face_score,
                finger_score: r.cand.finger_score,
                decision: r.decision.into(),
                case_id: Some(case_id),
                evidence: Some((&r.cand.evidence).into()),
            });
        }
        let response = EnrollmentResponse {
            record_id: record_id.clone(),
            capture_id: v.capture_id.clone(),
            status: "enrolled".into(),
            person_id: person_id.clone(),
            quality: quality.clone(),
            duplicates,
            indicators: vec![],
        };
        let inserted = diesel::insert_into(records::table)
            .values(NewRecord {
                id: record_id.clone(),
                capture_id: v.capture_id.clone(),
                person_id,
                site: v.site.clone(),
                device_id: principal.device_id.clone(),
                enrolled_by: principal.actor.clone(),
                captured_at: v.captured_at,
                created_at: now,
                sex: v.sex.clone(),
                nationality: v.nationality.clone(),
                age_group: age_group(v.age).into(),
                is_minor: v.age.map(|a| a < 18),
                doc_index: doc_index.clone(),
                phone_index: phone_index.clone(),
                family_index: family_index.clone(),
                person_enc: person_enc.clone(),
                biometrics_enc: biometrics_enc.clone(),
                // Filled in below, in this transaction, once the indicators are known.
                response_json: String::new(),
            })
            .returning(records::seq)
            .get_result::<i64>(c);
        let seq = match inserted {
            Ok(seq) => seq,
            Err(e) if crate::db::is_unique_violation(&e) => {
                return Err(ApiError::client("conflict", "capture already enrolled"))
            }
            Err(e) => return Err(e.into()),
        };
        super::case_evidence::store(c, &evidence_rows)?;
        for comp in &v.sealed.companions {
            diesel::insert_into(companions::table)
                .values(NewCompanion {
                    record_id: record_id.clone(),
                    companion_capture_id: comp.capture_id.clone(),
                    relationship: comp.relationship.clone(),
                })
                .execute(c)?;
        }
        diesel::insert_into(changes::table)
            .values(NewChange {
                record_id: record_id.clone(),
                kind: "enrolled".into(),
                at: now,
            })
            .execute(c)?;
        let response = super::alerting::on_enrollment(reg, c, &record_id, response)?;
        let response_json = serde_json::to_string(&response).map_err(ApiError::internal)?;
        diesel::update(records::table.filter(records::seq.eq(seq)))
            .set(records::response_json.eq(response_json))
            .execute(c)?;
        audit::append(
            c,
            &keys,
            Entry::by(
                principal,
                "enrollment.create",
                Some(record_id.clone()),
                None,
                201,
            ),
        )?;
        Ok((seq, response))
    });
    match result {
        Ok((seq, response)) => {
            reg.matcher.insert(seq, &ex);
            reg.metrics
                .enrollments
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(Enrolled::Created(response))
        }
        Err(ApiError::Client {
            code: "conflict", ..
        }) => match replay(reg, principal, &v.capture_id)? {
            Some(ans) => Ok(Enrolled::Replayed(ans)),
            None => Err(ApiError::internal(
                "capture conflict without a stored record",
            )),
        },
        Err(e) => Err(e),
    }
}

/// The first answer for an already enrolled capture (logged: it names match ids).
fn replay(
    reg: &Registro,
    principal: &Principal,
    capture_id: &str,
) -> ApiResult<Option<serde_json::Value>> {
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<Option<serde_json::Value>> {
        let Some((rid, json)) = stored_answer(c, capture_id)? else {
            return Ok(None);
        };
        if super::erasure::is_deleted(c, &rid)? {
            return Err(super::erasure::deleted());
        }
        audit::append(
            c,
            &keys,
            Entry::by(principal, "enrollment.replay", Some(rid), None, 200),
        )?;
        Ok(Some(
            serde_json::from_str(&json).map_err(ApiError::internal)?,
        ))
    })
}
