use crate::common::*;
use registro::service::Registro;
use serde_json::json;

#[test]
fn no_name_or_document_number_in_clear_in_the_sqlite_file() {
    if is_postgres() {
        return; // The file check is about the embedded store.
    }
    let app = TestApp::start();
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let person = json!({"given_names": "Wilmarys", "family_names": "Quintero", "document": {"type": "passport", "number": "PZ7781234"},
                        "phone": "+573001234567", "date_of_birth": "1991-07-19"});
    assert_eq!(
        app.post(
            "/api/v1/enrollments",
            Some(&scanner),
            &enrollment("clear-1", 77, person)
        )
        .status,
        201
    );
    let path = app.db_url.strip_prefix("sqlite://").unwrap().to_string();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
    let hay = String::from_utf8_lossy(&bytes).to_lowercase();
    for needle in [
        "wilmarys",
        "quintero",
        "pz7781234",
        "3001234567",
        "1991-07-19",
    ] {
        assert!(
            !hay.contains(needle),
            "{needle} found in clear in the database file"
        );
    }
    // The control: a value stored in clear on purpose (the site) is found, so the scan works.
    assert!(hay.contains("pa-darien-lajasblancas"));
}

#[test]
fn a_wrong_key_file_is_refused_at_start_and_rotation_keeps_records_readable() {
    let dir = temp_dir();
    let url = fresh_database(&dir);
    let cfg = test_config(&dir, &url);
    let app = TestApp::start_on(dir.clone(), url.clone(), cfg.clone());
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let inv = app.user("investigator");
    let r = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &enrollment(
            "k-1",
            9,
            json!({"family_names": "Arias", "phone": "+507 6000 1111"}),
        ),
    );
    let rid = r.body["record_id"].as_str().unwrap().to_string();

    // Another key file: refused with a clear error before anything is read.
    let mut wrong = cfg.clone();
    wrong.key_file = dir.join("other.key");
    let err = Registro::open(wrong)
        .err()
        .expect("a wrong key must be refused")
        .to_string();
    // The data key's check or the blind-index key's (derived from the wrong data key when no
    // index file sits beside it): either way the store is not opened.
    assert!(
        err.contains("does not match") || err.contains("is not the one this database uses"),
        "{err}"
    );

    // Rotate while the server runs; the running server reads records sealed under the new key.
    let (kid, n) = registro::service::keys::rotate(&app.reg.db, &app.reg.keys()).unwrap();
    assert_eq!(kid, 2);
    assert!(n >= 1);
    let rec = app.request(
        "GET",
        &format!("/api/v1/records/{rid}"),
        Some(&inv),
        &[("X-Purpose", "after rotation")],
        None,
    );
    assert_eq!(rec.status, 200, "{}", rec.text);
    assert_eq!(rec.body["person"]["family_names"], "Arias");
    let s = app.request(
        "GET",
        "/api/v1/records?phone=50760001111",
        Some(&inv),
        &[("X-Purpose", "after rotation")],
        None,
    );
    assert_eq!(
        s.body["items"].as_array().unwrap().len(),
        1,
        "blind indexes survive rotation"
    );
    // A fresh process with the rotated key file starts.
    drop(Registro::open(cfg).expect("the rotated key file is accepted"));
}
