//! Face alignment: a least-squares similarity transform (rotation, uniform scale,
//! translation; Umeyama 1991) from the detected landmarks to dlib's mean face, then a
//! 150x150 chip sampled through it. This is how dlib prepares the input of the ResNet
//! descriptor (`get_face_chip_details(shape, 150, 0.25)` + `extract_image_chip`, dlib
//! `image_transforms/interpolation.h`, Boost Software Licence): the points used are the
//! eyes, the nose and the mouth corners / upper lip (iBUG points 27–54 and 60–64; the
//! brows and the lower lip are left out because they move with expression).
//!
//! Also here: the crop that face-api.js itself feeds the descriptor (`FaceLandmarks.alignDlib`,
//! an axis-aligned box from the eye and mouth centres), kept for the reference check.

use super::ops::Act;
use ndarray::Array3;

/// dlib's mean face shape for iBUG points 17..=67, x then y, in [0, 1] of the chip before
/// padding (`get_face_chip_details`).
const MEAN_FACE_X: [f32; 51] = [
    0.000213256,
    0.0752622,
    0.18113,
    0.29077,
    0.393397,
    0.586856,
    0.689483,
    0.799124,
    0.904991,
    0.98004,
    0.490127,
    0.490127,
    0.490127,
    0.490127,
    0.36688,
    0.426036,
    0.490127,
    0.554217,
    0.613373,
    0.121737,
    0.187122,
    0.265825,
    0.334606,
    0.260918,
    0.182743,
    0.645647,
    0.714428,
    0.793132,
    0.858516,
    0.79751,
    0.719335,
    0.254149,
    0.340985,
    0.428858,
    0.490127,
    0.551395,
    0.639268,
    0.726104,
    0.642159,
    0.556721,
    0.490127,
    0.423532,
    0.338094,
    0.290379,
    0.428096,
    0.490127,
    0.552157,
    0.689874,
    0.553364,
    0.490127,
    0.42689,
];
const MEAN_FACE_Y: [f32; 51] = [
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891, 0.0187482, 0.038915,
    0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326, 0.609345, 0.628106, 0.609345,
    0.587326, 0.216423, 0.178758, 0.179852, 0.231733, 0.245099, 0.244077, 0.231733, 0.179852,
    0.178758, 0.216423, 0.244077, 0.245099, 0.780233, 0.745405, 0.727388, 0.742578, 0.727388,
    0.745405, 0.780233, 0.864805, 0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746,
    0.785343, 0.778746, 0.784792, 0.824182, 0.831803, 0.824182,
];

/// Side of the descriptor chip.
pub const CHIP_SIZE: usize = 150;
/// dlib's padding for the face recognition chips (`dnn_face_recognition_ex.cpp`).
pub const CHIP_PADDING: f32 = 0.25;

fn used(i: usize) -> bool {
    (27..=67).contains(&i) && !(55..=59).contains(&i) && !(65..=67).contains(&i)
}

/// Chip-space template positions of landmark `i` (17..=67).
pub(super) fn template(i: usize) -> [f32; 2] {
    let p = CHIP_PADDING;
    let s = CHIP_SIZE as f32;
    [
        (p + MEAN_FACE_X[i - 17]) / (2.0 * p + 1.0) * s,
        (p + MEAN_FACE_Y[i - 17]) / (2.0 * p + 1.0) * s,
    ]
}

/// A similarity transform `dst = s R src + t` as `[a, -b; b, a] * p + t`.
#[derive(Clone, Copy, Debug)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    /// Least-squares fit mapping `src[i]` onto `dst[i]`.
    pub fn fit(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Similarity {
        let n = src.len() as f64;
        let mean = |p: &[[f32; 2]]| {
            let (mut x, mut y) = (0f64, 0f64);
            for q in p {
                x += f64::from(q[0]);
                y += f64::from(q[1]);
            }
            (x / n, y / n)
        };
        let (sx, sy) = mean(src);
        let (dx, dy) = mean(dst);
        let (mut num_a, mut num_b, mut den) = (0f64, 0f64, 0f64);
        for (p, q) in src.iter().zip(dst) {
            let (px, py) = (f64::from(p[0]) - sx, f64::from(p[1]) - sy);
            let (qx, qy) = (f64::from(q[0]) - dx, f64::from(q[1]) - dy);
            num_a += px * qx + py * qy;
            num_b += px * qy - py * qx;
            den += px * px + py * py;
        }
        let a = num_a / den.max(1e-12);
        let b = num_b / den.max(1e-12);
        Similarity {
            a: a as f32,
            b: b as f32,
            tx: (dx - (a * sx - b * sy)) as f32,
            ty: (dy - (b * sx + a * sy)) as f32,
        }
    }

    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [
            self.a * p[0] - self.b * p[1] + self.tx,
            self.b * p[0] + self.a * p[1] + self.ty,
        ]
    }

    /// Scale factor of the transform.
    pub fn scale(&self) -> f32 {
        (self.a * self.a + self.b * self.b).sqrt()
    }

    /// Rotation in degrees.
    pub fn angle_deg(&self) -> f32 {
        self.b.atan2(self.a).to_degrees()
    }
}

/// The transform from chip pixels to image pixels for the given 68 landmarks.
pub fn chip_transform(landmarks: &[[f32; 2]]) -> Similarity {
    let (src, dst): (Vec<_>, Vec<_>) = (17..68)
        .filter(|&i| used(i))
        .map(|i| (template(i), landmarks[i]))
        .unzip();
    Similarity::fit(&src, &dst)
}

