//! Face engine benchmarks: `cargo bench --bench face`.
//!
//! * `photo_640x480`: decode + detect + landmarks + align + embed of a 640x480 JPEG (target
//!   <= 60 ms on 2 cores);
//! * `descriptor_chip`: the ResNet descriptor alone on a 150x150 chip;
//! * `search_top10_100k`: 1:N top-10 over 100 000 embeddings (see also
//!   `benches/compare_faiss.py` for the comparison with faiss at 100 k and 1 M).

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use registro::biometrics::face::{FaceEngine, FaceGallery, EMBEDDING_DIM};

fn fixture_jpeg_640x480() -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = image::open(root.join("tests/fixtures/faces/bbt3.jpg"))
        .expect("fixture")
        .to_rgb8();
    let img = image::imageops::resize(&src, 640, 480, image::imageops::FilterType::Triangle);
    let mut jpg = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(
            &mut std::io::Cursor::new(&mut jpg),
            image::ImageFormat::Jpeg,
        )
        .expect("encode");
    jpg
}

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let engine = FaceEngine::load(&root.join("models")).expect("models");
    let jpg = fixture_jpeg_640x480();
    let mut g = c.benchmark_group("face");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(2));
    g.bench_function("photo_640x480", |b| {
        b.iter(|| engine.analyze(black_box(&jpg)).expect("face"))
    });

    let chip = image::open(root.join("tests/fixtures/faces/chips/sad.jpg.png"))
        .expect("chip")
        .to_rgb8();
    g.bench_function("descriptor_chip", |b| {
        b.iter(|| engine.descriptor_of_chip(black_box(&chip)))
    });

    let mut gallery = FaceGallery::new();
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut row = vec![0f32; EMBEDDING_DIM];
    for i in 0..100_000u64 {
        for v in row.iter_mut() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            *v = (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
        }
        gallery.insert(i, &row);
    }
    let cancel = AtomicBool::new(false);
    g.bench_function("search_top10_100k", |b| {
        b.iter(|| gallery.search(black_box(&row), 10, &cancel))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
