//! Rules over a person's journey through reception sites: where they are now, which
//! vaccinations are due, and the two journey indicators (`missing_after_transfer`,
//! `family_separated_in_transfer`). Pure functions over plain facts: the service reads the
//! events, calls these, and writes what they decide inside its own transaction.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};

/// The events that move a person between sites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    CheckIn,
    CheckOut,
    Transfer,
    Departure,
}

impl Move {
    pub fn parse(kind: &str) -> Option<Move> {
        match kind {
            "check_in" => Some(Move::CheckIn),
            "check_out" => Some(Move::CheckOut),
            "transfer" => Some(Move::Transfer),
            "departure" => Some(Move::Departure),
            _ => None,
        }
    }
}

/// One movement of an identity, at `site` (for a transfer, the site left).
#[derive(Debug, Clone)]
pub struct Movement {
    pub kind: Move,
    pub site: String,
    pub at: NaiveDateTime,
}

/// What one movement did to the site counts: the site it entered and the site it left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effect {
    pub entered: Option<String>,
    pub left: Option<String>,
}

/// Replays an identity's movements in time order (the caller sorts them by time, then by
/// arrival order). Returns each movement's effect and the index of the check-in the person
/// is at now, if any.
///
/// A person is at a site from a check-in there until their next check-out there, transfer,
/// departure or check-in elsewhere. A second check-in at the site they are already at changes
/// nothing; a check-out at a site they are not at changes nothing.
pub fn replay(moves: &[Movement]) -> (Vec<Effect>, Option<usize>) {
    let mut effects = Vec::with_capacity(moves.len());
    let mut here: Option<usize> = None;
    for (i, m) in moves.iter().enumerate() {
        let current = here.map(|h| moves[h].site.as_str());
        let mut e = Effect::default();
        match m.kind {
            Move::CheckIn => {
                if current != Some(m.site.as_str()) {
                    e.left = current.map(str::to_string);
                    e.entered = Some(m.site.clone());
                    here = Some(i);
                }
            }
            Move::CheckOut => {
                if current == Some(m.site.as_str()) {
                    e.left = Some(m.site.clone());
                    here = None;
                }
            }
            Move::Transfer | Move::Departure => {
                e.left = current.map(str::to_string);
                here = None;
            }
        }
        effects.push(e);
    }
    (effects, here)
}

/// Vaccines that count as a measles dose.
pub const MEASLES_VACCINES: [&str; 3] = ["MR", "MMR", "measles"];

/// Whole months from `dob` to `on`.
pub fn months_between(dob: NaiveDate, on: NaiveDate) -> i64 {
    let mut m = (on.year() - dob.year()) as i64 * 12 + on.month() as i64 - dob.month() as i64;
    if on.day() < dob.day() {
        m -= 1;
    }
    m
}

/// Vaccinations due for a person of `age_months` (None: unknown age, nothing is claimed due)
/// who has received `vaccines` (codes of recorded doses).
///
/// Measles: due from 6 months up to and including 15 years of age (under 16) without any
/// recorded MR, MMR or measles dose — the age band of measles catch-up campaigns for
/// migrant children.
pub fn due_vaccinations(age_months: Option<i64>, vaccines: &[String]) -> Vec<&'static str> {
    let mut due = Vec::new();
    if let Some(m) = age_months {
        let has_measles = vaccines
            .iter()
            .any(|v| MEASLES_VACCINES.contains(&v.as_str()));
        if (6..16 * 12).contains(&m) && !has_measles {
            due.push("measles");
        }
    }
    due
}

/// The state of a transfer's arrival check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// A check-in at the destination came in time.
    Arrived,
    /// Still within the grace period.
    Waiting,
    /// The grace period is over and no check-in at the destination came within it.
    Missing,
}

/// `missing_after_transfer`: a transfer recorded at `recorded_at`, departing `departs_at` for
/// `to_site`, against the identity's check-ins `(site, at)`.
pub fn arrival(
    recorded_at: NaiveDateTime,
    departs_at: NaiveDateTime,
    to_site: &str,
    check_ins: &[(String, NaiveDateTime)],
    grace: Duration,
    now: NaiveDateTime,
) -> Arrival {
    let start = recorded_at.min(departs_at);
    let deadline = departs_at + grace;
    let arrived = check_ins
        .iter()
        .any(|(site, at)| site == to_site && *at >= start && *at <= deadline);
    if arrived {
        Arrival::Arrived
    } else if now > deadline {
        Arrival::Missing
    } else {
        Arrival::Waiting
    }
}

/// The window within which relatives count as travelling with a minor.
pub fn family_window() -> Duration {
    Duration::hours(1)
}

/// The state of a minor's transfer against the transfers of their declared relatives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// A relative is transferred to the same site within the window, or the minor has no
    /// declared relative to be separated from (that is `unaccompanied_minor`'s business).
    Together,
    /// Not yet decidable: some relative has not been transferred and the window is open.
    Waiting,
    /// Every relative went elsewhere, or the window closed without one going to the same site.
    Separated,
}

