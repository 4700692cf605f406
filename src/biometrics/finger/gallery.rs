//! 1:N search: a gallery of precomputed fingers with a two-stage search.
//!
//! Stage 1 (indexing) follows the idea of MCC indexing (R. Cappelli, M. Ferrara, D. Maltoni,
//! "Fingerprint indexing based on Minutia Cylinder-Code", IEEE TPAMI 33(5), 2011): every binary
//! cylinder is hashed by locality-sensitive hashing and the gallery keeps an inverted list per
//! hash bucket. Cappelli et al. sample cylinder bits; the 8×8 cylinders used here are sparse, so
//! this engine hashes the *set* of 1-bits with MinHash instead (`tables` keys of
//! `hashes_per_table` MinHash values each, see [`IndexConfig`]). A probe's cylinders vote for the gallery fingers that share
//! their buckets; similar cylinders collide with high probability, unrelated ones rarely. Votes
//! are normalised by the number of gallery tokens (a cosine-like score), and the best
//! `shortlist` fingers per probe finger form the candidate persons.
//!
//! Between the two stages the index hands a pool of [`POOL_FACTOR`]` / 2` times the shortlist
//! to a cheap local score (`mcc::compare_local`: the mean of the best cylinder-pair
//! similarities, without relaxation or consolidation). Stage 2 takes stage 1's own best
//! quarter of the shortlist and the local score's best quarter of the rest of the pool.
//!
//! Stage 2 runs the full MCC/LSS-R matcher on every finger of those persons (in parallel on
//! rayon's ambient pool), fuses per person and returns the top k.
//!
//! Memory: each inverted list is Elias–Fano coded (see [`Bucket`]): an item is the low 10 bits
//! of its entry id with the direction in 16 bits, plus about 2 bits of the id's high part,
//! instead of 3 or 4 bytes; and each finger's features are kept packed
//! (`mcc::PackedFeatures`: one buffer, cylinder slices without the cells outside the disc),
//! unpacked into a per-thread buffer for each comparison. Both forms are exact: searches give
//! the same results as with plain items and unpacked features.

use super::calib::fuse_scores;
use super::mcc::{FingerFeatures, PackedFeatures, ND};
use super::synthetic::SplitMix64;
use rayon::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Parameters of the stage-1 index and of the shortlist.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexConfig {
    /// Number of LSH tables.
    pub tables: usize,
    /// MinHash values concatenated per table key.
    pub hashes_per_table: usize,
    /// log2 of the number of buckets (shared by all tables).
    pub bucket_bits: u32,
    /// Stage-1 candidate persons kept (at least; see [`SHORTLIST_PER_MILLE`]).
    pub shortlist: usize,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            tables: 24,
            hashes_per_table: 4,
            bucket_bits: 20,
            shortlist: 300,
        }
    }
}

/// A search result: a person, the fused score and the per-finger scores.
#[derive(Debug, Clone, PartialEq)]
pub struct FingerCandidate {
    /// Person id given at insertion.
    pub person: u64,
    /// Fused score over the probe's fingers (see [`super::fuse_scores`]), in `[0, 1]`.
    pub score: f32,
    /// (gallery finger position, score) of the best gallery finger for each probe finger.
    pub fingers: Vec<(u8, f32)>,
}

#[derive(Debug)]
struct Entry {
    position: u8,
    alive: bool,
    /// Distinct LSH tokens of this finger (for vote normalisation).
    ntok: u16,
    /// Dense person slot (index into `slot_person`).
    slot: u32,
    /// The finger's features in the gallery's compact form (unpacked per comparison).
    features: PackedFeatures,
}

thread_local! {
    /// A gallery finger unpacked for one comparison (reused, so unpacking allocates nothing).
    static UNPACKED: RefCell<FingerFeatures> = RefCell::new(FingerFeatures::empty());
}

/// Runs `f` on the unpacked features of a gallery finger.
fn with_unpacked<R>(p: &PackedFeatures, f: impl FnOnce(&FingerFeatures) -> R) -> R {
    UNPACKED.with(|u| {
        let mut u = u.borrow_mut();
        p.unpack_into(&mut u);
        f(&u)
    })
}

/// Random ranks of the cylinder bit positions, one row per MinHash function, fixed by a seed.
fn minhash_ranks(n: usize) -> Vec<Vec<u16>> {
    let mut rng = SplitMix64::new(0x4c53_485f_4d43_4331);
    let by_fn: Vec<Vec<u16>> = (0..n)
        .map(|_| {
            (0..ND * 64)
                .map(|_| (rng.next_u64() >> 48) as u16)
                .collect()
        })
        .collect();
    // Stored transposed, `[bit position][hash function]`, so that the update for one set bit
    // is a contiguous element-wise minimum (vectorised by the compiler).
    (0..ND * 64)
        .map(|pos| by_fn.iter().map(|r| r[pos]).collect())
        .collect()
}

