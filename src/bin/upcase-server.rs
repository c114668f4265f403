//! `upcase-server`: parse flags, open the sockets, announce them, and run
//! until Ctrl-C or SIGTERM. All the serving is in the library.

use clap::builder::RangedU64ValueParser;
use clap::Parser;
use std::process::ExitCode;
use std::time::Duration;
use upcase::config::{Model, ServerConfig};
use upcase::net;
use upcase::shutdown::Shutdown;

/// Uppercases lines over TCP and datagrams over UDP.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// TCP address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    tcp: String,
    /// UDP address to serve on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    udp: String,
    /// Serve TCP only.
    #[arg(long, conflicts_with = "udp")]
    no_udp: bool,
    /// Worker threads for the pool models [default: the number of CPUs].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    workers: Option<u32>,
    /// Threading model: pool, fixed-pool, thread-per-connection or iterative.
    #[arg(long, value_name = "M", default_value = "pool")]
    model: Model,
    /// Longest line answered, in bytes; longer lines get an error and close.
    #[arg(long, value_name = "BYTES", default_value_t = upcase::codec::DEFAULT_MAX_LINE,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    max_line: usize,
    /// Seconds a connection may go without a complete line (0 = never).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    idle_timeout: u64,
    /// Most TCP connections open at once.
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    max_connections: usize,
    /// Listen backlog [default: the system's maximum, net.core.somaxconn].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    backlog: Option<u32>,
    /// Microseconds a serving thread keeps looking for work before it
    /// sleeps, while that pays (0 = never look).
    #[arg(long, value_name = "MICROS",
          default_value_t = upcase::busy_poll::DEFAULT_MAX_WINDOW.as_micros() as u64,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    busy_poll: u64,
}

impl Args {
    fn config(&self) -> ServerConfig {
        ServerConfig {
            model: self.model,
            workers: self.workers.map_or_else(num_cpus::get, |n| n as usize),
            max_line: self.max_line,
            idle_timeout: (self.idle_timeout > 0).then(|| Duration::from_secs(self.idle_timeout)),
            max_connections: self.max_connections,
            busy_poll: Duration::from_micros(self.busy_poll),
            ..ServerConfig::default()
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match serve(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("upcase-server: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &Args) -> Result<(), String> {
    let backlog = args.backlog.unwrap_or_else(net::system_max_backlog);
    let tcp = net::listen_tcp(&args.tcp, backlog).map_err(|e| e.to_string())?;
    let udp = if args.no_udp {
        None
    } else {
        Some(net::bind_udp(&args.udp).map_err(|e| e.to_string())?)
    };
    let shutdown = Shutdown::new();
    install_signal_handler(&shutdown)?;
    announce("tcp", tcp.local_addr());
    if let Some(udp) = &udp {
        announce("udp", udp.local_addr());
    }
    let config = args.config();
    log::info!(
        "serving with model {} ({} workers), backlog {backlog}",
        config.model,
        config.workers
    );
    let summary = upcase::server::run(tcp, udp, config, shutdown)
        .map_err(|e| format!("server failed: {e}"))?;
    log::info!("shutdown complete: {summary}");
    Ok(())
}

/// Prints the one stdout line per socket that scripts wait for.
fn announce(transport: &str, address: std::io::Result<std::net::SocketAddr>) {
    match address {
        Ok(address) => println!("{transport} listening on {address}"),
        Err(error) => println!("{transport} listening on an unknown address ({error})"),
    }
}

/// Ctrl-C or SIGTERM starts a graceful shutdown; a second one exits at once.
fn install_signal_handler(shutdown: &Shutdown) -> Result<(), String> {
    let shutdown = shutdown.clone();
    ctrlc::set_handler(move || {
        if shutdown.is_triggered() {
            eprintln!("upcase-server: second interrupt, exiting without waiting");
            std::process::exit(130);
        }
        shutdown.trigger();
    })
    .map_err(|e| format!("cannot install the signal handler: {e}"))
}
