//! Why `upcase-server` could not start, or stopped with an error: one
//! variant per thing that went wrong, each one line for stderr (the causes
//! the system gave included), and whether it is the caller's mistake (a
//! usage error, exit 2) or the machine's (exit 1).

use crate::admin::{Exposed, TokenFileError};
use crate::certificates::TlsError;
use crate::net::SetupError;
use std::io;

/// What stopped the server. `Display` is the whole line (its cause
/// included); `source()` is the cause, for a caller that wants it.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// `--admin-token-file` cannot be read or holds no usable token.
    #[error(transparent)]
    AdminToken(#[from] TokenFileError),
    /// `--admin ADDR` does not resolve.
    #[error("--admin {address}: {source}")]
    AdminAddress {
        /// The address as given.
        address: String,
        /// The resolver's answer.
        source: io::Error,
    },
    /// `--admin` beyond loopback without a token: a usage error.
    #[error(transparent)]
    AdminExposed(#[from] Exposed),
    /// The `--tls` certificate or key cannot be served.
    #[error(transparent)]
    Certificate(#[from] TlsError),
    /// A socket cannot be opened, bound, or taken from `LISTEN_FDS`.
    #[error(transparent)]
    Socket(#[from] SetupError),
    /// A listening socket does not say its own address.
    #[error("cannot read the {transport} address: {source}")]
    LocalAddress {
        /// `tcp`, `tls`, `udp` or `admin`.
        transport: &'static str,
        /// Why `local_addr` failed.
        source: io::Error,
    },
    /// The `... listening on ADDR` line cannot be written (stdout closed,
    /// `/dev/full`).
    #[error("cannot write to stdout: {0}")]
    Stdout(#[source] io::Error),
    /// ctrlc cannot take SIGINT, SIGTERM and SIGHUP.
    #[error("cannot install the signal handlers: {0}")]
    Signals(#[source] ctrlc::Error),
    /// The thread that takes SIGUSR1 cannot be started.
    #[error("cannot start the reload thread: {0}")]
    ReloadThread(#[source] io::Error),
    /// Serving stopped with an error the server cannot carry on from.
    #[error("server failed: {0}")]
    Serving(#[source] io::Error),
}

impl ServerError {
    /// Whether the command line asked for something the server refuses
    /// (exit 2, as clap's own usage errors), rather than the machine
    /// failing it (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, ServerError::AdminExposed(_))
    }
}
