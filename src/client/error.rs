//! Why `upcase-client` stopped before every line had its whole reply: one
//! variant per way a session ends badly, each the one line printed on
//! stderr (the system's cause included).

use super::datagram::{UDP_ATTEMPTS, UDP_RETRY_AFTER};
use std::io::{self, ErrorKind};
use std::time::Duration;

/// Why the client stopped. `Display` is the whole line; `source()` is the
/// system's cause, or the last failure before giving up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting, sending or receiving failed (`transport` is `tcp`,
    /// `tls` or `udp`).
    #[error("{}", connection_line(.addr, .transport, .source))]
    Connection {
        /// The server's address.
        addr: String,
        /// `tcp`, `tls` or `udp`.
        transport: &'static str,
        /// What the system said.
        source: io::Error,
    },
    /// The replies cannot be written to stdout.
    #[error("cannot write the replies to stdout: {0}")]
    Stdout(#[source] io::Error),
    /// The thread that sends the lines has ended.
    #[error("the sending thread ended")]
    WriterGone,
    /// `--reconnect` tried for its whole outage limit.
    #[error("gave up reconnecting after {} s: {last}", .after.as_secs())]
    GaveUp {
        /// How long it tried.
        after: Duration,
        /// Why the last try failed.
        #[source]
        last: Box<ClientError>,
    },
    /// A reply that was due kept silent for `--timeout`.
    #[error("no reply from {addr} within {} s (--timeout)", .timeout.as_secs_f64())]
    Timeout {
        /// The server's address.
        addr: String,
        /// `--timeout`.
        timeout: Duration,
    },
    /// The server answered a line with `error: ...`.
    #[error("the server at {addr} said {said}")]
    ServerSaid {
        /// The server's address.
        addr: String,
        /// Its line, without the newline.
        said: String,
    },
    /// One reply grew past `--max-reply` without a newline.
    #[error("a reply from {addr} exceeds {max_reply} bytes without a newline (--max-reply)")]
    ReplyTooLong {
        /// The server's address.
        addr: String,
        /// `--max-reply`.
        max_reply: usize,
    },
    /// The server closed with part of a reply sent.
    #[error(
        "the server at {addr} closed the connection in the middle of a reply \
         ({received} bytes of it, {unanswered} {} unanswered)",
        lines_word(*.unanswered)
    )]
    CutInReply {
        /// The server's address.
        addr: String,
        /// The bytes of the cut reply that arrived.
        received: usize,
        /// Lines sent and not answered.
        unanswered: usize,
    },
    /// The server closed with nothing owed but more input to come.
    #[error("the server at {addr} closed the connection before the input ended")]
    ClosedBeforeInputEnded {
        /// The server's address.
        addr: String,
    },
    /// The server closed with lines unanswered.
    #[error(
        "the server at {addr} closed the connection with {unanswered} {} unanswered",
        lines_word(*.unanswered)
    )]
    ClosedWithLinesUnanswered {
        /// The server's address.
        addr: String,
        /// Lines sent and not answered.
        unanswered: usize,
    },
    /// Every try of a datagram met silence.
    #[error(
        "no reply from {addr} (udp) after {UDP_ATTEMPTS} tries over {} s",
        u64::from(UDP_ATTEMPTS) * UDP_RETRY_AFTER.as_secs()
    )]
    UdpSilence {
        /// The server's address.
        addr: String,
    },
    /// Some tries of a non-empty datagram got an empty one back.
    #[error(
        "{addr} (udp) answered {empty} of {UDP_ATTEMPTS} tries with an empty datagram, \
         which is no reply to a non-empty line (a proxy whose server is down?)"
    )]
    UdpEmptyReplies {
        /// The server's address.
        addr: String,
        /// How many tries were answered empty.
        empty: u32,
    },
}

impl ClientError {
    /// A failure of the connection to `addr`, over `transport`.
    pub(crate) fn connection(addr: &str, transport: &'static str, source: io::Error) -> Self {
        ClientError::Connection {
            addr: addr.to_string(),
            transport,
            source,
        }
    }
}

/// An I/O failure on the connection to `addr`, in words.
fn connection_line(addr: &str, transport: &str, error: &io::Error) -> String {
    match error.kind() {
        ErrorKind::ConnectionRefused => format!("nothing is listening on {addr} ({transport})"),
        ErrorKind::ConnectionReset => format!("the connection to {addr} was reset by the server"),
        ErrorKind::BrokenPipe => format!("the server at {addr} closed the connection"),
        ErrorKind::TimedOut | ErrorKind::WouldBlock => format!("{addr} did not answer in time"),
        _ => format!("{transport} {addr}: {error}"),
    }
}

/// `line` or `lines`, for `count` of them.
pub(super) fn lines_word(count: usize) -> &'static str {
    if count == 1 {
        "line"
    } else {
        "lines"
    }
}