/// Distinct LSH tokens (bucket numbers) of a finger: for every cylinder and table, the
/// MinHash signature of the cylinder's set of 1-bits (Broder 1997), hashed into a bucket.
/// Two cylinders collide in a table with probability ≈ J^h, J being the Jaccard similarity
/// of their bit sets and h the hashes per table.
fn tokens(f: &FingerFeatures, ranks: &[Vec<u16>], cfg: &IndexConfig) -> Vec<(u32, u8)> {
    let mut out = Vec::with_capacity(f.cylinders().len() * cfg.tables);
    let nfn = ranks.first().map_or(0, |r| r.len());
    let mut mins = vec![u16::MAX; nfn];
    for (c, &dir) in f.cylinders().iter().zip(f.directions()) {
        mins.iter_mut().for_each(|m| *m = u16::MAX);
        let mut any = false;
        for (k, &w) in c[..ND].iter().enumerate() {
            let mut w = w;
            while w != 0 {
                let pos = k * 64 + w.trailing_zeros() as usize;
                w &= w - 1;
                any = true;
                for (m, r) in mins.iter_mut().zip(&ranks[pos]) {
                    *m = (*m).min(*r);
                }
            }
        }
        if !any {
            continue;
        }
        for t in 0..cfg.tables {
            let mut h: u64 = 0x9e37_79b9_7f4a_7c15 ^ t as u64;
            for m in &mins[t * cfg.hashes_per_table..(t + 1) * cfg.hashes_per_table] {
                h = (h ^ *m as u64).wrapping_mul(0x100_0000_01b3);
                h ^= h >> 29;
            }
            h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
            out.push(((h >> (64 - cfg.bucket_bits)) as u32, dir));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Rotation bins of the stage-1 Hough vote: a probe/gallery direction difference `r` (in
/// 1/256 turn, |r| ≤ `ROT_WINDOW`) falls in bin `(r + ROT_WINDOW) / ROT_BIN`; a finger's score
/// is the best sum of two adjacent bins (a ≈34° window).
const ROT_WINDOW: i32 = 54;
const ROT_BIN: i32 = 12;
const NBINS: usize = (2 * ROT_WINDOW / ROT_BIN + 1) as usize;
/// Buckets longer than this many times the mean bucket length are skipped when voting.
/// Measured on the seeded synthetic population (2,500 mated 2-finger probes against 10 k
/// people): 32 lost 20 mates beyond stage-1 rank 300 with 16 tables, 64 lost 12, no cap 10;
/// long buckets hold the cylinder patterns common to many fingers, but genuine pairs collide
/// there too.
const STOP_FACTOR: usize = 64;
/// The stage-1 shortlist grows with the gallery: at least this many persons per thousand
/// enrolled (4 per mille: 400 at 100 k, 4,000 at 1 M), because an impostor outranks a poor
/// mate in proportion to the number of impostors.
pub const SHORTLIST_PER_MILLE: usize = 4;

/// The re-ranking pool is `POOL_FACTOR / 2` times the shortlist (stage 1's best by summed
/// votes; for multi-finger probes stage 1 adds up to half as many again by the best single
/// finger). Chosen on the real-mate probes of `examples/finger_search` (`FS_REAL`, 210
/// two-finger probes of the six FVC sets' SecuGen templates in a 100 k synthetic gallery): of
/// the 7 probes whose mate stage 1 ranks beyond the 400-person shortlist, a pool of 800
/// recovers 2 and a pool of 1,000 recovers 3; the others rank beyond 2,000 in stage 1, where a
/// pool would cost more than the time target allows. In-sample: these are the probes the recall
/// figure is reported on.
const POOL_FACTOR: usize = 5;
/// Of the shortlist, stage 2 sees stage 1's best `1 / KEEP_DIVISOR` and the local score's best
/// `1 / KEEP_DIVISOR` of the rest of the pool: on the same probes, keeping 100 + 100 of a pool
/// of 1,000 lost no mate that 400 by local score alone kept, and halves stage 2. Stage 1's own
/// head is kept because the local score demotes a few mates that the votes rank high (one real
/// mate at stage-1 rank 27 had local rank 335).
const KEEP_DIVISOR: usize = 4;

/// Largest number of fingers a gallery holds at once (it bounds a probe finger's vote buffer,
/// 10 bytes per entry id; the ids of removed fingers are given back and reused, so churn does
/// not use them up).
pub const MAX_GALLERY_FINGERS: usize = 1 << 26;

/// Entry ids per index page (log2). A list holds the items of one page, which bounds what a
/// list edit in the middle costs (a reused id, a removal: the list is decoded and re-encoded).
/// 2^21 keeps a 1 M-person, two-finger gallery in one page, so a probe reads one list per key.
const PAGE_BITS: u32 = 21;

/// Low bits of an entry id (within its page) stored with each item; the rest of the id is
/// coded in unary (see [`Bucket`]). 10 bits is the Elias–Fano optimum `log2(ids / items)` for
/// any gallery size: with 2^20 buckets and about a thousand tokens per finger a list holds
/// about one item per thousand ids.
const SUB_BITS: u32 = 10;

/// One inverted list of one page, coded as Elias–Fano (P. Elias, "Efficient storage and
/// retrieval by content and address of static files", J. ACM 21(2), 1974): each item's id
/// within the page is split into its low `sub_bits` bits, kept with the item's minutia
/// direction (1/64 turn) in one `u16`, and its high part `id >> sub_bits`, non-decreasing
/// along the list, kept as a bit vector in which item `i` sets bit `high_i + i`. At one item
/// per 2^10 ids that is 16 + about 2 bits per item, against 24 for a plain id and direction.
///
/// The two parts are two buffers, so that an append writes at the end of each and moves
/// nothing; the bit vector ends with the byte of its last 1. An empty list allocates nothing.
#[derive(Debug, Clone, Default, PartialEq)]
struct Bucket {
    low: Vec<u16>,
    high: Vec<u8>,
}

impl Bucket {
    /// Number of items.
    #[inline]
    fn len(&self) -> usize {
        self.low.len()
    }

    /// Heap bytes held.
    fn memory_bytes(&self) -> usize {
        self.low.capacity() * 2 + self.high.capacity()
    }

    /// Calls `f(id within the page, direction in 1/64 turn)` for every item, in list order.
    #[inline]
    fn for_each(&self, sub_bits: u32, mut f: impl FnMut(u32, u8)) {
        let mut lows = self.low.iter();
        let mut i = 0usize;
        let mut word = |k: usize, mut w: u64| {
            while w != 0 {
                let hi = (k * 64 + w.trailing_zeros() as usize - i) as u32;
                w &= w - 1;
                let Some(&v) = lows.next() else { return };
                f(hi << sub_bits | (v >> 6) as u32, (v & 63) as u8);
                i += 1;
            }
        };
        let words = self.high.chunks_exact(8);
        let tail = words.remainder();
        let full = self.high.len() / 8;
        for (k, c) in words.enumerate() {
            word(
                k,
                u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
            );
        }
        let mut w = [0u8; 8];
        w[..tail.len()].copy_from_slice(tail);
        word(full, u64::from_le_bytes(w));
        debug_assert_eq!(i, self.low.len(), "Elias-Fano list: the two parts disagree");
    }

    /// All items, decoded.
    fn decode(&self, sub_bits: u32) -> Vec<(u32, u8)> {
        let mut v = Vec::with_capacity(self.len());
        self.for_each(sub_bits, |id, d| v.push((id, d)));
        v
    }

    /// The list of `items` (ids within the page, ordered by their high part).
    fn encode(items: &[(u32, u8)], sub_bits: u32) -> Bucket {
        let mut b = Bucket::default();
        for &(id, d) in items {
            b.append(id, d, sub_bits);
        }
        b.shrink_to_fit();
        b
    }

    fn shrink_to_fit(&mut self) {
        self.low.shrink_to_fit();
        self.high.shrink_to_fit();
    }

    /// High part of the last item.
    fn last_high(&self) -> Option<usize> {
        let n = self.low.len();
        let last = *self.high.last()?;
        // The bit vector ends with the byte of its last 1, which is item n − 1's.
        let pos = (self.high.len() - 1) * 8 + 7 - last.leading_zeros() as usize;
        Some(pos - (n - 1))
    }

    /// Makes room for `items` more items and `high_bytes` more bytes of the bit vector:
    /// exactly, when the list is new, otherwise by at least 25 % (not doubling: the index is
    /// most of the gallery's memory; and a bulk load does not copy every list at every step).
    fn grow_for(&mut self, items: usize, high_bytes: usize) {
        let (n, h) = (self.low.len(), self.high.len());
        if n + items > self.low.capacity() {
            self.low.reserve_exact(items.max(n / 4 + 4));
        }
        if h + high_bytes > self.high.capacity() {
            self.high.reserve_exact(high_bytes.max(h / 4 + 1));
        }
    }

    /// Adds an item (`id` within the page, direction `dir` in 1/64 turn). An id whose high
    /// part is below the last item's (a reused id) is put in its place by re-encoding the
    /// list; any other is appended.
    fn push(&mut self, id: u32, dir: u8, sub_bits: u32) {
        let hi = (id >> sub_bits) as usize;
        if self.last_high().is_some_and(|last| hi < last) {
            let mut v = self.decode(sub_bits);
            let at = v.partition_point(|&(x, _)| (x >> sub_bits) as usize <= hi);
            v.insert(at, (id, dir));
            *self = Self::encode(&v, sub_bits);
            return;
        }
        self.append(id, dir, sub_bits);
    }

    /// Appends an item whose id is not below any in the list (a new entry id).
    #[inline]
    fn append(&mut self, id: u32, dir: u8, sub_bits: u32) {
        let n = self.low.len();
        let hi = (id >> sub_bits) as usize;
        debug_assert!(self.last_high().is_none_or(|last| hi >= last));
        let bit = hi + n;
        let need = bit / 8 + 1;
        self.grow_for(1, need.saturating_sub(self.high.len()));
        self.low
            .push(((id & ((1 << sub_bits) - 1)) << 6 | (dir & 63) as u32) as u16);
        // Mostly one byte (the bit vector grows by about 2 bits per item).
        while self.high.len() < need {
            self.high.push(0);
        }
        self.high[bit / 8] |= 1 << (bit % 8);
    }

    /// Deletes every item of entry `id` (within the page); returns how many.
    fn remove_id(&mut self, id: u32, sub_bits: u32) -> usize {
        let mut v = self.decode(sub_bits);
        let before = v.len();
        v.retain(|&(x, _)| x != id);
        let removed = before - v.len();
        if removed > 0 {
            *self = Self::encode(&v, sub_bits);
        }
        removed
    }
}

/// A gallery of enrolled fingers. `Send + Sync`; mutate under a write lock, search under a
/// read lock.
#[derive(Debug)]
pub struct FingerGallery {
    entries: Vec<Entry>,
    /// Person → (slot, entry ids).
    persons: HashMap<u64, (u32, Vec<u32>)>,
    /// Slot → person (slots of removed persons are reused through `free_slots`).
    slot_person: Vec<u64>,
    /// Entry ids of removed fingers, whose index items have been deleted: reused first.
    free_ids: Vec<u32>,
    /// Person slots of removed persons: reused first.
    free_slots: Vec<u32>,
    /// Inverted lists, page-major: list `page << bucket_bits | bucket` holds the items of
    /// the entries `page << page_bits ..` that fall in `bucket`; pages are added as ids grow.
    index: Vec<Bucket>,
    /// log2 of the entry ids per index page ([`PAGE_BITS`]; smaller in tests, to cross pages).
    page_bits: u32,
    /// Low id bits kept per item ([`SUB_BITS`]; smaller in tests, so that small pages still
    /// have several high parts).
    sub_bits: u32,
    /// Total items in the index (for the stop-bucket threshold).
    index_items: usize,
    live: usize,
    cfg: IndexConfig,
    ranks: Vec<Vec<u16>>,
}

impl Default for FingerGallery {
    fn default() -> Self {
        Self::new()
    }
}

fn positions_match(probe: u8, gallery: u8) -> bool {
    probe == 0 || gallery == 0 || probe == gallery
}

impl FingerGallery {
    /// An empty gallery with the default index configuration.
    pub fn new() -> Self {
        Self::with_config(IndexConfig::default())
    }

    /// An empty gallery with an explicit index configuration.
    pub fn with_config(cfg: IndexConfig) -> Self {
        let cfg = IndexConfig {
            tables: cfg.tables.clamp(1, 64),
            hashes_per_table: cfg.hashes_per_table.clamp(1, 8),
            bucket_bits: cfg.bucket_bits.clamp(8, 24),
            shortlist: cfg.shortlist.max(1),
        };
        FingerGallery {
            entries: Vec::new(),
            persons: HashMap::new(),
            slot_person: Vec::new(),
            free_ids: Vec::new(),
            free_slots: Vec::new(),
            index_items: 0,
            index: vec![Bucket::default(); 1 << cfg.bucket_bits],
            page_bits: PAGE_BITS,
            sub_bits: SUB_BITS,
            live: 0,
            ranks: minhash_ranks(cfg.tables * cfg.hashes_per_table),
            cfg,
        }
    }

    /// A gallery whose index pages hold `2^page_bits` entry ids, so that small tests cross
    /// page boundaries.
    #[cfg(test)]
    fn with_page_bits(page_bits: u32) -> Self {
        let mut g = Self::new();
        g.page_bits = page_bits;
        g.sub_bits = SUB_BITS.min(page_bits.saturating_sub(2));
        g
    }

    /// The index configuration.
    pub fn config(&self) -> IndexConfig {
        self.cfg
    }

    /// Sets the stage-1 shortlist size per probe finger (at least 1).
    pub fn set_shortlist(&mut self, n: usize) {
        self.cfg.shortlist = n.max(1);
    }

    fn tokens(&self, f: &FingerFeatures) -> Vec<(u32, u8)> {
        tokens(f, &self.ranks, &self.cfg)
    }

    /// Adds one finger of a person (several fingers per person are allowed, and several views
    /// of the same position). Appends to the index without rebuilding it.
    pub fn insert(&mut self, person: u64, position: u8, features: FingerFeatures) {
        let toks = self.tokens(&features);
        self.insert_with_tokens(person, position, features, toks);
    }

    /// Adds many fingers at once (e.g. when loading the gallery at start-up): the index keys are
    /// computed in parallel on rayon's pool, then appended in order. Same result as calling
    /// [`insert`](Self::insert) for each item.
    pub fn insert_batch(&mut self, items: Vec<(u64, u8, FingerFeatures)>) {
        let toks: Vec<Vec<(u32, u8)>> = items.par_iter().map(|(_, _, f)| self.tokens(f)).collect();
        if items.len() < 64 || !self.free_ids.is_empty() {
            // A few fingers (an enrollment), or ids to reuse (the bulk path hands out one
            // contiguous range of new ids): one by one.
            // (For a few fingers the bulk path's passes over all buckets cost more.)
            for ((person, position, features), t) in items.into_iter().zip(toks) {
                self.insert_with_tokens(person, position, features, t);
            }
            return;
        }
        // Grow every touched inverted list at most once per batch, instead of by 25 % steps
        // while appending (start-up loading spent most of its time reallocating lists).
        let base = self.first_new_id(items.len()) as usize;
        self.ensure_pages(base + items.len());
        // The inverted lists of the pages that the new ids fall in.
        let first = self.list_of(base as u32, 0);
        let end = self.list_of((base + items.len() - 1) as u32, 0) + (1 << self.cfg.bucket_bits);
        let mut add = vec![0u32; end - first];
        for (i, t) in toks.iter().enumerate() {
            for &(b, _) in t {
                add[self.list_of((base + i) as u32, b) - first] += 1;
            }
        }
        // The bit vector's zeros grow by one per 2^sub_bits new ids.
        let zeros = (items.len() >> self.sub_bits) + 2;
        for (b, &n) in self.index[first..end].iter_mut().zip(&add) {
            if n > 0 {
                b.grow_for(n as usize, (n as usize + zeros).div_ceil(8));
            }
        }
        drop(add);
        let (page_bits, bucket_bits, sub_bits) =
            (self.page_bits, self.cfg.bucket_bits, self.sub_bits);
        // Append to the inverted lists in parallel: each thread owns one range of those lists
        // and takes the tokens that fall in it, in entry order (so the lists are exactly what
        // one-by-one insertion builds).
        let chunk = (end - first).div_ceil(rayon::current_num_threads().max(1));
        self.index[first..end]
            .par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(ci, buckets)| {
                let lo = first + ci * chunk;
                let hi = lo + buckets.len();
                let page_mask = (1u32 << page_bits) - 1;
                for (i, t) in toks.iter().enumerate() {
                    let id = (base + i) as u32;
                    let page = ((id >> page_bits) as usize) << bucket_bits;
                    for &(b, d) in t {
                        let l = page | b as usize;
                        if (lo..hi).contains(&l) {
                            buckets[l - lo].append(id & page_mask, d >> 2, sub_bits);
                        }
                    }
                }
            });
        let packed: Vec<PackedFeatures> = items
            .par_iter()
            .map(|(_, _, f)| PackedFeatures::pack(f))
            .collect();
        for (((person, position, _), t), p) in items.into_iter().zip(toks).zip(packed) {
            self.index_items += t.len();
            self.add_entry(person, position, p, t.len());
        }
    }

    fn insert_with_tokens(
        &mut self,
        person: u64,
        position: u8,
        features: FingerFeatures,
        toks: Vec<(u32, u8)>,
    ) {
        let id = match self.free_ids.pop() {
            Some(id) => id,
            None => self.first_new_id(1),
        };
        self.ensure_pages(id as usize + 1);
        let (within, sub_bits) = (id & ((1 << self.page_bits) - 1), self.sub_bits);
        for &(t, d) in &toks {
            let l = self.list_of(id, t);
            self.index[l].push(within, d >> 2, sub_bits);
        }
        self.index_items += toks.len();
        let packed = PackedFeatures::pack(&features);
        self.add_entry_at(id, person, position, packed, toks.len());
    }

    /// The entry id of the next insertion, checking that `n` more fit in the index's ids.
    fn first_new_id(&self, n: usize) -> u32 {
        let id = self.entries.len();
        assert!(
            id + n <= MAX_GALLERY_FINGERS,
            "FingerGallery holds at most {MAX_GALLERY_FINGERS} fingers at once"
        );
        id as u32
    }

    /// Adds empty index pages until the entry ids below `ids_end` have theirs.
    fn ensure_pages(&mut self, ids_end: usize) {
        let pages = ids_end.div_ceil(1 << self.page_bits).max(1);
        let lists = pages << self.cfg.bucket_bits;
        if self.index.len() < lists {
            self.index.resize(lists, Bucket::default());
        }
    }

    /// The inverted list that holds entry `id`'s items of bucket `bucket`.
    #[inline]
    fn list_of(&self, id: u32, bucket: u32) -> usize {
        ((id >> self.page_bits) as usize) << self.cfg.bucket_bits | bucket as usize
    }

    /// Items of bucket `bucket` over all pages.
    fn bucket_len(&self, bucket: usize) -> usize {
        self.index[bucket..]
            .iter()
            .step_by(1 << self.cfg.bucket_bits)
            .map(Bucket::len)
            .sum()
    }

    /// Records a finger whose index tokens are already appended (entry id = current length).
    fn add_entry(&mut self, person: u64, position: u8, features: PackedFeatures, ntok: usize) {
        let id = self.entries.len() as u32;
        self.add_entry_at(id, person, position, features, ntok);
    }

    /// Records a finger under entry id `id`: a new id (= current length) or a reused one.
    fn add_entry_at(
        &mut self,
        id: u32,
        person: u64,
        position: u8,
        features: PackedFeatures,
        ntok: usize,
    ) {
        let slot = match self.persons.get_mut(&person) {
            Some(rec) => {
                rec.1.push(id);
                rec.0
            }
            None => {
                let slot = match self.free_slots.pop() {
                    Some(slot) => {
                        self.slot_person[slot as usize] = person;
                        slot
                    }
                    None => {
                        self.slot_person.push(person);
                        (self.slot_person.len() - 1) as u32
                    }
                };
                self.persons.insert(person, (slot, vec![id]));
                slot
            }
        };
        let entry = Entry {
            position,
            alive: true,
            ntok: ntok.min(u16::MAX as usize) as u16,
            slot,
            features,
        };
        if (id as usize) < self.entries.len() {
            self.entries[id as usize] = entry;
        } else {
            self.entries.push(entry);
        }
        self.live += 1;
    }

    /// Removes every finger of a person: their index items are deleted, their features freed,
    /// and their entry ids and person slot given back for reuse.
    pub fn remove(&mut self, person: u64) {
        if let Some((slot, ids)) = self.persons.remove(&person) {
            self.free_slots.push(slot);
            for id in ids {
                if !self.entries[id as usize].alive {
                    continue;
                }
                let toks = self.tokens(&self.entries[id as usize].features.unpack());
                let low = id & ((1 << self.page_bits) - 1);
                for &(t, _) in &toks {
                    let l = self.list_of(id, t);
                    self.index_items -= self.index[l].remove_id(low, self.sub_bits);
                }
                self.free_ids.push(id);
                let e = &mut self.entries[id as usize];
                {
                    e.alive = false;
                    e.features = PackedFeatures::empty();
                    self.live -= 1;
                }
            }
        }
    }

    /// Releases the spare capacity of the index lists (call after a bulk load; inserting
    /// afterwards stays correct but regrows the lists).
    pub fn shrink_to_fit(&mut self) {
        for b in &mut self.index {
            b.shrink_to_fit();
        }
        self.entries.shrink_to_fit();
    }

    /// Diagnostic summary of the index: items, mean and longest bucket, stop buckets.
    pub fn index_stats(&self) -> String {
        let cap = STOP_FACTOR * (self.index_items >> self.cfg.bucket_bits) + 64;
        let buckets = 1usize << self.cfg.bucket_bits;
        let lens: Vec<usize> = (0..buckets.min(self.index.len()))
            .map(|b| self.bucket_len(b))
            .collect();
        let longest = lens.iter().copied().max().unwrap_or(0);
        let stop: Vec<usize> = lens.into_iter().filter(|&l| l > cap).collect();
        format!(
            "index: {} items in {} pages, mean bucket {:.1}, longest {}, {} stop buckets holding {} items",
            self.index_items,
            self.index.len() / buckets,
            self.index_items as f64 / buckets as f64,
            longest,
            stop.len(),
            stop.iter().sum::<usize>()
        )
    }

    /// Entry ids in use or free for reuse: the peak number of fingers held at once (sizes the
    /// per-probe vote buffer). Diagnostic.
    pub fn id_capacity(&self) -> usize {
        self.entries.len()
    }

    /// Items in the inverted index (live fingers only). Diagnostic.
    pub fn index_items(&self) -> usize {
        self.index_items
    }

    /// Scores the probe against every finger of one enrolled person (the same fusion as
    /// [`search`](Self::search)), from the gallery's own copy of the features: a caller that
    /// needs direct comparisons does not have to keep a second copy. `None` when the person is
    /// not enrolled or no finger position matches.
    pub fn compare_person(
        &self,
        person: u64,
        probe: &[(u8, FingerFeatures)],
    ) -> Option<FingerCandidate> {
        self.score_person(person, probe)
    }

    /// Enrolled persons.
    pub fn people(&self) -> usize {
        self.persons.len()
    }

    /// Enrolled fingers.
    pub fn fingers(&self) -> usize {
        self.live
    }

    /// Approximate heap memory of the gallery in bytes (features, index, maps).
    pub fn memory_bytes(&self) -> usize {
        let feats: usize = self.entries.iter().map(|e| e.features.memory_bytes()).sum();
        let entries = self.entries.capacity() * std::mem::size_of::<Entry>();
        let index: usize = self.index.iter().map(Bucket::memory_bytes).sum::<usize>()
            + self.index.capacity() * std::mem::size_of::<Bucket>();
        let persons = self.persons.capacity() * (8 + std::mem::size_of::<(u32, Vec<u32>)>() + 8)
            + self
                .persons
                .values()
                .map(|v| v.1.capacity() * 4)
                .sum::<usize>()
            + self.slot_person.capacity() * 8;
        feats + entries + index + persons
    }

    /// The live fingers among `ids` (one person's entries) that a probe finger at `position`
    /// meets.
    fn fingers_meeting<'a>(
        &'a self,
        ids: &'a [u32],
        position: u8,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        ids.iter()
            .map(|&id| &self.entries[id as usize])
            .filter(move |e| e.alive && positions_match(position, e.position))
    }

    /// Scores every finger of `person` against the probe and fuses.
    fn score_person(&self, person: u64, probe: &[(u8, FingerFeatures)]) -> Option<FingerCandidate> {
        let (_, ids) = self.persons.get(&person)?;
        let mut fingers = Vec::with_capacity(probe.len());
        let mut scores = Vec::with_capacity(probe.len());
        for (pp, pf) in probe {
            let mut best: Option<(u8, f32)> = None;
            for e in self.fingers_meeting(ids, *pp) {
                let s = with_unpacked(&e.features, |g| super::mcc::compare(pf, g));
                if best.is_none_or(|b| s > b.1) {
                    best = Some((e.position, s));
                }
            }
            if let Some(b) = best {
                fingers.push(b);
                scores.push(b.1);
            }
        }
        if fingers.is_empty() {
            return None;
        }
        Some(FingerCandidate {
            person,
            score: fuse_scores(&scores),
            fingers,
        })
    }

    /// The cheap local score of a person: over the probe's fingers, the sum of the best
    /// [`super::mcc::compare_local`] among the person's position-compatible fingers.
    fn local_score(&self, person: u64, probe: &[(u8, FingerFeatures)]) -> f32 {
        let Some((_, ids)) = self.persons.get(&person) else {
            return 0.0;
        };
        probe
            .iter()
            .map(|(pp, pf)| {
                self.fingers_meeting(ids, *pp)
                    .map(|e| with_unpacked(&e.features, |g| super::mcc::compare_local(pf, g)))
                    .fold(0.0, f32::max)
            })
            .sum()
    }

    /// The persons stage 2 scores: stage 1's best `n / KEEP_DIVISOR` of the pool, then the
    /// best `n / KEEP_DIVISOR` of the rest of the pool by the local score.
    fn rerank(
        &self,
        probe: &[(u8, FingerFeatures)],
        pool: &[(u64, f32)],
        n: usize,
        cancel: &AtomicBool,
    ) -> Vec<u64> {
        let quarter = (n / KEEP_DIVISOR).max(1);
        let head = quarter.min(pool.len());
        let mut out: Vec<u64> = pool[..head].iter().map(|c| c.0).collect();
        let mut rest: Vec<(f32, u64)> = pool[head..]
            .par_iter()
            .map(|c| {
                if cancel.load(Ordering::Relaxed) {
                    return (0.0, c.0);
                }
                (self.local_score(c.0, probe), c.0)
            })
            .collect();
        let take = quarter.min(rest.len());
        let order = |a: &(f32, u64), b: &(f32, u64)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if rest.len() > take {
            rest.select_nth_unstable_by(take - 1, order);
        }
        out.extend(rest[..take].iter().map(|c| c.1));
        out
    }

    fn top_k(mut v: Vec<FingerCandidate>, k: usize) -> Vec<FingerCandidate> {
        v.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.person.cmp(&b.person)));
        v.truncate(k);
        v
    }

    /// Stage-1 candidate persons for a probe: (person, vote score), best first, at most `n`.
    /// Public for diagnostics (the examples measure the rank of the mate with it).
    pub fn stage1_candidates(&self, probe: &[(u8, FingerFeatures)], n: usize) -> Vec<(u64, f32)> {
        self.stage1(probe, n, &AtomicBool::new(false))
    }

    /// Votes of one probe finger for every entry: LSH collisions whose minutia directions
    /// agree on a rotation (a Hough vote over rotation bins, which keeps only the collisions
    /// that are consistent with one global rotation). Returns the best two-bin vote per entry
    /// and the probe's token count.
    fn votes(&self, probe: &FingerFeatures, cancel: &AtomicBool) -> (Vec<u16>, usize) {
        let toks = self.tokens(probe);
        let mut acc = vec![0u8; self.entries.len() * NBINS];
        // "Stop buckets": keys shared by a large part of the gallery (cylinder patterns that
        // are common to most fingers) carry little evidence and cost most of the time.
        let cap = STOP_FACTOR * (self.index_items >> self.cfg.bucket_bits) + 64;
        let buckets = 1usize << self.cfg.bucket_bits;
        let mut slots: Vec<u32> = Vec::new();
        for (i, &(t, dp)) in toks.iter().enumerate() {
            if i % 32 == 0 && cancel.load(Ordering::Relaxed) {
                break;
            }
            if self.bucket_len(t as usize) > cap {
                continue;
            }
            for (page, list) in self.index[t as usize..].iter().step_by(buckets).enumerate() {
                let base = page << self.page_bits;
                // Decode the list into the counters it votes for first, then vote: the vote
                // loop's random accesses are then independent of the decoding, and many of
                // them are in flight at once.
                slots.clear();
                list.for_each(self.sub_bits, |within, d| {
                    let r = (dp & 0xfc).wrapping_sub(d << 2) as i8 as i32;
                    if r.abs() <= ROT_WINDOW {
                        let id = base | within as usize;
                        slots.push((id * NBINS + ((r + ROT_WINDOW) / ROT_BIN) as usize) as u32);
                    }
                });
                for &k in &slots {
                    let a = &mut acc[k as usize];
                    *a = a.saturating_add(1);
                }
            }
        }
        let best = acc
            .chunks_exact(NBINS)
            .map(|c| {
                c.windows(2)
                    .map(|w| w[0] as u16 + w[1] as u16)
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        (best, toks.len())
    }

    /// Person-level stage 1: each probe finger votes for gallery fingers of a compatible
    /// position; votes are cosine-normalised (`v / sqrt(tokens_probe · tokens_gallery)`) and
    /// summed per person over the probe's fingers.
    fn stage1(
        &self,
        probe: &[(u8, FingerFeatures)],
        n: usize,
        cancel: &AtomicBool,
    ) -> Vec<(u64, f32)> {
        let votes: Vec<(Vec<u16>, usize)> = probe
            .par_iter()
            .map(|(_, f)| self.votes(f, cancel))
            .collect();
        if cancel.load(Ordering::Relaxed) {
            return Vec::new();
        }
        // Per person: the sum over probe fingers and the best single finger.
        let mut person_sum = vec![0f32; self.slot_person.len()];
        let mut person_max = vec![0f32; self.slot_person.len()];
        for ((pos, _), (acc, ntp)) in probe.iter().zip(&votes) {
            let ntp = (*ntp).max(1) as f32;
            for (id, &v) in acc.iter().enumerate() {
                if v == 0 {
                    continue;
                }
                let e = &self.entries[id];
                if !e.alive || !positions_match(*pos, e.position) {
                    continue;
                }
                let s = v as f32 / (ntp * e.ntok.max(1) as f32).sqrt();
                person_sum[e.slot as usize] += s;
                let m = &mut person_max[e.slot as usize];
                *m = m.max(s);
            }
        }
        let top = |score: &[f32], n: usize| -> Vec<(f32, u32)> {
            let mut cand: Vec<(f32, u32)> = score
                .iter()
                .enumerate()
                .filter(|(_, &v)| v > 0.0)
                .map(|(i, &v)| (v, i as u32))
                .collect();
            let n = n.min(cand.len());
            if n == 0 {
                return Vec::new();
            }
            if cand.len() > n {
                cand.select_nth_unstable_by(n - 1, |a, b| b.0.total_cmp(&a.0));
                cand.truncate(n);
            }
            cand.sort_by(|a, b| b.0.total_cmp(&a.0));
            cand
        };
        // The best persons by summed evidence, plus (for multi-finger probes) the best by a
        // single finger, so that a mate with one poor impression is not lost.
        let mut out = top(&person_sum, n);
        if probe.len() > 1 {
            let mut seen: std::collections::HashSet<u32> = out.iter().map(|c| c.1).collect();
            for c in top(&person_max, n / 2) {
                if seen.insert(c.1) {
                    out.push((person_sum[c.1 as usize], c.1));
                }
            }
        }
        out.into_iter()
            .map(|(v, slot)| (self.slot_person[slot as usize], v))
            .collect()
    }

    /// Indexed search: person-level stage-1 pool, re-ranked by the cheap local score into the
    /// shortlist (see the module documentation), full matcher on every finger of the
    /// shortlisted persons, top `k` persons by fused score. Returns an empty list if `cancel` is
    /// set during the search.
    pub fn search(
        &self,
        probe: &[(u8, FingerFeatures)],
        k: usize,
        cancel: &AtomicBool,
    ) -> Vec<FingerCandidate> {
        if probe.is_empty() || k == 0 || self.live == 0 {
            return Vec::new();
        }
        let n = self
            .cfg
            .shortlist
            .max(self.persons.len() * SHORTLIST_PER_MILLE / 1000);
        // A cancelled stage 1 returns no pool, and so no persons.
        let pool = self.stage1(probe, n * POOL_FACTOR / 2, cancel);
        let persons = self.rerank(probe, &pool, n, cancel);
        if cancel.load(Ordering::Relaxed) {
            return Vec::new();
        }
        let res: Vec<FingerCandidate> = persons
            .par_iter()
            .filter_map(|&p| {
                if cancel.load(Ordering::Relaxed) {
                    return None;
                }
                self.score_person(p, probe)
            })
            .collect();
        if cancel.load(Ordering::Relaxed) {
            return Vec::new();
        }
        Self::top_k(res, k)
    }

    /// Exhaustive search (the oracle): the full matcher against every enrolled finger.
    /// Returns an empty list if `cancel` is set during the search.
    pub fn search_exhaustive(
        &self,
        probe: &[(u8, FingerFeatures)],
        k: usize,
        cancel: &AtomicBool,
    ) -> Vec<FingerCandidate> {
        if probe.is_empty() || k == 0 || self.live == 0 {
            return Vec::new();
        }
        let persons: Vec<u64> = self.persons.keys().copied().collect();
        let res: Vec<FingerCandidate> = persons
            .par_iter()
            .with_min_len(64)
            .filter_map(|&p| {
                if cancel.load(Ordering::Relaxed) {
                    return None;
                }
                self.score_person(p, probe)
            })
            .collect();
        if cancel.load(Ordering::Relaxed) {
            return Vec::new();
        }
        Self::top_k(res, k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::biometrics::finger::synthetic::{
        ImpressionParams, SyntheticConfig, SyntheticGenerator,
    };

    /// Builds `n` synthetic persons with fingers at positions 2 and 7; returns the gallery and
    /// one fresh probe impression per person.
    fn population(n: usize, seed: u64) -> (FingerGallery, Vec<Vec<(u8, FingerFeatures)>>) {
        let mut g = SyntheticGenerator::new(seed, SyntheticConfig::default());
        let mut gal = FingerGallery::new();
        let mut probes = Vec::new();
        let ip = ImpressionParams::default();
        for p in 0..n as u64 {
            let mut probe = Vec::new();
            for pos in [2u8, 7] {
                let m = g.master();
                gal.insert(p, pos, FingerFeatures::extract(&g.render(&m, &ip)));
                probe.push((pos, FingerFeatures::extract(&g.render(&m, &ip))));
            }
            probes.push(probe);
        }
        (gal, probes)
    }

    /// The Elias–Fano list against a plain list of (id, direction): appends in id order,
    /// reused (smaller) ids put in place, removals, over several words of the bit vector and
    /// with the ids of one high part both sparse and crowded.
    #[test]
    fn elias_fano_lists_hold_exactly_their_items() {
        let mut rng = SplitMix64::new(31);
        for (sub_bits, span) in [(SUB_BITS, 1u32 << 23), (3, 200), (0, 50)] {
            let mut b = Bucket::default();
            let mut model: Vec<(u32, u8)> = Vec::new();
            let mut next = 0u32;
            for step in 0..3000 {
                let r = rng.next_u64();
                let dir = (r >> 8) as u8 & 63;
                let reused = |r: u64, next: u32| (r >> 20) as u32 % (next + 1).min(span);
                match r % 10 {
                    // Mostly appends, with gaps from 0 to a few high parts.
                    0..=7 if next < span => {
                        next += (r >> 20) as u32 % (2 << sub_bits).max(2);
                        let id = next.min(span - 1);
                        b.push(id, dir, sub_bits);
                        model.push((id, dir));
                    }
                    // A reused id anywhere below.
                    0..=8 => {
                        let id = reused(r, next);
                        b.push(id, dir, sub_bits);
                        let hi = id >> sub_bits;
                        let at = model.partition_point(|&(x, _)| x >> sub_bits <= hi);
                        model.insert(at, (id, dir));
                    }
                    // Remove the items of an id that is there, or of one that may not be.
                    _ => {
                        let id = match model.len() {
                            0 => 7,
                            n if r & 1 << 40 == 0 => model[(r >> 20) as usize % n].0,
                            _ => reused(r, next),
                        };
                        let before = model.len();
                        model.retain(|&(x, _)| x != id);
                        assert_eq!(b.remove_id(id, sub_bits), before - model.len());
                    }
                }
                assert_eq!(b.len(), model.len(), "step {step}");
                if step % 97 == 0 || model.len() < 5 {
                    assert_eq!(b.decode(sub_bits), model, "step {step}");
                }
            }
            assert_eq!(b.decode(sub_bits), model);
            assert_eq!(Bucket::encode(&model, sub_bits), b);
            assert!(model.len() > 200, "{sub_bits}: {}", model.len());
            if sub_bits == SUB_BITS {
                // At about one item per 2^10 ids: 2 bytes and a few bits each.
                let per_item = (b.low.len() * 2 + b.high.len()) as f64 / model.len() as f64;
                assert!(per_item < 2.5, "{per_item} bytes per item");
            }
        }
        let mut e = Bucket::default();
        e.push(5, 1, SUB_BITS);
        assert_eq!(e.remove_id(5, SUB_BITS), 1);
        assert_eq!(e, Bucket::default());
        assert_eq!(e.memory_bytes(), 0, "an emptied list keeps no allocation");
    }

    #[test]
    fn batch_insertion_builds_the_same_gallery_as_one_by_one() {
        let mut g = SyntheticGenerator::new(5, SyntheticConfig::default());
        let ip = ImpressionParams::default();
        let mut items = Vec::new();
        let mut probes = Vec::new();
        for p in 0..90u64 {
            let m = g.master();
            items.push((p, 2u8, FingerFeatures::extract(&g.render(&m, &ip))));
            probes.push(vec![(2u8, FingerFeatures::extract(&g.render(&m, &ip)))]);
        }
        // Index pages of 32 entry ids, so that the 90 fingers span three pages.
        let mut one = FingerGallery::with_page_bits(5);
        for (p, pos, f) in items.clone() {
            one.insert(p, pos, f);
        }
        // The same fingers in one page.
        let mut flat = FingerGallery::new();
        for (p, pos, f) in items.clone() {
            flat.insert(p, pos, f);
        }
        // A small batch (one by one inside) and a bulk one on a 2-thread pool, so the bucket
        // ranges really are split.
        let mut many = FingerGallery::with_page_bits(5);
        let (a, b) = items.split_at(10);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| {
            many.insert_batch(a.to_vec());
            many.insert_batch(b.to_vec());
        });
        assert_eq!(one.index_stats(), many.index_stats());
        assert!(
            one.index_stats().contains(" in 3 pages"),
            "{}",
            one.index_stats()
        );
        assert_eq!(one.index_items(), flat.index_items());
        assert_eq!(one.people(), many.people());
        for (i, b) in one.index.iter().enumerate() {
            assert_eq!(b, &many.index[i], "bucket {i}");
        }
        let cancel = AtomicBool::new(false);
        for probe in &probes {
            assert_eq!(
                one.stage1_candidates(probe, 100),
                many.stage1_candidates(probe, 100)
            );
            assert_eq!(
                one.search(probe, 3, &cancel),
                many.search(probe, 3, &cancel)
            );
            assert_eq!(
                one.stage1_candidates(probe, 100),
                flat.stage1_candidates(probe, 100)
            );
        }
    }

    #[test]
    fn indexed_search_finds_what_exhaustive_finds() {
        let (mut gal, probes) = population(200, 11);
        // A shortlist of 5 % of the gallery, so that the index really has to work.
        gal.set_shortlist(10);
        let cancel = AtomicBool::new(false);
        let (mut ex_hits, mut both) = (0, 0);
        for (p, probe) in probes.iter().enumerate().take(40) {
            let ex = gal.search_exhaustive(probe, 1, &cancel);
            let ix = gal.search(probe, 1, &cancel);
            if ex.first().map(|c| c.person) == Some(p as u64) {
                ex_hits += 1;
                if ix.first().map(|c| c.person) == Some(p as u64) {
                    both += 1;
                    assert_eq!(ix[0], ex[0]);
                }
            }
        }
        assert!(ex_hits >= 38, "exhaustive hits {ex_hits}");
        // Target: the indexed search finds ≥ 99.5 % of what exhaustive search finds.
        assert!(
            both as f32 >= 0.995 * ex_hits as f32,
            "indexed {both} of {ex_hits}"
        );
    }

    #[test]
    fn reranking_lifts_a_mate_from_the_tail_of_the_pool() {
        let (gal, probes) = population(60, 17);
        let cancel = AtomicBool::new(false);
        for mate in [3u64, 29, 41] {
            // A pool in which stage 1 put the mate last, behind 39 impostors.
            let mut pool: Vec<(u64, f32)> = (0..60u64)
                .filter(|&p| p != mate)
                .take(39)
                .map(|p| (p, 1.0))
                .collect();
            pool.push((mate, 0.1));
            let kept = gal.rerank(&probes[mate as usize], &pool, 8, &cancel);
            // Stage 1's head (8 / KEEP_DIVISOR persons), then the local score's best as many.
            let head = 8 / KEEP_DIVISOR;
            assert_eq!(kept.len(), 2 * head);
            let stage1_head: Vec<u64> = pool[..head].iter().map(|c| c.0).collect();
            assert_eq!(kept[..head], stage1_head[..]);
            assert!(
                kept[head..].contains(&mate),
                "mate {mate} not kept: {kept:?}"
            );
        }
    }

    #[test]
    fn positions_remove_and_cancel() {
        let (mut gal, probes) = population(40, 5);
        assert_eq!(gal.people(), 40);
        assert_eq!(gal.fingers(), 80);
        assert!(gal.memory_bytes() > 80 * 1000);
        let cancel = AtomicBool::new(false);
        let r = gal.search(&probes[3], 3, &cancel);
        assert_eq!(r[0].person, 3);
        assert_eq!(r[0].fingers.len(), 2);
        assert!(r.len() <= 3 && r.windows(2).all(|w| w[0].score >= w[1].score));
        // Wrong position: the probe's position-2 finger presented as position 3 finds nothing.
        let wrong = vec![(3u8, probes[3][0].1.clone())];
        assert!(gal.search_exhaustive(&wrong, 3, &cancel).is_empty());
        // Unknown position compares with all fingers.
        let unknown = vec![(0u8, probes[3][0].1.clone())];
        assert_eq!(gal.search_exhaustive(&unknown, 1, &cancel)[0].person, 3);
        gal.remove(3);
        assert_eq!(gal.people(), 39);
        assert_eq!(gal.fingers(), 78);
        assert!(gal
            .search(&probes[3], 3, &cancel)
            .iter()
            .all(|c| c.person != 3));
        cancel.store(true, Ordering::Relaxed);
        assert!(gal.search(&probes[4], 3, &cancel).is_empty());
        assert!(gal.search_exhaustive(&probes[4], 3, &cancel).is_empty());
    }

    /// Churn: persons enrolled and removed over and over reuse entry ids and person slots, so
    /// the id space, the per-probe vote buffer and the index stay at the live size; searches
    /// keep finding the live mates and never a removed person; `compare_person` scores from
    /// the gallery's own features.
    #[test]
    fn removed_fingers_give_their_ids_back_under_churn() {
        let mut g = SyntheticGenerator::new(21, SyntheticConfig::default());
        let ip = ImpressionParams::default();
        let masters: Vec<_> = (0..30).map(|_| g.master()).collect();
        let enrol: Vec<FingerFeatures> = masters
            .iter()
            .map(|m| FingerFeatures::extract(&g.render(m, &ip)))
            .collect();
        let probes: Vec<FingerFeatures> = masters
            .iter()
            .map(|m| FingerFeatures::extract(&g.render(m, &ip)))
            .collect();
        // Index pages of 8 entry ids: the live fingers span two pages.
        let mut gal = FingerGallery::with_page_bits(3);
        let cancel = AtomicBool::new(false);
        // 10 persons live at any time; 20 rounds replace all of them (200 insertions).
        let mut live: Vec<u64> = Vec::new();
        for round in 0..20u64 {
            for &p in &live {
                gal.remove(p);
            }
            assert_eq!(gal.fingers(), 0);
            assert_eq!(gal.index_items(), 0, "round {round}: stale index items");
            live = (0..10).map(|k| round * 100 + k).collect();
            let items: Vec<(u64, u8, FingerFeatures)> = live
                .iter()
                .map(|&p| (p, 2u8, enrol[((p % 100 + round * 3) % 30) as usize].clone()))
                .collect();
            if round % 2 == 0 {
                for (p, pos, f) in items {
                    gal.insert(p, pos, f);
                }
            } else {
                gal.insert_batch(items);
            }
            assert_eq!(gal.id_capacity(), 10, "round {round}");
            assert_eq!(gal.slot_person.len(), 10, "round {round}");
            for &p in live.iter().take(3) {
                let probe = vec![(2u8, probes[((p % 100 + round * 3) % 30) as usize].clone())];
                let r = gal.search(&probe, 1, &cancel);
                assert_eq!(r[0].person, p, "round {round}");
                assert!(r.iter().all(|c| live.contains(&c.person)));
                let direct = gal.compare_person(p, &probe).unwrap();
                assert_eq!(direct, r[0]);
            }
        }
        assert!(gal.compare_person(5, &[(2u8, probes[0].clone())]).is_none());
    }
}
