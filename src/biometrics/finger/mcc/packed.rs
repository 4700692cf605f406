//! The gallery's form of a finger's features: one allocation per finger, holding only what
//! cannot be recomputed cheaply from the rest.
//!
//! A cylinder's bits can only be set in its valid cells, which lie inside the disc of radius
//! [`R`]: 52 of the 8×8 cells. The six direction slices are sparse (on the synthetic
//! population about 7 of the 52 cells are set per slice, and 19 cells are set in any slice),
//! so a cylinder is stored as the 52-bit union of its slices followed by each slice's bits at
//! the union's cells only (`pext`; `pdep` to unpack, with portable twins). The validity mask is
//! stored only when it is not the whole disc (cylinders near the print's border; a flag bit
//! each). Cylinder directions and the hull's half-planes follow from the minutiae and are not
//! stored. A synthetic finger of 60 cylinders takes about 2.0 KB (3.3 KB with whole 52-bit
//! slices and the stored directions and half-planes, 4.5 KB unpacked). Unpacking restores
//! exactly the [`FingerFeatures`] that was packed, into a reused buffer, so every score is
//! unchanged.

use super::*;

/// The cells where any direction slice of a cylinder is set.
#[inline]
fn union(w: &[u64; WORDS]) -> u64 {
    w[..ND].iter().fold(0, |a, &s| a | s)
}

/// The disc cells: `mask` has a 1 for each of them, `bits` counts them.
struct Disc {
    mask: u64,
    bits: u32,
}

fn disc() -> &'static Disc {
    static D: OnceLock<Disc> = OnceLock::new();
    D.get_or_init(|| {
        let mask = tables()
            .cells
            .iter()
            .fold(0u64, |m, &(_, _, bit)| m | 1 << bit);
        Disc {
            mask,
            bits: mask.count_ones(),
        }
    })
}

/// A minutia's point in the internal frame, as [`super::cylinders::minutiae_hull`] takes it.
fn hull_point(m: &RawMinutia) -> (f32, f32) {
    (m.x(), -m.y())
}

/// The convex hull of the minutiae as indices of minutiae, in the hull's order (none when
/// the hull has fewer than 3 vertices, which gives no half-planes).
fn hull_vertices(raw: &[RawMinutia]) -> Vec<u8> {
    let h = super::cylinders::minutiae_hull(raw);
    if h.len() < 3 {
        return Vec::new();
    }
    h.iter()
        .map(|v| {
            let i = raw.iter().position(|m| hull_point(m) == *v);
            i.expect("a hull vertex is a minutia") as u8
        })
        .collect()
}

/// The quantised direction of a cylinder whose minutia has angle `a` (1/65536 turn): a table
/// of [`super::cylinders::quantize_dir`] on the same `f32` angle, so it is exactly the value
/// computed when the features were extracted.
#[inline]
fn dir_of(a: u16) -> u8 {
    static T: OnceLock<Box<[u8]>> = OnceLock::new();
    let t = T.get_or_init(|| {
        (0..=u16::MAX)
            .map(|a| {
                let m = RawMinutia {
                    x4: 0,
                    y4: 0,
                    a,
                    kind: 0,
                    quality: 0,
                };
                super::cylinders::quantize_dir(m.angle())
            })
            .collect()
    });
    t[a as usize]
}

/// The bits of `w` selected by `mask`, gathered into the low bits (`pext`).
#[inline]
fn extract(w: u64, mask: u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("bmi2") {
            // SAFETY: the CPU supports BMI2 (checked just above).
            return unsafe { core::arch::x86_64::_pext_u64(w, mask) };
        }
    }
    extract_bits(w, mask)
}

/// The inverse of [`extract`]: the low bits of `v` placed at the 1-bits of `mask` (`pdep`).
#[inline]
fn deposit(v: u64, mask: u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("bmi2") {
            // SAFETY: the CPU supports BMI2 (checked just above).
            return unsafe { core::arch::x86_64::_pdep_u64(v, mask) };
        }
    }
    deposit_bits(v, mask)
}

