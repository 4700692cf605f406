//! The seam between the service and the biometric engines.
//!
//! The service hands [`Matcher`] the raw photo and finger submissions; it gets back
//! [`Extracted`] features (which it seals and stores), and answers 1:N searches over the
//! in-memory galleries, keyed by the record's `seq`. All engine work runs on the matcher's own
//! rayon pool, never on an actix worker thread. The engines themselves
//! ([`crate::biometrics::face`], [`crate::biometrics::finger`]) know nothing of this service.
//!
//! A search runs the face gallery and the finger gallery, takes the union of their
//! shortlists, completes each candidate's missing modality score by a direct comparison
//! (so a person found by the face is also scored on the fingers, and vice versa), and fuses
//! them ([`crate::biometrics::fusion`]).

use super::capture;
use crate::biometrics::{face, finger, fusion, quality};
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use base64::Engine as _;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};

/// One finger as submitted (API.md): a scanner template, JSON minutiae, or an image.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct FingerInput {
    /// ISO/IEC 19794-2 finger position code (1 right thumb … 10 left little; 0 unknown).
    pub position: i64,
    /// `iso-19794-2-2005`, `iso-19794-2-2011`, `ansi-378-2004`, `ansi-378-2009`,
    /// `minutiae-json` or `image`.
    pub format: String,
    /// Base64 template (scanner formats).
    pub template: Option<String>,
    /// Base64 PNG/TIFF/JPEG (`image`), at `resolution_dpi` (250–1000; absent or outside that
    /// range: 500), rescaled to 500 dpi before extraction.
    pub image: Option<String>,
    pub width: Option<u16>,
    pub height: Option<u16>,
    pub resolution_dpi: Option<u16>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub minutiae: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FaceFeatures {
    pub embedding: Vec<f32>,
    pub quality: f32,
    pub faces_found: usize,
    /// Accepted below a soft capture limit ([`super::capture`]): its evidence counts for less.
    #[serde(default)]
    pub low_quality: bool,
    /// The capture measures (kept for the answer, not stored).
    #[serde(skip)]
    pub measures: Option<face::FaceMeasures>,
    /// The 68 landmarks of the described face (photo pixels): used once, to cut the evidence
    /// crop at enrollment; never stored.
    #[serde(skip)]
    pub landmarks: Vec<[f32; 2]>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FingerFeatures {
    pub position: u8,
    pub format: String,
    /// The submitted template or image, kept (sealed) so features can be recomputed when the
    /// matcher improves.
    #[serde(with = "b64")]
    pub raw: Vec<u8>,
    /// The engine's precomputed features.
    #[serde(with = "b64")]
    pub features: Vec<u8>,
    pub minutiae: usize,
    /// Accepted below a soft capture limit ([`super::capture`]): its evidence counts for less.
    #[serde(default)]
    pub low_quality: bool,
    /// The capture measures (kept for the answer, not stored).
    #[serde(skip)]
    pub measures: Option<quality::FingerMeasures>,
}

/// What the engines made of one submission; sealed as the record's `biometrics` field.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Extracted {
    pub face: Option<FaceFeatures>,
    pub fingers: Vec<FingerFeatures>,
}

/// One gallery hit.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub key: i64,
    /// Display score of the fused evidence, `decades / (decades + 4)` (see
    /// [`fusion::score_from_decades`]); ordered exactly as `ln_p`.
    pub score: f64,
    pub face_score: Option<f64>,
    /// Display score of the fingers' evidence alone.
    pub finger_score: Option<f64>,
    /// (gallery position, matcher score) of each compared probe finger.
    pub fingers: Vec<(u8, f32)>,
    /// Fused log p-value: the probability that an impostor reaches this evidence.
    pub ln_p: f64,
    /// Per-modality and per-finger evidence.
    pub evidence: super::evidence::Detail,
}

mod b64 {
    use base64::Engine as _;
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s: String = serde::Deserialize::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

pub fn decode_b64(field: &'static str, s: &str) -> ApiResult<Vec<u8>> {
    let s = s.trim();
    let s = s.split_once(";base64,").map(|(_, d)| d).unwrap_or(s);
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| ApiError::client(field, "not valid base64"))
}

