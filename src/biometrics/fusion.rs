//! Score-level fusion of face and fingers into one calibrated p-value per candidate.
//!
//! # What a fused value means
//!
//! Every comparison of the probe with a gallery record yields one [`Evidence`] item per
//! modality compared on both sides: the face, and each probe finger that had a gallery finger
//! it could be compared with. An item holds the *p-value* of its raw score — the probability
//! that an impostor (a different person) scores at least this high — from the measured impostor
//! distributions ([`crate::biometrics::finger::ln_false_match_rate_at`] for one finger,
//! [`face_ln_false_match_rate`] for the face). Everything is kept as a natural logarithm, so
//! nothing underflows or saturates and strong candidates never tie.
//!
//! Three corrections turn the items into one honest number:
//!
//! 1. **Best of `m`.** An item that is the best of `m` comparisons (a probe finger at position
//!    0 compared with every gallery finger; a gallery record with several fingers at one
//!    position) has the p-value of a minimum of `m` uniforms: `1 − (1 − p)^m`
//!    ([`Evidence::best_of`]; Šidák's correction).
//! 2. **Weight.** An item of low-quality capture can be given a weight `w` in `(0, 1]`; its
//!    p-value becomes `p^w`. For `w < 1` this is larger than `p`, and still a valid
//!    (conservative) p-value: `P(p^w ≤ t) = t^(1/w) ≤ t`. A weight can only make a result more
//!    conservative; `w = 1` is a normal capture.
//! 3. **Combination of `n` items** (Fisher's method). Under the impostor hypothesis the `n`
//!    p-values are independent uniforms, and `X = −Σ ln p_i` follows a Gamma(n, 1) law, so
//!    `P(X ≥ x) = e^(−x) · Σ_{j<n} x^j / j!`. That is the fused p-value ([`fuse`]): the
//!    probability that an impostor's fused evidence reaches this level. The plain product of
//!    the p-values would overstate the evidence by the factor `Σ_{j<n} x^j / j!` (19× for two
//!    fingers at a product of 1e-8).
//!
//! An identity with several records in the gallery is the best of those records: the service
//! applies [`best_of`] to the identity's best record, with `m` = the number of its records.
//!
//! The fused p-value `p` is reported as decades of evidence `d = −log10 p` and as a score in
//! `[0, 1)`, `d / (d + 4)` ([`score_from_decades`]): strictly increasing, 0 for no evidence,
//! 2/3 at 8 decades. Against a gallery of `N` identities, a threshold of `d` decades gives a
//! false-positive identification rate of `1 − (1 − 10^−d)^N ≈ N · 10^−d`
//! ([`fpir_at`], [`decades_for_fpir`]). The decisions are therefore defined by their FPIR
//! per search, and their thresholds in decades follow the number of identities each probe
//! was compared with ([`DecisionRule`]). docs/FUSION.md has the measured figures.
//!
//! Assumptions: the modalities and the fingers of one person are independent for impostors
//! (fingers of one hand are slightly correlated in real data; docs/FUSION.md says how much
//! this matters), and the calibrations are right in the tail (fitted out of sample; see
//! docs/FUSION.md).

/// `ln 10`.
const LN10: f64 = std::f64::consts::LN_10;

/// Decades of evidence at which the display score is 1/2.
pub const SCORE_HALF_DECADES: f64 = 4.0;

/// One piece of evidence against one gallery record: a face comparison, or one probe finger's
/// best comparison with the record's fingers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// Natural log of the single-comparison p-value (calibrated false-match rate of the raw
    /// score): `ln P(impostor score ≥ s)`, `≤ 0`.
    pub ln_p: f64,
    /// Number of comparisons this item is the best of (`≥ 1`).
    pub comparisons: u32,
    /// Weight in `(0, 1]`: 1 for a normal capture, less for a low-quality one (its p-value is
    /// raised to this power, which only ever weakens the evidence). Values outside are clamped
    /// into `[0, 1]`; 0 means the item counts as no evidence at all.
    pub weight: f64,
}

impl Evidence {
    /// One comparison with log p-value `ln_p` (clamped to `≤ 0`; NaN reads as no evidence),
    /// weight 1.
    pub fn new(ln_p: f64) -> Evidence {
        Evidence {
            ln_p: if ln_p.is_nan() { 0.0 } else { ln_p.min(0.0) },
            comparisons: 1,
            weight: 1.0,
        }
    }

