//! Capture measures of one face, for the scanner's retake decision: eye distance, head pose
//! from the landmarks, and sharpness and exposure of the aligned chip.
//!
//! Pose is estimated from the 68 landmarks alone, without a 3-D model, so it is coarse (good
//! for "look at the camera", not for metrology):
//! * yaw: the nose tip's position between the left and right ends of the jaw line (iBUG 0 and
//!   16), measured along the eye axis. On a head modelled as a vertical cylinder the ratio
//!   `(a − b) / (a + b)` of the two sides is `sin(yaw)` (0 when frontal, by symmetry).
//!   Positive when the nose points to the right of the image.
//! * pitch: the nose tip's height between the eye line and the mouth corners, measured across
//!   the eye axis. A nose tip standing `NOSE_DEPTH` eye-to-mouth distances in front of the
//!   eye–mouth plane moves that ratio by `NOSE_DEPTH · tan(pitch)`; the frontal value of the
//!   mean face is subtracted. Positive when the head is bowed (looking down).

use super::align;
use super::ops::Act;

/// Depth of the nose tip in front of the plane of the eyes and mouth corners, in units of the
/// eye-to-mouth distance (an assumed adult average, not fitted: it only scales the pitch).
pub const NOSE_DEPTH: f32 = 0.4;

/// Luminance at or below which (or at or above `255 - CLIP_LEVEL`) a pixel counts as clipped.
pub const CLIP_LEVEL: f32 = 8.0;

/// What was measured on one face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceMeasures {
    /// Distance between the eye centres (means of iBUG 36–41 and 42–47), pixels of the photo.
    pub inter_eye_px: f32,
    /// Degrees; positive: nose towards the image's right.
    pub yaw_deg: f32,
    /// Degrees; positive: looking down.
    pub pitch_deg: f32,
    /// Variance of the 4-neighbour Laplacian of the chip's luminance over its central 60 %.
    pub sharpness: f32,
    /// Mean luminance (0–255) over the chip's central 60 %.
    pub exposure_mean: f32,
    /// Fraction of that area at or beyond [`CLIP_LEVEL`] from black or white.
    pub exposure_clipped: f32,
}

fn mean(points: &[[f32; 2]]) -> [f32; 2] {
    let n = points.len().max(1) as f32;
    let (x, y) = points
        .iter()
        .fold((0f32, 0f32), |(x, y), p| (x + p[0], y + p[1]));
    [x / n, y / n]
}

fn sub(a: [f32; 2], b: [f32; 2]) -> [f32; 2] {
    [a[0] - b[0], a[1] - b[1]]
}

fn dot(a: [f32; 2], b: [f32; 2]) -> f32 {
    a[0] * b[0] + a[1] * b[1]
}

/// (inter-eye distance, yaw ratio, pitch ratio) of 68 landmarks (17..=67 used).
fn geometry(lm: &[[f32; 2]]) -> (f32, f32, f32) {
    let le = mean(&lm[36..42]);
    let re = mean(&lm[42..48]);
    let axis = sub(re, le);
    let d = dot(axis, axis).sqrt().max(1e-6);
    let u = [axis[0] / d, axis[1] / d];
    // Across the eye axis, pointing down the face (image y grows downwards).
    let v = [-u[1], u[0]];
    let nose = lm[30];
    let a = dot(sub(nose, lm[0]), u);
    let b = dot(sub(lm[16], nose), u);
    let yaw = (a - b) / (a + b).abs().max(1e-6);
    let eyes = mean(&[le, re]);
    let mouth = mean(&[lm[48], lm[54]]);
    let pitch = dot(sub(nose, eyes), v) / dot(sub(mouth, eyes), v).abs().max(1e-6);
    (d, yaw, pitch)
}

/// dlib's mean face as 68 points (the jaw, 0–16, which it leaves out, at the origin: only
/// its pitch ratio is used).
fn mean_face() -> Vec<[f32; 2]> {
    (0..68)
        .map(|i| {
            if i < 17 {
                [0.0, 0.0]
            } else {
                align::template(i)
            }
        })
        .collect()
}

/// Yaw and pitch in degrees of 68 landmarks (any frame, any scale).
pub fn pose_deg(landmarks: &[[f32; 2]]) -> (f32, f32) {
    let (_, yaw, pitch) = geometry(landmarks);
    let (_, _, pitch0) = geometry(&mean_face());
    let yaw = yaw.clamp(-1.0, 1.0).asin().to_degrees();
    let pitch = ((pitch - pitch0) / NOSE_DEPTH).atan().to_degrees();
    (yaw, pitch)
}

