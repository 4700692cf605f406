//! Capture-quality measures on the shared test data, for choosing the limits of
//! `biometrics::quality` (docs/FACE.md and docs/FINGER.md, "Capture quality").
//!
//! ```text
//! cargo run --example capture_quality -- [/path/to/shared/data]
//! ```
//!
//! Faces: every photo of `faces/` (the 40 crops of 8 people, the 7 expression photos, the 5
//! group photos): faces found and the measures of the described face. Fingers: per FVC set,
//! the measures of the 80 MINDTCT and the 80 SecuGen ISO prints, as percentiles; then the
//! duplicate-finger threshold: the matcher's scores of impostor pairs (different fingers,
//! within each set and across sets) and of genuine pairs (fresh impressions of one finger).

use registro::biometrics::finger::{self, FingerView, Minutia, MinutiaKind};
use registro::biometrics::{face, quality};
use std::path::{Path, PathBuf};

const SETS: [(&str, u16, u16, u16); 6] = [
    ("fvc2002_db1_b", 388, 374, 500),
    ("fvc2002_db2_b", 296, 560, 569),
    ("fvc2002_db3_b", 300, 300, 500),
    ("fvc2002_db4_b", 288, 384, 500),
    ("fvc2004_db1_b", 640, 480, 500),
    ("fvc2004_db2_b", 328, 364, 500),
];

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn summary(name: &str, v: &mut [f64]) {
    println!(
        "  {name:>16}: n {:>3}  min {:>8.2}  p01 {:>8.2}  p05 {:>8.2}  median {:>8.2}  p95 {:>8.2}  max {:>8.2}",
        v.len(),
        pct(v, 0.0),
        pct(v, 0.01),
        pct(v, 0.05),
        pct(v, 0.5),
        pct(v, 0.95),
        pct(v, 1.0)
    );
}