    /// The same item as the best of `m` comparisons.
    pub fn best_of(self, m: u32) -> Evidence {
        Evidence {
            comparisons: m.max(1),
            ..self
        }
    }

    /// The same item with weight `w` (see [`Evidence::weight`]).
    pub fn weighted(self, w: f64) -> Evidence {
        Evidence { weight: w, ..self }
    }

    /// The item's corrected log p-value: `w · ln(1 − (1 − p)^m)`.
    pub fn ln_p_value(&self) -> f64 {
        let w = if self.weight.is_nan() {
            0.0
        } else {
            self.weight.clamp(0.0, 1.0)
        };
        w * best_of(self.ln_p, self.comparisons)
    }

    /// Decades of evidence of the corrected item, `−log10` of [`Evidence::ln_p_value`].
    pub fn decades(&self) -> f64 {
        decades(self.ln_p_value())
    }
}

/// Log p-value of the best of `m` independent comparisons whose best has log p-value `ln_p`:
/// `ln(1 − (1 − p)^m)` (computed without cancellation; for tiny `p` it is `ln p + ln m`).
pub fn best_of(ln_p: f64, m: u32) -> f64 {
    let ln_p = if ln_p.is_nan() { 0.0 } else { ln_p.min(0.0) };
    if m <= 1 {
        return ln_p;
    }
    let m = f64::from(m);
    if ln_p < -30.0 {
        // 1 − (1 − p)^m = m p (1 − (m − 1) p / 2 + …); the correction is below 1e-12.
        return ln_p + m.ln();
    }
    let p = ln_p.exp();
    let q = -(m * (-p).ln_1p()).exp_m1();
    q.ln().min(0.0)
}

/// Fisher's combination of independent evidence items: the natural log of
/// `P(Gamma(n, 1) ≥ x)` with `x = −Σ ln p_i` over the items' corrected p-values and `n` the
/// number of items. No items (nothing compared) is no evidence: `0`.
pub fn fuse(items: &[Evidence]) -> f64 {
    let x: f64 = -items.iter().map(Evidence::ln_p_value).sum::<f64>();
    gamma_ln_survival(items.len(), x)
}

/// `ln P(Gamma(n, 1) ≥ x) = −x + ln Σ_{j<n} x^j / j!` (summed in log space; exact for the
/// integer shapes used here). Decreasing in `x` for every `n ≥ 1`; `0` for `n = 0` or `x ≤ 0`.
pub fn gamma_ln_survival(n: usize, x: f64) -> f64 {
    if n == 0 || x.is_nan() || x <= 0.0 {
        return 0.0;
    }
    if x.is_infinite() {
        return f64::NEG_INFINITY;
    }
    let lx = x.ln();
    let mut terms = Vec::with_capacity(n);
    let mut ln_fact = 0.0;
    for j in 0..n {
        if j > 0 {
            ln_fact += (j as f64).ln();
        }
        terms.push(j as f64 * lx - ln_fact);
    }
    let top = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = terms.iter().map(|t| (t - top).exp()).sum();
    (-x + top + sum.ln()).min(0.0)
}

/// Decades of evidence of a log p-value: `−log10 p`.
pub fn decades(ln_p: f64) -> f64 {
    (-ln_p / LN10).max(0.0)
}

/// Log p-value of `d` decades of evidence.
pub fn ln_p_from_decades(d: f64) -> f64 {
    -d.max(0.0) * LN10
}

/// Display score in `[0, 1)` of `d` decades of evidence: `d / (d + 4)`. Strictly increasing,
/// so scores order candidates exactly as their evidence does.
pub fn score_from_decades(d: f64) -> f64 {
    let d = d.max(0.0);
    if d.is_infinite() {
        return 1.0;
    }
    d / (d + SCORE_HALF_DECADES)
}

/// Inverse of [`score_from_decades`].
pub fn decades_from_score(s: f64) -> f64 {
    let s = s.clamp(0.0, 1.0);
    if s >= 1.0 {
        return f64::INFINITY;
    }
    SCORE_HALF_DECADES * s / (1.0 - s)
}

