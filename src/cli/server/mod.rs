//! `upcase-server`'s command line: its flags (the clap definitions the man
//! page is made from), and the steps `src/bin/upcase-server` runs in order:
//! parse the flags, check the admin endpoint's exposure, start logging,
//! open the sockets (or take them from systemd), announce them, and serve
//! until SIGINT, SIGTERM or SIGHUP. All the serving is in the rest of the
//! library.
//!
//! - [`startup`]: the admin check, logging, the sockets, the start-up line;
//! - [`signals`]: the shutdown signals and SIGUSR1's certificate reload;
//! - [`error`]: why the server could not start (or stopped), one line each.

pub mod error;
pub mod signals;
pub mod startup;

pub use error::ServerError;
pub use signals::block_reload_signal;
pub use startup::{admin_access, init_logging, serve};

use crate::config::{Model, PerIpLimit, ServerConfig, UdpRateLimit};
use crate::log_sink::LogFormat;
use crate::memory::MemoryLimit;
use clap::builder::{BoolishValueParser, RangedU64ValueParser};
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser};
use std::time::Duration;

/// upcase-server: uppercases lines over TCP and datagrams over UDP.
///
/// SIGINT, SIGTERM and SIGHUP start a graceful shutdown (SIGHUP is left
/// alone when it was ignored at start, as under `nohup`); a second signal
/// exits at once. Started by systemd with LISTEN_FDS, the server takes its
/// sockets from it instead of binding.
#[derive(Parser, Debug)]
#[command(name = "upcase-server", version = crate::version!(), about, long_about)]
pub struct Args {
    /// TCP address to listen on (port 0 picks a free port).
    #[arg(
        long,
        env = "UPCASE_TCP",
        value_name = "ADDR",
        default_value = "127.0.0.1:7878"
    )]
    tcp: String,
    /// UDP address to serve on (port 0 picks a free port).
    #[arg(
        long,
        env = "UPCASE_UDP",
        value_name = "ADDR",
        default_value = "127.0.0.1:7878"
    )]
    udp: String,
    /// Also serve the line protocol over TLS on ADDR (needs --tls-cert and
    /// --tls-key). SIGUSR1 re-reads the certificate and key.
    #[arg(long, env = "UPCASE_TLS", value_name = "ADDR", requires_all = ["tls_cert", "tls_key"])]
    tls: Option<String>,
    /// The --tls certificate chain (PEM, the server's own first).
    #[arg(long, env = "UPCASE_TLS_CERT", value_name = "FILE", requires = "tls")]
    tls_cert: Option<std::path::PathBuf>,
    /// The --tls private key (PEM).
    #[arg(long, env = "UPCASE_TLS_KEY", value_name = "FILE", requires = "tls")]
    tls_key: Option<std::path::PathBuf>,
    /// Serve TCP only (true/false, yes/no, 1/0 in the environment).
    #[arg(long, env = "UPCASE_NO_UDP", value_parser = BoolishValueParser::new())]
    no_udp: bool,
    /// Worker threads for the pool models [default: the number of CPUs].
    #[arg(long, env = "UPCASE_WORKERS", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    workers: Option<u32>,
    /// Threading model: pool, event-loops, fixed-pool, thread-per-connection
    /// or iterative.
    #[arg(long, env = "UPCASE_MODEL", value_name = "M", default_value = "pool")]
    model: Model,
    /// Longest line answered, in bytes; longer lines get an error and close.
    #[arg(long, env = "UPCASE_MAX_LINE", value_name = "BYTES", default_value_t = crate::codec::DEFAULT_MAX_LINE,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    max_line: usize,
    /// Seconds a connection may go without a complete line (0 = never).
    #[arg(
        long,
        env = "UPCASE_IDLE_TIMEOUT",
        value_name = "SECS",
        default_value_t = 300
    )]
    idle_timeout: u64,
    /// Most TCP connections open at once.
    #[arg(long, env = "UPCASE_MAX_CONNECTIONS", value_name = "N", default_value_t = 10_000,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    max_connections: usize,
    /// Most TCP connections open at once from one IP address (0 = no
    /// limit) [default: 1000, loopback clients exempt]. Behind a balancer
    /// every client shares the balancer's address: raise it or use 0.
    #[arg(long, env = "UPCASE_MAX_CONNECTIONS_PER_IP", value_name = "N")]
    max_connections_per_ip: Option<usize>,
    /// UDP replies per second to one source network, a /24 or /64, with a
    /// burst of one second's worth (0 = no limit; loopback exempt unless
    /// --udp-rate-limit-loopback). Caps what a forged source address can
    /// aim at its owner.
    #[arg(long, env = "UPCASE_UDP_RATE_LIMIT", value_name = "N",
          default_value_t = crate::config::DEFAULT_UDP_RATE_LIMIT)]
    udp_rate_limit: u32,
    /// Apply --udp-rate-limit to loopback sources too (true/false, yes/no,
    /// 1/0 in the environment).
    #[arg(long, env = "UPCASE_UDP_RATE_LIMIT_LOOPBACK", value_parser = BoolishValueParser::new())]
    udp_rate_limit_loopback: bool,
    /// Largest UDP reply as a multiple of its request's size; a larger one
    /// is replaced by `error: reply too large`. 3 is QUIC's bound before an
    /// address is validated; 1 where no source can be trusted.
    #[arg(long, env = "UPCASE_UDP_MAX_AMPLIFICATION", value_name = "RATIO",
          default_value_t = crate::config::DEFAULT_UDP_MAX_AMPLIFICATION,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    udp_max_amplification: u32,
    /// Set SO_REUSEPORT, so several server processes share the address
    /// (true/false, yes/no, 1/0 in the environment).
    #[arg(long, env = "UPCASE_REUSE_PORT", value_parser = BoolishValueParser::new())]
    reuse_port: bool,
    /// Serve /metrics (Prometheus), /stats.json, /healthz and a live page
    /// on ADDR. Beyond loopback it needs --admin-token-file.
    #[arg(long, env = "UPCASE_ADMIN", value_name = "ADDR")]
    admin: Option<String>,
    /// A file holding the admin endpoint's bearer token: every request but
    /// /healthz must send `Authorization: Bearer TOKEN`.
    #[arg(
        long,
        env = "UPCASE_ADMIN_TOKEN_FILE",
        value_name = "FILE",
        requires = "admin"
    )]
    admin_token_file: Option<std::path::PathBuf>,
    /// Listen backlog [default: the system's maximum, net.core.somaxconn].
    #[arg(long, env = "UPCASE_BACKLOG", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    backlog: Option<u32>,
    /// Most memory held on clients' behalf (replies not yet taken, partial
    /// lines, connection threads' stacks), e.g. 256M; at it, clients are
    /// read less and newcomers refused (0 = no budget) [default: half of
    /// what RLIMIT_AS or the cgroup's memory.max leaves, if one is set].
    #[arg(
        long,
        env = "UPCASE_MEMORY_BUDGET",
        value_name = "BYTES",
        value_parser = crate::memory::parse_bytes
    )]
    memory_budget: Option<usize>,
    /// Microseconds a serving thread keeps looking for work before it
    /// sleeps, while that pays (0 = never look).
    #[arg(long, env = "UPCASE_BUSY_POLL", value_name = "MICROS",
          default_value_t = crate::busy_poll::DEFAULT_MAX_WINDOW.as_micros() as u64,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    busy_poll: u64,
    /// Log lines as `text`, `journal` (`<N>` syslog priority, no time) or
    /// `json` (one object a line); `auto` is `journal` when stderr is
    /// journald's stream (JOURNAL_STREAM), else `text`.
    #[arg(
        long,
        env = "UPCASE_LOG_FORMAT",
        value_name = "FORMAT",
        default_value = "auto"
    )]
    log_format: LogFormat,
}

