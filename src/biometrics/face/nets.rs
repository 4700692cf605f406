//! The three networks of face-api.js (Vincent Mühler, MIT; fork @vladmandic/face-api 1.7.15),
//! re-implemented layer by layer from its sources (`src/tinyFaceDetector`, `src/tinyYolov2`,
//! `src/faceFeatureExtractor`, `src/faceLandmarkNet`, `src/faceRecognitionNet`) so that the
//! published weights give the same outputs:
//!
//! * [`TinyFaceDetector`]: a Tiny-YOLOv2-style detector (Redmon & Farhadi, "YOLO9000", 2017)
//!   with depthwise-separable convolutions, one class, 5 anchors, 13x13 grid at 416 px.
//! * [`Landmark68`]: four densely connected blocks of separable convolutions, average pool and
//!   a fully connected layer regressing the 68 iBUG-300W points.
//! * [`Recognition`]: the ResNet-34-like face descriptor of dlib (`dlib_face_recognition_resnet_model_v1`,
//!   Davis King; 99.38 % on LFW) ported to tfjs, 150x150 input, 128-d output.

use ndarray::{Array2, Array3, Axis};

use super::ops::{self, Act, Conv, Depthwise, Pad, SepConv};
use super::weights::WeightMap;
use super::FaceError;

const PAD1: Pad = Pad(1, 1, 1, 1);

/// Side and (top, left) offset of face-api's centred `padToSquare`.
pub(crate) fn centred_square(h: usize, w: usize) -> (usize, usize, usize) {
    let side = h.max(w);
    let diff = side - h.min(w);
    let before = diff - (diff as f64 * 0.5).round() as usize;
    if h < w {
        (side, before, 0)
    } else {
        (side, 0, before)
    }
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// Subtracts a per-channel mean and divides by 255 (face-api `normalize(...).div(255)`).
pub(crate) fn normalize(x: &mut Act, mean: [f32; 3]) {
    for mut px in x.lanes_mut(Axis(2)) {
        for (v, m) in px.iter_mut().zip(mean) {
            *v = (*v - m) / 255.0;
        }
    }
}

fn sep(wm: &mut WeightMap, p: &str, cin: usize, cout: usize) -> Result<SepConv, FaceError> {
    Ok(SepConv {
        dw: Depthwise::new(wm.take(&format!("{p}/depthwise_filter"), &[3, 3, cin, 1])?),
        pw: Conv::new(
            wm.take(&format!("{p}/pointwise_filter"), &[1, 1, cin, cout])?,
            Some(wm.take(&format!("{p}/bias"), &[cout])?),
        ),
    })
}

/// A face box in image pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    pub score: f32,
}

impl Detection {
    /// Intersection over union (0 when both boxes are empty).
    pub fn iou(&self, o: &Detection) -> f32 {
        let iw = ((self.x + self.w).min(o.x + o.w) - self.x.max(o.x)).max(0.0);
        let ih = ((self.y + self.h).min(o.y + o.h) - self.y.max(o.y)).max(0.0);
        let inter = iw * ih;
        let union = self.w * self.h + o.w * o.h - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }
}

/// Greedy non-maximum suppression (face-api `nonMaxSuppression`, IoU).
pub(crate) fn nms(mut dets: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep: Vec<Detection> = Vec::new();
    for d in dets {
        if keep.iter().all(|k| k.iou(&d) <= iou_threshold) {
            keep.push(d);
        }
    }
    keep
}

pub(crate) struct TinyFaceDetector {
    conv0: Conv,
    sep: Vec<SepConv>,
    conv8: Conv,
}

impl TinyFaceDetector {
    /// `tinyFaceDetector/const.ts`.
    const ANCHORS: [(f32, f32); 5] = [
        (1.603231, 2.094468),
        (6.041143, 7.080126),
        (2.882459, 3.518061),
        (4.266906, 5.178857),
        (9.041765, 10.66308),
    ];
    const MEAN_RGB: [f32; 3] = [117.001, 114.697, 97.404];
    const IOU_THRESHOLD: f32 = 0.4;

