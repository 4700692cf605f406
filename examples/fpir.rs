//! The designed false-positive identification rate (FPIR), measured by simulation.
//!
//! `cargo run --release --example fpir -- [--dir DIR] [--holdout SET] [--budget B] [--seed S] [--sim-max N]`
//!
//! Needs the real score pools written by `finger_calibration` and `fusion_calibration`
//! (`DIR/finger_scores.tsv`, `DIR/face_scores.tsv`; default `target/calibration`).
//!
//! **Impostor model ("truth").** A finger impostor score is drawn from the real impostor
//! scores (all six FVC sets, both minutiae sources; or, with `--holdout SET`, only the pairs
//! that involve that set), and above their top 2 % from the generalised Pareto tail fitted to
//! them by maximum likelihood *without* the shipped calibration's conservative choices. A face
//! impostor distance is drawn from the 700 real impostor distances, and below their 5 %
//! quantile from the normal model fitted to them (not widened). Each drawn score goes through
//! the calibration compiled into registro and is fused with `fusion::fuse`, exactly as a
//! search does.
//!
//! **Two measurements** for probes with 1, 2, 4 and 10 fingers, with and without a face (and a
//! face alone), at the `duplicate` and `possible` thresholds of the decision rule in `Config`
//! (`fusion::DecisionRule`: each decision has a designed FPIR per search, 0.1 % and 10 % by
//! default, and its threshold in decades is derived at the gallery size `N` searched, never
//! below the floor of 1 000 identities). At each `N` the tool takes the rule's thresholds for
//! that `N` and measures the FPIR impostor searches reach there, against the rate the rule
//! names:
//!
//! - *Exact*: the distribution of `X = −Σ ln p_i` under the model, by numerical convolution on
//!   a grid (bounds from rounding down and up), gives the per-identity false-match probability
//!   `q` at each threshold, and FPIR = `1 − (1 − q)^N` for galleries of 1 k (the floor), 10 k,
//!   100 k and 1 M identities.
//! - *Simulated*: galleries of N identities are drawn identity by identity for a number of
//!   probes (`--budget` identity draws per cell, default 4e7), and the fraction of probes with
//!   any identity at or above the threshold is counted (with a 95 % interval). Two more rows
//!   check the multiplicity corrections: one position-0 finger against a record of 10 fingers,
//!   and an identity with 3 records.
//!
//! Also the false-negative rate of mated searches (genuine scores drawn independently per
//! finger from the real genuine pools), to show what each threshold costs.

use rayon::prelude::*;
use registro::biometrics::{finger, fusion};
use registro::config::Config;
use std::path::{Path, PathBuf};

#[path = "common/gpd.rs"]
mod gpd;

