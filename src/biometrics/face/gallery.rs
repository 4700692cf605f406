//! 1:N search over L2-normalised 128-d embeddings kept in one contiguous f32 matrix.
//!
//! A search is an exhaustive inner-product scan (exact, like faiss `IndexFlatIP`), split into
//! row blocks on rayon's ambient pool. Each block keeps its own top candidates; the scan
//! kernel is AVX2+FMA (runtime-detected) with a portable chunked fallback that the compiler
//! auto-vectorises, both tested against a plain scalar loop. Best-per-person is exact: with at
//! most `m` embeddings per person, the best rows of the top `k` people are all within the top
//! `k * m` rows.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use super::{similarity_from_cosine, EMBEDDING_DIM};

const D: usize = EMBEDDING_DIM;
/// Rows scanned by one rayon task (4 MiB of embeddings).
const ROWS_PER_TASK: usize = 8192;
/// Rows scored between two looks at the cancel flag / candidate threshold.
const BLOCK: usize = 256;

/// In-memory face gallery; `Send + Sync`, wrap it in an `RwLock` to share.
#[derive(Default, Clone)]
pub struct FaceGallery {
    data: Vec<f32>,
    persons: Vec<u64>,
    counts: HashMap<u64, u32>,
    max_per_person: u32,
}

impl FaceGallery {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one embedding (re-normalised) for `person`; a person may have several.
    /// Panics if `embedding.len() != EMBEDDING_DIM` (a programming error).
    pub fn insert(&mut self, person: u64, embedding: &[f32]) {
        assert_eq!(embedding.len(), D, "face embeddings are {D}-d");
        let n = norm(embedding);
        let inv = if n > 0.0 { 1.0 / n } else { 0.0 };
        self.data.extend(embedding.iter().map(|v| v * inv));
        self.persons.push(person);
        let c = self.counts.entry(person).or_insert(0);
        *c += 1;
        self.max_per_person = self.max_per_person.max(*c);
    }

    /// Removes every embedding of `person` (O(n) compaction).
    pub fn remove(&mut self, person: u64) {
        let Some(removed) = self.counts.remove(&person) else {
            return;
        };
        let mut w = 0;
        for r in 0..self.persons.len() {
            if self.persons[r] != person {
                if w != r {
                    self.persons[w] = self.persons[r];
                    self.data.copy_within(r * D..(r + 1) * D, w * D);
                }
                w += 1;
            }
        }
        self.persons.truncate(w);
        self.data.truncate(w * D);
        if removed == self.max_per_person {
            self.max_per_person = self.counts.values().copied().max().unwrap_or(0);
        }
    }

    /// Number of embeddings.
    pub fn len(&self) -> usize {
        self.persons.len()
    }

    pub fn is_empty(&self) -> bool {
        self.persons.is_empty()
    }

    /// Number of distinct people.
    pub fn persons(&self) -> usize {
        self.counts.len()
    }

