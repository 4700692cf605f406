//! Face engine: photo -> 128-d identity embedding, and 1:N search over a gallery.
//!
//! Pipeline (pure Rust on ndarray + rayon, weights of face-api.js 1.7.15, see `models/MANIFEST`):
//! 1. intake ([`intake`]): JPEG/PNG, size limits from the header, EXIF orientation; photos
//!    larger than [`WORK_MAX_SIDE`] are analysed downscaled and results mapped back;
//! 2. detection: face-api's tiny face detector at 416 px, plus 832 px for large photos with
//!    small faces, retried on a padded canvas when the face fills the frame (tight crops);
//!    several faces: the largest is described (or the one best overlapping a box the caller
//!    names) and `faces_found` counts them all;
//! 3. 68 landmarks on the detection crop (face-api's `faceLandmark68Net`);
//! 4. alignment ([`align`]): similarity transform of eyes/nose/mouth landmarks onto dlib's
//!    mean face, 150x150 chip with dlib's 0.25 padding — the alignment the dlib ResNet was
//!    trained with;
//! 5. descriptor: the dlib ResNet face descriptor (face-api `faceRecognitionNet`), L2-normalised.
//!
//! `docs/FACE.md` has the measured accuracy, speed and the reference check against face-api.js.

pub mod align;
pub mod evidence;
mod gallery;
pub mod intake;
pub mod measures;
mod nets;
mod ops;
mod weights;

use std::path::Path;

use image::RgbImage;
use ndarray::Array3;

pub use gallery::{FaceGallery, Kernel};
pub use measures::FaceMeasures;
pub use nets::Detection;

/// Length of a face embedding.
pub const EMBEDDING_DIM: usize = 128;

/// Detector input size (face-api default).
pub const DETECTOR_INPUT: usize = 416;
/// Detector score threshold (face-api default).
pub const DETECTOR_THRESHOLD: f32 = 0.5;

/// Photos are analysed at most this large (longer side), downscaled first if needed.
pub const WORK_MAX_SIDE: u32 = 2000;
/// Photos with a longer side above this are also searched at twice the detector input.
pub const LARGE_PHOTO_SIDE: usize = 1000;
/// A face smaller than this fraction of the photo's longer side triggers the 832 px pass.
pub const SMALL_FACE_FRACTION: f32 = 0.15;
/// (padding per side as a fraction of the longer side, detector input) tried in turn when a
/// photo shows no face at first: tight face crops.
pub const CROP_RETRIES: [(f32, usize); 4] = [(0.3, 160), (0.3, 224), (0.5, 224), (0.8, 224)];

/// Merges detections of two scales: greedy by score, dropping a box that overlaps a kept one
/// by IoU > 0.4 or lies mostly (> 60 %) inside it.
fn merge(mut dets: Vec<Detection>) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep: Vec<Detection> = Vec::new();
    for d in dets {
        let overlaps = keep.iter().any(|k| {
            let iw = ((k.x + k.w).min(d.x + d.w) - k.x.max(d.x)).max(0.0);
            let ih = ((k.y + k.h).min(d.y + d.h) - k.y.max(d.y)).max(0.0);
            let inter = iw * ih;
            let (ak, ad) = (k.w * k.h, d.w * d.h);
            inter / (ak + ad - inter) > 0.4 || inter / ak.min(ad) > 0.6
        });
        if !overlaps {
            keep.push(d);
        }
    }
    keep
}

/// Errors of the face engine; [`FaceError::code`] gives a stable snake_case code.
#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    #[error("photo cannot be decoded: {0}")]
    PhotoUndecodable(String),
    #[error("photo format not accepted (JPEG or PNG only): {0}")]
    PhotoUnsupportedFormat(String),
    #[error("photo too large: {0}")]
    PhotoTooLarge(String),
    #[error("photo too small: {0}")]
    PhotoTooSmall(String),
    #[error("no face found in the photo")]
    NoFace,
    #[error("no face found inside face_box")]
    NoFaceInBox,
    #[error("model file missing: {file}: {reason}")]
    ModelMissing { file: String, reason: String },
    #[error("model file {file} fails its checksum: expected sha256 {expected}, found {actual}")]
    ModelChecksumMismatch {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("model file {file} is invalid: {reason}")]
    ModelInvalid { file: String, reason: String },
}

