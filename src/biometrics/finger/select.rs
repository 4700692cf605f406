//! Which minutiae of a view the matcher uses, and in what coordinate scale.
//!
//! At most [`super::mcc::MAX_MINUTIAE`] minutiae per finger are used. Keeping "the first N by
//! quality" is wrong whenever qualities are equal or absent (many scanners report one value, or
//! 0 = "not reported"): a stable sort then keeps them in file order, which for most extractors
//! is an order by position, and whole regions of the print are cut away. Instead:
//!
//! * minutiae of strictly higher quality than the quality at the cut are always kept (quality is
//!   used only where it separates minutiae);
//! * the remaining places go to the minutiae *at* the cut quality nearest the centre of the
//!   print (the centroid of all its minutiae): that is where two impressions of a finger
//!   overlap and where extraction is most reliable; the periphery, where spurious minutiae and
//!   non-overlapping area are, goes first. With one quality value for all minutiae this is a
//!   purely spatial choice that keeps one connected central region (not a cut by file order).
//!
//! Chosen on the FVC2002 DB1_B fixture prints (MINDTCT minutiae, `tests/fixtures/fingers/fvc`,
//! genuine pairs cut to 30/35/40 of ~50 minutiae, mean genuine score; MINDTCT qualities
//! 0.283/0.285/0.291, first N in file order 0.233/0.240/0.251): centre-first 0.257/0.271/0.290;
//! spatially uniform alternatives were worse — farthest-point sampling 0.135/0.178/0.213,
//! greedy removal of the most crowded minutia 0.181/0.219/0.241.
//!
//! The result does not depend on the order of the input (ties are broken by position and
//! angle).

use super::Minutia;

/// Resolution the matcher's distances are expressed in.
pub const MATCHER_DPI: u16 = 500;
/// Declared resolutions outside this range are treated as unknown (taken as 500 dpi): records
/// carry garbage here more often than real 200 or 2000 dpi scans.
pub const PLAUSIBLE_DPI: std::ops::RangeInclusive<u16> = 250..=1000;

/// Factor from the view's pixels to 500-dpi pixels (1 when the resolution is unknown or
/// implausible).
pub fn scale_to_matcher(resolution_dpi: u16) -> f32 {
    if PLAUSIBLE_DPI.contains(&resolution_dpi) {
        MATCHER_DPI as f32 / resolution_dpi as f32
    } else {
        1.0
    }
}

/// Canonical order of minutiae (position, then angle, then quality): makes selection
/// independent of the input order.
fn canonical(ms: &mut [Minutia]) {
    ms.sort_by(|a, b| {
        a.x.total_cmp(&b.x)
            .then(a.y.total_cmp(&b.y))
            .then(a.angle.total_cmp(&b.angle))
            .then(a.quality.cmp(&b.quality))
    });
}

/// At most `cap` minutiae of `ms`: higher quality first where qualities differ, spatially
/// nearest the centre of the print among equal qualities.
pub fn select_minutiae(ms: &[Minutia], cap: usize) -> Vec<Minutia> {
    let mut all: Vec<Minutia> = ms.to_vec();
    canonical(&mut all);
    if all.len() <= cap {
        return all;
    }
    // Quality at the cut: the cap-th highest.
    let mut qs: Vec<u8> = all.iter().map(|m| m.quality).collect();
    qs.sort_unstable_by(|a, b| b.cmp(a));
    let cut = qs[cap - 1];
    let mut kept: Vec<Minutia> = all.iter().filter(|m| m.quality > cut).copied().collect();
    let tied: Vec<Minutia> = all.iter().filter(|m| m.quality == cut).copied().collect();
    let need = cap - kept.len();
    kept.extend(centre_first(&kept, &tied, need));
    canonical(&mut kept);
    kept
}

