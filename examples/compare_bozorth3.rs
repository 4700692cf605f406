//! Accuracy and speed of the MCC matcher against NIST BOZORTH3 (pure-Rust `fprint-bozorth3`).
//!
//! `cargo run --release --example compare_bozorth3 -- <minutiae dir> [height]`
//!
//! `<minutiae dir>` holds `<finger>_<impression>.xyt` files (NIST convention, origin
//! bottom-left; `.xytt` siblings give E/B kinds); default: FVC2002 DB1_B. Every pair is
//! compared once: genuine = same finger, impostor = different fingers. Also reports a seeded
//! synthetic set (`finger::synthetic`) with the same protocol, and the pooled impostor survival
//! function used for score calibration. The last three lines are
//! `eer <ours> <bozorth3>`, `fnmr_at_fmr_0.1pct <ours> <bozorth3>`, `speedup_vs_bozorth3 <x>`
//! (percentages as plain numbers).

use rayon::prelude::*;
use registro::biometrics::finger::synthetic::{
    ImpressionParams, SyntheticConfig, SyntheticGenerator,
};
use registro::biometrics::finger::{compare, FingerFeatures, FingerView, Minutia, MinutiaKind};
use std::time::Instant;

struct Sample {
    finger: String,
    view: FingerView,
    xyt: Vec<fprint_bozorth3::Minutia>,
}

fn load_dir(dir: &str, height: u16) -> Vec<Sample> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {dir}: {e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".xyt"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| {
            let text = std::fs::read_to_string(format!("{dir}/{n}")).unwrap();
            let kinds: Vec<char> = std::fs::read_to_string(format!("{dir}/{n}t"))
                .map(|t| {
                    t.lines()
                        .map(|l| {
                            l.split_whitespace()
                                .nth(4)
                                .and_then(|s| s.chars().next())
                                .unwrap_or('?')
                        })
                        .collect()
                })
                .unwrap_or_default();
            let mut minutiae = Vec::new();
            let mut xyt = Vec::new();
            for (i, l) in text.lines().enumerate() {
                let v: Vec<i32> = l
                    .split_whitespace()
                    .filter_map(|t| t.parse().ok())
                    .collect();
                if v.len() < 3 {
                    continue;
                }
                xyt.push(fprint_bozorth3::Minutia {
                    x: v[0],
                    y: v[1],
                    theta: v[2],
                });
                let kind = match kinds.get(i) {
                    Some('E') => MinutiaKind::Ending,
                    Some('B') => MinutiaKind::Bifurcation,
                    _ => MinutiaKind::Other,
                };
                minutiae.push(Minutia {
                    x: v[0] as f32,
                    y: (height as i32 - 1 - v[1]) as f32,
                    angle: (((v[2] + 180) % 360) as f32).to_radians(),
                    kind,
                    quality: v.get(3).copied().unwrap_or(0).clamp(0, 100) as u8,
                });
            }
            Sample {
                finger: n.split('_').next().unwrap().to_string(),
                view: FingerView {
                    position: 0,
                    width: 388,
                    height,
                    resolution_dpi: 500,
                    quality: 0,
                    minutiae,
                },
                xyt,
            }
        })
        .collect()
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
            let view = g.render(&m, &ip);
            out.push(Sample {
                finger: format!("s{f}"),
                xyt: to_xyt(&view),
                view,
            });
        }
    }
    out
}

/// (EER %, FNMR % at FMR ≤ 0.1 %, FNMR % at FMR ≤ 1 %).
fn rates(gen: &[f64], imp: &[f64]) -> (f64, f64, f64) {
    let mut ts: Vec<f64> = gen.iter().chain(imp).copied().collect();
    ts.push(f64::INFINITY);
    ts.sort_by(|a, b| a.total_cmp(b));
    ts.dedup();
    let fmr = |t: f64| imp.iter().filter(|&&s| s >= t).count() as f64 / imp.len() as f64;
    let fnmr = |t: f64| gen.iter().filter(|&&s| s < t).count() as f64 / gen.len() as f64;
    // EER: where FNMR - FMR changes sign, interpolated between adjacent thresholds.
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
    (eer * 100.0, at(0.001) * 100.0, at(0.01) * 100.0)
}

