//! Finger score calibration, fitted and checked out of sample on the six shared FVC sets.
//!
//! `cargo run --release --example finger_calibration -- [--write] [--data DIR] [--out DIR] [--tail F]`
//!
//! 1. Loads every print of the six FVC B sets (10 fingers × 8 impressions each) from both
//!    minutiae sources: NIST MINDTCT (`minutiae_mindtct/*.xyt`) and the SecuGen ISO templates
//!    (`iso_secugen/*.iso`), and compares every pair of prints of one source with the
//!    project's matcher: 280 genuine pairs per set, and 113,280 impostor pairs per source
//!    (17,280 within sets, 96,000 across sets).
//! 2. Leave one set out: for each set, fits the calibration on the impostor pairs that do not
//!    touch it, and reports at the calibrated FMR levels 1e-1 … 1e-4 the observed FMR on its own
//!    2,880 impostor pairs and on its 32,000 pairs with the other sets.
//! 3. Far tail: fits on the 34,560 within-set impostor pairs only and checks the 192,000
//!    cross-set pairs down to FMR 1e-5.
//! 4. The shipped fit: all 226,560 impostor pairs of both sources. Body = empirical survival
//!    function (knots); tail above the top `--tail` fraction (default 0.02) = generalised Pareto
//!    by maximum likelihood, with the profile-likelihood 95 % interval of its shape `ξ` and
//!    what that interval means for the scores at FMR 1e-6 and 1e-8. A negative `ξ` is shipped
//!    as 0 (see `finger::calib`). `--write` writes `src/biometrics/finger/calib_fit.rs`.
//!
//! The scores go to `DIR/finger_scores.tsv` (default `target/calibration`) for
//! `examples/fpir.rs`. Re-run after any change to the matcher.

use rayon::prelude::*;
use registro::biometrics::finger::{
    self, compare, FingerFeatures, FingerView, Minutia, MinutiaKind,
};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[path = "common/gpd.rs"]
mod gpd;
use gpd::fit;

#[path = "common/fvc.rs"]
mod fvc;
use fvc::SETS;
const SOURCES: [&str; 2] = ["mindtct", "secugen"];

struct Print {
    set: usize,
    finger: u32,
    feats: FingerFeatures,
}

#[derive(Clone, Copy)]
struct Pair {
    source: usize,
    set_a: usize,
    set_b: usize,
    genuine: bool,
    score: f32,
}

fn names(dir: &Path, ext: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(ext))
        .collect();
    v.sort();
    v
}

