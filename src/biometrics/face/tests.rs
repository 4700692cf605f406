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
    E.get_or_init(|| {
        FaceEngine::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models"))
            .expect("models load")
    })
}

fn reference() -> Value {
    serde_json::from_slice(&std::fs::read(fixtures().join("reference.json")).unwrap()).unwrap()
}

fn photo(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
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
        eprintln!("{name}: crop descriptor cosine {c:.6}");
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
                assert!(
                    (ob[k] - b[k]).abs() <= 1.0 + 0.01 * b[2],
                    "{name}: box {ob:?} vs {b:?}"
                );
            }
            assert!(
                (o.detection.score - t["score"].as_f64().unwrap() as f32).abs() < 0.03,
                "{name}: score {} vs {}",
                o.detection.score,
                t["score"]
            );
            let lm = t["landmarks"].as_array().unwrap();
            let mut worst = 0f32;
            for (i, l) in lm.iter().enumerate() {
                let l = floats(l);
                worst = worst.max(
                    (o.landmarks[i][0] - l[0])
                        .abs()
                        .max((o.landmarks[i][1] - l[1]).abs()),
                );
            }
            assert!(
                worst < 0.02 * b[2].max(20.0),
                "{name}: landmark error {worst} px"
            );
            let c = cosine(&o.descriptor, &floats(&t["descriptor"]));
            assert!(c >= 0.99, "{name}: descriptor cosine {c}");
            eprintln!(
                "{name}: score {} vs {}, landmark err {worst:.2} px, cosine {c:.5}",
                o.detection.score, t["score"]
            );
            n += 1;
        }
    }
    assert!(n >= 3, "reference faces checked: {n}");
}

#[test]
fn aligned_chip_descriptor_matches_faceapi_on_the_same_chip() {
    let r = reference();
    let chips = r["chips"].as_object().unwrap();
    assert!(chips.len() >= 4);
    for (name, d) in chips {
        let chip = image::open(fixtures().join("chips").join(name))
            .unwrap()
            .to_rgb8();
        let c = cosine(&engine().descriptor_of_chip(&chip), &floats(d));
        assert!(c >= 0.99, "{name}: cosine {c}");
        eprintln!("{name}: aligned chip descriptor cosine {c:.6}");
        // the stored chip is what the current alignment code cuts from the photo
        let src = name.strip_suffix(".png").unwrap();
        let again = engine()
            .aligned_chip(&intake::decode(&photo(src)).unwrap())
            .unwrap();
        let diff: f64 = again
            .as_raw()
            .iter()
            .zip(chip.as_raw())
            .map(|(a, b)| f64::from(a.abs_diff(*b)))
            .sum::<f64>()
            / chip.as_raw().len() as f64;
        assert!(
            diff < 1.0,
            "{name}: chip drifted from the fixture, mean abs diff {diff}"
        );
    }
}

#[test]
fn same_person_is_closer_than_different_people() {
    let emb = |n: &str| engine().analyze(&photo(n)).unwrap().embedding;
    let people = ["amy", "penny", "raj", "sheldon"];
    let e: Vec<(Vec<f32>, Vec<f32>)> = people
        .iter()
        .map(|p| (emb(&format!("{p}1.png")), emb(&format!("{p}2.png"))))
        .collect();
    for (i, (a1, a2)) in e.iter().enumerate() {
        let genuine = similarity(a1, a2);
        assert!(genuine > 0.5, "{}: genuine similarity {genuine}", people[i]);
        for (j, (b1, b2)) in e.iter().enumerate() {
            if i != j {
                for (x, y) in [(a1, b1), (a1, b2), (a2, b1)] {
                    assert!(
                        cosine(x, y) < cosine(a1, a2),
                        "{} vs {}",
                        people[i],
                        people[j]
                    );
                    assert!(
                        similarity(x, y) < 0.5,
                        "{} vs {}: {}",
                        people[i],
                        people[j],
                        similarity(x, y)
                    );
                }
            }
        }
    }
}

