//! Evidence for the people who decide match cases: the kept photo and face crop of a record,
//! and everything that stands behind a case's score — both records' declared data side by
//! side, per-modality scores and false-match rates, per-finger scores, and for each compared
//! finger pair the minutiae of both prints with the pairs the alignment brought together.
//!
//! Kept: at enrollment the photo is re-encoded as a bounded JPEG without metadata and the
//! aligned face crop is cut (`biometrics::face::evidence`); both are sealed like every
//! personal field (AAD = record id + field) in table `evidence`, and deletion erases them.
//! The submitted finger template or image is already kept, sealed, in the record's
//! `biometrics` field, and the minutiae drawn here are read back from it.
//!
//! Every read is an access-log entry with its purpose, written in the read's transaction.

use super::audit::{self, Entry};
use super::enrollment::{open_biometrics, Person};
use super::matching::{self, Extracted, FingerFeatures as StoredFinger};
use super::{parse_instant, rfc3339, Principal, Registro};
use crate::biometrics::face::evidence::PhotoEvidence;
use crate::biometrics::{face, finger, fusion};
use crate::crypto::KeyRing;
use crate::db::models::{EvidenceRow, MatchCaseRow, RecordRow};
use crate::db::schema::{evidence, match_cases, records};
use crate::db::DbConn;
use crate::error::{ApiError, ApiResult};
use diesel::prelude::*;
use serde::Serialize;

/// The kept photo (bounded JPEG).
pub const PHOTO: &str = "photo";
/// The aligned face crop (150x150 JPEG).
pub const FACE: &str = "face";

/// Makes the evidence images of an enrollment's photo on the engine pool. `None` without a
/// photo or a described face.
pub fn prepare(
    reg: &Registro,
    photo: Option<&[u8]>,
    ex: &Extracted,
) -> ApiResult<Option<PhotoEvidence>> {
    let (Some(photo), Some(f)) = (photo, ex.face.as_ref()) else {
        return Ok(None);
    };
    let landmarks = f.landmarks.clone();
    reg.matcher
        .install(|| face::evidence::prepare(photo, &landmarks))
        .map(Some)
        .map_err(|e| ApiError::client(e.code(), e.to_string()))
}

/// Sealed evidence rows of a record, ready to insert in the enrollment's transaction.
pub fn seal(keys: &KeyRing, record_id: &str, ev: &PhotoEvidence) -> ApiResult<Vec<EvidenceRow>> {
    let now = crate::db::now();
    let mut rows = vec![EvidenceRow {
        record_id: record_id.into(),
        field: PHOTO.into(),
        data: keys.seal(record_id, PHOTO, &ev.photo_jpeg)?,
        created_at: now,
    }];
    if let Some(face) = &ev.face_jpeg {
        rows.push(EvidenceRow {
            record_id: record_id.into(),
            field: FACE.into(),
            data: keys.seal(record_id, FACE, face)?,
            created_at: now,
        });
    }
    Ok(rows)
}

/// Inserts sealed evidence rows (inside the caller's transaction).
pub fn store(conn: &mut DbConn, rows: &[EvidenceRow]) -> QueryResult<()> {
    for r in rows {
        diesel::insert_into(evidence::table)
            .values(r.clone())
            .execute(conn)?;
    }
    Ok(())
}

/// Erases every evidence row of a record (inside the deletion's transaction).
pub fn erase(conn: &mut DbConn, record_id: &str) -> QueryResult<usize> {
    diesel::delete(evidence::table.filter(evidence::record_id.eq(record_id))).execute(conn)
}

fn live_record(conn: &mut DbConn, id: &str) -> ApiResult<RecordRow> {
    records::table
        .filter(records::id.eq(id))
        .filter(records::deleted_at.is_null())
        .select(RecordRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("record"))
}

