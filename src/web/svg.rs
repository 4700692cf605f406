//! Drawings, as inline SVG (styled by classes from the stylesheet; no inline style, so the
//! Content-Security-Policy needs no `unsafe-inline`).
//!
//! Finger pairs follow SourceAFIS's transparency drawings: each minutia a small circle with
//! a stroke along its direction, endings and bifurcations in two colours, and the minutiae
//! the alignment paired joined by lines between the two prints drawn side by side.

use crate::service::case_evidence::{EvidenceMinutia, FingerPairEvidence};
use maud::{html, Markup};

/// Side of one print's square, in SVG units.
const PRINT: f32 = 300.0;
const GAP: f32 = 24.0;
const PAD: f32 = 14.0;
const MARK_R: f32 = 4.0;
const STROKE: f32 = 12.0;

/// Maps a print's minutiae into its square: uniform scale, centred.
struct Fit {
    x0: f32,
    y0: f32,
    s: f32,
    ox: f32,
    oy: f32,
}

impl Fit {
    fn new(ms: &[EvidenceMinutia], offset_x: f32) -> Fit {
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for m in ms {
            x0 = x0.min(m.x);
            y0 = y0.min(m.y);
            x1 = x1.max(m.x);
            y1 = y1.max(m.y);
        }
        if ms.is_empty() {
            (x0, y0, x1, y1) = (0.0, 0.0, 1.0, 1.0);
        }
        let span = (x1 - x0).max(y1 - y0).max(1.0);
        let s = (PRINT - 2.0 * PAD) / span;
        Fit {
            x0,
            y0,
            s,
            ox: offset_x + PAD + ((PRINT - 2.0 * PAD) - (x1 - x0) * s) / 2.0,
            oy: PAD + ((PRINT - 2.0 * PAD) - (y1 - y0) * s) / 2.0,
        }
    }
    fn at(&self, m: &EvidenceMinutia) -> (f32, f32) {
        (
            self.ox + (m.x - self.x0) * self.s,
            self.oy + (m.y - self.y0) * self.s,
        )
    }
}

fn r1(v: f32) -> String {
    format!("{:.1}", v)
}

fn kind_class(k: &str) -> &'static str {
    match k {
        "ending" => "m-end",
        "bifurcation" => "m-bif",
        _ => "m-other",
    }
}

fn marks(ms: &[EvidenceMinutia], fit: &Fit, paired: &[bool]) -> Markup {
    html! {
        @for (i, m) in ms.iter().enumerate() {
            @let (x, y) = fit.at(m);
            @let a = m.angle_deg.to_radians();
            // ISO convention: counter-clockwise as seen, y down.
            @let (dx, dy) = (a.cos() * STROKE, -a.sin() * STROKE);
            @let cls = format!("{}{}", kind_class(&m.kind), if paired.get(i).copied().unwrap_or(false) { " m-paired" } else { "" });
            g class=(cls) {
                line x1=(r1(x)) y1=(r1(y)) x2=(r1(x + dx)) y2=(r1(y + dy)) {}
                circle cx=(r1(x)) cy=(r1(y)) r=(MARK_R) {}
            }
        }
    }
}

/// One compared finger pair: print A (the earlier record) left, print B right.
pub fn finger_pair(p: &FingerPairEvidence, label: &str) -> Markup {
    let fa = Fit::new(&p.minutiae_a, 0.0);
    let fb = Fit::new(&p.minutiae_b, PRINT + GAP);
    let mut pa = vec![false; p.minutiae_a.len()];
    let mut pb = vec![false; p.minutiae_b.len()];
    for &[i, j] in &p.pairs {
        if let Some(v) = pa.get_mut(i) {
            *v = true;
        }
        if let Some(v) = pb.get_mut(j) {
            *v = true;
        }
    }
    let w = 2.0 * PRINT + GAP;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" class="finger-pair" viewBox=(format!("0 0 {w} {PRINT}"))
            role="img" aria-label=(label) {
            title { (label) }
            rect class="print" x="0" y="0" width=(PRINT) height=(PRINT) rx="8" {}
            rect class="print" x=(PRINT + GAP) y="0" width=(PRINT) height=(PRINT) rx="8" {}
            g class="pairs" {
                @for &[i, j] in &p.pairs {
                    @if let (Some(a), Some(b)) = (p.minutiae_a.get(i), p.minutiae_b.get(j)) {
                        @let (x1, y1) = fa.at(a);
                        @let (x2, y2) = fb.at(b);
                        line x1=(r1(x1)) y1=(r1(y1)) x2=(r1(x2)) y2=(r1(y2)) {}
                    }
                }
            }
            (marks(&p.minutiae_a, &fa, &pa))
            (marks(&p.minutiae_b, &fb, &pb))
        }
    }
}

