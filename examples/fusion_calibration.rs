//! Measures the impostor model the fusion uses for faces, and prints the decision thresholds.
//!
//! `cargo run --release --example fusion_calibration [-- <faces dir>]` (default
//! `../shared/data/faces`: 8 people x 5 crops). Prints the mean and standard deviation of the
//! Euclidean distance between L2-normalised descriptors of *different* people (the normal
//! model behind `fusion::face_false_match_rate`), the genuine distances for contrast, and the
//! evidence a typical genuine face and finger comparison contributes.

use registro::biometrics::face::FaceEngine;
use registro::biometrics::fusion;
use std::path::{Path, PathBuf};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/data/faces"));
    let engine = FaceEngine::load(&root.join("models")).expect("models");
    let mut people: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("faces dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    people.sort();
    let mut emb: Vec<(usize, Vec<f32>)> = Vec::new();
    for (pi, p) in people.iter().enumerate() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(p)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .collect();
        files.sort();
        for f in files {
            if let Ok(a) = engine.analyze(&std::fs::read(&f).unwrap()) {
                emb.push((pi, a.embedding));
            }
        }
    }
    let dist = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f32>()
            .sqrt() as f64
    };
    let (mut gen, mut imp) = (Vec::new(), Vec::new());
    for i in 0..emb.len() {
        for j in i + 1..emb.len() {
            let d = dist(&emb[i].1, &emb[j].1);
            if emb[i].0 == emb[j].0 {
                gen.push(d)
            } else {
                imp.push(d)
            }
        }
    }
    let stats = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let sd = (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() as f64 - 1.0)).sqrt();
        (
            m,
            sd,
            v.iter().cloned().fold(f64::INFINITY, f64::min),
            v.iter().cloned().fold(0.0, f64::max),
        )
    };
    let (im, isd, imin, _) = stats(&imp);
    let (gm, gsd, _, gmax) = stats(&gen);
    println!(
        "faces: {} embedded of {} people; {} genuine, {} impostor pairs",
        emb.len(),
        people.len(),
        gen.len(),
        imp.len()
    );
    println!("impostor distance mean {im:.4} sd {isd:.4} min {imin:.4}");
    println!("genuine  distance mean {gm:.4} sd {gsd:.4} max {gmax:.4}");
    println!(
        "constants in use: mean {} sd {}",
        fusion::FACE_IMPOSTOR_DISTANCE_MEAN,
        fusion::FACE_IMPOSTOR_DISTANCE_SD
    );
    let cos_of = |d: f64| (1.0 - d * d / 2.0) as f32;
    for d in [gm, gm + gsd, 0.43] {
        let fmr = fusion::face_false_match_rate(cos_of(d));
        println!(
            "face at distance {d:.3}: FMR {fmr:.2e}, evidence {:.2} decades",
            fusion::evidence(fmr)
        );
    }
    for (name, fpir, n) in [("duplicate", 1e-3, 1e5), ("possible", 0.1, 1e5)] {
        println!(
            "{name}: FPIR {fpir} at {n} people -> fused score {:.4}",
            fusion::threshold_for(fpir, n)
        );
    }
}
