//! Seeded synthetic people shared by the population, load and reception tools: two fingers per
//! person (the generator of `biometrics::finger::synthetic`), request bodies in the API's
//! `minutiae-json`, the shared test faces, a cheap bulk growth of the gallery (records sealed
//! as the service seals them, written straight to the store) and small measuring helpers.
//!
//! Included with `#[path = "common/synth.rs"] mod synth;`; not every tool uses every item.
#![allow(dead_code)]

use rayon::prelude::*;
use registro::biometrics::finger::synthetic::{
    ImpressionParams, MasterFinger, SyntheticConfig, SyntheticGenerator,
};
use registro::biometrics::finger::FingerView;
use registro::db::models::NewRecord;
use registro::db::schema::records;
use registro::service::enrollment;
use registro::service::matching::{Extracted, FingerFeatures};
use registro::service::Registro;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const SEED: u64 = 20261129;

/// The two master fingers (positions 2 and 7) of synthetic person `id`.
pub fn masters(id: u64) -> [MasterFinger; 2] {
    let mut g = SyntheticGenerator::new(
        SEED ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        SyntheticConfig::default(),
    );
    [g.master(), g.master()]
}

/// A fresh impression of master `m` of person `id`; `visit` seeds the distortion.
pub fn impression(id: u64, visit: u64, m: &MasterFinger) -> FingerView {
    let mut g = SyntheticGenerator::new(
        SEED ^ id.wrapping_mul(31) ^ visit.wrapping_mul(0x5851_f42d_4c95_7f2d) ^ 0xabc,
        SyntheticConfig::default(),
    );
    g.render(m, &ImpressionParams::default())
}

/// One finger in the API's `minutiae-json` form.
pub fn finger_json(position: u8, v: &FingerView) -> Value {
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

/// Both fingers of person `id` at `visit` (each visit gives fresh impressions).
pub fn fingers(id: u64, visit: u64) -> Value {
    let [a, b] = masters(id);
    json!([
        finger_json(2, &impression(id, visit * 2, &a)),
        finger_json(7, &impression(id, visit * 2 + 1, &b))
    ])
}

/// An enrollment body for person `id` at `visit`, declared under `name`.
pub fn enrollment_body(
    capture_id: &str,
    id: u64,
    visit: u64,
    name: &str,
    photo: Option<&str>,
) -> Value {
    let mut v = json!({
        "capture_id": capture_id,
        // Now: a device's captures may not predate its registration (nor lie in the future).
        "captured_at": chrono::Utc::now().to_rfc3339(),
        "site": "PA-DARIEN-LAJASBLANCAS",
        "person": {"given_names": name, "family_names": format!("F{id}"), "nationality": "VEN", "sex": "M", "age_estimate": 30},
        "fingerprints": fingers(id, visit)
    });
    if let Some(p) = photo {
        v["photo"] = json!(p);
    }
    v
}

/// The shared test faces of `people` (five crops each, in order), base64-encoded.
pub fn photos(people: &[&str]) -> Vec<String> {
    use base64::Engine;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/faces");
    let mut out = Vec::new();
    for p in people {
        for i in 1..=5 {
            if let Ok(b) = std::fs::read(dir.join(p).join(format!("{p}{i}.png"))) {
                out.push(base64::engine::general_purpose::STANDARD.encode(b));
            }
        }
    }
    out
}

/// Maps `items` on two plain client threads, keeping the order. (Not a rayon pool: a rayon
/// worker that waits on the engine pool would steal another job and nest it on its stack.)
pub fn par_map<T: Send>(items: impl Iterator<Item = u64>, f: impl Fn(u64) -> T + Sync) -> Vec<T> {
    let items: Vec<u64> = items.collect();
    let next = AtomicUsize::new(0);
    let out: std::sync::Mutex<Vec<(usize, T)>> = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = items.get(k) else { break };
                let v = f(i);
                out.lock().unwrap().push((k, v));
            });
        }
    });
    let mut v = out.into_inner().unwrap();
    v.sort_by_key(|x| x.0);
    v.into_iter().map(|x| x.1).collect()
}

/// The `p` quantile (0..=1) of `v`, nearest rank; NaN when empty.
pub fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// This process's resident set, MiB.
pub fn rss_mib() -> f64 {
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

/// Grows the gallery by people `first..first + count` (ids must not collide with people
/// enrolled through the service), written straight to the store, sealed as the service
/// seals, two fingers each, in transactions of 2,000, extracted on `workers`. No search, no
/// access-log entry: this is a cheap way to a large gallery, not an enrollment.
pub fn bulk_seed(
    reg: &Registro,
    workers: &rayon::ThreadPool,
    first: u64,
    count: u64,
) -> anyhow::Result<()> {
    let keys = reg.keys();
    let mut start = first;
    let end = first + count;
    while start < end {
        let stop = (start + 2000).min(end);
        let rows: Vec<(NewRecord, Extracted)> = workers.install(|| {
            (start..stop)
                .into_par_iter()
                .map(|id| {
                    let [a, b] = masters(id);
                    let fingers = [(2u8, impression(id, 0, &a)), (7u8, impression(id, 1, &b))]
                        .into_iter()
                        .map(|(pos, v)| {
                            let f = registro::biometrics::finger::FingerFeatures::extract(&v);
                            FingerFeatures {
                                position: pos,
                                format: "minutiae-json".into(),
                                raw: vec![],
                                minutiae: f.minutiae_count(),
                                features: f.to_bytes(),
                                ..Default::default()
                            }
                        })
                        .collect();
                    let ex = Extracted {
                        face: None,
                        fingers,
                    };
                    let rid = format!("rec_bulk{id}");
                    let rec = NewRecord {
                        id: rid.clone(),
                        capture_id: format!("bulk-{id}"),
                        person_id: format!("per_bulk{id}"),
                        site: "PA-METETI".into(),
                        device_id: None,
                        enrolled_by: "bulk".into(),
                        captured_at: registro::db::now(),
                        created_at: registro::db::now(),
                        sex: Some("F".into()),
                        nationality: Some("HTI".into()),
                        age_group: "18-59".into(),
                        is_minor: Some(false),
                        doc_index: None,
                        phone_index: None,
                        family_index: None,
                        person_enc: keys
                            .seal(
                                &rid,
                                "person",
                                br#"{"person":{},"protection":{},"companions":[]}"#,
                            )
                            .unwrap(),
                        biometrics_enc: enrollment::seal_biometrics(reg, &rid, &ex).unwrap(),
                        response_json: "{}".into(),
                    };
                    (rec, ex)
                })
                .collect()
        });
        let seqs: Vec<i64> = reg
            .db
            .write(|c| -> Result<Vec<i64>, registro::error::ApiError> {
                use diesel::prelude::*;
                rows.iter()
                    .map(|(r, _)| {
                        Ok(diesel::insert_into(records::table)
                            .values(r)
                            .returning(records::seq)
                            .get_result::<i64>(c)?)
                    })
                    .collect()
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for (seq, (_, ex)) in seqs.iter().zip(&rows) {
            reg.matcher.insert(*seq, ex);
        }
        start = stop;
    }
    Ok(())
}
