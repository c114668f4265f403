//! What a log line looks like for whoever reads stderr ([`LogFormat`]): a
//! person (env_logger's text), journald (a `<N>` syslog priority per line,
//! no timestamp: the journal has its own), or a log shipper (one JSON
//! object per line); and `auto`, which tells the journal's stream from any
//! other stderr.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

/// What each log line looks like (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `journal` when stderr is the journal's stream, else `text`.
    #[default]
    Auto,
    /// `[time LEVEL target] message`, for a terminal or a file.
    Text,
    /// `<N>target: message`: journald reads the syslog priority `N` and
    /// stamps the time itself (`journalctl -p warning` then works).
    Journal,
    /// One object a line: `time`, `level`, `target`, `message`, `fields`.
    Json,
}

impl LogFormat {
    /// Every format, by the name `--log-format` takes.
    const NAMES: [(&'static str, LogFormat); 4] = [
        ("auto", LogFormat::Auto),
        ("text", LogFormat::Text),
        ("journal", LogFormat::Journal),
        ("json", LogFormat::Json),
    ];

    /// `Auto` decided for this process's stderr; other formats as they are.
    pub fn resolve(self) -> LogFormat {
        match self {
            LogFormat::Auto if stderr_is_the_journal() => LogFormat::Journal,
            LogFormat::Auto => LogFormat::Text,
            chosen => chosen,
        }
    }

    /// Writes one record in this format (`Auto` and `Text` as `Text`).
    /// `time` is used by the formats that carry one.
    pub fn write(
        self,
        out: &mut dyn Write,
        time: &dyn fmt::Display,
        record: &log::Record,
    ) -> io::Result<()> {
        let level = record.level();
        match self {
            LogFormat::Auto | LogFormat::Text => writeln!(
                out,
                "[{time} {level:<5} {}] {}",
                record.target(),
                record.args()
            ),
            LogFormat::Journal => {
                let priority = syslog_priority(level);
                // journald takes each line as an entry of its own: each
                // gets the priority.
                for line in record.args().to_string().lines() {
                    writeln!(out, "<{priority}>{}: {line}", record.target())?;
                }
                Ok(())
            }
            LogFormat::Json => {
                let mut fields = FieldMap::default();
                // A visitor that keeps every field never fails.
                let _ = record.key_values().visit(&mut fields);
                let object = serde_json::json!({
                    "time": time.to_string(),
                    "level": level.as_str(),
                    "target": record.target(),
                    "message": record.args().to_string(),
                    "fields": fields.0,
                });
                writeln!(out, "{object}")
            }
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = LogFormat::NAMES
            .iter()
            .find(|(_, format)| format == self)
            .map_or("auto", |(name, _)| name);
        f.write_str(name)
    }
}

impl FromStr for LogFormat {
    type Err = UnknownLogFormat;

    fn from_str(name: &str) -> Result<LogFormat, UnknownLogFormat> {
        LogFormat::NAMES
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, format)| *format)
            .ok_or_else(|| UnknownLogFormat(name.to_string()))
    }
}

/// A `--log-format` name that is none of [`LogFormat`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log format '{0}' (expected auto, text, journal or json)")]
pub struct UnknownLogFormat(pub String);

/// The syslog priority journald reads from a `<N>` prefix.
fn syslog_priority(level: log::Level) -> u8 {
    match level {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug | log::Level::Trace => 7,
    }
}

/// Whether stderr is the stream systemd connected to the journal: it sets
/// `JOURNAL_STREAM=DEVICE:INODE` to that stream, and a child whose stderr
/// was redirected elsewhere inherits the variable, so the two are compared.
fn stderr_is_the_journal() -> bool {
    let Some(expected) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    // SAFETY: fstat writes into the zeroed struct we own; fd 2 may be
    // closed, which fstat reports as an error.
    let stat = unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        if libc::fstat(2, &mut stat) != 0 {
            return false;
        }
        stat
    };
    expected.to_string_lossy() == format!("{}:{}", stat.st_dev, stat.st_ino)
}

/// A record's key-value fields, collected for the JSON object.
#[derive(Default)]
struct FieldMap(serde_json::Map<String, serde_json::Value>);

impl<'kvs> log::kv::VisitSource<'kvs> for FieldMap {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        let value = if let Some(n) = value.to_u64() {
            n.into()
        } else if let Some(n) = value.to_i64() {
            n.into()
        } else if let Some(flag) = value.to_bool() {
            flag.into()
        } else {
            value.to_string().into()
        };
        self.0.insert(key.to_string(), value);
        Ok(())
    }
}

/// The time now, as the text and JSON formats print it (UTC, RFC 3339,
/// milliseconds).
pub struct Now;

impl fmt::Display for Now {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}", jiff::Timestamp::now())
    }
}
