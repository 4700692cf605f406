//! The review console's figures: time to render a case page (and the queue) with a 100 k
//! gallery, page weight, and what a person costs in storage.
//!
//! `cargo run --release --example console_render -- [bulk] [requests]`
//!
//! 1. A fresh SQLite store; `bulk` (default 100 000) synthetic people with two fingers each
//!    are written straight to the store, sealed as the service seals them (`bulk_seed` of
//!    examples/common/synth.rs, with its seed), and join the galleries.
//! 2. Eight people of ../shared/data/faces are enrolled twice through the service (crop 1,
//!    then crop 2 of the same person, with two synthetic fingers of fresh impressions): eight
//!    pending `duplicate` cases, each with both faces and two finger pairs to draw.
//! 3. The real HTTP server; an investigator's console session (the cookie). Each case page
//!    (`GET /ui/cases/{id}`) and the queue (`GET /ui/cases`) is requested `requests` times
//!    (default 200) one after another after a warm-up: median and p95 of the time to the last
//!    byte, on this box.
//! 4. Page weight: the bytes of the HTML and of every asset the page loads (stylesheet, face
//!    crops), as sent without compression and with `Accept-Encoding: gzip` (what the server
//!    compresses).
//! 5. Storage per person, for the 16 enrolled records: the sealed kept photo, the sealed crop,
//!    the sealed biometrics (embedding, finger templates and features), the sealed person, and
//!    the whole `records` row plus its evidence rows.

use registro::config::Config;
use registro::service::credentials::{self, Created, PasswordChange};
use registro::service::enrollment::{self, Enrolled, EnrollmentRequest};
use registro::service::{auth, loader, Principal, Registro, Role};
use serde_json::json;
use std::io::{Read, Write};
use std::time::Instant;

#[path = "common/synth.rs"]
mod synth;

const PEOPLE: [&str; 8] = [
    "amy",
    "bernadette",
    "howard",
    "leonard",
    "penny",
    "raj",
    "sheldon",
    "stuart",
];

/// A GET over a plain socket: the status, the headers and the body as sent (chunked transfer
/// decoded, compression kept), so the bytes on the wire can be counted.
fn raw_get(addr: &str, path: &str, cookie: &str, gzip: bool) -> (u16, String, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let enc = if gzip { "gzip" } else { "identity" };
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: registro_session={cookie}\r\n\
         Accept-Language: en\r\nAccept-Encoding: {enc}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("read");
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers end");
    let head = String::from_utf8_lossy(&all[..split]).to_string();
    let mut body = all[split + 4..].to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&rest[..eol])
                    .split(';')
                    .next()
                    .unwrap_or("0")
                    .trim(),
                16,
            )
            .unwrap_or(0);
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = &rest[eol + 2 + size + 2..];
        }
        body = out;
    }
    (status, head, body)
}

/// Every `attr="/ui/…"` URL in the page that the browser loads (stylesheet, images).
fn assets_of(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for marker in ["<link rel=\"stylesheet\" href=\"", "<img src=\""] {
        for (i, _) in html.match_indices(marker) {
            let rest = &html[i + marker.len()..];
            if let Some(end) = rest.find('"') {
                out.push(rest[..end].replace("&amp;", "&"));
            }
        }
    }
    out
}

fn weight(addr: &str, cookie: &str, path: &str) -> String {
    let (st, _, html) = raw_get(addr, path, cookie, false);
    assert_eq!(st, 200, "{path}");
    let html_s = String::from_utf8_lossy(&html).to_string();
    let (_, _, html_gz) = raw_get(addr, path, cookie, true);
    let mut total = (html.len(), html_gz.len());
    let mut parts = vec![format!("HTML {} B ({} B gzip)", html.len(), html_gz.len())];
    for a in assets_of(&html_s) {
        let (st, head, plain) = raw_get(addr, &a, cookie, false);
        assert_eq!(st, 200, "{a}");
        let (_, head_gz, gz) = raw_get(addr, &a, cookie, true);
        let compressed = head_gz
            .to_ascii_lowercase()
            .contains("content-encoding: gzip");
        let kind = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-type: ")
                    .map(String::from)
            })
            .unwrap_or_default();
        total.0 += plain.len();
        total.1 += gz.len();
        parts.push(format!(
            "{} ({kind}) {} B{}",
            a.split('?').next().unwrap_or(&a),
            plain.len(),
            if compressed {
                format!(" ({} B gzip)", gz.len())
            } else {
                " (not compressed)".into()
            }
        ));
    }
    format!(
        "{path}: {} B uncompressed, {} B as sent with gzip\n    {}",
        total.0,
        total.1,
        parts.join("\n    ")
    )
}

fn stats_ms(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    (at(0.5), at(0.95), v[v.len() - 1])
}

