//! The evidence behind a candidate, kept per modality and per finger, and its view in the
//! enrollment and identify answers.
//!
//! [`crate::service::matching::Matcher::search`] builds one [`Detail`] per gallery record;
//! [`for_identity`] applies the correction for an identity with several records (the best of
//! `m`, [`fusion::best_of`]) before the decision thresholds. The arithmetic is in
//! [`crate::biometrics::fusion`]; docs/FUSION.md gives the method and the measured rates.

use crate::biometrics::fusion::{self, Evidence};
use serde::{Deserialize, Serialize};

/// The face comparison with one record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceEvidence {
    /// Cosine similarity of the two L2-normalised descriptors.
    pub cosine: f32,
    pub evidence: Evidence,
}

/// One probe finger's best comparison with one record's fingers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FingerEvidence {
    pub probe_position: u8,
    pub gallery_position: u8,
    /// The matcher's score, in `[0, 1]`.
    pub score: f32,
    /// `evidence.comparisons` is the number of the record's fingers this finger was compared
    /// with (all of them for position 0).
    pub evidence: Evidence,
}

/// Everything compared between the probe and one record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detail {
    pub face: Option<FaceEvidence>,
    pub fingers: Vec<FingerEvidence>,
    /// Records of the identity this candidate stands for (1 until [`for_identity`]).
    pub records: u32,
}

impl Detail {
    fn items(&self) -> Vec<Evidence> {
        self.face
            .iter()
            .map(|f| f.evidence)
            .chain(self.fingers.iter().map(|f| f.evidence))
            .collect()
    }

    /// Fused log p-value of this record alone (Fisher over every item).
    pub fn ln_p_record(&self) -> f64 {
        fusion::fuse(&self.items())
    }

    /// Fused log p-value of the identity: the record's, corrected for the best of `records`.
    pub fn ln_p(&self) -> f64 {
        fusion::best_of(self.ln_p_record(), self.records.max(1))
    }

    /// Fused log p-value of the fingers alone (for `finger_score`); `None` if none compared.
    pub fn ln_p_fingers(&self) -> Option<f64> {
        if self.fingers.is_empty() {
            return None;
        }
        let items: Vec<Evidence> = self.fingers.iter().map(|f| f.evidence).collect();
        Some(fusion::fuse(&items))
    }
}

/// The score shown for a log p-value ([`fusion::score_from_decades`]).
pub fn score_of(ln_p: f64) -> f64 {
    fusion::score_from_decades(fusion::decades(ln_p))
}

/// A candidate's evidence as the answer shows it (API.md v1.1 extension).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct EvidenceView {
    /// Decades of fused evidence, `−log10` of the probability that an impostor identity's
    /// evidence reaches this level. `score` is `decades / (decades + 4)`.
    pub decades: f64,
    /// Records of the identity searched (the fused value is corrected for the best of them).
    pub records: u32,
    pub face: Option<FaceEvidenceView>,
    pub fingers: Vec<FingerEvidenceView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct FaceEvidenceView {
    /// Cosine similarity of the face descriptors.
    pub cosine: f64,
    /// Calibrated false-match rate of this face comparison.
    pub fmr: f64,
    /// Decades of evidence after the weight.
    pub decades: f64,
    pub weight: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct FingerEvidenceView {
    pub probe_position: u8,
    pub gallery_position: u8,
    /// The matcher's score.
    pub score: f64,
    /// Calibrated false-match rate of one comparison at this score.
    pub fmr: f64,
    /// Gallery fingers this finger was compared with (the best counted).
    pub comparisons: u32,
    /// Decades of evidence after the best-of-`comparisons` correction and the weight.
    pub decades: f64,
    pub weight: f64,
}

impl From<&Detail> for EvidenceView {
    fn from(d: &Detail) -> EvidenceView {
        EvidenceView {
            decades: fusion::decades(d.ln_p()),
            records: d.records.max(1),
            face: d.face.map(|f| FaceEvidenceView {
                cosine: f64::from(f.cosine),
                fmr: f.evidence.ln_p.exp(),
                decades: f.evidence.decades(),
                weight: f.evidence.weight,
            }),
            fingers: d
                .fingers
                .iter()
                .map(|f| FingerEvidenceView {
                    probe_position: f.probe_position,
                    gallery_position: f.gallery_position,
                    score: f64::from(f.score),
                    fmr: f.evidence.ln_p.exp(),
                    comparisons: f.evidence.comparisons,
                    decades: f.evidence.decades(),
                    weight: f.evidence.weight,
                })
                .collect(),
        }
    }
}

/// The candidate `c` standing for an identity with `records` records in the gallery: its
/// fused value becomes that of the best of `records` ([`fusion::best_of`]), and the score with
/// it.
pub fn for_identity(
    mut c: crate::service::matching::Candidate,
    records: u32,
) -> crate::service::matching::Candidate {
    c.evidence.records = records.max(1);
    c.ln_p = c.evidence.ln_p();
    c.score = score_of(c.ln_p);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail() -> Detail {
        Detail {
            face: Some(FaceEvidence {
                cosine: 0.9,
                evidence: Evidence::new(-10.0),
            }),
            fingers: vec![FingerEvidence {
                probe_position: 0,
                gallery_position: 7,
                score: 0.2,
                evidence: Evidence::new(-30.0).best_of(2),
            }],
            records: 1,
        }
    }

    #[test]
    fn more_records_of_one_identity_weaken_its_evidence() {
        let mut d = detail();
        let one = d.ln_p();
        d.records = 5;
        let five = d.ln_p();
        assert!(five > one);
        assert!((five - one - 5f64.ln()).abs() < 1e-6);
    }

    #[test]
    fn the_view_keeps_every_item() {
        let d = detail();
        let v = EvidenceView::from(&d);
        assert_eq!(v.fingers.len(), 1);
        assert_eq!(v.fingers[0].comparisons, 2);
        assert!(v.face.is_some());
        // The finger's decades include its best-of-2 correction.
        assert!((v.fingers[0].decades - (30.0 - 2f64.ln()) / std::f64::consts::LN_10).abs() < 1e-9);
        assert!((v.decades - fusion::decades(d.ln_p_record())).abs() < 1e-12);
        assert!(d.ln_p_fingers().unwrap() > d.ln_p_record());
    }
}