/// Designed false-positive identification rate of a threshold of `d` decades against a gallery
/// of `gallery_size` identities: `1 − (1 − 10^−d)^N`.
pub fn fpir_at(d: f64, gallery_size: f64) -> f64 {
    let ln_p = ln_p_from_decades(d);
    -(gallery_size * (-ln_p.exp()).ln_1p()).exp_m1()
}

/// Decades of evidence at which a gallery of `gallery_size` identities yields a
/// false-positive identification rate of `fpir` (inverse of [`fpir_at`]).
pub fn decades_for_fpir(fpir: f64, gallery_size: f64) -> f64 {
    let fpir = fpir.clamp(f64::MIN_POSITIVE, 1.0 - 1e-16);
    // p = 1 − (1 − fpir)^(1/N)
    let p = -((-fpir).ln_1p() / gallery_size.max(1.0)).exp_m1();
    -p.log10()
}

/// What a fused candidate is: `duplicate`, `possible` (worth a human look), or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Duplicate,
    Possible,
    None,
}

impl Decision {
    /// The decision's name in the API (`duplicate`, `possible`, `none`).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Duplicate => "duplicate",
            Decision::Possible => "possible",
            Decision::None => "none",
        }
    }
}

/// The decision rule: each level is defined by its designed false-positive identification
/// rate *per search*, and turned into decades of fused evidence at the number of identities
/// the probe was actually compared with ([`decades_for_fpir`]). So the rate a decision names
/// holds for a gallery of 1 000 as for one of 1 000 000: a larger gallery needs more evidence.
///
/// Below [`DecisionRule::min_gallery`] identities the thresholds stay those of the floor: a
/// nearly empty gallery would otherwise link on trivial evidence (against 2 identities, 0.1 %
/// FPIR is only 3.3 decades). In a gallery smaller than the floor the FPIR is lower than
/// designed, `fpir_at(duplicate_decades, N)` (docs/FUSION.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecisionRule {
    /// Designed FPIR of `duplicate` per search (default 0.1 %).
    pub duplicate_fpir: f64,
    /// Designed FPIR of `possible` per search (default 10 %: a human looks).
    pub possible_fpir: f64,
    /// Gallery sizes below this count as this many identities (default 1 000).
    pub min_gallery: f64,
}

impl Default for DecisionRule {
    fn default() -> Self {
        DecisionRule {
            duplicate_fpir: 1e-3,
            possible_fpir: 0.1,
            min_gallery: 1000.0,
        }
    }
}

impl DecisionRule {
    /// Checks the rule's values; the message names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let rate = |v: f64| v.is_finite() && v > 0.0 && v < 1.0;
        if !rate(self.duplicate_fpir) {
            return Err("the duplicate FPIR must be a rate strictly between 0 and 1".into());
        }
        if !rate(self.possible_fpir) {
            return Err("the possible FPIR must be a rate strictly between 0 and 1".into());
        }
        if self.possible_fpir < self.duplicate_fpir {
            return Err("the possible FPIR must be at least the duplicate FPIR".into());
        }
        if !(self.min_gallery.is_finite() && self.min_gallery >= 1.0) {
            return Err("the decision floor must be at least 1 identity".into());
        }
        Ok(())
    }

    /// The number of identities the thresholds are computed for: the gallery searched, but at
    /// least the floor.
    pub fn effective_gallery(&self, gallery: usize) -> f64 {
        (gallery as f64).max(self.min_gallery).max(1.0)
    }

    /// Decades of fused evidence at or above which a candidate is a `duplicate`, against a
    /// search of `gallery` identities.
    pub fn duplicate_decades(&self, gallery: usize) -> f64 {
        decades_for_fpir(self.duplicate_fpir, self.effective_gallery(gallery))
    }

    /// Decades at or above which a candidate is `possible`, against `gallery` identities.
    pub fn possible_decades(&self, gallery: usize) -> f64 {
        decades_for_fpir(self.possible_fpir, self.effective_gallery(gallery))
    }

    /// The decision for an identity whose fused log p-value is `ln_p` (identity level: the
    /// best-of-records correction applied), found by a search of `gallery` identities (the
    /// galleries searched plus the records compared in flight).
    pub fn decide(&self, ln_p: f64, gallery: usize) -> Decision {
        let d = decades(ln_p);
        if d >= self.duplicate_decades(gallery) {
            Decision::Duplicate
        } else if d >= self.possible_decades(gallery) {
            Decision::Possible
        } else {
            Decision::None
        }
    }
}