    pub(crate) fn load(mut wm: WeightMap) -> Result<Self, FaceError> {
        let conv0 = Conv::new(
            wm.take("conv0/filters", &[3, 3, 3, 16])?,
            Some(wm.take("conv0/bias", &[16])?),
        );
        let sizes = [16, 32, 64, 128, 256, 512];
        let sep = (1..=5)
            .map(|i| sep(&mut wm, &format!("conv{i}"), sizes[i - 1], sizes[i]))
            .collect::<Result<Vec<_>, _>>()?;
        let conv8 = Conv::new(
            wm.take("conv8/filters", &[1, 1, 512, 25])?,
            Some(wm.take("conv8/bias", &[25])?),
        );
        wm.finish()?;
        Ok(TinyFaceDetector { conv0, sep, conv8 })
    }

    /// `TinyYolov2Base.runMobilenet` with `isFirstLayerConv2d`.
    fn forward(&self, x: &Act) -> Act {
        let mut out = self.conv0.forward(x, 1, Pad::NONE);
        ops::leaky(&mut out);
        for (i, layer) in self.sep.iter().enumerate() {
            let (_, p) = Pad::same(out.dim().0, 2, 2);
            out = ops::max_pool(&out, 2, 2, p);
            out = layer.forward(&out, 1, PAD1);
            ops::leaky(&mut out);
            if i == self.sep.len() - 1 {
                let (_, p) = Pad::same(out.dim().0, 2, 1);
                out = ops::max_pool(&out, 2, 1, p);
            }
        }
        self.conv8.forward(&out, 1, Pad::NONE)
    }

    /// Faces in `img` (RGB, 0..255) at the given network input size (multiple of 32),
    /// boxes in image pixels, after NMS, best first.
    pub(crate) fn detect(
        &self,
        img: &Act,
        input_size: usize,
        score_threshold: f32,
    ) -> Vec<Detection> {
        let (h, w, _) = img.dim();
        let side = h.max(w);
        let mut x = if side == input_size {
            ops::pad_to_square(img, false).0
        } else {
            ops::resize_padded_square(img, side, 0, 0, input_size)
        };
        normalize(&mut x, Self::MEAN_RGB);
        let out = self.forward(&x);
        let cells = out.dim().0;
        // NetInput.getReshapedInputDimensions and the correction factors of extractBoxes.
        let scale = input_size as f32 / w.max(h) as f32;
        let (rw, rh) = ((w as f32 * scale).round(), (h as f32 * scale).round());
        let (cfx, cfy) = (input_size as f32 / rw, input_size as f32 / rh);
        let mut dets = Vec::new();
        for row in 0..cells {
            for col in 0..cells {
                for (a, &(ax, ay)) in Self::ANCHORS.iter().enumerate() {
                    let v = |k: usize| out[[row, col, a * 5 + k]];
                    let score = sigmoid(v(4));
                    if score <= score_threshold {
                        continue;
                    }
                    let cx = (col as f32 + sigmoid(v(0))) / cells as f32 * cfx;
                    let cy = (row as f32 + sigmoid(v(1))) / cells as f32 * cfy;
                    let bw = v(2).exp() * ax / cells as f32 * cfx;
                    let bh = v(3).exp() * ay / cells as f32 * cfy;
                    dets.push(Detection {
                        x: (cx - bw / 2.0) * w as f32,
                        y: (cy - bh / 2.0) * h as f32,
                        w: bw * w as f32,
                        h: bh * h as f32,
                        score,
                    });
                }
            }
        }
        nms(dets, Self::IOU_THRESHOLD)
    }
}

enum First {
    Conv(Conv),
    Sep(SepConv),
}

struct DenseBlock {
    conv0: First,
    rest: Vec<SepConv>,
}

impl DenseBlock {
    /// `denseBlock4` with scale-down.
    fn forward(&self, x: &Act) -> Act {
        let (_, p2) = Pad::same(x.dim().0, 3, 2);
        let mut out1 = match &self.conv0 {
            First::Conv(c) => c.forward(x, 2, p2),
            First::Sep(s) => s.forward(x, 2, p2),
        };
        ops::relu(&mut out1);
        // out_i+1 = sep_i(relu(out1 + ... + out_i)); the block returns relu(out1 + ... + out4)
        let mut sum = out1.clone();
        for (i, layer) in self.rest.iter().enumerate() {
            let o = if i == 0 {
                layer.forward(&out1, 1, PAD1)
            } else {
                let mut input = sum.clone();
                ops::relu(&mut input);
                layer.forward(&input, 1, PAD1)
            };
            sum += &o;
        }
        ops::relu(&mut sum);
        sum
    }
}

