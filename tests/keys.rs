//! Issue 14, separate keys: the data, blind-index and access-log keys live in three files, a
//! store created before that keeps its derived keys, and each key has its rotation.

use crate::common::*;
use registro::crypto::{KeyRing, KeySource};
use registro::service::audit::{self, Entry, Outcome};
use registro::service::{keys, Registro};
use serde_json::json;

fn entry(action: &str) -> Entry {
    Entry {
        actor: "test".into(),
        role: "admin".into(),
        action: action.into(),
        record_id: None,
        purpose: None,
        status: 200,
        outcome: Outcome::Ok,
        remote_addr: "127.0.0.1".into(),
    }
}

fn chain_ok(reg: &Registro, ring: &KeyRing) -> bool {
    reg.db
        .read(|c| -> anyhow::Result<_> { Ok(audit::verify(c, ring)?) })
        .expect("verify")
        .chain_ok
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_new_store_gets_three_distinct_key_files_and_the_data_key_alone_cannot_forge_the_log() {
    let app = TestApp::start();
    let paths = app.reg.config.key_paths();
    let texts: Vec<String> = [&paths.data, &paths.index, &paths.audit]
        .iter()
        .map(|p| {
            assert_eq!(mode(p), 0o600, "{}", p.display());
            std::fs::read_to_string(p).unwrap()
        })
        .collect();
    // No hex key of one file appears in another.
    let hexes = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit(':').next().map(str::to_string))
            .collect()
    };
    for (i, a) in texts.iter().enumerate() {
        for (j, b) in texts.iter().enumerate() {
            if i != j {
                for k in hexes(a) {
                    assert!(!b.contains(&k), "a key of file {i} is in file {j}");
                }
            }
        }
    }
    let ring = app.reg.keys();
    assert_eq!(ring.index_source(), KeySource::File);
    assert_eq!(ring.audit_source(), KeySource::File);

    // Someone with the data key file (and the database) but not the audit key file.
    let data_only = KeyRing::load(&paths.data).unwrap();
    app.reg
        .db
        .write(|c| -> anyhow::Result<_> { Ok(audit::append(c, &ring, entry("test.entry"))?) })
        .unwrap();
    assert!(chain_ok(&app.reg, &ring));
    assert!(
        !chain_ok(&app.reg, &data_only),
        "the data key file must not verify the chain"
    );
    let last: registro::db::models::AuditRow = app
        .reg
        .db
        .read(|c| -> anyhow::Result<_> {
            use diesel::prelude::*;
            use registro::db::schema::audit_log;
            Ok(audit_log::table
                .order(audit_log::seq.desc())
                .select(registro::db::models::AuditRow::as_select())
                .first(c)?)
        })
        .unwrap();
    assert_eq!(audit::entry_hash(&ring, &last), last.hash);
    assert_ne!(
        audit::entry_hash(&data_only, &last),
        last.hash,
        "nor forge an entry"
    );
    assert_ne!(
        data_only.checkpoint_public_key(),
        ring.checkpoint_public_key()
    );
    assert_ne!(
        data_only.blind_index(registro::crypto::IndexedField::Phone, "123"),
        ring.blind_index(registro::crypto::IndexedField::Phone, "123"),
        "nor compute blind indexes"
    );
}

