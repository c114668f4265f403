//! `upcase-client`'s command line: reads lines from stdin, prints the
//! server's replies (the client itself is [`crate::client`]).

use crate::client::{self, TcpOptions, TlsClient};
use clap::Parser;
use std::io::{self, IsTerminal};
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::process::ExitCode;
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

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 86_400.0 => Ok(secs),
        _ => Err("expected seconds between 0 and 86400, e.g. 2.5".into()),
    }
}

/// The program: flags, then the client; the exit status.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let addrs: Vec<_> = match args.addr.to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(error) => {
            eprintln!("upcase-client: cannot use address {}: {error}", args.addr);
            return ExitCode::from(2);
        }
    };
    if addrs.is_empty() {
        eprintln!("upcase-client: {} resolves to no address", args.addr);
        return ExitCode::from(2);
    }
    let tls = if args.tls {
        let name = match crate::certificates::server_name(args.server_name.as_deref(), &args.addr) {
            Ok(name) => name,
            Err(error) => {
                eprintln!("upcase-client: {error}");
                return ExitCode::from(2);
            }
        };
        match crate::certificates::client_config(args.ca.as_deref()) {
            Ok(config) => Some(TlsClient {
                config,
                server_name: name,
            }),
            Err(error) => {
                eprintln!("upcase-client: {error}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let interactive = io::stdin().is_terminal();
    install_interrupt_handler();
    let input = io::BufReader::new(io::stdin());
    // Buffered: piped output of many lines must not cost a write per
    // line (the client flushes after each batch of replies).
    let output = io::BufWriter::new(io::stdout());
    let result = if args.udp {
        client::run_udp(addrs[0], input, output, interactive)
    } else {
        let options = TcpOptions {
            interactive,
            timeout: Duration::from_secs_f64(args.timeout),
            reconnect: args.reconnect,
            max_reply: args.max_reply,
            tls,
        };
        client::run_tcp(&addrs, input, output, &options)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("upcase-client: {error}");
            ExitCode::FAILURE
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