fn finger_of(name: &str) -> u32 {
    name.split('_')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn load_mindtct(root: &Path, set: usize) -> Vec<Print> {
    let dir = root.join(SETS[set]).join("minutiae_mindtct");
    names(&dir, ".xyt")
        .par_iter()
        .map(|n| {
            let stem = n.trim_end_matches(".xyt");
            let (w, h) = image::image_dimensions(
                root.join(SETS[set])
                    .join("images")
                    .join(format!("{stem}.tif")),
            )
            .unwrap_or_else(|e| panic!("image size of {stem}: {e}"));
            let text = std::fs::read_to_string(dir.join(n)).unwrap();
            let kinds: Vec<char> = std::fs::read_to_string(dir.join(format!("{n}t")))
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
            for (i, l) in text.lines().enumerate() {
                let v: Vec<i32> = l
                    .split_whitespace()
                    .filter_map(|t| t.parse().ok())
                    .collect();
                if v.len() < 3 {
                    continue;
                }
                minutiae.push(Minutia {
                    x: v[0] as f32,
                    y: (h as i32 - 1 - v[1]) as f32,
                    angle: (((v[2] + 180) % 360) as f32).to_radians(),
                    kind: match kinds.get(i) {
                        Some('E') => MinutiaKind::Ending,
                        Some('B') => MinutiaKind::Bifurcation,
                        _ => MinutiaKind::Other,
                    },
                    quality: v.get(3).copied().unwrap_or(0).clamp(0, 100) as u8,
                });
            }
            let view = FingerView {
                position: 0,
                width: w as u16,
                height: h as u16,
                resolution_dpi: 500,
                quality: 0,
                minutiae,
            };
            Print {
                set,
                finger: finger_of(n),
                feats: FingerFeatures::extract(&view),
            }
        })
        .collect()
}

fn load_iso(root: &Path, set: usize) -> Vec<Print> {
    let dir = root.join(SETS[set]).join("iso_secugen");
    names(&dir, ".iso")
        .par_iter()
        .map(|n| {
            let bytes = std::fs::read(dir.join(n)).unwrap();
            let rec = finger::parse_template("iso-19794-2-2005", &bytes)
                .unwrap_or_else(|e| panic!("{n}: {e}"));
            let view = rec.views.into_iter().next().expect("a view");
            Print {
                set,
                finger: finger_of(n),
                feats: FingerFeatures::extract(&view),
            }
        })
        .collect()
}

fn all_pairs(source: usize, prints: &[Print]) -> Vec<Pair> {
    (0..prints.len())
        .into_par_iter()
        .flat_map_iter(|i| {
            (i + 1..prints.len()).map(move |j| {
                let (a, b) = (&prints[i], &prints[j]);
                Pair {
                    source,
                    set_a: a.set,
                    set_b: b.set,
                    genuine: a.set == b.set && a.finger == b.finger,
                    score: compare(&a.feats, &b.feats),
                }
            })
        })
        .collect()
}

fn observed(scores: &[f32], t: f32) -> (usize, usize) {
    (scores.iter().filter(|&&s| s >= t).count(), scores.len())
}

const LEVELS: [f64; 4] = [1e-1, 1e-2, 1e-3, 1e-4];

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = arg(&args, "--data")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/data/fingers"));
    let out = arg(&args, "--out")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/calibration"));
    let tail: f64 = arg(&args, "--tail")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.02);
    let write = args.iter().any(|a| a == "--write");

    let t0 = std::time::Instant::now();
    let mut pairs: Vec<Pair> = Vec::new();
    for (src, name) in SOURCES.iter().enumerate() {
        let prints: Vec<Print> = (0..SETS.len())
            .flat_map(|s| {
                if src == 0 {
                    load_mindtct(&data, s)
                } else {
                    load_iso(&data, s)
                }
            })
            .collect();
        let p = all_pairs(src, &prints);
        println!(
            "{name}: {} prints, {} genuine and {} impostor pairs",
            prints.len(),
            p.iter().filter(|x| x.genuine).count(),
            p.iter().filter(|x| !x.genuine).count()
        );
        pairs.extend(p);
    }
    println!("compared in {:.1} s", t0.elapsed().as_secs_f64());
    std::fs::create_dir_all(&out)?;
    let mut tsv = String::from("source\tset_a\tset_b\tgenuine\tscore\n");
    for p in &pairs {
        let _ = writeln!(
            tsv,
            "{}\t{}\t{}\t{}\t{}",
            SOURCES[p.source], SETS[p.set_a], SETS[p.set_b], p.genuine as u8, p.score
        );
    }
    std::fs::write(out.join("finger_scores.tsv"), tsv)?;

    let imp = |f: &dyn Fn(&Pair) -> bool| -> Vec<f32> {
        pairs
            .iter()
            .filter(|p| !p.genuine && f(p))
            .map(|p| p.score)
            .collect()
    };

    // 2. Leave one set out, per source and pooled.
    println!("\n## leave one set out: calibrated FMR vs observed FMR on the held-out set");
    println!(
        "source\theld_out\tcalibrated\tscore\twithin_set (of 2880)\tacross_sets (of 32000)\tFNMR"
    );
    for src in [Some(0usize), Some(1), None] {
        let sname = src.map(|s| SOURCES[s]).unwrap_or("pooled");
        let of_src = |p: &Pair| src.is_none_or(|s| p.source == s);
        let mut sum_within = [0usize; 4];
        let mut sum_across = [0usize; 4];
        let (mut n_within, mut n_across) = (0usize, 0usize);
        for (h, set) in SETS.iter().enumerate() {
            let train = imp(&|p| of_src(p) && p.set_a != h && p.set_b != h);
            let f = fit(&train, tail);
            let within = imp(&|p| of_src(p) && p.set_a == h && p.set_b == h);
            let across = imp(&|p| of_src(p) && (p.set_a == h) != (p.set_b == h));
            let gen: Vec<f32> = pairs
                .iter()
                .filter(|p| p.genuine && of_src(p) && p.set_a == h)
                .map(|p| p.score)
                .collect();
            n_within += within.len();
            n_across += across.len();
            for (li, &lv) in LEVELS.iter().enumerate() {
                let t = f.score_at(lv.ln());
                let (w, _) = observed(&within, t);
                let (a, _) = observed(&across, t);
                sum_within[li] += w;
                sum_across[li] += a;
                let fnmr = gen.iter().filter(|&&s| s < t).count() as f64 / gen.len() as f64;
                println!(
                    "{sname}\t{}\t{lv:.0e}\t{t:.4}\t{:.2e} ({w})\t{:.2e} ({a})\t{:.1} %",
                    set,
                    w as f64 / within.len() as f64,
                    a as f64 / across.len() as f64,
                    100.0 * fnmr
                );
            }
        }
        for (li, &lv) in LEVELS.iter().enumerate() {
            println!(
                "{sname}\tall six\t{lv:.0e}\t-\t{:.2e} ({} of {n_within})\t{:.2e} ({} of {n_across})\t-",
                sum_within[li] as f64 / n_within as f64,
                sum_within[li],
                sum_across[li] as f64 / n_across as f64,
                sum_across[li]
            );
        }
    }

    // 3. Far tail: fit within sets, check across sets.
    println!("\n## far tail: fit on within-set impostors, check on cross-set impostors");
    for src in [Some(0usize), Some(1), None] {
        let sname = src.map(|s| SOURCES[s]).unwrap_or("pooled");
        let of_src = |p: &Pair| src.is_none_or(|s| p.source == s);
        let f = fit(&imp(&|p| of_src(p) && p.set_a == p.set_b), tail);
        let across = imp(&|p| of_src(p) && p.set_a != p.set_b);
        println!("{sname}: {}", f.describe());
        for lv in [1e-2, 1e-3, 1e-4, 1e-5] {
            let t = f.score_at(f64::ln(lv));
            let (c, n) = observed(&across, t);
            println!(
                "{sname}\tcalibrated {lv:.0e}\tscore {t:.4}\tobserved {:.2e} ({c} of {n}; expected {:.1})",
                c as f64 / n as f64,
                lv * n as f64
            );
        }
    }

    // 4. The shipped fit: everything.
    let all = imp(&|_| true);
    let f = fit(&all, tail);
    println!(
        "\n## shipped fit (all impostor pairs, both sources)\n{}",
        f.describe()
    );
    println!(
        "level\tscore (shipped)\tscore at xi CI ends ({:.3} / {:.3})\tscore at xi_hat",
        f.ends[0].0, f.ends[1].0
    );
    for lv in [1e-4, 1e-6, 1e-8, 1e-12] {
        let l = f64::ln(lv);
        println!(
            "{lv:.0e}\t{:.4}\t{:.4} / {:.4}\t{:.4}",
            f.score_at(l),
            f.score_at_with(l, f.ends[0].1, f.ends[0].0),
            f.score_at_with(l, f.ends[1].1, f.ends[1].0),
            f.score_at_with(l, f.sigma_hat, f.xi_hat)
        );
    }
    let gen: Vec<f32> = pairs
        .iter()
        .filter(|p| p.genuine)
        .map(|p| p.score)
        .collect();
    let mut g = gen.clone();
    g.sort_by(|a, b| a.total_cmp(b));
    println!(
        "genuine scores (both sources, {} pairs): median {:.3} -> {:.1} decades; 10th percentile {:.3} -> {:.1} decades",
        g.len(),
        g[g.len() / 2],
        -f.ln_fmr(g[g.len() / 2]) / std::f64::consts::LN_10,
        g[g.len() / 10],
        -f.ln_fmr(g[g.len() / 10]) / std::f64::consts::LN_10
    );
    // The code in use, for comparison (equal after --write and a rebuild).
    let mut worst: f64 = 0.0;
    for i in 0..=1000 {
        let s = i as f32 / 1000.0;
        worst = worst.max((finger::ln_false_match_rate_at(s) - f.ln_fmr(s)).abs());
    }
    println!(
        "max |ln FMR| difference between this fit and the calibration compiled in: {worst:.4}"
    );

    if write {
        let mut c = String::new();
        let _ = writeln!(c, "//! Generated by `cargo run --release --example finger_calibration -- --write`; do not");
        let _ = writeln!(c, "//! edit by hand. Data: every impostor pair of the six FVC B sets of ../shared/data/fingers,");
        let _ = writeln!(
            c,
            "//! MINDTCT and SecuGen ISO minutiae pooled ({} pairs). Tail: generalised Pareto above",
            f.n
        );
        let _ = writeln!(
            c,
            "//! the top {} scores, xi_hat {:.3} (95 % CI {:.3} .. {:.3}); shipped xi = max(xi_hat, 0).",
            f.k, f.xi_hat, f.xi_lo, f.xi_hi
        );
        let _ = writeln!(
            c,
            "\n/// `(score, ln FMR)`: the empirical impostor survival function up to [`TAIL_U`]."
        );
        let _ = writeln!(c, "pub(super) const KNOTS: &[(f32, f64)] = &[");
        for (s, l) in &f.knots {
            let _ = writeln!(c, "    ({s:?}, {l:?}),");
        }
        let _ = writeln!(c, "];");
        let _ = writeln!(
            c,
            "/// Tail threshold (score).\npub(super) const TAIL_U: f32 = {:?};",
            f.u
        );
        let _ = writeln!(
            c,
            "/// `ln P(impostor score ≥ TAIL_U)`.\npub(super) const TAIL_LN_RATE: f64 = {:?};",
            f.ln_rate
        );
        let _ = writeln!(
            c,
            "/// GPD scale.\npub(super) const TAIL_SIGMA: f64 = {:?};",
            f.sigma
        );
        let _ = writeln!(
            c,
            "/// GPD shape (≥ 0).\npub(super) const TAIL_XI: f64 = {:?};",
            f.xi
        );
        let path = root.join("src/biometrics/finger/calib_fit.rs");
        std::fs::write(&path, c)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
