//! Load tool: throughput, latency of admitted requests and refusal rate under admission
//! control, for enrollment and identify with a photo and two fingers.
//!
//! `cargo run --release --example load -- [gallery] [concurrencies] [secs] [soak_secs] [soak_concurrency]`
//!
//! * `gallery` (default 2000): synthetic people (two fingers each, `examples/common/synth.rs`)
//!   enrolled through the service on a fresh SQLite store first; `N+B` enrolls `N` and then
//!   writes `B` more straight to the store, sealed as the service seals (e.g. `2000+98000`
//!   for a 100 k gallery).
//! * `REGISTRO_LOAD_KINDS` (default `identify,enroll`): the workloads, in order; `checkin`
//!   sends the enrolled fingers of gallery people to `POST /api/v1/checkin` (every one found
//!   and written).
//! * `concurrencies` (default `1,2,4,8,16`): for each, that many closed-loop HTTP clients run
//!   `secs` seconds (default 20) of identify, then of enrollment, each with a photo (the shared
//!   test faces) and two synthetic fingers. Per level: admitted requests per second, p50, p95
//!   and p99 of admitted requests (ms), and the share refused with `503 overloaded`.
//! * `soak_secs` (default 0): then identify at `soak_concurrency` clients for that long,
//!   paced at `REGISTRO_SOAK_RATE` requests/s when set, or at a share of the best identify
//!   rate measured above in the same run with `REGISTRO_SOAK_RATE=80%`; printing the process
//!   RSS and the admitted, refused and other answers so far at the start and every minute,
//!   and at the end every status that is not 200 or `503 overloaded`.
//!
//! The server runs in this process with the defaults of `registro serve` (`--max-queue 256`,
//! `--max-wait-ms 5000`) unless `REGISTRO_MAX_QUEUE` / `REGISTRO_MAX_WAIT_MS` say otherwise.

use registro::config::Config;
use registro::service::enrollment::{self, Enrolled, EnrollmentRequest};
use registro::service::{loader, Principal, Registro, Role};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static SEQ: AtomicU64 = AtomicU64::new(0);
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "common/synth.rs"]
mod synth;
use synth::{fingers, pct, rss_mib};

struct Outcome {
    latencies_ms: Vec<f64>,
    refused: u64,
    other: Vec<u16>,
    secs: f64,
}

/// Running totals of one run, read while it goes on (the soak prints them every minute);
/// a fresh one for each run.
#[derive(Default)]
struct Live {
    admitted: AtomicU64,
    refused: AtomicU64,
    other: AtomicU64,
}

