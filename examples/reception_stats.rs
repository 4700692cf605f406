//! Seeds a store with synthetic people and reception events, then times the occupancy and
//! statistics queries of the reception flow.
//!
//! ```sh
//! cargo run --release --example reception_stats -- [PEOPLE] [EVENTS] [DATABASE_URL]
//! # default: 100000 people, 1000000 events, a fresh SQLite file in a temp directory
//! # `0 0 URL`: seed nothing, time the queries on the store at URL as it is
//! ```
//!
//! People are sealed records without biometrics (the statistics never read biometrics).
//! Each person gets a seeded journey: check in at a reception station, vaccinations, a
//! check-out or a transfer to a shelter and a check-in there, sometimes a departure. Events
//! go through the service's own store path (validation, presence replay, daily counts and an
//! access-log entry each), up to 500 per transaction, as
//! `POST /events/batch` takes them (PostgreSQL slows down when one transaction updates the same
//! counter rows thousands of times: every update leaves a row version the next one must step over).

use registro::config::Config;
use registro::db::models::NewRecord;
use registro::db::schema::records;
use registro::service::reception::{self, EventRequest};
use registro::service::{Principal, Registro, Role};
use std::time::Instant;

const RECEPTIONS: [&str; 3] = [
    "PA-DARIEN-LAJASBLANCAS",
    "PA-DARIEN-SANVICENTE",
    "PA-DARIEN-BAJOCHIQUITO",
];
const SHELTERS: [&str; 4] = [
    "PA-CHIRIQUI-PLANETA",
    "CR-PASOCANOAS",
    "PA-PANAMA-ALBROOK",
    "CR-SANJOSE",
];
const NATIONS: [&str; 6] = ["VEN", "HTI", "ECU", "COL", "CHN", "AFG"];
const VACCINES: [&str; 4] = ["MR", "Td", "OPV", "COVID-19"];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn event(id: String, kind: &str, at: chrono::NaiveDateTime, site: &str) -> EventRequest {
    EventRequest {
        event_id: id,
        kind: kind.into(),
        at: Some(at.and_utc().to_rfc3339()),
        site: Some(site.into()),
        vaccine: None,
        dose: None,
        lot: None,
        facility: None,
        urgency: None,
        to_site: None,
        transport: None,
        departs_at: None,
        to_country: None,
    }
}

