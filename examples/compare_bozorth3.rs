//! Accuracy and speed of the MCC matcher against NIST BOZORTH3 (pure-Rust `fprint-bozorth3`) on
//! every shared FVC set and both inputs, on the same minutiae.
//!
//! `cargo run --release --example compare_bozorth3 -- [--root <dir>] [--set <name>]...
//!  [--input image|iso|both] [--synthetic] [--survival]`
//!
//! * `--root`: the folder holding the six sets (default `../shared/data/fingers`).
//! * Inputs: `image` = registro's own image path (`extract_from_image_at` with the set's
//!   declared resolution: MINDTCT via `fprint-mindtct`); BOZORTH3 gets exactly the minutiae that
//!   extraction returned. `iso` = the vendor SecuGen ISO/IEC 19794-2:2005 records through
//!   `parse_template`; BOZORTH3 gets the same parsed minutiae.
//! * Protocol: every pair of the 80 impressions of a set (280 genuine, 2,880 impostor pairs).
//!   An image that registro rejects (failure to enrol) scores 0 on both sides in every pair.
//! * Speed: ONE thread, the matchers alternated block by block over the same pairs. BOZORTH3's
//!   `match_score` builds both prints' pair tables on every call (the crate has no
//!   prepared-probe entry), so it is compared like with like against registro doing the same:
//!   extracting both prints' features from their minutiae and comparing them, on every pair
//!   (`registro cmp/s, preparing both` and `ratio, like with like`). `registro cmp/s,
//!   prepared` compares features computed once per print, as the gallery holds them in 1:N;
//!   against BOZORTH3's per-call figure it would overstate the ratio. For 1:N (`1:N ratio`),
//!   BOZORTH3 with the probe prepared once is bounded from below in time: every pair's call
//!   time less the time of one call of the same probe against a 10-minutia print (which
//!   prepares the probe, plus a tiny gallery and match, so it is at least the probe's
//!   preparation). Its rate is therefore an upper bound and the `1:N ratio` a lower bound.
//! * `FAST=1` skips BOZORTH3 (for quick experiments; its columns then read 0).
//! * `--synthetic` adds the seeded synthetic set; `--survival` prints the impostor survival
//!   function pooled over all sets run (input for the score calibration in `finger/calib.rs`).
//!
//! Output: one markdown table, one row per set and input, with `bar` = both EER and FNMR at
//! FMR 0.1 % at most half of BOZORTH3's.

use rayon::prelude::*;
use registro::biometrics::finger::synthetic::{
    ImpressionParams, SyntheticConfig, SyntheticGenerator,
};
use registro::biometrics::finger::{
    compare, extract_from_image_at, parse_template, FingerFeatures, FingerView,
};
use std::time::Instant;

/// The six shared sets: folder, label, declared image resolution (FVC2002 DB2 is 569 dpi).
const SETS: [(&str, &str, u16); 6] = [
    ("fvc2002_db1_b", "FVC2002 DB1_B", 500),
    ("fvc2002_db2_b", "FVC2002 DB2_B", 569),
    ("fvc2002_db3_b", "FVC2002 DB3_B", 500),
    ("fvc2002_db4_b", "FVC2002 DB4_B", 500),
    ("fvc2004_db1_b", "FVC2004 DB1_B", 500),
    ("fvc2004_db2_b", "FVC2004 DB2_B", 500),
];

struct Sample {
    finger: String,
    /// `None` when registro rejected the input (failure to enrol).
    view: Option<FingerView>,
}

fn names(dir: &str, ext: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {dir}: {e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(ext))
        .collect();
    v.sort();
    v
}

fn finger_of(name: &str) -> String {
    name.split('_').next().unwrap_or(name).to_string()
}