/// SplitMix64: a small, fast, seeded generator (the tool draws billions of numbers).
struct Rng(registro::biometrics::finger::synthetic::SplitMix64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(registro::biometrics::finger::synthetic::SplitMix64::new(
            seed ^ 0x9e37_79b9_7f4a_7c15,
        ))
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The impostor and genuine models of both modalities.
struct Model {
    /// X = −ln p (production calibration) of each real finger impostor score below u.
    finger_body: Vec<f64>,
    /// Fraction of impostor scores at or above u (the tail).
    zeta: f64,
    u: f32,
    sigma: f64,
    xi: f64,
    finger_genuine: Vec<f64>,
    /// X of each real face impostor distance at or above the 5 % quantile.
    face_body: Vec<f64>,
    face_q: f64,
    face_mean: f64,
    face_sd: f64,
    face_tail_mass: f64,
    face_genuine: Vec<f64>,
}

fn cos_of(d: f64) -> f32 {
    (1.0 - d * d / 2.0) as f32
}

/// The finger calibration in use: the shipped fit, recomputed from the same scores exactly as
/// `finger_calibration -- --write` computes it (so the tool can run before the rebuild that
/// compiles freshly written constants in; it prints how far the compiled-in one differs).
static SHIPPED: std::sync::OnceLock<gpd::Fit> = std::sync::OnceLock::new();

fn x_finger(score: f32) -> f64 {
    -SHIPPED.get().expect("shipped fit").ln_fmr(score)
}

fn x_face(d: f64) -> f64 {
    -fusion::face_ln_false_match_rate(cos_of(d))
}

/// Inverse standard normal CDF by bisection.
fn normal_quantile_ln(lp: f64) -> f64 {
    let (mut lo, mut hi) = (-40.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if fusion::ln_normal_cdf(mid) < lp {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

impl Model {
    fn load(dir: &Path, holdout: Option<&str>) -> Model {
        let text = std::fs::read_to_string(dir.join("finger_scores.tsv")).expect(
            "finger_scores.tsv: run `cargo run --release --example finger_calibration` first",
        );
        let (mut imp, mut gen, mut all) = (Vec::new(), Vec::new(), Vec::new());
        for l in text.lines().skip(1) {
            let f: Vec<&str> = l.split('\t').collect();
            if f.len() < 5 {
                continue;
            }
            if f[3] != "1" {
                all.push(f[4].parse::<f32>().unwrap_or(0.0));
            }
            if let Some(h) = holdout {
                if f[1] != h && f[2] != h {
                    continue;
                }
            }
            let s: f32 = f[4].parse().unwrap_or(0.0);
            if f[3] == "1" {
                gen.push(s)
            } else {
                imp.push(s)
            }
        }
        let shipped = gpd::fit(&all, 0.02);
        let mut worst: f64 = 0.0;
        for i in 0..=1000 {
            let s = i as f32 / 1000.0;
            worst = worst.max((finger::ln_false_match_rate_at(s) - shipped.ln_fmr(s)).abs());
        }
        println!("finger calibration used: the shipped fit ({}); max |ln FMR| difference to the one compiled in: {worst:.4}", shipped.describe());
        let _ = SHIPPED.set(shipped);
        let fit = gpd::fit(&imp, 0.02);
        println!("finger impostor model: {}", fit.describe());
        let finger_body: Vec<f64> = imp
            .iter()
            .filter(|&&s| s < fit.u)
            .map(|&s| x_finger(s))
            .collect();
        let zeta = 1.0 - finger_body.len() as f64 / imp.len() as f64;

        let text = std::fs::read_to_string(dir.join("face_scores.tsv")).expect(
            "face_scores.tsv: run `cargo run --release --example fusion_calibration` first",
        );
        let (mut fimp, mut fgen) = (Vec::new(), Vec::new());
        for l in text.lines().skip(1) {
            let f: Vec<&str> = l.split('\t').collect();
            if f.len() < 4 {
                continue;
            }
            let d: f64 = f[3].parse().unwrap_or(1.0);
            if f[2] == "1" {
                fgen.push(d)
            } else {
                fimp.push(d)
            }
        }
        fimp.sort_by(|a, b| a.total_cmp(b));
        let q = fimp[(fimp.len() as f64 * 0.05) as usize];
        let m = fimp.iter().sum::<f64>() / fimp.len() as f64;
        let sd = (fimp.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (fimp.len() as f64 - 1.0))
            .sqrt();
        let face_body: Vec<f64> = fimp
            .iter()
            .filter(|&&d| d >= q)
            .map(|&d| x_face(d))
            .collect();
        let face_tail_mass = 1.0 - face_body.len() as f64 / fimp.len() as f64;
        println!(
            "face impostor model: {} real distances, below {q:.4} ({:.1} %) normal mean {m:.4} sd {sd:.4} (not widened)",
            fimp.len(),
            100.0 * face_tail_mass
        );
        Model {
            finger_body,
            zeta,
            u: fit.u,
            sigma: fit.sigma_hat,
            xi: fit.xi_hat,
            finger_genuine: gen.iter().map(|&s| x_finger(s)).collect(),
            face_body,
            face_q: q,
            face_mean: m,
            face_sd: sd,
            face_tail_mass,
            face_genuine: fgen.iter().map(|&d| x_face(d)).collect(),
        }
    }

    /// GPD tail score for a uniform `v` in (0, 1].
    fn tail_score(&self, v: f64) -> f32 {
        let y = if self.xi.abs() < 1e-12 {
            -self.sigma * v.ln()
        } else {
            self.sigma / self.xi * (v.powf(-self.xi) - 1.0)
        };
        self.u + y as f32
    }

    fn draw_finger(&self, rng: &mut Rng) -> f64 {
        let v = rng.uniform();
        if v < self.zeta {
            x_finger(self.tail_score(1.0 - v / self.zeta))
        } else {
            self.finger_body[rng.below(self.finger_body.len())]
        }
    }

    /// Face distance in the normal tail below `face_q`, for a uniform `v` in (0, 1].
    fn face_tail(&self, v: f64) -> f64 {
        let zq = (self.face_q - self.face_mean) / self.face_sd;
        let lp = fusion::ln_normal_cdf(zq) + v.ln();
        (self.face_mean + self.face_sd * normal_quantile_ln(lp)).max(0.0)
    }

    fn draw_face(&self, rng: &mut Rng) -> f64 {
        let v = rng.uniform();
        if v < self.face_tail_mass {
            x_face(self.face_tail(1.0 - v / self.face_tail_mass))
        } else {
            self.face_body[rng.below(self.face_body.len())]
        }
    }

    /// Probability mass of X for one finger (`face = false`) or the face, on a grid of step
    /// `h` up to `bins` (the last bin holds everything beyond); `up` rounds X up, else down.
    fn grid(&self, face: bool, h: f64, bins: usize, up: bool) -> Vec<f64> {
        let mut g = vec![0.0; bins];
        let mut put = |x: f64, w: f64| {
            let b = if up { (x / h).ceil() } else { (x / h).floor() };
            g[(b.max(0.0) as usize).min(bins - 1)] += w;
        };
        let steps = 400_000;
        if face {
            let w = (1.0 - self.face_tail_mass) / self.face_body.len() as f64;
            for &x in &self.face_body {
                put(x, w);
            }
            // Tail: quantiles of the conditional normal, equal mass each.
            let zq = (self.face_q - self.face_mean) / self.face_sd;
            let lq = fusion::ln_normal_cdf(zq);
            let (mut prev_lp, mut prev_x) = (lq, x_face(self.face_q));
            // Log-spaced cumulative levels down to 1e-40 of the tail mass.
            for i in 1..=steps {
                let lp = lq - 92.0 * i as f64 / steps as f64;
                let d = (self.face_mean + self.face_sd * normal_quantile_ln(lp)).max(0.0);
                let x = x_face(d);
                let mass = self.face_tail_mass * ((prev_lp - lq).exp() - (lp - lq).exp());
                put(if up { x } else { prev_x }, mass);
                prev_lp = lp;
                prev_x = x;
            }
            put(f64::INFINITY, self.face_tail_mass * (prev_lp - lq).exp());
        } else {
            let w = (1.0 - self.zeta) / self.finger_body.len() as f64;
            for &x in &self.finger_body {
                put(x, w);
            }
            let mut prev_v: f64 = 1.0;
            let mut prev_x = x_finger(self.u);
            for i in 1..=steps {
                // Tail survival levels log-spaced down to e^-92.
                let v = (-92.0 * i as f64 / steps as f64).exp();
                let x = x_finger(self.tail_score(v));
                put(if up { x } else { prev_x }, self.zeta * (prev_v - v));
                prev_v = v;
                prev_x = x;
            }
            put(f64::INFINITY, self.zeta * prev_v);
        }
        g
    }
}

fn convolve(a: &[f64], b: &[f64]) -> Vec<f64> {
    let n = a.len();
    let mut out = vec![0.0; n];
    for (i, &x) in a.iter().enumerate() {
        if x == 0.0 {
            continue;
        }
        for (j, &y) in b.iter().enumerate() {
            out[(i + j).min(n - 1)] += x * y;
        }
    }
    out
}

fn survival(g: &[f64], x: f64, h: f64) -> f64 {
    let b = (x / h).ceil() as usize;
    g[b.min(g.len() - 1)..].iter().sum()
}

/// X at which `n` items reach a fused log p-value of `ln_t` (bisection on `fusion::fuse`'s
/// Gamma survival; `fuse` of items summing to X equals `gamma_ln_survival(n, X)`).
fn x_threshold(n: usize, ln_t: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 1000.0);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if fusion::gamma_ln_survival(n, mid) <= ln_t {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// Wilson 95 % interval of k successes in n.
fn wilson(k: usize, n: usize) -> (f64, f64) {
    let (k, n, z) = (k as f64, n as f64, 1.96);
    let p = k / n;
    let c = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let w = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / (1.0 + z * z / n);
    ((c - w).max(0.0), c + w)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = arg(&args, "--dir")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/calibration"));
    let holdout = arg(&args, "--holdout");
    let budget: f64 = arg(&args, "--budget")
        .and_then(|s| s.parse().ok())
        .unwrap_or(4e7);
    let seed: u64 = arg(&args, "--seed")
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261201);
    // Simulate galleries up to this size only (the exact figures cover every size).
    let sim_max: f64 = arg(&args, "--sim-max")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1e6);
    let model = Model::load(&dir, holdout.as_deref());
    let rule = Config::new("sqlite://unused").decisions;
    let galleries = [1e3, 1e4, 1e5, 1e6];
    // (name, designed FPIR per search, threshold in decades at each gallery size)
    let thresholds: [(&str, f64, Vec<f64>); 2] = [
        (
            "duplicate",
            rule.duplicate_fpir,
            galleries
                .iter()
                .map(|&g| rule.duplicate_decades(g as usize))
                .collect(),
        ),
        (
            "possible",
            rule.possible_fpir,
            galleries
                .iter()
                .map(|&g| rule.possible_decades(g as usize))
                .collect(),
        ),
    ];
    for (name, fpir, ds) in &thresholds {
        let at: Vec<String> = galleries
            .iter()
            .zip(ds)
            .map(|(g, d)| format!("{d:.3} decades at {g:.0e}"))
            .collect();
        println!(
            "threshold {name}: designed FPIR {fpir:.1e} per search (floor {:.0} identities): {}",
            rule.min_gallery,
            at.join(", ")
        );
    }
    let configs: Vec<(usize, bool)> = vec![
        (0, true),
        (1, false),
        (1, true),
        (2, false),
        (2, true),
        (4, false),
        (4, true),
        (10, false),
        (10, true),
    ];
    let label = |n: usize, face: bool| match (n, face) {
        (0, _) => "face only".to_string(),
        (n, false) => format!("{n} finger{}", if n > 1 { "s" } else { "" }),
        (n, true) => format!("{n} finger{} + face", if n > 1 { "s" } else { "" }),
    };

    // Exact, by convolution.
    let h = 0.01;
    let bins = 6000; // X up to 60 (26 decades)
    println!("\n## exact (numerical convolution under the model): FPIR at the rule's threshold for each N, observed / designed");
    println!(
        "probe\tthreshold\t1k\t10k\t100k\t1M\tratio at 1k / 10k / 100k / 1M\tq bounds at 100k"
    );
    let grids: Vec<[Vec<f64>; 2]> = [false, true]
        .par_iter()
        .map(|&face| {
            [
                model.grid(face, h, bins, false),
                model.grid(face, h, bins, true),
            ]
        })
        .collect();
    let (fg, faceg) = (&grids[0], &grids[1]);
    let mut powers: Vec<[Vec<f64>; 2]> = vec![fg.clone()];
    for k in 1..10 {
        let next: Vec<Vec<f64>> = (0..2)
            .into_par_iter()
            .map(|b| convolve(&powers[k - 1][b], &fg[b]))
            .collect();
        powers.push([next[0].clone(), next[1].clone()]);
    }
    for &(n, face) in &configs {
        let dist: [Vec<f64>; 2] = match (n, face) {
            (0, _) => faceg.clone(),
            (n, false) => powers[n - 1].clone(),
            (n, true) => {
                let v: Vec<Vec<f64>> = (0..2)
                    .into_par_iter()
                    .map(|b| convolve(&powers[n - 1][b], &faceg[b]))
                    .collect();
                [v[0].clone(), v[1].clone()]
            }
        };
        let items = n + face as usize;
        for (name, fpir, ds) in &thresholds {
            let mut row = Vec::new();
            let mut ratios = Vec::new();
            let mut bounds = String::new();
            for (gi, (&g, &d)) in galleries.iter().zip(ds).enumerate() {
                let xt = x_threshold(items, fusion::ln_p_from_decades(d));
                let q_lo = survival(&dist[0], xt, h);
                let q_hi = survival(&dist[1], xt, h);
                let q = 0.5 * (q_lo + q_hi);
                let obs = -(g * (-q).ln_1p()).exp_m1();
                let designed = fusion::fpir_at(d, g);
                row.push(format!("{obs:.2e} / {designed:.2e}"));
                ratios.push(format!("{:.2}", obs / designed));
                if gi == 2 {
                    bounds = format!("[{q_lo:.2e}, {q_hi:.2e}]");
                }
            }
            println!(
                "{}\t{name} (designed {fpir:.0e})\t{}\t{}\t{bounds}",
                label(n, face),
                row.join("\t"),
                ratios.join(" / ")
            );
        }
    }

    // Simulated galleries.
    println!("\n## simulated galleries (identity by identity; budget {budget:.0e} identity draws per cell)");
    println!("probe\tgallery\tprobes\tthreshold\tobserved FPIR [95 %]\tdesigned\thits");
    let mut sim_configs: Vec<(String, usize, bool, u32, u32)> = configs
        .iter()
        .map(|&(n, f)| (label(n, f), n, f, 1, 1))
        .collect();
    sim_configs.push((
        "1 finger at position 0 vs 10 gallery fingers".into(),
        1,
        false,
        10,
        1,
    ));
    sim_configs.push(("2 fingers, identity with 3 records".into(), 2, false, 1, 3));
    for (ci, (name, n, face, m, records)) in sim_configs.iter().enumerate() {
        for (gi, &g) in galleries.iter().enumerate() {
            if g > sim_max {
                continue;
            }
            let probes = ((budget / g) as usize).max(20);
            let items = n + *face as usize;
            // Per probe: the best identity's fused log p-value.
            let best: Vec<f64> = (0..probes)
                .into_par_iter()
                .map(|p| {
                    let mut rng =
                        Rng::new(seed ^ ((ci as u64) << 40) ^ ((gi as u64) << 32) ^ p as u64);
                    let mut best = 0.0f64;
                    let mut ev = Vec::with_capacity(items);
                    for _ in 0..g as usize {
                        let mut best_rec = 0.0f64;
                        for _ in 0..*records {
                            ev.clear();
                            for _ in 0..*n {
                                // The best of m impostor comparisons, counted as such.
                                let x = (0..*m)
                                    .map(|_| model.draw_finger(&mut rng))
                                    .fold(0.0, f64::max);
                                ev.push(fusion::Evidence::new(-x).best_of(*m));
                            }
                            if *face {
                                ev.push(fusion::Evidence::new(-model.draw_face(&mut rng)));
                            }
                            best_rec = best_rec.min(fusion::fuse(&ev));
                        }
                        best = best.min(fusion::best_of(best_rec, *records));
                    }
                    best
                })
                .collect();
            for (tname, _, ds) in &thresholds {
                let d = ds[gi];
                let lt = fusion::ln_p_from_decades(d);
                let k = best.iter().filter(|&&b| b <= lt).count();
                let (lo, hi) = wilson(k, probes);
                println!(
                    "{name}\t{g:.0e}\t{probes}\t{tname}\t{:.2e} [{lo:.1e}, {hi:.1e}]\t{:.2e}\t{k}",
                    k as f64 / probes as f64,
                    fusion::fpir_at(d, g)
                );
            }
        }
    }

    // Mated searches.
    println!("\n## mated searches: FNIR (mate below the threshold), genuine scores drawn independently per finger");
    println!(
        "probe\tduplicate FNIR at 1k / 10k / 100k / 1M\tpossible FNIR at 1k / 10k / 100k / 1M"
    );
    for &(n, face) in &configs {
        let trials = 200_000usize;
        let mut rng = Rng::new(seed ^ 0x5eed);
        let mut miss = [[0usize; 4]; 2];
        for _ in 0..trials {
            let mut ev: Vec<fusion::Evidence> = (0..n)
                .map(|_| {
                    fusion::Evidence::new(
                        -model.finger_genuine[rng.below(model.finger_genuine.len())],
                    )
                })
                .collect();
            if face {
                ev.push(fusion::Evidence::new(
                    -model.face_genuine[rng.below(model.face_genuine.len())],
                ));
            }
            let lp = fusion::fuse(&ev);
            for (k, (_, _, ds)) in thresholds.iter().enumerate() {
                for (gi, d) in ds.iter().enumerate() {
                    if lp > fusion::ln_p_from_decades(*d) {
                        miss[k][gi] += 1;
                    }
                }
            }
        }
        let pct = |m: &[usize; 4]| {
            m.iter()
                .map(|&k| format!("{:.2} %", 100.0 * k as f64 / trials as f64))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        println!("{}\t{}\t{}", label(n, face), pct(&miss[0]), pct(&miss[1]));
    }
}