/// The `k` candidates nearest the centroid of all the view's minutiae (`fixed` and `cand`);
/// ties by canonical order.
fn centre_first(fixed: &[Minutia], cand: &[Minutia], k: usize) -> Vec<Minutia> {
    let n = (fixed.len() + cand.len()) as f32;
    let cx = fixed.iter().chain(cand).map(|m| m.x).sum::<f32>() / n;
    let cy = fixed.iter().chain(cand).map(|m| m.y).sum::<f32>() / n;
    let d2 = |m: &Minutia| (m.x - cx).powi(2) + (m.y - cy).powi(2);
    let mut v = cand.to_vec();
    // Stable: equal distances keep the canonical order.
    v.sort_by(|a, b| d2(a).total_cmp(&d2(b)));
    v.truncate(k);
    v
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::biometrics::finger::MinutiaKind;

    fn m(x: f32, y: f32, q: u8) -> Minutia {
        Minutia {
            x,
            y,
            angle: 1.0,
            kind: MinutiaKind::Ending,
            quality: q,
        }
    }

    /// A 20×10 grid of minutiae with one quality: the kept half is the central region, with
    /// both halves of the print in it, not the first columns in file order.
    #[test]
    fn equal_qualities_are_thinned_spatially() {
        let grid: Vec<Minutia> = (0..20)
            .flat_map(|i| (0..10).map(move |j| m(i as f32 * 15.0, j as f32 * 15.0, 0)))
            .collect();
        let kept = select_minutiae(&grid, 100);
        assert_eq!(kept.len(), 100);
        let right = kept.iter().filter(|m| m.x >= 150.0).count();
        assert!((35..=65).contains(&right), "right half keeps {right}");
        let bottom = kept.iter().filter(|m| m.y >= 75.0).count();
        assert!((35..=65).contains(&bottom), "bottom half keeps {bottom}");
    }

    #[test]
    fn higher_quality_is_always_kept_and_order_does_not_matter() {
        let mut ms: Vec<Minutia> = (0..120)
            .map(|i| m((i * 7 % 300) as f32, (i * 13 % 280) as f32, 40))
            .collect();
        for k in 0..10 {
            ms[k * 11].quality = 90;
        }
        let kept = select_minutiae(&ms, 96);
        assert_eq!(kept.len(), 96);
        assert_eq!(kept.iter().filter(|m| m.quality == 90).count(), 10);
        let mut rev = ms.clone();
        rev.reverse();
        assert_eq!(select_minutiae(&rev, 96), kept);
        assert_eq!(select_minutiae(&ms[..50], 96).len(), 50);
    }

    #[test]
    fn resolution_scale() {
        assert_eq!(scale_to_matcher(500), 1.0);
        assert!((scale_to_matcher(569) - 0.8787).abs() < 1e-3);
        assert_eq!(scale_to_matcher(0), 1.0);
        assert_eq!(scale_to_matcher(5000), 1.0);
    }

    /// The fixture prints (MINDTCT minutiae of FVC2002 DB1_B, 5 fingers × 3 impressions) as
    /// views, with MINDTCT's qualities.
    pub(crate) fn fixture_views() -> Vec<(String, crate::biometrics::finger::FingerView)> {
        let dir =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fingers/fvc");
        let mut out = Vec::new();
        for f in 101..=105 {
            for i in 1..=3 {
                let text = std::fs::read_to_string(dir.join(format!("{f}_{i}.xyt"))).unwrap();
                let minutiae = text
                    .lines()
                    .map(|l| {
                        let v: Vec<i32> =
                            l.split_whitespace().map(|t| t.parse().unwrap()).collect();
                        Minutia {
                            x: v[0] as f32,
                            y: (373 - v[1]) as f32,
                            angle: (((v[2] + 180) % 360) as f32).to_radians(),
                            kind: MinutiaKind::Other,
                            quality: v[3] as u8,
                        }
                    })
                    .collect();
                let view = crate::biometrics::finger::FingerView {
                    position: 0,
                    width: 388,
                    height: 374,
                    resolution_dpi: 500,
                    quality: 0,
                    minutiae,
                };
                out.push((f.to_string(), view));
            }
        }
        out
    }

    /// Mean genuine score of the fixture pairs when each print is cut to `cap` minutiae after
    /// `prep` has rewritten its minutiae.
    fn mean_genuine(cap: usize, prep: impl Fn(&mut Vec<Minutia>)) -> f32 {
        use crate::biometrics::finger::{compare, FingerFeatures};
        let views = fixture_views();
        let feats: Vec<(String, FingerFeatures)> = views
            .into_iter()
            .map(|(f, mut v)| {
                prep(&mut v.minutiae);
                (f, FingerFeatures::extract_capped(&v, cap))
            })
            .collect();
        let (mut sum, mut n) = (0.0, 0);
        for i in 0..feats.len() {
            for j in i + 1..feats.len() {
                if feats[i].0 == feats[j].0 {
                    sum += compare(&feats[i].1, &feats[j].1);
                    n += 1;
                }
            }
        }
        sum / n as f32
    }

    /// The same minutiae with one constant quality (a scanner that reports none) score about as
    /// well as with MINDTCT's own qualities when the cap bites (30 of ~50 minutiae kept), and
    /// better than keeping the first 30 in file order (MINDTCT writes them by x).
    #[test]
    fn constant_quality_scores_like_reported_quality() {
        let reported = mean_genuine(30, |_| {});
        let constant = mean_genuine(30, |ms| ms.iter_mut().for_each(|m| m.quality = 0));
        let file_order = mean_genuine(30, |ms| ms.truncate(30));
        let all = mean_genuine(255, |_| {});
        assert!(
            constant >= 0.85 * reported,
            "constant {constant:.3} vs reported {reported:.3}"
        );
        assert!(
            constant >= 1.05 * file_order,
            "constant {constant:.3} vs file order {file_order:.3}"
        );
        assert!(
            reported <= all * 1.05,
            "reported {reported:.3} vs all {all:.3}"
        );
    }
}