fn median_ms(mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..5)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[2]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let people: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let target_events: usize = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("registro-reception-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("registro.db").display()));
    let mut cfg = Config::new(&url);
    // REGISTRO_KEY_FILE: reuse the key file of an earlier run's store (with `0 0 URL`).
    cfg.key_file = std::env::var_os("REGISTRO_KEY_FILE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.join("registro.key"));
    let reg = Registro::open(cfg)?;
    let who = Principal {
        actor: "seed".into(),
        role: Role::Investigator,
        device_id: None,
        site: None,
        remote_addr: "127.0.0.1".into(),
    };
    let keys = reg.keys();
    let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .ok_or_else(|| anyhow::anyhow!("date"))?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    let t0 = Instant::now();
    let mut ids = Vec::with_capacity(people);
    for chunk in (0..people).collect::<Vec<_>>().chunks(5_000) {
        reg.db.write(|c| -> Result<(), registro::error::ApiError> {
            use diesel::prelude::*;
            for &i in chunk {
                let id = format!("rec_seed{i:08}");
                let minor = rng.below(3) == 0;
                let person = format!(
                    "{{\"person\":{{\"date_of_birth\":\"{}-06-01\"}},\"protection\":{{}},\"companions\":[]}}",
                    if minor { 2016 } else { 1990 }
                );
                diesel::insert_into(records::table)
                    .values(NewRecord {
                        id: id.clone(),
                        capture_id: format!("cap-seed-{i}"),
                        person_id: format!("per_seed{i:08}"),
                        site: RECEPTIONS[i % 3].into(),
                        device_id: None,
                        enrolled_by: "seed".into(),
                        captured_at: start,
                        created_at: start,
                        sex: Some(if i % 2 == 0 { "F" } else { "M" }.into()),
                        nationality: Some(NATIONS[i % NATIONS.len()].into()),
                        age_group: if minor { "5-11" } else { "18-59" }.into(),
                        is_minor: Some(minor),
                        doc_index: None,
                        phone_index: None,
                        family_index: None,
                        person_enc: keys.seal(&id, "person", person.as_bytes())?,
                        biometrics_enc: keys.seal(&id, "biometrics", b"{\"face\":null,\"fingers\":[]}")?,
                        response_json: String::new(),
                    })
                    .execute(c)?;
                ids.push(id);
            }
            Ok(())
        })?;
    }
    eprintln!(
        "seeded {people} records in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    // Journeys, round-robin over people until the target number of events.
    let t1 = Instant::now();
    // `0 0 URL` seeds nothing and times the queries on what the store already holds.
    let per_person = target_events.div_ceil(people.max(1)).max(2);
    let mut written = 0usize;
    let is_pg = url.starts_with("postgres");
    let mut analyzed = 0u64;
    let mut batch: Vec<(String, EventRequest)> = Vec::new();
    let flush = |batch: &mut Vec<(String, EventRequest)>| -> anyhow::Result<()> {
        reg.db.write(|c| -> Result<(), registro::error::ApiError> {
            for (rid, ev) in batch.iter() {
                let v = reception::validate_event(&who, ev)?;
                reception::store_event(&reg, c, &who, rid, &v)?;
            }
            Ok(())
        })?;
        batch.clear();
        Ok(())
    };
    for (i, rid) in ids.iter().enumerate() {
        if written >= target_events {
            break;
        }
        let day = chrono::Duration::minutes((i as i64 * 300) % (300 * 24 * 60));
        let mut at = start + day;
        let reception_site = RECEPTIONS[i % 3];
        let shelter = SHELTERS[rng.below(4) as usize];
        let mut journey = vec![event(format!("e{i}-0"), "check_in", at, reception_site)];
        while journey.len() + 2 < per_person {
            at += chrono::Duration::hours(2);
            let mut v = event(
                format!("e{i}-{}", journey.len()),
                "vaccination",
                at,
                reception_site,
            );
            v.vaccine = Some(VACCINES[rng.below(4) as usize].into());
            v.dose = Some(1 + rng.below(2) as i64);
            journey.push(v);
        }
        at += chrono::Duration::hours(20);
        let mut t = event(format!("e{i}-t"), "transfer", at, reception_site);
        t.to_site = Some(shelter.into());
        t.transport = Some("bus".into());
        t.departs_at = Some(at.and_utc().to_rfc3339());
        journey.push(t);
        at += chrono::Duration::hours(10);
        journey.push(event(format!("e{i}-s"), "check_in", at, shelter));
        let n = journey.len();
        batch.extend(journey.into_iter().map(|e| (rid.clone(), e)));
        written += n;
        if batch.len() >= 500 {
            flush(&mut batch)?;
            // PostgreSQL plans from its statistics, which only ANALYZE (by autovacuum, or by
            // hand where it is off, as on the test server) brings up to date: a plan made on
            // the empty table scans it whole. Refreshed as the table grows, as autovacuum would.
            analyzed += 1;
            if is_pg && analyzed.is_power_of_two() {
                reg.db.write(|c| -> Result<(), registro::error::ApiError> {
                    use diesel::RunQueryDsl;
                    diesel::sql_query("ANALYZE").execute(c)?;
                    Ok(())
                })?;
            }
        }
    }
    flush(&mut batch)?;
    let secs = t1.elapsed().as_secs_f64();
    eprintln!(
        "stored {written} events in {secs:.1} s ({:.0} events/s, one access-log entry each)",
        written as f64 / secs
    );

    let aud = Principal {
        actor: "auditor".into(),
        role: Role::Auditor,
        ..who.clone()
    };
    let occ = median_ms(|| {
        reception::list_sites(&reg).ok();
    });
    let sites = median_ms(|| {
        reception::stats::sites(&reg, &aud, None, None, None).ok();
    });
    let transfers = median_ms(|| {
        reception::stats::transfers(&reg, &aud, None, None, None).ok();
    });
    let vacc = median_ms(|| {
        reception::stats::vaccinations(
            &reg,
            &aud,
            Some("vaccine,dose,age_group,site"),
            None,
            None,
            None,
        )
        .ok();
    });
    let flows = median_ms(|| {
        reception::stats::flows(
            &reg,
            &aud,
            "arrivals",
            None,
            None,
            Some("nationality,month,sex,age_group,site"),
            None,
        )
        .ok();
    });
    println!(
        "backend {:?}, {people} people, {written} events",
        reg.db.backend()
    );
    println!("occupancy (GET /sites)          median {occ:.1} ms");
    println!("stats/sites                     median {sites:.1} ms");
    println!("stats/transfers                 median {transfers:.1} ms");
    println!("stats/vaccinations (4 dims)     median {vacc:.1} ms");
    println!("stats/flows kind=arrivals (5)   median {flows:.1} ms");
    if url.starts_with("sqlite") {
        std::fs::remove_dir_all(&dir).ok();
    }
    Ok(())
}
