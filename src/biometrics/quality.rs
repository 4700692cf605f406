//! Capture quality: what was measured on one face or finger capture, and the soft and hard
//! limits it is checked against.
//!
//! Every measure has two limits. Meeting the soft one is a `pass`. Failing the soft one but
//! meeting the hard one is accepted and flagged low quality (the scanner is asked to retake,
//! and the evidence counts for less). Failing the hard one refuses the capture. The limits and
//! the data they were chosen on are in docs/FACE.md and docs/FINGER.md ("Capture quality").
//!
//! Pure computation: the face measures are taken by the face engine
//! ([`super::face::FaceMeasures`]); the finger measures here, from a parsed [`FingerView`].

use super::face::FaceMeasures;
use super::finger::FingerView;
use serde::Deserialize;

/// A lower bound: `value >= soft` passes, `value < hard` is refused (`hard <= soft`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct AtLeast {
    pub soft: f64,
    pub hard: f64,
}

/// An upper bound: `value <= soft` passes, `value > hard` is refused (`hard >= soft`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct AtMost {
    pub soft: f64,
    pub hard: f64,
}

/// Limits for a face capture.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default)]
pub struct FaceLimits {
    /// Distance between the eye centres, pixels of the photo.
    pub inter_eye_px: AtLeast,
    /// Absolute yaw (turn left/right) estimated from the landmarks, degrees.
    pub yaw_deg: AtMost,
    /// Absolute pitch (nod up/down) estimated from the landmarks, degrees.
    pub pitch_deg: AtMost,
    /// Variance of the Laplacian of the aligned chip's luminance.
    pub sharpness: AtLeast,
    /// Mean luminance (0–255) of the aligned chip's centre: too dark.
    pub exposure_mean_min: AtLeast,
    /// Mean luminance (0–255) of the aligned chip's centre: too bright.
    pub exposure_mean_max: AtMost,
    /// Fraction of the chip's centre that is clipped (black or white).
    pub exposure_clipped: AtMost,
}

/// Limits for one finger capture.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default)]
pub struct FingerLimits {
    /// Number of minutiae in the view.
    pub minutiae: AtLeast,
    /// Median of the per-minutia quality (0–100), when the capture reports it.
    pub minutia_quality: AtLeast,
    /// Area of the convex hull of the minutiae, mm².
    pub area_mm2: AtLeast,
    /// The view (impression) quality of an ISO/ANSI record (0–100), when it reports one.
    pub view_quality: AtLeast,
}

/// All capture limits; part of [`crate::config::Config`].
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default)]
pub struct CaptureLimits {
    pub face: FaceLimits,
    pub finger: FingerLimits,
    /// Two fingers of one submission whose matcher score reaches this are the same finger
    /// (`duplicate_finger`). A score, not an FMR through the calibration: chosen above every
    /// impostor pair of the shared data (docs/FINGER.md, "Capture quality").
    pub duplicate_finger_score: f32,
}

impl Default for CaptureLimits {
    fn default() -> Self {
        CaptureLimits {
            face: FaceLimits::default(),
            finger: FingerLimits::default(),
            duplicate_finger_score: 0.30,
        }
    }
}

impl Default for FaceLimits {
    /// Chosen on the shared face photos (docs/FACE.md, "Capture quality").
    fn default() -> Self {
        FaceLimits {
            inter_eye_px: AtLeast {
                soft: 40.0,
                hard: 20.0,
            },
            yaw_deg: AtMost {
                soft: 30.0,
                hard: 55.0,
            },
            pitch_deg: AtMost {
                soft: 30.0,
                hard: 50.0,
            },
            sharpness: AtLeast {
                soft: 20.0,
                hard: 5.0,
            },
            exposure_mean_min: AtLeast {
                soft: 50.0,
                hard: 25.0,
            },
            exposure_mean_max: AtMost {
                soft: 210.0,
                hard: 235.0,
            },
            exposure_clipped: AtMost {
                soft: 0.10,
                hard: 0.40,
            },
        }
    }
}

