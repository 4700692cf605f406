//! Score calibration: from a matcher score to an estimated single-finger false-match rate.
//!
//! The false-match rate (FMR) of a score `s` is the probability that a comparison of two
//! *different* fingers scores at least `s`: a p-value under the impostor hypothesis, which is
//! what [`crate::biometrics::fusion`] combines. It is kept as a natural logarithm
//! ([`ln_false_match_rate_at`]), with no floor, so strong comparisons never tie.
//!
//! The model has two parts, both fitted by `examples/finger_calibration.rs` on real impostor
//! comparisons of the six shared FVC sets and written to `calib_fit.rs` (the data, the
//! leave-one-set-out check and the tail's uncertainty are in docs/FUSION.md):
//!
//! - the **body**: the empirical impostor survival function, as knots `(score, ln FMR)`
//!   interpolated linearly in `ln FMR`, up to the tail threshold `u`;
//! - the **tail** above `u`: a generalised Pareto distribution (peaks over threshold),
//!   `FMR(s) = ζ_u · (1 + ξ (s − u) / σ)^(−1/ξ)` (`ζ_u · e^(−(s − u)/σ)` for `ξ = 0`), with
//!   `ξ ≥ 0`: a bounded tail (`ξ < 0`) would claim infinite evidence past its end point.
//!
//! Re-fit with `cargo run --release --example finger_calibration -- --write` whenever the
//! matcher changes.

#[path = "calib_fit.rs"]
mod fit;

/// Natural log of the calibrated single-finger FMR at `score`. Non-increasing in `score`;
/// `0` (FMR 1) at or below the lowest knot and for NaN.
pub fn ln_false_match_rate_at(score: f32) -> f64 {
    let knots = fit::KNOTS;
    if score.is_nan() || score <= knots[0].0 {
        return 0.0;
    }
    if score <= fit::TAIL_U {
        for w in knots.windows(2) {
            let (s0, l0) = w[0];
            let (s1, l1) = w[1];
            if score <= s1 {
                let t = f64::from(score - s0) / f64::from(s1 - s0);
                return (l0 + t * (l1 - l0)).min(0.0);
            }
        }
    }
    let y = f64::from(score - fit::TAIL_U).max(0.0);
    let tail = if fit::TAIL_XI.abs() < 1e-12 {
        -y / fit::TAIL_SIGMA
    } else {
        -(fit::TAIL_XI * y / fit::TAIL_SIGMA).ln_1p() / fit::TAIL_XI
    };
    (fit::TAIL_LN_RATE + tail).min(0.0)
}

/// Calibrated estimate of the single-finger false-match rate at `score` (see
/// [`ln_false_match_rate_at`]; may underflow to 0 for very high scores, use the log form to
/// compare or fuse).
pub fn false_match_rate_at(score: f32) -> f64 {
    ln_false_match_rate_at(score).exp()
}

/// Smallest score in `[0, 1]` whose calibrated FMR is at most `fmr` (inverse of
/// [`false_match_rate_at`]; 1 when even a perfect score does not reach it).
pub fn score_at_false_match_rate(fmr: f64) -> f32 {
    score_at_ln_false_match_rate(fmr.ln())
}

/// Smallest score in `[0, 1]` whose calibrated log FMR is at most `ln_fmr`.
pub fn score_at_ln_false_match_rate(ln_fmr: f64) -> f32 {
    if ln_fmr >= 0.0 {
        return 0.0;
    }
    let (mut lo, mut hi) = (0.0f32, 1.0f32);
    if ln_false_match_rate_at(hi) > ln_fmr {
        return 1.0;
    }
    for _ in 0..40 {
        let mid = 0.5 * (lo + hi);
        if ln_false_match_rate_at(mid) <= ln_fmr {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// Fuses the per-finger scores of one person into one score in `[0, 1]`, for ranking inside
/// the finger gallery: the single-finger score with the same false-match rate as the fingers'
/// Fisher combination ([`crate::biometrics::fusion::fuse`]). The service's decisions use the
/// full evidence (with best-of-`m` corrections and the face), not this number.
pub fn fuse_scores(scores: &[f32]) -> f32 {
    match scores.len() {
        0 => 0.0,
        1 => scores[0].clamp(0.0, 1.0),
        _ => {
            let items: Vec<crate::biometrics::fusion::Evidence> = scores
                .iter()
                .map(|&s| crate::biometrics::fusion::Evidence::new(ln_false_match_rate_at(s)))
                .collect();
            score_at_ln_false_match_rate(crate::biometrics::fusion::fuse(&items))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotone_and_invertible() {
        let mut last = 1.0;
        for i in 0..=1000 {
            let s = i as f32 / 1000.0;
            let l = ln_false_match_rate_at(s);
            assert!(l <= last && l <= 0.0, "{s}");
            last = l;
            if l < -0.01 && l > -200.0 {
                let back = score_at_ln_false_match_rate(l);
                assert!((back - s).abs() < 1e-4, "{s} {back}");
            }
        }
        assert_eq!(ln_false_match_rate_at(f32::NAN), 0.0);
        // No floor: a higher score in the tail always has a lower FMR.
        assert!(ln_false_match_rate_at(0.9) < ln_false_match_rate_at(0.8));
        assert!(ln_false_match_rate_at(fit::TAIL_U + 0.01) < fit::TAIL_LN_RATE);
    }

    #[test]
    fn the_fit_is_continuous_at_the_tail_threshold() {
        let u = fit::TAIL_U;
        let below = ln_false_match_rate_at(u - 1e-6);
        let above = ln_false_match_rate_at(u + 1e-6);
        assert!((below - above).abs() < 0.01, "{below} {above}");
        const { assert!(fit::TAIL_XI >= 0.0 && fit::TAIL_SIGMA > 0.0) };
        assert!(fit::KNOTS
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 >= w[1].1));
    }

    #[test]
    fn fusion_rewards_agreement_but_less_than_the_product() {
        let s = score_at_false_match_rate(1e-3);
        let two = fuse_scores(&[s, s]);
        assert!(two > s);
        // Fisher: P = p² (1 − ln p²) = 1e-6 × 14.8, not the product 1e-6.
        let want = 1e-6 * (1.0 - (1e-6f64).ln());
        let got = false_match_rate_at(two);
        assert!((got / want - 1.0).abs() < 0.02, "{got} {want}");
        // A finger with no evidence weakens the fusion a little, it never adds.
        assert!(fuse_scores(&[0.0, s]) <= s);
        assert_eq!(fuse_scores(&[]), 0.0);
    }
}
