//! Minutia Cylinder-Code (MCC) features and the 1:1 matcher.
//!
//! Reference: R. Cappelli, M. Ferrara, D. Maltoni, "Minutia Cylinder-Code: a new representation
//! and matching technique for fingerprint recognition", IEEE TPAMI 32(12), 2010.
//!
//! Each minutia gets a *cylinder*: a 3-D histogram of the neighbouring minutiae in a disc of
//! radius [`R`] around it, expressed in the minutia's own frame (so it is invariant to rotation
//! and translation), with [`NS`]×[`NS`] spatial cells and [`ND`] direction slices. Contributions
//! are Gaussian in space and direction; each cell is binarised (the bit-based "MCC-b" variant),
//! so comparing two cylinders is a handful of XOR/AND/popcount operations on `u64` words.
//! Cells that fall outside the fingerprint area (the convex hull of the minutiae, enlarged by
//! [`OMEGA`]) are marked invalid in a per-cylinder spatial mask and ignored in comparisons,
//! which is what makes partial overlaps score well.
//!
//! Global score: LSS-R (local similarity sort with relaxation, section 5 of the paper). The top
//! `min(nA, nB, 48)` cylinder pairs are relaxed for [`N_REL`] iterations with a compatibility
//! that checks distances, relative directions and radial angles between pairs (which absorbs
//! elastic distortion locally); LSS-R is the mean relaxed similarity of the `nP` most efficient
//! pairs. A second, global signal follows: the relaxed pairs with the highest similarity anchor
//! rigid alignments of *all* minutiae, the best one is refined by least squares, and the
//! minutiae paired one-to-one within 15 px / 30° give `n² / (nA · nB)` over the minutiae inside
//! the common area (the other print's convex hull), each minutia counted with a weight from its
//! reported quality (all 1 when none is reported). The score is `LSS-R^0.7 · paired^0.3`, in
//! `[0, 1]`: 0 = nothing in common; see [`super::false_match_rate_at`] for its calibrated
//! meaning.
//!
//! This implementation uses 8×8 spatial cells (one `u64` per direction slice) instead of the
//! paper's 16×16, which keeps the spatial validity mask in a single word and a cylinder in
//! 56 bytes; the parameters were chosen on FVC2002 DB1_B and checked on the synthetic set (see
//! `docs/FINGER.md`).

//! The stages live in child modules, each readable on its own:
//!
//! * [`cylinders`] — valid area (convex hull), cylinder construction (`FingerFeatures::extract`);
//! * [`storage`] — the versioned byte form (`to_bytes` / `from_bytes`);
//! * [`packed`] — the gallery's compact in-memory form ([`PackedFeatures`]);
//! * [`kernels`] — the hot loops (local similarity by popcount, the relaxation's dot product),
//!   each with a plain scalar twin and a test that holds the two equal;
//! * [`relax`] — LSS-R: pair selection and relaxation;
//! * [`consolidate`] — the global rigid alignment and the paired-minutiae score.
//!
//! This file holds the parameters, the feature type, shared look-up tables and [`compare`].

mod consolidate;
pub(crate) mod cylinders;
mod kernels;
mod packed;
mod relax;
mod storage;

use self::consolidate::paired_score;
use self::cylinders::count_bits;
use self::kernels::{local_pairs, local_top};
pub(crate) use self::packed::PackedFeatures;
use self::relax::lss_r;
use super::{FingerError, FingerView, Minutia, MinutiaKind};
use std::cell::RefCell;
use std::f32::consts::{PI, TAU};
use std::sync::OnceLock;

