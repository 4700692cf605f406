//! Face score calibration, checked out of sample (leave one identity out).
//!
//! `cargo run --release --example fusion_calibration -- [--write] [--faces DIR] [--out DIR]`
//!
//! Embeds every crop of the labelled people of `../shared/data/faces` (8 people × 5 crops:
//! 80 genuine and 700 impostor pairs over 28 pairs of people), and the seven expression
//! photos (reported apart: they carry no identity label). The impostor model is a normal
//! distribution of the Euclidean distance between L2-normalised descriptors of different
//! people (`fusion::face_ln_false_match_rate`).
//!
//! - Leave one identity out: the model is fitted on the impostor pairs of the other seven
//!   people and checked on the 175 impostor pairs of the held-out one, at calibrated FMR
//!   1e-1, 1e-2 and 1e-3.
//! - The shipped model: mean and standard deviation of all 700 impostor distances, with the
//!   standard deviation raised to its 95 % upper confidence bound for 28 independent pairs of
//!   people (the distances of one pair of people are strongly correlated, so 28, not 700, is
//!   the sample size that matters). `--write` writes `src/biometrics/fusion_face_fit.rs`.
//!
//! Distances go to `DIR/face_scores.tsv` (default `target/calibration`) for `examples/fpir.rs`.

use registro::biometrics::face::FaceEngine;
use registro::biometrics::fusion;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let sd = (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() as f64 - 1.0)).sqrt();
    (m, sd)
}

