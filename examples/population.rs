//! Seeded synthetic population: the de-duplication bar and the service's load figures.
//!
//! `cargo run --release --example population -- [people] [rereg_rate] [bulk] [latency_n]`
//!
//! 1. Enrolls `people` (default 10 000) synthetic people with two fingers each through the
//!    service (validation, extraction, fused 1:N search, transaction, access log) on a fresh
//!    SQLite store, then re-registers `rereg_rate` (default 0.05) of them under new names
//!    with fresh impressions, and reports how many re-registrations came back as `duplicate`,
//!    how many enrollments got a false `duplicate`, and the `possible` counts. The decisions
//!    follow the decision rule (`Config::decisions`: FPIR per search at the gallery size of
//!    each search), so it also reports the searches with a non-mate `duplicate` or `possible`
//!    against the number the rule designs (the sum of its FPIR over the searches), the mates'
//!    evidence in decades, and for each mate not found as `duplicate` its evidence (by a
//!    direct comparison when the search did not return it) against the threshold it needed.
//! 2. `bulk` (default 0) more people are written straight to the store (sealed, as the service
//!    writes them) to grow the gallery cheaply, e.g. to 100 000.
//! 3. Over HTTP on the real server: enrollment latency p50/p95 with a photo and two fingers
//!    (`latency_n` requests, default 200), and throughput with 16 concurrent clients.
//! 4. Memory of the galleries per person, process RSS, and the time for a fresh node to load
//!    the galleries from the store (start-up to ready).
//!
//! Fingers come from `biometrics::finger::synthetic` (master minutiae, elastic and rigid
//! distortion, missed and spurious minutiae); photos are the shared test faces. In step 1 the
//! first eight re-registered people carry a real face (one of the eight people of
//! ../shared/data/faces each, a different crop at each registration), so face and fingers are
//! fused for them; the other people have fingers only (the data has no more identities).

use registro::biometrics::fusion;
use registro::config::Config;
use registro::service::enrollment::{self, Enrolled, EnrollmentRequest};
use registro::service::{loader, Principal, Registro, Role};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[path = "common/synth.rs"]
mod synth;
use synth::{enrollment_body as body, par_map, pct, rss_mib};

/// Searches and their non-mate hits, against the decision rule's designed rates.
#[derive(Default)]
struct Tally {
    searches: usize,
    false_dup: usize,
    false_possible: usize,
    designed_dup: f64,
    designed_possible: f64,
}

impl Tally {
    fn add(
        &mut self,
        (dup, possible): (f64, f64),
        hits: &[registro::service::enrollment::DuplicateView],
        mate: Option<&str>,
    ) {
        let others = || {
            hits.iter()
                .filter(move |d| Some(d.record_id.as_str()) != mate)
        };
        self.searches += 1;
        self.designed_dup += dup;
        self.designed_possible += possible;
        self.false_dup += usize::from(others().any(|d| d.decision == "duplicate"));
        self.false_possible += usize::from(others().next().is_some());
    }
}

