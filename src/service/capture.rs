//! Capture checks (API.md v1.1): one face per photo unless the request names it, no finger
//! twice in one submission, and quality measures against soft and hard limits — with the
//! `quality` part of the answer that tells the scanner what to retake.
//!
//! These run inside [`super::matching::Matcher::extract`], so enrollment, batch items,
//! identification and every other caller of the matcher get them; each refusal is a 422 with
//! its code before anything is written.

use super::matching::Extracted;
use crate::biometrics::finger;
use crate::biometrics::quality::{self, CaptureLimits, Check};
use crate::error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};

/// Which face of a photo to use: a box in pixels of the (EXIF-oriented) photo. The detected
/// face that overlaps it best (intersection over union) is described.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FaceBox {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl FaceBox {
    /// The box as (x, y, w, h), checked: finite, width and height positive, at most 10⁵ px.
    pub fn validate(&self) -> ApiResult<[f32; 4]> {
        let v = [self.x, self.y, self.width, self.height];
        if v.iter().any(|c| !c.is_finite() || c.abs() > 1e5)
            || self.width <= 0.0
            || self.height <= 0.0
        {
            return Err(ApiError::client(
                "invalid_face_box",
                "face_box needs finite x, y and a positive width and height, in pixels",
            ));
        }
        Ok(v.map(|c| c as f32))
    }
}

/// `face_box` of a request, validated; a box without a photo is refused.
pub fn face_box(face_box: Option<&FaceBox>, has_photo: bool) -> ApiResult<Option<[f32; 4]>> {
    match face_box {
        None => Ok(None),
        Some(_) if !has_photo => Err(ApiError::client(
            "invalid_face_box",
            "face_box names a face of the photo, and there is no photo",
        )),
        Some(b) => b.validate().map(Some),
    }
}

/// `422 multiple_faces` for a photo with more than one face, unless the request named one.
pub fn check_faces(ex: &Extracted, face_named: bool) -> ApiResult<()> {
    match &ex.face {
        Some(f) if f.faces_found > 1 && !face_named => Err(ApiError::client(
            "multiple_faces",
            format!(
                "the photo shows {} faces; retake it with one face, or name the face with face_box",
                f.faces_found
            ),
        )),
        _ => Ok(()),
    }
}

/// `422 duplicate_finger` when two fingers of one submission are the same finger: matched
/// against each other with the real matcher, at or above `threshold`
/// ([`CaptureLimits::duplicate_finger_score`], above every impostor pair of the shared data).
/// `decoded` is in the order of `ex.fingers`.
pub fn check_duplicate_fingers(
    ex: &Extracted,
    decoded: &[finger::FingerFeatures],
    threshold: f32,
) -> ApiResult<()> {
    for i in 0..decoded.len() {
        for j in i + 1..decoded.len() {
            if finger::compare(&decoded[i], &decoded[j]) >= threshold {
                let (a, b) = (ex.fingers[i].position, ex.fingers[j].position);
                return Err(ApiError::client(
                    "duplicate_finger",
                    format!("fingerprints {i} and {j} (positions {a} and {b}) are the same finger"),
                ));
            }
        }
    }
    Ok(())
}

fn finger_label(position: u8) -> String {
    format!("finger:{position}")
}

fn refusal(modality: &str, c: &Check) -> String {
    match (c.min, c.max) {
        (Some(_), _) => format!(
            "{modality}: {} {:.1} is below the hard minimum",
            c.name, c.value
        ),
        _ => format!(
            "{modality}: {} {:.1} is above the hard maximum",
            c.name, c.value
        ),
    }
}

/// Checks every measure: a hard limit failed anywhere is `422 low_quality` naming the
/// modalities; otherwise a soft limit failed flags that face or finger `low_quality`.
pub fn check_quality(ex: &mut Extracted, limits: &CaptureLimits) -> ApiResult<()> {
    let mut refused = Vec::new();
    if let Some(f) = ex.face.as_mut() {
        if let Some(m) = &f.measures {
            let checks = quality::check_face(m, &limits.face);
            refused.extend(
                checks
                    .iter()
                    .filter(|c| c.refused)
                    .map(|c| refusal("face", c)),
            );
            f.low_quality = checks.iter().any(|c| !c.pass);
        }
    }
    for f in ex.fingers.iter_mut() {
        if let Some(m) = &f.measures {
            let checks = quality::check_finger(m, &limits.finger);
            let label = finger_label(f.position);
            refused.extend(
                checks
                    .iter()
                    .filter(|c| c.refused)
                    .map(|c| refusal(&label, c)),
            );
            f.low_quality = checks.iter().any(|c| !c.pass);
        }
    }
    if refused.is_empty() {
        Ok(())
    } else {
        refused.dedup();
        Err(ApiError::client(
            "low_quality",
            format!("capture refused, retake: {}", refused.join("; ")),
        ))
    }
}

/// One measure in the answer: its value, the soft limit, and whether it meets it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MeasureView {
    pub value: f64,
    /// The soft minimum, for measures with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The soft maximum, for measures with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    pub pass: bool,
}

