//! `TestApp`: a real registro server over a real, migrated database per test — a fresh SQLite
//! file, or a fresh PostgreSQL schema when `DATABASE_URL` names a server.

#![allow(dead_code)]

use registro::config::Config;
use registro::service::{auth, loader, Registro};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub struct TestApp {
    pub base: String,
    pub reg: Arc<Registro>,
    pub dir: PathBuf,
    pub db_url: String,
    pub admin_token: String,
    agent: ureq::Agent,
    pub server: actix_web::dev::ServerHandle,
}

pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: Vec<(String, String)>,
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

pub fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(unique("registro-test-"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A database URL for a fresh, empty store: a SQLite file in `dir`, or a new schema on the
/// PostgreSQL server named by `DATABASE_URL`.
pub fn fresh_database(dir: &std::path::Path) -> String {
    match std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
    {
        Some(url) => {
            use diesel::prelude::*;
            let schema = unique("t_");
            let mut c = diesel::PgConnection::establish(&url).expect("connect to DATABASE_URL");
            diesel::sql_query(format!("CREATE SCHEMA {schema}"))
                .execute(&mut c)
                .expect("create schema");
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}options=-csearch_path%3D{schema}")
        }
        None => format!("sqlite://{}", dir.join("registro.db").display()),
    }
}

pub fn is_postgres() -> bool {
    std::env::var("DATABASE_URL")
        .map(|u| u.starts_with("postgres"))
        .unwrap_or(false)
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

pub fn test_config(dir: &std::path::Path, db_url: &str) -> Config {
    let mut cfg = Config::new(db_url);
    cfg.key_file = dir.join("registro.key");
    cfg.pool_size = 4;
    cfg.workers = 2;
    cfg.engine_threads = 2;
    cfg.follow_interval_ms = 200;
    cfg
}

impl TestApp {
    pub fn start() -> TestApp {
        Self::start_with(|_| {})
    }

    pub fn start_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let dir = temp_dir();
        let db_url = fresh_database(&dir);
        let mut cfg = test_config(&dir, &db_url);
        tweak(&mut cfg);
        Self::start_on(dir, db_url, cfg)
    }

    pub fn start_on(dir: PathBuf, db_url: String, cfg: Config) -> TestApp {
        let reg = Registro::open(cfg).expect("registro opens");
        let admin = unique("admin");
        let password = auth::bootstrap_admin(&reg, &admin).expect("bootstrap admin");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = std::sync::mpsc::channel();
        let r2 = reg.clone();
        std::thread::spawn(move || {
            let sys = actix_web::rt::System::new();
            sys.block_on(async move {
                let server = registro::http::server(r2, listener, 2).expect("server");
                tx.send(server.handle()).ok();
                server.await.ok();
            });
        });
        let server = rx.recv().expect("server handle");
        loader::start(reg.clone());
        let mut app = TestApp {
            base,
            reg,
            dir,
            db_url,
            admin_token: String::new(),
            agent: agent(),
            server,
        };
        app.wait_ready();
        app.admin_token = app.login(&admin, &password);
        app
    }

    pub fn wait_ready(&self) {
        for _ in 0..600 {
            if self.get("/readyz", None).status == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server never became ready");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn finish(mut r: ureq::http::Response<ureq::Body>) -> Resp {
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let text = r
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            body,
            text,
            headers,
        }
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Resp {
        let url = self.url(path);
        let auth = token.map(|t| format!("Bearer {t}"));
        let res = match method {
            "GET" => {
                let mut rq = self.agent.get(&url);
                if let Some(a) = &auth {
                    rq = rq.header("Authorization", a);
                }
                for (k, v) in headers {
                    rq = rq.header(*k, *v);
                }
                rq.call()
            }
            _ => {
                let mut rq = self.agent.post(&url);
                if let Some(a) = &auth {
                    rq = rq.header("Authorization", a);
                }
                for (k, v) in headers {
                    rq = rq.header(*k, *v);
                }
                match body {
                    Some(b) => rq.send_json(b),
                    None => rq.send_json(json!({})),
                }
            }
        };
        Self::finish(res.expect("HTTP request"))
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.request("GET", path, token, &[], None)
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        self.request("POST", path, token, &[], Some(body))
    }

    pub fn login(&self, username: &str, password: &str) -> String {
        let r = self.post(
            "/api/v1/auth/login",
            None,
            &json!({"username": username, "password": password}),
        );
        assert_eq!(r.status, 200, "login failed: {}", r.text);
        r.body["token"].as_str().expect("token").to_string()
    }

    /// Creates a user of `role` (who sets their own password with the reset token) and
    /// returns a token for it.
    pub fn user(&self, role: &str) -> String {
        let username = unique(role);
        create_user(
            &self.agent,
            &self.base,
            &self.admin_token,
            &username,
            role,
            TEST_PASSWORD,
        );
        self.login(&username, TEST_PASSWORD)
    }

    /// Registers a device and returns its API key. The device is dated as registered on
    /// 2026-01-01, before the fixed capture times of the fixtures (`captured_at` may not
    /// precede a device's registration).
    pub fn device(&self, site: &str) -> String {
        let r = self.post(
            "/api/v1/devices",
            Some(&self.admin_token),
            &json!({"name": "tablet", "site": site}),
        );
        assert_eq!(r.status, 201, "create device: {}", r.text);
        backdate_devices(&self.reg.db);
        r.body["api_key"].as_str().expect("api_key").to_string()
    }

    /// Counts rows of a table, straight from the database.
    pub fn count(&self, table: &str) -> i64 {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let q = format!("SELECT COUNT(*) AS n FROM {table}");
        self.reg
            .db
            .read(|c| -> Result<i64, registro::error::ApiError> {
                Ok(diesel::sql_query(q).get_result::<N>(c)?.n)
            })
            .expect("count")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let h = self.server.clone();
        std::thread::spawn(move || {
            let sys = actix_web::rt::System::new();
            sys.block_on(h.stop(false));
        });
        if !is_postgres() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A deterministic synthetic finger in `minutiae-json` form (no real person's biometrics).
pub fn synthetic_finger(position: u8, seed: u64) -> Value {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let minutiae: Vec<Value> = (0..40)
        .map(|_| {
            json!({
                "x": 60 + (next() % 380) as i64,
                "y": 60 + (next() % 380) as i64,
                "angle_deg": (next() % 360) as f64,
                "type": if next() % 2 == 0 { "ending" } else { "bifurcation" },
                "quality": 60 + (next() % 40) as i64
            })
        })
        .collect();
    json!({"position": position, "format": "minutiae-json", "width": 500, "height": 500, "resolution_dpi": 500, "minutiae": minutiae})
}

/// An enrollment body with a synthetic finger.
pub fn enrollment(capture_id: &str, seed: u64, person: Value) -> Value {
    json!({
        "capture_id": capture_id,
        "captured_at": "2026-11-28T14:03:00Z",
        "site": "PA-DARIEN-LAJASBLANCAS",
        "person": person,
        "fingerprints": [synthetic_finger(2, seed), synthetic_finger(7, seed.wrapping_add(1_000_000))]
    })
}

pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// A real finger (FVC2002 DB1_B `finger`_`impression`, MINDTCT minutiae) in `minutiae-json`.
pub fn fvc_finger(position: u8, finger: u32, impression: u32) -> Value {
    let text = std::fs::read_to_string(fixture(&format!("fingers/fvc/{finger}_{impression}.xyt")))
        .expect("xyt fixture");
    let (w, h) = (388, 374);
    let minutiae: Vec<Value> = text
        .lines()
        .filter_map(|l| {
            let v: Vec<f64> = l
                .split_whitespace()
                .filter_map(|t| t.parse().ok())
                .collect();
            (v.len() >= 4).then(|| {
                json!({"x": v[0], "y": (h - 1) as f64 - v[1], "angle_deg": (v[2] + 180.0) % 360.0,
                       "type": "ending", "quality": v[3].min(100.0) as i64})
            })
        })
        .collect();
    json!({"position": position, "format": "minutiae-json", "width": w, "height": h, "resolution_dpi": 500, "minutiae": minutiae})
}

/// Base64 of a face fixture.
pub fn face_b64(name: &str) -> String {
    use base64::Engine;
    let path = fixture(&format!("faces/{name}"));
    let path = if path.exists() {
        path
    } else {
        fixture(&format!("people/{name}"))
    };
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).expect("face fixture"))
}

/// A capture with two real fingers: FVC finger `a` as right index (2) and `b` as right
/// middle (3), impression `imp` of both.
pub fn capture2(capture_id: &str, a: u32, b: u32, imp: u32, person: Value) -> Value {
    json!({
        "capture_id": capture_id,
        "captured_at": "2026-11-28T14:03:00Z",
        "site": "PA-DARIEN-LAJASBLANCAS",
        "person": person,
        "fingerprints": [fvc_finger(2, a, imp), fvc_finger(3, b, imp)]
    })
}

/// A capture of a real test subject: a face crop and one FVC finger (as right index).
pub fn capture(
    capture_id: &str,
    face: Option<&str>,
    finger: Option<(u32, u32)>,
    person: Value,
) -> Value {
    let mut b = json!({
        "capture_id": capture_id,
        "captured_at": "2026-11-28T14:03:00Z",
        "site": "PA-DARIEN-LAJASBLANCAS",
        "person": person,
        "fingerprints": []
    });
    if let Some(f) = face {
        b["photo"] = json!(face_b64(f));
    }
    if let Some((finger, imp)) = finger {
        b["fingerprints"] = json!([fvc_finger(2, finger, imp)]);
    }
    b
}

/// The password test users set for themselves.
pub const TEST_PASSWORD: &str = "a long enough password";

/// Creates a user through the reset-token flow (`POST /users` then `POST /auth/password`).
pub fn create_user(
    agent: &ureq::Agent,
    base: &str,
    admin_token: &str,
    username: &str,
    role: &str,
    password: &str,
) {
    let mut r = agent
        .post(&format!("{base}/api/v1/users"))
        .header("Authorization", &format!("Bearer {admin_token}"))
        .send_json(json!({"username": username, "role": role}))
        .expect("create user");
    let v: Value = r.body_mut().read_json().unwrap_or(Value::Null);
    assert_eq!(r.status().as_u16(), 201, "create user: {v}");
    let r = agent
        .post(&format!("{base}/api/v1/auth/password"))
        .send_json(json!({"username": username, "reset_token": v["reset_token"], "new_password": password}))
        .expect("set password");
    assert_eq!(r.status().as_u16(), 204, "set password");
}

/// Dates every device as registered on 2026-01-01 (see [`TestApp::device`]).
pub fn backdate_devices(db: &registro::db::Db) {
    use diesel::prelude::*;
    use registro::db::schema::devices;
    let at = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("date");
    db.write(|c| -> Result<usize, registro::error::ApiError> {
        Ok(diesel::update(devices::table)
            .set(devices::created_at.eq(at))
            .execute(c)?)
    })
    .expect("backdate devices");
}
