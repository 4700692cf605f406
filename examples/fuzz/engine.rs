//! The fuzz engine: a seeded mutator over a corpus, a runner that catches panics and checks
//! each target's verdict, and outcome feedback (a mutant whose outcome signature was never seen
//! joins the pool it mutates from). Pure std; shared by `examples/fuzz` and the CI smoke test.
//!
//! This is *not* coverage-guided fuzzing: stable Rust has no sanitizer coverage here. The
//! feedback is a proxy: each target reports a short signature of what happened (an error code
//! and the shape of its message with digits removed, or the shape of what was accepted), and
//! an input that produced a new signature is kept.
#![allow(dead_code)]

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What a target says of one input: `Ok(signature)` for a typed result (accepted, or refused
/// with a stable code), `Err(violation)` when an invariant failed.
pub type Verdict = Result<String, String>;

pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]) -> Verdict,
    /// Longest input the mutator makes.
    pub max_len: usize,
    /// Tokens the mutator inserts or overwrites with (format words, JSON syntax, field names).
    pub dict: &'static [&'static [u8]],
    /// Largest number of bytes one input may have allocated at once, given its length.
    pub alloc_budget: fn(usize) -> usize,
}

/// splitmix64: small, seedable, good enough for mutation choices.
pub struct Rng(registro::biometrics::finger::synthetic::SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(registro::biometrics::finger::synthetic::SplitMix64::new(
            seed ^ 0x9e37_79b9_7f4a_7c15,
        ))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

const INTERESTING_8: [u8; 9] = [0, 1, 2, 10, 11, 0x7f, 0x80, 0xfe, 0xff];
const INTERESTING_16: [u16; 11] = [
    0, 1, 0xff, 0x100, 0x3fff, 0x4000, 0x7fff, 0x8000, 0xfffe, 0xffff, 500,
];
const INTERESTING_32: [u32; 8] = [
    0,
    1,
    0xffff,
    0x10000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffe,
    0xffff_ffff,
];

/// An offset biased towards the header (where lengths, counts and sizes live).
fn offset(rng: &mut Rng, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    if rng.chance(2) {
        rng.below(len.min(48))
    } else {
        rng.below(len)
    }
}

fn write_int(data: &mut [u8], at: usize, bytes: &[u8]) {
    for (i, b) in bytes.iter().enumerate() {
        if let Some(d) = data.get_mut(at + i) {
            *d = *b;
        }
    }
}

/// Applies one to four mutations to `data` (`other` is a second corpus entry, for splicing).
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8], t: &Target) {
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = data.len();
        match rng.below(15) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = offset(rng, len);
                data[i] = rng.next_u64() as u8;
            }
            2 if len > 0 => {
                let i = offset(rng, len);
                data[i] = INTERESTING_8[rng.below(INTERESTING_8.len())];
            }
            3 if len > 1 => {
                // An interesting 16-bit value, or the input's own length near it (a length
                // field that is off by a little).
                let v = if rng.chance(3) {
                    (len as u16)
                        .wrapping_add(rng.below(5) as u16)
                        .wrapping_sub(2)
                } else {
                    INTERESTING_16[rng.below(INTERESTING_16.len())]
                };
                let i = offset(rng, len - 1);
                let b = if rng.chance(4) {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                write_int(data, i, &b);
            }
            4 if len > 3 => {
                let v = if rng.chance(3) {
                    (len as u32)
                        .wrapping_add(rng.below(9) as u32)
                        .wrapping_sub(4)
                } else {
                    INTERESTING_32[rng.below(INTERESTING_32.len())]
                };
                let i = offset(rng, len - 3);
                let b = if rng.chance(4) {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                write_int(data, i, &b);
            }
            5 if len > 0 => {
                // Small arithmetic on a byte (counts and lengths just past a boundary).
                let i = offset(rng, len);
                let d = 1 + rng.below(16) as u8;
                data[i] = if rng.chance(2) {
                    data[i].wrapping_add(d)
                } else {
                    data[i].wrapping_sub(d)
                };
            }
            6 => {
                // Insert random bytes.
                let n = 1 + rng.below(16);
                let at = rng.below(len + 1);
                let chunk: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                data.splice(at..at, chunk);
            }
            7 if len > 0 => {
                // Delete a chunk.
                let at = rng.below(len);
                let n = 1 + rng.below((len - at).min(64));
                data.drain(at..at + n);
            }
            8 if len > 0 => {
                // Duplicate a chunk elsewhere (repeated views, minutiae, JSON items).
                let at = rng.below(len);
                let n = 1 + rng.below((len - at).min(128));
                let chunk = data[at..at + n].to_vec();
                let to = rng.below(len + 1);
                data.splice(to..to, chunk);
            }
            9 if len > 0 => {
                data.truncate(rng.below(len));
            }
            10 if !other.is_empty() => {
                // Splice: a prefix of this entry and a suffix of another.
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            11 | 12 if !t.dict.is_empty() => {
                let tok = t.dict[rng.below(t.dict.len())];
                let at = rng.below(len + 1);
                if rng.chance(2) || at + tok.len() > len {
                    data.splice(at..at, tok.iter().copied());
                } else {
                    data[at..at + tok.len()].copy_from_slice(tok);
                }
            }
            13 if len > 1 => {
                // Swap two bytes.
                let (a, b) = (rng.below(len), rng.below(len));
                data.swap(a, b);
            }
            _ if len > 0 => {
                // Overwrite a chunk with a copy of another part of the input.
                let a = rng.below(len);
                let b = rng.below(len);
                let n = 1 + rng.below((len - a.max(b)).min(32));
                let chunk = data[a..a + n].to_vec();
                data[b..b + n].copy_from_slice(&chunk);
            }
            _ => data.push(rng.next_u64() as u8),
        }
    }
    data.truncate(t.max_len);
}

