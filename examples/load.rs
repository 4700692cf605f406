//! Load tool: throughput, latency of admitted requests and refusal rate under admission
//! control, for enrollment and identify with a photo and two fingers.
//!
//! `cargo run --release --example load -- [gallery] [concurrencies] [secs] [soak_secs] [soak_concurrency]`
//!
//! * `gallery` (default 2000): synthetic people (two fingers each, the generator of
//!   `examples/population.rs`) enrolled through the service on a fresh SQLite store first.
//! * `concurrencies` (default `1,2,4,8,16`): for each, that many closed-loop HTTP clients run
//!   `secs` seconds (default 20) of identify, then of enrollment, each with a photo (the shared
//!   test faces) and two synthetic fingers. Per level: admitted requests per second, p50, p95
//!   and p99 of admitted requests (ms), and the share refused with `503 overloaded`.
//! * `soak_secs` (default 0): then identify at `soak_concurrency` clients for that long,
//!   printing the process RSS at the start and the end, and every status that is not 200 or
//!   `503 overloaded`.
//!
//! The server runs in this process with the defaults of `registro serve` (`--max-queue 256`,
//! `--max-wait-ms 5000`) unless `REGISTRO_MAX_QUEUE` / `REGISTRO_MAX_WAIT_MS` say otherwise.

use registro::biometrics::finger::synthetic::{
    ImpressionParams, MasterFinger, SyntheticConfig, SyntheticGenerator,
};
use registro::biometrics::finger::FingerView;
use registro::config::Config;
use registro::service::enrollment::{self, Enrolled, EnrollmentRequest};
use registro::service::{loader, Principal, Registro, Role};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SEED: u64 = 20261129;

static SEQ: AtomicU64 = AtomicU64::new(0);

fn masters(id: u64) -> [MasterFinger; 2] {
    let mut g = SyntheticGenerator::new(
        SEED ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        SyntheticConfig::default(),
    );
    [g.master(), g.master()]
}

fn impression(id: u64, visit: u64, m: &MasterFinger) -> FingerView {
    let mut g = SyntheticGenerator::new(
        SEED ^ id.wrapping_mul(31) ^ visit.wrapping_mul(0x5851_f42d_4c95_7f2d) ^ 0xabc,
        SyntheticConfig::default(),
    );
    g.render(m, &ImpressionParams::default())
}

fn finger_json(position: u8, v: &FingerView) -> Value {
    let minutiae: Vec<Value> = v
        .minutiae
        .iter()
        .map(|m| {
            let kind = if matches!(
                m.kind,
                registro::biometrics::finger::MinutiaKind::Bifurcation
            ) {
                "bifurcation"
            } else {
                "ending"
            };
            json!({"x": m.x, "y": m.y, "angle_deg": m.angle.to_degrees().rem_euclid(360.0),
                   "type": kind, "quality": m.quality.min(100)})
        })
        .collect();
    json!({"position": position, "format": "minutiae-json", "width": v.width, "height": v.height, "resolution_dpi": 500, "minutiae": minutiae})
}

fn fingers(id: u64, visit: u64) -> Value {
    let [a, b] = masters(id);
    json!([
        finger_json(2, &impression(id, visit * 2, &a)),
        finger_json(7, &impression(id, visit * 2 + 1, &b))
    ])
}