fn time_get(addr: &str, cookie: &str, paths: &[String], n: usize) -> (f64, f64, f64) {
    for p in paths {
        let (st, _, _) = raw_get(addr, p, cookie, true);
        assert_eq!(st, 200, "{p}");
    }
    let mut ms: Vec<f64> = (0..n)
        .map(|i| {
            let t = Instant::now();
            let (st, _, _) = raw_get(addr, &paths[i % paths.len()], cookie, true);
            assert_eq!(st, 200);
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    stats_ms(&mut ms)
}

#[derive(diesel::QueryableByName)]
struct Sizes {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    person: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    biometrics: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    row_bytes: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    photo: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    face: i64,
}

fn median(mut v: Vec<i64>) -> (i64, i64, i64) {
    v.sort();
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n_bulk: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let n_req: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200);
    let dir = std::env::temp_dir().join(format!("registro-console-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}", dir.join("registro.db").display());
    let mut cfg = Config::new(&url);
    cfg.key_file = dir.join("registro.key");
    cfg.engine_threads = 2;
    let reg = Registro::open(cfg)?;
    loader::load_all(&reg).map_err(|e| anyhow::anyhow!("{e}"))?;

    let t = Instant::now();
    let workers = rayon::ThreadPoolBuilder::new().num_threads(2).build()?;
    synth::bulk_seed(&reg, &workers, 1_000_000, n_bulk)?;
    println!(
        "bulk: {n_bulk} people in {:.1} s; gallery {} records",
        t.elapsed().as_secs_f64(),
        reg.matcher.len()
    );

    // Eight people enrolled twice: eight pending cases.
    let scanner = Principal {
        actor: "device:console-bench".into(),
        role: Role::Scanner,
        device_id: None,
        site: None,
        remote_addr: "local".into(),
    };
    let faces = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/faces");
    let mut cases = Vec::new();
    let mut enrolled = Vec::new();
    for (j, p) in PEOPLE.iter().enumerate() {
        let id = j as u64;
        for visit in 0..2u64 {
            use base64::Engine;
            let photo = std::fs::read(faces.join(p).join(format!("{p}{}.png", visit + 1)))?;
            let body = json!({
                "capture_id": format!("console-{j}-{visit}"),
                "captured_at": "2026-11-20T12:00:00Z",
                "site": "PA-DARIEN-LAJASBLANCAS",
                "person": {"given_names": format!("Persona {j}"), "family_names": format!("Prueba V{visit}"),
                           "nationality": "VEN", "sex": "F", "date_of_birth": "1990-05-05"},
                "photo": base64::engine::general_purpose::STANDARD.encode(photo),
                "fingerprints": synth::fingers(id, visit)
            });
            let req: EnrollmentRequest = serde_json::from_value(body)?;
            let Ok(Enrolled::Created(r)) = enrollment::enroll(&reg, &scanner, req) else {
                anyhow::bail!("enrollment {p} {visit} failed");
            };
            enrolled.push(r.record_id.clone());
            cases.extend(
                r.duplicates
                    .iter()
                    .filter(|d| d.decision == "duplicate")
                    .filter_map(|d| d.case_id.clone()),
            );
        }
    }
    println!("cases: {} pending duplicate cases", cases.len());
    // The larger photos of the shared faces, once each (distinct fingers), for the storage
    // figures; a photo the face engine refuses is skipped.
    let mut photos = Vec::new();
    for (k, name) in [
        "angry",
        "disgusted",
        "fearful",
        "happy",
        "neutral",
        "sad",
        "surprised",
        "bbt1",
        "bbt2",
        "bbt3",
        "bbt4",
        "bbt5",
    ]
    .iter()
    .enumerate()
    {
        use base64::Engine;
        let id = 100 + k as u64;
        let Ok(photo) = std::fs::read(faces.join(format!("{name}.jpg"))) else {
            continue;
        };
        let body = json!({
            "capture_id": format!("console-photo-{k}"),
            "captured_at": "2026-11-20T12:00:00Z",
            "site": "PA-DARIEN-LAJASBLANCAS",
            "person": {"given_names": format!("Foto {k}"), "nationality": "VEN", "sex": "F", "age_estimate": 30},
            "photo": base64::engine::general_purpose::STANDARD.encode(&photo),
            "fingerprints": synth::fingers(id, 0)
        });
        let req: EnrollmentRequest = serde_json::from_value(body)?;
        match enrollment::enroll(&reg, &scanner, req) {
            Ok(Enrolled::Created(r)) => photos.push((r.record_id, name, photo.len())),
            _ => println!("  {name}.jpg: not enrolled (the face engine refused it)"),
        }
    }
    anyhow::ensure!(!cases.is_empty(), "no case to render");

    // An investigator's console session.
    let admin = Principal {
        actor: "admin-console-bench".into(),
        role: Role::Admin,
        device_id: None,
        site: None,
        remote_addr: "local".into(),
    };
    let pw = "a long enough password for the bench";
    let Created::Done(u) =
        credentials::create_user(&reg, &admin, "inv.bench", None, "investigator")?
    else {
        anyhow::bail!("user not created");
    };
    credentials::change_password(
        &reg,
        &PasswordChange {
            username: "inv.bench".into(),
            current_password: None,
            reset_token: u.reset_token,
            new_password: pw.into(),
        },
        "local",
    )?;
    let token = auth::login(&reg, "inv.bench", pw, "127.0.0.1")?.token;

    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let r2 = reg.clone();
    std::thread::spawn(move || {
        let sys = actix_web::rt::System::new();
        sys.block_on(async move {
            let server = registro::http::server(r2, listener, 2).expect("server");
            server.await.ok();
        });
    });
    for _ in 0..200 {
        if std::net::TcpStream::connect(&addr).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }

    println!("page weight:");
    println!("  {}", weight(&addr, &token, "/ui/cases"));
    println!(
        "  {}",
        weight(&addr, &token, &format!("/ui/cases/{}", cases[0]))
    );

    let case_paths: Vec<String> = cases.iter().map(|c| format!("/ui/cases/{c}")).collect();
    let (p50, p95, max) = time_get(&addr, &token, &case_paths, n_req);
    println!(
        "GET /ui/cases/{{id}} ({} cases in turn), {n_req} requests: median {p50:.1} ms, p95 {p95:.1} ms, max {max:.1} ms",
        cases.len()
    );
    let (p50, p95, max) = time_get(&addr, &token, &["/ui/cases".to_string()], n_req);
    println!(
        "GET /ui/cases ({} cases), {n_req} requests: median {p50:.1} ms, p95 {p95:.1} ms, max {max:.1} ms",
        cases.len()
    );

    // Storage per person.
    let sizes: Vec<Sizes> = reg
        .db
        .read(|c| -> Result<Vec<Sizes>, registro::error::ApiError> {
            use diesel::prelude::*;
            Ok(diesel::sql_query(
                "SELECT r.id AS id, length(r.person_enc) AS person, length(r.biometrics_enc) AS biometrics, \
                 (length(r.id) + length(r.capture_id) + length(r.person_id) + length(r.site) \
                  + coalesce(length(r.device_id), 0) + length(r.enrolled_by) + 16 \
                  + coalesce(length(r.sex), 0) + coalesce(length(r.nationality), 0) + length(r.age_group) \
                  + coalesce(length(r.doc_index), 0) + coalesce(length(r.phone_index), 0) \
                  + coalesce(length(r.family_index), 0) + length(r.person_enc) + length(r.biometrics_enc) \
                  + length(r.response_json)) AS row_bytes, \
                 coalesce((SELECT length(data) FROM evidence e WHERE e.record_id = r.id AND e.field = 'photo'), 0) AS photo, \
                 coalesce((SELECT length(data) FROM evidence e WHERE e.record_id = r.id AND e.field = 'face'), 0) AS face \
                 FROM records r WHERE r.id NOT LIKE 'rec_bulk%'",
            )
            .load(c)?)
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let show = |name: &str, v: Vec<i64>| {
        let (lo, med, hi) = median(v);
        println!("  {name}: median {med} B (min {lo}, max {hi})");
    };
    for (label, ids) in [
        (
            "8 people × 2 face crops (PNG, ~100-200 px) of ../shared/data/faces",
            enrolled.clone(),
        ),
        (
            "the single photos (JPEG) of ../shared/data/faces",
            photos.iter().map(|p| p.0.clone()).collect(),
        ),
    ] {
        let group: Vec<&Sizes> = sizes.iter().filter(|s| ids.contains(&s.id)).collect();
        if group.is_empty() {
            continue;
        }
        storage(label, &group, &show);
    }
    for (rid, name, bytes) in &photos {
        if let Some(s) = sizes.iter().find(|s| &s.id == rid) {
            println!(
                "  {name}.jpg ({bytes} B uploaded): photo {} B, crop {} B, biometrics {} B",
                s.photo, s.face, s.biometrics
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

fn storage(label: &str, sizes: &[&Sizes], show: &dyn Fn(&str, Vec<i64>)) {
    println!(
        "storage per person, {} records ({label}, 2 synthetic fingers each):",
        sizes.len()
    );
    show("sealed kept photo", sizes.iter().map(|s| s.photo).collect());
    show("sealed face crop", sizes.iter().map(|s| s.face).collect());
    show(
        "sealed biometrics (embedding + 2 finger templates and features)",
        sizes.iter().map(|s| s.biometrics).collect(),
    );
    show("sealed person", sizes.iter().map(|s| s.person).collect());
    show(
        "records row (column bytes) + photo + crop",
        sizes
            .iter()
            .map(|s| s.row_bytes + s.photo + s.face)
            .collect(),
    );
}