/// The checks of one name merged (a measure with a minimum and a maximum has two).
fn measure(checks: &[Check], name: &str) -> Option<MeasureView> {
    let mut it = checks.iter().filter(|c| c.name == name);
    let first = it.next()?;
    let mut v = MeasureView {
        value: round(first.value),
        min: first.min,
        max: first.max,
        pass: first.pass,
    };
    for c in it {
        v.min = v.min.or(c.min);
        v.max = v.max.or(c.max);
        v.pass &= c.pass;
    }
    Some(v)
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The face's capture measures.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FaceQualityView {
    /// Faces detected in the photo (more than one needs `face_box`).
    pub faces_found: usize,
    /// Distance between the eye centres, pixels of the photo.
    pub inter_eye_px: MeasureView,
    /// Head turn, degrees (positive: nose towards the image's right); limit on its magnitude.
    pub yaw_deg: MeasureView,
    /// Head nod, degrees (positive: looking down); limit on its magnitude.
    pub pitch_deg: MeasureView,
    /// Variance of the Laplacian of the aligned face's luminance.
    pub sharpness: MeasureView,
    /// Mean luminance 0–255 of the aligned face's centre.
    pub exposure_mean: MeasureView,
    /// Fraction of the aligned face's centre clipped to black or white.
    pub exposure_clipped: MeasureView,
    /// Accepted below a soft limit: retake if possible; the evidence counts for less.
    pub low_quality: bool,
}

/// The 25th, 50th and 75th percentiles of the per-minutia quality (0–100); the median is
/// checked.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MinutiaQualityView {
    pub p25: f64,
    pub median: f64,
    pub p75: f64,
    pub min: f64,
    pub pass: bool,
}

/// One finger's capture measures.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FingerMeasuresView {
    pub minutiae: MeasureView,
    /// Present when the capture reports per-minutia quality.
    pub minutia_quality: Option<MinutiaQualityView>,
    /// Convex hull of the minutiae, mm².
    pub area_mm2: MeasureView,
    /// The ISO/ANSI record's view quality 0–100, when it reports one.
    pub view_quality: Option<MeasureView>,
}

/// The face part of `quality` for an extracted submission.
pub fn face_view(ex: &Extracted, limits: &CaptureLimits) -> Option<FaceQualityView> {
    let f = ex.face.as_ref()?;
    let checks = quality::check_face(f.measures.as_ref()?, &limits.face);
    Some(FaceQualityView {
        faces_found: f.faces_found,
        inter_eye_px: measure(&checks, "inter_eye_px")?,
        yaw_deg: measure(&checks, "yaw_deg")?,
        pitch_deg: measure(&checks, "pitch_deg")?,
        sharpness: measure(&checks, "sharpness")?,
        exposure_mean: measure(&checks, "exposure_mean")?,
        exposure_clipped: measure(&checks, "exposure_clipped")?,
        low_quality: f.low_quality,
    })
}

/// The measures of finger `i` of an extracted submission.
pub fn finger_view(ex: &Extracted, i: usize, limits: &CaptureLimits) -> Option<FingerMeasuresView> {
    let m = ex.fingers.get(i)?.measures.as_ref()?;
    let checks = quality::check_finger(m, &limits.finger);
    let minutia_quality = match (m.minutia_quality, measure(&checks, "minutia_quality")) {
        (Some(q), Some(c)) => Some(MinutiaQualityView {
            p25: f64::from(q[0]),
            median: c.value,
            p75: f64::from(q[2]),
            min: c.min.unwrap_or_default(),
            pass: c.pass,
        }),
        _ => None,
    };
    Some(FingerMeasuresView {
        minutiae: measure(&checks, "minutiae")?,
        minutia_quality,
        area_mm2: measure(&checks, "area_mm2")?,
        view_quality: measure(&checks, "view_quality"),
    })
}

/// What to retake: `face` and `finger:{position}` for each capture flagged low quality.
pub fn retake(ex: &Extracted) -> Vec<String> {
    let mut out = Vec::new();
    if ex.face.as_ref().is_some_and(|f| f.low_quality) {
        out.push("face".to_string());
    }
    for f in ex.fingers.iter().filter(|f| f.low_quality) {
        let label = finger_label(f.position);
        if !out.contains(&label) {
            out.push(label);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::matching::{FaceFeatures, FingerFeatures};

    fn finger(position: u8, minutiae: usize, area_mm2: f32) -> FingerFeatures {
        FingerFeatures {
            position,
            minutiae,
            measures: Some(quality::FingerMeasures {
                minutiae,
                minutia_quality: None,
                area_mm2,
                view_quality: None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn soft_failures_flag_and_hard_failures_refuse() {
        let limits = CaptureLimits::default();
        let mut ex = Extracted {
            face: None,
            fingers: vec![finger(2, 40, 120.0), finger(3, 40, 15.0)],
        };
        check_quality(&mut ex, &limits).unwrap();
        assert!(!ex.fingers[0].low_quality && ex.fingers[1].low_quality);
        assert_eq!(retake(&ex), vec!["finger:3"]);
        let v = finger_view(&ex, 1, &limits).unwrap();
        assert!(!v.area_mm2.pass && v.minutiae.pass && v.view_quality.is_none());

        ex.fingers.push(finger(7, 5, 120.0));
        let e = check_quality(&mut ex, &limits).unwrap_err();
        assert_eq!(e.code(), "low_quality");
        assert!(e.to_string().contains("finger:7: minutiae"), "{e}");
    }

    #[test]
    fn several_faces_need_a_named_face() {
        let ex = Extracted {
            face: Some(FaceFeatures {
                faces_found: 2,
                ..Default::default()
            }),
            fingers: vec![],
        };
        assert_eq!(
            check_faces(&ex, false).unwrap_err().code(),
            "multiple_faces"
        );
        assert!(check_faces(&ex, true).is_ok());
        let b = FaceBox {
            x: 1.0,
            y: 2.0,
            width: 0.0,
            height: 5.0,
        };
        assert_eq!(
            face_box(Some(&b), true).unwrap_err().code(),
            "invalid_face_box"
        );
        let b = FaceBox { width: 3.0, ..b };
        assert_eq!(
            face_box(Some(&b), false).unwrap_err().code(),
            "invalid_face_box"
        );
        assert_eq!(
            face_box(Some(&b), true).unwrap(),
            Some([1.0, 2.0, 3.0, 5.0])
        );
    }
}
