//! `upcase-client`: reads lines from stdin, prints the server's replies.

use clap::Parser;
use std::io::{self, IsTerminal};
use std::process::ExitCode;
use upcase::client;

/// Sends lines to an upcase server and prints the replies.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// Use UDP: each line is one datagram.
    #[arg(long)]
    udp: bool,
    /// The server's address.
    #[arg(value_name = "ADDR", default_value = "127.0.0.1:7878")]
    addr: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let addr = match upcase::net::resolve(&args.addr) {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("upcase-client: cannot use address {}: {error}", args.addr);
            return ExitCode::from(2);
        }
    };
    let interactive = io::stdin().is_terminal();
    if interactive {
        // Ctrl-C ends the session cleanly, on a fresh line.
        let _ = ctrlc::set_handler(|| {
            println!();
            std::process::exit(130);
        });
    }
    let input = io::BufReader::new(io::stdin());
    // Buffered: piped output of many lines must not cost a write per line
    // (the client flushes after each reply when interactive).
    let output = io::BufWriter::new(io::stdout().lock());
    let result = if args.udp {
        client::run_udp(addr, input, output, interactive)
    } else {
        client::run_tcp(addr, input, output, interactive)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("upcase-client: {error}");
            ExitCode::FAILURE
        }
    }
}
