//! The versioned byte form of [`FingerFeatures`]: minutiae plus precomputed cylinders.

use super::cylinders::{half_planes, minutiae_hull, quantize_dir};
use super::*;

impl FingerFeatures {
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
            out.extend_from_slice(&m.to_le_bytes());
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
            let m = RawMinutia::from_le_bytes(&b[pos..pos + 8]);
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