impl FaceError {
    pub fn code(&self) -> &'static str {
        match self {
            FaceError::PhotoUndecodable(_) => "photo_undecodable",
            FaceError::PhotoUnsupportedFormat(_) => "photo_unsupported_format",
            FaceError::PhotoTooLarge(_) => "photo_too_large",
            FaceError::PhotoTooSmall(_) => "photo_too_small",
            FaceError::NoFace | FaceError::NoFaceInBox => "no_face",
            FaceError::ModelMissing { .. } => "model_missing",
            FaceError::ModelChecksumMismatch { .. } => "model_checksum_mismatch",
            FaceError::ModelInvalid { .. } => "model_invalid",
        }
    }
}

/// The result of [`FaceEngine::analyze`] for the largest face of a photo.
#[derive(Clone, Debug)]
pub struct FaceAnalysis {
    /// `EMBEDDING_DIM` values, L2-normalised.
    pub embedding: Vec<f32>,
    /// Capture quality in [0, 1] (face size, sharpness, detector confidence).
    pub quality: f32,
    /// Number of faces detected; the largest is the one described.
    pub faces_found: usize,
    /// x, y, w, h in pixels of the (EXIF-oriented) image.
    pub bbox: [f32; 4],
    pub detection_score: f32,
    /// The 68 landmarks (iBUG order) in image pixels.
    pub landmarks: Vec<[f32; 2]>,
    /// Capture measures of the described face (eye distance, pose, sharpness, exposure).
    pub measures: FaceMeasures,
}

/// One face as face-api.js's `detectAllFaces().withFaceLandmarks().withFaceDescriptors()`
/// computes it (its crop, not our alignment): for the reference check against the JS package.
#[derive(Clone, Debug)]
pub struct FaceApiFace {
    pub detection: Detection,
    pub landmarks: Vec<[f32; 2]>,
    pub aligned_box: [f32; 4],
    /// Raw (not normalised) descriptor.
    pub descriptor: Vec<f32>,
}

/// Loaded networks; `Send + Sync`, load once and share.
pub struct FaceEngine {
    detector: nets::TinyFaceDetector,
    landmarks: nets::Landmark68,
    recognition: nets::Recognition,
}

/// Euclidean distance between L2-normalised embeddings at which [`similarity`] is 0.5: the
/// equal-error threshold measured on the project's test faces (docs/FACE.md).
pub const SIMILARITY_MIDPOINT_DISTANCE: f32 = 0.43;
/// Width of the logistic around the midpoint (distance units).
pub const SIMILARITY_SLOPE: f32 = 0.03;

/// A comparison score in [0, 1] for fusion: a logistic of the Euclidean distance `d` between the
/// L2-normalised embeddings, `1 / (1 + exp((d - SIMILARITY_MIDPOINT_DISTANCE) / SIMILARITY_SLOPE))`.
/// Monotonic in cosine, so it ranks like cosine; 0.5 is the equal-error operating point.
pub fn similarity(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 || a.len() != b.len() {
        return 0.0;
    }
    similarity_from_cosine(ab / (aa.sqrt() * bb.sqrt()))
}

/// [`similarity`] from the cosine of two embeddings.
pub fn similarity_from_cosine(cos: f32) -> f32 {
    let d = (2.0 - 2.0 * cos.clamp(-1.0, 1.0)).max(0.0).sqrt();
    1.0 / (1.0 + ((d - SIMILARITY_MIDPOINT_DISTANCE) / SIMILARITY_SLOPE).exp())
}

/// Cosine similarity.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa.sqrt() * bb.sqrt()).max(f32::MIN_POSITIVE)
}

fn to_act(img: &RgbImage) -> Array3<f32> {
    let (w, h) = img.dimensions();
    Array3::from_shape_vec(
        (h as usize, w as usize, 3),
        img.as_raw().iter().map(|&v| f32::from(v)).collect(),
    )
    .expect("RGB buffer")
}