impl Args {
    fn config(&self) -> ServerConfig {
        ServerConfig {
            model: self.model,
            workers: self.workers.map_or_else(num_cpus::get, |n| n as usize),
            max_line: self.max_line,
            idle_timeout: (self.idle_timeout > 0).then(|| Duration::from_secs(self.idle_timeout)),
            max_connections: self.max_connections,
            max_connections_per_ip: self
                .max_connections_per_ip
                .map_or_else(PerIpLimit::default, PerIpLimit::set),
            busy_poll: Duration::from_micros(self.busy_poll),
            udp_rate_limit: UdpRateLimit {
                per_second: self.udp_rate_limit,
                exempt_loopback: !self.udp_rate_limit_loopback,
            },
            udp_max_amplification: self.udp_max_amplification,
            memory_budget: match self.memory_budget {
                Some(0) => None,
                Some(bytes) => Some(bytes),
                None => MemoryLimit::current().map(|limit| limit.default_budget()),
            },
            ..ServerConfig::default()
        }
    }
}

/// The flags, from the command line or their environment variables.
/// `--no-udp` with an address for UDP is a usage error (exit 2); clap's
/// own `conflicts_with` cannot say this, because it also counts a variable
/// that is set to "no" as given.
pub fn parse_args() -> Args {
    let matches = Args::command().get_matches();
    let conflict = matches.get_flag("no_udp")
        && !matches!(
            matches.value_source("udp"),
            None | Some(ValueSource::DefaultValue)
        );
    if conflict {
        Args::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--no-udp (UPCASE_NO_UDP) cannot be used with --udp (UPCASE_UDP)",
            )
            .exit();
    }
    Args::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
}
