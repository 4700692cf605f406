//! A log writer that cannot stop the service.
//!
//! Each formatted line goes into a bounded channel; one thread writes the lines to the
//! destination (a file or stderr). A request thread never blocks on, and never fails with, its
//! log line: when the channel is full (the destination is slow or stuck) the line is dropped,
//! and when the write fails (a full disk, `/dev/full`, a closed pipe) the line is lost; both
//! are counted in [`dropped`], which `/metrics` reports as `registro_log_lines_dropped_total`.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::Duration;

/// Lines that may wait for the writer thread.
pub const CAPACITY: usize = 8192;

static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Log lines dropped since the process started.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// The `MakeWriter` handed to `tracing_subscriber`.
#[derive(Clone)]
pub struct Sink {
    tx: SyncSender<Vec<u8>>,
}

/// Flushes what is queued when dropped (at most for a second), so the last lines before exit
/// are written if the destination allows.
pub struct Guard {
    tx: Option<SyncSender<Vec<u8>>>,
    done: Receiver<()>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        // An empty line is the writer's "flush and answer" marker (events are never empty).
        if let Some(tx) = self.tx.take() {
            if tx.try_send(Vec::new()).is_ok() {
                let _ = self.done.recv_timeout(Duration::from_secs(1));
            }
        }
    }
}

/// Starts the writer thread over `dest`.
pub fn start(dest: Box<dyn Write + Send>) -> std::io::Result<(Sink, Guard)> {
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(CAPACITY);
    let (done_tx, done) = mpsc::channel();
    std::thread::Builder::new()
        .name("registro-log".into())
        .spawn(move || {
            let mut dest = dest;
            for line in rx {
                if line.is_empty() {
                    let _ = dest.flush();
                    let _ = done_tx.send(());
                } else if dest.write_all(&line).is_err() {
                    DROPPED.fetch_add(1, Ordering::Relaxed);
                }
            }
        })?;
    Ok((Sink { tx: tx.clone() }, Guard { tx: Some(tx), done }))
}

/// One event's line, sent when the formatter drops it.
pub struct Line {
    buf: Vec<u8>,
    tx: SyncSender<Vec<u8>>,
}

impl Write for Line {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        match self.tx.try_send(std::mem::take(&mut self.buf)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Sink {
    type Writer = Line;
    fn make_writer(&'a self) -> Line {
        Line {
            buf: Vec::with_capacity(256),
            tx: self.tx.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A destination that always fails, like `/dev/full`.
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("no space left on device"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn failed_writes_are_counted_and_never_block() {
        let before = dropped();
        let (sink, guard) = start(Box::new(Full)).expect("writer thread");
        for _ in 0..10 {
            let mut w = tracing_subscriber::fmt::MakeWriter::make_writer(&sink);
            w.write_all(b"{\"msg\":\"x\"}\n").expect("buffered write");
        }
        drop(sink);
        drop(guard); // waits for the writer to finish the queue
        assert!(dropped() >= before + 10, "{} -> {}", before, dropped());
    }
}
