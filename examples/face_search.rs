//! 1:N face search timing, driven by `benches/compare_faiss.py` (or run alone).
//!
//! `cargo build --release --example face_search`
//! `target/release/examples/face_search --gallery G.f32 --queries Q.f32 [--k 10] [--reps 3]`
//! `target/release/examples/face_search --random 1000000 [--k 10]`
//!
//! Gallery and query files are raw little-endian f32, 128 per row. Prints, one per line:
//! `rows`, `threads`, `kernel`, `gallery_bytes`, `ms_per_query` (median over queries x reps),
//! `bandwidth_gbps` (a parallel read of the gallery matrix), `bound_ms` (gallery bytes /
//! bandwidth) and `top1` (the best row of each query, to check against faiss).

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use rayon::prelude::*;
use registro::biometrics::face::{FaceGallery, Kernel, EMBEDDING_DIM};

fn read_f32(path: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn random_rows(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n * EMBEDDING_DIM)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .map(|i| args[i + 1].clone())
    };
    let k: usize = arg("--k").map_or(10, |v| v.parse().unwrap());
    let reps: usize = arg("--reps").map_or(3, |v| v.parse().unwrap());
    let (rows, queries) = if let Some(n) = arg("--random") {
        let n: usize = n.parse().unwrap();
        (random_rows(n, 1), random_rows(20, 2))
    } else {
        (
            read_f32(&arg("--gallery").expect("--gallery")),
            read_f32(&arg("--queries").expect("--queries")),
        )
    };
    let n = rows.len() / EMBEDDING_DIM;
    let mut g = FaceGallery::new();
    for (i, r) in rows.chunks_exact(EMBEDDING_DIM).enumerate() {
        g.insert(i as u64, r);
    }
    drop(rows);
    let cancel = AtomicBool::new(false);
    let mut times = Vec::new();
    let mut top1 = Vec::new();
    for q in queries.chunks_exact(EMBEDDING_DIM) {
        let _ = g.search(q, k, &cancel); // warm
        for rep in 0..reps {
            let t = Instant::now();
            let res = g.search(q, k, &cancel);
            times.push(t.elapsed().as_secs_f64() * 1e3);
            if rep == 0 {
                top1.push(res[0].0);
            }
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let median = times[times.len() / 2];
    // Read bandwidth: a parallel sum over the same matrix, best of 5.
    let m = g.matrix();
    let bytes = std::mem::size_of_val(m);
    let mut best = f64::INFINITY;
    let mut sink = 0f32;
    for _ in 0..5 {
        let t = Instant::now();
        sink += m
            .par_chunks(1 << 20)
            .map(|c| {
                let mut acc = [0f32; 16];
                for ch in c.chunks_exact(16) {
                    for i in 0..16 {
                        acc[i] += ch[i];
                    }
                }
                acc.iter().sum::<f32>()
            })
            .sum::<f32>();
        best = best.min(t.elapsed().as_secs_f64());
    }
    let gbps = bytes as f64 / best / 1e9;
    println!("rows {n}");
    println!("threads {}", rayon::current_num_threads());
    println!("kernel {:?}", Kernel::detect());
    println!("gallery_bytes {bytes}");
    println!("memory_bytes {}", g.memory_bytes());
    println!("ms_per_query {median:.3}");
    println!("bandwidth_gbps {gbps:.2}");
    println!("bound_ms {:.3}", bytes as f64 / (gbps * 1e9) * 1e3);
    println!(
        "top1 {}",
        top1.iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    if sink.is_nan() {
        println!("(nan)");
    }
}
