//! Criterion benchmarks of the fingerprint engine.
//!
//! `cargo bench --bench finger` — parsing, feature extraction, 1:1 comparison (ours and
//! BOZORTH3 on the same pair) and 1:N search on a 10 k-person synthetic gallery.
//! The figures in docs/FINGER.md come from the examples `compare_bozorth3` and `finger_search`,
//! which run the full protocols; this bench tracks regressions.

use criterion::{criterion_group, criterion_main, Criterion};
use registro::biometrics::finger::synthetic::{
    ImpressionParams, SyntheticConfig, SyntheticGenerator,
};
use registro::biometrics::finger::{compare, parse_template, FingerFeatures, FingerGallery};
use std::hint::black_box;
use std::sync::atomic::AtomicBool;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/fingers/templates/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn one_to_one(c: &mut Criterion) {
    let iso = fixture("iso19794p2v2005-sample.dat");
    c.bench_function("parse_iso_19794_2_2005", |b| {
        b.iter(|| parse_template("iso-19794-2-2005", black_box(&iso)))
    });

    let mut g = SyntheticGenerator::new(1, SyntheticConfig::default());
    let m = g.master();
    let ip = ImpressionParams::default();
    let va = g.render(&m, &ip);
    let vb = g.render(&m, &ip);
    let other = g.master();
    let vc = g.render(&other, &ip);
    c.bench_function("features_extract", |b| {
        b.iter(|| FingerFeatures::extract(black_box(&va)))
    });
    let (fa, fb, fc) = (
        FingerFeatures::extract(&va),
        FingerFeatures::extract(&vb),
        FingerFeatures::extract(&vc),
    );
    let bytes = fa.to_bytes();
    c.bench_function("features_from_bytes", |b| {
        b.iter(|| FingerFeatures::from_bytes(black_box(&bytes)))
    });
    c.bench_function("compare_genuine", |b| {
        b.iter(|| compare(black_box(&fa), black_box(&fb)))
    });
    c.bench_function("compare_impostor", |b| {
        b.iter(|| compare(black_box(&fa), black_box(&fc)))
    });
    let xyt = |v: &registro::biometrics::finger::FingerView| -> Vec<fprint_bozorth3::Minutia> {
        v.minutiae
            .iter()
            .map(|m| fprint_bozorth3::Minutia {
                x: m.x as i32,
                y: v.height as i32 - 1 - m.y as i32,
                theta: (m.angle.to_degrees() as i32 + 180).rem_euclid(360),
            })
            .collect()
    };
    let (xa, xb) = (xyt(&va), xyt(&vb));
    c.bench_function("bozorth3_genuine", |b| {
        b.iter(|| fprint_bozorth3::match_score(black_box(&xa), black_box(&xb)))
    });
}

fn one_to_many(c: &mut Criterion) {
    let ip = ImpressionParams::default();
    let mut gal = FingerGallery::new();
    let mut probe = Vec::new();
    for p in 0..10_000u64 {
        let mut g = SyntheticGenerator::new(p, SyntheticConfig::default());
        for pos in [2u8, 7] {
            let m = g.master();
            gal.insert(p, pos, FingerFeatures::extract(&g.render(&m, &ip)));
            if p == 4321 {
                probe.push((pos, FingerFeatures::extract(&g.render(&m, &ip))));
            }
        }
    }
    gal.shrink_to_fit();
    let cancel = AtomicBool::new(false);
    let mut group = c.benchmark_group("search_10k_people_2_fingers");
    group.sample_size(20);
    group.bench_function("indexed", |b| {
        b.iter(|| gal.search(black_box(&probe), 10, &cancel))
    });
    group.sample_size(10);
    group.bench_function("exhaustive", |b| {
        b.iter(|| gal.search_exhaustive(black_box(&probe), 10, &cancel))
    });
    group.finish();
}

criterion_group!(benches, one_to_one, one_to_many);
criterion_main!(benches);
