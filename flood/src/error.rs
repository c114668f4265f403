//! The flood crate's errors, as types: a caller (the binary, the reports,
//! the tests) can tell a server that is not there from a file it cannot
//! write, and every error prints as the one line a user reads. `Display`
//! says what failed; the cause (an `io::Error`, a flood that could not
//! start) is `source()`, so that `{:#}` (anyhow, in the binary) reads
//! `what failed: why`, and the library never pastes a cause into a string.

use std::error::Error;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A cause that is only known as an error (plotters' drawing errors).
pub type Cause = Box<dyn Error + Send + Sync + 'static>;

/// The server library's TLS error: its `Display` is already the whole
/// line, cause included, so it is shown, never chained as a `source()`.
pub type TlsError = upcase::certificates::TlsError;

/// Why a flood run could not start: the server is not there.
#[derive(Debug, thiserror::Error)]
pub enum FloodError {
    /// Nothing accepts on the TCP address.
    #[error("cannot connect to {addr} (tcp)")]
    Connect {
        /// The address flooded.
        addr: SocketAddr,
        /// Why the connect failed.
        source: io::Error,
    },
    /// The UDP probe could not be sent or received.
    #[error("no upcase server answers on {addr} (udp)")]
    Probe {
        /// The address flooded.
        addr: SocketAddr,
        /// Why the probe failed.
        source: io::Error,
    },
    /// Every UDP probe went unanswered.
    #[error("no upcase server answers on {addr} (udp): {}", no_reply(*empty))]
    NoReply {
        /// The address flooded.
        addr: SocketAddr,
        /// How many of the probes came back as an empty datagram.
        empty: usize,
    },
    /// One of `--idle`'s connections could not be opened.
    #[error("opened {opened} of {wanted} idle connections to {addr}, then")]
    Idle {
        /// How many were open.
        opened: usize,
        /// How many `--idle` asked for.
        wanted: usize,
        /// The address flooded.
        addr: SocketAddr,
        /// Why the next one failed.
        source: io::Error,
    },
}

/// The UDP probe's verdict: silence, or a proxy's empty answers.
fn no_reply(empty: usize) -> String {
    if empty == 0 {
        "no reply in 3 s".to_string()
    } else {
        format!("{empty} of 3 probes got an empty datagram back (a proxy whose server is down?)")
    }
}

/// A flag, or a combination, the command cannot run with: exit status 2.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// A duration flag that is not a positive number of seconds.
    #[error("{0} must be a positive number")]
    NotPositive(&'static str),
    /// `--max-loss` out of range.
    #[error("--max-loss is a percentage from 0 to 100")]
    MaxLoss,
    /// `--line-bytes` too long for one UDP datagram.
    #[error("--line-bytes {given} does not fit in one UDP datagram (at most {most})")]
    LineBytes {
        /// What was given.
        given: usize,
        /// The largest datagram.
        most: usize,
    },
    /// Neither `--tcp` nor `--udp`.
    #[error("give --tcp ADDR or --udp ADDR")]
    NoTarget,
    /// An address that does not resolve.
    #[error("cannot use address {addr}")]
    Address {
        /// What was given.
        addr: String,
        /// Why not.
        source: io::Error,
    },
    /// `--tls --ca --server-name` that make no TLS settings.
    #[error("{0}")]
    Tls(TlsError),
    /// A bench `--server` that is not `NAME=PATH [FLAGS]`.
    #[error("--server {0}: give NAME=PATH [FLAGS]")]
    BenchServer(String),
    /// A bench `--server` without a program.
    #[error("--server {0}: no program")]
    NoProgram(String),
    /// A server the bench would start is not built.
    #[error("no {} for {name} (build it: cargo build --release --workspace)", binary.display())]
    NotBuilt {
        /// Its name in the tables.
        name: String,
        /// The missing program.
        binary: PathBuf,
    },
    /// No `--server PATH`, and no upcase-server beside this program.
    #[error("cannot find upcase-server: {0}; give --server PATH")]
    NoServer(io::Error),
    /// This program's own path, where the others are looked for.
    #[error("cannot find this program")]
    ThisProgram(#[source] io::Error),
    /// What the report needs is not on this machine (the lab's tools).
    #[error(transparent)]
    Unmet(ReportError),
}

/// Why a report (bench, compare, lab, soak) stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A server the report measures did not start or said no address.
    #[error("{server}")]
    Start {
        /// Which server (its name in the report).
        server: String,
        /// What went wrong.
        source: io::Error,
    },
    /// A flood the report runs could not start.
    #[error("{during}")]
    Flood {
        /// Which run (server, workload, model).
        during: String,
        /// Why it did not start.
        source: FloodError,
    },
    /// A file or directory of the report (OUT, a capture, a certificate).
    #[error("cannot {doing} {}", path.display())]
    File {
        /// `write`, `create`, `read`, `open`.
        doing: &'static str,
        /// The file.
        path: PathBuf,
        /// Why not.
        source: io::Error,
    },
    /// A program the report runs (a namespace step, tcpdump, openssl,
    /// the bulk client) could not start or failed; `detail` is its
    /// status and what it said.
    #[error("{command}: {detail}")]
    Command {
        /// The command line, or the program's name.
        command: String,
        /// How it failed.
        detail: String,
    },
    /// A program the report needs is not installed (or not root).
    #[error("the lab needs {}", .0.join(", "))]
    Missing(Vec<String>),
    /// A step of the report's own measurement failed on I/O.
    #[error("{doing}")]
    Io {
        /// What the report was doing.
        doing: String,
        /// The I/O error.
        source: io::Error,
    },
    /// A chart could not be drawn.
    #[error("cannot draw {}", path.display())]
    Chart {
        /// The SVG file.
        path: PathBuf,
        /// plotters' error.
        source: Cause,
    },
    /// The TLS runs' certificate could not be made.
    #[error("cannot make the TLS runs' certificate")]
    Certificate(#[source] rcgen::Error),
    /// The TLS runs' client settings could not be made.
    #[error("{0}")]
    Tls(TlsError),
    /// What the report measured is not what it must be (a wrong or
    /// missing reply, a server that never said it was ready).
    #[error("{0}")]
    Check(String),
    /// One of the report's own threads panicked.
    #[error("the {0} thread panicked")]
    Panicked(&'static str),
}

impl ReportError {
    /// An I/O failure while `doing` something.
    pub fn io(doing: impl Into<String>) -> impl FnOnce(io::Error) -> ReportError {
        let doing = doing.into();
        move |source| ReportError::Io { doing, source }
    }

    /// A file that could not be `doing` (`write`, `create`, `read`...).
    pub fn file(doing: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| ReportError::File {
            doing,
            path,
            source,
        }
    }
}

/// An error and its causes on one line: `what: why: why`, as `{:#}`
/// prints with anyhow, for where the library writes an error into a
/// report (the lab says why it captured no TLS connection).
pub fn one_line(error: &dyn Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        line.push_str(": ");
        line.push_str(&error.to_string());
        cause = error.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_and_its_cause_are_one_line() {
        let error = ReportError::Flood {
            during: "pool, pingpong C=1".into(),
            source: FloodError::Connect {
                addr: ([127, 0, 0, 1], 9).into(),
                source: io::Error::from(io::ErrorKind::ConnectionRefused),
            },
        };
        assert_eq!(
            one_line(&error),
            "pool, pingpong C=1: cannot connect to 127.0.0.1:9 (tcp): connection refused"
        );
        assert_eq!(format!("{:#}", anyhow::Error::from(error)), {
            "pool, pingpong C=1: cannot connect to 127.0.0.1:9 (tcp): connection refused"
        });
    }

    #[test]
    fn the_udp_probe_says_why_nothing_answered() {
        let addr = ([127, 0, 0, 1], 9).into();
        let silent = FloodError::NoReply { addr, empty: 0 };
        assert!(silent.to_string().ends_with("(udp): no reply in 3 s"));
        let proxy = FloodError::NoReply { addr, empty: 2 };
        assert!(proxy
            .to_string()
            .contains("2 of 3 probes got an empty datagram"));
    }
}