impl Default for FingerLimits {
    /// Chosen on the six shared FVC sets (docs/FINGER.md, "Capture quality").
    fn default() -> Self {
        FingerLimits {
            minutiae: AtLeast {
                soft: 12.0,
                hard: 8.0,
            },
            minutia_quality: AtLeast {
                soft: 14.0,
                hard: 5.0,
            },
            area_mm2: AtLeast {
                soft: 25.0,
                hard: 10.0,
            },
            view_quality: AtLeast {
                soft: 40.0,
                hard: 20.0,
            },
        }
    }
}

/// The outcome of one measure against its limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Check {
    /// Stable name of the measure (`inter_eye_px`, `area_mm2`, …).
    pub name: &'static str,
    pub value: f64,
    /// The soft limit, as a minimum or a maximum.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Meets the soft limit.
    pub pass: bool,
    /// Fails the hard limit: the capture is refused.
    pub refused: bool,
}

impl Check {
    fn at_least(name: &'static str, value: f64, l: AtLeast) -> Check {
        Check {
            name,
            value,
            min: Some(l.soft),
            max: None,
            pass: value >= l.soft,
            refused: value < l.hard || value.is_nan(),
        }
    }

    fn at_most(name: &'static str, value: f64, l: AtMost) -> Check {
        Check {
            name,
            value,
            min: None,
            max: Some(l.soft),
            pass: value <= l.soft,
            refused: value > l.hard || value.is_nan(),
        }
    }
}

/// The face measures checked against `limits`, in a fixed order: inter-eye distance, yaw,
/// pitch, sharpness, dark exposure, bright exposure, clipped fraction.
pub fn check_face(m: &FaceMeasures, limits: &FaceLimits) -> Vec<Check> {
    vec![
        Check::at_least(
            "inter_eye_px",
            f64::from(m.inter_eye_px),
            limits.inter_eye_px,
        ),
        Check::at_most("yaw_deg", f64::from(m.yaw_deg.abs()), limits.yaw_deg),
        Check::at_most("pitch_deg", f64::from(m.pitch_deg.abs()), limits.pitch_deg),
        Check::at_least("sharpness", f64::from(m.sharpness), limits.sharpness),
        Check::at_least(
            "exposure_mean",
            f64::from(m.exposure_mean),
            limits.exposure_mean_min,
        ),
        Check::at_most(
            "exposure_mean",
            f64::from(m.exposure_mean),
            limits.exposure_mean_max,
        ),
        Check::at_most(
            "exposure_clipped",
            f64::from(m.exposure_clipped),
            limits.exposure_clipped,
        ),
    ]
}

/// What was measured on one finger view.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FingerMeasures {
    pub minutiae: usize,
    /// 25th, 50th and 75th percentile of the per-minutia quality, over the minutiae that carry
    /// one (quality > 0); `None` when none does.
    pub minutia_quality: Option<[f32; 3]>,
    /// Convex hull of the minutiae in mm² (at the view's resolution).
    pub area_mm2: f32,
    /// The record's view quality, when it reports one (> 0; 0 means "not reported" here, as the
    /// SecuGen records in the shared data write it).
    pub view_quality: Option<u8>,
}

/// Measures a finger view. `from_record`: the view comes from an ISO/ANSI record (only those
/// carry a view quality).
pub fn finger_measures(view: &FingerView, from_record: bool) -> FingerMeasures {
    let mut q: Vec<u8> = view
        .minutiae
        .iter()
        .map(|m| m.quality)
        .filter(|&q| q > 0)
        .collect();
    q.sort_unstable();
    let minutia_quality = (!q.is_empty()).then(|| {
        let at = |p: f32| f32::from(q[((q.len() - 1) as f32 * p).round() as usize]);
        [at(0.25), at(0.5), at(0.75)]
    });
    let pts: Vec<(f32, f32)> = view.minutiae.iter().map(|m| (m.x, m.y)).collect();
    let mm_per_px = 25.4 / f32::from(view.resolution_dpi.max(1));
    FingerMeasures {
        minutiae: view.minutiae.len(),
        minutia_quality,
        area_mm2: super::finger::hull_area(&pts) * mm_per_px * mm_per_px,
        view_quality: (from_record && view.quality > 0).then_some(view.quality),
    }
}

