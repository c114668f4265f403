//! `upcase-client`'s command line: its flags, and the two steps
//! `src/bin/upcase-client` runs: [`start`] (ADDR and TLS, checked before a
//! line is read) and [`Session::run`] (stdin to the server, the replies to
//! stdout; the client itself is [`crate::client`]).

use crate::certificates::TlsError;
use crate::client::{self, ClientError, TcpOptions, TlsClient};
use clap::Parser;
use std::io::{self, IsTerminal};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// upcase-client: sends lines to an upcase server and prints the replies.
///
/// With a terminal on stdin it prompts (`> `) before each line; piped
/// input of any size streams through. Ctrl-C ends it at once.
#[derive(Parser, Debug)]
#[command(name = "upcase-client", version = crate::version!(), about, long_about)]
pub struct Args {
    /// Use UDP: each line is one datagram.
    #[arg(long)]
    udp: bool,
    /// TCP: seconds a reply that is due may keep silent before giving up.
    #[arg(long, value_name = "SECS", default_value_t = 10.0,
          value_parser = parse_seconds)]
    timeout: f64,
    #[arg(long, help = format!(
        "TCP: when the connection ends with lines unanswered, reconnect (with back-off, \
         for up to {} s per outage) and resend exactly those lines",
        client::backoff::OUTAGE_LIMIT.as_secs()
    ))]
    reconnect: bool,
    /// TCP: the most bytes one reply may hold, its newline included (the
    /// default fits the longest line the server answers by default, grown
    /// as much as uppercasing can grow it).
    #[arg(long, value_name = "BYTES", default_value_t = client::DEFAULT_MAX_REPLY,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1 << 40))]
    max_reply: usize,
    /// TCP over TLS: the server's certificate must be trusted (the
    /// system's roots, or --ca) and carry the server's name.
    #[arg(long, conflicts_with = "udp")]
    tls: bool,
    /// TLS: trust the CA certificates in this PEM file instead of the
    /// system's roots.
    #[arg(long, value_name = "FILE", requires = "tls")]
    ca: Option<PathBuf>,
    /// TLS: the name the server's certificate must carry (default: the
    /// host part of ADDR).
    #[arg(long, value_name = "NAME", requires = "tls")]
    server_name: Option<String>,
    /// The server's address (a name tries every address it resolves to).
    #[arg(value_name = "ADDR", default_value = "127.0.0.1:7878")]
    addr: String,
}

fn parse_seconds(text: &str) -> Result<f64, NotSeconds> {
    match text.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 86_400.0 => Ok(secs),
        _ => Err(NotSeconds),
    }
}

/// `--timeout`'s value is no number of seconds clap should take.
#[derive(Debug, thiserror::Error)]
#[error("expected seconds between 0 and 86400, e.g. 2.5")]
struct NotSeconds;

/// What [`start`] made of the flags: where to connect and how.
pub struct Session {
    args: Args,
    addrs: Vec<SocketAddr>,
    tls: Option<TlsClient>,
}

/// Why the client could not start: the flags name no usable server (a
/// usage error, exit 2), or its trust store cannot be read (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// ADDR does not resolve.
    #[error("cannot use address {addr}: {source}")]
    Address {
        /// ADDR as given.
        addr: String,
        /// The resolver's answer.
        source: io::Error,
    },
    /// ADDR resolves, to nothing.
    #[error("{0} resolves to no address")]
    NoAddress(String),
    /// `--server-name` (or ADDR's host) cannot be a certificate's name.
    #[error(transparent)]
    ServerName(TlsError),
    /// `--ca` (or the system's roots) cannot be used.
    #[error(transparent)]
    Trust(TlsError),
}

impl StartError {
    /// Whether the flags are at fault (exit 2) rather than the machine.
    pub fn is_usage(&self) -> bool {
        !matches!(self, StartError::Trust(_))
    }
}

/// The flags, from the command line (clap exits 2 on a bad one).
pub fn parse_args() -> Args {
    Args::parse()
}

/// Resolves ADDR and sets up TLS, before any line is read.
pub fn start(args: Args) -> Result<Session, StartError> {
    let addrs: Vec<_> = args
        .addr
        .to_socket_addrs()
        .map_err(|source| StartError::Address {
            addr: args.addr.clone(),
            source,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(StartError::NoAddress(args.addr));
    }
    let tls = if args.tls {
        let server_name = crate::certificates::server_name(args.server_name.as_deref(), &args.addr)
            .map_err(StartError::ServerName)?;
        let config =
            crate::certificates::client_config(args.ca.as_deref()).map_err(StartError::Trust)?;
        Some(TlsClient {
            config,
            server_name,
        })
    } else {
        None
    };
    Ok(Session { args, addrs, tls })
}

impl Session {
    /// Relays stdin's lines and prints the replies until stdin ends;
    /// Ctrl-C ends it at once.
    pub fn run(self) -> Result<(), ClientError> {
        let interactive = io::stdin().is_terminal();
        install_interrupt_handler();
        let input = io::BufReader::new(io::stdin());
        // Buffered: piped output of many lines must not cost a write per
        // line (the client flushes after each batch of replies).
        let output = io::BufWriter::new(io::stdout());
        if self.args.udp {
            client::run_udp(self.addrs[0], input, output, interactive)
        } else {
            let options = TcpOptions {
                interactive,
                timeout: Duration::from_secs_f64(self.args.timeout),
                reconnect: self.args.reconnect,
                max_reply: self.args.max_reply,
                tls: self.tls,
            };
            client::run_tcp(&self.addrs, input, output, &options)
        }
    }
}

/// Ctrl-C ends the client at once, on a fresh line. The handler runs on
/// its own thread while another may hold stdout's lock, so it writes the
/// newline to the descriptor directly and leaves with `_exit`, which
/// flushes nothing (and so cannot wait for that lock).
fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        // SAFETY: write(2) and _exit(2) are async-signal-safe and take no
        // Rust locks; the buffer is a static byte string.
        unsafe {
            libc::write(1, b"\n".as_ptr().cast(), 1);
            libc::_exit(130);
        }
    });
}
