use crate::common::*;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(dir: &std::path::Path, url: &str, port: u16) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_registro"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database",
            url,
            "--workers",
            "2",
        ])
        .env("REGISTRO_KEY_FILE", dir.join("registro.key"))
        .env("REGISTRO_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start registro");
    let p = Proc(child);
    let a = agent();
    for _ in 0..600 {
        if let Ok(r) = a.get(&format!("http://127.0.0.1:{port}/readyz")).call() {
            if r.status() == 200 {
                return p;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("registro did not become ready");
}

fn bootstrap(dir: &std::path::Path, url: &str) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_registro"))
        .args([
            "admin",
            "bootstrap",
            "--username",
            "root-admin",
            "--database",
            url,
        ])
        .env("REGISTRO_KEY_FILE", dir.join("registro.key"))
        .env("REGISTRO_LOG", "warn")
        .output()
        .expect("bootstrap");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    (
        v["username"].as_str().unwrap().into(),
        v["password"].as_str().unwrap().into(),
    )
}

fn post(
    a: &ureq::Agent,
    url: &str,
    token: &str,
    body: &serde_json::Value,
) -> Option<(u16, serde_json::Value)> {
    let mut r = a
        .post(url)
        .header("Authorization", &format!("Bearer {token}"))
        .send_json(body)
        .ok()?;
    let status = r.status().as_u16();
    let v = r.body_mut().read_json::<serde_json::Value>().ok()?;
    Some((status, v))
}

/// SIGKILL during concurrent enrollments: every enrollment that got its 201 is there after
/// a restart.
#[test]
fn kill_9_loses_nothing_acknowledged() {
    let dir = temp_dir();
    let url = fresh_database(&dir);
    let (user, pw) = bootstrap(&dir, &url);
    let port = free_port();
    let server = spawn(&dir, &url, port);
    let base = format!("http://127.0.0.1:{port}");
    let a = agent();
    let login = |u: &str, p: &str| -> String {
        let mut r = a
            .post(&format!("{base}/api/v1/auth/login"))
            .send_json(json!({"username": u, "password": p}))
            .unwrap();
        r.body_mut().read_json::<serde_json::Value>().unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let admin = login(&user, &pw);
    let dev = post(
        &a,
        &format!("{base}/api/v1/devices"),
        &admin,
        &json!({"name": "t", "site": "PA-DARIEN-LAJASBLANCAS"}),
    )
    .unwrap()
    .1;
    backdate_devices(&registro::db::Db::open(&url, 1).expect("open the store"));
    let key = dev["api_key"].as_str().unwrap().to_string();
    create_user(&a, &base, &admin, "inv1", "investigator", TEST_PASSWORD);

    let acked = std::sync::Mutex::new(Vec::<(String, String)>::new());
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (acked, stop, key, base) = (&acked, &stop, &key, &base);
            s.spawn(move || {
                let a = agent();
                for i in 0..10_000u64 {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let cap = format!("k9-{t}-{i}");
                    match post(
                        &a,
                        &format!("{base}/api/v1/enrollments"),
                        key,
                        &enrollment(
                            &cap,
                            t * 100_000 + i,
                            json!({"family_names": format!("F{t}x{i}")}),
                        ),
                    ) {
                        Some((201, v)) => acked
                            .lock()
                            .unwrap()
                            .push((cap, v["record_id"].as_str().unwrap().to_string())),
                        _ => break,
                    }
                }
            });
        }
        // Let enrollments flow, then kill -9 in the middle of them.
        while acked.lock().unwrap().len() < 20 {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut server = server;
        unsafe_kill9(&mut server.0);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let acked = acked.into_inner().unwrap();
    assert!(acked.len() >= 20);

    let port2 = free_port();
    let _server2 = spawn(&dir, &url, port2);
    let base2 = format!("http://127.0.0.1:{port2}");
    let login2 = {
        let mut r = a
            .post(&format!("{base2}/api/v1/auth/login"))
            .send_json(json!({"username": "inv1", "password": "a long enough password"}))
            .unwrap();
        r.body_mut().read_json::<serde_json::Value>().unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // The galleries were reloaded from the store at start: the first acknowledged capture is
    // found again by its fingers.
    let (cap0, rid0) = &acked[0];
    let (t0, i0) = cap0.trim_start_matches("k9-").split_once('-').unwrap();
    let seed = t0.parse::<u64>().unwrap() * 100_000 + i0.parse::<u64>().unwrap();
    let probe = enrollment("unused", seed, json!({}));
    let (status, found) = post(
        &a,
        &format!("{base2}/api/v1/identify"),
        &key,
        &json!({"fingerprints": probe["fingerprints"]}),
    )
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        found["candidates"][0]["record_id"],
        rid0.as_str(),
        "{found}"
    );
    for (cap, rid) in &acked {
        let mut r = a
            .get(&format!("{base2}/api/v1/records/{rid}"))
            .header("Authorization", &format!("Bearer {login2}"))
            .header("X-Purpose", "durability check")
            .call()
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged record {rid} lost");
        let v: serde_json::Value = r.body_mut().read_json().unwrap();
        assert_eq!(v["capture_id"], cap.as_str());
        // The retry after the crash answers with the same record.
        let (status, again) = post(
            &a,
            &format!("{base2}/api/v1/enrollments"),
            &key,
            &enrollment(cap, 0, json!({})),
        )
        .unwrap();
        assert_eq!(status, 200);
        assert_eq!(again["record_id"], rid.as_str());
    }
}

fn unsafe_kill9(child: &mut Child) {
    // std's Child::kill sends SIGKILL on Unix: no shutdown hooks, no flushing.
    child.kill().expect("SIGKILL");
    child.wait().ok();
}
