//! Engine tests on the fixture photos in `tests/fixtures/faces/` and the reference outputs of
//! face-api.js (`reference.json`, written by `tools/face_reference.js`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use super::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/faces")
}

fn engine() -> &'static FaceEngine {
    static E: OnceLock<FaceEngine> = OnceLock::new();
    E.get_or_init(|| FaceEngine::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models")).expect("models load"))
}

fn reference() -> Value {
    serde_json::from_slice(&std::fs::read(fixtures().join("reference.json")).unwrap()).unwrap()
}

fn photo(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

#[test]
fn descriptor_net_matches_faceapi_on_crops() {
    let r = reference();
    let mut n = 0;
    for (name, p) in r["photos"].as_object().unwrap() {
        let img = intake::decode(&photo(name)).unwrap();
        if img.dimensions() != (150, 150) {
            continue;
        }
        let ours = engine().descriptor_of_chip(&img);
        let theirs = floats(&p["crop_descriptor"]);
        let c = cosine(&ours, &theirs);
        assert!(c >= 0.999, "{name}: cosine {c}");
        n += 1;
    }
    assert!(n >= 8);
}

#[test]
fn faceapi_pipeline_matches_reference() {
    let r = reference();
    let mut n = 0;
    for (name, p) in r["photos"].as_object().unwrap() {
        let img = intake::decode(&photo(name)).unwrap();
        let ours = engine().faceapi_pipeline(&img);
        let theirs = p["faces"].as_array().unwrap();
        assert_eq!(ours.len(), theirs.len(), "{name}: face count");
        for t in theirs {
            let b = floats(&t["box"]);
            // the matching face: the one whose box centre is nearest
            let o = ours
                .iter()
                .min_by(|x, y| {
                    let d = |f: &FaceApiFace| {
                        (f.detection.x + f.detection.w / 2.0 - b[0] - b[2] / 2.0).abs()
                            + (f.detection.y + f.detection.h / 2.0 - b[1] - b[3] / 2.0).abs()
                    };
                    d(x).total_cmp(&d(y))
                })
                .unwrap();
            let ob = [o.detection.x, o.detection.y, o.detection.w, o.detection.h];
            for k in 0..4 {
                assert!((ob[k] - b[k]).abs() <= 1.0 + 0.01 * b[2], "{name}: box {ob:?} vs {b:?}");
            }
            assert!((o.detection.score - t["score"].as_f64().unwrap() as f32).abs() < 0.03, "{name}: score {} vs {}", o.detection.score, t["score"]);
            let lm = t["landmarks"].as_array().unwrap();
            let mut worst = 0f32;
            for (i, l) in lm.iter().enumerate() {
                let l = floats(l);
                worst = worst.max((o.landmarks[i][0] - l[0]).abs().max((o.landmarks[i][1] - l[1]).abs()));
            }
            assert!(worst < 0.02 * b[2].max(20.0), "{name}: landmark error {worst} px");
            let c = cosine(&o.descriptor, &floats(&t["descriptor"]));
            assert!(c >= 0.99, "{name}: descriptor cosine {c}");
            eprintln!("{name}: score {} vs {}, landmark err {worst:.2} px, cosine {c:.5}", o.detection.score, t["score"]);
            n += 1;
        }
    }
    assert!(n >= 3, "reference faces checked: {n}");
}
