//! The finger calibration model of `finger::calib` (empirical knots, then a generalised Pareto
//! tail), fitted by maximum likelihood; shared by `finger_calibration` and `fpir`.
#![allow(dead_code)]

/// A calibration fit: the same model as `finger::calib` (knots, then a GPD tail).
pub struct Fit {
    pub n: usize,
    pub knots: Vec<(f32, f64)>,
    pub u: f32,
    pub ln_rate: f64,
    pub k: usize,
    pub sigma: f64,
    pub xi: f64,
    pub xi_hat: f64,
    pub sigma_hat: f64,
    pub xi_lo: f64,
    pub xi_hi: f64,
    /// (ξ, σ) at the two ends of the 95 % interval.
    pub ends: [(f64, f64); 2],
}

/// GPD log-likelihood of exceedances `y` at (σ, ξ).
pub fn gpd_ll(y: &[f64], sigma: f64, xi: f64) -> f64 {
    if sigma <= 0.0 {
        return f64::NEG_INFINITY;
    }
    let k = y.len() as f64;
    if xi.abs() < 1e-9 {
        return -k * sigma.ln() - y.iter().sum::<f64>() / sigma;
    }
    let mut s = 0.0;
    for &v in y {
        let t = 1.0 + xi * v / sigma;
        if t <= 0.0 {
            return f64::NEG_INFINITY;
        }
        s += t.ln();
    }
    -k * sigma.ln() - (1.0 + 1.0 / xi) * s
}

/// Best σ for a fixed ξ (golden section on ln σ) and the log-likelihood there.
pub fn profile(y: &[f64], xi: f64) -> (f64, f64) {
    let ymax = y.iter().cloned().fold(0.0, f64::max);
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    if xi.abs() < 1e-9 {
        return (mean, gpd_ll(y, mean, 0.0));
    }
    let lo = if xi < 0.0 {
        (-xi * ymax * (1.0 + 1e-9)).max(1e-9)
    } else {
        1e-9
    };
    let (mut a, mut b) = (lo.ln(), (mean * 100.0 + ymax).ln());
    let g = 0.618_033_988_749_895;
    let f = |ls: f64| gpd_ll(y, ls.exp(), xi);
    let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..60 {
        if fc > fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = f(d);
        }
    }
    let ls = 0.5 * (a + b);
    (ls.exp(), f(ls))
}

pub fn ln_tail(y: f64, sigma: f64, xi: f64) -> f64 {
    if xi.abs() < 1e-12 {
        -y / sigma
    } else {
        let t = 1.0 + xi * y / sigma;
        if t <= 0.0 {
            f64::NEG_INFINITY
        } else {
            -t.ln() / xi
        }
    }
}

pub fn fit(scores: &[f32], tail: f64) -> Fit {
    let mut s: Vec<f32> = scores.to_vec();
    s.sort_by(|a, b| b.total_cmp(a)); // descending
    let n = s.len();
    let k = ((n as f64 * tail).round() as usize).clamp(50, n - 1);
    let u = s[k - 1];
    let count_ge = |t: f32| s.partition_point(|&v| v >= t);
    let ln_rate = (count_ge(u) as f64 / n as f64).ln();
    let smin = s[n - 1];
    let mut knots = vec![(smin, 0.0)];
    let steps = 48;
    for i in 1..steps {
        let t = smin + (u - smin) * i as f32 / steps as f32;
        let l = (count_ge(t) as f64 / n as f64).ln();
        if t > knots.last().unwrap().0 {
            knots.push((t, l.min(knots.last().unwrap().1)));
        }
    }
    knots.push((u, ln_rate.min(knots.last().unwrap().1)));
    let y: Vec<f64> = s[..count_ge(u)].iter().map(|&v| f64::from(v - u)).collect();
    // Profile likelihood over ξ: a coarse grid, then a fine one around the best.
    let mut prof: Vec<(f64, f64, f64)> = Vec::new();
    let mut best = (f64::NEG_INFINITY, 0.0, 0.0);
    for i in 0..=30 {
        let xi = -0.5 + i as f64 * 0.05;
        let (sg, ll) = profile(&y, xi);
        if ll > best.0 {
            best = (ll, xi, sg);
        }
    }
    let centre = best.1;
    for i in -30..=30 {
        let xi = centre + i as f64 * 0.005;
        let (sg, ll) = profile(&y, xi);
        prof.push((xi, sg, ll));
        if ll > best.0 {
            best = (ll, xi, sg);
        }
    }
    let inside: Vec<&(f64, f64, f64)> = prof
        .iter()
        .filter(|p| 2.0 * (best.0 - p.2) <= 3.841)
        .collect();
    let lo = inside
        .first()
        .map(|p| (p.0, p.1))
        .unwrap_or((best.1, best.2));
    let hi = inside
        .last()
        .map(|p| (p.0, p.1))
        .unwrap_or((best.1, best.2));
    let xi = best.1.max(0.0);
    let sigma = if best.1 >= 0.0 {
        best.2
    } else {
        profile(&y, 0.0).0
    };
    Fit {
        n,
        knots,
        u,
        ln_rate,
        k: y.len(),
        sigma,
        xi,
        xi_hat: best.1,
        sigma_hat: best.2,
        xi_lo: lo.0,
        xi_hi: hi.0,
        ends: [lo, hi],
    }
}

impl Fit {
    pub fn ln_fmr(&self, score: f32) -> f64 {
        self.ln_fmr_with(score, self.sigma, self.xi)
    }

    pub fn ln_fmr_with(&self, score: f32, sigma: f64, xi: f64) -> f64 {
        if score.is_nan() || score <= self.knots[0].0 {
            return 0.0;
        }
        if score <= self.u {
            for w in self.knots.windows(2) {
                let ((s0, l0), (s1, l1)) = (w[0], w[1]);
                if score <= s1 {
                    let t = f64::from(score - s0) / f64::from(s1 - s0);
                    return (l0 + t * (l1 - l0)).min(0.0);
                }
            }
        }
        (self.ln_rate + ln_tail(f64::from(score - self.u), sigma, xi)).min(0.0)
    }

    /// Smallest score with ln FMR ≤ `l` (bisection; 1 if none up to 1).
    pub fn score_at(&self, l: f64) -> f32 {
        self.score_at_with(l, self.sigma, self.xi)
    }

    pub fn score_at_with(&self, l: f64, sigma: f64, xi: f64) -> f32 {
        let (mut lo, mut hi) = (0.0f32, 2.0f32);
        if self.ln_fmr_with(hi, sigma, xi) > l {
            return f32::INFINITY;
        }
        for _ in 0..50 {
            let mid = 0.5 * (lo + hi);
            if self.ln_fmr_with(mid, sigma, xi) <= l {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    }

    pub fn describe(&self) -> String {
        format!(
            "n {} impostors; tail above u = {:.4} (top {} = {:.2} %): GPD xi_hat {:.3} (95 % profile CI {:.3} .. {:.3}), sigma_hat {:.5}; used xi {:.3} sigma {:.5}",
            self.n,
            self.u,
            self.k,
            100.0 * self.k as f64 / self.n as f64,
            self.xi_hat,
            self.xi_lo,
            self.xi_hi,
            self.sigma_hat,
            self.xi,
            self.sigma
        )
    }
}