#[path = "fusion_face_fit.rs"]
mod face_fit;

/// Impostor model of the face matcher: Euclidean distances between the L2-normalised
/// descriptors of different people, fitted as a normal distribution, with the standard
/// deviation widened to its 95 % upper bound. Fitted by
/// `cargo run --release --example fusion_calibration -- --write` on the shared test faces
/// (leave-one-identity-out check and limits in docs/FUSION.md).
pub const FACE_IMPOSTOR_DISTANCE_MEAN: f64 = face_fit::MEAN;
/// Standard deviation of the face impostor model (see [`FACE_IMPOSTOR_DISTANCE_MEAN`]).
pub const FACE_IMPOSTOR_DISTANCE_SD: f64 = face_fit::SD;

/// Natural log of the standard normal CDF, accurate far into the lower tail.
pub fn ln_normal_cdf(z: f64) -> f64 {
    if z < -6.0 {
        // Mills-ratio series: Φ(z) = φ(z)/|z| · (1 − 1/z² + 3/z⁴ − …).
        let z2 = z * z;
        let ln_phi = -0.5 * z2 - 0.5 * (2.0 * std::f64::consts::PI).ln();
        return ln_phi - (-z).ln() + (1.0 - 1.0 / z2 + 3.0 / (z2 * z2)).ln();
    }
    normal_cdf(z).ln()
}

