//! The gallery's form of a finger's features: one allocation per finger, and cylinders that
//! keep only the cells inside the disc.
//!
//! A cylinder's bits can only be set in its valid cells, and its valid cells lie inside the
//! disc of radius [`R`]: 52 of the 8×8 cells. Each direction slice is therefore stored as
//! 52 bits (39 bytes for the six), and the validity mask only when it is not the whole disc
//! (cylinders away from the print's border; a flag bit each). With the minutiae, directions,
//! owners and convex hull in the same buffer, a synthetic finger of 60 cylinders takes about
//! 3.3 KB instead of 4.5 KB. Unpacking restores exactly the [`FingerFeatures`] that was
//! packed, into a reused buffer, so every score is unchanged.

use super::*;

/// Layout of the disc cells: `mask` has a 1 for each of them, `bits` counts them; for row `r`
/// of the 8×8 grid, `rows[r] = (from, width, at)`: its disc cells are bits
/// `from..from + width` of a cylinder word, stored contiguously from bit `at` of the packed
/// word.
struct Disc {
    mask: u64,
    bits: u32,
    rows: [(u32, u32, u32); NS],
}

fn disc() -> &'static Disc {
    static D: OnceLock<Disc> = OnceLock::new();
    D.get_or_init(|| {
        let mask = tables()
            .cells
            .iter()
            .fold(0u64, |m, &(_, _, bit)| m | 1 << bit);
        let mut rows = [(0, 0, 0); NS];
        let mut at = 0;
        for (r, row) in rows.iter_mut().enumerate() {
            let byte = (mask >> (8 * r)) as u8;
            let (lo, width) = (byte.trailing_zeros(), byte.count_ones());
            // A disc meets each grid row in one run of cells.
            assert_eq!(byte >> lo, ((1u16 << width) - 1) as u8, "disc row {r}");
            *row = (8 * r as u32 + lo % 8, width, at);
            at += width;
        }
        Disc {
            mask,
            bits: at,
            rows,
        }
    })
}

/// Bytes of the six packed direction slices of one cylinder.
fn slice_bytes() -> usize {
    (ND * disc().bits as usize).div_ceil(8)
}

/// Bytes of one packed validity mask.
fn mask_bytes() -> usize {
    (disc().bits as usize).div_ceil(8)
}

/// The disc cells of `w` gathered into the low bits (`pext` with the disc mask).
#[inline]
fn gather(w: u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("bmi2") {
            // SAFETY: the CPU supports BMI2 (checked just above).
            return unsafe { core::arch::x86_64::_pext_u64(w, disc().mask) };
        }
    }
    gather_rows(w)
}

/// The inverse of [`gather`] (`pdep`).
#[inline]
fn scatter(v: u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("bmi2") {
            // SAFETY: the CPU supports BMI2 (checked just above).
            return unsafe { core::arch::x86_64::_pdep_u64(v, disc().mask) };
        }
    }
    scatter_rows(v)
}

/// Portable twin of [`gather`]: one shift and mask per grid row.
fn gather_rows(w: u64) -> u64 {
    disc().rows.iter().fold(0, |acc, &(from, width, at)| {
        acc | ((w >> from) & ((1 << width) - 1)) << at
    })
}

/// Portable twin of [`scatter`].
fn scatter_rows(v: u64) -> u64 {
    disc().rows.iter().fold(0, |acc, &(from, width, at)| {
        acc | ((v >> at) & ((1 << width) - 1)) << from
    })
}

/// Appends the low `n` bits of `v` to a little-endian bit stream.
fn put_bits(out: &mut Vec<u8>, acc: &mut (u128, u32), v: u64, n: u32) {
    acc.0 |= (v as u128) << acc.1;
    acc.1 += n;
    while acc.1 >= 8 {
        out.push(acc.0 as u8);
        acc.0 >>= 8;
        acc.1 -= 8;
    }
}

