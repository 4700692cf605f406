//! Seeded synthetic fingerprint minutiae, for tests, accuracy checks and synthetic populations.
//!
//! A *master* finger is a set of minutiae spread over an elliptical finger area with a minimum
//! spacing, whose directions follow a smooth orientation field given by the zero-pole model of
//! Sherlock and Monro (1993) with one core and one delta (a loop pattern) — so neighbouring
//! minutiae have correlated directions as in real prints, which keeps impostor scores realistic.
//! An *impression* of a master applies, in this order: a smooth elastic displacement field (sum
//! of random low-frequency sinusoids), a rigid rotation and translation, cropping by the sensor
//! window, missed minutiae, position and angle jitter, and spurious minutiae that follow the
//! local orientation. Everything is driven by a SplitMix64 generator, so a seed reproduces a
//! population exactly on any platform.

use super::{normalize_angle, FingerView, Minutia, MinutiaKind};
use std::f32::consts::{PI, TAU};

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, good enough for simulation.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = self.unit().max(1e-7);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (TAU * u2).cos()
    }
    /// Uniform integer in `[lo, hi]`.
    pub fn int(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as u32
    }
}

/// Shape of the generated fingers and of the sensor.
#[derive(Clone, Debug)]
pub struct SyntheticConfig {
    /// Sensor window width in pixels (500 dpi).
    pub width: u16,
    /// Sensor window height in pixels.
    pub height: u16,
    /// Semi-axes of the elliptical finger area (x, y) in pixels.
    pub finger_semi_axes: (f32, f32),
    /// Range of the number of minutiae of a master finger.
    pub master_minutiae: (u32, u32),
    /// Minimum distance between master minutiae in pixels.
    pub min_spacing: f32,
}

impl Default for SyntheticConfig {
    /// FVC2002 DB1-like: 388×374 window, a finger larger than the window.
    fn default() -> Self {
        SyntheticConfig {
            width: 388,
            height: 374,
            finger_semi_axes: (150.0, 200.0),
            master_minutiae: (50, 80),
            min_spacing: 12.0,
        }
    }
}

/// Perturbations of one impression.
#[derive(Clone, Debug)]
pub struct ImpressionParams {
    /// Rotation uniformly in ±this many degrees.
    pub max_rotation_deg: f32,
    /// Translation uniformly in ±this many pixels (each axis).
    pub max_translation: f32,
    /// Amplitude of the elastic displacement field in pixels.
    pub elastic_px: f32,
    /// Probability that a visible minutia is missed.
    pub miss_rate: f32,
    /// Spurious minutiae added, as a fraction of the visible ones.
    pub spurious_rate: f32,
    /// Standard deviation of the position noise in pixels.
    pub position_sigma: f32,
    /// Standard deviation of the angle noise in degrees.
    pub angle_sigma_deg: f32,
}

impl Default for ImpressionParams {
    /// Moderate distortion, comparable to a plain live-scan impression.
    fn default() -> Self {
        ImpressionParams {
            max_rotation_deg: 25.0,
            max_translation: 45.0,
            elastic_px: 6.0,
            miss_rate: 0.2,
            spurious_rate: 0.2,
            position_sigma: 2.0,
            angle_sigma_deg: 7.0,
        }
    }
}

/// A master finger: minutiae in the finger frame (origin at the finger centre, y down).
#[derive(Clone, Debug)]
pub struct MasterFinger {
    /// Master minutiae (ISO angle convention).
    pub minutiae: Vec<Minutia>,
    core: (f32, f32),
    delta: (f32, f32),
    base: f32,
}

impl MasterFinger {
    /// Ridge orientation (radians, modulo π) at a point of the finger frame.
    fn orientation(&self, x: f32, y: f32) -> f32 {
        // Zero-pole model in the y-up frame.
        let (yu, cyu, dyu) = (-y, -self.core.1, -self.delta.1);
        let ac = (yu - cyu).atan2(x - self.core.0);
        let ad = (yu - dyu).atan2(x - self.delta.0);
        self.base + 0.5 * (ac - ad)
    }
}

