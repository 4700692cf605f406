//! Bounded in-memory state of authentication: work an unauthenticated caller can make the
//! server keep is capped in entries and bytes.
//!
//! * [`FailureMap`]: failed logins per username and per address over a sliding window. Keys
//!   are the first 16 bytes of a SHA-256 of the label (so a 4 MB username costs 16 bytes, not
//!   4 MB), each key keeps at most `max_failures` instants, and the map holds at most `cap`
//!   keys, evicting the oldest-inserted first.
//! * [`DeniedLog`]: denied requests (401/403/429 and failed logins), counted per actor, route,
//!   status, source and minute, and written into the access-log chain in one transaction per
//!   flush instead of one fsync per request. At most `cap` distinct keys per flush; past that,
//!   requests are counted in one overflow entry per minute and status.

use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

pub type Key16 = [u8; 16];

/// The map key of a label: a truncated SHA-256 (collisions only merge two counters).
pub fn key16(label: &str) -> Key16 {
    let d = Sha256::digest(label.as_bytes());
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

pub struct FailureMap {
    map: HashMap<Key16, VecDeque<Instant>>,
    order: VecDeque<Key16>,
    cap: usize,
    per_key: usize,
    window: Duration,
}

impl FailureMap {
    pub fn new(cap: usize, per_key: usize, window: Duration) -> FailureMap {
        FailureMap {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
            per_key: per_key.max(1),
            window,
        }
    }

    /// Failures of `key` still inside the window.
    pub fn count(&mut self, key: &Key16, now: Instant) -> usize {
        let window = self.window;
        match self.map.get_mut(key) {
            Some(q) => {
                while q.front().is_some_and(|t| now.duration_since(*t) > window) {
                    q.pop_front();
                }
                q.len()
            }
            None => 0,
        }
    }

    pub fn record(&mut self, key: Key16, now: Instant) {
        if !self.map.contains_key(&key) {
            while self.map.len() >= self.cap {
                match self.order.pop_front() {
                    Some(old) => {
                        self.map.remove(&old);
                    }
                    None => break,
                }
            }
            self.order.push_back(key);
        }
        let q = self.map.entry(key).or_default();
        q.push_back(now);
        while q.len() > self.per_key {
            q.pop_front();
        }
        // `order` can hold keys already removed by `clear`; rebuild it before it outgrows the map.
        if self.order.len() > 2 * self.cap {
            let map = &self.map;
            self.order.retain(|k| map.contains_key(k));
        }
    }

    pub fn clear(&mut self, key: &Key16) {
        self.map.remove(key);
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// An upper bound of the bytes this map holds (keys, instants, the eviction queue),
    /// independent of what callers sent.
    pub fn bytes(&self) -> usize {
        let per_entry = 16
            + std::mem::size_of::<VecDeque<Instant>>()
            + self.per_key * std::mem::size_of::<Instant>();
        self.map.len() * per_entry + self.order.len() * 16
    }
}

/// What a denied request is counted under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeniedKey {
    pub actor: String,
    pub role: String,
    pub action: String,
    pub status: i32,
    pub failed: bool,
    pub remote: String,
    /// Unix time of the minute's start.
    pub minute: i64,
}

pub struct DeniedLog {
    counts: HashMap<DeniedKey, u64>,
    cap: usize,
}

impl DeniedLog {
    pub fn new(cap: usize) -> DeniedLog {
        DeniedLog {
            counts: HashMap::new(),
            cap: cap.max(1),
        }
    }

    pub fn add(&mut self, mut key: DeniedKey) {
        key.actor = key.actor.chars().take(64).collect();
        key.remote = key.remote.chars().take(64).collect();
        key.action = key.action.chars().take(128).collect();
        if !self.counts.contains_key(&key) && self.counts.len() >= self.cap {
            key = DeniedKey {
                actor: "*".into(),
                role: String::new(),
                action: "*".into(),
                status: key.status,
                failed: key.failed,
                remote: "*".into(),
                minute: key.minute,
            };
        }
        *self.counts.entry(key).or_insert(0) += 1;
    }

    pub fn take(&mut self) -> Vec<(DeniedKey, u64)> {
        let mut v: Vec<_> = self.counts.drain().collect();
        v.sort_by(|a, b| (a.0.minute, &a.0.action).cmp(&(b.0.minute, &b.0.action)));
        v
    }

    /// Puts entries back after a failed flush (still bounded by `cap`).
    pub fn restore(&mut self, items: Vec<(DeniedKey, u64)>) {
        for (k, n) in items {
            if self.counts.contains_key(&k) || self.counts.len() < self.cap {
                *self.counts.entry(k).or_insert(0) += n;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_map_stays_within_its_cap_and_bytes_whatever_the_labels() {
        let mut m = FailureMap::new(1000, 5, Duration::from_secs(900));
        let now = Instant::now();
        let huge = "x".repeat(4096);
        for i in 0..20_000 {
            m.record(key16(&format!("u:{huge}{i}")), now);
        }
        assert_eq!(m.len(), 1000);
        let bound = m.bytes();
        assert!(bound < 1000 * 300, "{bound} bytes for 1000 keys");
        // The newest keys survive, the oldest were evicted.
        assert_eq!(m.count(&key16(&format!("u:{huge}19999")), now), 1);
        assert_eq!(m.count(&key16(&format!("u:{huge}0")), now), 0);
    }

    #[test]
    fn failure_map_keeps_at_most_per_key_instants_and_forgets_the_window() {
        let mut m = FailureMap::new(10, 3, Duration::from_secs(60));
        let t0 = Instant::now();
        let k = key16("u:alice");
        for _ in 0..50 {
            m.record(k, t0);
        }
        assert_eq!(m.count(&k, t0), 3);
        assert_eq!(m.count(&k, t0 + Duration::from_secs(61)), 0);
        m.record(k, t0);
        m.clear(&k);
        assert_eq!(m.count(&k, t0), 0);
    }

    #[test]
    fn denied_log_counts_per_key_and_overflows_into_one_entry() {
        let mut d = DeniedLog::new(3);
        let key = |i: usize| DeniedKey {
            actor: "anonymous".into(),
            role: String::new(),
            action: format!("GET /r{i}"),
            status: 401,
            failed: false,
            remote: "127.0.0.1".into(),
            minute: 60,
        };
        for i in 0..100 {
            d.add(key(i % 10));
        }
        assert_eq!(d.len(), 4, "three keys and the overflow entry");
        let items = d.take();
        assert_eq!(items.iter().map(|(_, n)| n).sum::<u64>(), 100);
        let overflow = items.iter().find(|(k, _)| k.action == "*").unwrap();
        assert_eq!(overflow.1, 70);
        assert!(d.is_empty());
    }
}