/// Standard normal CDF (Abramowitz & Stegun 7.1.26 erf approximation, |error| < 1.5e-7;
/// below z = −6 the Mills-ratio tail keeps relative accuracy for tiny values).
pub fn normal_cdf(z: f64) -> f64 {
    if z < -6.0 {
        return ln_normal_cdf(z).exp();
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

/// Euclidean distance between two L2-normalised descriptors of cosine similarity `cos`.
pub fn face_distance(cos: f32) -> f64 {
    (2.0 - 2.0 * f64::from(cos.clamp(-1.0, 1.0)))
        .max(0.0)
        .sqrt()
}

/// Natural log of the estimated face FMR at cosine similarity `cos` between two L2-normalised
/// descriptors: the probability that two different people's descriptors are at least this
/// close. Not floored: a closer face always has more evidence.
pub fn face_ln_false_match_rate(cos: f32) -> f64 {
    let z = (face_distance(cos) - FACE_IMPOSTOR_DISTANCE_MEAN) / FACE_IMPOSTOR_DISTANCE_SD;
    ln_normal_cdf(z).min(0.0)
}

/// Estimated face FMR at cosine similarity `cos` (see [`face_ln_false_match_rate`]).
pub fn face_false_match_rate(cos: f32) -> f64 {
    face_ln_false_match_rate(cos).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_matches_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(-1.959964) - 0.025).abs() < 1e-6);
        assert!((normal_cdf(1.0) - 0.841344746).abs() < 1e-6);
        // Far tail: Phi(-7) = 1.28e-12, Phi(-20) = 2.75e-89.
        assert!((normal_cdf(-7.0) / 1.279812543e-12 - 1.0).abs() < 0.01);
        assert!((ln_normal_cdf(-20.0) - 2.753624e-89f64.ln()).abs() < 0.01);
        let mut prev = f64::NEG_INFINITY;
        for i in -400..100 {
            let v = ln_normal_cdf(i as f64 / 10.0);
            assert!(v >= prev, "{i}");
            prev = v;
        }
    }

    #[test]
    fn gamma_survival_matches_closed_forms() {
        // n = 1: e^-x. n = 2: e^-x (1 + x). n = 3: e^-x (1 + x + x²/2).
        for x in [0.5f64, 3.0, 18.42, 200.0] {
            assert!((gamma_ln_survival(1, x) + x).abs() < 1e-12);
            assert!((gamma_ln_survival(2, x) - (-x + (1.0 + x).ln())).abs() < 1e-12);
            let s3 = -x + (1.0 + x + x * x / 2.0).ln();
            assert!((gamma_ln_survival(3, x) - s3).abs() < 1e-10);
        }
        // The figure: two fingers whose p-values multiply to 1e-8 are 19.4x weaker
        // than 1e-8; ten fingers about 10^6 times.
        let x = 8.0 * LN10;
        let two = (gamma_ln_survival(2, x) + x).exp();
        assert!((two - 19.42).abs() < 0.01, "{two}");
        let ten = (gamma_ln_survival(10, x) + x).exp();
        assert!(ten > 5e5 && ten < 2e6, "{ten}");
        assert_eq!(gamma_ln_survival(0, 5.0), 0.0);
        assert_eq!(gamma_ln_survival(3, 0.0), 0.0);
    }

    #[test]
    fn best_of_is_sidak_and_continuous() {
        let p: f64 = 0.01;
        let want = 1.0 - (1.0 - p).powi(10);
        assert!((best_of(p.ln(), 10).exp() - want).abs() < 1e-12);
        assert_eq!(best_of(p.ln(), 1), p.ln());
        // Both branches agree where they meet.
        let a = best_of(-29.999, 7);
        let b = best_of(-30.001, 7);
        assert!((a - b).abs() < 0.01);
        assert!(best_of(-0.0, 5) <= 0.0);
    }

    /// Seeded SplitMix64.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u32) -> u32 {
            (self.next() % u64::from(n)) as u32
        }
    }

    /// Uniform in (0, 1], never exactly 0.
    fn uniform(rng: &mut Rng) -> f64 {
        ((rng.next() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn impostor_p_values_after_fusion_are_uniform() {
        // Impostors: every raw comparison's p-value is uniform. For each trial draw n items
        // (1 to 11: ten fingers and a face), each the best of m comparisons (1 to 10), and
        // fuse. The fraction of fused p-values at or below t must be t within sampling error.
        let mut rng = Rng(20261201);
        let trials = 200_000;
        let ts: [f64; 4] = [0.5, 0.1, 0.01, 0.001];
        for n in [1usize, 2, 3, 5, 11] {
            let mut below = [0usize; 4];
            for _ in 0..trials {
                let items: Vec<Evidence> = (0..n)
                    .map(|_| {
                        let m = 1 + rng.below(10);
                        let best = (0..m).map(|_| uniform(&mut rng)).fold(1.0, f64::min);
                        Evidence::new(best.ln()).best_of(m)
                    })
                    .collect();
                let lp = fuse(&items);
                for (k, t) in ts.iter().enumerate() {
                    if lp <= t.ln() {
                        below[k] += 1;
                    }
                }
            }
            for (k, t) in ts.iter().enumerate() {
                let f = below[k] as f64 / trials as f64;
                let sd = (t * (1.0 - t) / trials as f64).sqrt();
                assert!((f - t).abs() < 4.0 * sd, "n={n} t={t}: observed {f}");
            }
        }
    }

    #[test]
    fn weights_only_make_fusion_more_conservative() {
        let mut rng = Rng(7);
        let trials = 100_000;
        let t: f64 = 0.01;
        let mut below = 0;
        for _ in 0..trials {
            let items: Vec<Evidence> = (0..3)
                .map(|k| {
                    Evidence::new(uniform(&mut rng).ln()).weighted(if k == 0 { 0.5 } else { 1.0 })
                })
                .collect();
            if fuse(&items) <= t.ln() {
                below += 1;
            }
        }
        let f = below as f64 / trials as f64;
        assert!(f <= t + 4.0 * (t / trials as f64).sqrt(), "{f}");
        // One item: lower weight, fewer decades; weight 0 = no evidence.
        let e = Evidence::new(-20.0);
        assert!(e.weighted(0.5).decades() < e.decades());
        assert_eq!(e.weighted(0.0).decades(), 0.0);
        assert_eq!(fuse(&[e.weighted(0.0)]), 0.0);
    }

    #[test]
    fn strong_candidates_stay_ordered() {
        // Far beyond any old 12-decade clamp, more evidence is still a higher score.
        let a = fuse(&[Evidence::new(-300.0), Evidence::new(-200.0)]);
        let b = fuse(&[Evidence::new(-300.0), Evidence::new(-201.0)]);
        assert!(b < a);
        assert!(score_from_decades(decades(b)) > score_from_decades(decades(a)));
        // An extra finger with no evidence costs a little; nothing is compared = no evidence.
        let one = fuse(&[Evidence::new(-20.0)]);
        let with_nothing = fuse(&[Evidence::new(-20.0), Evidence::new(0.0)]);
        assert!(with_nothing > one);
        assert_eq!(fuse(&[]), 0.0);
    }

    #[test]
    fn scores_and_fpir_round_trip() {
        for d in [0.0, 1.0, 6.0, 8.0, 40.0] {
            assert!((decades_from_score(score_from_decades(d)) - d).abs() < 1e-9);
        }
        assert!((score_from_decades(8.0) - 2.0 / 3.0).abs() < 1e-12);
        let d = decades_for_fpir(1e-3, 1e5);
        assert!((d - 8.0).abs() < 1e-3, "{d}");
        assert!((fpir_at(d, 1e5) - 1e-3).abs() < 1e-9);
    }

    #[test]
    fn decision_thresholds_follow_the_gallery_searched() {
        let rule = DecisionRule::default();
        // The designed FPIR holds at every gallery size at or above the floor.
        for n in [1_000usize, 10_000, 100_000, 1_000_000] {
            let dup = rule.duplicate_decades(n);
            let pos = rule.possible_decades(n);
            assert!((fpir_at(dup, n as f64) - 1e-3).abs() < 1e-9, "{n}: {dup}");
            assert!((fpir_at(pos, n as f64) - 0.1).abs() < 1e-9, "{n}: {pos}");
        }
        // One decade more per tenfold gallery: 6 at 1 000, 8 at 100 000, 9 at 1 M.
        assert!((rule.duplicate_decades(1_000) - 6.0).abs() < 1e-3);
        assert!((rule.duplicate_decades(100_000) - 8.0).abs() < 1e-3);
        assert!((rule.duplicate_decades(1_000_000) - 9.0).abs() < 1e-3);
        // The same evidence is a duplicate in a small gallery and not in a large one.
        let seven = ln_p_from_decades(7.0);
        assert_eq!(rule.decide(seven, 5_000), Decision::Duplicate);
        assert_eq!(rule.decide(seven, 100_000), Decision::Possible);
        assert_eq!(
            rule.decide(ln_p_from_decades(5.0), 1_000_000),
            Decision::None
        );
        // Below the floor the thresholds are the floor's, so the FPIR is lower than designed.
        assert_eq!(rule.duplicate_decades(0), rule.duplicate_decades(1_000));
        assert_eq!(rule.duplicate_decades(7), rule.duplicate_decades(1_000));
        assert!(fpir_at(rule.duplicate_decades(7), 7.0) < 1e-5);
        assert_eq!(rule.decide(ln_p_from_decades(5.9), 3), Decision::Possible);
        assert_eq!(rule.decide(0.0, 0), Decision::None);
        // The threshold sits where it should: just above it a duplicate, just below possible.
        let d = rule.duplicate_decades(20_000);
        assert_eq!(
            rule.decide(ln_p_from_decades(d + 1e-9), 20_000),
            Decision::Duplicate
        );
        assert_eq!(
            rule.decide(ln_p_from_decades(d - 1e-6), 20_000),
            Decision::Possible
        );
    }

    #[test]
    fn decision_rule_values_are_checked() {
        assert!(DecisionRule::default().validate().is_ok());
        let bad = |f: fn(&mut DecisionRule)| {
            let mut r = DecisionRule::default();
            f(&mut r);
            r.validate().is_err()
        };
        assert!(bad(|r| r.duplicate_fpir = 0.0));
        assert!(bad(|r| r.duplicate_fpir = 1.0));
        assert!(bad(|r| r.possible_fpir = f64::NAN));
        assert!(bad(|r| r.possible_fpir = 1e-4));
        assert!(bad(|r| r.min_gallery = 0.5));
    }

    #[test]
    fn face_fmr_is_monotone_in_similarity() {
        let mut prev = 0.0;
        for i in 0..=100 {
            let v = face_ln_false_match_rate(i as f32 / 100.0);
            assert!(v <= 0.0);
            if i > 0 {
                assert!(v <= prev, "{i}");
                // Strictly closer faces have strictly more evidence wherever there is any.
                assert!(v < prev || prev > -1e-9, "{i}");
            }
            prev = v;
        }
        assert!(face_false_match_rate(0.99) < 1e-6);
    }
}
