//! Trafficking and smuggling indicators: pure rules over facts the service hands them.
//!
//! This module reads no database and knows nothing of the service. `service::alerting`
//! gathers the facts (records, declared companions, who is one person), calls these rules
//! inside its transaction, and stores what they raise. Each rule returns a [`Raised`] alert
//! with a stable code, a severity, a human explanation that names no personal data, the
//! records that are its evidence, and an *evidence digest*: the same evidence never raises the
//! same alert twice, while new evidence (a fourth person on a shared phone) raises a new one.
//!
//! **One person.** Every rule that reasons about "one person" takes it from
//! [`Rec::person`]: the *biometric identity* of the record — records confirmed as one person,
//! plus records linked by a biometric `duplicate` that no investigator has decided to be
//! different people. The service computes it and says which match cases it rests on.
//!
//! Definitions (thresholds from [`Thresholds`], configurable):
//! * `documents_held_by_other` / `travel_debt` — declared at enrollment (protection flags).
//! * `unaccompanied_minor` — declared, or a minor with no parent, guardian, sibling, spouse or
//!   other relative among the companions declared by or naming them.
//! * `document_reuse` — one document number (blind index) on records of different people.
//! * `shared_phone` — one phone (blind index) on at least `shared_phone_people` people that
//!   are not declared companions of each other.
//! * `adult_with_many_minors` — an adult registered with at least `adult_minors` different
//!   minors who are not declared their children, wards or siblings.
//! * `minor_with_many_adults` — a minor registered with at least `minor_adults` different
//!   adults.
//! * `repeat_crossing` — one person enrolled at least `repeat_crossings` times within
//!   `repeat_window_days`: a guide's pattern.
//! * `identity_change` — records of one person whose name, date of birth, sex or nationality
//!   disagree (the EU interoperability "red link").
//! * `age_inconsistency` — records of one person whose declared ages differ from the passage
//!   of time by more than `age_tolerance_years`, crossing the line between minor and adult.

pub mod journey;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// Thresholds of the indicators, from configuration.
#[derive(Debug, Clone)]
pub struct Thresholds {
    pub shared_phone_people: usize,
    pub adult_minors: usize,
    pub minor_adults: usize,
    pub repeat_crossings: usize,
    pub repeat_window_days: i64,
    pub age_tolerance_years: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            shared_phone_people: 3,
            adult_minors: 3,
            minor_adults: 3,
            repeat_crossings: 3,
            repeat_window_days: 90,
            age_tolerance_years: 2,
        }
    }
}

const FAMILY: [&str; 5] = ["parent", "guardian", "sibling", "spouse", "other_relative"];
const CHILD_LINKS: [&str; 3] = ["parent", "guardian", "sibling"];

/// One record as the rules see it.
#[derive(Debug, Clone)]
pub struct Rec {
    pub id: String,
    /// The person (biometric identity) the record belongs to: equal for records of one person.
    pub person: String,
    pub captured_at: NaiveDateTime,
    /// Commit order, to break ties between equal capture times.
    pub seq: i64,
    pub site: String,
    pub is_minor: Option<bool>,
}

/// A declared companion link seen from one side: `mine` is a record of the person in
/// question, `other` the record on the other side.
#[derive(Debug, Clone)]
pub struct Link {
    pub mine: String,
    pub other: Rec,
    pub relationship: String,
}

/// What a person declared at one visit that can be compared across visits.
#[derive(Debug, Clone, Default)]
pub struct Declared {
    pub given_names: Option<String>,
    pub family_names: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub sex: Option<String>,
    pub nationality: Option<String>,
    pub age_estimate: Option<i64>,
}

/// The protection needs declared at an enrollment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flags {
    pub documents_held_by_other: bool,
    pub travel_debt: bool,
    pub unaccompanied_minor: bool,
}

/// An alert raised by a rule; the service stores it unless its evidence is known.
#[derive(Debug, Clone)]
pub struct Raised {
    pub code: &'static str,
    pub severity: &'static str,
    pub detail: String,
    pub records: Vec<String>,
    pub evidence: String,
}

impl Raised {
    /// Unique per code and evidence.
    pub fn key(&self) -> String {
        format!("{}:{}", self.code, self.evidence)
    }
}

/// Age in whole years at `at`.
pub fn age_at(dob: NaiveDate, at: NaiveDate) -> i64 {
    let mut age = (at.year() - dob.year()) as i64;
    if (at.month(), at.day()) < (dob.month(), dob.day()) {
        age -= 1;
    }
    age
}