/// Cylinder radius in pixels (500 dpi).
pub const R: f32 = 70.0;
/// Spatial cells per side.
pub const NS: usize = 8;
/// Direction slices.
pub const ND: usize = 6;
/// Words per stored cylinder: `ND` direction slices plus the spatial validity mask.
pub const WORDS: usize = ND + 1;
const DELTA_S: f32 = 2.0 * R / NS as f32;
const DELTA_D: f32 = TAU / ND as f32;
const SIGMA_S: f32 = 28.0 / 3.0;
const SIGMA_D: f32 = 2.0 * PI / 9.0;
const MU_PSI: f32 = 0.005;
/// Enlargement of the convex hull that defines the valid area, in pixels.
pub const OMEGA: f32 = 50.0;
const MIN_VC: f32 = 0.75;
const MIN_M: usize = 2;
const MIN_ME: f32 = 0.6;
/// Largest direction difference of two minutiae whose cylinders may be paired: 60° (43/256 turn).
const DELTA_THETA_Q: i32 = 43;
const MIN_NP: f32 = 4.0;
const MAX_NP: f32 = 8.0;
const MU_P: f32 = 20.0;
const TAU_P: f32 = 0.4;
const W_R: f32 = 0.5;
/// Relaxation iterations.
pub const N_REL: usize = 5;
const MAX_NR: usize = 48;
/// Cylinder pairs averaged by [`compare_local`], the index's re-ranking score.
const LOCAL_TOP: usize = 8;
/// Global consolidation: number of relaxed pairs tried as anchors of a rigid alignment.
const GC_ANCHORS: usize = 3;
/// Global consolidation: largest distance (px) of two minutiae paired after alignment.
const GC_DIST: f32 = 15.0;
/// Global consolidation: largest direction difference of two paired minutiae, 30° in
/// 1/65536 turn.
const GC_ANGLE: u16 = 5461;
/// Global consolidation: floor on the overlap counts (keeps a handful of minutiae in a tiny
/// overlap from scoring like a full match).
const GC_MIN_OVERLAP: f32 = 10.0;
/// Weight of the paired-minutiae score in the fused score `lss^(1-w) · paired^w`.
const GC_WEIGHT: f32 = 0.3;
/// At most this many minutiae per finger are used (selected by `super::select`).
pub const MAX_MINUTIAE: usize = 96;
/// Identifier of the feature parameters above; stored features computed with other parameters
/// are recomputed from their minutiae on load.
const PARAMS_ID: u32 = 0x4d43_0803;
const MAGIC: &[u8; 4] = b"RFF1";

/// Precomputed, comparison-ready features of one finger view. Cheap to clone, `Send + Sync`.
#[derive(Clone, Debug, PartialEq)]
pub struct FingerFeatures {
    /// The minutiae the features were computed from (compact form, for serialisation).
    raw: Vec<RawMinutia>,
    /// Quantised direction (256 steps per turn) of the same minutiae.
    dirq: Vec<u8>,
    /// Cylinders: `ND` slice words + spatial mask word.
    cyl: Vec<[u64; WORDS]>,
    /// Index in `raw` of the minutia owning each cylinder.
    owner: Vec<u8>,
    /// Number of 1-bits of each cylinder (its bits only occur in its own valid cells).
    cnt: Vec<u16>,
    /// Convex hull of all minutiae (internal frame, y up) as half-planes `a x + b y + c ≥ 0`.
    hull: Vec<[f32; 3]>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct RawMinutia {
    /// x in quarter pixels.
    x4: u16,
    /// y (down) in quarter pixels.
    y4: u16,
    /// angle in 1/65536 turn.
    a: u16,
    kind: u8,
    quality: u8,
}

impl RawMinutia {
    /// The stored order of minutiae (by x first: the global consolidation searches paired
    /// minutiae in an x window), also the order that makes `compare` canonical.
    fn order_key(&self) -> (u16, u16, u16) {
        (self.x4, self.y4, self.a)
    }