fn log(
    conn: &mut DbConn,
    reg: &Registro,
    who: &Principal,
    action: &str,
    record_id: &str,
    purpose: &str,
) -> QueryResult<()> {
    audit::append(
        conn,
        &reg.keys(),
        Entry::by(
            who,
            action,
            Some(record_id.into()),
            Some(purpose.chars().take(500).collect()),
            200,
        ),
    )
    .map(|_| ())
}

/// One kept image of a record (`PHOTO` or `FACE`), logged as `record.photo` / `record.face`.
pub fn image(
    reg: &Registro,
    who: &Principal,
    record_id: &str,
    field: &str,
    purpose: &str,
) -> ApiResult<Vec<u8>> {
    if field != PHOTO && field != FACE {
        return Err(ApiError::not_found("image"));
    }
    reg.db.write(|c| -> ApiResult<Vec<u8>> {
        let row = live_record(c, record_id)?;
        let sealed: Option<Vec<u8>> = evidence::table
            .filter(evidence::record_id.eq(&row.id))
            .filter(evidence::field.eq(field))
            .select(evidence::data)
            .first(c)
            .optional()?;
        let Some(sealed) = sealed else {
            return Err(ApiError::client("no_photo", "this record has no photo"));
        };
        let jpeg = reg.open_field(&row.id, field, &sealed)?;
        log(c, reg, who, &format!("record.{field}"), &row.id, purpose)?;
        Ok(jpeg)
    })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EvidenceRecord {
    pub record_id: String,
    pub person: Person,
    pub has_photo: bool,
    pub site: String,
    pub captured_at: String,
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct ModalityEvidence {
    pub score: f64,
    /// Estimated false-match rate of a score this high between different people.
    pub fmr: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EvidenceMinutia {
    pub x: f32,
    pub y: f32,
    pub angle_deg: f32,
    /// `ending`, `bifurcation` or `other`.
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FingerPairEvidence {
    /// Position of the finger of the newer record (the probe, `records[1]`).
    pub probe_position: u8,
    /// Position of the finger of the earlier record (`records[0]`) it was compared with.
    pub gallery_position: u8,
    pub score: f64,
    pub fmr: f64,
    /// Minutiae of `records[0]`'s finger.
    pub minutiae_a: Vec<EvidenceMinutia>,
    /// Minutiae of `records[1]`'s finger.
    pub minutiae_b: Vec<EvidenceMinutia>,
    /// `[i, j]`: `minutiae_a[i]` is paired with `minutiae_b[j]`.
    pub pairs: Vec<[usize; 2]>,
}

/// A case of either record, for the case history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryItem {
    pub case_id: String,
    pub record_ids: Vec<String>,
    pub score: f64,
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CaseEvidence {
    pub case_id: String,
    pub status: String,
    /// `duplicate` or `possible`: what the score said at enrollment.
    pub decision: String,
    pub records: Vec<EvidenceRecord>,
    pub score: f64,
    pub face: Option<ModalityEvidence>,
    pub fingers: Vec<FingerPairEvidence>,
    pub note: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub created_at: String,
    /// Every case of either record, oldest first (this one included).
    pub history: Vec<HistoryItem>,
}

/// What the case's transaction reads; the comparisons are computed after it commits.
struct CaseRead {
    case: MatchCaseRow,
    note: Option<String>,
    records: Vec<EvidenceRecord>,
    bio: [Extracted; 2],
    history: Vec<HistoryItem>,
}

fn minutiae_of(f: &StoredFinger) -> Option<Vec<finger::Minutia>> {
    let view = match f.format.as_str() {
        "minutiae-json" => {
            let list: Vec<finger::JsonMinutia> = serde_json::from_slice(&f.raw).ok()?;
            // The declared image size is not kept; the largest one accepted holds every point.
            finger::from_minutiae_json(f.position, 16383, 16383, 500, &list).ok()?
        }
        "image" => finger::extract_from_image(f.position, &f.raw).ok()?,
        fmt => matching::pick_view(finger::parse_template(fmt, &f.raw).ok()?, f.position)?,
    };
    Some(view.minutiae)
}

fn minutia_view(m: &finger::Minutia) -> EvidenceMinutia {
    EvidenceMinutia {
        x: m.x,
        y: m.y,
        angle_deg: (m.angle.to_degrees() * 10.0).round() / 10.0,
        kind: match m.kind {
            finger::MinutiaKind::Ending => "ending",
            finger::MinutiaKind::Bifurcation => "bifurcation",
            finger::MinutiaKind::Other => "other",
        }
        .into(),
    }
}

/// Per probe finger (of `records[1]`), the stored finger of `records[0]` the matcher compares
/// it with — the same position, any for position 0 — the best scoring, with the pairs.
fn finger_pairs(gallery: &Extracted, probe: &Extracted) -> Vec<FingerPairEvidence> {
    let decode = |f: &StoredFinger| finger::FingerFeatures::from_bytes(&f.features).ok();
    let mut out = Vec::new();
    for pf in &probe.fingers {
        let Some(pfe) = decode(pf) else { continue };
        let best = gallery
            .fingers
            .iter()
            .filter(|g| pf.position == 0 || g.position == 0 || g.position == pf.position)
            .filter_map(|g| decode(g).map(|ge| (g, finger::compare(&ge, &pfe))))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let Some((g, score)) = best else { continue };
        let (Some(ma), Some(mb)) = (minutiae_of(g), minutiae_of(pf)) else {
            continue;
        };
        let pairs = finger::explain::aligned_pairs(&ma, &mb)
            .into_iter()
            .map(|(i, j)| [i, j])
            .collect();
        out.push(FingerPairEvidence {
            probe_position: pf.position,
            gallery_position: g.position,
            score: f64::from(score),
            fmr: finger::false_match_rate_at(score),
            minutiae_a: ma.iter().map(minutia_view).collect(),
            minutiae_b: mb.iter().map(minutia_view).collect(),
            pairs,
        });
    }
    out
}

/// The evidence of one match case, logged as `match.evidence` for each of its records.
pub fn case_evidence(
    reg: &Registro,
    who: &Principal,
    case_id: &str,
    purpose: &str,
) -> ApiResult<CaseEvidence> {
    let read = reg.db.write(|c| -> ApiResult<CaseRead> {
        let case: MatchCaseRow = match_cases::table
            .filter(match_cases::id.eq(case_id))
            .select(MatchCaseRow::as_select())
            .first(c)
            .optional()?
            .ok_or_else(|| ApiError::not_found("match case"))?;
        let mut recs = Vec::new();
        let mut bio = Vec::new();
        for rid in [&case.record_a, &case.record_b] {
            let row = live_record(c, rid)?;
            let sealed = super::records::open_person(reg, &row)?;
            let has_photo: i64 = evidence::table
                .filter(evidence::record_id.eq(&row.id))
                .filter(evidence::field.eq(PHOTO))
                .count()
                .get_result(c)?;
            bio.push(open_biometrics(reg, &row.id, &row.biometrics_enc)?);
            recs.push(EvidenceRecord {
                record_id: row.id.clone(),
                person: sealed.person,
                has_photo: has_photo > 0,
                site: row.site.clone(),
                captured_at: rfc3339(row.captured_at),
            });
            log(c, reg, who, "match.evidence", &row.id, purpose)?;
        }
        let note = match &case.note_enc {
            Some(n) => {
                Some(String::from_utf8_lossy(&reg.open_field(&case.id, "note", n)?).into_owned())
            }
            None => None,
        };
        let history: Vec<MatchCaseRow> = match_cases::table
            .filter(
                match_cases::record_a
                    .eq_any([&case.record_a, &case.record_b])
                    .or(match_cases::record_b.eq_any([&case.record_a, &case.record_b])),
            )
            .order(match_cases::seq.asc())
            .limit(200)
            .select(MatchCaseRow::as_select())
            .load(c)?;
        let history = history
            .into_iter()
            .map(|h| HistoryItem {
                case_id: h.id,
                record_ids: vec![h.record_a, h.record_b],
                score: h.score,
                status: h.status,
                decided_by: h.decided_by,
                decided_at: h.decided_at.map(rfc3339),
                created_at: rfc3339(h.created_at),
            })
            .collect();
        let [a, b]: [Extracted; 2] = bio
            .try_into()
            .map_err(|_| ApiError::internal("two records expected"))?;
        Ok(CaseRead {
            case,
            note,
            records: recs,
            bio: [a, b],
            history,
        })
    })?;
    let [ga, pb] = &read.bio;
    let face = match (&ga.face, &pb.face) {
        (Some(a), Some(b)) if !a.embedding.is_empty() && a.embedding.len() == b.embedding.len() => {
            let cos = face::cosine(&a.embedding, &b.embedding);
            Some(ModalityEvidence {
                score: f64::from(face::similarity_from_cosine(cos)),
                fmr: fusion::face_false_match_rate(cos),
            })
        }
        _ => None,
    };
    let fingers = reg.matcher.install(|| finger_pairs(ga, pb));
    let c = read.case;
    Ok(CaseEvidence {
        case_id: c.id,
        status: c.status,
        decision: c.decision,
        records: read.records,
        score: c.score,
        face,
        fingers,
        note: read.note,
        decided_by: c.decided_by,
        decided_at: c.decided_at.map(rfc3339),
        created_at: rfc3339(c.created_at),
        history: read.history,
    })
}

/// Filters of the review queue.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct QueueQuery {
    /// Site of either record.
    pub site: Option<String>,
    /// Cases created at or after (RFC 3339 or YYYY-MM-DD).
    pub from: Option<String>,
    /// Cases created before.
    pub to: Option<String>,
}

/// One pending case in the queue: scores and where, no personal data.
#[derive(Debug, Clone, Serialize)]
pub struct QueueItem {
    pub case_id: String,
    pub record_ids: [String; 2],
    pub score: f64,
    pub face_score: Option<f64>,
    pub finger_score: Option<f64>,
    pub decision: String,
    pub created_at: String,
}

/// Most pending cases one queue page shows.
pub const QUEUE_LIMIT: i64 = 200;

/// Pending cases, strongest evidence first (fused score, then oldest first), logged as
/// `match.list`.
pub fn queue(reg: &Registro, who: &Principal, q: &QueueQuery) -> ApiResult<Vec<QueueItem>> {
    let from = parse_instant("from", q.from.as_deref())?;
    let to = parse_instant("to", q.to.as_deref())?;
    let site = q
        .site
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    if let Some(s) = &site {
        super::enrollment::validate_site(s)
            .map_err(|_| ApiError::client("invalid_query", "site is malformed"))?;
    }
    reg.db.write(|c| -> ApiResult<Vec<QueueItem>> {
        let mut b = match_cases::table
            .filter(match_cases::status.eq("pending"))
            .into_boxed();
        if let Some(s) = &site {
            let at_site = records::table
                .filter(records::site.eq(s.clone()))
                .select(records::id);
            b = b.filter(
                match_cases::record_a
                    .eq_any(at_site.clone())
                    .or(match_cases::record_b.eq_any(at_site)),
            );
        }
        if let Some(f) = from {
            b = b.filter(match_cases::created_at.ge(f));
        }
        if let Some(t) = to {
            b = b.filter(match_cases::created_at.lt(t));
        }
        let rows: Vec<MatchCaseRow> = b
            .order((match_cases::score.desc(), match_cases::seq.asc()))
            .limit(QUEUE_LIMIT)
            .select(MatchCaseRow::as_select())
            .load(c)?;
        audit::append(
            c,
            &reg.keys(),
            Entry::by(who, "match.list", None, None, 200),
        )?;
        Ok(rows
            .into_iter()
            .map(|r| QueueItem {
                case_id: r.id,
                record_ids: [r.record_a, r.record_b],
                score: r.score,
                face_score: r.face_score,
                finger_score: r.finger_score,
                decision: r.decision,
                created_at: rfc3339(r.created_at),
            })
            .collect())
    })
}