#[test]
fn a_store_keeps_its_keys_across_restart_and_refuses_a_missing_index_or_audit_file() {
    let dir = temp_dir();
    let url = fresh_database(&dir);
    let cfg = test_config(&dir, &url);
    let app = TestApp::start_on(dir.clone(), url.clone(), cfg.clone());
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    let r = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &enrollment("keys-1", 11, json!({"phone": "+507 6000 2222"})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    // Data key rotation keeps the separate index and audit keys.
    keys::rotate(&app.reg.db, &app.reg.keys()).unwrap();
    let inv = app.user("investigator");
    let s = app.request(
        "GET",
        "/api/v1/records?phone=50760002222",
        Some(&inv),
        &[("X-Purpose", "key test")],
        None,
    );
    assert_eq!(
        s.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        s.text
    );

    // A second process on the same files: the chain verifies, the index finds the record.
    let again = Registro::open(cfg.clone()).expect("reopens");
    let ring = again.keys();
    assert!(chain_ok(&again, &ring));
    let hits: i64 = again
        .db
        .read(|c| -> anyhow::Result<i64> {
            use diesel::prelude::*;
            use registro::db::schema::records;
            Ok(records::table
                .filter(
                    records::phone_index.eq(ring
                        .blind_index(registro::crypto::IndexedField::Phone, "50760002222")
                        .unwrap()),
                )
                .count()
                .get_result::<i64>(c)?)
        })
        .unwrap();
    assert_eq!(hits, 1);
    drop(again);

    // Without its index or audit file the store must not fall back to derived keys.
    let paths = cfg.key_paths();
    for p in [&paths.index, &paths.audit] {
        let aside = p.with_extension("aside");
        std::fs::rename(p, &aside).unwrap();
        let err = Registro::open(cfg.clone())
            .err()
            .expect("a missing key file is refused")
            .to_string();
        assert!(err.contains("is not the one this database uses"), "{err}");
        std::fs::rename(&aside, p).unwrap();
    }
    drop(Registro::open(cfg).expect("with its files back it starts"));
}

#[test]
fn a_store_from_before_separate_key_files_keeps_verifying_and_rotates_its_audit_key() {
    let dir = temp_dir();
    let url = fresh_database(&dir);
    let cfg = test_config(&dir, &url);
    // The old layout: one key file, a store whose log was chained with the derived key.
    let legacy = KeyRing::load_or_create(&cfg.key_file, true).unwrap();
    let db = registro::db::Db::open(&url, 1).unwrap();
    keys::check_or_register(&db, &legacy).unwrap();
    db.write(|c| -> anyhow::Result<()> {
        use diesel::prelude::*;
        use registro::db::schema::meta;
        // What a store written before separate key files holds: key checks only.
        diesel::delete(
            meta::table.filter(meta::key.eq_any(["index_key_check", "audit_key_check"])),
        )
        .execute(c)?;
        for i in 0..3 {
            audit::append(c, &legacy, entry(&format!("legacy.{i}")))?;
        }
        Ok(())
    })
    .unwrap();
    let old_cp = db
        .read(|c| -> anyhow::Result<_> { Ok(audit::checkpoint(c, &legacy)?) })
        .unwrap()
        .expect("a checkpoint");
    drop(db);

    let reg = Registro::open(cfg.clone()).expect("a legacy store opens");
    let ring = reg.keys();
    let paths = cfg.key_paths();
    assert_eq!(ring.index_source(), KeySource::Derived);
    assert!(
        !paths.index.exists() && !paths.audit.exists(),
        "no new files"
    );
    assert!(chain_ok(&reg, &ring), "the old chain verifies");
    assert_eq!(
        ring.blind_index(registro::crypto::IndexedField::Phone, "1"),
        legacy.blind_index(registro::crypto::IndexedField::Phone, "1")
    );

    // Audit key rotation: the file appears with the derived chain key and a new signing key.
    let (kid, pk) = keys::rotate_audit(&reg.db, &ring).unwrap();
    assert_eq!(kid, 2);
    assert!(paths.audit.exists());
    assert_eq!(mode(&paths.audit), 0o600);
    drop(reg);
    let reg = Registro::open(cfg.clone()).expect("reopens after audit rotation");
    let ring = reg.keys();
    assert_eq!(ring.audit_source(), KeySource::File);
    assert_eq!(ring.checkpoint_public_key(), pk);
    reg.db
        .write(|c| -> anyhow::Result<_> { Ok(audit::append(c, &ring, entry("after.rotation"))?) })
        .unwrap();
    assert!(chain_ok(&reg, &ring), "one chain across the rotation");
    let new_cp = reg
        .db
        .read(|c| -> anyhow::Result<_> { Ok(audit::checkpoint(c, &ring)?) })
        .unwrap()
        .unwrap();
    assert_ne!(new_cp.public_key, old_cp.public_key);
    for cp in [&old_cp, &new_cp] {
        let (v, sig) = audit::verify_store(&reg.db, &ring, Some(cp), None).unwrap();
        assert_eq!(sig, Some(true), "checkpoint {} verifies", cp.seq);
        assert!(v.chain_ok && v.checkpoint_ok == Some(true));
    }
}

/// Records whose phone's blind index under `ring` is that of `phone`.
fn phone_hits(reg: &Registro, ring: &KeyRing, phone: &str) -> i64 {
    use diesel::prelude::*;
    use registro::db::schema::records;
    let idx = ring
        .blind_index(registro::crypto::IndexedField::Phone, phone)
        .unwrap();
    reg.db
        .read(|c| -> anyhow::Result<i64> {
            Ok(records::table
                .filter(records::phone_index.eq(idx))
                .count()
                .get_result::<i64>(c)?)
        })
        .unwrap()
}

#[test]
fn the_index_key_rotates_in_one_transaction_and_a_node_with_the_old_key_refuses_to_write() {
    let dir = temp_dir();
    let url = fresh_database(&dir);
    let cfg = test_config(&dir, &url);
    let app = TestApp::start_on(dir.clone(), url.clone(), cfg.clone());
    let scanner = app.device("PA-DARIEN-LAJASBLANCAS");
    for (i, phone) in ["+507 6000 3333", "+507 6000 4444"].iter().enumerate() {
        let r = app.post(
            "/api/v1/enrollments",
            Some(&scanner),
            &enrollment(&format!("idx-{i}"), 31 + i as u64, json!({"phone": phone})),
        );
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let paths = cfg.key_paths();
    let old_text = std::fs::read_to_string(&paths.index).unwrap();
    let old_ring = KeyRing::open_files(&paths, false, false).unwrap();

    let done = keys::rotate_index(&app.reg.db, &old_ring).unwrap();
    assert_eq!((done.reindexed, done.finished_interrupted), (2, false));
    let new_text = std::fs::read_to_string(&paths.index).unwrap();
    assert_ne!(new_text, old_text, "a new key is in the index key file");
    assert_eq!(mode(&paths.index), 0o600);
    assert!(!KeyRing::staged_index_path(&paths).exists());

    // The node that started with the old key must not write an index under it.
    let r = app.post(
        "/api/v1/enrollments",
        Some(&scanner),
        &enrollment("idx-stale", 41, json!({"phone": "+507 6000 5555"})),
    );
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "index_key_changed");

    // A node restarted with the new file finds each record under the new key only, and the
    // refused enrollment left nothing.
    let restarted = Registro::open(cfg.clone()).expect("starts with the new index key");
    let ring = restarted.keys();
    assert_eq!(phone_hits(&restarted, &ring, "50760003333"), 1);
    assert_eq!(phone_hits(&restarted, &ring, "50760004444"), 1);
    assert_eq!(phone_hits(&restarted, &old_ring, "50760003333"), 0);
    assert_eq!(phone_hits(&restarted, &ring, "50760005555"), 0);
    assert!(chain_ok(&restarted, &ring));
    drop(restarted);

    // Interrupted after its transaction committed, before the rename: the old file is
    // back in place and the new key only staged. The store refuses to start, and running
    // the command again finishes the rotation.
    let staged = KeyRing::staged_index_path(&paths);
    std::fs::write(&staged, &new_text).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::fs::write(&paths.index, &old_text).unwrap();
    let err = Registro::open(cfg.clone())
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("run it again"), "{err}");
    let ring = KeyRing::open_files(&paths, false, false).unwrap();
    let done = keys::rotate_index(&app.reg.db, &ring).unwrap();
    assert!(done.finished_interrupted);
    assert_eq!(std::fs::read_to_string(&paths.index).unwrap(), new_text);

    // Interrupted before it committed: a staged key the database does not use is thrown
    // away, and the rotation starts over from the key in use.
    let ring = KeyRing::open_files(&paths, false, false).unwrap();
    ring.stage_index_key().unwrap();
    drop(Registro::open(cfg.clone()).expect("a staged key alone changes nothing"));
    let done = keys::rotate_index(&app.reg.db, &ring).unwrap();
    assert_eq!((done.reindexed, done.finished_interrupted), (2, false));
    let again = Registro::open(cfg).expect("starts after the second rotation");
    assert_eq!(phone_hits(&again, &again.keys(), "50760004444"), 1);
}