/// `clients` closed-loop clients for `secs`, each sending `make(n)` bodies to `path`. With a
/// `rate` (requests per second over all clients), the `k`-th request of the run is not sent
/// before `k / rate` seconds: an open-loop pace, as long as the clients keep up.
#[allow(clippy::too_many_arguments)]
fn run(
    base: &str,
    key: &str,
    path: &str,
    clients: usize,
    secs: f64,
    rate: Option<f64>,
    make: &(dyn Fn(u64) -> Value + Sync),
    live: &Live,
) -> Outcome {
    let stop = AtomicBool::new(false);
    let paced = AtomicU64::new(0);
    let lat = Mutex::new(Vec::new());
    let other = Mutex::new(Vec::new());
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..clients {
            s.spawn(|| {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                while !stop.load(Ordering::Relaxed) {
                    if let Some(r) = rate {
                        let k = paced.fetch_add(1, Ordering::Relaxed);
                        let due = t + Duration::from_secs_f64(k as f64 / r);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                    // One sequence over all runs: capture ids never repeat (no replays).
                    let body = make(SEQ.fetch_add(1, Ordering::Relaxed));
                    let t0 = Instant::now();
                    let r = agent
                        .post(&format!("{base}{path}"))
                        .header("Authorization", &format!("Bearer {key}"))
                        .send_json(&body);
                    let ms = t0.elapsed().as_secs_f64() * 1000.0;
                    match r.map(|r| r.status().as_u16()) {
                        Ok(200) | Ok(201) => {
                            live.admitted.fetch_add(1, Ordering::Relaxed);
                            lat.lock().unwrap().push(ms)
                        }
                        Ok(503) => {
                            live.refused.fetch_add(1, Ordering::Relaxed);
                            // Honour Retry-After loosely: a device would back off.
                            std::thread::sleep(Duration::from_millis(200));
                        }
                        Ok(s) => {
                            live.other.fetch_add(1, Ordering::Relaxed);
                            other.lock().unwrap().push(s)
                        }
                        Err(_) => {
                            live.other.fetch_add(1, Ordering::Relaxed);
                            other.lock().unwrap().push(0)
                        }
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
    });
    Outcome {
        latencies_ms: lat.into_inner().unwrap(),
        refused: live.refused.load(Ordering::Relaxed),
        other: other.into_inner().unwrap(),
        secs: t.elapsed().as_secs_f64(),
    }
}

/// Prints one level's figures; returns its admitted requests per second.
fn report(kind: &str, gallery: usize, clients: usize, o: &mut Outcome) -> f64 {
    let admitted = o.latencies_ms.len();
    let total = admitted as u64 + o.refused + o.other.len() as u64;
    let mut other: std::collections::BTreeMap<u16, usize> = Default::default();
    for s in &o.other {
        *other.entry(*s).or_default() += 1;
    }
    println!(
        "{kind} gallery {gallery} clients {clients}: {:.1} admitted/s, p50 {:.0} ms p95 {:.0} ms p99 {:.0} ms, refused {:.1} % ({} of {total}), other statuses {other:?}",
        admitted as f64 / o.secs,
        pct(&mut o.latencies_ms, 0.5),
        pct(&mut o.latencies_ms, 0.95),
        pct(&mut o.latencies_ms, 0.99),
        100.0 * o.refused as f64 / total.max(1) as f64,
        o.refused,
    );
    // Redirected to a file, stdout is block-buffered: show each level as it ends.
    std::io::Write::flush(&mut std::io::stdout()).ok();
    admitted as f64 / o.secs
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    // `N` people through the service, or `N+B`: then `B` more written straight to the store.
    let (people, bulk): (u64, u64) = match args.get(1).map(|s| s.split_once('+')) {
        Some(Some((a, b))) => (a.parse()?, b.parse()?),
        _ => (args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2000), 0),
    };
    let kinds: Vec<String> = std::env::var("REGISTRO_LOAD_KINDS")
        .unwrap_or_else(|_| "identify,enroll".into())
        .split(',')
        .map(str::to_string)
        .collect();
    let levels: Vec<usize> = args
        .get(2)
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 4, 8, 16]);
    let secs: f64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20.0);
    let soak_secs: f64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let soak_clients: usize = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(4);

    let dir = std::env::temp_dir().join(format!("registro-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}", dir.join("registro.db").display());
    let mut cfg = Config::new(&url);
    cfg.key_file = dir.join("registro.key");
    cfg.engine_threads = 2;
    if let Some(q) = std::env::var("REGISTRO_MAX_QUEUE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg.max_queue = q;
    }
    if let Some(w) = std::env::var("REGISTRO_MAX_WAIT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg.max_wait_ms = w;
    }
    let reg = Registro::open(cfg)?;
    loader::load_all(&reg).map_err(|e| anyhow::anyhow!("{e}"))?;

    // The gallery, through the service (two plain client threads).
    let who = Principal {
        actor: "device:load".into(),
        role: Role::Scanner,
        device_id: None,
        site: None,
        remote_addr: "local".into(),
    };
    let t = Instant::now();
    let next = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= people {
                    break;
                }
                let req: EnrollmentRequest = serde_json::from_value(synth::enrollment_body(
                    &format!("g-{i}"),
                    i,
                    0,
                    &format!("L{i}"),
                    None,
                ))
                .expect("body");
                if !matches!(
                    enrollment::enroll(&reg, &who, req),
                    Ok(Enrolled::Created(_))
                ) {
                    eprintln!("gallery enrollment {i} failed");
                }
            });
        }
    });
    if bulk > 0 {
        let t = Instant::now();
        let workers = rayon::ThreadPoolBuilder::new().num_threads(2).build()?;
        synth::bulk_seed(&reg, &workers, 1_000_000, bulk)?;
        println!(
            "bulk-added {bulk} people in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    let gallery = reg.matcher.len();
    println!(
        "gallery {gallery} people (2 fingers) enrolled in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let photos = synth::photos(&["amy", "bernadette", "howard", "leonard", "penny", "raj"]);
    anyhow::ensure!(!photos.is_empty(), "no faces under ../shared/data/faces");
    let key = {
        let admin = Principal {
            actor: "admin".into(),
            role: Role::Admin,
            device_id: None,
            site: None,
            remote_addr: "local".into(),
        };
        registro::service::auth::create_device(&reg, &admin, "load", "PA-DARIEN-LAJASBLANCAS")
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .api_key
    };
    reg.set_ready();
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    let r2: Arc<Registro> = reg.clone();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            match registro::http::server(r2, listener, 2) {
                Ok(s) => s.await.ok(),
                Err(e) => {
                    eprintln!("server: {e}");
                    None
                }
            }
        });
    });
    std::thread::sleep(Duration::from_millis(300));

    // Pre-computed bodies: the clients measure the server, not the synthetic generator.
    let probes: Vec<Value> = (0..64u64)
        .map(|j| {
            let id = (j * 7919) % people.max(1);
            json!({"photo": photos[j as usize % photos.len()], "fingerprints": fingers(id, 1)})
        })
        .collect();
    // Distinct new people (fingers), so that enrollments are first registrations, not
    // re-registrations of a few; the 30 shared photos do repeat.
    let new_people: Vec<Value> = (0..1024u64)
        .map(|j| {
            let id = 10_000_000 + j;
            synth::enrollment_body(
                "x",
                id,
                0,
                &format!("L{id}"),
                Some(&photos[j as usize % photos.len()]),
            )
        })
        .collect();
    let identify = |n: u64| probes[n as usize % probes.len()].clone();
    let enroll = |n: u64| {
        let mut b = new_people[n as usize % new_people.len()].clone();
        b["capture_id"] = json!(format!("load-{}-{n}", std::process::id()));
        b
    };
    // Check-in probes: the enrolled impressions of gallery people (service-enrolled and
    // bulk), so that every check-in is found and written, the whole path of the call.
    let checkin_probes: Vec<Value> = (0..64u64)
        .map(|j| {
            let id = if bulk > 0 && j % 2 == 1 {
                1_000_000 + (j * 7919) % bulk
            } else {
                (j * 7919) % people.max(1)
            };
            json!({"fingerprints": fingers(id, 0)})
        })
        .collect();
    let checkin = |n: u64| checkin_probes[n as usize % checkin_probes.len()].clone();
    let mut identify_saturated = 0.0f64;
    for kind in &kinds {
        for &c in &levels {
            let (path, label, make): (&str, &str, &(dyn Fn(u64) -> Value + Sync)) =
                match kind.as_str() {
                    "identify" => ("/api/v1/identify", "identify photo+2 fingers", &identify),
                    "enroll" => ("/api/v1/enrollments", "enroll photo+2 fingers", &enroll),
                    "checkin" => ("/api/v1/checkin", "checkin 2 fingers", &checkin),
                    other => anyhow::bail!("unknown kind {other}"),
                };
            let mut o = run(&base, &key, path, c, secs, None, make, &Live::default());
            let per_s = report(label, reg.matcher.len(), c, &mut o);
            if kind == "identify" {
                identify_saturated = identify_saturated.max(per_s);
            }
        }
    }
    if soak_secs > 0.0 {
        // REGISTRO_SOAK_RATE: requests/s, or `F%` for F % of the best identify rate this run
        // measured above (the saturated rate on this machine, now).
        let rate: Option<f64> = match std::env::var("REGISTRO_SOAK_RATE") {
            Ok(v) if v.ends_with('%') => {
                let f: f64 = v.trim_end_matches('%').parse()?;
                anyhow::ensure!(
                    identify_saturated > 0.0,
                    "a soak rate in % needs identify in REGISTRO_LOAD_KINDS"
                );
                Some(identify_saturated * f / 100.0)
            }
            Ok(v) => Some(v.parse()?),
            Err(_) => None,
        };
        let start = rss_mib();
        println!(
            "soak start: RSS {start:.0} MiB, rate {rate:?}/s (saturated identify {identify_saturated:.1}/s), {soak_clients} clients"
        );
        // RSS and the running totals once a minute, to show the curve and not only its ends.
        let done = AtomicBool::new(false);
        let live = Live::default();
        let mut o = std::thread::scope(|s| {
            s.spawn(|| {
                let t = Instant::now();
                let mut next = 60.0;
                while !done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(500));
                    if t.elapsed().as_secs_f64() >= next {
                        println!(
                            "soak {next:.0} s: RSS {:.0} MiB, admitted {}, refused {}, other {}",
                            rss_mib(),
                            live.admitted.load(Ordering::Relaxed),
                            live.refused.load(Ordering::Relaxed),
                            live.other.load(Ordering::Relaxed),
                        );
                        std::io::Write::flush(&mut std::io::stdout()).ok();
                        next += 60.0;
                    }
                }
            });
            let o = run(
                &base,
                &key,
                "/api/v1/identify",
                soak_clients,
                soak_secs,
                rate,
                &identify,
                &live,
            );
            done.store(true, Ordering::Relaxed);
            o
        });
        report("soak identify", reg.matcher.len(), soak_clients, &mut o);
        let end = rss_mib();
        println!(
            "soak end: RSS {end:.0} MiB ({:+.1} %)",
            100.0 * (end - start) / start
        );
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