fn luminance(chip: &Act, y: usize, x: usize) -> f32 {
    0.299 * chip[[y, x, 0]] + 0.587 * chip[[y, x, 1]] + 0.114 * chip[[y, x, 2]]
}

/// Variance of the 4-neighbour Laplacian of the luminance over the chip's central 60 %.
pub fn laplacian_variance(chip: &Act) -> f32 {
    let n = chip.dim().0;
    let (mut s, mut s2, mut cnt) = (0f64, 0f64, 0f64);
    for y in n / 5..n - n / 5 {
        for x in n / 5..n - n / 5 {
            let l = 4.0 * luminance(chip, y, x)
                - luminance(chip, y - 1, x)
                - luminance(chip, y + 1, x)
                - luminance(chip, y, x - 1)
                - luminance(chip, y, x + 1);
            s += f64::from(l);
            s2 += f64::from(l) * f64::from(l);
            cnt += 1.0;
        }
    }
    (s2 / cnt - (s / cnt).powi(2)) as f32
}

/// (mean luminance, clipped fraction) over the chip's central 60 %.
fn exposure(chip: &Act) -> (f32, f32) {
    let n = chip.dim().0;
    let (mut sum, mut clipped, mut cnt) = (0f64, 0usize, 0usize);
    for y in n / 5..n - n / 5 {
        for x in n / 5..n - n / 5 {
            let l = luminance(chip, y, x);
            sum += f64::from(l);
            clipped += usize::from(l <= CLIP_LEVEL || l >= 255.0 - CLIP_LEVEL);
            cnt += 1;
        }
    }
    let cnt = cnt.max(1);
    ((sum / cnt as f64) as f32, clipped as f32 / cnt as f32)
}

/// Measures one face: `landmarks` in pixels of the photo, `chip` the aligned chip (RGB 0..255).
pub fn measure(landmarks: &[[f32; 2]], chip: &Act) -> FaceMeasures {
    let (inter_eye_px, _, _) = geometry(landmarks);
    let (yaw_deg, pitch_deg) = pose_deg(landmarks);
    let (exposure_mean, exposure_clipped) = exposure(chip);
    FaceMeasures {
        inter_eye_px,
        yaw_deg,
        pitch_deg,
        sharpness: laplacian_variance(chip),
        exposure_mean,
        exposure_clipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    /// The mean face with a symmetric jaw line ends (0 and 16) level with the eyes.
    fn template() -> Vec<[f32; 2]> {
        let mut t = mean_face();
        let (nose_x, eye_y) = (t[30][0], (t[36][1] + t[45][1]) / 2.0);
        t[0] = [nose_x - 60.0, eye_y];
        t[16] = [nose_x + 60.0, eye_y];
        t
    }

    #[test]
    fn the_mean_face_is_frontal_and_pose_follows_the_nose() {
        let t = template();
        let (yaw, pitch) = pose_deg(&t);
        assert!(yaw.abs() < 1e-3 && pitch.abs() < 1e-3, "{yaw} {pitch}");
        // Scaled, rotated and shifted: still frontal; the eye distance scales.
        let (c, s) = (0.3f32.cos(), 0.3f32.sin());
        let moved: Vec<[f32; 2]> = t
            .iter()
            .map(|p| {
                [
                    3.0 * (c * p[0] - s * p[1]) + 40.0,
                    3.0 * (s * p[0] + c * p[1]) - 7.0,
                ]
            })
            .collect();
        let (yaw, pitch) = pose_deg(&moved);
        assert!(yaw.abs() < 1e-2 && pitch.abs() < 1e-2, "{yaw} {pitch}");
        assert!((geometry(&moved).0 / geometry(&t).0 - 3.0).abs() < 1e-3);
        // The nose tip moved right and down: positive yaw and pitch.
        let mut turned = t.clone();
        let eye = geometry(&t).0;
        turned[30][0] += 0.3 * eye;
        turned[30][1] += 0.2 * eye;
        let (yaw, pitch) = pose_deg(&turned);
        assert!(yaw > 10.0 && pitch > 10.0, "{yaw} {pitch}");
    }

    #[test]
    fn sharpness_and_exposure_of_flat_and_textured_chips() {
        let flat = Array3::from_elem((150, 150, 3), 128f32);
        assert_eq!(laplacian_variance(&flat), 0.0);
        assert_eq!(exposure(&flat), (128.0, 0.0));
        let checker =
            Array3::from_shape_fn(
                (150, 150, 3),
                |(y, x, _)| {
                    if (x + y) % 2 == 0 {
                        255.0
                    } else {
                        0.0
                    }
                },
            );
        assert!(laplacian_variance(&checker) > 1e5);
        let (m, clipped) = exposure(&checker);
        assert!((m - 127.5).abs() < 1.0 && clipped == 1.0);
    }
}
