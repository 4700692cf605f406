//! Score-level fusion of face and fingers into one score per person.
//!
//! Each modality's score is first turned into an estimated false-match rate (FMR: the
//! probability that an impostor — a different person — scores at least this high), from
//! measured impostor distributions: [`super::finger::false_match_rate_at`] for fingers (already
//! fused over the fingers of a probe), [`face_false_match_rate`] for the face. Modalities are
//! treated as independent, so the FMRs of the modalities *present on both sides* multiply; a
//! modality missing from the probe or the candidate contributes nothing (it is not a score of
//! zero, which would read as evidence of a different person).
//!
//! The fused score is the evidence in decades, `-log10(FMR_face × FMR_fingers)`, divided by
//! [`MAX_EVIDENCE`] and clamped to `[0, 1]`. A fused score `s` therefore means "an impostor
//! scores this high with probability `10^(-12 s)`", and the false-positive identification
//! rate of a threshold `s` against a gallery of `N` people is about `N × 10^(-12 s)`.

/// Evidence (decades of FMR) that maps to a fused score of 1.
pub const MAX_EVIDENCE: f64 = 12.0;

/// Impostor model of the face matcher: Euclidean distances between the L2-normalised
/// descriptors of different people, fitted as a normal distribution. Measured with
/// `cargo run --release --example fusion_calibration` on the shared test faces (700 impostor
/// pairs: mean 0.5604, sd 0.0495). The sd is widened to 0.06 on purpose: 8 people is a small
/// sample, and a wider impostor tail claims less evidence for a close face. See docs/FUSION.md.
pub const FACE_IMPOSTOR_DISTANCE_MEAN: f64 = 0.5604;
pub const FACE_IMPOSTOR_DISTANCE_SD: f64 = 0.0600;

/// Standard normal CDF (Abramowitz & Stegun 7.1.26 erf approximation, |error| < 1.5e-7;
/// below that the log-space tail formula keeps relative accuracy for tiny values).
pub fn normal_cdf(z: f64) -> f64 {
    if z < -6.0 {
        // Mills-ratio tail: phi(z)/|z| × (1 - 1/z²), accurate far out.
        let phi = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        return (phi / -z * (1.0 - 1.0 / (z * z))).max(0.0);
    }
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.3275911 * x.abs());
    let y = 1.0
        - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
            + 0.254829592)
            * t
            * (-x * x).exp();
    let erf = if x >= 0.0 { y } else { -y };
    0.5 * (1.0 + erf)
}

/// Estimated face FMR at cosine similarity `cos` between two L2-normalised descriptors: the
/// probability that two different people's descriptors are at least this close.
pub fn face_false_match_rate(cos: f32) -> f64 {
    let d = (2.0 - 2.0 * f64::from(cos.clamp(-1.0, 1.0)))
        .max(0.0)
        .sqrt();
    normal_cdf((d - FACE_IMPOSTOR_DISTANCE_MEAN) / FACE_IMPOSTOR_DISTANCE_SD).clamp(1e-12, 1.0)
}

/// Decades of evidence of a false-match rate.
pub fn evidence(fmr: f64) -> f64 {
    -fmr.clamp(1e-12, 1.0).log10()
}

/// The fused score of the modalities present on both sides (`None` = not compared).
pub fn fused_score(face_fmr: Option<f64>, finger_fmr: Option<f64>) -> f64 {
    let e: f64 = face_fmr.map(evidence).unwrap_or(0.0) + finger_fmr.map(evidence).unwrap_or(0.0);
    (e / MAX_EVIDENCE).clamp(0.0, 1.0)
}

/// The fused score threshold at which a gallery of `gallery_size` people yields a
/// false-positive identification rate of about `fpir`.
pub fn threshold_for(fpir: f64, gallery_size: f64) -> f64 {
    ((gallery_size / fpir).log10() / MAX_EVIDENCE).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_matches_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(-1.959964) - 0.025).abs() < 1e-6);
        assert!((normal_cdf(1.0) - 0.841344746).abs() < 1e-6);
        // Far tail: Phi(-7) = 1.28e-12.
        assert!((normal_cdf(-7.0) / 1.279812543e-12 - 1.0).abs() < 0.05);
        let mut prev = 0.0;
        for i in -100..100 {
            let v = normal_cdf(i as f64 / 10.0);
            assert!(v >= prev);
            prev = v;
        }
    }

    #[test]
    fn missing_modalities_add_no_evidence_and_both_add_up() {
        assert_eq!(fused_score(None, None), 0.0);
        let f = fused_score(None, Some(1e-6));
        assert!((f - 0.5).abs() < 1e-9);
        assert!((fused_score(Some(1e-3), Some(1e-6)) - 0.75).abs() < 1e-9);
        // A poor face score weakens nothing below zero evidence.
        assert!((fused_score(Some(1.0), Some(1e-6)) - f).abs() < 1e-9);
        assert!((threshold_for(1e-3, 1e6) - 0.75).abs() < 1e-9);
    }

    #[test]
    fn face_fmr_is_monotone_in_similarity() {
        let mut prev = 0.0;
        for i in 0..=100 {
            let v = face_false_match_rate(i as f32 / 100.0);
            assert!(v <= 1.0 && v > 0.0);
            if i > 0 {
                assert!(v <= prev + 1e-15);
            }
            prev = v;
        }
        assert!(face_false_match_rate(0.99) < 1e-6);
    }
}