/// Seeded generator of masters and impressions.
#[derive(Clone, Debug)]
pub struct SyntheticGenerator {
    rng: SplitMix64,
    cfg: SyntheticConfig,
}

impl SyntheticGenerator {
    /// A generator; the same seed and configuration give the same sequence.
    pub fn new(seed: u64, cfg: SyntheticConfig) -> Self {
        SyntheticGenerator {
            rng: SplitMix64::new(seed ^ 0x5eed_f1e6_e2b1_0001),
            cfg,
        }
    }

    /// The random source (e.g. to derive impression choices reproducibly).
    pub fn rng(&mut self) -> &mut SplitMix64 {
        &mut self.rng
    }

    /// A new master finger.
    pub fn master(&mut self) -> MasterFinger {
        let (ax, ay) = self.cfg.finger_semi_axes;
        let r = &mut self.rng;
        let core = (r.range(-0.25, 0.25) * ax, r.range(-0.35, 0.0) * ay);
        let side = if r.unit() < 0.5 { -1.0 } else { 1.0 };
        let delta = (
            core.0 + side * r.range(0.5, 1.0) * ax,
            core.1 + r.range(0.6, 1.0) * ay,
        );
        let base = r.range(-0.3, 0.3);
        let mut mf = MasterFinger {
            minutiae: Vec::new(),
            core,
            delta,
            base,
        };
        let target =
            self.rng
                .int(self.cfg.master_minutiae.0, self.cfg.master_minutiae.1) as usize;
        let sp2 = self.cfg.min_spacing * self.cfg.min_spacing;
        let mut tries = 0;
        while mf.minutiae.len() < target && tries < target * 200 {
            tries += 1;
            let (u, v) = (self.rng.range(-1.0, 1.0), self.rng.range(-1.0, 1.0));
            if u * u + v * v > 1.0 {
                continue;
            }
            let (x, y) = (u * ax, v * ay);
            if mf
                .minutiae
                .iter()
                .any(|m| (m.x - x).powi(2) + (m.y - y).powi(2) < sp2)
            {
                continue;
            }
            let flip = if self.rng.unit() < 0.5 { 0.0 } else { PI };
            let angle = normalize_angle(mf.orientation(x, y) + flip);
            let kind = if self.rng.unit() < 0.55 {
                MinutiaKind::Ending
            } else {
                MinutiaKind::Bifurcation
            };
            let quality = self.rng.int(30, 100) as u8;
            mf.minutiae.push(Minutia {
                x,
                y,
                angle,
                kind,
                quality,
            });
        }
        mf
    }