fn l2_normalised(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.into_iter().map(|x| x / n).collect()
    } else {
        v
    }
}

impl FaceEngine {
    /// Model files used, as listed in `models/MANIFEST`.
    pub const MODELS: [&'static str; 3] = [
        "tiny_face_detector_model",
        "face_landmark_68_model",
        "face_recognition_model",
    ];

    /// Loads the three networks from `models_dir`, verifying each file's sha256 against
    /// `models_dir/MANIFEST`.
    pub fn load(models_dir: &Path) -> Result<FaceEngine, FaceError> {
        let sums = weights::read_manifest(models_dir)?;
        let [d, l, r] = Self::MODELS;
        Ok(FaceEngine {
            detector: nets::TinyFaceDetector::load(weights::load_model(models_dir, &sums, d)?)?,
            landmarks: nets::Landmark68::load(weights::load_model(models_dir, &sums, l)?)?,
            recognition: nets::Recognition::load(weights::load_model(models_dir, &sums, r)?)?,
        })
    }

    /// Decodes a photo and describes its largest face.
    pub fn analyze(&self, photo: &[u8]) -> Result<FaceAnalysis, FaceError> {
        let img = intake::decode(photo)?;
        self.analyze_image(&img)
    }

    /// Decodes a photo and describes the face that best overlaps `face_box` (x, y, w, h in
    /// pixels of the oriented photo; by intersection over union), or the largest without one.
    pub fn analyze_in(
        &self,
        photo: &[u8],
        face_box: Option<[f32; 4]>,
    ) -> Result<FaceAnalysis, FaceError> {
        let img = intake::decode(photo)?;
        self.analyze_image_in(&img, face_box)
    }

    /// [`FaceEngine::analyze`] for an already decoded (and oriented) image.
    pub fn analyze_image(&self, img: &RgbImage) -> Result<FaceAnalysis, FaceError> {
        self.analyze_image_in(img, None)
    }

    /// [`FaceEngine::analyze_in`] for an already decoded (and oriented) image.
    pub fn analyze_image_in(
        &self,
        img: &RgbImage,
        face_box: Option<[f32; 4]>,
    ) -> Result<FaceAnalysis, FaceError> {
        // Work on at most WORK_MAX_SIDE pixels: the detector sees 416/832 px anyway, and a
        // 40 Mpx photo as f32 would take ~0.5 GB. Results are mapped back to the photo.
        let (w, h) = img.dimensions();
        let resized;
        let work = if w.max(h) > WORK_MAX_SIDE {
            let s = WORK_MAX_SIDE as f32 / w.max(h) as f32;
            let (nw, nh) = (
                ((w as f32 * s).round() as u32).max(1),
                ((h as f32 * s).round() as u32).max(1),
            );
            resized = image::imageops::resize(img, nw, nh, image::imageops::FilterType::Triangle);
            &resized
        } else {
            img
        };
        let (sx, sy) = (
            w as f32 / work.width() as f32,
            h as f32 / work.height() as f32,
        );
        let act = to_act(work);
        let faces = self.detect(&act);
        let face = match face_box {
            None => *faces
                .iter()
                .max_by(|a, b| (a.w * a.h).total_cmp(&(b.w * b.h)))
                .ok_or(FaceError::NoFace)?,
            Some([x, y, bw, bh]) => {
                let b = Detection {
                    x: x / sx,
                    y: y / sy,
                    w: bw / sx,
                    h: bh / sy,
                    score: 0.0,
                };
                let (best, overlap) = faces
                    .iter()
                    .map(|d| (d, d.iou(&b)))
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .ok_or(FaceError::NoFace)?;
                if overlap <= 0.0 {
                    return Err(FaceError::NoFaceInBox);
                }
                *best
            }
        };
        let landmarks = self.landmarks_for(&act, &face).ok_or(FaceError::NoFace)?;
        let t = align::chip_transform(&landmarks);
        let chip = align::extract_chip(&act, &t);
        let photo_landmarks: Vec<[f32; 2]> = landmarks
            .into_iter()
            .map(|p| [p[0] * sx, p[1] * sy])
            .collect();
        let measures = measures::measure(&photo_landmarks, &chip);
        let embedding = l2_normalised(self.recognition.descriptor(&chip));
        let face = Detection {
            x: face.x * sx,
            y: face.y * sy,
            w: face.w * sx,
            h: face.h * sy,
            ..face
        };
        let quality = quality(&face, &chip);
        Ok(FaceAnalysis {
            embedding,
            quality,
            faces_found: faces.len(),
            bbox: [face.x, face.y, face.w, face.h],
            detection_score: face.score,
            landmarks: photo_landmarks,
            measures,
        })
    }