pub(crate) struct Landmark68 {
    blocks: Vec<DenseBlock>,
    fc_w: Array2<f32>,
    fc_b: ndarray::Array1<f32>,
}

/// Mean RGB of the landmark and recognition nets (`FaceFeatureExtractor`, `FaceRecognitionNet`).
pub(crate) const MEAN_RGB_FACE: [f32; 3] = [122.782, 117.001, 104.298];

impl Landmark68 {
    pub(crate) fn load(mut wm: WeightMap) -> Result<Self, FaceError> {
        let sizes = [3, 32, 64, 128, 256];
        let mut blocks = Vec::new();
        for b in 0..4 {
            let (cin, c) = (sizes[b], sizes[b + 1]);
            let conv0 = if b == 0 {
                First::Conv(Conv::new(
                    wm.take("dense0/conv0/filters", &[3, 3, 3, 32])?,
                    Some(wm.take("dense0/conv0/bias", &[32])?),
                ))
            } else {
                First::Sep(sep(&mut wm, &format!("dense{b}/conv0"), cin, c)?)
            };
            let rest = (1..=3)
                .map(|i| sep(&mut wm, &format!("dense{b}/conv{i}"), c, c))
                .collect::<Result<Vec<_>, _>>()?;
            blocks.push(DenseBlock { conv0, rest });
        }
        let fc_w = wm
            .take("fc/weights", &[256, 136])?
            .into_dimensionality()
            .map_err(|e| FaceError::ModelInvalid {
                file: "face_landmark_68_model".into(),
                reason: e.to_string(),
            })?;
        let fc_b = wm
            .take("fc/bias", &[136])?
            .into_dimensionality()
            .map_err(|e| FaceError::ModelInvalid {
                file: "face_landmark_68_model".into(),
                reason: e.to_string(),
            })?;
        wm.finish()?;
        Ok(Landmark68 { blocks, fc_w, fc_b })
    }

    /// 136 outputs (x0, y0, x1, ...) relative to the 112x112 input.
    fn forward(&self, x: &Act) -> Vec<f32> {
        let mut out = x.clone();
        for b in &self.blocks {
            out = b.forward(&out);
        }
        let pooled = ops::avg_pool_valid(&out, 7, 2);
        let feat = pooled
            .into_shape_with_order(256)
            .expect("7x7x256 feature map");
        (feat.dot(&self.fc_w) + &self.fc_b).to_vec()
    }

    /// The 68 landmarks of a face crop (RGB 0..255), in crop pixels.
    pub(crate) fn landmarks(&self, crop: &Act) -> Vec<[f32; 2]> {
        let (h, w, _) = crop.dim();
        let (side, top, left) = centred_square(h, w);
        let mut x = ops::resize_padded_square(crop, side, top, left, 112);
        normalize(&mut x, MEAN_RGB_FACE);
        let out = self.forward(&x);
        // FaceLandmark68NetBase.postProcess
        let s = 112.0 / w.max(h) as f32;
        let (sw, sh) = (w as f32 * s, h as f32 * s);
        let pad_x = if sw < sh { (sh - sw) / 2.0 } else { 0.0 };
        let pad_y = if sh < sw { (sw - sh) / 2.0 } else { 0.0 };
        (0..68)
            .map(|i| {
                [
                    (out[2 * i] * 112.0 - pad_x) / sw * w as f32,
                    (out[2 * i + 1] * 112.0 - pad_y) / sh * h as f32,
                ]
            })
            .collect()
    }
}

struct Residual {
    conv1: Conv,
    conv2: Conv,
    down: bool,
}

pub(crate) struct Recognition {
    conv_down: Conv,
    layers: Vec<Residual>,
    fc: Array2<f32>,
}

fn scaled_conv(
    wm: &mut WeightMap,
    p: &str,
    k: usize,
    cin: usize,
    cout: usize,
) -> Result<Conv, FaceError> {
    let mut c = Conv::new(
        wm.take(&format!("{p}/conv/filters"), &[k, k, cin, cout])?,
        Some(wm.take(&format!("{p}/conv/bias"), &[cout])?),
    );
    let s = wm.take(&format!("{p}/scale/weights"), &[cout])?;
    let t = wm.take(&format!("{p}/scale/biases"), &[cout])?;
    c.fold_scale(s.as_slice().expect("1-d"), t.as_slice().expect("1-d"));
    Ok(c)
}

