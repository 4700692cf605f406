//! Key-file checks at start and `registro keys rotate`.

use crate::crypto::KeyRing;
use crate::db::schema::{match_cases, meta, records};
use crate::db::Db;
use diesel::prelude::*;

fn check_key(kid: u32) -> String {
    format!("key_check:{kid}")
}

/// Refuses a key file that does not hold the keys the database was sealed with, and records
/// the check value of any new key. Runs before anything is read or written.
pub fn check_or_register(db: &Db, ring: &KeyRing) -> anyhow::Result<()> {
    db.write(|conn| -> anyhow::Result<()> {
        let known: Vec<(String, String)> = meta::table
            .filter(meta::key.like("key_check:%"))
            .select((meta::key, meta::value))
            .load(conn)?;
        let mut matched = known.is_empty();
        for (k, v) in &known {
            let kid: u32 = k.trim_start_matches("key_check:").parse().unwrap_or(0);
            match ring.check_value(kid) {
                Some(c) if crate::crypto::ct_eq(c, v) => matched = true,
                Some(_) => anyhow::bail!(
                    "the key file {} does not match this database (key id {kid} differs): \
                     refusing to start. Use the key file this database was created with.",
                    ring.path().display()
                ),
                None => anyhow::bail!(
                    "the key file {} lacks key id {kid}, which this database uses: refusing to start",
                    ring.path().display()
                ),
            }
        }
        if !matched {
            anyhow::bail!("the key file does not match this database: refusing to start");
        }
        for kid in ring.kids() {
            let key = check_key(kid);
            if !known.iter().any(|(k, _)| *k == key) {
                let value = ring.check_value(kid).unwrap_or_default().to_string();
                diesel::insert_into(meta::table)
                    .values((meta::key.eq(key), meta::value.eq(value)))
                    .execute(conn)?;
            }
        }
        Ok(())
    })
}

/// Adds a new key to the key file and re-seals every ciphertext under it, in small batches
/// (each its own transaction), so readers keep working throughout: a reader that meets the
/// new key id reloads the key file. Returns (new key id, ciphertexts re-sealed).
pub fn rotate(db: &Db, ring: &KeyRing) -> anyhow::Result<(u32, usize)> {
    let ring = ring.add_key()?;
    check_or_register(db, &ring)?;
    let kid = ring.current_kid();
    let mut done = 0usize;
    let mut after = 0i64;
    loop {
        let batch: Vec<(i64, String, Vec<u8>, Vec<u8>)> = db.read(|c| -> anyhow::Result<_> {
            Ok(records::table
                .filter(records::seq.gt(after))
                .order(records::seq.asc())
                .limit(200)
                .select((
                    records::seq,
                    records::id,
                    records::person_enc,
                    records::biometrics_enc,
                ))
                .load(c)?)
        })?;
        let Some(last) = batch.last().map(|b| b.0) else {
            break;
        };
        db.write(|c| -> anyhow::Result<()> {
            for (seq, id, person, bio) in &batch {
                let mut changed = false;
                let p = if KeyRing::kid_of(person)? != kid {
                    changed = true;
                    ring.seal(id, "person", &ring.open(id, "person", person)?)?
                } else {
                    person.clone()
                };
                let b = if KeyRing::kid_of(bio)? != kid {
                    changed = true;
                    ring.seal(id, "biometrics", &ring.open(id, "biometrics", bio)?)?
                } else {
                    bio.clone()
                };
                if changed {
                    diesel::update(records::table.filter(records::seq.eq(seq)))
                        .set((records::person_enc.eq(p), records::biometrics_enc.eq(b)))
                        .execute(c)?;
                    done += 1;
                }
            }
            Ok(())
        })?;
        after = last;
    }
    let notes: Vec<(String, Vec<u8>)> = db.read(|c| -> anyhow::Result<_> {
        Ok(match_cases::table
            .filter(match_cases::note_enc.is_not_null())
            .select((match_cases::id, match_cases::note_enc.assume_not_null()))
            .load(c)?)
    })?;
    for (id, note) in notes {
        if KeyRing::kid_of(&note)? == kid {
            continue;
        }
        let sealed = ring.seal(&id, "note", &ring.open(&id, "note", &note)?)?;
        db.write(|c| -> anyhow::Result<()> {
            diesel::update(match_cases::table.filter(match_cases::id.eq(&id)))
                .set(match_cases::note_enc.eq(sealed))
                .execute(c)?;
            Ok(())
        })?;
        done += 1;
    }
    Ok((kid, done))
}