/// Samples a `CHIP_SIZE` square chip from `img` (RGB 0..255) through `t` (chip -> image),
/// bilinear, with `n x n` supersampling when the chip shrinks the image by more than 1.5x
/// (dlib uses an image pyramid for the same purpose). Outside the image is black.
pub fn extract_chip(img: &Act, t: &Similarity) -> Act {
    let (h, w, _) = img.dim();
    let n = (t.scale() / 1.5).ceil().clamp(1.0, 6.0) as usize;
    let xs = img.as_slice().expect("standard layout");
    let sample = |x: f32, y: f32, out: &mut [f32; 3]| {
        if x < -0.5 || y < -0.5 || x > w as f32 - 0.5 || y > h as f32 - 0.5 {
            return;
        }
        let x = x.clamp(0.0, (w - 1) as f32);
        let y = y.clamp(0.0, (h - 1) as f32);
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        for (c, o) in out.iter_mut().enumerate() {
            let p = |yy: usize, xx: usize| xs[(yy * w + xx) * 3 + c];
            let top = p(y0, x0) + (p(y0, x1) - p(y0, x0)) * fx;
            let bot = p(y1, x0) + (p(y1, x1) - p(y1, x0)) * fx;
            *o += top + (bot - top) * fy;
        }
    };
    let mut chip = Array3::<f32>::zeros((CHIP_SIZE, CHIP_SIZE, 3));
    let inv = 1.0 / (n * n) as f32;
    for cy in 0..CHIP_SIZE {
        for cx in 0..CHIP_SIZE {
            let mut acc = [0f32; 3];
            for sy in 0..n {
                for sx in 0..n {
                    let px = cx as f32 + (sx as f32 + 0.5) / n as f32 - 0.5;
                    let py = cy as f32 + (sy as f32 + 0.5) / n as f32 - 0.5;
                    let q = t.apply([px, py]);
                    sample(q[0], q[1], &mut acc);
                }
            }
            for c in 0..3 {
                chip[[cy, cx, c]] = acc[c] * inv;
            }
        }
    }
    chip
}

/// face-api's `FaceLandmarks.alignDlib` box (x, y, w, h): a square of side
/// `floor(mean eye-to-mouth distance / 0.45)` placed at 0.5 / 0.43 of the side around the
/// centre of the two eye centres and the mouth centre.
pub fn faceapi_align_box(landmarks: &[[f32; 2]]) -> [f32; 4] {
    let centre = |r: std::ops::Range<usize>| {
        let n = r.len() as f32;
        let (mut x, mut y) = (0f32, 0f32);
        for i in r {
            x += landmarks[i][0];
            y += landmarks[i][1];
        }
        [x / n, y / n]
    };
    let le = centre(36..42);
    let re = centre(42..48);
    let mo = centre(48..68);
    let dist = |p: [f32; 2]| ((mo[0] - p[0]).powi(2) + (mo[1] - p[1]).powi(2)).sqrt();
    let size = ((dist(le) + dist(re)) / 2.0 / 0.45).floor();
    let rx = (le[0] + re[0] + mo[0]) / 3.0;
    let ry = (le[1] + re[1] + mo[1]) / 3.0;
    let x = (rx - 0.5 * size).max(0.0).floor();
    let y = (ry - 0.43 * size).max(0.0).floor();
    [x, y, size, size]
}

/// face-api's `Box.clipAtImageBorders` followed by the pixel crop of `extractFaceTensors`.
pub fn faceapi_crop(img: &Act, b: [f32; 4]) -> Option<Act> {
    let (h, w, _) = img.dim();
    let cx = b[0].max(0.0);
    let cy = b[1].max(0.0);
    let cw = (b[0] + b[2] - cx).min(w as f32 - cx).floor();
    let ch = (b[1] + b[3] - cy).min(h as f32 - cy).floor();
    let (x0, y0) = (cx.floor() as usize, cy.floor() as usize);
    if cw < 1.0 || ch < 1.0 || x0 >= w || y0 >= h {
        return None;
    }
    let (cw, ch) = ((cw as usize).min(w - x0), (ch as usize).min(h - y0));
    Some(
        img.slice(ndarray::s![y0..y0 + ch, x0..x0 + cw, ..])
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_fit_recovers_a_known_transform() {
        let t = Similarity {
            a: 1.2 * 0.3f32.cos(),
            b: 1.2 * 0.3f32.sin(),
            tx: 5.0,
            ty: -7.0,
        };
        let src: Vec<[f32; 2]> = (0..10)
            .map(|i| [i as f32 * 3.0, (i * i) as f32 * 0.5])
            .collect();
        let dst: Vec<[f32; 2]> = src.iter().map(|&p| t.apply(p)).collect();
        let f = Similarity::fit(&src, &dst);
        assert!((f.a - t.a).abs() < 1e-4 && (f.b - t.b).abs() < 1e-4);
        assert!((f.tx - t.tx).abs() < 1e-3 && (f.ty - t.ty).abs() < 1e-3);
        assert!((f.angle_deg() - 0.3f32.to_degrees()).abs() < 1e-2);
    }

    #[test]
    fn chip_of_template_landmarks_is_identity() {
        let mut lm = vec![[0f32; 2]; 68];
        for (i, p) in lm.iter_mut().enumerate().skip(17) {
            *p = template(i);
        }
        let t = chip_transform(&lm);
        assert!((t.a - 1.0).abs() < 1e-4 && t.b.abs() < 1e-4 && t.tx.abs() < 1e-3);
    }
}