/// `family_separated_in_transfer`: the minor's transfer `(to_site, departs_at)` against, for
/// each declared relative, that relative's transfers `(to_site, departs_at)`.
pub fn family(
    to_site: &str,
    departs_at: NaiveDateTime,
    relatives: &[Vec<(String, NaiveDateTime)>],
    now: NaiveDateTime,
) -> Family {
    if relatives.is_empty() {
        return Family::Together;
    }
    let w = family_window();
    let near = |t: &NaiveDateTime| (*t - departs_at).abs() <= w;
    let together = relatives
        .iter()
        .any(|ts| ts.iter().any(|(s, t)| s == to_site && near(t)));
    if together {
        return Family::Together;
    }
    // Transferred elsewhere: any transfer of theirs departing from an hour before the minor's.
    let all_elsewhere = relatives
        .iter()
        .all(|ts| ts.iter().any(|(s, t)| s != to_site && *t >= departs_at - w));
    if all_elsewhere || now > departs_at + w {
        Family::Separated
    } else {
        Family::Waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: i64) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 12, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d + Duration::hours(h))
            .expect("valid time")
    }

    fn mv(kind: Move, site: &str, h: i64) -> Movement {
        Movement {
            kind,
            site: site.into(),
            at: t(h),
        }
    }

    #[test]
    fn replay_tracks_the_current_site() {
        let moves = vec![
            mv(Move::CheckIn, "A", 0),
            mv(Move::CheckIn, "A", 1),
            mv(Move::CheckIn, "B", 2),
            mv(Move::CheckOut, "A", 3),
            mv(Move::Transfer, "B", 4),
            mv(Move::CheckIn, "C", 9),
        ];
        let (eff, here) = replay(&moves);
        assert_eq!(eff[0].entered.as_deref(), Some("A"));
        assert_eq!(
            eff[1],
            Effect::default(),
            "second check-in at the same site"
        );
        assert_eq!(eff[2].left.as_deref(), Some("A"));
        assert_eq!(eff[2].entered.as_deref(), Some("B"));
        assert_eq!(eff[3], Effect::default(), "check-out where not present");
        assert_eq!(eff[4].left.as_deref(), Some("B"));
        assert_eq!(here, Some(5));
    }

    #[test]
    fn measles_due_by_age_and_history() {
        assert_eq!(due_vaccinations(Some(5), &[]), Vec::<&str>::new());
        assert_eq!(due_vaccinations(Some(6), &[]), vec!["measles"]);
        assert_eq!(due_vaccinations(Some(16 * 12 - 1), &[]), vec!["measles"]);
        assert!(due_vaccinations(Some(16 * 12), &[]).is_empty());
        assert!(due_vaccinations(Some(24), &["MMR".into()]).is_empty());
        assert_eq!(due_vaccinations(Some(24), &["OPV".into()]), vec!["measles"]);
        assert!(due_vaccinations(None, &[]).is_empty());
        let dob = NaiveDate::from_ymd_opt(2020, 3, 15).expect("date");
        let on = NaiveDate::from_ymd_opt(2020, 9, 14).expect("date");
        assert_eq!(months_between(dob, on), 5);
    }

    #[test]
    fn arrival_within_grace() {
        let g = Duration::hours(48);
        let ins = vec![("B".to_string(), t(30))];
        assert_eq!(arrival(t(0), t(1), "B", &ins, g, t(60)), Arrival::Arrived);
        assert_eq!(arrival(t(0), t(1), "C", &ins, g, t(40)), Arrival::Waiting);
        assert_eq!(arrival(t(0), t(1), "C", &ins, g, t(50)), Arrival::Missing);
        let late = vec![("B".to_string(), t(60))];
        assert_eq!(arrival(t(0), t(1), "B", &late, g, t(61)), Arrival::Missing);
    }

    #[test]
    fn family_rules() {
        let rel_same = vec![vec![("B".to_string(), t(10))]];
        let rel_else = vec![vec![("C".to_string(), t(10))]];
        let none_yet: Vec<Vec<(String, NaiveDateTime)>> = vec![vec![]];
        assert_eq!(family("B", t(10), &rel_same, t(10)), Family::Together);
        assert_eq!(family("B", t(10), &rel_else, t(10)), Family::Separated);
        assert_eq!(family("B", t(10), &none_yet, t(10)), Family::Waiting);
        assert_eq!(family("B", t(10), &none_yet, t(12)), Family::Separated);
        assert_eq!(family("B", t(10), &[], t(12)), Family::Together);
        // One relative went elsewhere, another has not moved yet: wait.
        let mixed = vec![vec![("C".to_string(), t(10))], vec![]];
        assert_eq!(family("B", t(10), &mixed, t(10)), Family::Waiting);
    }
}