fn flush_bits(out: &mut Vec<u8>, acc: &mut (u128, u32)) {
    if acc.1 > 0 {
        out.push(acc.0 as u8);
    }
    *acc = (0, 0);
}

/// Reads `n` ≤ 57 bits at bit offset `pos` of `b` (little-endian stream; bytes past the end
/// read as 0).
#[inline]
fn get_bits(b: &[u8], pos: usize, n: u32) -> u64 {
    let (byte, shift) = (pos / 8, pos % 8);
    let mut w = [0u8; 8];
    let end = (byte + 8).min(b.len());
    w[..end - byte].copy_from_slice(&b[byte..end]);
    (u64::from_le_bytes(w) >> shift) & ((1u64 << n) - 1)
}

/// Packed features (see the module documentation). Layout: minutiae count `n`, cylinder
/// count `c`, half-plane count `h` (u8 each); `n` × 8 bytes of minutiae as in
/// [`FingerFeatures::to_bytes`]; `c` owners; `c` directions; one flag bit per cylinder (1 = its
/// mask is not the whole disc); `c` × packed slices; one packed mask per flagged cylinder;
/// `h` × 3 f32 half-planes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PackedFeatures(Box<[u8]>);

impl PackedFeatures {
    pub(crate) fn pack(f: &FingerFeatures) -> PackedFeatures {
        let d = disc();
        let (n, c) = (f.raw.len(), f.cyl.len());
        let partial: Vec<usize> = (0..c).filter(|&i| f.cyl[i][ND] != d.mask).collect();
        let mut out = Vec::with_capacity(
            3 + n * 8
                + c * (2 + slice_bytes())
                + c.div_ceil(8)
                + partial.len() * mask_bytes()
                + f.hull.len() * 12,
        );
        out.extend_from_slice(&[n as u8, c as u8, f.hull.len() as u8]);
        for m in &f.raw {
            out.extend_from_slice(&m.to_le_bytes());
        }
        out.extend_from_slice(&f.owner);
        out.extend_from_slice(&f.dirq);
        let mut flags = vec![0u8; c.div_ceil(8)];
        for &i in &partial {
            flags[i / 8] |= 1 << (i % 8);
        }
        out.extend_from_slice(&flags);
        let mut acc = (0u128, 0u32);
        for w in &f.cyl {
            for &s in &w[..ND] {
                debug_assert_eq!(s & !d.mask, 0, "a cylinder bit outside the disc");
                put_bits(&mut out, &mut acc, gather(s), d.bits);
            }
            flush_bits(&mut out, &mut acc);
        }
        for &i in &partial {
            put_bits(&mut out, &mut acc, gather(f.cyl[i][ND]), d.bits);
            flush_bits(&mut out, &mut acc);
        }
        for e in &f.hull {
            for v in e {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        PackedFeatures(out.into_boxed_slice())
    }

    /// The features of no finger (no minutiae, no cylinders).
    pub(crate) fn empty() -> PackedFeatures {
        PackedFeatures(vec![0u8; 3].into_boxed_slice())
    }

    /// Heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.0.len()
    }

    /// Restores the packed features into `out`, reusing its buffers.
    pub(crate) fn unpack_into(&self, out: &mut FingerFeatures) {
        let d = disc();
        let b = &self.0;
        let (n, c, h) = (b[0] as usize, b[1] as usize, b[2] as usize);
        let mut pos = 3;
        out.raw.clear();
        out.raw.extend(
            b[pos..pos + n * 8]
                .chunks_exact(8)
                .map(RawMinutia::from_le_bytes),
        );
        pos += n * 8;
        out.owner.clear();
        out.owner.extend_from_slice(&b[pos..pos + c]);
        pos += c;
        out.dirq.clear();
        out.dirq.extend_from_slice(&b[pos..pos + c]);
        pos += c;
        let flags = &b[pos..pos + c.div_ceil(8)];
        pos += flags.len();
        let (sb, mb) = (slice_bytes(), mask_bytes());
        let slices = &b[pos..pos + c * sb];
        pos += c * sb;
        let npartial: usize = flags.iter().map(|f| f.count_ones() as usize).sum();
        let masks = &b[pos..pos + npartial * mb];
        pos += npartial * mb;
        out.cyl.clear();
        out.cnt.clear();
        let mut next_mask = 0;
        for i in 0..c {
            let mut w = [0u64; WORDS];
            let s = &slices[i * sb..(i + 1) * sb];
            for (k, x) in w[..ND].iter_mut().enumerate() {
                *x = scatter(get_bits(s, k * d.bits as usize, d.bits));
            }
            w[ND] = if flags[i / 8] >> (i % 8) & 1 == 1 {
                let m = scatter(get_bits(&masks[next_mask * mb..], 0, d.bits));
                next_mask += 1;
                m
            } else {
                d.mask
            };
            out.cnt.push(super::cylinders::count_bits(&w));
            out.cyl.push(w);
        }
        out.hull.clear();
        out.hull
            .extend(b[pos..pos + h * 12].chunks_exact(12).map(|e| {
                let v = |k: usize| f32::from_le_bytes([e[k], e[k + 1], e[k + 2], e[k + 3]]);
                [v(0), v(4), v(8)]
            }));
    }

    /// The unpacked features (allocating; the gallery unpacks into a reused buffer instead).
    pub(crate) fn unpack(&self) -> FingerFeatures {
        let mut f = FingerFeatures::empty();
        self.unpack_into(&mut f);
        f
    }
}

impl FingerFeatures {
    /// Features with no minutiae (a buffer for [`PackedFeatures::unpack_into`]).
    pub(crate) fn empty() -> FingerFeatures {
        FingerFeatures {
            raw: Vec::new(),
            dirq: Vec::new(),
            cyl: Vec::new(),
            owner: Vec::new(),
            cnt: Vec::new(),
            hull: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::biometrics::finger::synthetic::{SyntheticConfig, SyntheticGenerator};

    #[test]
    fn the_disc_has_52_cells_and_both_gathers_agree() {
        let d = disc();
        assert_eq!(d.bits, 52);
        assert_eq!(d.mask.count_ones(), 52);
        let mut rng = crate::biometrics::finger::synthetic::SplitMix64::new(9);
        for _ in 0..1000 {
            let w = rng.next_u64() & d.mask;
            assert_eq!(gather(w), gather_rows(w));
            assert_eq!(scatter_rows(gather_rows(w)), w);
            assert_eq!(scatter(gather(w)), w);
            let v = rng.next_u64() & ((1 << 52) - 1);
            assert_eq!(scatter(v), scatter_rows(v));
        }
    }

    #[test]
    fn packing_round_trips_and_is_smaller() {
        let mut g = SyntheticGenerator::new(4, SyntheticConfig::default());
        let mut buf = FingerFeatures::empty();
        let mut partial = 0;
        for _ in 0..20 {
            let m = g.master();
            let f = FingerFeatures::extract(&g.render(&m, &Default::default()));
            partial += f.cyl.iter().filter(|w| w[ND] != disc().mask).count();
            let p = PackedFeatures::pack(&f);
            p.unpack_into(&mut buf);
            assert_eq!(buf, f);
            assert_eq!(p.unpack(), f);
            // About three quarters of the unpacked form (which does not even count the
            // allocator's overhead of its six buffers).
            assert!(
                p.memory_bytes() * 5 < f.memory_bytes() * 4,
                "{} vs {}",
                p.memory_bytes(),
                f.memory_bytes()
            );
        }
        // Both kinds of cylinder occur, so both paths of the mask were exercised.
        assert!(partial > 0);
        let e = PackedFeatures::empty().unpack();
        assert_eq!(e.cylinder_count(), 0);
        assert_eq!(compare(&e, &e), 0.0);
        // The buffer also shrinks back to fewer minutiae.
        PackedFeatures::empty().unpack_into(&mut buf);
        assert_eq!(buf, e);
    }
}