    /// Heap bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.data.capacity() * 4
            + self.persons.capacity() * 8
            + self.counts.capacity() * (8 + 4 + 8)
    }

    /// The embeddings matrix, row-major `len() x EMBEDDING_DIM`.
    pub fn matrix(&self) -> &[f32] {
        &self.data
    }

    /// The `k` best people for `probe`, one entry each (their best embedding), best first, with
    /// their [`super::similarity`] score. Returns an empty list if `cancel` is set during the
    /// scan.
    pub fn search(&self, probe: &[f32], k: usize, cancel: &AtomicBool) -> Vec<(u64, f32)> {
        if probe.len() != D || k == 0 || self.is_empty() {
            return Vec::new();
        }
        let n = norm(probe);
        if n == 0.0 || !n.is_finite() {
            return Vec::new();
        }
        let q: Vec<f32> = probe.iter().map(|v| v / n).collect();
        let want = k
            .saturating_mul(self.max_per_person.max(1) as usize)
            .min(self.len());
        let kernel = Kernel::detect();
        let parts: Vec<Option<TopK>> = self
            .data
            .par_chunks(ROWS_PER_TASK * D)
            .enumerate()
            .map(|(task, rows)| {
                let mut top = TopK::new(want);
                let mut scores = [0f32; BLOCK];
                for (b, blk) in rows.chunks(BLOCK * D).enumerate() {
                    if cancel.load(Ordering::Relaxed) {
                        return None;
                    }
                    let m = blk.len() / D;
                    kernel.scores(blk, &q, &mut scores[..m]);
                    let base = (task * ROWS_PER_TASK + b * BLOCK) as u32;
                    for (i, &s) in scores[..m].iter().enumerate() {
                        if s > top.threshold() {
                            top.push(s, base + i as u32);
                        }
                    }
                }
                Some(top)
            })
            .collect();
        let mut all = Vec::with_capacity(parts.len() * want);
        for p in parts {
            match p {
                Some(t) => all.extend(t.items),
                None => return Vec::new(),
            }
        }
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut out: Vec<(u64, f32)> = Vec::with_capacity(k);
        for (s, row) in all {
            let person = self.persons[row as usize];
            if out.iter().all(|(p, _)| *p != person) {
                out.push((person, similarity_from_cosine(s)));
                if out.len() == k {
                    break;
                }
            }
        }
        out
    }
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// Bounded list of the best (score, row) seen, kept sorted best first.
struct TopK {
    cap: usize,
    items: Vec<(f32, u32)>,
}

impl TopK {
    fn new(cap: usize) -> Self {
        TopK {
            cap,
            items: Vec::with_capacity(cap + 1),
        }
    }

    #[inline]
    fn threshold(&self) -> f32 {
        if self.items.len() < self.cap {
            f32::NEG_INFINITY
        } else {
            self.items[self.cap - 1].0
        }
    }

    fn push(&mut self, s: f32, row: u32) {
        let pos = self.items.partition_point(|&(v, _)| v >= s);
        self.items.insert(pos, (s, row));
        self.items.truncate(self.cap);
    }
}

/// The inner-product kernel chosen at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Plain loop, one accumulator (reference).
    Scalar,
    /// 16 independent accumulators; auto-vectorised for the baseline target (SSE2 / NEON).
    Chunked,
    /// AVX2 + FMA intrinsics.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Kernel {
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Kernel::Avx2;
            }
        }
        Kernel::Chunked
    }

    /// `out[i] = rows[i] . q` for each `D`-wide row.
    pub fn scores(self, rows: &[f32], q: &[f32], out: &mut [f32]) {
        debug_assert_eq!(rows.len(), out.len() * D);
        match self {
            Kernel::Scalar => {
                for (o, r) in out.iter_mut().zip(rows.chunks_exact(D)) {
                    let mut s = 0f32;
                    for (a, b) in r.iter().zip(q) {
                        s += a * b;
                    }
                    *o = s;
                }
            }
            Kernel::Chunked => {
                for (o, r) in out.iter_mut().zip(rows.chunks_exact(D)) {
                    *o = dot_chunked(r, q);
                }
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => {
                // SAFETY: only selected by `detect` when the CPU has AVX2 and FMA, or by a
                // caller (tests) that checked the same.
                unsafe { scores_avx2(rows, q, out) }
            }
        }
    }
}

