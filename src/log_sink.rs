//! Logging that never blocks serving.
//!
//! If stderr is a pipe nobody reads, a plain `eprintln!` blocks once the
//! pipe's 64 KiB fill up, and with it the worker that logged. Here a log
//! record is handed to a bounded queue without waiting; one thread writes
//! the queue to stderr. When the queue is full the record is dropped and
//! counted, and the next line that gets through says how many were lost.

use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Log records that may wait for the writer thread.
const QUEUE: usize = 4096;

/// The writer handed to `env_logger`: queues records, never blocks.
pub struct LogSink {
    queue: Sender<Vec<u8>>,
    counts: Arc<Counts>,
}

/// Waits for queued records to be written (at exit).
pub struct LogFlusher {
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    queued: AtomicU64,
    written: AtomicU64,
    dropped: AtomicU64,
}

impl LogSink {
    /// Starts the thread that writes queued records to `out`.
    pub fn start(out: impl Write + Send + 'static) -> io::Result<(LogSink, LogFlusher)> {
        let (queue, records) = crossbeam_channel::bounded(QUEUE);
        let counts = Arc::new(Counts::default());
        let counted = Arc::clone(&counts);
        thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_records(records, out, &counted))?;
        let flusher = LogFlusher {
            counts: Arc::clone(&counts),
        };
        Ok((LogSink { queue, counts }, flusher))
    }
}

impl Write for LogSink {
    fn write(&mut self, record: &[u8]) -> io::Result<usize> {
        self.counts.queued.fetch_add(1, Ordering::SeqCst);
        match self.queue.try_send(record.to_vec()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.counts.queued.fetch_sub(1, Ordering::SeqCst);
                self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(record.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl LogFlusher {
    /// Waits until every queued record is written, at most `patience`.
    pub fn flush(&self, patience: Duration) {
        let deadline = Instant::now() + patience;
        while self.counts.written.load(Ordering::SeqCst) < self.counts.queued.load(Ordering::SeqCst)
            && Instant::now() < deadline
        {
            thread::sleep(Duration::from_millis(1));
        }
    }
}

fn write_records(records: Receiver<Vec<u8>>, mut out: impl Write, counts: &Counts) {
    for record in records {
        let lost = counts.dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            let _ = writeln!(out, "({lost} log lines dropped: stderr was not being read)");
        }
        let _ = out.write_all(&record);
        let _ = out.flush();
        counts.written.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that blocks until released, like a full pipe.
    struct Stuck(Receiver<()>, Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Stuck {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let _ = self.0.recv();
            self.1.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stuck_stderr_never_blocks_the_logger_and_drops_are_reported() {
        let (release, stuck) = crossbeam_channel::unbounded();
        let written = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (mut sink, flusher) = LogSink::start(Stuck(stuck, Arc::clone(&written))).unwrap();
        for n in 0..QUEUE * 2 {
            sink.write_all(format!("line {n}\n").as_bytes()).unwrap();
        }
        assert!(sink.counts.dropped.load(Ordering::Relaxed) > 0);
        drop(release); // the reader appears
        sink.write_all(b"after\n").unwrap();
        flusher.flush(Duration::from_secs(10));
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        assert!(text.contains("log lines dropped"), "{}", &text[..200]);
    }
}