    fn from_minutia(m: &Minutia) -> Self {
        let a = (super::normalize_angle(m.angle) / TAU * 65536.0).round() as u32 & 0xffff;
        RawMinutia {
            x4: (m.x.clamp(0.0, 16383.0) * 4.0).round() as u16,
            y4: (m.y.clamp(0.0, 16383.0) * 4.0).round() as u16,
            a: a as u16,
            kind: match m.kind {
                MinutiaKind::Ending => 1,
                MinutiaKind::Bifurcation => 2,
                MinutiaKind::Other => 0,
            },
            quality: m.quality,
        }
    }
    /// The 8-byte little-endian form shared by the stored and the packed features.
    fn to_le_bytes(self) -> [u8; 8] {
        let (x, y, a) = (
            self.x4.to_le_bytes(),
            self.y4.to_le_bytes(),
            self.a.to_le_bytes(),
        );
        [x[0], x[1], y[0], y[1], a[0], a[1], self.kind, self.quality]
    }

    /// Inverse of [`to_le_bytes`](Self::to_le_bytes), from the first 8 bytes of `s`; checks
    /// nothing.
    fn from_le_bytes(s: &[u8]) -> Self {
        RawMinutia {
            x4: u16::from_le_bytes([s[0], s[1]]),
            y4: u16::from_le_bytes([s[2], s[3]]),
            a: u16::from_le_bytes([s[4], s[5]]),
            kind: s[6],
            quality: s[7],
        }
    }