#[inline]
fn dot_chunked(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    for (x, y) in a.chunks_exact(16).zip(b.chunks_exact(16)) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = 0f32;
    for v in acc {
        s += v;
    }
    s
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn scores_avx2(rows: &[f32], q: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    assert!(q.len() == D && rows.len() >= out.len() * D);
    let qp = q.as_ptr();
    for (i, o) in out.iter_mut().enumerate() {
        let rp = rows.as_ptr().add(i * D);
        let mut a0 = _mm256_setzero_ps();
        let mut a1 = _mm256_setzero_ps();
        let mut a2 = _mm256_setzero_ps();
        let mut a3 = _mm256_setzero_ps();
        let mut j = 0;
        while j < D {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(rp.add(j)), _mm256_loadu_ps(qp.add(j)), a0);
            a1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(rp.add(j + 8)),
                _mm256_loadu_ps(qp.add(j + 8)),
                a1,
            );
            a2 = _mm256_fmadd_ps(
                _mm256_loadu_ps(rp.add(j + 16)),
                _mm256_loadu_ps(qp.add(j + 16)),
                a2,
            );
            a3 = _mm256_fmadd_ps(
                _mm256_loadu_ps(rp.add(j + 24)),
                _mm256_loadu_ps(qp.add(j + 24)),
                a3,
            );
            j += 32;
        }
        let s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
        let hi = _mm256_extractf128_ps(s, 1);
        let lo = _mm256_castps256_ps128(s);
        let s4 = _mm_add_ps(hi, lo);
        let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        let s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
        *o = _mm_cvtss_f32(s1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand_vecs(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n * D)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    #[test]
    fn kernels_agree_with_scalar() {
        let rows = rand_vecs(300, 1);
        let q = rand_vecs(1, 2);
        let mut reference = vec![0f32; 300];
        Kernel::Scalar.scores(&rows, &q, &mut reference);
        let mut kernels = vec![Kernel::Chunked];
        #[cfg(target_arch = "x86_64")]
        if Kernel::detect() == Kernel::Avx2 {
            kernels.push(Kernel::Avx2);
        }
        for k in kernels {
            let mut out = vec![0f32; 300];
            k.scores(&rows, &q, &mut out);
            for (a, b) in out.iter().zip(&reference) {
                assert!((a - b).abs() < 1e-4, "{k:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn search_matches_brute_force_best_per_person() {
        let n = 20_000;
        let v = rand_vecs(n, 3);
        let mut g = FaceGallery::new();
        for i in 0..n {
            g.insert((i % 7000) as u64, &v[i * D..(i + 1) * D]);
        }
        assert_eq!(g.len(), n);
        assert_eq!(g.persons(), 7000);
        let probe = &v[1234 * D..1235 * D];
        let res = g.search(probe, 10, &AtomicBool::new(false));
        // brute force
        let q: Vec<f32> = probe.iter().map(|x| x / norm(probe)).collect();
        let mut best: HashMap<u64, f32> = HashMap::new();
        for i in 0..n {
            let r = &g.matrix()[i * D..(i + 1) * D];
            let mut s = 0f32;
            for (a, b) in r.iter().zip(&q) {
                s += a * b;
            }
            let e = best.entry(g.persons[i]).or_insert(f32::NEG_INFINITY);
            *e = e.max(s);
        }
        let mut bf: Vec<(u64, f32)> = best.into_iter().collect();
        bf.sort_by(|a, b| b.1.total_cmp(&a.1));
        assert_eq!(res.len(), 10);
        assert_eq!(res[0].0, 1234);
        for (r, b) in res.iter().zip(&bf) {
            assert_eq!(r.0, b.0);
            assert!((r.1 - similarity_from_cosine(b.1)).abs() < 1e-5);
        }
        assert!(res.windows(2).all(|w| w[0].1 >= w[1].1));
    }

    #[test]
    fn remove_append_and_cancel() {
        let v = rand_vecs(50, 4);
        let mut g = FaceGallery::new();
        for i in 0..50 {
            g.insert(i as u64 / 2, &v[i * D..(i + 1) * D]);
        }
        g.remove(3);
        assert_eq!(g.len(), 48);
        let probe = &v[6 * D..7 * D];
        let res = g.search(probe, 5, &AtomicBool::new(false));
        assert!(res.iter().all(|(p, _)| *p != 3));
        g.insert(99, probe);
        let res = g.search(probe, 1, &AtomicBool::new(false));
        assert_eq!(res[0].0, 99);
        assert!(res[0].1 > 0.99);
        assert!(g.search(probe, 5, &AtomicBool::new(true)).is_empty());
        assert!(g.memory_bytes() >= 49 * D * 4);
    }
}
