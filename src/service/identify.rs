//! 1:N identification without enrolling, and offline batches of enrollments.

use super::audit::{self, Entry};
use super::capture::{self, FaceBox};
use super::enrollment::{self, Enrolled, EnrollmentRequest, Quality};
use super::matching::{validate_biometrics, FingerInput};
use super::{Principal, Registro};
use crate::error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct IdentifyRequest {
    pub photo: Option<String>,
    #[serde(default)]
    pub fingerprints: Vec<FingerInput>,
    pub limit: Option<i64>,
    /// For a device: its own site or one of its mobile sites (`422 site_mismatch` otherwise).
    #[serde(default)]
    pub site: Option<String>,
    /// RFC 3339; at most 5 minutes ahead, and for a device not before its registration.
    #[serde(default)]
    pub captured_at: Option<String>,
    /// Which face of a photo with several to use (otherwise `422 multiple_faces`).
    pub face_box: Option<FaceBox>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CandidateView {
    pub record_id: String,
    pub person_id: String,
    pub score: f64,
    pub face_score: Option<f64>,
    pub finger_score: Option<f64>,
    pub decision: String,
    /// Per-modality and per-finger evidence (docs/FUSION.md).
    pub evidence: super::evidence::EvidenceView,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IdentifyResponse {
    pub candidates: Vec<CandidateView>,
    /// The probe's capture quality, as in an enrollment answer (v1.1).
    pub quality: Quality,
}

pub fn identify(
    reg: &Registro,
    who: &Principal,
    req: IdentifyRequest,
) -> ApiResult<IdentifyResponse> {
    let limit = req.limit.unwrap_or(10);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::client("invalid_limit", "limit must be 1-1000"));
    }
    check_site_and_time(reg, who, &req)?;
    let photo = validate_biometrics(req.photo.as_deref(), &req.fingerprints)?;
    let face_box = capture::face_box(req.face_box.as_ref(), photo.is_some())?;
    let ex = reg
        .matcher
        .extract_in(photo.as_deref(), face_box, &req.fingerprints)?;
    let quality = Quality::of(&ex, reg.matcher.limits());
    // Over-fetch: several records of one identity collapse into one candidate.
    let cands = reg.matcher.search(&ex, (limit as usize) * 3);
    let gallery = reg.matcher.len();
    let keys = reg.keys();
    reg.db.write(|c| -> ApiResult<IdentifyResponse> {
        let resolved = enrollment::resolve(reg, c, cands, gallery, None, None)?;
        let candidates: Vec<CandidateView> = resolved
            .into_iter()
            .take(limit as usize)
            .map(|r| CandidateView {
                record_id: r.record_id,
                person_id: r.person_id,
                score: r.cand.score,
                face_score: r.cand.face_score,
                finger_score: r.cand.finger_score,
                decision: r.decision.into(),
                evidence: (&r.cand.evidence).into(),
            })
            .collect();
        audit::append(
            c,
            &keys,
            Entry::by(
                who,
                "identify",
                candidates.first().map(|c| c.record_id.clone()),
                None,
                200,
            ),
        )?;
        Ok(IdentifyResponse {
            candidates,
            quality,
        })
    })
}

pub const MAX_BATCH: usize = 100;

/// Enrolls up to 100 captures collected offline, each independently and idempotently: the
/// answer for each item is the single-enrollment body plus its `status_code` (or the error
/// body plus its status code). A batch cut off mid-way can be resent whole.
pub fn batch(
    reg: &Registro,
    who: &Principal,
    items: Vec<serde_json::Value>,
) -> ApiResult<Vec<serde_json::Value>> {
    if items.len() > MAX_BATCH {
        return Err(ApiError::client(
            "batch_too_large",
            "at most 100 enrollments per batch",
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let result = serde_json::from_value::<EnrollmentRequest>(item)
            .map_err(|e| {
                ApiError::client(
                    "invalid_json",
                    format!("enrollment is malformed: {}", e.classify_message()),
                )
            })
            .and_then(|req| enrollment::enroll(reg, who, req));
        let value = match result {
            Ok(Enrolled::Created(resp)) => {
                with_status(serde_json::to_value(resp).map_err(ApiError::internal)?, 201)
            }
            Ok(Enrolled::Replayed(v)) => with_status(v, 200),
            Err(e @ ApiError::Client { .. }) => {
                let status = crate::error::status_for_code(e.code()).as_u16();
                let msg = match &e {
                    ApiError::Client { message, .. } => message.clone(),
                    _ => String::new(),
                };
                with_status(crate::error::error_body(e.code(), &msg), status)
            }
            Err(e) => return Err(e),
        };
        out.push(value);
    }
    Ok(out)
}

fn with_status(mut v: serde_json::Value, status: u16) -> serde_json::Value {
    if let Some(m) = v.as_object_mut() {
        m.insert("status_code".into(), status.into());
    }
    v
}

trait Classify {
    fn classify_message(&self) -> &'static str;
}
impl Classify for serde_json::Error {
    fn classify_message(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Data => {
                "a field has the wrong type or a required field is missing"
            }
            _ => "not valid JSON",
        }
    }
}

/// An identify naming a site or a capture time is held to the device's site and clock rules
/// (see `service::trust`).
fn check_site_and_time(reg: &Registro, who: &Principal, req: &IdentifyRequest) -> ApiResult<()> {
    let trust = super::trust::device_trust(reg, who)?;
    super::trust::site_for(trust.as_ref(), req.site.as_deref())?;
    if let Some(s) = req.captured_at.as_deref().filter(|s| !s.is_empty()) {
        let at = chrono::DateTime::parse_from_rfc3339(s)
            .map_err(|_| {
                ApiError::client(
                    "invalid_captured_at",
                    "captured_at must be an RFC 3339 time",
                )
            })?
            .naive_utc();
        super::trust::time_ok(trust.as_ref(), at, crate::db::now())?;
    }
    Ok(())
}