/// The finger measures checked against `limits`: minutiae, then (when measured) the median
/// minutia quality, the area, then (when reported) the view quality.
pub fn check_finger(m: &FingerMeasures, limits: &FingerLimits) -> Vec<Check> {
    let mut out = vec![Check::at_least(
        "minutiae",
        m.minutiae as f64,
        limits.minutiae,
    )];
    if let Some(q) = m.minutia_quality {
        out.push(Check::at_least(
            "minutia_quality",
            f64::from(q[1]),
            limits.minutia_quality,
        ));
    }
    out.push(Check::at_least(
        "area_mm2",
        f64::from(m.area_mm2),
        limits.area_mm2,
    ));
    if let Some(v) = m.view_quality {
        out.push(Check::at_least(
            "view_quality",
            f64::from(v),
            limits.view_quality,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::biometrics::finger::{Minutia, MinutiaKind};

    fn view(points: &[(f32, f32)], quality: u8, dpi: u16) -> FingerView {
        FingerView {
            position: 2,
            width: 500,
            height: 500,
            resolution_dpi: dpi,
            quality,
            minutiae: points
                .iter()
                .enumerate()
                .map(|(i, &(x, y))| Minutia {
                    x,
                    y,
                    angle: 0.0,
                    kind: MinutiaKind::Ending,
                    quality: (10 * i as u8).min(100),
                })
                .collect(),
        }
    }

    #[test]
    fn area_is_the_hull_in_square_millimetres() {
        // A 100 x 100 px square at 500 dpi (plus an inner point) is 5.08 mm on a side.
        let v = view(
            &[
                (0.0, 0.0),
                (100.0, 0.0),
                (100.0, 100.0),
                (0.0, 100.0),
                (50.0, 50.0),
            ],
            0,
            500,
        );
        let m = finger_measures(&v, true);
        assert!((m.area_mm2 - 5.08 * 5.08).abs() < 1e-3, "{}", m.area_mm2);
        assert_eq!(m.minutiae, 5);
        // Qualities 0 (not reported), 10, 20, 30, 40: quartiles over the four reported.
        assert_eq!(m.minutia_quality, Some([20.0, 30.0, 30.0]));
        assert_eq!(m.view_quality, None, "0 is not reported");
        let m = finger_measures(&view(&[(0.0, 0.0)], 70, 1000), true);
        assert_eq!(
            (m.area_mm2, m.view_quality, m.minutia_quality),
            (0.0, Some(70), None)
        );
        assert_eq!(
            finger_measures(&view(&[], 70, 500), false).view_quality,
            None
        );
    }

    #[test]
    fn soft_and_hard_limits() {
        let l = FingerLimits::default();
        let mut m = FingerMeasures {
            minutiae: 40,
            minutia_quality: Some([30.0, 40.0, 50.0]),
            area_mm2: 120.0,
            view_quality: Some(80),
        };
        let c = check_finger(&m, &l);
        assert_eq!(c.len(), 4);
        assert!(c.iter().all(|c| c.pass && !c.refused));
        m.area_mm2 = ((l.area_mm2.soft + l.area_mm2.hard) / 2.0) as f32;
        let c = check_finger(&m, &l);
        let a = c.iter().find(|c| c.name == "area_mm2").unwrap();
        assert!(!a.pass && !a.refused, "between the limits: flagged");
        m.minutiae = 3;
        m.minutia_quality = None;
        m.view_quality = None;
        let c = check_finger(&m, &l);
        assert_eq!(c.len(), 2, "unmeasured measures are not checked");
        assert!(c[0].refused);
        let up = Check::at_most(
            "yaw_deg",
            40.0,
            AtMost {
                soft: 30.0,
                hard: 55.0,
            },
        );
        assert!(!up.pass && !up.refused && up.max == Some(30.0));
        assert!(
            Check::at_least(
                "x",
                f64::NAN,
                AtLeast {
                    soft: 1.0,
                    hard: 0.0
                }
            )
            .refused
        );
    }

    #[test]
    fn limits_deserialise_partially_over_the_defaults() {
        let l: CaptureLimits =
            serde_json::from_str(r#"{"finger": {"area_mm2": {"soft": 60, "hard": 30}}}"#).unwrap();
        assert_eq!(
            l.finger.area_mm2,
            AtLeast {
                soft: 60.0,
                hard: 30.0
            }
        );
        assert_eq!(l.finger.minutiae, FingerLimits::default().minutiae);
        assert_eq!(l.face, FaceLimits::default());
    }
}
