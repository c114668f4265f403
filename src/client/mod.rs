//! `upcase-client`: send lines, print the replies.
//!
//! It never prints a wrong answer, and exits 0 only when every line got its
//! whole reply:
//! - [`stream`]: stdin streamed to the connection while replies stream to
//!   stdout (so piped input of any size never deadlocks), with a prompt
//!   when stdin is a terminal, a `--timeout` for replies that are due, and
//!   `--reconnect`, which resends exactly the lines left unanswered;
//! - `replies`: what counts as a whole reply, what is printed, what a
//!   connection's end means (strict: a cut reply is never shown);
//! - [`link`]: the connection under both threads, plain or TLS;
//! - [`ClientError`]: why it stopped, as one line;
//! - [`backoff`]: when to try to reconnect and when to give up (shared with
//!   `upcase-flood --reconnect`);
//! - [`datagram`]: one datagram per line, retried a few times on silence (or an
//!   empty reply to a non-empty line).

pub mod backoff;
pub mod datagram;
mod error;
pub mod link;
mod replies;
pub mod stream;

pub use backoff::Backoff;
pub use datagram::{run_udp, UDP_ATTEMPTS, UDP_RETRY_AFTER};
pub use error::ClientError;
pub use link::TlsClient;
pub use stream::{run_tcp, TcpOptions, DEFAULT_MAX_REPLY};

/// The prompt shown when stdin is a terminal.
pub const PROMPT: &str = "> ";
