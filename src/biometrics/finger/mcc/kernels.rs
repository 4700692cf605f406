//! The hot loops of the matcher, each with a plain scalar twin and a test holding the two
//! equal: the local similarity of all matchable cylinder pairs, as a list or as the mean of the
//! best few (XOR/AND/popcount; compiled again with hardware `popcnt`, and with AVX-512's vector
//! popcount, the best the CPU has chosen at run time) and the relaxation's dot product (eight
//! independent partial sums, which the compiler vectorises).

use super::*;

/// Calls `f(similarity, index in a, index in b)` for every matchable cylinder pair with a
/// positive local similarity. Both the matcher's pair list and the index's cheap re-ranking
/// score are built on this one loop.
#[inline(always)]
fn each_local_pair(a: &FingerFeatures, b: &FingerFeatures, mut f: impl FnMut(f32, u8, u8)) {
    let t = tables();
    let min_me = (MIN_ME * t.cells.len() as f32).ceil() as u32;
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
                f(s, i as u8, j as u8);
            }
        }
    }
}

/// Local similarities of all matchable cylinder pairs; returns them in `out` as
/// (similarity, index in a, index in b).
#[inline(always)]
fn local_pairs_kernel(a: &FingerFeatures, b: &FingerFeatures, out: &mut Vec<(f32, u8, u8)>) {
    out.clear();
    each_local_pair(a, b, |s, i, j| out.push((s, i, j)));
}

/// Mean of the [`LOCAL_TOP`] best local similarities over all matchable cylinder pairs
/// (missing ones count as 0), kept in a small sorted array instead of a list of every pair.
#[inline(always)]
fn local_top_kernel(a: &FingerFeatures, b: &FingerFeatures) -> f32 {
    let mut top = [0f32; LOCAL_TOP];
    each_local_pair(a, b, |s, _, _| {
        if s > top[LOCAL_TOP - 1] {
            let mut k = LOCAL_TOP - 1;
            while k > 0 && top[k - 1] < s {
                top[k] = top[k - 1];
                k -= 1;
            }
            top[k] = s;
        }
    });
    top.iter().sum::<f32>() / LOCAL_TOP as f32
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn local_pairs_popcnt(a: &FingerFeatures, b: &FingerFeatures, out: &mut Vec<(f32, u8, u8)>) {
    local_pairs_kernel(a, b, out)
}

/// The same kernel compiled for AVX-512 with vector popcount (`vpopcntq`), which the
/// compiler uses for the per-word popcounts of a cylinder pair.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt,avx2,avx512f,avx512vl,avx512vpopcntdq")]
fn local_pairs_avx512(a: &FingerFeatures, b: &FingerFeatures, out: &mut Vec<(f32, u8, u8)>) {
    local_pairs_kernel(a, b, out)
}

#[cfg(target_arch = "x86_64")]
fn has_avx512_popcnt() -> bool {
    std::arch::is_x86_feature_detected!("avx512vpopcntdq")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("popcnt")
}

pub(super) fn local_pairs(a: &FingerFeatures, b: &FingerFeatures, out: &mut Vec<(f32, u8, u8)>) {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512_popcnt() {
            // SAFETY: the CPU has every feature the function is compiled for (checked just
            // above).
            unsafe { local_pairs_avx512(a, b, out) };
            return;
        }
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU supports POPCNT (checked at run time just above).
            unsafe { local_pairs_popcnt(a, b, out) };
            return;
        }
    }
    local_pairs_kernel(a, b, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn local_top_popcnt(a: &FingerFeatures, b: &FingerFeatures) -> f32 {
    local_top_kernel(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt,avx2,avx512f,avx512vl,avx512vpopcntdq")]
fn local_top_avx512(a: &FingerFeatures, b: &FingerFeatures) -> f32 {
    local_top_kernel(a, b)
}

pub(super) fn local_top(a: &FingerFeatures, b: &FingerFeatures) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512_popcnt() {
            // SAFETY: the CPU has every feature the function is compiled for (checked just
            // above).
            return unsafe { local_top_avx512(a, b) };
        }
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU supports POPCNT (checked at run time just above).
            return unsafe { local_top_popcnt(a, b) };
        }
    }
    local_top_kernel(a, b)
}