/// Loads one set through registro's own input paths (extraction in parallel).
fn load(root: &str, set: &str, input: &str, dpi: u16) -> (Vec<Sample>, Vec<String>) {
    let (dir, ext) = match input {
        "image" => (format!("{root}/{set}/images"), ".tif"),
        _ => (format!("{root}/{set}/iso_secugen"), ".iso"),
    };
    let files = names(&dir, ext);
    let out: Vec<(Sample, Option<String>)> = files
        .par_iter()
        .map(|n| {
            let bytes = std::fs::read(format!("{dir}/{n}")).unwrap();
            let r = match input {
                "image" => extract_from_image_at(0, &bytes, Some(dpi)),
                _ => parse_template("iso-19794-2-2005", &bytes)
                    .map(|r| r.views.into_iter().next().expect("one view")),
            };
            let (view, err) = match r {
                Ok(v) => (Some(v), None),
                Err(e) => (None, Some(format!("{n}: {}", e.code()))),
            };
            (
                Sample {
                    finger: finger_of(n),
                    view,
                },
                err,
            )
        })
        .collect();
    let errs = out.iter().filter_map(|(_, e)| e.clone()).collect();
    (out.into_iter().map(|(s, _)| s).collect(), errs)
}

fn to_xyt(v: &FingerView) -> Vec<fprint_bozorth3::Minutia> {
    v.minutiae
        .iter()
        .map(|m| fprint_bozorth3::Minutia {
            x: m.x.round() as i32,
            y: v.height as i32 - 1 - m.y.round() as i32,
            theta: ((m.angle.to_degrees().round() as i32) + 180).rem_euclid(360),
        })
        .collect()
}

fn synthetic_set(fingers: usize, impressions: usize, seed: u64) -> Vec<Sample> {
    let mut g = SyntheticGenerator::new(seed, SyntheticConfig::default());
    let ip = ImpressionParams::default();
    let mut out = Vec::new();
    for f in 0..fingers {
        let m = g.master();
        for _ in 0..impressions {
            out.push(Sample {
                finger: format!("s{f}"),
                view: Some(g.render(&m, &ip)),
            });
        }
    }
    out
}

/// (EER %, FNMR % at FMR ≤ 1 %, FNMR % at FMR ≤ 0.1 %). EER interpolated where FNMR − FMR
/// changes sign; FNMR at the smallest threshold whose FMR is at most the target.
fn rates(gen: &[f64], imp: &[f64]) -> (f64, f64, f64) {
    let mut ts: Vec<f64> = gen.iter().chain(imp).copied().collect();
    ts.push(f64::INFINITY);
    ts.sort_by(|a, b| a.total_cmp(b));
    ts.dedup();
    let fmr = |t: f64| imp.iter().filter(|&&s| s >= t).count() as f64 / imp.len() as f64;
    let fnmr = |t: f64| gen.iter().filter(|&&s| s < t).count() as f64 / gen.len() as f64;
    let mut eer = 1.0;
    let mut prev: Option<(f64, f64)> = None;
    for &t in &ts {
        let (a, b) = (fmr(t), fnmr(t));
        if b >= a {
            eer = match prev {
                Some((pa, pb)) => {
                    let d0 = pa - pb;
                    let d1 = b - a;
                    let w = if d0 + d1 > 0.0 { d0 / (d0 + d1) } else { 0.5 };
                    let e0 = (pa + pb) / 2.0;
                    let e1 = (a + b) / 2.0;
                    e0 + w * (e1 - e0)
                }
                None => (a + b) / 2.0,
            };
            break;
        }
        prev = Some((a, b));
    }
    let at = |target: f64| {
        ts.iter()
            .find(|&&t| fmr(t) <= target)
            .map(|&t| fnmr(t))
            .unwrap_or(1.0)
    };
    (eer * 100.0, at(0.01) * 100.0, at(0.001) * 100.0)
}

struct Run {
    ours: (f64, f64, f64),
    boz: (f64, f64, f64),
    ours_per_s: f64,
    /// Comparisons per second when each comparison also extracts both prints' features.
    ours_prep_per_s: f64,
    boz_per_s: f64,
    /// Upper bound on BOZORTH3's rate with the probe prepared once (see the header).
    boz_once_per_s: f64,
    extract_ms: f64,
    minutiae: f64,
    impostors: Vec<f64>,
}