/// Inverse standard normal CDF (bisection on `fusion::normal_cdf`; accurate enough here).
fn normal_quantile(p: f64) -> f64 {
    let (mut lo, mut hi) = (-40.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if fusion::ln_normal_cdf(mid) < p.ln() {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Lower `p` quantile of chi-square with `k` degrees of freedom (Wilson–Hilferty).
fn chi2_quantile(p: f64, k: f64) -> f64 {
    let z = normal_quantile(p);
    let a = 2.0 / (9.0 * k);
    k * (1.0 - a + z * a.sqrt()).powi(3)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = arg(&args, "--faces")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/data/faces"));
    let out = arg(&args, "--out")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/calibration"));
    let write = args.iter().any(|a| a == "--write");
    let engine = FaceEngine::load(&root.join("models")).expect("models");
    let mut people: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("faces dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    people.sort();
    let mut emb: Vec<(usize, Vec<f32>)> = Vec::new();
    let mut missed = 0;
    for (pi, p) in people.iter().enumerate() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(p)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .collect();
        files.sort();
        for f in files {
            match engine.analyze(&std::fs::read(&f).unwrap()) {
                Ok(a) => emb.push((pi, a.embedding)),
                Err(_) => missed += 1,
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
    // (person a, person b, distance)
    let mut pairs: Vec<(usize, usize, f64)> = Vec::new();
    for i in 0..emb.len() {
        for j in i + 1..emb.len() {
            pairs.push((emb[i].0, emb[j].0, dist(&emb[i].1, &emb[j].1)));
        }
    }
    let gen: Vec<f64> = pairs.iter().filter(|p| p.0 == p.1).map(|p| p.2).collect();
    let imp: Vec<f64> = pairs.iter().filter(|p| p.0 != p.1).map(|p| p.2).collect();
    println!(
        "faces: {} crops embedded of {} people ({missed} without a face); {} genuine, {} impostor pairs",
        emb.len(),
        people.len(),
        gen.len(),
        imp.len()
    );
    let (im, isd) = mean_sd(&imp);
    let (gm, gsd) = mean_sd(&gen);
    let imin = imp.iter().cloned().fold(f64::INFINITY, f64::min);
    let gmax = gen.iter().cloned().fold(0.0, f64::max);
    println!("impostor distance mean {im:.4} sd {isd:.4} min {imin:.4}");
    println!("genuine  distance mean {gm:.4} sd {gsd:.4} max {gmax:.4}");

    // Expression photos: one face each, no identity label.
    let mut expr = Vec::new();
    for n in [
        "angry",
        "disgusted",
        "fearful",
        "happy",
        "neutral",
        "sad",
        "surprised",
    ] {
        if let Ok(Ok(a)) = std::fs::read(dir.join(format!("{n}.jpg"))).map(|b| engine.analyze(&b)) {
            expr.push(a.embedding);
        }
    }
    let mut ed = Vec::new();
    for i in 0..expr.len() {
        for j in i + 1..expr.len() {
            ed.push(dist(&expr[i], &expr[j]));
        }
    }
    let to_people: Vec<f64> = expr
        .iter()
        .flat_map(|e| emb.iter().map(move |(_, b)| dist(e, b)))
        .collect();
    if !ed.is_empty() {
        println!(
            "expression photos: {} embedded; distances among them {:.3} .. {:.3}; to the labelled crops min {:.3} (not used for the fit: unlabelled)",
            expr.len(),
            ed.iter().cloned().fold(f64::INFINITY, f64::min),
            ed.iter().cloned().fold(0.0, f64::max),
            to_people.iter().cloned().fold(f64::INFINITY, f64::min)
        );
    }

    // Leave one identity out.
    println!("\n## leave one identity out: calibrated FMR vs observed on the held-out person's impostor pairs");
    println!("held_out\tfit mean/sd\tcalibrated\tdistance\tobserved");
    let levels = [1e-1, 1e-2, 1e-3];
    let mut tot = [0usize; 3];
    let mut tot_n = 0usize;
    for (h, person) in people.iter().enumerate() {
        let train: Vec<f64> = pairs
            .iter()
            .filter(|p| p.0 != p.1 && p.0 != h && p.1 != h)
            .map(|p| p.2)
            .collect();
        let test: Vec<f64> = pairs
            .iter()
            .filter(|p| p.0 != p.1 && (p.0 == h || p.1 == h))
            .map(|p| p.2)
            .collect();
        let (m, sd) = mean_sd(&train);
        tot_n += test.len();
        for (li, &lv) in levels.iter().enumerate() {
            let d = m + sd * normal_quantile(lv);
            let c = test.iter().filter(|&&x| x <= d).count();
            tot[li] += c;
            let name = person.file_name().unwrap().to_string_lossy().into_owned();
            println!(
                "person {h} ({})\t{m:.4}/{sd:.4}\t{lv:.0e}\t{d:.4}\t{:.2e} ({c} of {})",
                &name[..1],
                c as f64 / test.len() as f64,
                test.len()
            );
        }
    }
    for (li, &lv) in levels.iter().enumerate() {
        println!(
            "all eight\t-\t{lv:.0e}\t-\t{:.2e} ({} of {tot_n}; each pair counted for both its people)",
            tot[li] as f64 / tot_n as f64,
            tot[li]
        );
    }

    // Shipped model.
    let groups = people.len() * (people.len() - 1) / 2;
    let k = groups as f64 - 1.0;
    let widen = (k / chi2_quantile(0.025, k)).sqrt();
    let sd_ship = isd * widen;
    println!(
        "\n## shipped model: mean {im:.4}, sd {isd:.4} x {widen:.3} (95 % upper bound, {groups} pairs of people) = {sd_ship:.4}"
    );
    println!(
        "compiled in: mean {:.4} sd {:.4}",
        fusion::FACE_IMPOSTOR_DISTANCE_MEAN,
        fusion::FACE_IMPOSTOR_DISTANCE_SD
    );
    let cos_of = |d: f64| (1.0 - d * d / 2.0) as f32;
    for (what, d) in [
        ("genuine mean", gm),
        ("genuine mean + 1 sd", gm + gsd),
        ("genuine max", gmax),
    ] {
        let l = fusion::face_ln_false_match_rate(cos_of(d));
        println!(
            "{what}: distance {d:.3}, FMR {:.2e}, {:.2} decades (compiled-in model)",
            l.exp(),
            fusion::decades(l)
        );
    }

    let _ = std::fs::create_dir_all(&out);
    let mut tsv = String::from("person_a\tperson_b\tgenuine\tdistance\n");
    for (a, b, d) in &pairs {
        let _ = writeln!(tsv, "{a}\t{b}\t{}\t{d}", (a == b) as u8);
    }
    std::fs::write(out.join("face_scores.tsv"), tsv).expect("write face_scores.tsv");

    if write {
        let c = format!(
            "//! Generated by `cargo run --release --example fusion_calibration -- --write`; do not edit\n\
             //! by hand. Data: the {} impostor pairs of the {} labelled people of ../shared/data/faces\n\
             //! (fitted sd {isd:.4}, widened x {widen:.3} to its 95 % upper bound for {groups} pairs of people).\n\n\
             /// Mean impostor distance.\npub(super) const MEAN: f64 = {im:?};\n\
             /// Standard deviation of the impostor distance (widened).\npub(super) const SD: f64 = {sd_ship:?};\n",
            imp.len(),
            people.len()
        );
        let path = root.join("src/biometrics/fusion_face_fit.rs");
        std::fs::write(&path, c).expect("write fit");
        println!("wrote {}", path.display());
    }
}