#[test]
fn analysis_fields() {
    let a = engine().analyze(&photo("sad.jpg")).unwrap();
    assert_eq!(a.embedding.len(), EMBEDDING_DIM);
    let n: f32 = a.embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((n - 1.0).abs() < 1e-4);
    assert_eq!(a.faces_found, 1);
    assert!(a.detection_score > 0.9 && (0.0..=1.0).contains(&a.quality) && a.quality > 0.8);
    assert!(a.bbox[2] > 100.0 && a.bbox[3] > 100.0);
    // several faces: the largest is described, all are counted
    let g = engine().analyze(&photo("bbt3.jpg")).unwrap();
    assert_eq!(g.faces_found, 5);
    let r = reference();
    let biggest = r["photos"]["bbt3.jpg"]["faces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| floats(&f["box"]))
        .max_by(|a, b| (a[2] * a[3]).total_cmp(&(b[2] * b[3])))
        .unwrap();
    assert!((g.bbox[0] - biggest[0]).abs() < 5.0 && (g.bbox[1] - biggest[1]).abs() < 5.0);
}

#[test]
fn quality_drops_for_blurred_and_tiny_faces() {
    let img = intake::decode(&photo("sad.jpg")).unwrap();
    let sharp = engine().analyze_image(&img).unwrap();
    let blurred = engine()
        .analyze_image(&image::imageops::blur(&img, 4.0))
        .unwrap();
    assert!(
        blurred.quality < sharp.quality - 0.2,
        "{} vs {}",
        blurred.quality,
        sharp.quality
    );
    let (w, h) = img.dimensions();
    let small = image::imageops::resize(&img, w / 4, h / 4, image::imageops::FilterType::Triangle);
    let mut canvas = image::RgbImage::from_pixel(400, 300, image::Rgb([128, 128, 128]));
    image::imageops::overlay(&mut canvas, &small, 150, 100);
    let t = engine()
        .analyze_image(&canvas)
        .expect("a 40 px face is still found");
    assert!(
        t.bbox[2] < 50.0 && t.quality < 0.5,
        "tiny face {:?} quality {}",
        t.bbox,
        t.quality
    );
}

#[test]
fn no_face_in_a_non_face_photo() {
    let img = image::RgbImage::from_fn(320, 240, |x, y| {
        image::Rgb([
            (x * 255 / 320) as u8,
            (y * 255 / 240) as u8,
            (((x / 20 + y / 20) % 2) * 200) as u8,
        ])
    });
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    assert_eq!(engine().analyze(&png).unwrap_err().code(), "no_face");
    let flat = image::GrayImage::from_pixel(200, 200, image::Luma([90]));
    let mut png = Vec::new();
    image::DynamicImage::ImageLuma8(flat)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    assert_eq!(engine().analyze(&png).unwrap_err().code(), "no_face");
}

#[test]
fn models_are_verified_at_load() {
    let tmp = std::env::temp_dir().join(format!("registro-face-models-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    for f in std::fs::read_dir(&src).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), tmp.join(f.file_name())).unwrap();
    }
    let bin = tmp.join("face_landmark_68_model.bin");
    let mut bytes = std::fs::read(&bin).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&bin, &bytes).unwrap();
    let err = FaceEngine::load(&tmp)
        .err()
        .expect("tampered weights must be refused");
    assert_eq!(err.code(), "model_checksum_mismatch");
    assert!(err.to_string().contains("face_landmark_68_model.bin"));
    std::fs::remove_file(&bin).unwrap();
    assert_eq!(
        FaceEngine::load(&tmp).err().unwrap().code(),
        "model_missing"
    );
    std::fs::remove_dir_all(&tmp).unwrap();
    assert_eq!(
        FaceEngine::load(Path::new("/nonexistent/models"))
            .err()
            .unwrap()
            .code(),
        "model_missing"
    );
}

#[test]
fn gallery_finds_the_same_person_among_others() {
    let mut g = FaceGallery::new();
    for (id, p) in ["amy", "penny", "raj", "sheldon"].iter().enumerate() {
        g.insert(
            id as u64,
            &engine()
                .analyze(&photo(&format!("{p}1.png")))
                .unwrap()
                .embedding,
        );
    }
    let probe = engine().analyze(&photo("raj2.png")).unwrap().embedding;
    let hits = g.search(&probe, 3, &std::sync::atomic::AtomicBool::new(false));
    assert_eq!(hits[0].0, 2);
    assert!(hits[0].1 > 0.5 && hits[1].1 < 0.5);
}

#[test]
fn engine_and_gallery_are_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<FaceEngine>();
    shared::<FaceGallery>();
    // the engine used from several threads at once gives the same embedding
    let bytes = photo("sad.jpg");
    let one = engine().analyze(&bytes).unwrap().embedding;
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|_| s.spawn(|| engine().analyze(&bytes).unwrap().embedding))
            .collect();
        for h in hs {
            assert!(cosine(&h.join().unwrap(), &one) > 0.9999);
        }
    });
    // several analyses as jobs of one small rayon pool (work stealing nests forward passes)
    use rayon::prelude::*;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let names = [
        "sad.jpg",
        "angry.jpg",
        "amy1.png",
        "raj1.png",
        "sad.jpg",
        "disgusted.jpg",
    ];
    let all: Vec<Vec<f32>> = pool.install(|| {
        names
            .par_iter()
            .map(|n| engine().analyze(&photo(n)).unwrap().embedding)
            .collect()
    });
    assert!(cosine(&all[0], &one) > 0.9999 && cosine(&all[4], &one) > 0.9999);
}

#[test]
fn large_photo_is_analysed_at_working_size_and_mapped_back() {
    let img = intake::decode(&photo("sad.jpg")).unwrap();
    let small = engine().analyze_image(&img).unwrap();
    let big_img = image::imageops::resize(&img, 2800, 2100, image::imageops::FilterType::Triangle);
    let big = engine().analyze_image(&big_img).unwrap();
    assert_eq!(big.faces_found, 1);
    for k in 0..4 {
        assert!(
            (big.bbox[k] / 7.0 - small.bbox[k]).abs() < 6.0,
            "{:?} vs {:?}",
            big.bbox,
            small.bbox
        );
    }
    assert!((big.landmarks[30][0] / 7.0 - small.landmarks[30][0]).abs() < 4.0);
    assert!(cosine(&big.embedding, &small.embedding) > 0.97);
}
