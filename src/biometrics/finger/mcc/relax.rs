//! LSS-R (local similarity sort with relaxation, section 5 of the MCC paper): the selected
//! cylinder pairs are relaxed [`N_REL`] times with a compatibility of distances, relative
//! directions and radial angles; the score is the mean relaxed similarity of the `nP` most
//! efficient pairs.

use super::kernels::dot8;
use super::*;

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
