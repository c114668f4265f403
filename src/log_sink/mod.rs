//! Logging that never blocks serving.
//!
//! If stderr is a pipe nobody reads, a plain `eprintln!` blocks once the
//! pipe's 64 KiB fill up, and with it the worker that logged. Here a log
//! record is handed to a bounded queue without waiting; one thread writes
//! the queue to stderr. When the queue is full the record is dropped and
//! counted, and the next line that gets through says how many were lost.
//!
//! What a line looks like for whoever reads stderr is [`LogFormat`]'s
//! (`format.rs`).

mod format;

pub use format::{LogFormat, Now, UnknownLogFormat};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Log records that may wait for the writer thread.
const QUEUE: usize = 4096;

/// Log lines dropped by every sink of this process, for the metrics
/// (`upcase_log_lines_dropped_total`): there is one stderr per process.
static DROPPED_TOTAL: AtomicU64 = AtomicU64::new(0);

/// How many log lines this process has dropped because stderr was full.
pub fn lines_dropped() -> u64 {
    DROPPED_TOTAL.load(Ordering::Relaxed)
}

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
    /// Starts the thread that writes queued records to `out`; its own
    /// note about dropped lines is written in `format`.
    pub fn start(
        out: impl Write + Send + 'static,
        format: LogFormat,
    ) -> io::Result<(LogSink, LogFlusher)> {
        let (queue, records) = crossbeam_channel::bounded(QUEUE);
        let counts = Arc::new(Counts::default());
        let counted = Arc::clone(&counts);
        thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_records(records, out, format, &counted))?;
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
                DROPPED_TOTAL.fetch_add(1, Ordering::Relaxed);
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

fn write_records(
    records: Receiver<Vec<u8>>,
    mut out: impl Write,
    format: LogFormat,
    counts: &Counts,
) {
    for record in records {
        let lost = counts.dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            let _ = format.write(
                &mut out,
                &Now,
                &log::Record::builder()
                    .level(log::Level::Warn)
                    .target(module_path!())
                    .args(format_args!(
                        "{lost} log lines dropped: stderr was not being read"
                    ))
                    .build(),
            );
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
        let (mut sink, flusher) =
            LogSink::start(Stuck(stuck, Arc::clone(&written)), LogFormat::Text).unwrap();
        for n in 0..QUEUE * 2 {
            sink.write_all(format!("line {n}\n").as_bytes()).unwrap();
        }
        assert!(sink.counts.dropped.load(Ordering::Relaxed) > 0);
        assert!(lines_dropped() >= sink.counts.dropped.load(Ordering::Relaxed));
        drop(release); // the reader appears
        sink.write_all(b"after\n").unwrap();
        flusher.flush(Duration::from_secs(10));
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        assert!(text.contains("log lines dropped"), "{}", &text[..200]);
    }

    fn written(format: LogFormat, level: log::Level, message: &str) -> String {
        let fields: &[(&str, log::kv::Value)] =
            &[("peer", "127.0.0.1:9".into()), ("lines", 3u64.into())];
        let mut out = Vec::new();
        let time = "2026-12-01T10:00:00.000Z";
        format
            .write(
                &mut out,
                &time,
                &log::Record::builder()
                    .level(level)
                    .target("upcase::server")
                    .args(format_args!("{message}"))
                    .key_values(&fields)
                    .build(),
            )
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn journald_lines_carry_the_syslog_priority_and_no_timestamp() {
        assert_eq!(
            written(LogFormat::Journal, log::Level::Warn, "slow"),
            "<4>upcase::server: slow\n"
        );
        assert_eq!(
            written(LogFormat::Journal, log::Level::Error, "one\ntwo"),
            "<3>upcase::server: one\n<3>upcase::server: two\n"
        );
        assert!(written(LogFormat::Journal, log::Level::Info, "up").starts_with("<6>"));
        assert!(written(LogFormat::Journal, log::Level::Debug, "up").starts_with("<7>"));
    }

    #[test]
    fn json_lines_are_one_object_each_with_the_fields() {
        let line = written(LogFormat::Json, log::Level::Info, "said \"hi\"\nand left");
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        let object: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(object["time"], "2026-12-01T10:00:00.000Z");
        assert_eq!(object["level"], "INFO");
        assert_eq!(object["target"], "upcase::server");
        assert_eq!(object["message"], "said \"hi\"\nand left");
        assert_eq!(object["fields"]["peer"], "127.0.0.1:9");
        assert_eq!(object["fields"]["lines"], 3);
    }

    #[test]
    fn text_lines_name_time_level_and_target() {
        assert_eq!(
            written(LogFormat::Text, log::Level::Info, "up"),
            "[2026-12-01T10:00:00.000Z INFO  upcase::server] up\n"
        );
    }

    #[test]
    fn formats_parse_by_name_and_auto_is_text_off_the_journal() {
        for name in ["auto", "text", "journal", "json"] {
            assert_eq!(name.parse::<LogFormat>().unwrap().to_string(), name);
        }
        let error = "syslog".parse::<LogFormat>().unwrap_err();
        assert_eq!(error, UnknownLogFormat("syslog".into()));
        assert!(error.to_string().contains("json"), "{error}");
        // The variable names another stream than this test's stderr.
        std::env::set_var("JOURNAL_STREAM", "0:0");
        assert_eq!(LogFormat::Auto.resolve(), LogFormat::Text);
        assert_eq!(LogFormat::Json.resolve(), LogFormat::Json);
    }
}