    /// All faces (boxes clipped to the image), best score first.
    ///
    /// The detector runs at face-api's 416 px; photos whose longer side exceeds
    /// [`LARGE_PHOTO_SIDE`] and where no face at least [`SMALL_FACE_FRACTION`] of that side was
    /// found are also searched at 832 px (small faces in group or distant shots) and the two
    /// lists merged by NMS; a portrait skips that pass. When nothing is found, the photo is
    /// searched again on a canvas padded with its mean colour ([`CROP_RETRIES`]): the detector was trained on faces
    /// with context around them and misses tight, face-filling crops.
    pub fn detect(&self, img: &Array3<f32>) -> Vec<Detection> {
        let (h, w, _) = img.dim();
        let mut dets = self
            .detector
            .detect(img, DETECTOR_INPUT, DETECTOR_THRESHOLD);
        let largest = dets.iter().map(|d| d.w.max(d.h)).fold(0.0, f32::max);
        if h.max(w) > LARGE_PHOTO_SIDE && largest < SMALL_FACE_FRACTION * h.max(w) as f32 {
            dets.extend(
                self.detector
                    .detect(img, 2 * DETECTOR_INPUT, DETECTOR_THRESHOLD),
            );
            dets = merge(dets);
        }
        if dets.is_empty() {
            let mean: Vec<f32> = (0..3)
                .map(|c| img.index_axis(ndarray::Axis(2), c).mean().unwrap_or(0.0))
                .collect();
            for &(pad, size) in CROP_RETRIES.iter() {
                let p = (h.max(w) as f32 * pad).round() as usize;
                let mut canvas =
                    Array3::from_shape_fn((h + 2 * p, w + 2 * p, 3), |(_, _, c)| mean[c]);
                canvas
                    .slice_mut(ndarray::s![p..p + h, p..p + w, ..])
                    .assign(img);
                dets = self
                    .detector
                    .detect(&canvas, size, DETECTOR_THRESHOLD)
                    .into_iter()
                    .map(|d| Detection {
                        x: d.x - p as f32,
                        y: d.y - p as f32,
                        ..d
                    })
                    .collect();
                if !dets.is_empty() {
                    break;
                }
            }
        }
        dets.into_iter()
            .filter_map(|d| {
                let x0 = d.x.max(0.0);
                let y0 = d.y.max(0.0);
                let x1 = (d.x + d.w).min(w as f32);
                let y1 = (d.y + d.h).min(h as f32);
                (x1 - x0 >= 4.0 && y1 - y0 >= 4.0).then_some(Detection {
                    x: x0,
                    y: y0,
                    w: x1 - x0,
                    h: y1 - y0,
                    ..d
                })
            })
            .collect()
    }

    /// 68 landmarks in image pixels, from the detection crop (as face-api does).
    fn landmarks_for(&self, img: &Array3<f32>, d: &Detection) -> Option<Vec<[f32; 2]>> {
        let crop = align::faceapi_crop(img, [d.x, d.y, d.w, d.h])?;
        let lm = self.landmarks.landmarks(&crop);
        Some(lm.into_iter().map(|p| [p[0] + d.x, p[1] + d.y]).collect())
    }

    /// The raw descriptor of a 150x150 RGB chip (values 0..255), without alignment.
    pub fn descriptor_of_chip(&self, chip: &RgbImage) -> Vec<f32> {
        self.recognition.descriptor(&to_act(chip))
    }

