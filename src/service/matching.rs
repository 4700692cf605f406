//! The seam between the service and the biometric engines.
//!
//! The service hands [`Matcher`] the raw photo and finger submissions; it gets back
//! [`Extracted`] features (which it seals and stores), and answers 1:N searches over the
//! in-memory galleries, keyed by the record's `seq`. All engine work runs on the matcher's own
//! rayon pool, never on an actix worker thread.
//!
//! This first implementation is deliberately simple and exact: a finger's features are a
//! digest of its template, and a search finds records holding the very same template. The
//! fingerprint and face engines replace its internals without changing this interface.

use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::RwLock;

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
    /// Base64 PNG/TIFF/JPEG at 500 dpi (`image`).
    pub image: Option<String>,
    pub width: Option<u16>,
    pub height: Option<u16>,
    pub resolution_dpi: Option<u16>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub minutiae: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaceFeatures {
    pub embedding: Vec<f32>,
    pub quality: f32,
    pub faces_found: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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
    pub score: f64,
    pub face_score: Option<f64>,
    pub finger_score: Option<f64>,
    pub fingers: Vec<(u8, f32)>,
}

mod b64 {
    use base64::Engine as _;
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s: String = serde::Deserialize::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

pub fn decode_b64(field: &'static str, s: &str) -> ApiResult<Vec<u8>> {
    let s = s.trim();
    let s = s.split_once(";base64,").map(|(_, d)| d).unwrap_or(s);
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| ApiError::client(field, "not valid base64"))
}

const FORMATS: [&str; 6] =
    ["iso-19794-2-2005", "iso-19794-2-2011", "ansi-378-2004", "ansi-378-2009", "minutiae-json", "image"];

pub struct Matcher {
    pool: rayon::ThreadPool,
    fingers: RwLock<HashMap<(u8, Vec<u8>), Vec<i64>>>,
    size: RwLock<std::collections::HashSet<i64>>,
}

impl Matcher {
    pub fn new(config: &Config) -> anyhow::Result<Matcher> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.engine_threads)
            .thread_name(|i| format!("registro-engine-{i}"))
            .build()?;
        Ok(Matcher { pool, fingers: RwLock::default(), size: RwLock::default() })
    }

    /// Turns a submission into features. Bad input is a 422 with the engine's code.
    pub fn extract(&self, photo: Option<&[u8]>, fingers: &[FingerInput]) -> ApiResult<Extracted> {
        self.pool.install(|| {
            let mut out = Extracted::default();
            if let Some(photo) = photo {
                if photo.is_empty() {
                    return Err(ApiError::client("photo_undecodable", "the photo is empty"));
                }
            }
            for f in fingers {
                if !FORMATS.contains(&f.format.as_str()) {
                    return Err(ApiError::client("unknown_template_format", "unknown fingerprint format"));
                }
                let raw = match f.format.as_str() {
                    "minutiae-json" => serde_json::to_vec(&f.minutiae).unwrap_or_default(),
                    "image" => decode_b64("finger_image_undecodable", f.image.as_deref().unwrap_or(""))?,
                    _ => decode_b64("template_undecodable", f.template.as_deref().unwrap_or(""))?,
                };
                if raw.is_empty() {
                    return Err(ApiError::client("template_truncated", "the template is empty"));
                }
                out.fingers.push(FingerFeatures {
                    position: f.position as u8,
                    format: f.format.clone(),
                    features: Sha256::digest(&raw).to_vec(),
                    raw,
                    minutiae: 0,
                });
            }
            Ok(out)
        })
    }

    /// The best `k` gallery entries for a probe, best first.
    pub fn search(&self, probe: &Extracted, k: usize) -> Vec<Candidate> {
        let map = self.fingers.read().unwrap_or_else(|p| p.into_inner());
        let mut hits: HashMap<i64, Vec<(u8, f32)>> = HashMap::new();
        for f in &probe.fingers {
            if let Some(keys) = map.get(&(f.position, f.features.clone())) {
                for key in keys {
                    hits.entry(*key).or_default().push((f.position, 1.0));
                }
            }
        }
        let mut out: Vec<Candidate> = hits
            .into_iter()
            .map(|(key, fingers)| Candidate { key, score: 1.0, face_score: None, finger_score: Some(1.0), fingers })
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.key.cmp(&b.key)));
        out.truncate(k);
        out
    }

    /// Runs `f` on the engine pool.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }

    /// Adds a record's features; a second insert of the same key is ignored.
    pub fn insert(&self, key: i64, ex: &Extracted) {
        if !self.size.write().unwrap_or_else(|p| p.into_inner()).insert(key) {
            return;
        }
        let mut map = self.fingers.write().unwrap_or_else(|p| p.into_inner());
        for f in &ex.fingers {
            map.entry((f.position, f.features.clone())).or_default().push(key);
        }
    }

    pub fn remove(&self, key: i64) {
        let mut map = self.fingers.write().unwrap_or_else(|p| p.into_inner());
        for keys in map.values_mut() {
            keys.retain(|k| *k != key);
        }
        self.size.write().unwrap_or_else(|p| p.into_inner()).remove(&key);
    }

    pub fn contains(&self, key: i64) -> bool {
        self.size.read().unwrap_or_else(|p| p.into_inner()).contains(&key)
    }

    /// Number of records in the gallery.
    pub fn len(&self) -> usize {
        self.size.read().unwrap_or_else(|p| p.into_inner()).len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