/// Dot product of two slices whose length is a multiple of 8, as eight independent partial
/// sums (vectorisable; differs from [`dot_scalar`] only by the rounding of the additions).
#[inline]
pub(super) fn dot8(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    for (r, l) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for t in 0..8 {
            acc[t] += r[t] * l[t];
        }
    }
    acc.iter().sum()
}

/// Scalar twin of [`dot8`] (one running sum), kept for the test that holds them equal.
#[cfg(test)]
fn dot_scalar(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::biometrics::finger::synthetic::{SyntheticConfig, SyntheticGenerator};

    /// The popcnt- and AVX-512-compiled local-similarity kernels and the portable ones give
    /// identical pairs and identical top-k scores.
    #[test]
    fn popcnt_kernel_equals_portable_kernel() {
        let mut g = SyntheticGenerator::new(5, SyntheticConfig::default());
        let ip = crate::biometrics::finger::synthetic::ImpressionParams::default();
        let masters: Vec<_> = (0..3).map(|_| g.master()).collect();
        let feats: Vec<FingerFeatures> = masters
            .iter()
            .flat_map(|m| [g.render(m, &ip), g.render(m, &ip)])
            .map(|v| FingerFeatures::extract(&v))
            .collect();
        let (mut fast, mut plain) = (Vec::new(), Vec::new());
        let mut compared = 0;
        for a in &feats {
            for b in &feats {
                local_pairs(a, b, &mut fast);
                local_pairs_kernel(a, b, &mut plain);
                assert_eq!(fast, plain);
                compared += fast.len();
                // The top-k score is the mean of the k best pairs of the same list.
                let mut sims: Vec<f32> = plain.iter().map(|p| p.0).collect();
                sims.sort_by(|x, y| y.total_cmp(x));
                sims.resize(LOCAL_TOP.max(sims.len()), 0.0);
                let want = sims[..LOCAL_TOP].iter().sum::<f32>() / LOCAL_TOP as f32;
                let (fast_top, plain_top) = (local_top(a, b), local_top_kernel(a, b));
                assert_eq!(fast_top, plain_top);
                assert!((fast_top - want).abs() <= 1e-6, "{fast_top} vs {want}");
                // Every compiled variant this CPU can run, not only the one dispatched to.
                #[cfg(target_arch = "x86_64")]
                {
                    let mut v = Vec::new();
                    if std::arch::is_x86_feature_detected!("popcnt") {
                        // SAFETY: the CPU supports POPCNT (checked just above).
                        unsafe { local_pairs_popcnt(a, b, &mut v) };
                        assert_eq!(v, plain);
                        assert_eq!(unsafe { local_top_popcnt(a, b) }, plain_top);
                    }
                    if has_avx512_popcnt() {
                        // SAFETY: the CPU has the features (checked just above).
                        unsafe { local_pairs_avx512(a, b, &mut v) };
                        assert_eq!(v, plain);
                        assert_eq!(unsafe { local_top_avx512(a, b) }, plain_top);
                    }
                }
            }
        }
        assert!(compared > 1000, "only {compared} pairs compared");
    }

    #[test]
    fn dot8_equals_scalar_dot() {
        let mut x = 0x2545_f491u32;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x % 1000) as f32 / 1000.0
        };
        for n in [8usize, 16, 48, 56] {
            let a: Vec<f32> = (0..n).map(|_| next()).collect();
            let b: Vec<f32> = (0..n).map(|_| next()).collect();
            let (v, s) = (dot8(&a, &b), dot_scalar(&a, &b));
            assert!((v - s).abs() <= 1e-5 * s.abs().max(1.0), "{v} vs {s}");
        }
    }
}