/// The biometric part of an enrollment or identify request, checked before any work: the
/// photo decoded (if any), at least one modality, at most ten fingers, finger codes 0-10 and
/// each specific position at most once (0, "unknown finger", may repeat).
pub fn validate_biometrics(
    photo: Option<&str>,
    fingers: &[FingerInput],
) -> ApiResult<Option<Vec<u8>>> {
    let photo = match photo {
        None | Some("") => None,
        Some(b) => Some(decode_b64("photo_undecodable", b)?),
    };
    if photo.is_none() && fingers.is_empty() {
        return Err(ApiError::client(
            "missing_biometrics",
            "at least one of photo or fingerprints is required",
        ));
    }
    if fingers.len() > 10 {
        return Err(ApiError::client(
            "too_many_fingers",
            "at most 10 fingerprints",
        ));
    }
    let mut seen = [false; 11];
    for f in fingers {
        if !(0..=10).contains(&f.position) {
            return Err(ApiError::client(
                "bad_finger_position",
                "position must be an ISO/IEC 19794-2 finger code, 0-10",
            ));
        }
        let p = f.position as usize;
        if p != 0 && std::mem::replace(&mut seen[p], true) {
            return Err(ApiError::client(
                "duplicate_finger_position",
                "each finger position may appear once",
            ));
        }
    }
    Ok(photo)
}

pub struct Matcher {
    pool: rayon::ThreadPool,
    face: Option<face::FaceEngine>,
    face_gallery: RwLock<face::FaceGallery>,
    finger_gallery: RwLock<finger::FingerGallery>,
    /// The records the matcher answers for. A record is visible to searches once it is here:
    /// [`Matcher::insert_many`] fills the galleries first and this map last, and
    /// [`Matcher::remove`] empties it first, so a record seen here always has its fingers in
    /// the finger gallery (direct comparisons read them there).
    stored: RwLock<HashMap<i64, Arc<Stored>>>,
    /// Serialises insertions and removals, which touch the three maps one after another.
    writes: Mutex<()>,
    limits: quality::CaptureLimits,
}

/// What the matcher keeps per record beside the galleries. The finger features themselves
/// live only in the finger gallery (one copy), which compares them for direct scoring.
struct Stored {
    face: Option<Vec<f32>>,
    /// Positions of the record's fingers, in insertion order.
    positions: Vec<u8>,
    /// Evidence weight of the face and of each finger (in `positions` order): 1, or
    /// [`LOW_QUALITY_WEIGHT`] for a capture accepted with a `low_quality` flag.
    face_weight: f64,
    finger_weights: Vec<f64>,
}

/// The weight of low-quality evidence: its decades of evidence are halved (its FMR is
/// raised to this power). A conservative choice, not a fitted one: it can only lower a score.
pub const LOW_QUALITY_WEIGHT: f64 = 0.5;

fn weight(low_quality: bool) -> f64 {
    if low_quality {
        LOW_QUALITY_WEIGHT
    } else {
        1.0
    }
}

fn finger_error(e: finger::FingerError) -> ApiError {
    ApiError::client(e.code(), e.to_string())
}

fn face_error(e: face::FaceError) -> ApiError {
    match e {
        face::FaceError::ModelMissing { .. }
        | face::FaceError::ModelChecksumMismatch { .. }
        | face::FaceError::ModelInvalid { .. } => ApiError::internal(e),
        other => ApiError::client(other.code(), other.to_string()),
    }
}

/// Picks the view of a multi-view record that stands for finger `position`: the one with
/// that position and the most minutiae (any view when the record names no such finger).
pub(crate) fn pick_view(record: finger::FingerRecord, position: u8) -> Option<finger::FingerView> {
    let mut views = record.views;
    let matching: Vec<usize> = (0..views.len())
        .filter(|&i| views[i].position == position)
        .collect();
    let pool: Vec<usize> = if matching.is_empty() {
        (0..views.len()).collect()
    } else {
        matching
    };
    let best = pool.into_iter().max_by_key(|&i| views[i].minutiae.len())?;
    let mut v = views.swap_remove(best);
    v.position = position;
    Some(v)
}

