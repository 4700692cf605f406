//! Stable-Rust fuzz driver for every parser of registro that reads bytes from outside.
//!
//! ```sh
//! nice -n 19 cargo run --release --example fuzz -- list
//! nice -n 19 cargo run --release --example fuzz -- <target|all> <iterations> [seed] [max_seconds]
//! nice -n 19 cargo run --release --example fuzz -- replay <target> <file>...
//! ```
//!
//! Seeds come from `fuzz/corpus/<target>/`. A crash (panic, violated invariant, allocation
//! past the target's budget) is written to `fuzz/crashes/<target>-<hash>.bin` and named on
//! stderr; the exit status is 1 when any was found. See docs/SECURITY.md, "Fuzzing".

mod engine;
mod targets;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts live heap bytes and their peak since the last reset, so each input's largest
/// allocation footprint is checked against its target's budget.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new >= l.size() {
                let now = LIVE.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn reset() {
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
    BASE.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
}
static BASE: AtomicUsize = AtomicUsize::new(0);
fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
        .saturating_sub(BASE.load(Ordering::Relaxed))
}

/// Writes the tiny image seeds of `photo` and `finger-image` (kept small so that millions of
/// decodes fit in a run; committed, so this runs once).
fn seed_images() {
    use image::{DynamicImage, ImageFormat};
    let root = engine::corpus_root();
    let gray = |w: u32, h: u32| {
        DynamicImage::ImageLuma8(image::GrayImage::from_fn(w, h, |x, y| {
            image::Luma([(((x * 7) ^ (y * 5)) % 256) as u8])
        }))
    };
    let rgb = |w: u32, h: u32| {
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 8) as u8, (y * 8) as u8, ((x + y) * 4) as u8])
        }))
    };
    let enc = |img: &DynamicImage, f: ImageFormat| {
        let mut out = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut out), f)
            .unwrap_or_else(|e| panic!("encode: {e}"));
        out
    };
    let write = |target: &str, name: &str, data: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).ok();
        std::fs::write(dir.join(name), data).unwrap_or_else(|e| panic!("{name}: {e}"));
    };
    let photos = [
        ("rgb-32x32.png", enc(&rgb(32, 32), ImageFormat::Png)),
        ("gray-40x36.png", enc(&gray(40, 36), ImageFormat::Png)),
        (
            "rgba-33x32.png",
            enc(
                &DynamicImage::ImageRgba8(rgb(33, 32).to_rgba8()),
                ImageFormat::Png,
            ),
        ),
        (
            "gray16-32x32.png",
            enc(
                &DynamicImage::ImageLuma16(gray(32, 32).to_luma16()),
                ImageFormat::Png,
            ),
        ),
        ("small-8x8.png", enc(&rgb(8, 8), ImageFormat::Png)),
        ("rgb-32x32.jpg", enc(&rgb(32, 32), ImageFormat::Jpeg)),
        ("gray-40x32.jpg", enc(&gray(40, 32), ImageFormat::Jpeg)),
        ("rgb-32x32.tif", enc(&rgb(32, 32), ImageFormat::Tiff)),
    ];
    for (name, data) in &photos {
        write("photo", name, data);
    }
    // A JPEG with an EXIF orientation (rotate 90 degrees): the orientation path.
    let jpg = enc(&rgb(48, 32), ImageFormat::Jpeg);
    let mut exif =
        b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0".to_vec();
    let mut with_exif = jpg[..2].to_vec();
    with_exif.extend_from_slice(&[0xff, 0xe1]);
    with_exif.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
    with_exif.append(&mut exif);
    with_exif.extend_from_slice(&jpg[2..]);
    write("photo", "exif-48x32.jpg", &with_exif);
    let fingers = [
        ("gray-32x32.png", enc(&gray(32, 32), ImageFormat::Png)),
        ("gray-26x40.png", enc(&gray(26, 40), ImageFormat::Png)),
        ("small-8x8.png", enc(&gray(8, 8), ImageFormat::Png)),
        ("rgb-32x32.png", enc(&rgb(32, 32), ImageFormat::Png)),
        ("gray-32x32.jpg", enc(&gray(32, 32), ImageFormat::Jpeg)),
        ("gray-32x32.tif", enc(&gray(32, 32), ImageFormat::Tiff)),
        ("rgb-16x16.tif", enc(&rgb(16, 16), ImageFormat::Tiff)),
    ];
    for (name, data) in &fingers {
        write("finger-image", name, data);
    }
    println!("image seeds written under {}", root.display());
}

fn usage() -> ! {
    eprintln!(
        "usage: fuzz list | fuzz <target|all> <iterations> [seed] | fuzz replay <target> <file>..."
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else { usage() };
    // Panics are expected findings: report them once, as crashes, not as a backtrace each.
    std::panic::set_hook(Box::new(|_| {}));
    match cmd.as_str() {
        "list" => {
            for t in targets::TARGETS {
                let n = engine::load_corpus(&engine::corpus_root().join(t.name))
                    .map(|c| c.len())
                    .unwrap_or(0);
                println!("{:<18} {n} seeds", t.name);
            }
        }
        "seed-images" => seed_images(),
        "replay" => {
            let Some(t) = args.get(1).and_then(|n| targets::find(n)) else {
                usage()
            };
            for f in &args[2..] {
                let data = std::fs::read(f).unwrap_or_else(|e| panic!("{f}: {e}"));
                let r = std::panic::catch_unwind(|| (t.run)(&data));
                println!("{f}: {r:?}");
            }
        }
        name => {
            let iterations: u64 = args
                .get(1)
                .and_then(|s| s.replace('_', "").parse().ok())
                .unwrap_or_else(|| usage());
            let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
            // Optional time budget per target (seconds): the run stops there and reports the
            // exact count reached.
            let budget: f64 = args
                .get(3)
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::INFINITY);
            let chosen: Vec<&engine::Target> = if name == "all" {
                targets::TARGETS.iter().collect()
            } else {
                vec![targets::find(name).unwrap_or_else(|| usage())]
            };
            let probe = engine::AllocProbe { reset, peak };
            let mut failed = false;
            println!("target\tinputs\tseconds\tinputs_per_s\toutcomes\tpool\tpeak_alloc\tcrashes");
            for t in chosen {
                let seeds = engine::load_corpus(&engine::corpus_root().join(t.name))
                    .unwrap_or_else(|e| panic!("corpus of {}: {e}", t.name));
                let r = engine::run(t, &seeds, iterations, seed, Some(&probe), |n, r| {
                    if n % 1_000_000 == 0 {
                        eprintln!(
                            "{}: {n} inputs, {:.0}/s, {} outcomes, {} crashes",
                            t.name,
                            n as f64 / r.seconds,
                            r.outcomes,
                            r.crashes.len()
                        );
                    }
                    r.seconds < budget
                });
                println!(
                    "{}\t{}\t{:.1}\t{:.0}\t{}\t{}\t{}\t{}",
                    t.name,
                    r.inputs,
                    r.seconds,
                    r.inputs as f64 / r.seconds.max(1e-9),
                    r.outcomes,
                    r.pool,
                    r.peak_alloc,
                    r.crashes.len()
                );
                let dir = engine::corpus_root().join("..").join("crashes");
                for c in &r.crashes {
                    failed = true;
                    std::fs::create_dir_all(&dir).ok();
                    let path = dir.join(format!("{}-{:016x}.bin", t.name, engine::fnv(&c.input)));
                    std::fs::write(&path, &c.input).ok();
                    eprintln!("CRASH {}: {} -> {}", t.name, c.what, path.display());
                }
            }
            if failed {
                std::process::exit(1);
            }
        }
    }
}
