//! Criterion benchmarks of the service's matcher seam: extraction of a full submission and the
//! fused 1:N search (face + two fingers) over a seeded synthetic gallery.
//!
//! `cargo bench --bench matcher`. The end-to-end enrollment latency over HTTP, throughput and
//! start-up figures come from `cargo run --release --example population` (README, docs/FUSION.md).

use criterion::{criterion_group, criterion_main, Criterion};
use registro::biometrics::finger::synthetic::{
    ImpressionParams, SyntheticConfig, SyntheticGenerator,
};
use registro::config::Config;
use registro::service::matching::{Extracted, FaceFeatures, FingerFeatures, FingerInput, Matcher};
use serde_json::json;
use std::hint::black_box;

fn synthetic_fingers(id: u64, visit: u64) -> Vec<FingerFeatures> {
    let mut g = SyntheticGenerator::new(
        id.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 11,
        SyntheticConfig::default(),
    );
    let masters = [g.master(), g.master()];
    let mut r = SyntheticGenerator::new(id ^ (visit << 40) ^ 0x77, SyntheticConfig::default());
    masters
        .iter()
        .zip([2u8, 7])
        .map(|(m, pos)| {
            let f = registro::biometrics::finger::FingerFeatures::extract(
                &r.render(m, &ImpressionParams::default()),
            );
            FingerFeatures {
                position: pos,
                format: "minutiae-json".into(),
                raw: vec![],
                minutiae: f.minutiae_count(),
                features: f.to_bytes(),
            }
        })
        .collect()
}

fn face_vector(id: u64) -> Vec<f32> {
    let mut s = id.wrapping_mul(6364136223846793005).wrapping_add(1);
    let v: Vec<f32> = (0..128)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 2000) as f32 / 1000.0 - 1.0
        })
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn matcher(c: &mut Criterion) {
    let mut cfg = Config::new("sqlite://unused.db");
    cfg.engine_threads = 2;
    let m = Matcher::new(&cfg).expect("models");
    let photo = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/faces/angry.jpg"
    ))
    .unwrap();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/fingers/fvc/101_1.xyt"
    ))
    .unwrap();
    let minutiae: Vec<serde_json::Value> = text
        .lines()
        .map(|l| {
            let v: Vec<f64> = l.split_whitespace().filter_map(|t| t.parse().ok()).collect();
            json!({"x": v[0], "y": 373.0 - v[1], "angle_deg": (v[2] + 180.0) % 360.0, "type": "ending"})
        })
        .collect();
    let finger: FingerInput = serde_json::from_value(json!({"position": 2, "format": "minutiae-json", "width": 388, "height": 374, "minutiae": minutiae})).unwrap();
    let fingers = vec![
        finger.clone(),
        FingerInput {
            position: 7,
            ..finger
        },
    ];
    c.bench_function("extract_photo_and_2_fingers", |b| {
        b.iter(|| {
            m.extract(Some(black_box(&photo)), black_box(&fingers))
                .unwrap()
        })
    });

    const N: u64 = 10_000;
    for id in 0..N {
        let ex = Extracted {
            face: Some(FaceFeatures {
                embedding: face_vector(id),
                quality: 1.0,
                faces_found: 1,
                landmarks: vec![],
            }),
            fingers: synthetic_fingers(id, 0),
        };
        m.insert(id as i64, &ex);
    }
    let probe = Extracted {
        face: Some(FaceFeatures {
            embedding: face_vector(4242),
            quality: 1.0,
            faces_found: 1,
            landmarks: vec![],
        }),
        fingers: synthetic_fingers(4242, 1),
    };
    assert_eq!(m.search(&probe, 10)[0].key, 4242, "the mate ranks first");
    let mut g = c.benchmark_group("fused_search");
    g.sample_size(20);
    g.bench_function("face_and_2_fingers_10k_people", |b| {
        b.iter(|| m.search(black_box(&probe), 10))
    });
    g.finish();
}

criterion_group!(benches, matcher);
criterion_main!(benches);