struct Run {
    ours: (f64, f64, f64),
    boz: (f64, f64, f64),
    ours_per_s: f64,
    boz_per_s: f64,
    impostors: Vec<f64>,
}

/// FVC protocol when `first_only_impostors`: genuine = every pair of impressions of a finger,
/// impostor = first impressions of every pair of fingers. Otherwise every pair.
fn run(name: &str, samples: &[Sample], first_only_impostors: bool) -> Run {
    let t0 = Instant::now();
    let feats: Vec<FingerFeatures> = samples
        .iter()
        .map(|s| FingerFeatures::extract(&s.view))
        .collect();
    let extract_ms = t0.elapsed().as_secs_f64() * 1e3 / samples.len() as f64;
    let mut pairs = Vec::new();
    let is_first = |i: usize| i == 0 || samples[i - 1].finger != samples[i].finger;
    for i in 0..samples.len() {
        for j in (i + 1)..samples.len() {
            let genuine = samples[i].finger == samples[j].finger;
            if genuine || !first_only_impostors || (is_first(i) && is_first(j)) {
                pairs.push((i, j, genuine));
            }
        }
    }
    // Single thread, same pairs, same run. The pairs are processed in blocks, alternating the
    // two matchers block by block, so that a change of machine load affects both alike.
    // FAST=1 skips BOZORTH3 (for quick experiments).
    let fast = std::env::var("FAST").is_ok();
    let mut ours = Vec::with_capacity(pairs.len());
    let mut boz = Vec::with_capacity(pairs.len());
    let (mut ours_s, mut boz_s) = (0.0, 0.0);
    for block in pairs.chunks(64) {
        let t0 = Instant::now();
        ours.extend(
            block
                .iter()
                .map(|&(i, j, _)| compare(&feats[i], &feats[j]) as f64),
        );
        ours_s += t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        boz.extend(block.iter().map(|&(i, j, g)| {
            if fast {
                g as u8 as f64
            } else {
                fprint_bozorth3::match_score(&samples[i].xyt, &samples[j].xyt) as f64
            }
        }));
        boz_s += t0.elapsed().as_secs_f64();
    }
    let split = |s: &[f64]| {
        let g: Vec<f64> = pairs
            .iter()
            .zip(s)
            .filter(|(p, _)| p.2)
            .map(|(_, &v)| v)
            .collect();
        let i: Vec<f64> = pairs
            .iter()
            .zip(s)
            .filter(|(p, _)| !p.2)
            .map(|(_, &v)| v)
            .collect();
        (g, i)
    };
    let (og, oi) = split(&ours);
    let (bg, bi) = split(&boz);
    let r = Run {
        ours: rates(&og, &oi),
        boz: rates(&bg, &bi),
        ours_per_s: pairs.len() as f64 / ours_s,
        boz_per_s: pairs.len() as f64 / boz_s,
        impostors: oi.clone(),
    };
    let mean_cyl =
        feats.iter().map(|f| f.cylinder_count()).sum::<usize>() as f64 / feats.len() as f64;
    println!(
        "== {name}: {} samples, {} genuine, {} impostor pairs",
        samples.len(),
        og.len(),
        oi.len()
    );
    println!("   mean minutiae with valid cylinder {mean_cyl:.1}, feature extraction {extract_ms:.2} ms/finger");
    println!(
        "   ours     : EER {:.2} %  FNMR@FMR1% {:.2} %  FNMR@FMR0.1% {:.2} %  {:.0} comparisons/s/core",
        r.ours.0, r.ours.2, r.ours.1, r.ours_per_s
    );
    println!(
        "   bozorth3 : EER {:.2} %  FNMR@FMR1% {:.2} %  FNMR@FMR0.1% {:.2} %  {:.0} comparisons/s/core",
        r.boz.0, r.boz.2, r.boz.1, r.boz_per_s
    );
    if std::env::var("FAST").is_ok() {
        let mut low: Vec<(f64, usize, usize)> = pairs
            .iter()
            .zip(&ours)
            .filter(|(p, _)| p.2)
            .map(|(p, &v)| (v, p.0, p.1))
            .collect();
        low.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (v, i, j) in low.iter().take(10) {
            println!(
                "   low genuine {:.4}: {} vs {} ({} / {} cylinders)",
                v,
                i,
                j,
                feats[*i].cylinder_count(),
                feats[*j].cylinder_count()
            );
        }
    }
    let mut gs = og.clone();
    gs.sort_by(|a, b| a.total_cmp(b));
    let mut is = oi.clone();
    is.sort_by(|a, b| a.total_cmp(b));
    let q = |v: &[f64], p: f64| v[((v.len() - 1) as f64 * p) as usize];
    println!(
        "   ours genuine p5/p50 {:.3}/{:.3}, impostor p50/p99/p99.9/max {:.3}/{:.3}/{:.3}/{:.3}",
        q(&gs, 0.05),
        q(&gs, 0.5),
        q(&is, 0.5),
        q(&is, 0.99),
        q(&is, 0.999),
        is[is.len() - 1]
    );
    r
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).cloned().unwrap_or_else(|| {
        format!(
            "{}/../shared/data/fingers/fvc2002_db1_b/minutiae_mindtct",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    let height: u16 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(374);
    let fvc = load_dir(&dir, height);
    let real = run("FVC2002 DB1_B (MINDTCT minutiae), all pairs", &fvc, false);
    if std::env::var("FAST").is_ok() {
        return;
    }
    if std::env::var("FAST").is_ok() {
        return;
    }
    let synth = synthetic_set(100, 8, 2026);
    let syn = run(
        "synthetic (seed 2026, 100 fingers x 8 impressions), FVC protocol",
        &synth,
        true,
    );
    println!(
        "synthetic eer {:.2} {:.2} fnmr_at_fmr_0.1pct {:.2} {:.2} speedup {:.1}",
        syn.ours.0,
        syn.boz.0,
        syn.ours.1,
        syn.boz.1,
        syn.ours_per_s / syn.boz_per_s
    );
    // Calibration: impostor scores of all cross-finger pairs of a second synthetic set
    // (computed in parallel), pooled with the FVC impostors.
    let calib = synthetic_set(150, 4, 99);
    let feats: Vec<FingerFeatures> = calib
        .iter()
        .map(|s| FingerFeatures::extract(&s.view))
        .collect();
    let syn_imp: Vec<f64> = (0..calib.len())
        .into_par_iter()
        .flat_map_iter(|i| {
            let (calib, feats) = (&calib, &feats);
            ((i + 1)..calib.len())
                .filter(move |&j| calib[i].finger != calib[j].finger)
                .map(move |j| compare(&feats[i], &feats[j]) as f64)
        })
        .collect();
    let pooled: Vec<f64> = real.impostors.iter().chain(&syn_imp).copied().collect();
    println!(
        "== impostor survival P(score >= s) for calibration: FVC ({}), synthetic ({}), pooled",
        real.impostors.len(),
        syn_imp.len()
    );
    let surv = |v: &[f64], s: f64| v.iter().filter(|&&x| x >= s).count() as f64 / v.len() as f64;
    for i in 0..=20 {
        let s = 0.011 + 0.003 * i as f64;
        println!(
            "   score {s:.3}: FMR fvc {:.2e}  synthetic {:.2e}  pooled {:.2e}",
            surv(&real.impostors, s),
            surv(&syn_imp, s),
            surv(&pooled, s)
        );
    }
    println!("eer {:.2} {:.2}", real.ours.0, real.boz.0);
    println!("fnmr_at_fmr_0.1pct {:.2} {:.2}", real.ours.1, real.boz.1);
    println!(
        "speedup_vs_bozorth3 {:.1}",
        real.ours_per_s / real.boz_per_s
    );
}
