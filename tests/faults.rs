//! The fault suite (issue 13, API.md v1.1 "Faults and overload"): a full store, a lost
//! database, overload, a failing log destination and SIGTERM, each against the real server.

use crate::common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SITE: &str = "PA-DARIEN-LAJASBLANCAS";

fn header<'a>(r: &'a Resp, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn retry_after(r: &Resp) -> Option<u64> {
    header(r, "retry-after").and_then(|v| v.parse().ok())
}

fn person(n: u64) -> Value {
    json!({"given_names": format!("Fault{n}"), "family_names": "Test", "sex": "F",
           "date_of_birth": "1990-01-01", "nationality": "VEN"})
}

fn sql(app: &TestApp, q: &str) {
    use diesel::RunQueryDsl;
    app.reg
        .db
        .write(|c| -> Result<(), registro::error::ApiError> {
            diesel::sql_query(q).execute(c)?;
            Ok(())
        })
        .expect(q);
}

fn sqlite_scalar(app: &TestApp, q: &str) -> String {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct S {
        #[diesel(sql_type = diesel::sql_types::Text)]
        v: String,
    }
    app.reg
        .db
        .read(|c| -> Result<String, registro::error::ApiError> {
            Ok(diesel::sql_query(q).get_result::<S>(c)?.v)
        })
        .expect(q)
}

/// Storage full (SQLite: `max_page_count`; PostgreSQL: the server's disk-full error, raised
/// for `records` by a trigger since the shared server's disk cannot be filled): `507
/// storage_full`, nothing half written, `/readyz` says so, reads keep working, and writes
/// resume by themselves when space returns.
#[test]
fn storage_full_is_507_and_recovers() {
    let app = TestApp::start();
    let key = app.device(SITE);
    let investigator = app.user("investigator");
    let auditor = app.user("auditor");
    let first = app.post(
        "/api/v1/enrollments",
        Some(&key),
        &enrollment(&unique("cap-"), 11, person(1)),
    );
    assert_eq!(first.status, 201, "{}", first.text);
    let rid = first.body["record_id"]
        .as_str()
        .expect("record_id")
        .to_string();
    let records_before = app.count("records");
    let changes_before = app.count("changes");

    if is_postgres() {
        sql(
            &app,
            "CREATE FUNCTION fault_disk_full() RETURNS trigger AS $$ BEGIN \
             RAISE EXCEPTION 'could not extend file \"base/1/2\": No space left on device' \
             USING ERRCODE = 'disk_full', HINT = 'Check free disk space.'; END $$ LANGUAGE plpgsql",
        );
        sql(
            &app,
            "CREATE TRIGGER fault_disk_full BEFORE INSERT ON records \
             FOR EACH ROW EXECUTE FUNCTION fault_disk_full()",
        );
    } else {
        let pages: i64 = sqlite_scalar(
            &app,
            "SELECT CAST(page_count AS TEXT) AS v FROM pragma_page_count()",
        )
        .parse()
        .expect("page count");
        // Room for a few access-log rows, not for an enrollment's sealed biometrics.
        app.reg.db.set_max_pages(Some(pages as u64 + 2));
    }

    let capture = unique("cap-");
    let body = enrollment(&capture, 12, person(2));
    let full = app.post("/api/v1/enrollments", Some(&key), &body);
    assert_eq!(full.status, 507, "{}", full.text);
    assert_eq!(full.body["error"]["code"], "storage_full");
    let ready = app.get("/readyz", None);
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert_eq!(ready.body["storage"], "full");
    assert_eq!(app.count("records"), records_before, "nothing half written");
    assert_eq!(app.count("changes"), changes_before, "nothing half written");

    // Reads keep working.
    assert_eq!(app.get("/healthz", None).status, 200);
    assert_eq!(app.get("/metrics", None).status, 200);
    let read = app.request(
        "GET",
        &format!("/api/v1/records/{rid}"),
        Some(&investigator),
        &[("X-Purpose", "fault suite")],
        None,
    );
    assert_eq!(read.status, 200, "{}", read.text);
    // Still full: the same answer again, never a 500.
    let again = app.post("/api/v1/enrollments", Some(&key), &body);
    assert_eq!(again.status, 507, "{}", again.text);

    // Space returns: the same capture is enrolled for the first time (nothing of it was kept).
    if is_postgres() {
        sql(&app, "DROP TRIGGER fault_disk_full ON records");
    } else {
        app.reg.db.set_max_pages(None);
    }
    let ok = app.post("/api/v1/enrollments", Some(&key), &body);
    assert_eq!(ok.status, 201, "{}", ok.text);
    assert_eq!(app.count("records"), records_before + 1);
    let ready = app.get("/readyz", None);
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.body["storage"], "ok");
    let verify = app.get("/api/v1/audit/verify", Some(&auditor));
    assert_eq!(verify.status, 200, "{}", verify.text);
    assert_eq!(verify.body["chain_ok"], true, "{}", verify.text);
    if !is_postgres() {
        assert_eq!(
            sqlite_scalar(
                &app,
                "SELECT integrity_check AS v FROM pragma_integrity_check()"
            ),
            "ok"
        );
    }
}