    fn x(&self) -> f32 {
        self.x4 as f32 / 4.0
    }
    fn y(&self) -> f32 {
        self.y4 as f32 / 4.0
    }
    fn angle(&self) -> f32 {
        self.a as f32 * (TAU / 65536.0)
    }
}

/// Difference of two angles wrapped into `[-π, π)`.
#[inline]
fn dphi(a: f32, b: f32) -> f32 {
    let mut d = a - b;
    if d < -PI {
        d += TAU;
    } else if d >= PI {
        d -= TAU;
    }
    if d >= PI {
        d -= TAU;
    }
    d
}

/// Error function (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7).
fn erf(x: f32) -> f32 {
    let s = x.signum();
    let x = x.abs() as f64;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    s * y as f32
}

/// Fast atan2 (max error about 1e-4 rad), enough for the relaxation compatibilities.
#[inline]
fn fast_atan2(y: f32, x: f32) -> f32 {
    let ax = x.abs();
    let ay = y.abs();
    let mx = ax.max(ay);
    let mn = ax.min(ay);
    if mx == 0.0 {
        return 0.0;
    }
    let a = mn / mx;
    let s = a * a;
    let mut r = ((-0.046_496_474 * s + 0.159_314_22) * s - 0.327_622_76) * s * a + a;
    if ay > ax {
        r = std::f32::consts::FRAC_PI_2 - r;
    }
    if x < 0.0 {
        r = PI - r;
    }
    if y < 0.0 {
        -r
    } else {
        r
    }
}

/// Radians in `[-π, π]` to 1/65536 turn, rounded (without a `roundf` call).
#[inline]
fn to_turn16(a: f32) -> u16 {
    let v = a * TURN16;
    (v + 0.5f32.copysign(v)) as i32 as u16
}

fn sigmoid(v: f32, mu: f32, tau: f32) -> f32 {
    1.0 / (1.0 + (-tau * (v - mu)).exp())
}

struct Tables {
    /// Local cell offsets (a, b) of the in-circle cells and their bit index.
    cells: Vec<(f32, f32, u32)>,
    /// sqrt of 0..=ND*64.
    sqrt: Vec<f32>,
    /// Distance compatibility, step 1/8 px.
    z1: [f32; 128],
    /// Angle compatibility, index = |Δ| in 1/2048 turn (0..=1024).
    z23q: Vec<f32>,
    /// The largest |Δ| in 1/65536 turn whose entry in `z23q` is not 0 (it decreases).
    z23_reach: u16,
    /// Spatial Gaussian contribution, indexed by squared distance in 1/4 px² steps up to 3σ.
    gs: Vec<f32>,
    /// Direction contribution to each slice for a direction difference quantised to
    /// `CD_STEPS` steps per turn.
    cd: Vec<[f32; ND]>,
}

const CD_STEPS: usize = 1024;
/// Radians to 1/65536 turn.
const TURN16: f32 = 65536.0 / TAU;

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let mut cells = Vec::new();
        for i in 0..NS {
            for j in 0..NS {
                let a = (i as f32 + 0.5 - NS as f32 / 2.0) * DELTA_S;
                let b = (j as f32 + 0.5 - NS as f32 / 2.0) * DELTA_S;
                if (a * a + b * b).sqrt() <= R {
                    cells.push((a, b, (i * NS + j) as u32));
                }
            }
        }
        let sqrt = (0..=ND * 64).map(|v| (v as f32).sqrt()).collect();
        // Compatibilities below 1e-3 are treated as 0 (lets the relaxation skip them early);
        // the last entry of each table stands for "everything beyond" and is always 0.
        let cut = |v: f32| if v < 1e-3 { 0.0 } else { v };
        let mut z1 = [0f32; 128];
        for (k, z) in z1.iter_mut().enumerate().take(127) {
            *z = cut(sigmoid((k as f32 + 0.5) / 8.0, 8.0, -8.0 / 5.0));
        }
        let z23q: Vec<f32> = (0..=1024)
            .map(|k| cut(sigmoid(k as f32 * TAU / 2048.0, PI / 12.0, -30.0)))
            .collect();
        let last = z23q.iter().rposition(|&z| z != 0.0).unwrap_or(0);
        assert!(z23q[..last].iter().all(|&z| z != 0.0) && last < 1023);
        let z23_reach = ((last << 5) | 31) as u16;
        let sd = SIGMA_D * std::f32::consts::SQRT_2;
        let cd = (0..CD_STEPS)
            .map(|q| {
                let dth = dphi(q as f32 * TAU / CD_STEPS as f32, 0.0);
                let mut row = [0f32; ND];
                for (k, v) in row.iter_mut().enumerate() {
                    let ang = -PI + (k as f32 + 0.5) * DELTA_D;
                    let d = dphi(ang, dth);
                    *v = 0.5 * (erf((d + DELTA_D / 2.0) / sd) - erf((d - DELTA_D / 2.0) / sd));
                }
                row
            })
            .collect();
        let gnorm = 1.0 / (SIGMA_S * TAU.sqrt());
        let n_gs = ((3.0 * SIGMA_S).powi(2) * 4.0) as usize + 2;
        let gs = (0..n_gs)
            .map(|k| gnorm * (-(k as f32 / 4.0) / (2.0 * SIGMA_S * SIGMA_S)).exp())
            .collect();
        Tables {
            gs,
            cells,
            sqrt,
            z1,
            z23q,
            z23_reach,
            cd,
        }
    })
}

impl FingerFeatures {
    /// Geometry of the minutia owning cylinder `i`: x, y (y up), direction in 1/65536 turn.
    #[inline]
    fn point(&self, i: usize) -> (f32, f32, u16) {
        let r = &self.raw[self.owner[i] as usize];
        (r.x(), -r.y(), r.a)
    }
    /// Number of minutiae the features were computed from.
    pub fn minutiae_count(&self) -> usize {
        self.raw.len()
    }

    /// Number of valid cylinders (minutiae usable by the matcher).
    pub fn cylinder_count(&self) -> usize {
        self.cyl.len()
    }

    pub(crate) fn cylinders(&self) -> &[[u64; WORDS]] {
        &self.cyl
    }

    /// Quantised direction (1/256 turn) of the minutia owning each cylinder.
    pub(crate) fn directions(&self) -> &[u8] {
        &self.dirq
    }

    /// Heap bytes held by these features.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.raw.capacity() * std::mem::size_of::<RawMinutia>()
            + self.dirq.capacity()
            + self.cyl.capacity() * 8 * WORDS
            + self.owner.capacity()
            + self.cnt.capacity() * 2
            + self.hull.capacity() * 12
    }
}

