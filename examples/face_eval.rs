//! Accuracy and speed of the face engine on the shared test faces.
//!
//! `cargo run --release --example face_eval [-- ../shared/data/faces]`
//! (`-- --dump-chips` writes the aligned chips used by the reference check instead)
//!
//! * verification on the 8 people x 5 crops (780 pairs): EER, its threshold, FNMR at low FMR;
//! * faces found in each group photo (bbt*.jpg) and expression photo;
//! * time per photo (decode + detect + landmarks + align + embed) on a 640x480 JPEG.

use std::path::{Path, PathBuf};
use std::time::Instant;

use registro::biometrics::face::{cosine, similarity, FaceEngine};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let engine =
        FaceEngine::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models")).expect("models");
    if args.first().is_some_and(|a| a == "--dump-chips") {
        // Aligned chips of a few fixture photos, for tools/face_reference.js.
        let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/faces");
        std::fs::create_dir_all(fx.join("chips")).unwrap();
        for name in ["angry.jpg", "sad.jpg", "amy1.png", "raj1.png"] {
            let img = image::open(fx.join(name)).unwrap().to_rgb8();
            let chip = engine.aligned_chip(&img).expect("face");
            chip.save(fx.join("chips").join(format!("{name}.png")))
                .unwrap();
        }
        return;
    }
    let dir = args
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/faces"));

    // --- verification on the crops
    let mut people: Vec<String> = std::fs::read_dir(&dir)
        .expect("faces dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    people.sort();
    let mut samples: Vec<(usize, String, Vec<f32>)> = Vec::new();
    let mut samples_crop: Vec<(usize, Vec<f32>)> = Vec::new();
    let t0 = Instant::now();
    for (pi, p) in people.iter().enumerate() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(p))
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            match engine.analyze(&bytes) {
                Ok(a) => samples.push((
                    pi,
                    f.file_name().unwrap().to_string_lossy().into_owned(),
                    a.embedding,
                )),
                Err(e) => println!("{}: {}", f.display(), e.code()),
            }
            let img = registro::biometrics::face::intake::decode(&bytes).unwrap();
            if let Ok(e) = engine.embedding_faceapi_crop(&img) {
                samples_crop.push((pi, e));
            }
        }
    }
    println!(
        "crops: {} people, {} embedded in {:.0} ms",
        people.len(),
        samples.len(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    let mut genuine = Vec::new();
    let mut impostor = Vec::new();
    for i in 0..samples.len() {
        for j in i + 1..samples.len() {
            let c = cosine(&samples[i].2, &samples[j].2);
            if samples[i].0 == samples[j].0 {
                genuine.push(c);
            } else {
                impostor.push(c);
            }
        }
    }
    println!(
        "pairs: {} genuine, {} impostor",
        genuine.len(),
        impostor.len()
    );
    let (eer_main, thr) = eer(&genuine, &impostor);
    let d = (2.0 - 2.0 * thr).max(0.0).sqrt();
    println!(
        "EER {:.2} % at cosine {thr:.4} (euclidean distance {d:.4} between unit embeddings)",
        eer_main * 100.0
    );
    let gmin = genuine.iter().cloned().fold(f32::INFINITY, f32::min);
    let imax = impostor.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    println!(
        "genuine cosine min {gmin:.4} mean {:.4}; impostor cosine max {imax:.4} mean {:.4}",
        mean(&genuine),
        mean(&impostor)
    );
    for fmr in [0.01f32, 0.001] {
        let mut imp = impostor.clone();
        imp.sort_by(|a, b| b.total_cmp(a));
        let idx = ((imp.len() as f32 * fmr).floor() as usize).min(imp.len() - 1);
        let t = imp[idx];
        let fnmr = genuine.iter().filter(|&&g| g <= t).count() as f32 / genuine.len() as f32;
        println!(
            "FNMR at FMR {:.1} %: {:.2} % (cosine threshold {t:.4})",
            fmr * 100.0,
            fnmr * 100.0
        );
    }
    let sg: Vec<f32> = genuine.iter().map(|&c| score_of(c)).collect();
    let si: Vec<f32> = impostor.iter().map(|&c| score_of(c)).collect();
    println!(
        "similarity(): genuine mean {:.3} min {:.3}; impostor mean {:.3} max {:.3}",
        mean(&sg),
        sg.iter().cloned().fold(1.0, f32::min),
        mean(&si),
        si.iter().cloned().fold(0.0, f32::max)
    );

    // the same pairs with face-api's own crop (no rotation) instead of our alignment
    let (mut g2, mut i2) = (Vec::new(), Vec::new());
    for i in 0..samples_crop.len() {
        for j in i + 1..samples_crop.len() {
            let c = cosine(&samples_crop[i].1, &samples_crop[j].1);
            if samples_crop[i].0 == samples_crop[j].0 {
                g2.push(c);
            } else {
                i2.push(c);
            }
        }
    }
    let (eer2, thr2) = eer(&g2, &i2);
    println!(
        "with face-api's crop instead of the similarity alignment: {} embedded, EER {:.2} % at cosine {thr2:.4}",
        samples_crop.len(),
        eer2 * 100.0
    );

    // --- group and expression photos
    let mut photos: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .collect();
    photos.sort();
    for p in &photos {
        let bytes = std::fs::read(p).unwrap();
        let t = Instant::now();
        match engine.analyze(&bytes) {
            Ok(a) => println!(
                "{}: faces_found {} largest {:?} score {:.3} quality {:.3} ({:.0} ms)",
                p.file_name().unwrap().to_string_lossy(),
                a.faces_found,
                a.bbox.map(|v| v.round()),
                a.detection_score,
                a.quality,
                t.elapsed().as_secs_f64() * 1e3
            ),
            Err(e) => println!("{}: {}", p.file_name().unwrap().to_string_lossy(), e.code()),
        }
    }

    // --- time per 640x480 JPEG
    let src = image::open(dir.join("bbt3.jpg"))
        .expect("bbt3.jpg")
        .to_rgb8();
    let img = image::imageops::resize(&src, 640, 480, image::imageops::FilterType::Triangle);
    let mut jpg = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(
            &mut std::io::Cursor::new(&mut jpg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    let _ = engine.analyze(&jpg);
    let n = 20;
    let t = Instant::now();
    for _ in 0..n {
        let _ = engine.analyze(&jpg).expect("face in the 640x480 photo");
    }
    println!(
        "640x480 JPEG: {:.1} ms per photo (decode+detect+landmarks+align+embed, {} rayon threads)",
        t.elapsed().as_secs_f64() * 1e3 / n as f64,
        rayon::current_num_threads()
    );
}

fn score_of(c: f32) -> f32 {
    // similarity() of two unit vectors with this cosine
    let a = [1.0f32, 0.0];
    let b = [c, (1.0 - c * c).max(0.0).sqrt()];
    similarity(&a, &b)
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len().max(1) as f32
}

/// Equal error rate over thresholds at every observed score: (EER, cosine threshold).
fn eer(genuine: &[f32], impostor: &[f32]) -> (f32, f32) {
    let mut ts: Vec<f32> = genuine.iter().chain(impostor).cloned().collect();
    ts.sort_by(|a, b| a.total_cmp(b));
    let mut best = (f32::INFINITY, 0.0, 0.0);
    for &t in &ts {
        let fnmr = genuine.iter().filter(|&&g| g < t).count() as f32 / genuine.len() as f32;
        let fmr = impostor.iter().filter(|&&i| i >= t).count() as f32 / impostor.len() as f32;
        if (fnmr - fmr).abs() < best.0 {
            best = ((fnmr - fmr).abs(), (fnmr + fmr) / 2.0, t);
        }
    }
    (best.1, best.2)
}