    /// One impression of `master` as seen by the configured sensor (position 0 = unknown).
    pub fn render(&mut self, master: &MasterFinger, p: &ImpressionParams) -> FingerView {
        let (w, h) = (self.cfg.width as f32, self.cfg.height as f32);
        let r = &mut self.rng;
        let rot = r
            .range(-p.max_rotation_deg, p.max_rotation_deg)
            .to_radians();
        let (tx, ty) = (
            r.range(-p.max_translation, p.max_translation),
            r.range(-p.max_translation, p.max_translation),
        );
        // Elastic field: three random plane waves per axis, wavelength 250–600 px.
        let mut waves = [(0f32, 0f32, 0f32, 0f32, 0f32); 6];
        for wv in waves.iter_mut() {
            let dir = r.range(0.0, TAU);
            let k = TAU / r.range(250.0, 600.0);
            *wv = (
                k * dir.cos(),
                k * dir.sin(),
                r.range(0.0, TAU),
                p.elastic_px * r.range(0.3, 1.0) / 3f32.sqrt(),
                0.0,
            );
        }
        let disp = |x: f32, y: f32| -> (f32, f32) {
            let mut dx = 0.0;
            let mut dy = 0.0;
            for (i, wv) in waves.iter().enumerate() {
                let v = wv.3 * (wv.0 * x + wv.1 * y + wv.2).sin();
                if i < 3 {
                    dx += v;
                } else {
                    dy += v;
                }
            }
            (dx, dy)
        };
        let (c, s) = (rot.cos(), rot.sin());
        let place = |x: f32, y: f32| -> (f32, f32) {
            let (dx, dy) = disp(x, y);
            let (x, y) = (x + dx, y + dy);
            (x * c + y * s + w / 2.0 + tx, -x * s + y * c + h / 2.0 + ty)
        };
        let inside = |x: f32, y: f32| x >= 0.0 && y >= 0.0 && x < w && y < h;
        let mut out = Vec::new();
        for m in &master.minutiae {
            let (x, y) = place(m.x, m.y);
            if !inside(x, y) {
                continue;
            }
            if self.rng.unit() < p.miss_rate {
                continue;
            }
            // Local rotation of the elastic field (finite difference of the displacement).
            let (d0x, d0y) = disp(m.x, m.y);
            let (d1x, _) = disp(m.x, m.y + 1.0);
            let (_, d2y) = disp(m.x + 1.0, m.y);
            let local = 0.5 * ((d2y - d0y) - (d1x - d0x));
            let x = (x + p.position_sigma * self.rng.normal()).clamp(0.0, w - 1.0);
            let y = (y + p.position_sigma * self.rng.normal()).clamp(0.0, h - 1.0);
            let angle = normalize_angle(
                m.angle + rot - local + p.angle_sigma_deg.to_radians() * self.rng.normal(),
            );
            let mut kind = m.kind;
            if self.rng.unit() < 0.1 {
                kind = MinutiaKind::Other;
            }
            out.push(Minutia {
                x,
                y,
                angle,
                kind,
                quality: m.quality,
            });
        }
        let n_spurious = (out.len() as f32 * p.spurious_rate).round() as usize;
        let (ax, ay) = self.cfg.finger_semi_axes;
        let mut tries = 0;
        let mut added = 0;
        while added < n_spurious && tries < 50 * (n_spurious + 1) {
            tries += 1;
            let (u, v) = (self.rng.range(-1.0, 1.0), self.rng.range(-1.0, 1.0));
            if u * u + v * v > 1.0 {
                continue;
            }
            let (fx, fy) = (u * ax, v * ay);
            let (x, y) = place(fx, fy);
            if !inside(x, y) {
                continue;
            }
            let flip = if self.rng.unit() < 0.5 { 0.0 } else { PI };
            let angle =
                normalize_angle(master.orientation(fx, fy) + rot + flip + 0.3 * self.rng.normal());
            let quality = self.rng.int(5, 60) as u8;
            out.push(Minutia {
                x,
                y,
                angle,
                kind: MinutiaKind::Other,
                quality,
            });
            added += 1;
        }
        // Shuffle so that record order carries no information.
        for i in (1..out.len()).rev() {
            let j = (self.rng.next_u64() % (i as u64 + 1)) as usize;
            out.swap(i, j);
        }
        FingerView {
            position: 0,
            width: self.cfg.width,
            height: self.cfg.height,
            resolution_dpi: 500,
            quality: 60,
            minutiae: out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_in_bounds() {
        let mut a = SyntheticGenerator::new(42, SyntheticConfig::default());
        let mut b = SyntheticGenerator::new(42, SyntheticConfig::default());
        let (ma, mb) = (a.master(), b.master());
        assert_eq!(ma.minutiae, mb.minutiae);
        let va = a.render(&ma, &ImpressionParams::default());
        let vb = b.render(&mb, &ImpressionParams::default());
        assert_eq!(va, vb);
        assert!(ma.minutiae.len() >= 50);
        assert!(va.minutiae.len() >= 15, "{}", va.minutiae.len());
        for m in &va.minutiae {
            assert!(m.x >= 0.0 && m.y >= 0.0 && m.x < 388.0 && m.y < 374.0);
            assert!((0.0..TAU).contains(&m.angle));
        }
        let mut c = SyntheticGenerator::new(43, SyntheticConfig::default());
        assert_ne!(c.master().minutiae, ma.minutiae);
    }
}
