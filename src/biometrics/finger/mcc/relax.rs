//! LSS-R (local similarity sort with relaxation, section 5 of the MCC paper): the selected
//! cylinder pairs are relaxed [`N_REL`] times with a compatibility of distances, relative
//! directions and radial angles; the score is the mean relaxed similarity of the `nP` most
//! efficient pairs.

use super::kernels::dot8;
use super::*;

/// Calls `f(p, q)` (p < q) once for every two entries of `rot` whose rotations are within
/// `reach` of each other round the circle, |rot_p − rot_q| ≤ reach in 1/65536 turn. `rot`
/// holds (rotation, index) sorted by rotation, and `reach` is below half a turn: each entry
/// meets the ones after it, wrapping round, until the first that is further than `reach`.
fn near_rotations(rot: &[(u16, u8)], reach: u16, mut f: impl FnMut(usize, usize)) {
    let n = rot.len();
    let reach = u32::from(reach);
    for i in 0..n {
        let (ri, pi) = (u32::from(rot[i].0), rot[i].1 as usize);
        for k in (i + 1)..(i + n) {
            // Past the end, the circle continues one turn later.
            let (rk, pk) = if k < n {
                (u32::from(rot[k].0), rot[k].1 as usize)
            } else {
                (u32::from(rot[k - n].0) + 65536, rot[k - n].1 as usize)
            };
            if rk - ri > reach {
                break;
            }
            f(pi.min(pk), pi.max(pk));
        }
    }
}

pub(super) fn lss_r(a: &FingerFeatures, b: &FingerFeatures, s: &mut Scratch, np: usize) -> f32 {
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
    // The relative-direction compatibility is 0 unless the two pairs rotate A onto B by
    // angles within `z23_reach` of each other: sorted by rotation, each pair only meets the
    // pairs in a window after it (going round the circle), and every compatible pair is met
    // exactly once.
    s.rot.clear();
    s.rot
        .extend((0..n).map(|p| (s.pa[p].2.wrapping_sub(s.pb[p].2), p as u8)));
    s.rot.sort_unstable();
    // First pass: the candidate pairs (p < q) that share no minutia, with their segments p→q
    // in A and in B, gathered so that the distances of the second pass vectorise.
    s.cand.clear();
    s.seg.clear();
    let (rot, sel, pa, pb) = (&s.rot, &s.sel, &s.pa, &s.pb);
    let (cand, seg) = (&mut s.cand, &mut s.seg);
    near_rotations(rot, t.z23_reach, |p, q| {
        let ((_, ra, rb), (_, ka, kb)) = (sel[p], sel[q]);
        if ka != ra && kb != rb {
            let (pa, pb, qa, qb) = (pa[p], pb[p], pa[q], pb[q]);
            cand.push((p as u8, q as u8));
            seg.push([qa.0 - pa.0, qa.1 - pa.1, qb.0 - pb.0, qb.1 - pb.1]);
        }
    });
    // Second pass: the distance compatibility's table index, |dA − dB| in 1/8 px.
    s.dist_q.clear();
    s.dist_q.extend(s.seg.iter().map(|g| {
        let da = (g[0] * g[0] + g[1] * g[1]).sqrt();
        let db = (g[2] * g[2] + g[3] * g[3]).sqrt();
        ((da - db).abs() * 8.0).min(127.0) as u8
    }));
    // Third pass, for the pairs whose distances agree: relative direction and radial angles.
    // The radial angle at p is (θA_p − σA) − (θB_p − σB) = rot_p − (σA − σB), with σ the
    // direction of the segment p→q; at q the segment is q→p, and the π it adds cancels.
    // σA − σB is the angle from B's segment to A's: one atan2 of their cross and dot products.
    for ((&(p, q), g), &dq) in s.cand.iter().zip(&s.seg).zip(&s.dist_q) {
        let z1 = t.z1[dq as usize];
        if z1 == 0.0 {
            continue;
        }
        let (p, q) = (p as usize, q as usize);
        let rot_p = s.pa[p].2.wrapping_sub(s.pb[p].2);
        let rot_q = s.pa[q].2.wrapping_sub(s.pb[q].2);
        let z2 = z23[((rot_p.wrapping_sub(rot_q) as i16).unsigned_abs() >> 5) as usize];
        let z12 = z1 * z2;
        let cross = g[2] * g[1] - g[3] * g[0];
        let dot = g[0] * g[2] + g[1] * g[3];
        let ds = to_turn16(fast_atan2(cross, dot));
        let d3p = (rot_p.wrapping_sub(ds) as i16).unsigned_abs();
        let d3q = (rot_q.wrapping_sub(ds) as i16).unsigned_abs();
        s.rho[p * n8 + q] = z12 * z23[(d3p >> 5) as usize];
        s.rho[q * n8 + p] = z12 * z23[(d3q >> 5) as usize];
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
            s.lam2[p] = W_R * s.lam[p] + k * dot8(row, &s.lam);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::biometrics::finger::synthetic::SplitMix64;

    /// The windowed enumeration meets exactly the pairs that the all-pairs test accepts, once
    /// each: with ties, wrap-around at 0 and reaches up to just below half a turn.
    #[test]
    fn near_rotations_meets_every_close_pair_once() {
        let mut rng = SplitMix64::new(7);
        for round in 0..400 {
            let n = 1 + (rng.next_u64() % 60) as usize;
            let reach = match round % 4 {
                0 => tables().z23_reach,
                1 => 0,
                2 => 32767,
                _ => (rng.next_u64() % 32768) as u16,
            };
            // Few distinct values near the wrap point, so that ties and wrapping are common.
            let mut rot: Vec<(u16, u8)> = (0..n)
                .map(|p| {
                    let v = (rng.next_u64() % 16) as u16 * 4096 + (rng.next_u64() % 3) as u16;
                    (v.wrapping_sub(2048), p as u8)
                })
                .collect();
            let mut expected = Vec::new();
            for p in 0..n {
                for q in (p + 1)..n {
                    let d = (rot[p].0.wrapping_sub(rot[q].0) as i16).unsigned_abs();
                    if d <= reach {
                        expected.push((p, q));
                    }
                }
            }
            rot.sort_unstable();
            let mut met = Vec::new();
            near_rotations(&rot, reach, |p, q| met.push((p, q)));
            met.sort_unstable();
            assert_eq!(met, expected, "n {n}, reach {reach}");
        }
    }
}