/// The gallery key (`seq`) of a record.
fn mate_key(reg: &Registro, record_id: &str) -> i64 {
    use diesel::prelude::*;
    use registro::db::schema::records;
    reg.db
        .read(|c| -> Result<i64, registro::error::ApiError> {
            Ok(records::table
                .filter(records::id.eq(record_id))
                .select(records::seq)
                .first(c)?)
        })
        .expect("record seq")
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let people: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let rate: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0.05);
    let bulk: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
    let latency_n: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(200);
    let dir = std::env::temp_dir().join(format!("registro-population-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}", dir.join("registro.db").display());
    let mut cfg = Config::new(&url);
    cfg.key_file = dir.join("registro.key");
    cfg.engine_threads = 2;
    let reg = Registro::open(cfg.clone())?;
    loader::load_all(&reg).map_err(|e| anyhow::anyhow!("{e}"))?;
    let who = Principal {
        actor: "device:population".into(),
        role: Role::Scanner,
        device_id: None,
        site: None,
        remote_addr: "local".into(),
    };
    let workers = rayon::ThreadPoolBuilder::new().num_threads(2).build()?;

    // The shared test faces: 8 people x 5 crops.
    let photos = synth::photos(&[
        "amy",
        "bernadette",
        "howard",
        "leonard",
        "penny",
        "raj",
        "sheldon",
        "stuart",
    ]);
    // Re-registrations: every 1/rate-th person, new name, fresh impressions.
    let step = (1.0 / rate).round().max(1.0) as u64;
    let rereg: Vec<u64> = (0..people).filter(|i| i % step == 3 % step).collect();
    // The first eight re-registered people are given a real face, one shared person each:
    // crop 1 at the first registration, crop 2 at the second (the data has eight people, so
    // no two synthetic people share a face).
    let face_of = |id: u64, visit: usize| -> Option<&str> {
        let j = rereg.iter().take(8).position(|&r| r == id)?;
        photos.get(j * 5 + visit).map(|p| p.as_str())
    };

    // 1. Originals.
    let t0 = Instant::now();
    let false_dup = AtomicUsize::new(0);
    let possible = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    // Searches with a non-mate `duplicate` / with a non-mate at `possible` or above, against
    // what the decision rule designs: the sum over searches of the FPIR it names at the
    // gallery size of each search (read just before it; two clients, so off by one at most).
    let rule = cfg.decisions;
    let designed = |n: usize| {
        let g = n as f64;
        (
            fusion::fpir_at(rule.duplicate_decades(n), g),
            fusion::fpir_at(rule.possible_decades(n), g),
        )
    };
    let tally = std::sync::Mutex::new(Tally::default());
    // Two plain client threads (not a rayon pool: a rayon worker that waits on the engine
    // pool would steal another enrollment and nest them on its stack).
    let ids: Vec<String> = par_map(0..people, |i| {
        let req: EnrollmentRequest = serde_json::from_value(body(
            &format!("orig-{i}"),
            i,
            0,
            &format!("G{i}"),
            face_of(i, 0),
        ))
        .unwrap();
        let n = reg.matcher.len();
        let Ok(Enrolled::Created(r)) = enrollment::enroll(&reg, &who, req) else {
            panic!("enrollment {i} failed")
        };
        tally.lock().unwrap().add(designed(n), &r.duplicates, None);
        false_dup.fetch_add(
            r.duplicates
                .iter()
                .filter(|d| d.decision == "duplicate")
                .count(),
            Ordering::Relaxed,
        );
        possible.fetch_add(
            r.duplicates
                .iter()
                .filter(|d| d.decision == "possible")
                .count(),
            Ordering::Relaxed,
        );
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(2000) {
            eprintln!(
                "enrolled {n}/{people} ({:.0}/s)",
                n as f64 / t0.elapsed().as_secs_f64()
            );
        }
        r.record_id
    });
    let enroll_s = t0.elapsed().as_secs_f64();

    let found = AtomicUsize::new(0);
    let rereg_false = AtomicUsize::new(0);
    let rereg_possible = AtomicUsize::new(0);
    let rereg_mate_possible = AtomicUsize::new(0);
    let found_with_face = AtomicUsize::new(0);
    let originals_tally = std::mem::take(&mut *tally.lock().unwrap());
    // Per re-registration: (person, gallery size, the mate's decision, the mate's decades in
    // the answer or, if it is not there, by a direct comparison).
    let mates = std::sync::Mutex::new(Vec::<(u64, usize, String, f64)>::new());
    par_map(rereg.iter().copied(), |i| {
        let req: EnrollmentRequest = serde_json::from_value(body(
            &format!("again-{i}"),
            i,
            1,
            &format!("Other{i}"),
            face_of(i, 1),
        ))
        .unwrap();
        let probe_fingers = req.fingerprints.clone();
        let probe_photo = req.photo.clone();
        let n = reg.matcher.len();
        let Ok(Enrolled::Created(r)) = enrollment::enroll(&reg, &who, req) else {
            panic!("re-enrollment {i} failed")
        };
        tally
            .lock()
            .unwrap()
            .add(designed(n), &r.duplicates, Some(ids[i as usize].as_str()));
        let mate = r.duplicates.iter().find(|d| d.record_id == ids[i as usize]);
        let (decision, decades) = match mate {
            Some(d) => (
                d.decision.clone(),
                d.evidence.as_ref().map_or(f64::NAN, |e| e.decades),
            ),
            None => {
                // Not in the answer: was it missed by the shortlist or short of evidence?
                use base64::Engine;
                let photo = probe_photo
                    .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok());
                let ex = reg
                    .matcher
                    .extract(photo.as_deref(), &probe_fingers)
                    .expect("extract");
                let key = mate_key(&reg, &ids[i as usize]);
                let direct = reg.matcher.score_keys(&ex, &[key]);
                let d = direct.first().map_or(0.0, |c| fusion::decades(c.ln_p));
                ("none".to_string(), d)
            }
        };
        mates.lock().unwrap().push((i, n, decision, decades));
        for d in &r.duplicates {
            let mate = d.record_id == ids[i as usize];
            match (mate, d.decision.as_str()) {
                (true, "duplicate") => {
                    found.fetch_add(1, Ordering::Relaxed);
                    if face_of(i, 1).is_some() && d.face_score.is_some() {
                        found_with_face.fetch_add(1, Ordering::Relaxed);
                    }
                }
                (true, "possible") => drop(rereg_mate_possible.fetch_add(1, Ordering::Relaxed)),
                (false, "duplicate") => drop(rereg_false.fetch_add(1, Ordering::Relaxed)),
                (false, "possible") => drop(rereg_possible.fetch_add(1, Ordering::Relaxed)),
                _ => {}
            }
        }
    });
    println!("population {people} people, 2 fingers each, enrolled in {enroll_s:.1} s ({:.0} enrollments/s on 2 threads)", people as f64 / enroll_s);
    println!(
        "reregistered {} found_as_duplicate {} mate_only_possible {}; with a face on both: {} of {} found as duplicate with face evidence",
        rereg.len(),
        found.load(Ordering::Relaxed),
        rereg_mate_possible.load(Ordering::Relaxed),
        found_with_face.load(Ordering::Relaxed),
        rereg.iter().filter(|&&i| face_of(i, 1).is_some()).count()
    );
    println!(
        "false_duplicates {} (originals) + {} (re-registrations); possible_non_mates {} (originals) + {} (re-registrations)",
        false_dup.load(Ordering::Relaxed),
        rereg_false.load(Ordering::Relaxed),
        possible.load(Ordering::Relaxed),
        rereg_possible.load(Ordering::Relaxed)
    );
    let rereg_tally = std::mem::take(&mut *tally.lock().unwrap());
    for (name, t) in [
        ("originals", &originals_tally),
        ("re-registrations", &rereg_tally),
    ] {
        println!(
            "{name}: {} searches; with a non-mate duplicate {} (designed {:.2}); with a non-mate at possible or above {} (designed {:.1})",
            t.searches, t.false_dup, t.designed_dup, t.false_possible, t.designed_possible
        );
    }
    let mut mates = mates.into_inner().unwrap();
    mates.sort_by_key(|m| m.0);
    let mut decades: Vec<f64> = mates.iter().map(|m| m.3).collect();
    decades.sort_by(|a, b| a.total_cmp(b));
    if !decades.is_empty() {
        println!(
            "mate evidence (decades): min {:.2}, 1 % {:.2}, 10 % {:.2}, median {:.2}; duplicate threshold {:.2} and possible {:.2} decades at {} records",
            decades[0],
            pct(&mut decades.clone(), 0.01),
            pct(&mut decades.clone(), 0.10),
            pct(&mut decades.clone(), 0.5),
            rule.duplicate_decades(reg.matcher.len()),
            rule.possible_decades(reg.matcher.len()),
            reg.matcher.len()
        );
    }
    for (i, n, decision, d) in mates.iter().filter(|m| m.2 != "duplicate") {
        println!(
            "  re-registration of person {i}: mate {decision} ({d:.2} decades{}; duplicate needs {:.2} at {n} records)",
            if decision == "none" { ", direct comparison" } else { "" },
            rule.duplicate_decades(*n)
        );
    }

    // 2. Bulk growth, sealed as the service seals.
    if bulk > 0 {
        let t = Instant::now();
        synth::bulk_seed(&reg, &workers, people + 1_000_000, bulk)?;
        println!(
            "bulk-added {bulk} people in {:.1} s; gallery now {} records",
            t.elapsed().as_secs_f64(),
            reg.matcher.len()
        );
    }

    // 3. HTTP latency and throughput, with photos.
    let device_key = {
        let admin = registro::service::Principal {
            actor: "admin".into(),
            role: Role::Admin,
            device_id: None,
            site: None,
            remote_addr: "local".into(),
        };
        registro::service::auth::create_device(&reg, &admin, "load", "PA-METETI")
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .api_key
    };
    reg.set_ready();
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    let r2: Arc<Registro> = reg.clone();
    std::thread::spawn(move || {
        actix_web::rt::System::new()
            .block_on(async move { registro::http::server(r2, listener, 2).unwrap().await.ok() });
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let send = |agent: &ureq::Agent, b: &Value| -> (u16, f64) {
        let t = Instant::now();
        let r = agent
            .post(&format!("{base}/api/v1/enrollments"))
            .header("Authorization", &format!("Bearer {device_key}"))
            .send_json(b)
            .unwrap();
        (r.status().as_u16(), t.elapsed().as_secs_f64() * 1000.0)
    };
    let mut lat = Vec::new();
    for j in 0..latency_n as u64 {
        let id = 5_000_000 + j;
        let photo = (!photos.is_empty()).then(|| photos[j as usize % photos.len()].as_str());
        let (s, ms) = send(&agent, &body(&format!("lat-{j}"), id, 0, "L", photo));
        assert!(s == 201 || s == 422, "status {s}");
        lat.push(ms);
    }
    let gallery = reg.matcher.len();
    println!(
        "enroll_latency_ms gallery {gallery} photo+2 fingers: p50 {:.1} p95 {:.1} (n={latency_n}, sequential, HTTP)",
        pct(&mut lat.clone(), 0.5),
        pct(&mut lat, 0.95)
    );
    let t = Instant::now();
    let per_client = 20u64;
    std::thread::scope(|s| {
        for c in 0..16u64 {
            let (send, photos, agent) = (&send, &photos, agent.clone());
            s.spawn(move || {
                for j in 0..per_client {
                    let id = 6_000_000 + c * 1000 + j;
                    let photo = (!photos.is_empty())
                        .then(|| photos[(c + j) as usize % photos.len()].as_str());
                    send(&agent, &body(&format!("tp-{c}-{j}"), id, 0, "T", photo));
                }
            });
        }
    });
    println!(
        "throughput 16 clients: {:.1} enrollments/s ({} requests)",
        (16 * per_client) as f64 / t.elapsed().as_secs_f64(),
        16 * per_client
    );

    // 4. Memory and start-up.
    let n = reg.matcher.len();
    println!(
        "gallery_memory_bytes_per_person {:.0} ({} records); process RSS {:.0} MiB",
        reg.matcher.memory_bytes() as f64 / n as f64,
        n,
        rss_mib()
    );
    let t = Instant::now();
    let fresh = Registro::open(cfg)?;
    loader::load_all(&fresh).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "startup_to_ready_s {:.2} ({} records loaded)",
        t.elapsed().as_secs_f64(),
        fresh.matcher.len()
    );
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
