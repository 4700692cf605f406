//! 1:N search figures on a seeded synthetic population (2 fingers per person).
//!
//! `cargo run --release --example finger_search -- [sizes] [probes] [exhaustive_probes]`
//!
//! * `sizes`: comma-separated gallery sizes in persons (default `10000,100000`; add `1000000`
//!   for the 1 M figure — building it takes minutes and about 8 GB of RAM).
//! * `probes`: mated 2-finger probes timed per size (default 50).
//! * `exhaustive_probes`: probes also searched exhaustively, for the hit rate of the indexed
//!   search against the exhaustive oracle (default 20; exhaustive search is slow at 1 M).
//!
//! Runs on rayon's global pool (set `RAYON_NUM_THREADS=2` to model the 2-core target).
//!
//! **Real mates** (`FS_REAL=<fingers root>`, e.g. `../shared/data/fingers`): 30 people made
//! of real prints join the synthetic gallery, so the index is also checked on real
//! impressions: in each of the six FVC sets, fingers 1+2, 3+4, … 9+10 are five people (the
//! SecuGen ISO templates, parsed by `parse_template`); impression 1 of both fingers is
//! enrolled, and impressions 2–8 are 7 two-finger probes each (210 probes). At each size the
//! tool reports how many of these probes find their mate at rank 1 by exhaustive search and
//! how many of those the indexed search finds too (the target is ≥ 99.5 %). With
//! `FS_REAL_INPUT=image` the same people are made of registro's own extraction from the
//! images instead: a second input, on which no index constant was chosen.

use rayon::prelude::*;
use registro::biometrics::finger::synthetic::{
    ImpressionParams, SyntheticConfig, SyntheticGenerator,
};
use registro::biometrics::finger::{
    extract_from_image_at, parse_template, FingerFeatures, FingerGallery, IndexConfig,
};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

#[path = "common/fvc.rs"]
mod fvc;

const POSITIONS: [u8; 2] = [2, 7];

/// The fingers of one person: (position, features).
type Fingers = Vec<(u8, FingerFeatures)>;

/// Gallery fingers and a fresh probe impression of each, for one person.
fn person(seed: u64, id: u64, with_probe: bool) -> (Fingers, Fingers) {
    let mut g = SyntheticGenerator::new(
        seed ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        SyntheticConfig::default(),
    );
    let ip = ImpressionParams::default();
    let mut gal = Vec::new();
    let mut probe = Vec::new();
    for pos in POSITIONS {
        let m = g.master();
        gal.push((pos, FingerFeatures::extract(&g.render(&m, &ip))));
        if with_probe {
            probe.push((pos, FingerFeatures::extract(&g.render(&m, &ip))));
        }
    }
    (gal, probe)
}

/// People as (person id, fingers).
type People = Vec<(u64, Fingers)>;

/// Person ids of the real-print people, above every synthetic id.
const REAL_BASE: u64 = 1 << 40;

/// The real-print people of `root` (see the header): their gallery fingers and their probes.
/// `images`: registro's own extraction from the set's images instead of the SecuGen templates.
fn real_people(root: &str, images: bool) -> (People, People) {
    let load = |set: &str, finger: u32, impression: u32| -> FingerFeatures {
        let view = if images {
            let path = format!("{root}/{set}/images/{finger}_{impression}.tif");
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            // FVC2002 DB2 was captured at 569 dpi, the other sets at 500.
            let dpi = if set == "fvc2002_db2_b" { 569 } else { 500 };
            extract_from_image_at(0, &bytes, Some(dpi)).expect("a usable print")
        } else {
            let path = format!("{root}/{set}/iso_secugen/{finger}_{impression}.iso");
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let rec = parse_template("iso-19794-2-2005", &bytes).expect("a valid ISO record");
            rec.views.into_iter().next().expect("one view")
        };
        FingerFeatures::extract(&view)
    };
    let (mut gallery, mut probes) = (Vec::new(), Vec::new());
    let mut id = REAL_BASE;
    for set in fvc::SETS {
        for pair in 0..5u32 {
            let fingers = [101 + 2 * pair, 102 + 2 * pair];
            let both = |imp: u32| -> Fingers {
                POSITIONS
                    .iter()
                    .zip(fingers)
                    .map(|(&pos, f)| (pos, load(set, f, imp)))
                    .collect()
            };
            gallery.push((id, both(1)));
            for imp in 2..=8 {
                probes.push((id, both(imp)));
            }
            id += 1;
        }
    }
    (gallery, probes)
}

