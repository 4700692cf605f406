//! Admission control in front of the engine pool.
//!
//! Biometric requests (enrollment, batches, identify) are jobs whose *work* is counted in
//! units: one per photo and one per finger, summed over a batch's items (at least one per
//! job). At most `running` jobs run at once, enough to keep the engine pool's threads busy
//! while one job waits on its database write; the others wait in a FIFO queue that holds at
//! most `max_queue` units. A job is refused at once with `503 overloaded` when
//!
//! * the queue cannot take its units (unless the queue is empty: a batch larger than the whole
//!   bound still runs on an idle server), or
//! * the work already waiting would take longer than `max_wait` to drain at the measured rate;
//!
//! and a job that has not started after `max_wait` is refused then, so no request waits longer
//! than `max_wait` before it is started or refused. `Retry-After` is the waiting work divided by
//! the drain rate (units per second), measured as an exponentially weighted mean of the
//! seconds per unit of finished jobs, times the number of jobs that run at once.
//!
//! Waiting is asynchronous (on the actix worker, as a future), so waiting jobs hold no
//! blocking thread and no database connection: health, metrics, login and small reads keep
//! their threads and connections while biometric work queues.

use crate::error::{ApiError, ApiResult};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The work of a submission: one unit per photo and per finger, at least one.
pub fn units(photos: usize, fingers: usize) -> u64 {
    ((photos + fingers) as u64).max(1)
}

/// The work of an offline batch of enrollment bodies (JSON values, parsed later).
pub fn batch_units(items: &[serde_json::Value]) -> u64 {
    items
        .iter()
        .map(|it| {
            let photo = it
                .get("photo")
                .and_then(|p| p.as_str())
                .is_some_and(|p| !p.is_empty());
            let fingers = it
                .get("fingerprints")
                .and_then(|f| f.as_array())
                .map_or(0, |a| a.len());
            units(photo as usize, fingers)
        })
        .sum::<u64>()
        .max(1)
}

/// Weight of a new observation in the seconds-per-unit mean.
const EWMA_ALPHA: f64 = 0.2;
/// Bounds on `Retry-After` (seconds).
const RETRY_AFTER_MIN: u64 = 1;
const RETRY_AFTER_MAX: u64 = 60;

struct Waiter {
    id: u64,
    units: u64,
    tx: oneshot::Sender<()>,
}

#[derive(Default)]
struct State {
    running: usize,
    queued_units: u64,
    waiters: VecDeque<Waiter>,
    /// Mean seconds of engine time per unit of finished jobs (0: nothing finished yet).
    secs_per_unit: f64,
    next_id: u64,
}

/// The queue; one per process, in [`super::Registro`].
pub struct Admission {
    state: Mutex<State>,
    running_limit: usize,
    max_queue: u64,
    max_wait: Duration,
    pub admitted: AtomicU64,
    pub refused: AtomicU64,
}

/// A started job's slot; dropping it (when the work ends) starts the next waiting job.
pub struct Ticket {
    adm: Arc<Admission>,
    units: u64,
    started: Instant,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.adm.finish(self.units, self.started.elapsed());
    }
}

impl Admission {
    /// `running`: jobs at once (0: engine threads + 1); `max_queue`: waiting units;
    /// `max_wait`: longest wait before a job starts or is refused.
    pub fn new(running: usize, max_queue: u64, max_wait: Duration) -> Admission {
        let running = if running == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get()) + 1
        } else {
            running
        };
        Admission {
            state: Mutex::new(State::default()),
            running_limit: running,
            max_queue: max_queue.max(1),
            max_wait,
            admitted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Units per second the engine drains, if anything has finished yet.
    fn drain_rate(&self, st: &State) -> Option<f64> {
        (st.secs_per_unit > 0.0).then(|| self.running_limit as f64 / st.secs_per_unit)
    }

    fn retry_after(&self, st: &State, extra: u64) -> u64 {
        let secs = match self.drain_rate(st) {
            Some(rate) => ((st.queued_units + extra) as f64 / rate).ceil() as u64,
            None => RETRY_AFTER_MIN,
        };
        secs.clamp(RETRY_AFTER_MIN, RETRY_AFTER_MAX)
    }

    fn refuse(&self, st: &State, units: u64) -> ApiError {
        self.refused.fetch_add(1, Ordering::Relaxed);
        ApiError::overloaded(self.retry_after(st, units))
    }

    /// Waits (asynchronously) until a job of `units` may start, or refuses it.
    pub async fn admit(self: &Arc<Self>, units: u64) -> ApiResult<Ticket> {
        let units = units.max(1);
        let (id, rx) = {
            let mut st = self.lock();
            if st.running < self.running_limit && st.waiters.is_empty() {
                st.running += 1;
                return Ok(self.ticket(units));
            }
            if st.queued_units > 0 && st.queued_units + units > self.max_queue {
                return Err(self.refuse(&st, units));
            }
            if let Some(rate) = self.drain_rate(&st) {
                let ahead = st.queued_units as f64 / rate;
                if ahead > self.max_wait.as_secs_f64() {
                    return Err(self.refuse(&st, units));
                }
            }
            let (tx, rx) = oneshot::channel();
            st.next_id += 1;
            let id = st.next_id;
            st.queued_units += units;
            st.waiters.push_back(Waiter { id, units, tx });
            (id, rx)
        };
        match tokio::time::timeout(self.max_wait, rx).await {
            Ok(Ok(())) => Ok(self.ticket(units)),
            // The sender is only dropped by `grant` failing to deliver, which cannot happen
            // while this future is alive; treat it as a refusal all the same.
            Ok(Err(_)) => Err(self.refuse(&self.lock(), units)),
            Err(_) => {
                let mut st = self.lock();
                if let Some(pos) = st.waiters.iter().position(|w| w.id == id) {
                    if let Some(w) = st.waiters.remove(pos) {
                        st.queued_units -= w.units;
                    }
                    Err(self.refuse(&st, units))
                } else {
                    // Granted between the time-out and the lock: the slot is ours.
                    Ok(self.ticket(units))
                }
            }
        }
    }

    fn ticket(self: &Arc<Self>, units: u64) -> Ticket {
        self.admitted.fetch_add(1, Ordering::Relaxed);
        Ticket {
            adm: self.clone(),
            units,
            started: Instant::now(),
        }
    }

    fn finish(&self, units: u64, took: Duration) {
        let mut st = self.lock();
        st.running = st.running.saturating_sub(1);
        let per_unit = took.as_secs_f64() / units as f64;
        st.secs_per_unit = if st.secs_per_unit > 0.0 {
            (1.0 - EWMA_ALPHA) * st.secs_per_unit + EWMA_ALPHA * per_unit
        } else {
            per_unit
        };
        self.grant(&mut st);
    }

    /// Starts waiting jobs, oldest first, while slots are free.
    fn grant(&self, st: &mut State) {
        while st.running < self.running_limit {
            let Some(w) = st.waiters.pop_front() else {
                break;
            };
            st.queued_units -= w.units;
            // A waiter whose request went away (client disconnected) no longer listens.
            if w.tx.send(()).is_ok() {
                st.running += 1;
            }
        }
    }

    /// Units waiting now.
    pub fn queued_units(&self) -> u64 {
        self.lock().queued_units
    }

    /// Jobs running now.
    pub fn running(&self) -> usize {
        self.lock().running
    }
}

