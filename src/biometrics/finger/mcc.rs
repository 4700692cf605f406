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
//! the common area (the other print's convex hull). The score is `LSS-R^0.7 · paired^0.3`, in
//! `[0, 1]`: 0 = nothing in common; see [`super::false_match_rate_at`] for its calibrated
//! meaning.
//!
//! This implementation uses 8×8 spatial cells (one `u64` per direction slice) instead of the
//! paper's 16×16, which keeps the spatial validity mask in a single word and a cylinder in
//! 56 bytes; the parameters were chosen on FVC2002 DB1_B and checked on the synthetic set (see
//! `docs/FINGER.md`).

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
/// At most this many minutiae per finger are used (highest quality first).
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
        let z23q = (0..=1024)
            .map(|k| cut(sigmoid(k as f32 * TAU / 2048.0, PI / 12.0, -30.0)))
            .collect();
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
            cd,
        }
    })
}

/// Convex hull (Andrew's monotone chain), counter-clockwise.
pub(super) fn convex_hull(pts: &[(f32, f32)]) -> Vec<(f32, f32)> {
    let mut p: Vec<(f32, f32)> = pts.to_vec();
    p.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let cross = |o: (f32, f32), a: (f32, f32), b: (f32, f32)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut h: Vec<(f32, f32)> = Vec::with_capacity(2 * p.len());
    for &q in &p {
        while h.len() >= 2 && cross(h[h.len() - 2], h[h.len() - 1], q) <= 0.0 {
            h.pop();
        }
        h.push(q);
    }
    let lower = h.len() + 1;
    for &q in p.iter().rev().skip(1) {
        while h.len() >= lower && cross(h[h.len() - 2], h[h.len() - 1], q) <= 0.0 {
            h.pop();
        }
        h.push(q);
    }
    h.pop();
    h
}

/// Convex hull of a finger's minutiae in the internal frame (y up).
fn minutiae_hull(raw: &[RawMinutia]) -> Vec<(f32, f32)> {
    convex_hull(&raw.iter().map(|m| (m.x(), -m.y())).collect::<Vec<_>>())
}