/// A horizontal bar for a value in `[0, 1]`.
pub fn bar(value: f64, label: &str) -> Markup {
    let v = value.clamp(0.0, 1.0);
    html! {
        svg xmlns="http://www.w3.org/2000/svg" class="bar" viewBox="0 0 200 12" preserveAspectRatio="none"
            role="img" aria-label=(label) {
            rect class="bar-bg" x="0" y="0" width="200" height="12" rx="3" {}
            rect class="bar-fg" x="0" y="0" width=(format!("{:.1}", v * 200.0)) height="12" rx="3" {}
        }
    }
}

/// A horizontal bar chart: one bar per (label, count); `None` is a suppressed small cell,
/// drawn empty and labelled `<5`.
pub fn bar_chart(rows: &[(String, Option<i64>)], label: &str) -> Markup {
    let max = rows.iter().filter_map(|r| r.1).max().unwrap_or(1).max(1) as f64;
    let (lw, bw, rh) = (140.0, 220.0, 22.0);
    let h = rh * rows.len().max(1) as f64 + 8.0;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" data-testid="chart" class="chart"
            viewBox=(format!("0 0 {} {h}", lw + bw + 60.0)) role="img" aria-label=(label) {
            title { (label) }
            @for (i, (name, n)) in rows.iter().enumerate() {
                @let y = 4.0 + i as f64 * rh;
                text class="chart-label" x=(lw - 6.0) y=(y + 15.0) text-anchor="end" { (name) }
                rect class="bar-bg" x=(lw) y=(y + 3.0) width=(bw) height=(rh - 8.0) {}
                rect class="bar-fg" x=(lw) y=(y + 3.0) width=(format!("{:.1}", n.unwrap_or(0) as f64 / max * bw)) height=(rh - 8.0) {}
                text class="chart-value" x=(lw + bw + 6.0) y=(y + 15.0) {
                    @match n {
                        Some(n) => { (n) }
                        None => { "<5" }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(x: f32, y: f32, kind: &str) -> EvidenceMinutia {
        EvidenceMinutia {
            x,
            y,
            angle_deg: 90.0,
            kind: kind.into(),
        }
    }

    #[test]
    fn a_pair_draws_every_minutia_and_every_pair() {
        let p = FingerPairEvidence {
            probe_position: 2,
            gallery_position: 2,
            score: 0.3,
            fmr: 1e-4,
            minutiae_a: vec![m(10.0, 10.0, "ending"), m(100.0, 50.0, "bifurcation")],
            minutiae_b: vec![
                m(20.0, 20.0, "ending"),
                m(90.0, 60.0, "bifurcation"),
                m(5.0, 5.0, "other"),
            ],
            pairs: vec![[0, 0], [1, 1]],
        };
        let s = finger_pair(&p, "x").into_string();
        assert_eq!(s.matches("<circle").count(), 5);
        assert_eq!(s.matches("class=\"m-end").count(), 2);
        assert_eq!(s.matches("class=\"m-bif").count(), 2);
        assert_eq!(s.matches("m-paired").count(), 4);
        // 2 pair lines + 5 direction strokes.
        assert_eq!(s.matches("<line").count(), 7);
        assert!(!s.contains("style="));
        // A minutia at 90° points up: its stroke ends above it.
        let chart = bar_chart(&[("VEN".into(), Some(10)), ("HTI".into(), None)], "c").into_string();
        assert!(chart.contains("&lt;5"));
        assert!(chart.contains("data-testid=\"chart\""));
    }
}