/// Start-up load path of the service: stored bytes → `from_bytes` → `insert_batch`.
fn load_figures(seed: u64, people: usize) {
    let stored: Vec<(u64, u8, Vec<u8>)> = (0..people as u64)
        .into_par_iter()
        .flat_map_iter(|id| {
            person(seed, id, false)
                .0
                .into_iter()
                .map(move |(pos, f)| (id, pos, f.to_bytes()))
        })
        .collect();
    let bytes: usize = stored.iter().map(|s| s.2.len()).sum();
    let t = Instant::now();
    let feats: Vec<(u64, u8, FingerFeatures)> = stored
        .par_iter()
        .map(|(id, pos, b)| (*id, *pos, FingerFeatures::from_bytes(b).expect("valid")))
        .collect();
    let t_parse = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut g = FingerGallery::new();
    // In pages of 2,000 people, as the service's loader reads the store.
    let mut feats = feats;
    while !feats.is_empty() {
        let rest = feats.split_off(feats.len().min(4000));
        g.insert_batch(feats);
        feats = rest;
    }
    g.shrink_to_fit();
    let t_insert = t.elapsed().as_secs_f64();
    println!(
        "load {} people ({} fingers, {:.0} stored bytes/finger): from_bytes {:.2} s, insert_batch {:.2} s => {:.1} s per 100 k people",
        people,
        stored.len(),
        bytes as f64 / stored.len() as f64,
        t_parse,
        t_insert,
        (t_parse + t_insert) * 100_000.0 / people as f64
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = args
        .get(1)
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000]);
    let n_probes: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50);
    let n_exh: usize = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
        .min(n_probes);
    let seed = 77;
    if std::env::var("FS_LOAD").is_ok() {
        load_figures(seed, sizes[0]);
        return;
    }
    // Index parameters can be overridden for experiments: FS_TABLES, FS_HASHES, FS_SHORTLIST.
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let def = IndexConfig::default();
    let cfg = IndexConfig {
        tables: env("FS_TABLES", def.tables),
        hashes_per_table: env("FS_HASHES", def.hashes_per_table),
        shortlist: env("FS_SHORTLIST", def.shortlist),
        ..def
    };
    println!("threads {}, index {:?}", rayon::current_num_threads(), cfg);
    let mut gallery = FingerGallery::with_config(cfg);
    // Probes: mates of persons spread over the smallest gallery.
    let first = sizes[0];
    let probe_ids: Vec<u64> = (0..n_probes as u64)
        .map(|i| i * (first as u64 / n_probes as u64).max(1))
        .collect();
    let mut probes: Vec<(u64, Fingers)> = Vec::new();
    let mut enrolled = 0usize;
    let real_probes = match std::env::var("FS_REAL") {
        Ok(root) => {
            let images = std::env::var("FS_REAL_INPUT").is_ok_and(|v| v == "image");
            let (people, probes) = real_people(&root, images);
            for (id, fingers) in people {
                for (pos, f) in fingers {
                    gallery.insert(id, pos, f);
                }
            }
            println!(
                "real mates: {} probes of 30 real-print people from {root} ({})",
                probes.len(),
                if images {
                    "registro's extraction from the images"
                } else {
                    "SecuGen ISO templates"
                }
            );
            probes
        }
        Err(_) => Vec::new(),
    };
    let cancel = AtomicBool::new(false);
    for &size in &sizes {
        let t0 = Instant::now();
        const CHUNK: usize = 5_000;
        while enrolled < size {
            let end = (enrolled + CHUNK).min(size);
            let batch: Vec<(u64, Fingers, Fingers)> = (enrolled as u64..end as u64)
                .into_par_iter()
                .map(|id| {
                    let (g, p) = person(seed, id, probe_ids.contains(&id));
                    (id, g, p)
                })
                .collect();
            for (id, g, p) in batch {
                for (pos, f) in g {
                    gallery.insert(id, pos, f);
                }
                if !p.is_empty() {
                    probes.push((id, p));
                }
            }
            enrolled = end;
        }
        gallery.shrink_to_fit();
        let build_s = t0.elapsed().as_secs_f64();
        println!("   {}", gallery.index_stats());
        let mem = gallery.memory_bytes();
        println!(
            "== {} persons, {} fingers: built in {:.1} s, memory {:.1} MiB = {:.0} bytes/finger",
            gallery.people(),
            gallery.fingers(),
            build_s,
            mem as f64 / (1 << 20) as f64,
            mem as f64 / gallery.fingers() as f64
        );
        // Timing of the indexed search.
        let mut times = Vec::new();
        let mut found = 0;
        for (id, p) in &probes {
            let t = Instant::now();
            let r = gallery.search(p, 10, &cancel);
            times.push(t.elapsed().as_secs_f64() * 1e3);
            if r.first().map(|c| c.person) == Some(*id) {
                found += 1;
            }
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        println!(
            "   indexed search: mean {:.1} ms, median {:.1} ms, max {:.1} ms per 2-finger probe; mate at rank 1 for {}/{}",
            mean,
            times[times.len() / 2],
            times[times.len() - 1],
            found,
            probes.len()
        );
        // Stage-1 rank of the mate (person level, both fingers), and stage-1 time alone.
        let mut ranks = Vec::new();
        let mut s1_ms = 0.0;
        for (id, p) in probes.iter().take(n_probes) {
            let t = Instant::now();
            let _ = gallery.stage1_candidates(p, cfg.shortlist);
            s1_ms += t.elapsed().as_secs_f64() * 1e3;
            let c = gallery.stage1_candidates(p, usize::MAX);
            ranks.push(c.iter().position(|x| x.0 == *id).unwrap_or(usize::MAX));
        }
        println!(
            "   stage 1 alone: mean {:.1} ms per probe",
            s1_ms / probes.len() as f64
        );
        ranks.sort_unstable();
        let pct =
            |r: usize| ranks.iter().filter(|&&x| x < r).count() as f64 * 100.0 / ranks.len() as f64;
        println!(
            "   stage-1 mate rank: median {}, p90 {}, max {}; within 10: {:.1} %, 100: {:.1} %, shortlist {}: {:.1} %",
            ranks[ranks.len() / 2],
            ranks[ranks.len() * 9 / 10],
            ranks[ranks.len() - 1],
            pct(10),
            pct(100),
            cfg.shortlist,
            pct(cfg.shortlist)
        );
        // Exhaustive search takes minutes per probe at 1 M; it is run up to 100 k.
        if n_exh > 0 && size <= 100_000 {
            let (mut ex_hits, mut both, mut ex_ms) = (0, 0, 0.0);
            for (id, p) in probes.iter().take(n_exh) {
                let t = Instant::now();
                let ex = gallery.search_exhaustive(p, 1, &cancel);
                ex_ms += t.elapsed().as_secs_f64() * 1e3;
                if ex.first().map(|c| c.person) == Some(*id) {
                    ex_hits += 1;
                    let ix = gallery.search(p, 1, &cancel);
                    if ix.first().map(|c| c.person) == Some(*id) {
                        both += 1;
                    }
                }
            }
            println!(
                "   exhaustive: {:.0} ms per probe; mate found by exhaustive {}/{}, by indexed too {} => hit rate vs exhaustive {:.1} %",
                ex_ms / n_exh as f64,
                ex_hits,
                n_exh,
                both,
                if ex_hits > 0 { both as f64 * 100.0 / ex_hits as f64 } else { 100.0 }
            );
        }
        if !real_probes.is_empty() {
            let (mut ix_hits, mut ex_hits, mut both, mut ix_ms) = (0, 0, 0, 0.0);
            let exhaustive = size <= 100_000;
            // Stage-1 rank of the mate, for the probes exhaustive search finds at rank 1.
            let mut ranks: Vec<usize> = Vec::new();
            for (id, p) in &real_probes {
                let t = Instant::now();
                let ix = gallery.search(p, 1, &cancel);
                ix_ms += t.elapsed().as_secs_f64() * 1e3;
                let ix_hit = ix.first().map(|c| c.person) == Some(*id);
                ix_hits += ix_hit as usize;
                if exhaustive {
                    let ex = gallery.search_exhaustive(p, 1, &cancel);
                    if ex.first().map(|c| c.person) == Some(*id) {
                        ex_hits += 1;
                        both += ix_hit as usize;
                        let c = gallery.stage1_candidates(p, usize::MAX);
                        ranks.push(c.iter().position(|x| x.0 == *id).unwrap_or(usize::MAX));
                    }
                }
            }
            if exhaustive {
                println!(
                    "   real mates: indexed {:.1} ms per probe, mate at rank 1 for {ix_hits}/{n}; exhaustive finds {ex_hits}/{n}, the index {both} of those => {:.1} % of exhaustive's hits",
                    ix_ms / real_probes.len() as f64,
                    both as f64 * 100.0 / ex_hits.max(1) as f64,
                    n = real_probes.len()
                );
                ranks.sort_unstable();
                let within = |r: usize| ranks.iter().filter(|&&x| x < r).count();
                println!(
                    "   real mates' stage-1 rank (exhaustive's hits): within 400 {}, 800 {}, 1600 {}, 3200 {} of {}; the worst {:?}",
                    within(400),
                    within(800),
                    within(1600),
                    within(3200),
                    ranks.len(),
                    &ranks[ranks.len().saturating_sub(8)..]
                );
            } else {
                println!(
                    "   real mates: indexed {:.1} ms per probe, mate at rank 1 for {ix_hits}/{}",
                    ix_ms / real_probes.len() as f64,
                    real_probes.len()
                );
            }
        }
    }
}