    /// The aligned 150x150 chip the embedding of the largest face is computed from.
    pub fn aligned_chip(&self, img: &RgbImage) -> Result<RgbImage, FaceError> {
        let act = to_act(img);
        let faces = self.detect(&act);
        let face = faces
            .iter()
            .max_by(|a, b| (a.w * a.h).total_cmp(&(b.w * b.h)))
            .ok_or(FaceError::NoFace)?;
        let lm = self.landmarks_for(&act, face).ok_or(FaceError::NoFace)?;
        let chip = align::extract_chip(&act, &align::chip_transform(&lm));
        Ok(RgbImage::from_fn(150, 150, |x, y| {
            let p = |c| chip[[y as usize, x as usize, c]].round().clamp(0.0, 255.0) as u8;
            image::Rgb([p(0), p(1), p(2)])
        }))
    }

    /// The L2-normalised embedding of the largest face computed from face-api's crop (its
    /// `alignDlib` box, no rotation) instead of our aligned chip, detection as in `analyze`:
    /// for comparing the two alignments (`examples/face_eval.rs`).
    pub fn embedding_faceapi_crop(&self, img: &RgbImage) -> Result<Vec<f32>, FaceError> {
        let act = to_act(img);
        let faces = self.detect(&act);
        let face = faces
            .iter()
            .max_by(|a, b| (a.w * a.h).total_cmp(&(b.w * b.h)))
            .ok_or(FaceError::NoFace)?;
        let lm = self.landmarks_for(&act, face).ok_or(FaceError::NoFace)?;
        let crop =
            align::faceapi_crop(&act, align::faceapi_align_box(&lm)).ok_or(FaceError::NoFace)?;
        let (side, top, left) = nets::centred_square(crop.dim().0, crop.dim().1);
        let chip = ops::resize_padded_square(&crop, side, top, left, 150);
        Ok(l2_normalised(self.recognition.descriptor(&chip)))
    }

    /// face-api.js's own pipeline (tiny detector at 416 / 0.5 without our retry, landmarks on
    /// the detection crop, descriptor of the `alignDlib` box crop padded to a square and resized
    /// to 150): used to check this port against the JS package output.
    pub fn faceapi_pipeline(&self, img: &RgbImage) -> Vec<FaceApiFace> {
        let act = to_act(img);
        let dets = self
            .detector
            .detect(&act, DETECTOR_INPUT, DETECTOR_THRESHOLD);
        dets.into_iter()
            .filter_map(|d| {
                let crop = align::faceapi_crop(&act, [d.x, d.y, d.w, d.h])?;
                let lm: Vec<[f32; 2]> = self
                    .landmarks
                    .landmarks(&crop)
                    .into_iter()
                    .map(|p| [p[0] + d.x, p[1] + d.y])
                    .collect();
                let b = align::faceapi_align_box(&lm);
                let face = align::faceapi_crop(&act, b)?;
                let (sq, _, _) = ops::pad_to_square(&face, true);
                let chip = if sq.dim().0 == 150 {
                    sq
                } else {
                    ops::resize_bilinear_tf(&sq, 150, 150)
                };
                let descriptor = self.recognition.descriptor(&chip);
                Some(FaceApiFace {
                    detection: d,
                    landmarks: lm,
                    aligned_box: b,
                    descriptor,
                })
            })
            .collect()
    }
}

/// Capture quality in [0, 1]: the geometric mean of
/// * size: the face box's shorter side, 0 at <= 24 px, 1 at >= 112 px (linear between);
/// * sharpness: variance of the 4-neighbour Laplacian of the chip's luminance `v`, as
///   `v / (v + 60)` rescaled so that 1 is reached at v = 240 (a sharp 150 px chip scores
///   well above; a blurred one, below 30);
/// * confidence: detector score mapped from [0.5, 0.9] to [0, 1].
fn quality(face: &Detection, chip: &Array3<f32>) -> f32 {
    let side = face.w.min(face.h);
    let q_size = ((side - 24.0) / (112.0 - 24.0)).clamp(0.0, 1.0);
    let var = measures::laplacian_variance(chip);
    let q_sharp = ((var / (var + 60.0)) / 0.8).clamp(0.0, 1.0);
    let q_conf = ((face.score - 0.5) / 0.4).clamp(0.0, 1.0);
    (q_size * q_sharp * q_conf).cbrt().clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests;
