//! Global consolidation after LSS-R: the relaxed pairs with the highest similarity anchor
//! rigid alignments of all minutiae; the best is refined by least squares and the minutiae
//! paired one-to-one under it give the paired-minutiae score.

use super::cylinders::in_half_planes;
use super::*;

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
/// convex hull (the common area), each at least `GC_MIN_OVERLAP`; every count is weighted by
/// the minutiae's reported quality ([`quality_weights`]).
pub(super) fn paired_score(a: &FingerFeatures, b: &FingerFeatures, s: &mut Scratch) -> f32 {
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
    // Weighted by quality (see `quality_weights`): a paired minutia counts the geometric mean
    // of its two weights, a minutia in the common area its own weight.
    quality_weights(&a.raw, &mut s.wa);
    quality_weights(&b.raw, &mut s.wb);
    let na: f32 =
        s.ga.iter()
            .zip(&s.wa)
            .filter(|&(&p, _)| {
                let p = t.apply(p);
                in_half_planes(&b.hull, p.0, p.1)
            })
            .map(|(_, w)| w)
            .sum();
    let nb: f32 =
        s.gb.iter()
            .zip(&s.wb)
            .filter(|&(&q, _)| {
                let (x, y) = (q.0 - t.tx, q.1 - t.ty);
                in_half_planes(&a.hull, t.c * x + t.s * y, -t.s * x + t.c * y)
            })
            .map(|(_, w)| w)
            .sum();
    let m: f32 = s
        .matched
        .iter()
        .map(|&(i, j)| (s.wa[i as usize] * s.wb[j as usize]).sqrt())
        .sum();
    (m * m / (na.max(GC_MIN_OVERLAP) * nb.max(GC_MIN_OVERLAP))).min(1.0)
}

/// Each minutia's weight in the paired-minutiae score: its reported quality over the finger's
/// mean quality (a quality of 0 counts as 1), so the weights average 1 and the score keeps
/// the scale of a plain count. A finger that reports no quality (all 0, as in the SecuGen
/// records) gets weight 1 everywhere, which is the plain count `n² / (nA · nB)` exactly.
/// Why: an extractor's low-quality minutiae are the spurious ones, and counted in full they
/// shrink a genuine pair's score through the overlap counts.
fn quality_weights(raw: &[RawMinutia], w: &mut Vec<f32>) {
    w.clear();
    let sum: u32 = raw.iter().map(|m| u32::from(m.quality)).sum();
    if sum == 0 {
        w.resize(raw.len(), 1.0);
        return;
    }
    let q = |m: &RawMinutia| f32::from(m.quality.max(1));
    let mean = raw.iter().map(q).sum::<f32>() / raw.len() as f32;
    w.extend(raw.iter().map(|m| q(m) / mean));
}
