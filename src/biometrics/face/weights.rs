//! Model files: checksum verification against `models/MANIFEST` and loading of
//! TensorFlow.js weight manifests (JSON) with their binary shards into ndarray tensors.
//!
//! The tfjs format (see tfjs-core `io/types.ts`, `WeightsManifestConfig`): the manifest is
//! a JSON array of groups `{ "paths": [shard files], "weights": [{ name, shape, dtype,
//! quantization? }] }`. The shards of a group are concatenated, and the tensors follow one
//! another in manifest order. A tensor with `quantization: { dtype: "uint8" | "uint16",
//! scale, min }` is stored as unsigned integers `q` and means `q * scale + min`; otherwise
//! float32 little-endian.

use std::collections::HashMap;
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::FaceError;

/// Checksums from `models/MANIFEST`: every line `<64 hex>  <file name>`.
pub(crate) fn read_manifest(models_dir: &Path) -> Result<HashMap<String, String>, FaceError> {
    let path = models_dir.join("MANIFEST");
    let text = std::fs::read_to_string(&path).map_err(|e| FaceError::ModelMissing {
        file: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut sums = HashMap::new();
    for line in text.lines() {
        let mut parts = line.splitn(2, "  ");
        if let (Some(hash), Some(file)) = (parts.next(), parts.next()) {
            if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                sums.insert(file.trim().to_string(), hash.to_ascii_lowercase());
            }
        }
    }
    Ok(sums)
}

/// Reads `models_dir/file` and checks its sha256 against the manifest entry.
pub(crate) fn read_verified(
    models_dir: &Path,
    sums: &HashMap<String, String>,
    file: &str,
) -> Result<Vec<u8>, FaceError> {
    let expected = sums.get(file).ok_or_else(|| FaceError::ModelInvalid {
        file: file.to_string(),
        reason: "no sha256 entry for this file in models/MANIFEST".to_string(),
    })?;
    let path = models_dir.join(file);
    let bytes = std::fs::read(&path).map_err(|e| FaceError::ModelMissing {
        file: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if &actual != expected {
        return Err(FaceError::ModelChecksumMismatch {
            file: file.to_string(),
            expected: expected.clone(),
            actual,
        });
    }
    Ok(bytes)
}

#[derive(Deserialize)]
struct Group {
    paths: Vec<String>,
    weights: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    quantization: Option<Quantization>,
}

#[derive(Deserialize)]
struct Quantization {
    dtype: String,
    scale: Option<f64>,
    min: Option<f64>,
}

/// Named float tensors of one network.
pub(crate) struct WeightMap {
    model: String,
    tensors: HashMap<String, ArrayD<f32>>,
}

impl WeightMap {
    /// Parses a tfjs weights manifest; `shard` returns the bytes of a shard by file name.
    pub(crate) fn from_tfjs(
        model: &str,
        manifest: &[u8],
        mut shard: impl FnMut(&str) -> Result<Vec<u8>, FaceError>,
    ) -> Result<WeightMap, FaceError> {
        let invalid = |reason: String| FaceError::ModelInvalid {
            file: model.to_string(),
            reason,
        };
        let groups: Vec<Group> =
            serde_json::from_slice(manifest).map_err(|e| invalid(format!("manifest JSON: {e}")))?;
        let mut tensors = HashMap::new();
        for group in groups {
            let mut data = Vec::new();
            for p in &group.paths {
                data.extend_from_slice(&shard(p)?);
            }
            let mut off = 0usize;
            for w in group.weights {
                let n: usize = w.shape.iter().product();
                let values: Vec<f32> = match (&w.quantization, w.dtype.as_str()) {
                    (None, "float32") => {
                        let bytes = data
                            .get(off..off + 4 * n)
                            .ok_or_else(|| invalid(format!("{}: shard too short", w.name)))?;
                        off += 4 * n;
                        bytes
                            .chunks_exact(4)
                            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                            .collect()
                    }
                    (Some(q), "float32") => {
                        let (scale, min) = match (q.scale, q.min) {
                            (Some(s), Some(m)) => (s, m),
                            _ => {
                                return Err(invalid(format!(
                                    "{}: quantisation without scale/min",
                                    w.name
                                )))
                            }
                        };
                        match q.dtype.as_str() {
                            "uint8" => {
                                let bytes = data.get(off..off + n).ok_or_else(|| {
                                    invalid(format!("{}: shard too short", w.name))
                                })?;
                                off += n;
                                bytes
                                    .iter()
                                    .map(|&v| (f64::from(v) * scale + min) as f32)
                                    .collect()
                            }
                            "uint16" => {
                                let bytes = data.get(off..off + 2 * n).ok_or_else(|| {
                                    invalid(format!("{}: shard too short", w.name))
                                })?;
                                off += 2 * n;
                                bytes
                                    .chunks_exact(2)
                                    .map(|b| {
                                        (f64::from(u16::from_le_bytes([b[0], b[1]])) * scale + min)
                                            as f32
                                    })
                                    .collect()
                            }
                            other => {
                                return Err(invalid(format!(
                                    "{}: unsupported quantisation {other}",
                                    w.name
                                )))
                            }
                        }
                    }
                    (_, other) => {
                        return Err(invalid(format!("{}: unsupported dtype {other}", w.name)))
                    }
                };
                let arr = ArrayD::from_shape_vec(IxDyn(&w.shape), values)
                    .map_err(|e| invalid(format!("{}: {e}", w.name)))?;
                tensors.insert(w.name, arr);
            }
            if off != data.len() {
                return Err(invalid(format!(
                    "{} unused bytes at the end of the shards",
                    data.len() - off
                )));
            }
        }
        Ok(WeightMap {
            model: model.to_string(),
            tensors,
        })
    }

    /// Takes a tensor out by name, checking its shape.
    pub(crate) fn take(&mut self, name: &str, shape: &[usize]) -> Result<ArrayD<f32>, FaceError> {
        let t = self
            .tensors
            .remove(name)
            .ok_or_else(|| FaceError::ModelInvalid {
                file: self.model.clone(),
                reason: format!("missing tensor {name}"),
            })?;
        if t.shape() != shape {
            return Err(FaceError::ModelInvalid {
                file: self.model.clone(),
                reason: format!("tensor {name}: shape {:?}, expected {shape:?}", t.shape()),
            });
        }
        Ok(t)
    }

    /// Fails if tensors were left unused (a sign of a wrong architecture).
    pub(crate) fn finish(self) -> Result<(), FaceError> {
        if self.tensors.is_empty() {
            Ok(())
        } else {
            let mut names: Vec<_> = self.tensors.keys().cloned().collect();
            names.sort();
            Err(FaceError::ModelInvalid {
                file: self.model,
                reason: format!("unused tensors: {}", names.join(", ")),
            })
        }
    }
}

/// Loads `<model>-weights_manifest.json` and its shards from `models_dir`, verifying each
/// file's sha256 against the manifest.
pub(crate) fn load_model(
    models_dir: &Path,
    sums: &HashMap<String, String>,
    model: &str,
) -> Result<WeightMap, FaceError> {
    let manifest = read_verified(models_dir, sums, &format!("{model}-weights_manifest.json"))?;
    WeightMap::from_tfjs(model, &manifest, |p| {
        if p.contains('/') || p.contains("..") {
            return Err(FaceError::ModelInvalid {
                file: model.to_string(),
                reason: format!("shard path {p} outside the models folder"),
            });
        }
        read_verified(models_dir, sums, p)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_float_and_quantised_tensors() {
        let manifest = br#"[{"paths":["a.bin"],"weights":[
            {"name":"f","shape":[2],"dtype":"float32"},
            {"name":"q","shape":[3],"dtype":"float32","quantization":{"dtype":"uint8","scale":0.5,"min":-1.0}}]}]"#;
        let mut bin = Vec::new();
        bin.extend_from_slice(&1.5f32.to_le_bytes());
        bin.extend_from_slice(&(-2.0f32).to_le_bytes());
        bin.extend_from_slice(&[0u8, 2, 255]);
        let mut m = WeightMap::from_tfjs("t", manifest, |_| Ok(bin.clone())).unwrap();
        assert_eq!(m.take("f", &[2]).unwrap().as_slice().unwrap(), &[1.5, -2.0]);
        assert_eq!(
            m.take("q", &[3]).unwrap().as_slice().unwrap(),
            &[-1.0, 0.0, 126.5]
        );
        m.finish().unwrap();
    }

    #[test]
    fn rejects_short_shard_and_bad_shape() {
        let manifest =
            br#"[{"paths":["a.bin"],"weights":[{"name":"f","shape":[2],"dtype":"float32"}]}]"#;
        assert!(WeightMap::from_tfjs("t", manifest, |_| Ok(vec![0u8; 4])).is_err());
        let mut m = WeightMap::from_tfjs("t", manifest, |_| Ok(vec![0u8; 8])).unwrap();
        assert!(m.take("f", &[3]).is_err());
    }
}