fn xyt_view(path: &Path, w: u16, h: u16, dpi: u16) -> Option<FingerView> {
    let text = std::fs::read_to_string(path).ok()?;
    let minutiae = text
        .lines()
        .filter_map(|l| {
            let v: Vec<f32> = l
                .split_whitespace()
                .filter_map(|t| t.parse().ok())
                .collect();
            (v.len() >= 4).then(|| Minutia {
                x: v[0],
                y: f32::from(h) - 1.0 - v[1],
                angle: ((v[2] + 180.0) % 360.0).to_radians(),
                kind: MinutiaKind::Ending,
                quality: v[3].min(100.0) as u8,
            })
        })
        .collect();
    Some(FingerView {
        position: 0,
        width: w,
        height: h,
        resolution_dpi: dpi,
        quality: 0,
        minutiae,
    })
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn faces(root: &Path) -> anyhow::Result<()> {
    if std::env::var_os("SKIP_FACES").is_some() {
        return Ok(());
    }
    let engine = face::FaceEngine::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/models")))?;
    let dir = root.join("faces");
    let mut photos: Vec<(String, PathBuf)> = Vec::new();
    for e in std::fs::read_dir(&dir)? {
        let p = e?.path();
        if p.is_dir() {
            for f in files(&p, "png") {
                photos.push(("crop".into(), f));
            }
        } else if p.extension().is_some_and(|e| e == "jpg") {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            let kind = if name.starts_with("bbt") {
                "group"
            } else {
                "expression"
            };
            photos.push((kind.into(), p));
        }
    }
    photos.sort();
    println!("faces ({} photos of {})", photos.len(), dir.display());
    println!(
        "  kind        photo                 faces  eye_px   yaw°  pitch°  sharp   mean  clipped"
    );
    let mut by_kind: std::collections::BTreeMap<String, [Vec<f64>; 6]> = Default::default();
    for (kind, p) in &photos {
        let bytes = std::fs::read(p)?;
        match engine.analyze(&bytes) {
            Ok(a) => {
                let m = a.measures;
                println!(
                    "  {kind:<11} {:<20} {:>5} {:>7.1} {:>6.1} {:>7.1} {:>6.0} {:>6.1} {:>8.3}",
                    p.strip_prefix(&dir).unwrap_or(p).display(),
                    a.faces_found,
                    m.inter_eye_px,
                    m.yaw_deg,
                    m.pitch_deg,
                    m.sharpness,
                    m.exposure_mean,
                    m.exposure_clipped
                );
                if kind != "group" {
                    let s = by_kind.entry("single-face photos".into()).or_default();
                    for (i, v) in [
                        m.inter_eye_px,
                        m.yaw_deg.abs(),
                        m.pitch_deg.abs(),
                        m.sharpness,
                        m.exposure_mean,
                        m.exposure_clipped,
                    ]
                    .into_iter()
                    .enumerate()
                    {
                        s[i].push(f64::from(v));
                    }
                }
            }
            Err(e) => println!("  {kind:<11} {:<20} {}", p.display(), e.code()),
        }
    }
    for (k, v) in by_kind.iter_mut() {
        println!(" {k}:");
        for (name, vals) in [
            "inter_eye_px",
            "|yaw_deg|",
            "|pitch_deg|",
            "sharpness",
            "exposure_mean",
            "exposure_clipped",
        ]
        .iter()
        .zip(v.iter_mut())
        {
            summary(name, vals);
        }
    }
    Ok(())
}

fn fingers(root: &Path) -> anyhow::Result<()> {
    let mut all: Vec<(usize, u32, &str, finger::FingerFeatures)> = Vec::new();
    for (si, (set, w, h, dpi)) in SETS.iter().enumerate() {
        for (src, ext, sub) in [
            ("mindtct", "xyt", "minutiae_mindtct"),
            ("secugen", "iso", "iso_secugen"),
        ] {
            let mut cols: [Vec<f64>; 3] = Default::default();
            for p in files(&root.join("fingers").join(set).join(sub), ext) {
                let view = if ext == "xyt" {
                    xyt_view(&p, *w, *h, *dpi)
                } else {
                    let bytes = std::fs::read(&p)?;
                    finger::parse_template("iso-19794-2-2005", &bytes)
                        .ok()
                        .and_then(|r| r.views.into_iter().next())
                };
                let Some(view) = view else { continue };
                let m = quality::finger_measures(&view, ext == "iso");
                cols[0].push(m.minutiae as f64);
                cols[1].push(
                    m.minutia_quality
                        .map(|q| f64::from(q[1]))
                        .unwrap_or(f64::NAN),
                );
                cols[2].push(f64::from(m.area_mm2));
                let stem = p
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string();
                let finger_no: u32 = stem
                    .split('_')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                all.push((si, finger_no, src, finger::FingerFeatures::extract(&view)));
            }
            println!("{set} {src}:");
            summary("minutiae", &mut cols[0]);
            let mut q: Vec<f64> = cols[1].iter().cloned().filter(|v| !v.is_nan()).collect();
            summary("minutia_q_median", &mut q);
            summary("area_mm2", &mut cols[2]);
        }
    }
    let threshold = quality::CaptureLimits::default().duplicate_finger_score;
    println!("duplicate-finger threshold: score {threshold:.4}");
    let db1: Vec<&(usize, u32, &str, finger::FingerFeatures)> = all
        .iter()
        .filter(|x| x.0 == 0 && x.2 == "mindtct")
        .collect();
    for (a, b) in [(0, 1), (0, 2), (24, 25), (24, 26), (8, 9)] {
        println!(
            "fvc2002_db1_b mindtct print {a} vs {b} (fingers {} {}): {:.4}",
            db1[a].1,
            db1[b].1,
            finger::compare(&db1[a].3, &db1[b].3)
        );
    }
    for src in ["mindtct", "secugen"] {
        let v: Vec<&(usize, u32, &str, finger::FingerFeatures)> =
            all.iter().filter(|x| x.2 == src).collect();
        let (mut imp_in, mut imp_x, mut gen) = (Vec::new(), Vec::new(), Vec::new());
        let mut selfs = f64::INFINITY;
        for i in 0..v.len() {
            selfs = selfs.min(f64::from(finger::compare(&v[i].3, &v[i].3)));
            for j in i + 1..v.len() {
                let s = f64::from(finger::compare(&v[i].3, &v[j].3));
                if v[i].0 != v[j].0 {
                    imp_x.push(s);
                } else if v[i].1 != v[j].1 {
                    imp_in.push(s);
                } else {
                    gen.push(s);
                }
            }
        }
        let t = f64::from(threshold);
        let above = |x: &[f64]| x.iter().filter(|&&s| s >= t).count();
        println!(
            "{src}: impostors within sets {} (max {:.4}, {} at or above), across sets {} (max {:.4}, {} at or above)",
            imp_in.len(),
            pct(&mut imp_in, 1.0),
            above(&imp_in),
            imp_x.len(),
            pct(&mut imp_x, 1.0),
            above(&imp_x)
        );
        for t in [0.10f64, 0.15, 0.20, 0.25, 0.30, 0.35] {
            let n = |x: &[f64]| x.iter().filter(|&&s| s >= t).count();
            println!(
                "{src}: at {t:.2}: impostors at or above {} of {}, genuine {:.1} %",
                n(&imp_in) + n(&imp_x),
                imp_in.len() + imp_x.len(),
                100.0 * n(&gen) as f64 / gen.len().max(1) as f64
            );
        }
        println!(
            "{src}: genuine pairs {} (median {:.4}), {} at or above ({:.1} %); a print against itself: min {:.4}",
            gen.len(),
            pct(&mut gen, 0.5),
            above(&gen),
            100.0 * above(&gen) as f64 / gen.len().max(1) as f64,
            selfs
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")));
    faces(&root)?;
    fingers(&root)
}