fn run(samples: &[Sample], fast: bool, verbose: bool) -> Run {
    let t0 = Instant::now();
    let feats: Vec<Option<FingerFeatures>> = samples
        .iter()
        .map(|s| s.view.as_ref().map(FingerFeatures::extract))
        .collect();
    let extract_ms = t0.elapsed().as_secs_f64() * 1e3 / samples.len() as f64;
    let xyt: Vec<Vec<fprint_bozorth3::Minutia>> = samples
        .iter()
        .map(|s| s.view.as_ref().map(to_xyt).unwrap_or_default())
        .collect();
    let ok: Vec<&Sample> = samples.iter().filter(|s| s.view.is_some()).collect();
    let minutiae = ok
        .iter()
        .map(|s| s.view.as_ref().unwrap().minutiae.len())
        .sum::<usize>() as f64
        / ok.len().max(1) as f64;
    let mut pairs = Vec::new();
    for i in 0..samples.len() {
        for j in (i + 1)..samples.len() {
            pairs.push((i, j, samples[i].finger == samples[j].finger));
        }
    }
    let mut ours = Vec::with_capacity(pairs.len());
    let mut boz = Vec::with_capacity(pairs.len());
    let (mut ours_s, mut boz_s, mut prep_s) = (0.0, 0.0, 0.0);
    let (mut ours_n, mut boz_n, mut prep_n) = (0usize, 0usize, 0usize);
    let mut sink = 0.0f32;
    // Per probe, the time of one BOZORTH3 call against a 10-minutia print: at least the time
    // to prepare the probe, which a 1:N run does once.
    let ten: Vec<fprint_bozorth3::Minutia> = xyt
        .iter()
        .find(|m| m.len() >= 10)
        .map(|m| m[..10].to_vec())
        .unwrap_or_default();
    let probe_prep_s: Vec<f64> = xyt
        .iter()
        .map(|p| {
            if fast || p.is_empty() || ten.is_empty() {
                return 0.0;
            }
            const REPS: u32 = 5;
            let t0 = Instant::now();
            for _ in 0..REPS {
                std::hint::black_box(fprint_bozorth3::match_score(p, &ten));
            }
            t0.elapsed().as_secs_f64() / f64::from(REPS)
        })
        .collect();
    let mut boz_once_s = 0.0;
    for block in pairs.chunks(64) {
        let t0 = Instant::now();
        for &(i, j, _) in block {
            ours.push(match (&feats[i], &feats[j]) {
                (Some(a), Some(b)) => {
                    ours_n += 1;
                    compare(a, b) as f64
                }
                _ => 0.0,
            });
        }
        ours_s += t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        for &(i, j, _) in block {
            boz.push(if fast || xyt[i].is_empty() || xyt[j].is_empty() {
                0.0
            } else {
                boz_n += 1;
                boz_once_s -= probe_prep_s[i];
                fprint_bozorth3::match_score(&xyt[i], &xyt[j]) as f64
            });
        }
        let dt = t0.elapsed().as_secs_f64();
        boz_s += dt;
        boz_once_s += dt;
        let t0 = Instant::now();
        for &(i, j, _) in block {
            if let (Some(a), Some(b)) = (&samples[i].view, &samples[j].view) {
                prep_n += 1;
                let (fa, fb) = (FingerFeatures::extract(a), FingerFeatures::extract(b));
                sink += compare(&fa, &fb);
            }
        }
        prep_s += t0.elapsed().as_secs_f64();
    }
    std::hint::black_box(sink);
    let split = |s: &[f64]| {
        let mut g = Vec::new();
        let mut i = Vec::new();
        for (p, &v) in pairs.iter().zip(s) {
            if p.2 {
                g.push(v)
            } else {
                i.push(v)
            }
        }
        (g, i)
    };
    let (og, oi) = split(&ours);
    let (bg, bi) = split(&boz);
    if verbose {
        let mut low: Vec<(f64, usize, usize)> = pairs
            .iter()
            .zip(&ours)
            .filter(|(p, _)| p.2)
            .map(|(p, &v)| (v, p.0, p.1))
            .collect();
        low.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut is = oi.clone();
        is.sort_by(|a, b| a.total_cmp(b));
        eprintln!(
            "   impostor p99/max {:.3}/{:.3}; lowest genuine: {}",
            is[is.len() * 99 / 100],
            is[is.len() - 1],
            low.iter()
                .take(6)
                .map(|(v, i, j)| format!("{v:.3} ({i},{j})"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    Run {
        ours: rates(&og, &oi),
        boz: rates(&bg, &bi),
        ours_per_s: ours_n as f64 / ours_s.max(1e-9),
        ours_prep_per_s: prep_n as f64 / prep_s.max(1e-9),
        boz_per_s: boz_n as f64 / boz_s.max(1e-9),
        boz_once_per_s: boz_n as f64 / boz_once_s.max(1e-9),
        extract_ms,
        minutiae,
        impostors: oi,
    }
}

/// One line of the table: accuracy of both matchers, the three speed measures, the bar.
fn row(label: &str, input: &str, fte: usize, r: &Run, bar: &str) -> String {
    format!(
        "| {label} | {input} | {:.0} | {fte} | {:.2} / {:.2} / {:.2} % | {:.2} / {:.2} / {:.2} % | {:.0} | {:.0} | {:.1}× | {:.0} | {:.0} | {:.1}× | {bar} |",
        r.minutiae,
        r.ours.0,
        r.ours.1,
        r.ours.2,
        r.boz.0,
        r.boz.1,
        r.boz.2,
        r.ours_per_s,
        r.boz_once_per_s,
        r.ours_per_s / r.boz_once_per_s.max(1e-9),
        r.ours_prep_per_s,
        r.boz_per_s,
        r.ours_prep_per_s / r.boz_per_s.max(1e-9),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut root = format!("{}/../shared/data/fingers", env!("CARGO_MANIFEST_DIR"));
    let mut only: Vec<String> = Vec::new();
    let mut inputs = vec!["image", "iso"];
    let (mut synthetic, mut survival) = (false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--root" => root = it.next().expect("--root <dir>").clone(),
            "--set" => only.push(it.next().expect("--set <name>").clone()),
            "--input" => {
                inputs = match it.next().map(String::as_str) {
                    Some("image") => vec!["image"],
                    Some("iso") => vec!["iso"],
                    _ => vec!["image", "iso"],
                }
            }
            "--synthetic" => synthetic = true,
            "--survival" => survival = true,
            other => panic!("unknown argument {other}"),
        }
    }
    let fast = std::env::var("FAST").is_ok();
    let verbose = std::env::var("VERBOSE").is_ok();
    println!("| set | input | minutiae / print | FTE | registro EER / FNMR@1% / FNMR@0.1% | BOZORTH3 EER / FNMR@1% / FNMR@0.1% | registro cmp/s, prepared | BOZORTH3 cmp/s, probe prepared once (≤) | 1:N ratio (≥) | registro cmp/s, preparing both | BOZORTH3 cmp/s, preparing both | ratio, both preparing both | bar (≤ ½ BOZORTH3) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut pooled: Vec<f64> = Vec::new();
    let mut met = 0;
    let mut rows = 0;
    for &(set, label, dpi) in SETS.iter() {
        if !only.is_empty() && !only.iter().any(|o| o == set) {
            continue;
        }
        for &input in &inputs {
            let (samples, errs) = load(&root, set, input, dpi);
            if verbose {
                eprintln!("{label} {input}: rejected {errs:?}");
            }
            let r = run(&samples, fast, verbose);
            let bar = r.ours.0 <= r.boz.0 / 2.0 && r.ours.2 <= r.boz.2 / 2.0;
            rows += 1;
            met += bar as usize;
            println!(
                "{}",
                row(
                    label,
                    input,
                    errs.len(),
                    &r,
                    if bar { "met" } else { "not met" }
                )
            );
            if verbose {
                eprintln!("   extraction {:.2} ms/finger", r.extract_ms);
            }
            pooled.extend(r.impostors);
        }
    }
    if synthetic {
        let s = synthetic_set(100, 8, 2026);
        let r = run(&s, fast, verbose);
        println!(
            "{}",
            row("synthetic (seed 2026, 100 × 8)", "minutiae", 0, &r, "")
        );
    }
    println!("bar_met {met} of {rows}");
    if survival {
        pooled.sort_by(|a, b| a.total_cmp(b));
        println!(
            "== impostor survival P(score >= s), pooled over the rows above ({} pairs)",
            pooled.len()
        );
        let n = pooled.len() as f64;
        for k in [0.5, 0.9, 0.99, 0.999, 0.9999] {
            let i = ((n - 1.0) * k) as usize;
            println!("   FMR {:.0e}: score {:.4}", 1.0 - k, pooled[i]);
        }
    }
}