/// The committed seed corpus of a target: every file of `dir` (sorted, so runs repeat).
pub fn load_corpus(dir: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths.iter().map(std::fs::read).collect()
}

/// The corpus folder of the repository.
pub fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
}

pub struct Crash {
    pub input: Vec<u8>,
    pub what: String,
}

#[derive(Default)]
pub struct Report {
    pub inputs: u64,
    pub crashes: Vec<Crash>,
    /// Distinct outcome signatures seen.
    pub outcomes: usize,
    /// Entries in the pool at the end (seeds plus kept mutants).
    pub pool: usize,
    pub seconds: f64,
    /// Largest allocation peak of one input (when a measuring allocator is installed).
    pub peak_alloc: usize,
}

/// Measures the bytes one input allocates at its peak: `reset` before, `peak` after.
pub struct AllocProbe {
    pub reset: fn(),
    pub peak: fn() -> usize,
}

const MAX_POOL: usize = 4096;
/// Crashes kept per run before it stops (one bug tends to repeat).
const MAX_CRASHES: usize = 20;

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".into()
    }
}

/// Runs `iterations` inputs of `t`: first every seed, then mutants of the pool. `progress` is
/// called every 10,000 inputs; the run stops early when it returns false (a time budget).
pub fn run(
    t: &Target,
    seeds: &[Vec<u8>],
    iterations: u64,
    seed: u64,
    probe: Option<&AllocProbe>,
    mut progress: impl FnMut(u64, &Report) -> bool,
) -> Report {
    let mut rng = Rng::new(seed ^ fnv(t.name.as_bytes()));
    let mut pool: Vec<Vec<u8>> = seeds.to_vec();
    if pool.is_empty() {
        pool.push(Vec::new());
    }
    let mut seen: HashSet<String> = HashSet::new();
    let mut report = Report::default();
    let start = Instant::now();
    let mut input = Vec::with_capacity(t.max_len);
    for i in 0..iterations {
        input.clear();
        if (i as usize) < seeds.len() {
            input.extend_from_slice(&seeds[i as usize]);
        } else {
            // Newer pool entries (new outcomes) are picked more often than old ones.
            let pick = if rng.chance(2) {
                pool.len() - 1 - rng.below(pool.len().min(64))
            } else {
                rng.below(pool.len())
            };
            input.extend_from_slice(&pool[pick]);
            let other = rng.below(pool.len());
            let other = pool[other].clone();
            mutate(&mut rng, &mut input, &other, t);
        }
        if let Some(p) = probe {
            (p.reset)();
        }
        let verdict = catch_unwind(AssertUnwindSafe(|| (t.run)(&input)));
        if let Some(p) = probe {
            let peak = (p.peak)();
            report.peak_alloc = report.peak_alloc.max(peak);
            let budget = (t.alloc_budget)(input.len());
            if peak > budget {
                report.crashes.push(Crash {
                    input: input.clone(),
                    what: format!("allocated {peak} bytes at once, budget {budget}"),
                });
            }
        }
        match verdict {
            Err(p) => report.crashes.push(Crash {
                input: input.clone(),
                what: format!("panic: {}", panic_text(p.as_ref())),
            }),
            Ok(Err(v)) => report.crashes.push(Crash {
                input: input.clone(),
                what: format!("violation: {v}"),
            }),
            Ok(Ok(sig)) => {
                if seen.len() < 1 << 16 && seen.insert(sig) && pool.len() < MAX_POOL {
                    pool.push(input.clone());
                }
            }
        }
        report.inputs = i + 1;
        if report.crashes.len() >= MAX_CRASHES {
            break;
        }
        if (i + 1) % 10_000 == 0 {
            report.outcomes = seen.len();
            report.pool = pool.len();
            report.seconds = start.elapsed().as_secs_f64();
            if !progress(i + 1, &report) {
                break;
            }
        }
    }
    report.outcomes = seen.len();
    report.pool = pool.len();
    report.seconds = start.elapsed().as_secs_f64();
    report
}

/// FNV-1a, for crash file names and per-target seeds.
pub fn fnv(data: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// An error message's shape: digits dropped, cut to 60 characters (the outcome signature).
pub fn shape(code: &str, message: &str) -> String {
    let m: String = message
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .take(60)
        .collect();
    format!("{code}:{m}")
}

/// log2 bucket of a count, for signatures of accepted inputs.
pub fn bucket(n: usize) -> u32 {
    usize::BITS - n.leading_zeros()
}