fn digest(parts: &[String]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// Declared needs of a fresh record: its flags, and whether a minor travels with no family.
/// `links` are the record's companion links (declared by it or naming it), `declared` the
/// relationships it declared (also to companions not enrolled yet).
pub fn declared_needs(rec: &Rec, flags: Flags, links: &[Link], declared: &[String]) -> Vec<Raised> {
    let mut raised = Vec::new();
    let one = |code, detail: &str| Raised {
        code,
        severity: "high",
        detail: detail.into(),
        records: vec![rec.id.clone()],
        evidence: rec.id.clone(),
    };
    if flags.documents_held_by_other {
        raised.push(one(
            "documents_held_by_other",
            "the person declared that someone else holds their identity documents",
        ));
    }
    if flags.travel_debt {
        raised.push(one(
            "travel_debt",
            "the person declared a debt for their journey (possible debt bondage)",
        ));
    }
    if rec.is_minor == Some(true) {
        let family = links
            .iter()
            .map(|l| l.relationship.as_str())
            .chain(declared.iter().map(String::as_str))
            .any(|rel| FAMILY.contains(&rel));
        if flags.unaccompanied_minor {
            raised.push(one(
                "unaccompanied_minor",
                "a minor declared as unaccompanied",
            ));
        } else if !family {
            raised.push(one(
                "unaccompanied_minor",
                "a minor registered with no parent, guardian or relative among their companions",
            ));
        }
    }
    raised
}

/// `document_reuse`: `sharing` are the other live records with the same document number.
pub fn document_reuse(rec: &Rec, doc_index: &str, sharing: &[Rec]) -> Option<Raised> {
    let others: Vec<&Rec> = sharing
        .iter()
        .filter(|r| r.id != rec.id && r.person != rec.person)
        .collect();
    if others.is_empty() {
        return None;
    }
    let persons: BTreeSet<String> = others
        .iter()
        .map(|o| o.person.clone())
        .chain([rec.person.clone()])
        .collect();
    let mut ids: Vec<String> = others.iter().map(|o| o.id.clone()).collect();
    ids.push(rec.id.clone());
    let persons: Vec<String> = persons.into_iter().collect();
    Some(Raised {
        code: "document_reuse",
        severity: "high",
        detail: format!(
            "one document number is declared by {} different people",
            persons.len()
        ),
        records: ids,
        evidence: digest(&[vec![doc_index.to_string()], persons].concat()),
    })
}

/// `shared_phone`: `sharing` are the live records with the same phone (the record itself
/// included or not), `companions` the record ids declared as travelling with it.
pub fn shared_phone(
    th: &Thresholds,
    rec: &Rec,
    phone_index: &str,
    sharing: &[Rec],
    companions: &BTreeSet<String>,
) -> Option<Raised> {
    let mut unrelated: Vec<&Rec> = vec![rec];
    unrelated.extend(
        sharing
            .iter()
            .filter(|r| r.id != rec.id && r.person != rec.person && !companions.contains(&r.id)),
    );
    let persons: BTreeSet<String> = unrelated.iter().map(|r| r.person.clone()).collect();
    if persons.len() < th.shared_phone_people {
        return None;
    }
    let persons: Vec<String> = persons.into_iter().collect();
    Some(Raised {
        code: "shared_phone",
        severity: "medium",
        detail: format!(
            "one phone number is declared by {} unrelated people",
            persons.len()
        ),
        records: unrelated.iter().map(|r| r.id.clone()).collect(),
        evidence: digest(&[vec![phone_index.to_string()], persons].concat()),
    })
}

/// `adult_with_many_minors` or `minor_with_many_adults` for one person: `mine` are the
/// person's records, `links` the companion links of those records. Whether the person is an
/// adult or a minor is taken from their latest record.
pub fn companion_patterns(th: &Thresholds, mine: &[Rec], links: &[Link]) -> Option<Raised> {
    let latest = mine.iter().max_by_key(|r| (r.captured_at, r.seq))?;
    let person = &latest.person;
    let want_minor = match latest.is_minor {
        Some(false) => true,
        Some(true) => false,
        None => return None,
    };
    let mut others: BTreeSet<String> = BTreeSet::new();
    let mut evidence_records: Vec<String> = mine.iter().map(|r| r.id.clone()).collect();
    for l in links {
        let o = &l.other;
        let counts = if want_minor {
            o.is_minor == Some(true) && !CHILD_LINKS.contains(&l.relationship.as_str())
        } else {
            o.is_minor == Some(false)
        };
        if counts && &o.person != person {
            others.insert(o.person.clone());
            evidence_records.push(o.id.clone());
        }
    }
    let (code, needed) = if want_minor {
        ("adult_with_many_minors", th.adult_minors)
    } else {
        ("minor_with_many_adults", th.minor_adults)
    };
    if others.len() < needed {
        return None;
    }
    let n = others.len();
    let persons: Vec<String> = others.into_iter().collect();
    evidence_records.sort();
    evidence_records.dedup();
    Some(Raised {
        code,
        severity: "high",
        detail: if want_minor {
            format!("one adult registered with {n} different minors who are not declared their children or siblings")
        } else {
            format!("one minor registered with {n} different adults")
        },
        records: evidence_records,
        evidence: digest(&[vec![person.clone()], persons].concat()),
    })
}

/// `repeat_crossing` around `latest`: `visits` are every record of the person.
pub fn repeat_crossing(th: &Thresholds, latest: &Rec, visits: &[Rec]) -> Option<Raised> {
    let window = chrono::Duration::days(th.repeat_window_days);
    let mut recent: Vec<&Rec> = visits
        .iter()
        .filter(|r| (latest.captured_at - r.captured_at).abs() <= window)
        .collect();
    recent.sort_by_key(|r| (r.captured_at, r.seq));
    recent.dedup_by(|a, b| a.id == b.id);
    if recent.len() < th.repeat_crossings {
        return None;
    }
    let ids: Vec<String> = recent.iter().map(|r| r.id.clone()).collect();
    let sites: BTreeSet<&str> = recent.iter().map(|r| r.site.as_str()).collect();
    Some(Raised {
        code: "repeat_crossing",
        severity: "medium",
        detail: format!(
            "one person enrolled {} times at {} site(s) within {} days",
            recent.len(),
            sites.len(),
            th.repeat_window_days
        ),
        evidence: digest(&ids),
        records: ids,
    })
}

fn norm_name(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(|v| {
            v.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_uppercase()
        })
        .filter(|v| !v.is_empty())
}

/// Reads one comparable biographic field of a visit.
type FieldOf = fn(&Declared) -> Option<String>;

/// `identity_change`: the records of one person (oldest first) with what each declared.
pub fn identity_change(people: &[(Rec, Declared)]) -> Option<Raised> {
    let fields: [(&str, FieldOf); 5] = [
        ("given names", |p| norm_name(&p.given_names)),
        ("family names", |p| norm_name(&p.family_names)),
        ("date of birth", |p| {
            p.date_of_birth.map(|d| d.format("%Y-%m-%d").to_string())
        }),
        ("sex", |p| p.sex.clone()),
        ("nationality", |p| p.nationality.clone()),
    ];
    let differing: Vec<&str> = fields
        .iter()
        .filter(|(_, get)| {
            people
                .iter()
                .filter_map(|p| get(&p.1))
                .collect::<BTreeSet<_>>()
                .len()
                > 1
        })
        .map(|(name, _)| *name)
        .collect();
    if differing.is_empty() {
        return None;
    }
    let mut ids: Vec<String> = people.iter().map(|p| p.0.id.clone()).collect();
    ids.sort();
    Some(Raised {
        code: "identity_change",
        severity: "high",
        detail: format!(
            "records of one person disagree on: {}",
            differing.join(", ")
        ),
        evidence: digest(
            &[
                ids.clone(),
                differing.iter().map(|s| s.to_string()).collect(),
            ]
            .concat(),
        ),
        records: ids,
    })
}

/// `age_inconsistency`: the first pair of visits (oldest first) declared on both sides of
/// 18 whose ages disagree with the time elapsed by more than the tolerance.
pub fn age_inconsistency(th: &Thresholds, people: &[(Rec, Declared)]) -> Option<Raised> {
    let mut ages: Vec<(&Rec, i64)> = people
        .iter()
        .filter_map(|(r, p)| {
            let age = match p.date_of_birth {
                Some(dob) => Some(age_at(dob, r.captured_at.date())),
                None => p.age_estimate,
            };
            age.map(|a| (r, a))
        })
        .collect();
    ages.sort_by_key(|(r, _)| (r.captured_at, r.seq));
    for (i, (r1, a1)) in ages.iter().enumerate() {
        for (r2, a2) in ages.iter().skip(i + 1) {
            let years = (r2.captured_at - r1.captured_at).num_days() as f64 / 365.25;
            let expected = *a1 as f64 + years;
            let crosses = (*a1 < 18) != (*a2 < 18);
            if crosses && (expected - *a2 as f64).abs() > th.age_tolerance_years as f64 {
                let pair = vec![r1.id.clone(), r2.id.clone()];
                return Some(Raised {
                    code: "age_inconsistency",
                    severity: "high",
                    detail: format!(
                        "declared as a minor at one visit and an adult at another, {:.1} years apart in declared age beyond the time elapsed",
                        (expected - *a2 as f64).abs()
                    ),
                    evidence: digest(&pair),
                    records: pair,
                });
            }
        }
    }
    None
}

/// Every rule about one person's unity: companion patterns, repeat crossings, identity change
/// and age inconsistency, for the person of `mine` (their records, with what each declared)
/// and the companion links of those records.
pub fn about_person(th: &Thresholds, mine: &[(Rec, Declared)], links: &[Link]) -> Vec<Raised> {
    let recs: Vec<Rec> = mine.iter().map(|m| m.0.clone()).collect();
    let mut out = Vec::new();
    out.extend(companion_patterns(th, &recs, links));
    if let Some(latest) = recs.iter().max_by_key(|r| (r.captured_at, r.seq)) {
        out.extend(repeat_crossing(th, latest, &recs));
    }
    out.extend(identity_change(mine));
    out.extend(age_inconsistency(th, mine));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, person: &str, day: u32, minor: Option<bool>) -> Rec {
        Rec {
            id: id.into(),
            person: person.into(),
            captured_at: NaiveDate::from_ymd_opt(2026, 8, day)
                .and_then(|d| d.and_hms_opt(10, 0, 0))
                .unwrap_or_default(),
            seq: i64::from(day),
            site: "S".into(),
            is_minor: minor,
        }
    }

    fn link(mine: &str, other: Rec, rel: &str) -> Link {
        Link {
            mine: mine.into(),
            other,
            relationship: rel.into(),
        }
    }

    #[test]
    fn an_adult_seen_four_times_with_different_minors_is_one_person() {
        let th = Thresholds::default();
        // Four visits of one biometric person, each with an unrelated child.
        let mine: Vec<Rec> = (1..=4)
            .map(|d| rec(&format!("a{d}"), "P", d, Some(false)))
            .collect();
        let links: Vec<Link> = (1..=4)
            .map(|d| {
                link(
                    &format!("a{d}"),
                    rec(&format!("k{d}"), &format!("K{d}"), d, Some(true)),
                    "unrelated",
                )
            })
            .collect();
        let a = companion_patterns(&th, &mine, &links).expect("raised");
        assert_eq!(a.code, "adult_with_many_minors");
        assert!(a.detail.contains("4 different minors"), "{}", a.detail);
        // Split into four people, no visit alone reaches the threshold.
        for (m, l) in mine.iter().zip(&links) {
            let mut alone = m.clone();
            alone.person = m.id.clone();
            assert!(companion_patterns(&th, &[alone], std::slice::from_ref(l)).is_none());
        }
        // One child seen twice is one minor, and declared children do not count.
        let same_child = vec![
            link("a1", rec("k1", "K", 1, Some(true)), "unrelated"),
            link("a2", rec("k2", "K", 2, Some(true)), "unknown"),
            link("a3", rec("k3", "K3", 3, Some(true)), "parent"),
        ];
        assert!(companion_patterns(&th, &mine, &same_child).is_none());
    }

    #[test]
    fn a_minor_with_many_adults_counts_people_not_records() {
        let th = Thresholds::default();
        let kid = vec![rec("k1", "K", 1, Some(true)), rec("k2", "K", 9, Some(true))];
        let adults = |persons: [&str; 3]| -> Vec<Link> {
            persons
                .iter()
                .enumerate()
                .map(|(i, p)| link("k1", rec(&format!("x{i}"), p, 1, Some(false)), "unknown"))
                .collect()
        };
        assert!(companion_patterns(&th, &kid, &adults(["A", "B", "C"])).is_some());
        assert!(companion_patterns(&th, &kid, &adults(["A", "A", "C"])).is_none());
        // An adult that is the minor themself (a link to another of their own records) does
        // not count either.
        assert!(companion_patterns(&th, &kid, &adults(["A", "B", "K"])).is_none());
    }

    #[test]
    fn repeat_crossing_and_evidence_keys() {
        let th = Thresholds::default();
        let visits: Vec<Rec> = (1..=3)
            .map(|d| rec(&format!("r{d}"), "P", d * 10, None))
            .collect();
        let a = repeat_crossing(&th, &visits[2], &visits).expect("three visits in 90 days");
        let b = repeat_crossing(&th, &visits[2], &visits).expect("again");
        assert_eq!(a.key(), b.key(), "same evidence, same key");
        assert!(repeat_crossing(&th, &visits[2], &visits[1..]).is_none());
    }

    #[test]
    fn identity_change_and_age_inconsistency() {
        let th = Thresholds::default();
        let dob = |y| NaiveDate::from_ymd_opt(y, 6, 1);
        let d = |name: &str, y| Declared {
            given_names: Some(name.into()),
            date_of_birth: dob(y),
            ..Declared::default()
        };
        let people = vec![
            (rec("r1", "P", 1, Some(false)), d("Luis", 1995)),
            (rec("r2", "P", 2, Some(true)), d(" luis ", 2011)),
        ];
        let ic = identity_change(&people).expect("date of birth differs");
        assert_eq!(
            ic.detail,
            "records of one person disagree on: date of birth"
        );
        assert!(age_inconsistency(&th, &people).is_some());
        let same = vec![
            people[0].clone(),
            (rec("r3", "P", 3, None), d("LUIS", 1995)),
        ];
        assert!(identity_change(&same).is_none());
        assert!(age_inconsistency(&th, &same).is_none());
    }
}