impl Matcher {
    pub fn new(config: &Config) -> anyhow::Result<Matcher> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.engine_threads)
            .thread_name(|i| format!("registro-engine-{i}"))
            .build()?;
        let face = face::FaceEngine::load(&config.models_dir).map_err(|e| {
            anyhow::anyhow!(
                "face model: {e} (models dir {})",
                config.models_dir.display()
            )
        })?;
        Ok(Matcher {
            pool,
            face: Some(face),
            face_gallery: RwLock::new(face::FaceGallery::new()),
            finger_gallery: RwLock::new(finger::FingerGallery::new()),
            stored: RwLock::default(),
            writes: Mutex::default(),
            limits: config.capture_limits,
        })
    }

    /// Runs `f` on the engine pool.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }

    /// One finger of a request, from its wire form (base64 template, minutiae JSON or
    /// image) to a view; pure, so the fuzz targets call it as the request path does.
    pub fn finger_view(f: &FingerInput) -> ApiResult<(Vec<u8>, finger::FingerView, bool)> {
        let position = f.position as u8;
        match f.format.as_str() {
            "minutiae-json" => {
                let raw = serde_json::to_vec(&f.minutiae).map_err(ApiError::internal)?;
                let minutiae: Vec<finger::JsonMinutia> = f
                    .minutiae
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(serde_json::from_value)
                    .collect::<Result<_, _>>()
                    .map_err(|_| {
                        ApiError::client(
                            "invalid_minutiae",
                            "each minutia needs x, y, angle_deg and type",
                        )
                    })?;
                let view = finger::from_minutiae_json(
                    position,
                    f.width.unwrap_or(0),
                    f.height.unwrap_or(0),
                    f.resolution_dpi.unwrap_or(500),
                    &minutiae,
                )
                .map_err(finger_error)?;
                Ok((raw, view, false))
            }
            "image" => {
                let raw = decode_b64("finger_image_undecodable", f.image.as_deref().unwrap_or(""))?;
                // The declared resolution is honoured (the image is brought to 500 dpi before
                // MINDTCT); an implausible one is taken as 500, as for templates.
                let dpi = f
                    .resolution_dpi
                    .filter(|d| finger::PLAUSIBLE_DPI.contains(d));
                let view =
                    finger::extract_from_image_at(position, &raw, dpi).map_err(finger_error)?;
                Ok((raw, view, false))
            }
            fmt if FORMATS.contains(&fmt) => {
                let raw = decode_b64("template_undecodable", f.template.as_deref().unwrap_or(""))?;
                let record = finger::parse_template(fmt, &raw).map_err(finger_error)?;
                let view = pick_view(record, position).ok_or_else(|| {
                    ApiError::client("template_no_views", "the template holds no finger view")
                })?;
                Ok((raw, view, true))
            }
            _ => Err(ApiError::client(
                "unknown_template_format",
                "unknown fingerprint format",
            )),
        }
    }

    /// Turns a submission into features. Bad input is a 422 with the engine's code; then the
    /// capture checks of [`capture`]: `multiple_faces`, `duplicate_finger`, `low_quality`.
    pub fn extract(&self, photo: Option<&[u8]>, fingers: &[FingerInput]) -> ApiResult<Extracted> {
        self.extract_in(photo, None, fingers)
    }

    /// [`Matcher::extract`] with the face to use named by a box (x, y, w, h in pixels of the
    /// photo): a photo with several faces is then accepted, and that face described.
    pub fn extract_in(
        &self,
        photo: Option<&[u8]>,
        face_box: Option<[f32; 4]>,
        fingers: &[FingerInput],
    ) -> ApiResult<Extracted> {
        for f in fingers {
            if !FORMATS.contains(&f.format.as_str()) {
                return Err(ApiError::client(
                    "unknown_template_format",
                    "unknown fingerprint format",
                ));
            }
        }
        self.pool.install(|| {
            let (face, fingers) = rayon::join(
                || -> ApiResult<Option<FaceFeatures>> {
                    let (Some(photo), Some(engine)) = (photo, &self.face) else {
                        return Ok(None);
                    };
                    let a = engine.analyze_in(photo, face_box).map_err(face_error)?;
                    Ok(Some(FaceFeatures {
                        embedding: a.embedding,
                        quality: a.quality,
                        faces_found: a.faces_found,
                        low_quality: false,
                        measures: Some(a.measures),
                        landmarks: a.landmarks,
                    }))
                },
                || -> ApiResult<Vec<(FingerFeatures, finger::FingerFeatures)>> {
                    fingers
                        .par_iter()
                        .map(|f| {
                            let (raw, view, from_record) = Self::finger_view(f)?;
                            let feats = finger::FingerFeatures::extract(&view);
                            let out = FingerFeatures {
                                position: f.position as u8,
                                format: f.format.clone(),
                                raw,
                                minutiae: feats.minutiae_count(),
                                features: feats.to_bytes(),
                                low_quality: false,
                                measures: Some(quality::finger_measures(&view, from_record)),
                            };
                            Ok((out, feats))
                        })
                        .collect()
                },
            );
            let face = face?;
            let (fingers, decoded): (Vec<FingerFeatures>, Vec<finger::FingerFeatures>) =
                fingers?.into_iter().unzip();
            let mut ex = Extracted { face, fingers };
            capture::check_faces(&ex, face_box.is_some())?;
            capture::check_duplicate_fingers(&ex, &decoded, self.limits.duplicate_finger_score)?;
            capture::check_quality(&mut ex, &self.limits)?;
            Ok(ex)
        })
    }

    /// The capture limits this matcher checks submissions against.
    pub fn limits(&self) -> &quality::CaptureLimits {
        &self.limits
    }

    /// The fingers of `ex` decoded, each with its evidence weight.
    fn decode_weighted(ex: &Extracted) -> Vec<(u8, finger::FingerFeatures, f64)> {
        ex.fingers
            .iter()
            .filter_map(|f| {
                finger::FingerFeatures::from_bytes(&f.features)
                    .ok()
                    .map(|x| (f.position, x, weight(f.low_quality)))
            })
            .collect()
    }

    /// Per probe finger, the best finger of record `key` of the same position (any for
    /// position 0): (gallery position, score); probe fingers with nothing to compare are
    /// skipped. The finger gallery holds the record's features and compares them.
    fn finger_pairs(
        gallery: &finger::FingerGallery,
        probe: &[(u8, finger::FingerFeatures)],
        key: i64,
    ) -> Vec<(u8, f32)> {
        gallery
            .compare_person(key as u64, probe)
            .map(|c| c.fingers)
            .unwrap_or_default()
    }

    /// The evidence of one record: the face (if both have one) and, per probe finger that had
    /// something to compare with, its best score (`pairs`, in probe order as
    /// [`Self::finger_pairs`] and the finger gallery give them) as the best of the record's
    /// fingers it was compared with.
    ///
    /// Low-quality evidence (either side) counts for less: each item is weighted by the smaller
    /// of the two captures' weights (`fusion::Evidence::weight`, [`LOW_QUALITY_WEIGHT`]).
    fn evidence(
        probe: &[(u8, finger::FingerFeatures)],
        weights: (&[f64], f64),
        stored: &Stored,
        face_cos: Option<f32>,
        pairs: &[(u8, f32)],
    ) -> super::evidence::Detail {
        use super::evidence::{Detail, FaceEvidence, FingerEvidence};
        let (probe_weights, probe_face_weight) = weights;
        let face = face_cos.map(|cosine| FaceEvidence {
            cosine,
            evidence: fusion::Evidence::new(fusion::face_ln_false_match_rate(cosine))
                .weighted(probe_face_weight.min(stored.face_weight)),
        });
        let mut fingers = Vec::with_capacity(pairs.len());
        let mut next = pairs.iter();
        for ((pos, _), pw) in probe.iter().zip(probe_weights) {
            let m = stored
                .positions
                .iter()
                .filter(|sp| positions_match(*pos, **sp))
                .count() as u32;
            if m == 0 {
                continue;
            }
            let Some(&(gallery_position, score)) = next.next() else {
                break;
            };
            let sw = stored
                .positions
                .iter()
                .zip(&stored.finger_weights)
                .find(|(sp, _)| **sp == gallery_position)
                .map_or(1.0, |(_, w)| *w);
            fingers.push(FingerEvidence {
                probe_position: *pos,
                gallery_position,
                score,
                evidence: fusion::Evidence::new(finger::ln_false_match_rate_at(score))
                    .best_of(m)
                    .weighted(pw.min(sw)),
            });
        }
        Detail {
            face,
            fingers,
            records: 1,
        }
    }

    /// The best `k` gallery entries for a probe, best first.
    pub fn search(&self, probe: &Extracted, k: usize) -> Vec<Candidate> {
        self.search_among(probe, k, None)
    }

    /// Scores a probe against the given records only (they must have been inserted), as a
    /// search would score them, best first: no shortlist, every key compared directly. Used
    /// for records that committed while an enrollment was in flight (`service::inflight`).
    pub fn score_keys(&self, probe: &Extracted, keys: &[i64]) -> Vec<Candidate> {
        if keys.is_empty() {
            return vec![];
        }
        self.search_among(probe, keys.len(), Some(keys))
    }

    /// A gallery search (`only` is `None`) or a direct scoring of the records `only` names.
    fn search_among(&self, probe: &Extracted, k: usize, only: Option<&[i64]>) -> Vec<Candidate> {
        let (probe_fingers, probe_weights): (Vec<_>, Vec<f64>) = Self::decode_weighted(probe)
            .into_iter()
            .map(|(p, f, w)| ((p, f), w))
            .unzip();
        let probe_face = probe.face.as_ref().map(|f| f.embedding.clone());
        let probe_face_weight = weight(probe.face.as_ref().is_some_and(|f| f.low_quality));
        let cancel = AtomicBool::new(false);
        let wide = (k * 2).max(20);
        // Every lock is taken here, on the calling thread, before the work enters the pool:
        // a pool thread that blocked on a lock while holding stolen work of another search
        // could deadlock against a queued writer.
        let face_gallery = self.face_gallery.read().unwrap_or_else(|p| p.into_inner());
        let finger_gallery = self
            .finger_gallery
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let stored = self.stored.read().unwrap_or_else(|p| p.into_inner());
        let (face_gallery, finger_gallery, stored) = (&*face_gallery, &*finger_gallery, &*stored);
        self.pool.install(|| {
            let (face_hits, finger_hits) = match only {
                Some(_) => (vec![], vec![]),
                None => rayon::join(
                    || match &probe_face {
                        Some(e) => face_gallery.search(e, wide, &cancel),
                        None => vec![],
                    },
                    || {
                        if probe_fingers.is_empty() {
                            vec![]
                        } else {
                            finger_gallery.search(&probe_fingers, wide, &cancel)
                        }
                    },
                ),
            };
            let mut keys: Vec<i64> = face_hits.iter().map(|h| h.0 as i64).collect();
            keys.extend(finger_hits.iter().map(|h| h.person as i64));
            keys.extend(only.unwrap_or_default());
            keys.sort_unstable();
            keys.dedup();
            // Finger scores the gallery already computed are reused; only candidates found by
            // the face alone are compared finger by finger here.
            let finger_known: HashMap<i64, Vec<(u8, f32)>> = finger_hits
                .into_iter()
                .map(|h| (h.person as i64, h.fingers))
                .collect();
            let mut out: Vec<Candidate> = keys
                .par_iter()
                .filter_map(|key| {
                    let st = stored.get(key)?;
                    let face_cos = match (&probe_face, &st.face) {
                        (Some(p), Some(s)) => Some(face::cosine(p, s)),
                        _ => None,
                    };
                    let pairs = match finger_known.get(key) {
                        Some(known) => known.clone(),
                        None => Self::finger_pairs(finger_gallery, &probe_fingers, *key),
                    };
                    let evidence = Self::evidence(
                        &probe_fingers,
                        (&probe_weights, probe_face_weight),
                        st,
                        face_cos,
                        &pairs,
                    );
                    let ln_p = evidence.ln_p();
                    Some(Candidate {
                        key: *key,
                        score: super::evidence::score_of(ln_p),
                        face_score: face_cos.map(|c| f64::from(face::similarity_from_cosine(c))),
                        finger_score: evidence.ln_p_fingers().map(super::evidence::score_of),
                        fingers: pairs,
                        ln_p,
                        evidence,
                    })
                })
                .collect();
            // Most evidence first: the lowest log p-value (no clamp, so no ties but exact ones).
            out.sort_by(|a, b| a.ln_p.total_cmp(&b.ln_p).then(a.key.cmp(&b.key)));
            out.truncate(k);
            out
        })
    }

    /// Adds a record's features; a second insert of the same key is ignored.
    pub fn insert(&self, key: i64, ex: &Extracted) {
        self.insert_many(&[(key, ex)]);
    }

    /// Adds records' features (many at once when loading at start-up): fingers are decoded
    /// and indexed in parallel on the engine pool. Keys already present are skipped.
    pub fn insert_many(&self, items: &[(i64, &Extracted)]) {
        type Decoded = (
            i64,
            Option<Vec<f32>>,
            Vec<(u8, finger::FingerFeatures)>,
            Vec<f64>,
            f64,
        );
        let decoded: Vec<Decoded> = self.pool.install(|| {
            items
                .par_iter()
                .map(|(k, ex)| {
                    let (fingers, weights) = Self::decode_weighted(ex)
                        .into_iter()
                        .map(|(p, f, w)| ((p, f), w))
                        .unzip();
                    (
                        *k,
                        ex.face.as_ref().map(|f| f.embedding.clone()),
                        fingers,
                        weights,
                        weight(ex.face.as_ref().is_some_and(|f| f.low_quality)),
                    )
                })
                .collect()
        });
        let _writes = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        // Keys already present, and repeats within `items`, are skipped.
        let fresh: Vec<Decoded> = {
            let stored = self.stored.read().unwrap_or_else(|p| p.into_inner());
            let mut seen = std::collections::HashSet::new();
            decoded
                .into_iter()
                .filter(|d| !stored.contains_key(&d.0) && seen.insert(d.0))
                .collect()
        };
        if fresh.is_empty() {
            return;
        }
        {
            let mut faces = self.face_gallery.write().unwrap_or_else(|p| p.into_inner());
            for (k, face, ..) in &fresh {
                if let Some(e) = face.as_ref().filter(|e| e.len() == face::EMBEDDING_DIM) {
                    faces.insert(*k as u64, e);
                }
            }
        }
        let mut batch: Vec<(u64, u8, finger::FingerFeatures)> = Vec::new();
        let mut entries: Vec<(i64, Stored)> = Vec::with_capacity(fresh.len());
        for (k, face, fingers, finger_weights, face_weight) in fresh {
            entries.push((
                k,
                Stored {
                    face,
                    positions: fingers.iter().map(|(p, _)| *p).collect(),
                    face_weight,
                    finger_weights,
                },
            ));
            batch.extend(fingers.into_iter().map(|(p, f)| (k as u64, p, f)));
        }
        if !batch.is_empty() {
            // The lock is taken here, on the calling thread, before the work enters the pool.
            let mut fingers = self
                .finger_gallery
                .write()
                .unwrap_or_else(|p| p.into_inner());
            let g = &mut *fingers;
            self.pool.install(move || g.insert_batch(batch));
        }
        // Last: from here on searches see the records, with their fingers already in place.
        let mut stored = self.stored.write().unwrap_or_else(|p| p.into_inner());
        for (k, st) in entries {
            stored.insert(k, Arc::new(st));
        }
    }

    pub fn remove(&self, key: i64) {
        let _writes = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        // First out of `stored`, so no search reaches the record while its fingers go.
        if self
            .stored
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key)
            .is_none()
        {
            return;
        }
        self.face_gallery
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key as u64);
        self.finger_gallery
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key as u64);
    }

    pub fn contains(&self, key: i64) -> bool {
        self.stored
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&key)
    }

    /// Number of records in the gallery.
    pub fn len(&self) -> usize {
        self.stored.read().unwrap_or_else(|p| p.into_inner()).len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate bytes held by the galleries.
    pub fn memory_bytes(&self) -> usize {
        self.face_gallery
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .memory_bytes()
            + self
                .finger_gallery
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .memory_bytes()
    }
}

