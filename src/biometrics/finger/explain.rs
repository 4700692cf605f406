//! Which minutiae of two prints correspond: the pairs drawn on the review console.
//!
//! The score comes from [`super::compare`]; this module only explains it. It redoes the
//! matcher's global-consolidation pairing on the public minutiae: a rigid alignment of all
//! minutiae of A onto B (refined by least squares on the minutiae it brings together), then a
//! one-to-one pairing in which each A minutia claims its nearest compatible B minutia (within
//! [`PAIR_DIST`] pixels and [`PAIR_ANGLE_DEG`] degrees of direction) and a B minutia claimed
//! twice keeps the nearer claimant. The tolerances are the matcher's (`mcc.rs`, `GC_DIST` and
//! `GC_ANGLE`).
//!
//! One step differs: the matcher takes its candidate alignments from the three best pairs of
//! its cylinder relaxation, which is internal to it. Here every (A, B) minutia pair votes for
//! the alignment that maps one onto the other (rotation in 32 steps per turn, translation in
//! 16-pixel cells); the members of the eight best-voted cells are tried as anchors and the one
//! that brings most minutiae within tolerance wins, as in the matcher. On a genuine pair both
//! find the same alignment; on an impostor pair both find few pairs.

use super::Minutia;
use std::collections::HashMap;
use std::f32::consts::TAU;

/// Largest distance (pixels) between paired minutiae after alignment.
pub const PAIR_DIST: f32 = 15.0;
/// Largest direction difference (degrees) between paired minutiae after alignment.
pub const PAIR_ANGLE_DEG: f32 = 30.0;
const ROT_BINS: f32 = 32.0;
const CELL: f32 = 16.0;
const TOP_CELLS: usize = 8;

/// A vote cell: rotation step, translation cell in x and in y.
type Cell = (i32, i32, i32);

/// A point of the internal frame: x right, y up, direction in radians.
type P = (f32, f32, f32);

#[derive(Clone, Copy, Debug)]
struct Rigid {
    c: f32,
    s: f32,
    rot: f32,
    tx: f32,
    ty: f32,
}

impl Rigid {
    fn from_pair(p: P, q: P) -> Rigid {
        let rot = q.2 - p.2;
        let (s, c) = rot.sin_cos();
        Rigid {
            c,
            s,
            rot,
            tx: q.0 - (c * p.0 - s * p.1),
            ty: q.1 - (s * p.0 + c * p.1),
        }
    }
    fn apply(&self, p: P) -> P {
        (
            self.c * p.0 - self.s * p.1 + self.tx,
            self.s * p.0 + self.c * p.1 + self.ty,
            p.2 + self.rot,
        )
    }
}

fn frame(m: &[Minutia]) -> Vec<P> {
    // The matcher's internal frame flips y so that angles are counter-clockwise.
    m.iter().map(|m| (m.x, -m.y, m.angle)).collect()
}

fn angle_diff(a: f32, b: f32) -> f32 {
    let d = (a - b).rem_euclid(TAU);
    d.min(TAU - d)
}

fn compatible(p: P, q: P) -> Option<f32> {
    let (dx, dy) = (p.0 - q.0, p.1 - q.1);
    let d2 = dx * dx + dy * dy;
    (d2 <= PAIR_DIST * PAIR_DIST && angle_diff(p.2, q.2) <= PAIR_ANGLE_DEG.to_radians())
        .then_some(d2)
}

/// One-to-one pairs under `t` (A index, B index), ordered by A index.
fn pair(ga: &[P], gb: &[P], t: &Rigid) -> Vec<(usize, usize)> {
    let mut claim = vec![(f32::INFINITY, usize::MAX); gb.len()];
    for (i, &p) in ga.iter().enumerate() {
        let p = t.apply(p);
        let best = gb
            .iter()
            .enumerate()
            .filter_map(|(j, &q)| compatible(p, q).map(|d| (d, j)))
            .min_by(|x, y| x.0.total_cmp(&y.0));
        if let Some((d, j)) = best {
            if d < claim[j].0 {
                claim[j] = (d, i);
            }
        }
    }
    let mut out: Vec<(usize, usize)> = claim
        .iter()
        .enumerate()
        .filter(|(_, c)| c.1 != usize::MAX)
        .map(|(j, c)| (c.1, j))
        .collect();
    out.sort_unstable();
    out
}

/// A minutiae that land near some compatible B minutia under `t` (not one-to-one).
fn near(ga: &[P], gb: &[P], t: &Rigid) -> usize {
    ga.iter()
        .filter(|&&p| {
            let p = t.apply(p);
            gb.iter().any(|&q| compatible(p, q).is_some())
        })
        .count()
}