fn enrollment_body(capture_id: &str, id: u64, photo: Option<&str>) -> Value {
    let mut v = json!({
        "capture_id": capture_id,
        "captured_at": "2026-11-20T12:00:00Z",
        "site": "PA-DARIEN-LAJASBLANCAS",
        "person": {"given_names": format!("L{id}"), "family_names": format!("F{id}"), "nationality": "VEN", "sex": "M", "age_estimate": 30},
        "fingerprints": fingers(id, 0)
    });
    if let Some(p) = photo {
        v["photo"] = json!(p);
    }
    v
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

struct Outcome {
    latencies_ms: Vec<f64>,
    refused: u64,
    other: Vec<u16>,
    secs: f64,
}

/// `clients` closed-loop clients for `secs`, each sending `make(n)` bodies to `path`.
fn run(
    base: &str,
    key: &str,
    path: &str,
    clients: usize,
    secs: f64,
    make: &(dyn Fn(u64) -> Value + Sync),
) -> Outcome {
    let stop = AtomicBool::new(false);
    let lat = Mutex::new(Vec::new());
    let refused = AtomicU64::new(0);
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
                    // One sequence over all runs: capture ids never repeat (no replays).
                    let body = make(SEQ.fetch_add(1, Ordering::Relaxed));
                    let t0 = Instant::now();
                    let r = agent
                        .post(&format!("{base}{path}"))
                        .header("Authorization", &format!("Bearer {key}"))
                        .send_json(&body);
                    let ms = t0.elapsed().as_secs_f64() * 1000.0;
                    match r.map(|r| r.status().as_u16()) {
                        Ok(200) | Ok(201) => lat.lock().unwrap().push(ms),
                        Ok(503) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            // Honour Retry-After loosely: a device would back off.
                            std::thread::sleep(Duration::from_millis(200));
                        }
                        Ok(s) => other.lock().unwrap().push(s),
                        Err(_) => other.lock().unwrap().push(0),
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
    });
    Outcome {
        latencies_ms: lat.into_inner().unwrap(),
        refused: refused.load(Ordering::Relaxed),
        other: other.into_inner().unwrap(),
        secs: t.elapsed().as_secs_f64(),
    }
}

fn report(kind: &str, gallery: usize, clients: usize, o: &mut Outcome) {
    let admitted = o.latencies_ms.len();
    let total = admitted as u64 + o.refused + o.other.len() as u64;
    println!(
        "{kind} gallery {gallery} clients {clients}: {:.1} admitted/s, p50 {:.0} ms p95 {:.0} ms p99 {:.0} ms, refused {:.1} % ({} of {total}), other {:?}",
        admitted as f64 / o.secs,
        pct(&mut o.latencies_ms, 0.5),
        pct(&mut o.latencies_ms, 0.95),
        pct(&mut o.latencies_ms, 0.99),
        100.0 * o.refused as f64 / total.max(1) as f64,
        o.refused,
        o.other
    );
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let people: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2000);
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
                let req: EnrollmentRequest =
                    serde_json::from_value(enrollment_body(&format!("g-{i}"), i, None))
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
    let gallery = reg.matcher.len();
    println!(
        "gallery {gallery} people (2 fingers) enrolled in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let faces_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/faces");
    let mut photos: Vec<String> = Vec::new();
    for p in ["amy", "bernadette", "howard", "leonard", "penny", "raj"] {
        for i in 1..=5 {
            if let Ok(b) = std::fs::read(faces_dir.join(p).join(format!("{p}{i}.png"))) {
                use base64::Engine;
                photos.push(base64::engine::general_purpose::STANDARD.encode(b));
            }
        }
    }
    anyhow::ensure!(!photos.is_empty(), "no faces under {}", faces_dir.display());
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
    let new_people: Vec<Value> = (0..64u64)
        .map(|j| {
            enrollment_body(
                "x",
                10_000_000 + j,
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
    for &c in &levels {
        let mut o = run(&base, &key, "/api/v1/identify", c, secs, &identify);
        report("identify photo+2 fingers", reg.matcher.len(), c, &mut o);
    }
    for &c in &levels {
        let mut o = run(&base, &key, "/api/v1/enrollments", c, secs, &enroll);
        report("enroll photo+2 fingers", reg.matcher.len(), c, &mut o);
    }
    if soak_secs > 0.0 {
        let start = rss_mib();
        println!("soak start: RSS {start:.0} MiB");
        let mut o = run(
            &base,
            &key,
            "/api/v1/identify",
            soak_clients,
            soak_secs,
            &identify,
        );
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