#[derive(Default)]
struct Scratch {
    pairs: Vec<(f32, u8, u8)>,
    sel: Vec<(f32, u8, u8)>,
    pa: Vec<(f32, f32, u16)>,
    pb: Vec<(f32, f32, u16)>,
    /// LSS-R: each selected pair's rotation (A onto B, 1/65536 turn) and index, sorted.
    rot: Vec<(u16, u8)>,
    /// LSS-R: candidate pairs of pairs (p < q), their segments p→q (xA, yA, xB, yB) and the
    /// distance compatibility's index.
    cand: Vec<(u8, u8)>,
    seg: Vec<[f32; 4]>,
    dist_q: Vec<u8>,
    rho: Vec<f32>,
    lam: Vec<f32>,
    lam2: Vec<f32>,
    eff: Vec<(f32, f32)>,
    /// Global consolidation: A's minutiae (internal frame), B's (sorted by x), claims on B.
    ga: Vec<(f32, f32, u16)>,
    gb: Vec<(f32, f32, u16)>,
    claim: Vec<(f32, u8)>,
    matched: Vec<(u8, u8)>,
    near: Vec<(u8, u8)>,
    /// Global consolidation: the minutiae's weights by reported quality (all 1 when a finger
    /// reports none).
    wa: Vec<f32>,
    wb: Vec<f32>,
    /// x buckets of `gb`: `xb[k]` = first index whose bucket is ≥ k; `xinv` = 1 / width.
    xb: Vec<u16>,
    xinv: f32,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}
/// Compares two fingers. Symmetric: the two arguments are first put in a canonical order.
///
/// Returns a similarity in `[0, 1]`: `LSS-R^0.7 · paired^0.3`, where LSS-R is the mean relaxed
/// local similarity of the best corresponding minutia pairs (MCC with LSS-R) and `paired` the
/// normalised count of minutiae paired one-to-one after a global rigid alignment (see the
/// module documentation). The relaxation damps every pair that is not supported by
/// geometrically consistent neighbours, so the scale is compressed: on FVC2002 DB1_B
/// impostors score 0.011–0.081 (median 0.028) and genuine pairs have a median of 0.21; a
/// template compared with itself scores above 0.9. The calibrated meaning is given by
/// [`super::false_match_rate_at`]: FMR 1e-2 at ≈0.062, 1e-3 at ≈0.089, 1e-4 at ≈0.126 (the
/// fit of `calib_fit.rs`; above its top 2 % of impostor scores the tail is a fitted model).
pub fn compare(a: &FingerFeatures, b: &FingerFeatures) -> f32 {
    // The global consolidation is not symmetric in its arguments; a canonical order makes
    // compare(a, b) == compare(b, a) exactly.
    let key = RawMinutia::order_key;
    let order = a
        .raw
        .len()
        .cmp(&b.raw.len())
        .then_with(|| a.raw.iter().map(key).cmp(b.raw.iter().map(key)));
    let (a, b) = if order == std::cmp::Ordering::Greater {
        (b, a)
    } else {
        (a, b)
    };
    let (na, nb) = (a.cyl.len(), b.cyl.len());
    if na == 0 || nb == 0 {
        return 0.0;
    }
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        local_pairs(a, b, &mut s.pairs);
        if s.pairs.is_empty() {
            return 0.0;
        }
        let n_min = na.min(nb);
        let np =
            (MIN_NP + (sigmoid(n_min as f32, MU_P, TAU_P) * (MAX_NP - MIN_NP)).round()) as usize;
        let nr = n_min.min(MAX_NR).min(s.pairs.len());
        // Top nr pairs by local similarity.
        s.sel.clear();
        if s.pairs.len() > nr {
            s.pairs
                .select_nth_unstable_by(nr - 1, |x, y| y.0.total_cmp(&x.0));
        }
        s.sel.extend_from_slice(&s.pairs[..nr]);
        let lss = lss_r(a, b, s, np);
        if lss <= 0.0 {
            return 0.0;
        }
        let g = paired_score(a, b, s);
        (lss.powf(1.0 - GC_WEIGHT) * g.powf(GC_WEIGHT)).clamp(0.0, 1.0)
    })
}

