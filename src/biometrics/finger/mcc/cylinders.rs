//! Cylinder construction: the valid area (convex hull of the minutiae, enlarged by
//! [`OMEGA`]) and, for every minutia with enough neighbours, its binarised cylinder.

use super::*;

/// Convex hull (Andrew's monotone chain), counter-clockwise.
pub(crate) fn convex_hull(pts: &[(f32, f32)]) -> Vec<(f32, f32)> {
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
pub(super) fn minutiae_hull(raw: &[RawMinutia]) -> Vec<(f32, f32)> {
    convex_hull(&raw.iter().map(|m| (m.x(), -m.y())).collect::<Vec<_>>())
}

/// Edges of a counter-clockwise convex polygon as half-planes `a x + b y + c ≥ 0` (inside).
/// Fewer than 3 vertices give no half-planes, and such a hull contains nothing.
pub(super) fn half_planes(h: &[(f32, f32)]) -> Vec<[f32; 3]> {
    let mut out = Vec::with_capacity(h.len());
    half_planes_into(h.iter().copied(), &mut out);
    out
}

/// [`half_planes`] of the vertices `h`, appended to `out`.
pub(super) fn half_planes_into(
    h: impl ExactSizeIterator<Item = (f32, f32)> + Clone,
    out: &mut Vec<[f32; 3]>,
) {
    if h.len() < 3 {
        return;
    }
    let Some(mut a) = h.clone().last() else {
        return;
    };
    for b in h {
        // cross(b − a, q − a) ≥ 0
        let (ex, ey) = (b.0 - a.0, b.1 - a.1);
        out.push([-ey, ex, ey * a.0 - ex * a.1]);
        a = b;
    }
}

#[inline]
pub(super) fn in_half_planes(h: &[[f32; 3]], x: f32, y: f32) -> bool {
    !h.is_empty() && h.iter().all(|e| e[0] * x + e[1] * y + e[2] >= 0.0)
}

/// True if `q` lies inside the hull or within `OMEGA` of it.
pub(super) fn in_enlarged_hull(h: &[(f32, f32)], q: (f32, f32)) -> bool {
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

pub(super) fn count_bits(c: &[u64; WORDS]) -> u16 {
    c[..ND].iter().map(|w| w.count_ones() as u16).sum()
}

pub(super) fn quantize_dir(a: f32) -> u8 {
    ((crate::biometrics::finger::normalize_angle(a) / TAU * 256.0).round() as u32 & 0xff) as u8
}

impl FingerFeatures {
    /// Computes all features of a view (cylinders, masks, geometry). Views with very few
    /// minutiae yield features with few or no cylinders, which score 0 against everything.
    ///
    /// Coordinates are brought to 500 dpi from the view's declared resolution, and at most
    /// [`MAX_MINUTIAE`] minutiae are kept (see [`crate::biometrics::finger::select`]: quality only where it
    /// differs, spatial thinning among equals).
    pub fn extract(view: &FingerView) -> FingerFeatures {
        Self::extract_capped(view, MAX_MINUTIAE)
    }

    pub(crate) fn extract_capped(view: &FingerView, cap: usize) -> FingerFeatures {
        let k = crate::biometrics::finger::select::scale_to_matcher(view.resolution_dpi);
        let ms: Vec<Minutia> = view
            .minutiae
            .iter()
            .filter(|m| m.x.is_finite() && m.y.is_finite() && m.angle.is_finite())
            .map(|m| Minutia {
                x: m.x * k,
                y: m.y * k,
                ..*m
            })
            .collect();
        let ms = crate::biometrics::finger::select::select_minutiae(&ms, cap);
        let raw: Vec<RawMinutia> = ms.iter().map(RawMinutia::from_minutia).collect();
        Self::from_raw(raw)
    }

    pub(super) fn from_raw(mut raw: Vec<RawMinutia>) -> FingerFeatures {
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
}