/// Least-squares rigid transform (2-D Procrustes) of paired points.
fn fit(ga: &[P], gb: &[P], pairs: &[(usize, usize)]) -> Rigid {
    let m = pairs.len() as f32;
    let (mut ax, mut ay, mut bx, mut by) = (0f32, 0f32, 0f32, 0f32);
    for &(i, j) in pairs {
        ax += ga[i].0;
        ay += ga[i].1;
        bx += gb[j].0;
        by += gb[j].1;
    }
    let (ax, ay, bx, by) = (ax / m, ay / m, bx / m, by / m);
    let (mut dot, mut cross) = (0f32, 0f32);
    for &(i, j) in pairs {
        let (x, y, u, v) = (ga[i].0 - ax, ga[i].1 - ay, gb[j].0 - bx, gb[j].1 - by);
        dot += x * u + y * v;
        cross += x * v - y * u;
    }
    let th = cross.atan2(dot);
    let (s, c) = th.sin_cos();
    Rigid {
        c,
        s,
        rot: th,
        tx: bx - (c * ax - s * ay),
        ty: by - (s * ax + c * ay),
    }
}

/// The minutiae of `a` and `b` that the alignment pairs, as `(index in a, index in b)`,
/// ordered by the index in `a`. Empty when either print has no minutiae.
pub fn aligned_pairs(a: &[Minutia], b: &[Minutia]) -> Vec<(usize, usize)> {
    if a.is_empty() || b.is_empty() {
        return vec![];
    }
    let (ga, gb) = (frame(a), frame(b));
    // Vote: every pair of minutiae proposes the alignment mapping one onto the other.
    let mut cells: HashMap<Cell, Vec<(usize, usize)>> = HashMap::new();
    for (i, &p) in ga.iter().enumerate() {
        for (j, &q) in gb.iter().enumerate() {
            let t = Rigid::from_pair(p, q);
            let r = (t.rot.rem_euclid(TAU) / TAU * ROT_BINS) as i32 % ROT_BINS as i32;
            let key = (
                r,
                (t.tx / CELL).floor() as i32,
                (t.ty / CELL).floor() as i32,
            );
            cells.entry(key).or_default().push((i, j));
        }
    }
    let mut ranked: Vec<(&Cell, &Vec<(usize, usize)>)> = cells.iter().collect();
    ranked.sort_by(|x, y| y.1.len().cmp(&x.1.len()).then(x.0.cmp(y.0)));
    let mut best: Option<(usize, Rigid)> = None;
    for (_, members) in ranked.into_iter().take(TOP_CELLS) {
        for &(i, j) in members {
            let t = Rigid::from_pair(ga[i], gb[j]);
            let n = near(&ga, &gb, &t);
            if best.is_none_or(|(bn, _)| n > bn) {
                best = Some((n, t));
            }
        }
    }
    let Some((n, mut t)) = best else {
        return vec![];
    };
    if n >= 3 {
        let first = pair(&ga, &gb, &t);
        if first.len() >= 3 {
            t = fit(&ga, &gb, &first);
        }
    }
    pair(&ga, &gb, &t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::biometrics::finger::synthetic::{SyntheticConfig, SyntheticGenerator};
    use crate::biometrics::finger::MinutiaKind;

    fn moved(m: &[Minutia], deg: f32, dx: f32, dy: f32) -> Vec<Minutia> {
        let (s, c) = deg.to_radians().sin_cos();
        m.iter()
            .map(|m| {
                let (x, y) = (m.x - 250.0, m.y - 250.0);
                Minutia {
                    // Image y is down: a counter-clockwise turn on screen.
                    x: x * c + y * s + 250.0 + dx,
                    y: -x * s + y * c + 250.0 + dy,
                    angle: (m.angle + deg.to_radians()).rem_euclid(TAU),
                    ..*m
                }
            })
            .collect()
    }

    #[test]
    fn a_moved_copy_pairs_every_minutia_with_itself() {
        let mut g = SyntheticGenerator::new(5, SyntheticConfig::default());
        let master = g.master();
        let v = g.render(&master, &Default::default());
        let b = moved(&v.minutiae, 25.0, 30.0, -12.0);
        let pairs = aligned_pairs(&v.minutiae, &b);
        assert_eq!(pairs.len(), v.minutiae.len());
        assert!(pairs.iter().all(|(i, j)| i == j));
    }

    #[test]
    fn impressions_pair_far_more_than_different_fingers() {
        let mut g = SyntheticGenerator::new(9, SyntheticConfig::default());
        let m = g.master();
        let a = g.render(&m, &Default::default());
        let b = g.render(&m, &Default::default());
        let other = g.master();
        let o = g.render(&other, &Default::default());
        let genuine = aligned_pairs(&a.minutiae, &b.minutiae).len();
        let impostor = aligned_pairs(&a.minutiae, &o.minutiae).len();
        assert!(genuine >= 2 * impostor.max(1), "{genuine} vs {impostor}");
        // One-to-one.
        let p = aligned_pairs(&a.minutiae, &b.minutiae);
        let mut bs: Vec<usize> = p.iter().map(|x| x.1).collect();
        bs.sort_unstable();
        bs.dedup();
        assert_eq!(bs.len(), p.len());
    }

    #[test]
    fn empty_prints_pair_nothing() {
        let one = [Minutia {
            x: 1.0,
            y: 1.0,
            angle: 0.0,
            kind: MinutiaKind::Ending,
            quality: 0,
        }];
        assert!(aligned_pairs(&[], &one).is_empty());
        assert!(aligned_pairs(&one, &[]).is_empty());
        assert_eq!(aligned_pairs(&one, &one), vec![(0, 0)]);
    }
}
