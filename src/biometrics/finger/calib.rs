//! Score calibration: from a matcher score to an estimated single-finger false-match rate.
//!
//! The knots are the empirical impostor survival function `P(score ≥ s | impostor)` of
//! FVC2002 DB1_B (2,880 impostor pairs, MINDTCT minutiae), measured and printed by
//! `examples/compare_bozorth3.rs` (column "fvc"). The seeded synthetic impostors (178,800
//! pairs) score lower than the real ones at every threshold above 0.02 (below it both are
//! ≈ 1), so the real curve is used (the conservative choice). Beyond the last measurable point (FMR ≈ 7e-4 at 0.065) the tail is
//! extrapolated log-linearly with the slope of the real curve between FMR 1e-1 and 1e-3 (about
//! −80 decades per unit score); the synthetic tail falls faster (about −120), so the
//! extrapolation errs on the side of over-estimating the FMR. Interpolation is linear in
//! `log10(FMR)`. Re-measure with `cargo run --release --example compare_bozorth3` when the
//! matcher changes.

/// `(score, log10 FMR)` knots, score increasing, FMR decreasing.
const KNOTS: &[(f32, f32)] = &[
    (0.011, 0.0),
    (0.014, -0.001),
    (0.017, -0.009),
    (0.020, -0.043),
    (0.023, -0.107),
    (0.026, -0.219),
    (0.029, -0.365),
    (0.032, -0.556),
    (0.035, -0.760),
    (0.038, -0.979),
    (0.041, -1.199),
    (0.044, -1.426),
    (0.047, -1.674),
    (0.050, -1.903),
    (0.053, -2.181),
    (0.056, -2.345),
    (0.059, -2.614),
    (0.062, -2.857),
    (0.065, -3.158),
];
/// Slope of the extrapolated tail, in log10 FMR per unit score.
const TAIL_SLOPE: f32 = -80.0;
/// Smallest FMR ever reported.
const FMR_FLOOR: f64 = 1e-12;

/// Calibrated estimate of the single-finger false-match rate at `score`: the probability that a
/// comparison of two *different* fingers scores at least `score`. Monotonically non-increasing.
pub fn false_match_rate_at(score: f32) -> f64 {
    if score.is_nan() || score <= KNOTS[0].0 {
        return 1.0;
    }
    for w in KNOTS.windows(2) {
        let (s0, l0) = w[0];
        let (s1, l1) = w[1];
        if score <= s1 {
            let t = (score - s0) / (s1 - s0);
            return 10f64
                .powf((l0 + t * (l1 - l0)) as f64)
                .clamp(FMR_FLOOR, 1.0);
        }
    }
    let (sl, ll) = KNOTS[KNOTS.len() - 1];
    10f64
        .powf((ll + TAIL_SLOPE * (score - sl)) as f64)
        .clamp(FMR_FLOOR, 1.0)
}

/// Smallest score whose calibrated FMR is at most `fmr` (inverse of [`false_match_rate_at`]).
pub fn score_at_false_match_rate(fmr: f64) -> f32 {
    if fmr >= 1.0 {
        return 0.0;
    }
    let l = fmr.max(FMR_FLOOR).log10() as f32;
    for w in KNOTS.windows(2) {
        let (s0, l0) = w[0];
        let (s1, l1) = w[1];
        if l >= l1 {
            let t = if l1 == l0 { 1.0 } else { (l - l0) / (l1 - l0) };
            return s0 + t * (s1 - s0);
        }
    }
    let (sl, ll) = KNOTS[KNOTS.len() - 1];
    (sl + (l - ll) / TAIL_SLOPE).min(1.0)
}

/// Fuses per-finger scores of one person into one score in `[0, 1]`.
///
/// Fingers are treated as independent: the fused false-match rate is the product of the
/// per-finger rates, and the fused score is the single-finger score with that same rate. So a
/// fused score `s` means "as unlikely for an impostor as one finger scoring `s`", and
/// [`false_match_rate_at`] applies to fused scores unchanged (per probe–person comparison).
pub fn fuse_scores(scores: &[f32]) -> f32 {
    match scores.len() {
        0 => 0.0,
        1 => scores[0].clamp(0.0, 1.0),
        _ => {
            let l: f64 = scores.iter().map(|&s| false_match_rate_at(s).log10()).sum();
            let best = scores.iter().cloned().fold(0.0f32, f32::max);
            score_at_false_match_rate(10f64.powf(l))
                .max(best)
                .clamp(0.0, 1.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotone_and_invertible() {
        let mut last = 2.0;
        for i in 0..=100 {
            let s = i as f32 / 100.0;
            let f = false_match_rate_at(s);
            assert!(f <= last && f > 0.0 && f <= 1.0);
            last = f;
            if f > 1e-11 && f < 0.9 {
                let back = score_at_false_match_rate(f);
                assert!((back - s).abs() < 1e-3, "{s} {back}");
            }
        }
        assert_eq!(false_match_rate_at(f32::NAN), 1.0);
    }

    #[test]
    fn fusion_rewards_agreement() {
        let s = score_at_false_match_rate(1e-3);
        let two = fuse_scores(&[s, s]);
        assert!(two > s);
        assert!((false_match_rate_at(two) - 1e-6).abs() < 1e-7);
        assert_eq!(fuse_scores(&[0.0, s]), s);
        assert_eq!(fuse_scores(&[]), 0.0);
    }
}