/// The cheap local score with which the 1:N index re-ranks its candidates: the mean of the
/// [`LOCAL_TOP`] best local similarities over all matchable cylinder pairs. This is LSS, the
/// plain local similarity sort of the MCC paper, without the relaxation and the global
/// consolidation of [`compare`]: it costs the pair loop only, and it ranks real mates far
/// better than the index's hash collisions do (see `FingerGallery::search`). Not calibrated,
/// and not a match score.
/// A finger without cylinders has no pairs and scores 0.
pub(crate) fn compare_local(a: &FingerFeatures, b: &FingerFeatures) -> f32 {
    local_top(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::biometrics::finger::synthetic::{SyntheticConfig, SyntheticGenerator};

    fn view(ms: &[(f32, f32, f32)]) -> FingerView {
        FingerView {
            position: 1,
            width: 500,
            height: 500,
            resolution_dpi: 500,
            quality: 80,
            minutiae: ms
                .iter()
                .map(|&(x, y, a)| Minutia {
                    x,
                    y,
                    angle: a,
                    kind: MinutiaKind::Ending,
                    quality: 50,
                })
                .collect(),
        }
    }

    #[test]
    fn atan2_and_erf_are_accurate() {
        for i in 0..100 {
            let a = i as f32 * 0.13 - 6.0;
            let (y, x) = (a.sin() * 3.0, a.cos() * 3.0);
            assert!((fast_atan2(y, x) - y.atan2(x)).abs() < 2e-4);
        }
        assert!((erf(0.5) - 0.520_499_9).abs() < 1e-5);
        assert!((erf(-1.0) + 0.842_700_8).abs() < 1e-5);
    }

    #[test]
    fn identical_scores_high_and_is_rotation_translation_invariant() {
        let mut g = SyntheticGenerator::new(7, SyntheticConfig::default());
        let master = g.master();
        let v = g.render(&master, &Default::default());
        let fa = FingerFeatures::extract(&v);
        assert!(fa.cylinder_count() > 10);
        let same = compare(&fa, &fa);
        assert!(same > 0.9, "self score {same}");
        // Rotate by 40 degrees and translate.
        let (c, s) = (40f32.to_radians().cos(), 40f32.to_radians().sin());
        let rot: Vec<(f32, f32, f32)> = v
            .minutiae
            .iter()
            .map(|m| {
                let (x, y) = (m.x - 250.0, m.y - 250.0);
                // Image y is down: a CCW rotation on screen is (x c + y s, -x s + y c).
                (
                    x * c + y * s + 300.0,
                    -x * s + y * c + 300.0,
                    m.angle + 40f32.to_radians(),
                )
            })
            .collect();
        let mut w = view(&rot);
        w.width = 700;
        w.height = 700;
        let fb = FingerFeatures::extract(&w);
        let r = compare(&fa, &fb);
        assert!(r > 0.8 * same, "rotated {r} vs {same}");
        // A different finger scores far lower.
        let other = g.master();
        let fo = FingerFeatures::extract(&g.render(&other, &Default::default()));
        assert!(compare(&fa, &fo) < 0.25, "{}", compare(&fa, &fo));
    }

    #[test]
    fn compare_is_symmetric_and_impressions_pair_up() {
        let mut g = SyntheticGenerator::new(11, SyntheticConfig::default());
        let m = g.master();
        let fa = FingerFeatures::extract(&g.render(&m, &Default::default()));
        let fb = FingerFeatures::extract(&g.render(&m, &Default::default()));
        let other = g.master();
        let fo = FingerFeatures::extract(&g.render(&other, &Default::default()));
        for (x, y) in [(&fa, &fb), (&fa, &fo), (&fb, &fo)] {
            assert_eq!(compare(x, y), compare(y, x));
        }
        assert!(compare(&fa, &fb) > 2.0 * compare(&fa, &fo));
        // The global consolidation of a template with itself pairs every minutia (the scratch
        // space still holds the relaxed pairs of the last comparison).
        assert!(compare(&fa, &fa) > 0.9);
        SCRATCH.with(|s| {
            let s = &mut *s.borrow_mut();
            let (_, ra, rb) = s.sel[0];
            assert_eq!(ra, rb);
            assert!(paired_score(&fa, &fa, s) > 0.99);
        });
    }

    #[test]
    fn empty_and_tiny_inputs_score_zero() {
        let e = FingerFeatures::extract(&view(&[]));
        let one = FingerFeatures::extract(&view(&[(10.0, 10.0, 0.0)]));
        assert_eq!(compare(&e, &e), 0.0);
        assert_eq!(compare(&one, &e), 0.0);
        assert_eq!(one.minutiae_count(), 1);
    }

    /// The paired-minutiae score weighs minutiae by their reported quality: spurious
    /// minutiae reported at low quality cost a genuine pair less than when every minutia
    /// reports the same quality, and a finger that reports one quality for all (or none)
    /// scores exactly as one reporting none.
    #[test]
    fn low_quality_spurious_minutiae_cost_less() {
        use crate::biometrics::finger::synthetic::SplitMix64;
        let mut g = SyntheticGenerator::new(11, SyntheticConfig::default());
        let master = g.master();
        let a = g.render(&master, &Default::default());
        let b0 = g.render(&master, &Default::default());
        let (lo_x, hi_x) = b0
            .minutiae
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), m| (l.min(m.x), h.max(m.x)));
        let (lo_y, hi_y) = b0
            .minutiae
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), m| (l.min(m.y), h.max(m.y)));
        let mut rng = SplitMix64::new(5);
        let mut unit = || (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        let mut b = b0.clone();
        for m in &mut b.minutiae {
            m.quality = 80;
        }
        for _ in 0..25 {
            b.minutiae.push(Minutia {
                x: lo_x + unit() * (hi_x - lo_x),
                y: lo_y + unit() * (hi_y - lo_y),
                angle: unit() * TAU,
                kind: MinutiaKind::Ending,
                quality: 10,
            });
        }
        assert!(b.minutiae.len() <= MAX_MINUTIAE);
        let with = |q: Option<u8>| {
            let mut v = b.clone();
            if let Some(q) = q {
                v.minutiae.iter_mut().for_each(|m| m.quality = q);
            }
            compare(&FingerFeatures::extract(&a), &FingerFeatures::extract(&v))
        };
        let (weighted, none, equal) = (with(None), with(Some(0)), with(Some(50)));
        assert_eq!(none, equal);
        assert!(weighted > none, "weighted {weighted}, unweighted {none}");
    }

    #[test]
    fn serialisation_round_trips() {
        let mut g = SyntheticGenerator::new(3, SyntheticConfig::default());
        let m = g.master();
        let f = FingerFeatures::extract(&g.render(&m, &Default::default()));
        let b = f.to_bytes();
        let back = FingerFeatures::from_bytes(&b).unwrap();
        assert_eq!(back, f);
        // Recomputing from the stored minutiae gives the same features.
        let mut old = b.clone();
        old[4] ^= 0xff;
        assert_eq!(FingerFeatures::from_bytes(&old).unwrap(), f);
        for cut in [0, 5, 9, b.len() / 2, b.len() - 1] {
            assert_eq!(
                FingerFeatures::from_bytes(&b[..cut]).unwrap_err().code(),
                "features_corrupt"
            );
        }
    }
}