/// Edges of a counter-clockwise convex polygon as half-planes `a x + b y + c ≥ 0` (inside).
/// Fewer than 3 vertices give no half-planes, and such a hull contains nothing.
fn half_planes(h: &[(f32, f32)]) -> Vec<[f32; 3]> {
    if h.len() < 3 {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(h.len());
    let mut a = h[h.len() - 1];
    for &b in h {
        // cross(b − a, q − a) ≥ 0
        let (ex, ey) = (b.0 - a.0, b.1 - a.1);
        out.push([-ey, ex, ey * a.0 - ex * a.1]);
        a = b;
    }
    out
}

#[inline]
fn in_half_planes(h: &[[f32; 3]], x: f32, y: f32) -> bool {
    !h.is_empty() && h.iter().all(|e| e[0] * x + e[1] * y + e[2] >= 0.0)
}

/// True if `q` lies inside the hull or within `OMEGA` of it.
fn in_enlarged_hull(h: &[(f32, f32)], q: (f32, f32)) -> bool {
    if h.is_empty() {
        return false;
    }
    let mut inside = h.len() >= 3;
    let mut best = f32::INFINITY;
    for i in 0..h.len() {
        let a = h[i];
        let b = h[(i + 1) % h.len()];
        let (ex, ey) = (b.0 - a.0, b.1 - a.1);
        let (px, py) = (q.0 - a.0, q.1 - a.1);
        if ex * py - ey * px < 0.0 {
            inside = false;
        }
        let l2 = ex * ex + ey * ey;
        let t = if l2 > 0.0 {
            ((px * ex + py * ey) / l2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (dx, dy) = (px - t * ex, py - t * ey);
        best = best.min(dx * dx + dy * dy);
    }
    inside || best <= OMEGA * OMEGA
}

fn count_bits(c: &[u64; WORDS]) -> u16 {
    c[..ND].iter().map(|w| w.count_ones() as u16).sum()
}

fn quantize_dir(a: f32) -> u8 {
    ((super::normalize_angle(a) / TAU * 256.0).round() as u32 & 0xff) as u8
}

impl FingerFeatures {
    /// Geometry of the minutia owning cylinder `i`: x, y (y up), direction in 1/65536 turn.
    #[inline]
    fn point(&self, i: usize) -> (f32, f32, u16) {
        let r = &self.raw[self.owner[i] as usize];
        (r.x(), -r.y(), r.a)
    }

    /// Computes all features of a view (cylinders, masks, geometry). Views with very few
    /// minutiae yield features with few or no cylinders, which score 0 against everything.
    pub fn extract(view: &FingerView) -> FingerFeatures {
        let mut ms: Vec<&Minutia> = view
            .minutiae
            .iter()
            .filter(|m| m.x.is_finite() && m.y.is_finite() && m.angle.is_finite())
            .collect();
        if ms.len() > MAX_MINUTIAE {
            ms.sort_by_key(|m| std::cmp::Reverse(m.quality));
            ms.truncate(MAX_MINUTIAE);
        }
        let raw: Vec<RawMinutia> = ms.iter().map(|m| RawMinutia::from_minutia(m)).collect();
        Self::from_raw(raw)
    }

    fn from_raw(mut raw: Vec<RawMinutia>) -> FingerFeatures {
        raw.sort_by_key(RawMinutia::order_key);
        let t = tables();
        // Internal frame: y up, so that the ISO angle is the usual mathematical angle.
        let g: Vec<[f32; 3]> = raw.iter().map(|m| [m.x(), -m.y(), m.angle()]).collect();
        let hull = minutiae_hull(&raw);
        let min_valid = (MIN_VC * t.cells.len() as f32).ceil() as u32;
        let reach = R + 3.0 * SIGMA_S;
        let cut2 = (3.0 * SIGMA_S) * (3.0 * SIGMA_S);
        let mut dirq = Vec::new();
        let mut cyl = Vec::new();
        let mut owner = Vec::new();
        let mut neigh: Vec<(f32, f32, usize)> = Vec::new();
        for (i, m) in g.iter().enumerate() {
            neigh.clear();
            for (j, n) in g.iter().enumerate() {
                if i != j {
                    let (dx, dy) = (n[0] - m[0], n[1] - m[1]);
                    if dx * dx + dy * dy <= reach * reach {
                        let q = (dphi(m[2], n[2]) / TAU * CD_STEPS as f32).round() as i32;
                        neigh.push((n[0], n[1], q.rem_euclid(CD_STEPS as i32) as usize));
                    }
                }
            }
            if neigh.len() < MIN_M {
                continue;
            }
            let (c, s) = (m[2].cos(), m[2].sin());
            let mut words = [0u64; WORDS];
            let mut valid = 0u32;
            for &(a, b, bit) in &t.cells {
                let px = m[0] + c * a - s * b;
                let py = m[1] + s * a + c * b;
                if !in_enlarged_hull(&hull, (px, py)) {
                    continue;
                }
                valid += 1;
                words[ND] |= 1u64 << bit;
                let mut acc = [0f32; ND];
                for &(nx, ny, dth) in &neigh {
                    let (dx, dy) = (nx - px, ny - py);
                    let d2 = dx * dx + dy * dy;
                    if d2 > cut2 {
                        continue;
                    }
                    let cs = t.gs[(d2 * 4.0) as usize];
                    for (v, cd) in acc.iter_mut().zip(&t.cd[dth]) {
                        *v += cs * cd;
                    }
                }
                for (k, v) in acc.iter().enumerate() {
                    if *v > MU_PSI {
                        words[k] |= 1u64 << bit;
                    }
                }
            }
            if valid < min_valid {
                continue;
            }
            dirq.push(quantize_dir(m[2]));
            cyl.push(words);
            owner.push(i as u8);
        }
        // Cylinders sorted by direction (the local-similarity kernel relies on it).
        let mut order: Vec<usize> = (0..cyl.len()).collect();
        order.sort_by_key(|&k| (dirq[k], owner[k]));
        let dirq: Vec<u8> = order.iter().map(|&k| dirq[k]).collect();
        let cyl: Vec<[u64; WORDS]> = order.iter().map(|&k| cyl[k]).collect();
        let owner: Vec<u8> = order.iter().map(|&k| owner[k]).collect();
        let cnt = cyl.iter().map(count_bits).collect();
        FingerFeatures {
            raw,
            dirq,
            cyl,
            owner,
            cnt,
            hull: half_planes(&hull),
        }
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

    /// Releases spare capacity (used by the gallery).
    pub fn shrink(&mut self) {
        self.raw.shrink_to_fit();
        self.dirq.shrink_to_fit();
        self.cyl.shrink_to_fit();
        self.owner.shrink_to_fit();
        self.cnt.shrink_to_fit();
        self.hull.shrink_to_fit();
    }

    /// Compact versioned serialisation: minutiae plus the precomputed cylinders, so loading
    /// does not recompute them (unless the feature parameters changed since storing).
    ///
    /// Layout (little-endian): `"RFF1"`, params id u32, n u8, n × (x·4 u16, y·4 u16,
    /// angle u16 in 1/65536 turn, kind u8, quality u8) sorted by x, c u8, c × (minutia
    /// index u8, 7 × u64 words) sorted by (direction, minutia index).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(10 + self.raw.len() * 8 + self.cyl.len() * (1 + 8 * WORDS));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&PARAMS_ID.to_le_bytes());
        out.push(self.raw.len() as u8);
        for m in &self.raw {
            out.extend_from_slice(&m.x4.to_le_bytes());
            out.extend_from_slice(&m.y4.to_le_bytes());
            out.extend_from_slice(&m.a.to_le_bytes());
            out.push(m.kind);
            out.push(m.quality);
        }
        out.push(self.cyl.len() as u8);
        for (o, w) in self.owner.iter().zip(&self.cyl) {
            out.push(*o);
            for x in w {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out
    }

    /// Inverse of [`to_bytes`](Self::to_bytes); validates every field.
    pub fn from_bytes(b: &[u8]) -> Result<Self, FingerError> {
        let bad = FingerError::FeaturesCorrupt;
        if b.len() < 10 || &b[..4] != MAGIC {
            return Err(bad("bad magic or too short"));
        }
        let params = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        let n = b[8] as usize;
        let mut pos = 9;
        if b.len() < pos + n * 8 + 1 {
            return Err(bad("truncated minutiae"));
        }
        let mut raw = Vec::with_capacity(n);
        for _ in 0..n {
            let s = &b[pos..pos + 8];
            let m = RawMinutia {
                x4: u16::from_le_bytes([s[0], s[1]]),
                y4: u16::from_le_bytes([s[2], s[3]]),
                a: u16::from_le_bytes([s[4], s[5]]),
                kind: s[6],
                quality: s[7],
            };
            if m.kind > 2 || m.x4 > 16383 * 4 || m.y4 > 16383 * 4 {
                return Err(bad("minutia field out of range"));
            }
            raw.push(m);
            pos += 8;
        }
        let c = b[pos] as usize;
        pos += 1;
        if b.len() != pos + c * (1 + 8 * WORDS) {
            return Err(bad("cylinder section length"));
        }
        if params != PARAMS_ID {
            return Ok(Self::from_raw(raw));
        }
        if raw.windows(2).any(|w| w[0].x4 > w[1].x4) {
            return Err(bad("minutiae not sorted"));
        }
        let mut dirq = Vec::with_capacity(c);
        let mut cyl = Vec::with_capacity(c);
        let mut owner = Vec::with_capacity(c);
        // Cylinders come sorted by (direction, minutia index), each minutia at most once.
        let mut last: (u8, i32) = (0, -1);
        for _ in 0..c {
            let idx = b[pos] as usize;
            let Some(m) = raw.get(idx) else {
                return Err(bad("cylinder index"));
            };
            let key = (quantize_dir(m.angle()), idx as i32);
            if key <= last {
                return Err(bad("cylinder index"));
            }
            last = key;
            pos += 1;
            let mut w = [0u64; WORDS];
            for x in w.iter_mut() {
                let mut a = [0u8; 8];
                a.copy_from_slice(&b[pos..pos + 8]);
                *x = u64::from_le_bytes(a);
                pos += 8;
            }
            dirq.push(key.0);
            cyl.push(w);
            owner.push(idx as u8);
        }
        let cnt = cyl.iter().map(count_bits).collect();
        let hull = half_planes(&minutiae_hull(&raw));
        Ok(FingerFeatures {
            raw,
            dirq,
            cyl,
            owner,
            cnt,
            hull,
        })
    }
}

#[derive(Default)]
struct Scratch {
    pairs: Vec<(f32, u8, u8)>,
    sel: Vec<(f32, u8, u8)>,
    pa: Vec<(f32, f32, u16)>,
    pb: Vec<(f32, f32, u16)>,
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
    /// x buckets of `gb`: `xb[k]` = first index whose bucket is ≥ k; `xinv` = 1 / width.
    xb: Vec<u16>,
    xinv: f32,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Local similarities of all matchable cylinder pairs; returns them in `out` as
/// (similarity, index in a, index in b).
#[inline(always)]
fn local_pairs_kernel(a: &FingerFeatures, b: &FingerFeatures, out: &mut Vec<(f32, u8, u8)>) {
    let t = tables();
    let min_me = (MIN_ME * t.cells.len() as f32).ceil() as u32;
    out.clear();
    // Cylinders are stored sorted by direction, so the B cylinders within the direction gate
    // of an A cylinder form one circular range of indices: `cum[v]` = B cylinders with a
    // direction below v.
    let mut cum = [0u16; 257];
    for &q in &b.dirq {
        cum[q as usize + 1] += 1;
    }
    for v in 1..257 {
        cum[v] += cum[v - 1];
    }
    let nb_all = b.cyl.len();
    let width = 2 * DELTA_THETA_Q as usize + 1;
    for (i, ((ca, &qa), &ka)) in a.cyl.iter().zip(&a.dirq).zip(&a.cnt).enumerate() {
        let lo = qa.wrapping_sub(DELTA_THETA_Q as u8) as usize;
        let (r1, r2) = if lo + width <= 256 {
            (cum[lo] as usize..cum[lo + width] as usize, 0..0)
        } else {
            (cum[lo] as usize..nb_all, 0..cum[lo + width - 256] as usize)
        };
        for j in r1.chain(r2) {
            let (cb, kb) = (&b.cyl[j], b.cnt[j]);
            let m = ca[ND] & cb[ND];
            let (mut x, na, nb);
            if m == ca[ND] && m == cb[ND] {
                // Same valid area (the common case inside the print): no masking needed.
                x = 0u32;
                for k in 0..ND {
                    x += (ca[k] ^ cb[k]).count_ones();
                }
                na = ka as u32;
                nb = kb as u32;
            } else {
                if m.count_ones() < min_me {
                    continue;
                }
                x = 0;
                let (mut sa, mut sb) = (0u32, 0u32);
                for k in 0..ND {
                    let u = ca[k] & m;
                    let v = cb[k] & m;
                    x += (u ^ v).count_ones();
                    sa += u.count_ones();
                    sb += v.count_ones();
                }
                na = sa;
                nb = sb;
            }
            if na + nb == 0 {
                continue;
            }
            let s = 1.0 - t.sqrt[x as usize] / (t.sqrt[na as usize] + t.sqrt[nb as usize]);
            if s > 0.0 {
                out.push((s, i as u8, j as u8));
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn local_pairs_popcnt(a: &FingerFeatures, b: &FingerFeatures, out: &mut Vec<(f32, u8, u8)>) {
    local_pairs_kernel(a, b, out)
}

fn local_pairs(a: &FingerFeatures, b: &FingerFeatures, out: &mut Vec<(f32, u8, u8)>) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU supports POPCNT (checked at run time just above).
            unsafe { local_pairs_popcnt(a, b, out) };
            return;
        }
    }
    local_pairs_kernel(a, b, out)
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
/// [`super::false_match_rate_at`]: FMR 1e-2 at ≈0.051, 1e-3 at ≈0.064, 1e-4 at ≈0.076
/// (extrapolated below 7e-4).
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

fn lss_r(a: &FingerFeatures, b: &FingerFeatures, s: &mut Scratch, np: usize) -> f32 {
    let t = tables();
    let n = s.sel.len();
    if n == 1 {
        s.lam.clear();
        s.lam.push(s.sel[0].0);
        return s.sel[0].0 / np as f32;
    }
    s.pa.clear();
    s.pb.clear();
    for &(_, ra, rb) in &s.sel {
        s.pa.push(a.point(ra as usize));
        s.pb.push(b.point(rb as usize));
    }
    // Rows padded to a multiple of 8 so that the relaxation's dot products vectorise.
    let n8 = n.div_ceil(8) * 8;
    s.rho.clear();
    s.rho.resize(n * n8, 0.0);
    // Angles are handled as u16 fractions of a turn: differences wrap for free and index the
    // compatibility table directly (|Δ| >> 5 gives steps of 2π/2048).
    let z23 = &t.z23q;
    for p in 0..n {
        let (_, ra, rb) = s.sel[p];
        let pa = s.pa[p];
        let pb = s.pb[p];
        for q in (p + 1)..n {
            let (_, ka, kb) = s.sel[q];
            if ka == ra || kb == rb {
                continue;
            }
            let qa = s.pa[q];
            let qb = s.pb[q];
            // Cheapest test first: relative direction (no sqrt, no atan2).
            let d2 = (pa
                .2
                .wrapping_sub(qa.2)
                .wrapping_sub(pb.2.wrapping_sub(qb.2)) as i16)
                .unsigned_abs();
            let z2 = z23[(d2 >> 5) as usize];
            if z2 == 0.0 {
                continue;
            }
            let (dxa, dya) = (qa.0 - pa.0, qa.1 - pa.1);
            let (dxb, dyb) = (qb.0 - pb.0, qb.1 - pb.1);
            let da = (dxa * dxa + dya * dya).sqrt();
            let db = (dxb * dxb + dyb * dyb).sqrt();
            let z1 = t.z1[(((da - db).abs() * 8.0) as usize).min(127)];
            if z1 == 0.0 {
                continue;
            }
            let z12 = z1 * z2;
            let sa = to_turn16(fast_atan2(dya, dxa));
            let sb = to_turn16(fast_atan2(dyb, dxb));
            // Radial angle at p (segment p→q) and at q (segment q→p = p→q + π; the π cancels).
            let d3p =
                (pa.2.wrapping_sub(sa).wrapping_sub(pb.2.wrapping_sub(sb)) as i16).unsigned_abs();
            let d3q =
                (qa.2.wrapping_sub(sa).wrapping_sub(qb.2.wrapping_sub(sb)) as i16).unsigned_abs();
            s.rho[p * n8 + q] = z12 * z23[(d3p >> 5) as usize];
            s.rho[q * n8 + p] = z12 * z23[(d3q >> 5) as usize];
        }
    }
    s.lam.clear();
    s.lam.extend(s.sel.iter().map(|x| x.0));
    s.lam.resize(n8, 0.0);
    s.lam2.clear();
    s.lam2.resize(n8, 0.0);
    let k = (1.0 - W_R) / (n as f32 - 1.0);
    for _ in 0..N_REL {
        for p in 0..n {
            let row = &s.rho[p * n8..(p + 1) * n8];
            // Eight independent partial sums (vectorisable; the order of the additions
            // differs from a plain loop only by rounding).
            let mut acc = [0.0f32; 8];
            for (r, l) in row.chunks_exact(8).zip(s.lam.chunks_exact(8)) {
                for t in 0..8 {
                    acc[t] += r[t] * l[t];
                }
            }
            s.lam2[p] = W_R * s.lam[p] + k * acc.iter().sum::<f32>();
        }
        std::mem::swap(&mut s.lam, &mut s.lam2);
    }
    s.lam.truncate(n);
    s.eff.clear();
    s.eff
        .extend(s.sel.iter().zip(&s.lam).map(|(x, &l)| (l / x.0, l)));
    let take = np.min(n);
    if s.eff.len() > take {
        s.eff
            .select_nth_unstable_by(take - 1, |x, y| y.0.total_cmp(&x.0));
    }
    let sum: f32 = s.eff[..take].iter().map(|x| x.1).sum();
    (sum / np as f32).clamp(0.0, 1.0)
}

/// A rigid transform of A's internal frame onto B's: rotation `rot` (1/65536 turn, with its
/// cosine and sine) followed by a translation.
#[derive(Clone, Copy)]
struct Rigid {
    rot: u16,
    c: f32,
    s: f32,
    tx: f32,
    ty: f32,
}

impl Rigid {
    /// The transform that maps point `p` of A onto point `q` of B (directions included).
    fn from_pair(p: (f32, f32, u16), q: (f32, f32, u16)) -> Rigid {
        let rot = q.2.wrapping_sub(p.2);
        let th = rot as f32 * (TAU / 65536.0);
        let (c, s) = (th.cos(), th.sin());
        Rigid {
            rot,
            c,
            s,
            tx: q.0 - (c * p.0 - s * p.1),
            ty: q.1 - (s * p.0 + c * p.1),
        }
    }
    #[inline]
    fn apply(&self, p: (f32, f32, u16)) -> (f32, f32, u16) {
        (
            self.c * p.0 - self.s * p.1 + self.tx,
            self.s * p.0 + self.c * p.1 + self.ty,
            p.2.wrapping_add(self.rot),
        )
    }
}

/// Buckets B's minutiae (`s.gb`, sorted by x) by x, for [`x_window`]. Buckets are at least
/// `GC_DIST` wide and at most 64.
fn bucket_x(s: &mut Scratch) {
    let xmax = s.gb.last().map_or(0.0, |q| q.0);
    let w = (xmax / 63.0).max(GC_DIST);
    s.xinv = 1.0 / w;
    let nbk = (xmax * s.xinv) as usize + 1;
    s.xb.clear();
    let mut j = 0usize;
    for k in 0..=nbk {
        while j < s.gb.len() && ((s.gb[j].0 * s.xinv) as usize) < k {
            j += 1;
        }
        s.xb.push(j as u16);
    }
}

/// Index range of `s.gb` that holds every point whose x lies within `GC_DIST` of `x` (and a
/// few more, from the same buckets; callers check the distance).
#[inline]
fn x_window(s: &Scratch, x: f32) -> std::ops::Range<usize> {
    let last = s.xb.len() - 1;
    // Float-to-usize casts saturate: negative positions give bucket 0.
    let lo = (((x - GC_DIST) * s.xinv) as usize).min(last);
    let hi = (((x + GC_DIST) * s.xinv) as usize + 1).min(last);
    s.xb[lo] as usize..s.xb[hi] as usize
}

#[inline]
fn compatible(p: (f32, f32, u16), q: (f32, f32, u16)) -> Option<f32> {
    let (dx, dy) = (p.0 - q.0, p.1 - q.1);
    let d2 = dx * dx + dy * dy;
    (d2 <= GC_DIST * GC_DIST && (p.2.wrapping_sub(q.2) as i16).unsigned_abs() <= GC_ANGLE)
        .then_some(d2)
}

/// A minutiae that land, under `t`, near a compatible B minutia, each with the first such B
/// minutia (not one-to-one; used to choose the anchor and to fit the alignment), in `s.near`.
fn near_pairs(s: &mut Scratch, t: &Rigid) -> usize {
    s.near.clear();
    for (i, &p) in s.ga.iter().enumerate() {
        let p = t.apply(p);
        let w = x_window(s, p.0);
        if let Some(j) = s.gb[w.clone()]
            .iter()
            .position(|&q| compatible(p, q).is_some())
        {
            s.near.push((i as u8, (w.start + j) as u8));
        }
    }
    s.near.len()
}

/// One-to-one pairing under `t`: every A minutia claims its nearest compatible B minutia, a B
/// minutia claimed twice keeps the nearer claimant. Fills `s.matched` (A index, B index).
fn pair_minutiae(s: &mut Scratch, t: &Rigid) -> usize {
    s.claim.clear();
    s.claim.resize(s.gb.len(), (f32::INFINITY, u8::MAX));
    for (i, &p) in s.ga.iter().enumerate() {
        let p = t.apply(p);
        let w = x_window(s, p.0);
        let mut best = (f32::INFINITY, usize::MAX);
        for (j, &q) in s.gb[w.clone()].iter().enumerate() {
            if let Some(d2) = compatible(p, q) {
                if d2 < best.0 {
                    best = (d2, w.start + j);
                }
            }
        }
        if best.1 != usize::MAX && best.0 < s.claim[best.1].0 {
            s.claim[best.1] = (best.0, i as u8);
        }
    }
    s.matched.clear();
    for (j, &(_, i)) in s.claim.iter().enumerate() {
        if i != u8::MAX {
            s.matched.push((i, j as u8));
        }
    }
    s.matched.len()
}

/// Least-squares rigid transform (2-D Procrustes) of the minutia pairs in `s.matched`.
fn fit_rigid(s: &Scratch) -> Rigid {
    let m = s.matched.len() as f32;
    let (mut ax, mut ay, mut bx, mut by) = (0f32, 0f32, 0f32, 0f32);
    for &(i, j) in &s.matched {
        let (p, q) = (s.ga[i as usize], s.gb[j as usize]);
        ax += p.0;
        ay += p.1;
        bx += q.0;
        by += q.1;
    }
    let (ax, ay, bx, by) = (ax / m, ay / m, bx / m, by / m);
    let (mut dot, mut cross) = (0f32, 0f32);
    for &(i, j) in &s.matched {
        let (p, q) = (s.ga[i as usize], s.gb[j as usize]);
        let (x, y, u, v) = (p.0 - ax, p.1 - ay, q.0 - bx, q.1 - by);
        dot += x * u + y * v;
        cross += x * v - y * u;
    }
    let th = cross.atan2(dot);
    let (c, sn) = (th.cos(), th.sin());
    Rigid {
        rot: to_turn16(th),
        c,
        s: sn,
        tx: bx - (c * ax - sn * ay),
        ty: by - (sn * ax + c * ay),
    }
}

/// Global consolidation after LSS-R, in `[0, 1]`: the relaxed pairs with the highest
/// similarity anchor rigid alignments of all minutiae; the best anchor's alignment is refined
/// by least squares on its paired minutiae, and the score is `n² / (nA · nB)` with `n` the
/// one-to-one paired minutiae and `nA`, `nB` the minutiae of each finger inside the other's
/// convex hull (the common area), each at least `GC_MIN_OVERLAP`.
fn paired_score(a: &FingerFeatures, b: &FingerFeatures, s: &mut Scratch) -> f32 {
    let n = s.sel.len();
    let k = GC_ANCHORS.min(n);
    // The k pairs with the highest relaxed similarity (insertion into a short sorted list).
    let mut anchors = [(f32::MIN, 0usize); GC_ANCHORS];
    for (p, &l) in s.lam.iter().enumerate() {
        if l > anchors[k - 1].0 {
            let mut i = k - 1;
            while i > 0 && anchors[i - 1].0 < l {
                anchors[i] = anchors[i - 1];
                i -= 1;
            }
            anchors[i] = (l, p);
        }
    }
    s.ga.clear();
    s.ga.extend(a.raw.iter().map(|m| (m.x(), -m.y(), m.a)));
    // B's minutiae are stored sorted by x (and the y flip keeps that order).
    s.gb.clear();
    s.gb.extend(b.raw.iter().map(|m| (m.x(), -m.y(), m.a)));
    bucket_x(s);
    let mut best: Option<(usize, Rigid)> = None;
    for &(_, p) in &anchors[..k] {
        let (_, ra, rb) = s.sel[p];
        let t = Rigid::from_pair(a.point(ra as usize), b.point(rb as usize));
        let c = near_pairs(s, &t);
        if best.is_none_or(|(bc, _)| c > bc) {
            best = Some((c, t));
            std::mem::swap(&mut s.near, &mut s.matched);
        }
    }
    let Some((near, mut t)) = best else {
        return 0.0;
    };
    if near >= 3 {
        // Refine the anchor's alignment by least squares on the minutiae it brought together.
        t = fit_rigid(s);
    }
    let paired = pair_minutiae(s, &t);
    if paired == 0 {
        return 0.0;
    }
    // The common area: A's minutiae inside B's hull, B's minutiae inside A's hull (mapped
    // back into A's frame by the inverse transform).
    let na =
        s.ga.iter()
            .filter(|&&p| {
                let p = t.apply(p);
                in_half_planes(&b.hull, p.0, p.1)
            })
            .count() as f32;
    let nb =
        s.gb.iter()
            .filter(|&&q| {
                let (x, y) = (q.0 - t.tx, q.1 - t.ty);
                in_half_planes(&a.hull, t.c * x + t.s * y, -t.s * x + t.c * y)
            })
            .count() as f32;
    let m = paired as f32;
    (m * m / (na.max(GC_MIN_OVERLAP) * nb.max(GC_MIN_OVERLAP))).min(1.0)
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
