//! Prometheus text-format metrics, kept by hand: request counts and latency histograms per
//! route, enrollments, gallery size.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; 12],
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<(String, String), Series>>,
    pub enrollments: AtomicU64,
}

impl Metrics {
    /// Records one request by route pattern (never the concrete path: ids stay out).
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((method.into(), route.into(), status))
            .or_default() += 1;
        let mut lat = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let s = lat.entry((method.into(), route.into())).or_default();
        s.count += 1;
        s.sum += seconds;
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                s.buckets[i] += 1;
            }
        }
    }

    pub fn render(&self, gallery: usize) -> String {
        let mut out = String::new();
        out.push_str("# HELP registro_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE registro_http_requests_total counter\n");
        for ((m, r, s), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "registro_http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{s}\"}} {n}"
            );
        }
        out.push_str("# HELP registro_http_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE registro_http_request_duration_seconds histogram\n");
        for ((m, r), s) in self
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "registro_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"{b}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(out, "registro_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"+Inf\"}} {}", s.count);
            let _ = writeln!(
                out,
                "registro_http_request_duration_seconds_sum{{method=\"{m}\",route=\"{r}\"}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "registro_http_request_duration_seconds_count{{method=\"{m}\",route=\"{r}\"}} {}",
                s.count
            );
        }
        out.push_str("# HELP registro_enrollments_total Records enrolled by this process.\n# TYPE registro_enrollments_total counter\n");
        let _ = writeln!(
            out,
            "registro_enrollments_total {}",
            self.enrollments.load(std::sync::atomic::Ordering::Relaxed)
        );
        out.push_str("# HELP registro_gallery_records Records in the in-memory biometric gallery.\n# TYPE registro_gallery_records gauge\n");
        let _ = writeln!(out, "registro_gallery_records {gallery}");
        out
    }
}