/// Portable twin of [`extract`]: one step per bit of the mask.
fn extract_bits(w: u64, mut mask: u64) -> u64 {
    let (mut out, mut k) = (0, 0);
    while mask != 0 {
        let b = mask & mask.wrapping_neg();
        if w & b != 0 {
            out |= 1 << k;
        }
        k += 1;
        mask ^= b;
    }
    out
}

/// Portable twin of [`deposit`].
fn deposit_bits(v: u64, mut mask: u64) -> u64 {
    let (mut out, mut k) = (0, 0);
    while mask != 0 {
        let b = mask & mask.wrapping_neg();
        if v >> k & 1 != 0 {
            out |= b;
        }
        k += 1;
        mask ^= b;
    }
    out
}

/// The disc cells of `w` gathered into the low bits.
#[inline]
fn gather(w: u64) -> u64 {
    extract(w, disc().mask)
}

/// The inverse of [`gather`].
#[inline]
fn scatter(v: u64) -> u64 {
    deposit(v, disc().mask)
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
/// count `c`, hull vertex count `h` (u8 each); `n` × 8 bytes of minutiae as in
/// [`FingerFeatures::to_bytes`]; `c` owners; `h` minutia indices, the hull's vertices in
/// order; one flag bit per cylinder (1 = its mask is not the whole disc); then one bit
/// stream: per cylinder the 52-bit union of its slices and the six slices' bits at the
/// union's cells, then the 52-bit mask of each flagged cylinder.
///
/// What follows from the minutiae is not stored: a cylinder's direction is its owner's
/// (quantised the same way as when the features were computed, through [`dir_of`]), and the
/// hull's half-planes are recomputed from its vertices, which are minutiae.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PackedFeatures(Box<[u8]>);

impl PackedFeatures {
    pub(crate) fn pack(f: &FingerFeatures) -> PackedFeatures {
        let d = disc();
        let (n, c) = (f.raw.len(), f.cyl.len());
        let partial: Vec<usize> = (0..c).filter(|&i| f.cyl[i][ND] != d.mask).collect();
        let hull = hull_vertices(&f.raw);
        debug_assert!(f
            .owner
            .iter()
            .zip(&f.dirq)
            .all(|(&o, &q)| dir_of(f.raw[o as usize].a) == q));
        let used: usize = f
            .cyl
            .iter()
            .map(|w| d.bits as usize + ND * union(w).count_ones() as usize)
            .sum();
        let mut out = Vec::with_capacity(
            3 + n * 8
                + c
                + hull.len()
                + c.div_ceil(8)
                + (used + partial.len() * d.bits as usize).div_ceil(8),
        );
        out.extend_from_slice(&[n as u8, c as u8, hull.len() as u8]);
        for m in &f.raw {
            out.extend_from_slice(&m.to_le_bytes());
        }
        out.extend_from_slice(&f.owner);
        out.extend_from_slice(&hull);
        let mut flags = vec![0u8; c.div_ceil(8)];
        for &i in &partial {
            flags[i / 8] |= 1 << (i % 8);
        }
        out.extend_from_slice(&flags);
        let mut acc = (0u128, 0u32);
        for w in &f.cyl {
            let u = union(w);
            debug_assert_eq!(u & !d.mask, 0, "a cylinder bit outside the disc");
            put_bits(&mut out, &mut acc, gather(u), d.bits);
            let k = u.count_ones();
            for &s in &w[..ND] {
                put_bits(&mut out, &mut acc, extract(s, u), k);
            }
        }
        for &i in &partial {
            put_bits(&mut out, &mut acc, gather(f.cyl[i][ND]), d.bits);
        }
        flush_bits(&mut out, &mut acc);
        let p = PackedFeatures(out.into_boxed_slice());
        debug_assert_eq!(&p.unpack(), f, "packing is exact");
        p
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
        out.dirq
            .extend(out.owner.iter().map(|&o| dir_of(out.raw[o as usize].a)));
        let hull = &b[pos..pos + h];
        pos += h;
        let flags = &b[pos..pos + c.div_ceil(8)];
        pos += flags.len();
        // One bit stream: every cylinder's union and slices, then the flagged masks.
        let bits = &b[pos..];
        let mut at = 0usize;
        let mut read = |n: u32| {
            let v = get_bits(bits, at, n);
            at += n as usize;
            v
        };
        out.cyl.clear();
        out.cnt.clear();
        for _ in 0..c {
            let mut w = [0u64; WORDS];
            let u = scatter(read(d.bits));
            let k = u.count_ones();
            for x in w[..ND].iter_mut() {
                *x = deposit(read(k), u);
            }
            w[ND] = d.mask;
            out.cnt.push(super::cylinders::count_bits(&w));
            out.cyl.push(w);
        }
        for (i, w) in out.cyl.iter_mut().enumerate() {
            if flags[i / 8] >> (i % 8) & 1 == 1 {
                w[ND] = scatter(read(d.bits));
            }
        }
        pos += at.div_ceil(8);
        debug_assert_eq!(pos, b.len());
        out.hull.clear();
        super::cylinders::half_planes_into(
            hull.iter().map(|&v| hull_point(&out.raw[v as usize])),
            &mut out.hull,
        );
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
            assert_eq!(gather(w), extract_bits(w, d.mask));
            assert_eq!(deposit_bits(extract_bits(w, d.mask), d.mask), w);
            assert_eq!(scatter(gather(w)), w);
            let v = rng.next_u64() & ((1 << 52) - 1);
            assert_eq!(scatter(v), deposit_bits(v, d.mask));
            // The per-cylinder gathers, under a random mask (sparse and dense).
            let m = rng.next_u64() & rng.next_u64() | rng.next_u64() & 0xff;
            let k = m.count_ones();
            assert_eq!(extract(w, m), extract_bits(w, m));
            assert!(extract(w, m) < 1 << k);
            let low = v & ((1u64 << k) - 1);
            assert_eq!(deposit(low, m), deposit_bits(low, m));
            assert_eq!(extract(deposit(low, m), m), low);
            assert_eq!(deposit(extract(w, m), m), w & m);
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
            // Under 60 % of the unpacked form (about 47 % on these fingers; the unpacked form's
            // count does not even include the allocator's overhead of its six buffers).
            assert!(
                p.memory_bytes() * 5 < f.memory_bytes() * 3,
                "{} vs {}",
                p.memory_bytes(),
                f.memory_bytes()
            );
        }
        // Both kinds of cylinder occur, so both paths of the mask were exercised.
        assert!(partial > 0);
        // Real prints: MINDTCT's minutiae of FVC2002 DB1 and the vendor sample records.
        let mut real: Vec<FingerView> = crate::biometrics::finger::select::tests::fixture_views()
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/fingers/templates");
        for (format, file) in [
            ("iso-19794-2-2005", "iso19794p2v2005-sample.dat"),
            ("ansi-378-2004", "ansi378v2004-sample.dat"),
            ("ansi-378-2009", "ansi378v2009-sample.dat"),
        ] {
            let bytes = std::fs::read(dir.join(file)).unwrap();
            let rec = crate::biometrics::finger::parse::parse_template(format, &bytes).unwrap();
            real.extend(rec.views);
        }
        assert!(real.len() >= 18, "{}", real.len());
        for v in &real {
            let f = FingerFeatures::extract(v);
            assert!(f.cylinder_count() > 0);
            let p = PackedFeatures::pack(&f);
            assert_eq!(p.unpack(), f);
            assert!(p.memory_bytes() * 5 < f.memory_bytes() * 3);
        }
        let e = PackedFeatures::empty().unpack();
        assert_eq!(e.cylinder_count(), 0);
        assert_eq!(compare(&e, &e), 0.0);
        // The buffer also shrinks back to fewer minutiae.
        PackedFeatures::empty().unpack_into(&mut buf);
        assert_eq!(buf, e);
    }
}
