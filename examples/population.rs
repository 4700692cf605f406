//! Seeded synthetic population: the de-duplication bar and the service's load figures.
//!
//! `cargo run --release --example population -- [people] [rereg_rate] [bulk] [latency_n]`
//!
//! 1. Enrolls `people` (default 10 000) synthetic people with two fingers each through the
//!    service (validation, extraction, fused 1:N search, transaction, access log) on a fresh
//!    SQLite store, then re-registers `rereg_rate` (default 0.05) of them under new names
//!    with fresh impressions, and reports how many re-registrations came back as `duplicate`,
//!    how many enrollments got a false `duplicate`, and the `possible` counts.
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
        let Ok(Enrolled::Created(r)) = enrollment::enroll(&reg, &who, req) else {
            panic!("enrollment {i} failed")
        };
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
    par_map(rereg.iter().copied(), |i| {
        let req: EnrollmentRequest = serde_json::from_value(body(
            &format!("again-{i}"),
            i,
            1,
            &format!("Other{i}"),
            face_of(i, 1),
        ))
        .unwrap();
        let Ok(Enrolled::Created(r)) = enrollment::enroll(&reg, &who, req) else {
            panic!("re-enrollment {i} failed")
        };
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