/// Prometheus lines for the queue and the log writer (appended to `/metrics`).
pub fn render_metrics(adm: &Admission) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let (queued, running) = {
        let st = adm.lock();
        (st.queued_units, st.running)
    };
    let _ = writeln!(out, "# HELP registro_admission_queued_units Units of biometric work waiting for the engine.\n# TYPE registro_admission_queued_units gauge\nregistro_admission_queued_units {queued}");
    let _ = writeln!(out, "# HELP registro_admission_running Biometric jobs running.\n# TYPE registro_admission_running gauge\nregistro_admission_running {running}");
    let _ = writeln!(out, "# HELP registro_admission_admitted_total Biometric jobs started.\n# TYPE registro_admission_admitted_total counter\nregistro_admission_admitted_total {}", adm.admitted.load(Ordering::Relaxed));
    let _ = writeln!(out, "# HELP registro_admission_refused_total Biometric jobs refused with 503 overloaded.\n# TYPE registro_admission_refused_total counter\nregistro_admission_refused_total {}", adm.refused.load(Ordering::Relaxed));
    let _ = writeln!(out, "# HELP registro_log_lines_dropped_total Log lines dropped because the log destination was slow or failing.\n# TYPE registro_log_lines_dropped_total counter\nregistro_log_lines_dropped_total {}", crate::logsink::dropped());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
    }

    #[test]
    fn units_count_photos_and_fingers_of_every_item() {
        assert_eq!(units(1, 2), 3);
        assert_eq!(units(0, 0), 1);
        let items = vec![
            serde_json::json!({"photo": "abc", "fingerprints": [{}, {}]}),
            serde_json::json!({"fingerprints": [{}]}),
            serde_json::json!({}),
        ];
        assert_eq!(batch_units(&items), 3 + 1 + 1);
    }

    #[test]
    fn a_full_queue_refuses_at_once_and_frees_in_order() {
        rt().block_on(async {
            let adm = Arc::new(Admission::new(1, 4, Duration::from_secs(60)));
            let first = adm.admit(3).await.expect("idle server starts the job");
            // Waiting: 3 units queue; 2 more do not fit under 4.
            let a2 = adm.clone();
            let second = tokio::spawn(async move { a2.admit(3).await.map(|_| ()) });
            tokio::task::yield_now().await;
            while adm.queued_units() == 0 {
                tokio::task::yield_now().await;
            }
            let e = adm.admit(2).await.err().expect("queue full");
            assert_eq!(e.code(), "overloaded");
            assert_eq!(adm.refused.load(Ordering::Relaxed), 1);
            drop(first);
            second
                .await
                .expect("join")
                .expect("second starts when the first ends");
            assert_eq!(adm.queued_units(), 0);
        });
    }

    #[test]
    fn a_waiter_is_refused_after_max_wait() {
        rt().block_on(async {
            let adm = Arc::new(Admission::new(1, 100, Duration::from_millis(20)));
            let _first = adm.admit(1).await.expect("starts");
            let e = adm.admit(1).await.err().expect("never started: refused");
            assert_eq!(e.code(), "overloaded");
            assert_eq!(adm.queued_units(), 0, "the refused waiter left the queue");
        });
    }
}