impl Recognition {
    pub(crate) fn load(mut wm: WeightMap) -> Result<Self, FaceError> {
        let conv_down = scaled_conv(&mut wm, "conv32_down", 7, 3, 32)?;
        let spec: [(&str, usize, usize, bool); 15] = [
            ("conv32_1", 32, 32, false),
            ("conv32_2", 32, 32, false),
            ("conv32_3", 32, 32, false),
            ("conv64_down", 32, 64, true),
            ("conv64_1", 64, 64, false),
            ("conv64_2", 64, 64, false),
            ("conv64_3", 64, 64, false),
            ("conv128_down", 64, 128, true),
            ("conv128_1", 128, 128, false),
            ("conv128_2", 128, 128, false),
            ("conv256_down", 128, 256, true),
            ("conv256_1", 256, 256, false),
            ("conv256_2", 256, 256, false),
            ("conv256_down_out", 256, 256, true),
            ("", 0, 0, false),
        ];
        let mut layers = Vec::new();
        for (name, cin, cout, down) in spec.into_iter().filter(|s| !s.0.is_empty()) {
            layers.push(Residual {
                conv1: scaled_conv(&mut wm, &format!("{name}/conv1"), 3, cin, cout)?,
                conv2: scaled_conv(&mut wm, &format!("{name}/conv2"), 3, cout, cout)?,
                down,
            });
        }
        let fc = wm
            .take("fc", &[256, 128])?
            .into_dimensionality()
            .map_err(|e| FaceError::ModelInvalid {
                file: "face_recognition_model".into(),
                reason: e.to_string(),
            })?;
        wm.finish()?;
        Ok(Recognition {
            conv_down,
            layers,
            fc,
        })
    }

    /// The raw 128-d descriptor of a 150x150 RGB (0..255) face chip.
    pub(crate) fn descriptor(&self, chip: &Act) -> Vec<f32> {
        assert_eq!(
            chip.dim(),
            (150, 150, 3),
            "descriptor input is a 150x150 RGB chip"
        );
        let mut x = chip.clone();
        normalize(&mut x, MEAN_RGB_FACE);
        let mut out = self.conv_down.forward(&x, 2, Pad::NONE);
        ops::relu(&mut out);
        out = ops::max_pool(&out, 3, 2, Pad::NONE);
        for l in &self.layers {
            out = if l.down {
                residual_down(&out, l)
            } else {
                residual(&out, l)
            };
        }
        let (h, w, c) = out.dim();
        let mean = out
            .into_shape_with_order((h * w, c))
            .expect("feature map")
            .mean_axis(Axis(0))
            .expect("non-empty");
        mean.dot(&self.fc).to_vec()
    }
}

fn residual(x: &Act, l: &Residual) -> Act {
    let mut o = l.conv1.forward(x, 1, PAD1);
    ops::relu(&mut o);
    let mut o = l.conv2.forward(&o, 1, PAD1);
    o += x;
    ops::relu(&mut o);
    o
}

/// `residualDown`: stride-2 "valid" conv branch; the shortcut is a 2x2 average pool with the
/// extra channels zero; a branch one pixel smaller is zero-padded at the bottom/right.
fn residual_down(x: &Act, l: &Residual) -> Act {
    let mut o = l.conv1.forward(x, 2, Pad::NONE);
    ops::relu(&mut o);
    let o = l.conv2.forward(&o, 1, PAD1);
    let pooled = ops::avg_pool_valid(x, 2, 2);
    let (ph, pw, pc) = pooled.dim();
    let (oh, ow, oc) = o.dim();
    let mut res = Array3::<f32>::zeros((ph.max(oh), pw.max(ow), oc));
    res.slice_mut(ndarray::s![..oh, ..ow, ..]).assign(&o);
    {
        let mut part = res.slice_mut(ndarray::s![..ph, ..pw, ..pc]);
        part += &pooled;
    }
    ops::relu(&mut res);
    res
}