/// A TCP proxy between registro and PostgreSQL that the test cuts (every connection closed,
/// new ones closed at once) and restores.
struct Proxy {
    addr: String,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("addr").to_string();
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (c, o, s) = (cut.clone(), open.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::Acquire) {
                    break;
                }
                let Ok(client) = client else { continue };
                if c.load(Ordering::Acquire) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut reg = o.lock().unwrap();
                for s in [&client, &server] {
                    if let Ok(s) = s.try_clone() {
                        reg.push(s);
                    }
                }
                drop(reg);
                pump(
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                pump(server, client);
            }
        });
        Proxy {
            addr,
            cut,
            open,
            stop,
        }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::Release);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::Release);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.cut();
        let _ = TcpStream::connect(&self.addr);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

/// PostgreSQL lost under three concurrent writers: `503 database_unavailable` with
/// `Retry-After`, never a 500; connections come back without a restart; every acknowledged
/// enrollment is there. (SQLite is a file in the process: there is no server to lose.)
#[test]
fn database_loss_is_503_and_reconnects() {
    if !is_postgres() {
        return;
    }
    let dir = temp_dir();
    let direct = fresh_database(&dir);
    // postgres://user@HOST:PORT/db?… → the same through the proxy.
    let at = direct.find('@').expect("user@host in DATABASE_URL") + 1;
    let slash = at + direct[at..].find('/').expect("/db in DATABASE_URL");
    let proxy = Proxy::start(direct[at..slash].to_string());
    let url = format!("{}{}{}", &direct[..at], proxy.addr, &direct[slash..]);
    let mut cfg = test_config(&dir, &url);
    cfg.db_connect_timeout_ms = 1000;
    let app = Arc::new(TestApp::start_on(dir, url, cfg));
    let key = app.device(SITE);
    let investigator = app.user("investigator");

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3u64)
        .map(|w| {
            let (app, key, stop) = (app.clone(), key.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                for i in 0..400u64 {
                    if stop.load(Ordering::Acquire) && i > 0 {
                        break;
                    }
                    let cap = unique("cap-");
                    let r = app.post(
                        "/api/v1/enrollments",
                        Some(&key),
                        &enrollment(&cap, w * 1000 + i, person(w * 1000 + i)),
                    );
                    seen.push((cap, w * 1000 + i, r.status, r.body.clone(), retry_after(&r)));
                }
                seen
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(800));
    proxy.cut();
    let during = app.post(
        "/api/v1/enrollments",
        Some(&key),
        &enrollment(&unique("cap-"), 9_999, person(9_999)),
    );
    assert_eq!(during.status, 503, "{}", during.text);
    assert_eq!(during.body["error"]["code"], "database_unavailable");
    assert!(
        retry_after(&during).is_some(),
        "Retry-After: {:?}",
        during.headers
    );
    assert_eq!(app.get("/readyz", None).status, 503);
    std::thread::sleep(Duration::from_millis(1500));
    proxy.restore();

    // Back without a restart.
    let mut back = false;
    for _ in 0..100 {
        if app.get("/readyz", None).status == 200 {
            back = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(back, "the service did not reconnect");
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Release);

    let mut acknowledged = Vec::new();
    let mut unavailable = 0;
    for w in writers {
        for (cap, seed, status, body, ra) in w.join().expect("writer") {
            match status {
                201 | 200 => acknowledged.push(body["record_id"].as_str().expect("id").to_string()),
                503 => {
                    assert_eq!(body["error"]["code"], "database_unavailable", "{body}");
                    assert!(ra.is_some(), "503 without Retry-After");
                    unavailable += 1;
                    // Retried after the restore: enrolled now, or the first answer replayed.
                    let r = app.post(
                        "/api/v1/enrollments",
                        Some(&key),
                        &enrollment(&cap, seed, person(seed)),
                    );
                    assert!(matches!(r.status, 200 | 201), "retry: {}", r.text);
                    acknowledged.push(r.body["record_id"].as_str().expect("id").to_string());
                }
                other => panic!("writer got {other}: {body}"),
            }
        }
    }
    assert!(unavailable > 0, "the writers never saw the cut");
    for rid in &acknowledged {
        let r = app.request(
            "GET",
            &format!("/api/v1/records/{rid}"),
            Some(&investigator),
            &[("X-Purpose", "fault suite")],
            None,
        );
        assert_eq!(r.status, 200, "acknowledged {rid} lost: {}", r.text);
    }
}

/// Overload: identify with a photo and two fingers from more clients than the bound admits.
/// Some are refused at once with `503 overloaded` and `Retry-After`; none gets a 500; every
/// admitted one succeeds; health stays answered meanwhile.
#[test]
fn overload_refuses_with_retry_after() {
    let app = Arc::new(TestApp::start_with(|c| {
        c.max_running = 1;
        c.max_queue = 3;
    }));
    let key = app.device(SITE);
    let photo = face_b64("amy1.png");
    let body =
        json!({"photo": photo, "fingerprints": [synthetic_finger(2, 5), synthetic_finger(7, 6)]});
    let done = Arc::new(AtomicBool::new(false));
    let health = {
        let (app, done) = (app.clone(), done.clone());
        std::thread::spawn(move || {
            let mut answered = 0;
            while !done.load(Ordering::Acquire) {
                assert_eq!(app.get("/healthz", None).status, 200);
                answered += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            answered
        })
    };
    let clients: Vec<_> = (0..12)
        .map(|_| {
            let (app, key, body) = (app.clone(), key.clone(), body.clone());
            std::thread::spawn(move || {
                (0..3)
                    .map(|_| {
                        let r = app.post("/api/v1/identify", Some(&key), &body);
                        (r.status, r.body["error"]["code"].clone(), retry_after(&r))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<_> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client"))
        .collect();
    done.store(true, Ordering::Release);
    assert!(health.join().expect("health") > 0);
    let refused = results.iter().filter(|(s, _, _)| *s == 503).count();
    assert!(refused > 0, "nothing refused: {results:?}");
    for (status, code, ra) in &results {
        match status {
            200 => {}
            503 => {
                assert_eq!(code, "overloaded");
                assert!(ra.is_some_and(|s| s >= 1), "Retry-After missing");
            }
            other => panic!("got {other} {code}"),
        }
    }
    assert!(refused < results.len(), "nothing admitted");
    let metrics = app.get("/metrics", None).text;
    assert!(
        metrics.contains(&format!("registro_admission_refused_total {refused}")),
        "{metrics}"
    );
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn registro(dir: &std::path::Path, url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_registro"));
    c.env("REGISTRO_KEY_FILE", dir.join("registro.key"))
        .env("REGISTRO_DATABASE_URL", url)
        .env("REGISTRO_LOG", "info");
    c
}

fn bootstrap(dir: &std::path::Path, url: &str) -> (String, String) {
    let out = registro(dir, url)
        .args(["admin", "bootstrap", "--username", "fault-admin"])
        .env("REGISTRO_LOG", "warn")
        .output()
        .expect("bootstrap");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    (
        v["username"].as_str().unwrap().into(),
        v["password"].as_str().unwrap().into(),
    )
}

fn serve(dir: &std::path::Path, url: &str, port: u16, extra: &[&str], stderr: Stdio) -> Proc {
    let child = registro(dir, url)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--workers",
            "2",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(stderr)
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

/// A remote server spoken to with the shared helpers (`TestApp` minus the in-process parts).
struct Remote {
    base: String,
    agent: ureq::Agent,
}

impl Remote {
    fn new(port: u16) -> Remote {
        Remote {
            base: format!("http://127.0.0.1:{port}"),
            agent: agent(),
        }
    }
    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value, String) {
        let url = format!("{}{}", self.base, path);
        let res = if method == "GET" {
            let mut rq = self.agent.get(&url).header("X-Purpose", "fault suite");
            if let Some(t) = token {
                rq = rq.header("Authorization", &format!("Bearer {t}"));
            }
            rq.call()
        } else {
            let mut rq = self.agent.post(&url);
            if let Some(t) = token {
                rq = rq.header("Authorization", &format!("Bearer {t}"));
            }
            rq.send_json(body.cloned().unwrap_or(json!({})))
        };
        let mut r = res.expect("HTTP answer");
        let status = r.status().as_u16();
        let text = r
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        )
    }
    fn login(&self, user: &str, pw: &str) -> String {
        let (s, v, t) = self.call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&json!({"username": user, "password": pw})),
        );
        assert_eq!(s, 200, "{t}");
        v["token"].as_str().expect("token").into()
    }
    fn token_for(&self, admin: &str, role: &str) -> String {
        // Through the reset-token flow: an admin-set password must be changed before use.
        let name = unique(role);
        let (s, v, t) = self.call(
            "POST",
            "/api/v1/users",
            Some(admin),
            Some(&json!({"username": name, "role": role})),
        );
        assert_eq!(s, 201, "{t}");
        let (s, _, t) = self.call(
            "POST",
            "/api/v1/auth/password",
            None,
            Some(&json!({"username": name, "reset_token": v["reset_token"], "new_password": TEST_PASSWORD})),
        );
        assert_eq!(s, 204, "{t}");
        self.login(&name, TEST_PASSWORD)
    }
    fn device(&self, admin: &str) -> String {
        let (s, v, t) = self.call(
            "POST",
            "/api/v1/devices",
            Some(admin),
            Some(&json!({"name": "tablet", "site": SITE})),
        );
        assert_eq!(s, 201, "{t}");
        v["api_key"].as_str().expect("api_key").into()
    }
}

/// The log destination fails (`/dev/full`, for the log file and stderr alike): the service
/// keeps answering, and counts the lines it could not write.
#[test]
fn failing_log_destination_keeps_serving() {
    let dir = temp_dir();
    let url = fresh_database(&dir);
    let (user, pw) = bootstrap(&dir, &url);
    let port = free_port();
    let devfull = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let _p = serve(
        &dir,
        &url,
        port,
        &["--log-file", "/dev/full"],
        Stdio::from(devfull),
    );
    let r = Remote::new(port);
    let admin = r.login(&user, &pw);
    let key = r.device(&admin);
    for i in 0..5u64 {
        let (s, _, t) = r.call(
            "POST",
            "/api/v1/enrollments",
            Some(&key),
            Some(&now_captured(enrollment(
                &unique("cap-"),
                70 + i,
                person(70 + i),
            ))),
        );
        assert_eq!(s, 201, "{t}");
    }
    for _ in 0..50 {
        assert_eq!(r.call("GET", "/healthz", None, None).0, 200);
    }
    let (s, _, metrics) = r.call("GET", "/metrics", None, None);
    assert_eq!(s, 200);
    let dropped: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("registro_log_lines_dropped_total "))
        .expect("registro_log_lines_dropped_total in /metrics")
        .trim()
        .parse()
        .expect("a count");
    assert!(
        dropped >= 50,
        "{dropped} lines dropped; every request logs one"
    );
}

/// SIGTERM with work in flight: the in-flight batches finish and are answered, the process
/// exits by itself, and every acknowledged enrollment is there after a restart.
#[test]
fn sigterm_finishes_in_flight_work() {
    let dir = temp_dir();
    let url = fresh_database(&dir);
    let (user, pw) = bootstrap(&dir, &url);
    let port = free_port();
    let mut p = serve(
        &dir,
        &url,
        port,
        &["--shutdown-grace-secs", "60"],
        Stdio::null(),
    );
    let r = Arc::new(Remote::new(port));
    let admin = r.login(&user, &pw);
    let key = r.device(&admin);
    let investigator = r.token_for(&admin, "investigator");
    let photo = face_b64("amy1.png");
    let batches: Vec<_> = (0..2u64)
        .map(|b| {
            let (r, key, photo) = (r.clone(), key.clone(), photo.clone());
            std::thread::spawn(move || {
                let items: Vec<Value> = (0..6u64)
                    .map(|i| {
                        let mut e = enrollment(
                            &unique("cap-"),
                            500 + b * 100 + i,
                            person(500 + b * 100 + i),
                        );
                        e["photo"] = json!(photo);
                        now_captured(e)
                    })
                    .collect();
                r.call(
                    "POST",
                    "/api/v1/enrollments/batch",
                    Some(&key),
                    Some(&json!({"enrollments": items})),
                )
            })
        })
        .collect();
    // Both batches admitted (running) before the signal.
    let mut running = false;
    for _ in 0..600 {
        let (_, _, m) = r.call("GET", "/metrics", None, None);
        if m.lines().any(|l| l == "registro_admission_running 2") {
            running = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(running, "the batches never ran together");
    let pid = p.0.id().to_string();
    let kill = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(kill.success());

    let mut ids = Vec::new();
    for b in batches {
        let (status, v, text) = b.join().expect("batch");
        assert_eq!(status, 200, "{text}");
        for item in v["results"].as_array().expect("results") {
            assert_eq!(item["status_code"], 201, "{item}");
            ids.push(item["record_id"].as_str().expect("record_id").to_string());
        }
    }
    let mut exited = None;
    for _ in 0..1200 {
        if let Some(st) = p.0.try_wait().expect("wait") {
            exited = Some(st);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let st = exited.expect("registro did not exit after SIGTERM");
    assert!(st.success(), "exit status {st}");

    let port2 = free_port();
    let _p2 = serve(&dir, &url, port2, &[], Stdio::null());
    let r2 = Remote::new(port2);
    for id in &ids {
        let (s, _, t) = r2.call(
            "GET",
            &format!("/api/v1/records/{id}"),
            Some(&investigator),
            None,
        );
        assert_eq!(s, 200, "acknowledged {id} lost: {t}");
    }
}

/// The body captured now (no `captured_at`): the remote server's device was registered just
/// now, and a capture may not predate its device.
fn now_captured(mut e: Value) -> Value {
    if let Some(m) = e.as_object_mut() {
        m.remove("captured_at");
    }
    e
}