/// Whether a probe finger at `probe` is compared with a gallery finger at `gallery` (0, an
/// unknown finger, is compared with every finger).
fn positions_match(probe: u8, gallery: u8) -> bool {
    probe == 0 || gallery == 0 || probe == gallery
}

const FORMATS: [&str; 6] = [
    "iso-19794-2-2005",
    "iso-19794-2-2011",
    "ansi-378-2004",
    "ansi-378-2009",
    "minutiae-json",
    "image",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::biometrics::finger::synthetic;

    fn features(seed: u64) -> finger::FingerFeatures {
        let mut g = synthetic::SyntheticGenerator::new(seed, Default::default());
        let master = g.master();
        finger::FingerFeatures::extract(&g.render(&master, &Default::default()))
    }

    #[test]
    fn low_quality_evidence_counts_for_less() {
        let (a, b) = (features(11), features(12));
        let stored = |w: f64| Stored {
            face: None,
            positions: vec![2, 7],
            face_weight: 1.0,
            finger_weights: vec![1.0, w],
        };
        let mut gallery = finger::FingerGallery::new();
        gallery.insert(1, 2, a.clone());
        gallery.insert(1, 7, b.clone());
        let probe = vec![(2, a.clone()), (7, b.clone())];
        let pairs = Matcher::finger_pairs(&gallery, &probe, 1);
        assert_eq!(pairs.len(), 2);
        let full = Matcher::evidence(&probe, (&[1.0, 1.0], 1.0), &stored(1.0), None, &pairs);
        // One low-quality finger on either side: weaker, never stronger, evidence.
        for (pw, sw) in [
            ([1.0, LOW_QUALITY_WEIGHT], 1.0),
            ([1.0, 1.0], LOW_QUALITY_WEIGHT),
        ] {
            let low = Matcher::evidence(&probe, (&pw, 1.0), &stored(sw), None, &pairs);
            assert!(low.ln_p() > full.ln_p(), "{} {}", low.ln_p(), full.ln_p());
        }
    }
}
