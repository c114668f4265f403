//! `upcase-server`'s command line: parse flags, open the sockets (or take
//! them from systemd), announce them, and run until SIGINT, SIGTERM or
//! SIGHUP. All the serving is in the rest of the library.

use crate::admin::{self, Access};
use crate::certificates::Certificates;
use crate::config::{Model, PerIpLimit, ServerConfig, UdpRateLimit};
use crate::limits::DescriptorLimit;
use crate::log_sink::{LogFlusher, LogFormat, LogSink, Now};
use crate::memory::MemoryLimit;
use crate::net;
use crate::shutdown::ShutdownSignal;
use crate::tcp::{Listener, Serves};
use clap::builder::{BoolishValueParser, RangedU64ValueParser};
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser};
use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
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

/// The program: flags, sockets, signals, serve; the exit status.
pub fn main() -> ExitCode {
    crate::memory::fit_allocator_to_address_space_limit();
    // Before any thread starts, so that every thread inherits the mask and
    // only the reload thread's sigwait takes SIGUSR1.
    block_reload_signal();
    let args = parse_args();
    let admin = match admin_access(&args) {
        Ok(admin) => admin,
        Err((code, message)) => {
            eprintln!("upcase-server: {message}");
            return ExitCode::from(code);
        }
    };
    let flusher = init_logging(args.log_format.resolve());
    let result = serve(&args, admin);
    if let Some(flusher) = flusher {
        flusher.flush(Duration::from_secs(1));
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("upcase-server: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The flags, from the command line or their environment variables.
/// `--no-udp` with an address for UDP is a usage error (exit 2); clap's
/// own `conflicts_with` cannot say this, because it also counts a variable
/// that is set to "no" as given.
fn parse_args() -> Args {
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

/// Logs go to stderr through a queue that never blocks a serving thread,
/// each line in `format`.
fn init_logging(format: LogFormat) -> Option<LogFlusher> {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    builder.format(move |out, record| format.write(out, &Now, record));
    let flusher = match LogSink::start(std::io::stderr(), format) {
        Ok((sink, flusher)) => {
            builder.target(env_logger::Target::Pipe(Box::new(sink)));
            Some(flusher)
        }
        Err(_) => None,
    };
    builder.init();
    flusher
}

/// The admin address and who may call it, checked before anything is
/// bound: a non-loopback address without a token is a usage error (exit 2).
fn admin_access(args: &Args) -> Result<Option<(String, Access)>, (u8, String)> {
    let Some(address) = &args.admin else {
        return Ok(None);
    };
    let access = match &args.admin_token_file {
        Some(file) => Access::from_token_file(file).map_err(|e| (1, e))?,
        None => Access::open(),
    };
    let resolved = net::resolve(address).map_err(|e| (1, format!("--admin {address}: {e}")))?;
    admin::check_exposure(resolved, &access).map_err(|e| (2, e))?;
    Ok(Some((resolved.to_string(), access)))
}

fn serve(args: &Args, admin: Option<(String, Access)>) -> Result<(), String> {
    // A bad certificate is refused before any socket is opened.
    let certificates = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) if args.tls.is_some() => Some(Certificates::load(cert, key)?),
        _ => None,
    };
    let (tcp, udp) = open_sockets(args)?;
    let tls = match (&args.tls, &certificates) {
        (Some(address), Some(certificates)) => {
            let backlog = args.backlog.unwrap_or_else(net::system_max_backlog);
            Some(Listener {
                socket: net::listen_tcp(address, backlog, args.reuse_port)
                    .map_err(|e| e.to_string())?,
                serves: Serves::Tls(Arc::clone(certificates)),
            })
        }
        _ => None,
    };
    let admin = match admin {
        Some((address, access)) => Some((
            net::listen_tcp(&address, 128, false).map_err(|e| e.to_string())?,
            access,
        )),
        None => None,
    };
    let shutdown = ShutdownSignal::new();
    install_signal_handlers(&shutdown)?;
    for listener in &tcp {
        announce("tcp", listener.local_addr())?;
    }
    if let Some(tls) = &tls {
        announce("tls", tls.socket.local_addr())?;
    }
    reload_on_signal(certificates)?;
    if let Some(udp) = &udp {
        announce("udp", udp.local_addr())?;
    }
    if let Some((admin, _)) = &admin {
        announce("admin", admin.local_addr())?;
    }
    let mut config = args.config();
    match DescriptorLimit::raise() {
        Some(limit) => {
            if let Some(warning) = limit.fit(&mut config) {
                log::warn!("{warning}");
            }
        }
        None => log::warn!("cannot read the open-file limit (RLIMIT_NOFILE)"),
    }
    match (config.memory_budget, MemoryLimit::current()) {
        (Some(budget), Some(limit)) => log::info!(
            "memory budget {budget} bytes ({} is {} bytes, {} left at start)",
            limit.source,
            limit.limit,
            limit.available
        ),
        (Some(budget), None) => log::info!("memory budget {budget} bytes"),
        (None, _) => log::debug!("no memory budget (no memory limit set)"),
    }
    log::info!("{}", startup_line(&config, args.reuse_port));
    notify_systemd(sd_notify::NotifyState::Ready);
    let listeners = tcp.into_iter().map(Listener::plain).chain(tls).collect();
    let summary = crate::server::run_with_admin(listeners, udp, admin, config, shutdown)
        .map_err(|e| format!("server failed: {e}"))?;
    log::info!("shutdown complete: {summary}");
    Ok(())
}

/// The one line that says what this process is and how it was set up:
/// version, model, threads, the limits in force and the descriptor limit.
fn startup_line(config: &ServerConfig, reuse_port: bool) -> String {
    let threads = match config.model {
        Model::Pool | Model::FixedPool => format!(" ({} workers)", config.workers),
        Model::EventLoops => format!(" ({} event loops)", config.workers),
        Model::ThreadPerConnection => " (a thread per connection)".into(),
        Model::Iterative => " (one client at a time)".into(),
    };
    let per_ip = config.max_connections_per_ip;
    let per_ip = match (per_ip.max, per_ip.exempt_loopback) {
        (0, _) => "no limit".to_string(),
        (max, true) => format!("{max} (loopback exempt)"),
        (max, false) => max.to_string(),
    };
    let idle = config.idle_timeout.map_or_else(
        || "never".to_string(),
        |limit| format!("{} s", limit.as_secs()),
    );
    let udp_rate = config.udp_rate_limit;
    let udp_rate = match (udp_rate.per_second, udp_rate.exempt_loopback) {
        (0, _) => "no limit".to_string(),
        (n, true) => format!("{n}/s per network (loopback exempt)"),
        (n, false) => format!("{n}/s per network"),
    };
    let descriptors = match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, hard)) => format!("{soft} (hard {hard})"),
        Err(error) => format!("unknown ({error})"),
    };
    let reuse_port = if reuse_port {
        format!("; reuse-port: {}", net::reuse_port_migration())
    } else {
        String::new()
    };
    format!(
        "upcase-server {} serving with model {}{threads}; max-connections {}, \
         max-connections-per-ip {per_ip}, max-line {} bytes, idle-timeout {idle}; \
         udp replies {udp_rate}, at most {}x the request; \
         descriptor limit {descriptors}{reuse_port}",
        env!("CARGO_PKG_VERSION"),
        config.model,
        config.max_connections,
        config.max_line,
        config.udp_max_amplification,
    )
}

/// The sockets systemd passed (LISTEN_FDS), else new ones bound as asked.
fn open_sockets(args: &Args) -> Result<(Vec<TcpListener>, Option<UdpSocket>), String> {
    let inherited = net::inherited_sockets().map_err(|e| e.to_string())?;
    if !inherited.tcp.is_empty() {
        log::info!("using the sockets passed by the service manager (LISTEN_FDS)");
        for unused in &inherited.unused {
            log::warn!(
                "LISTEN_FDS: {unused} is not served (every TCP listener and one UDP socket are)"
            );
        }
        if inherited.udp.is_none() && !args.no_udp {
            log::warn!(
                "LISTEN_FDS holds no datagram socket: UDP is off \
                 (add ListenDatagram= to the .socket unit, or pass --no-udp to say so)"
            );
        }
        let udp = if args.no_udp { None } else { inherited.udp };
        return Ok((inherited.tcp, udp));
    }
    let backlog = args.backlog.unwrap_or_else(net::system_max_backlog);
    let tcp = net::listen_tcp(&args.tcp, backlog, args.reuse_port).map_err(|e| e.to_string())?;
    let udp = if args.no_udp {
        None
    } else {
        Some(net::bind_udp(&args.udp, args.reuse_port).map_err(|e| e.to_string())?)
    };
    Ok((vec![tcp], udp))
}

/// Prints the one stdout line per socket that scripts wait for. A stdout
/// that cannot be written (closed, `/dev/full`) is an error, not a panic.
fn announce(transport: &str, address: std::io::Result<std::net::SocketAddr>) -> Result<(), String> {
    let address = address.map_err(|e| format!("cannot read the {transport} address: {e}"))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{transport} listening on {address}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))
}

/// Tells systemd (when it started us with NOTIFY_SOCKET) how we are doing.
fn notify_systemd(state: sd_notify::NotifyState) {
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        if let Err(error) = sd_notify::notify(false, &[state]) {
            log::warn!("cannot notify the service manager: {error}");
        }
    }
}

/// SIGINT, SIGTERM (and SIGHUP unless it was ignored at start) begin a
/// graceful shutdown; a second one exits at once.
///
/// Through `ctrlc`, the design's package: its `termination` feature
/// catches all three on a thread of its own, which is where the trigger is
/// pulled. It always takes SIGHUP too, so a SIGHUP that was ignored at
/// start (`nohup`) is set back to ignored right after.
fn install_signal_handlers(shutdown: &ShutdownSignal) -> Result<(), String> {
    let hangup_ignored = is_ignored(libc::SIGHUP);
    let shutdown = shutdown.clone();
    ctrlc::set_handler(move || {
        if shutdown.is_triggered() {
            eprintln!("upcase-server: second signal, exiting without waiting");
            std::process::exit(130);
        }
        log::info!("signal received (SIGINT, SIGTERM or SIGHUP): shutting down");
        notify_systemd(sd_notify::NotifyState::Stopping);
        shutdown.trigger();
    })
    .map_err(|e| format!("cannot install the signal handlers: {e}"))?;
    if hangup_ignored {
        // SAFETY: sets SIGHUP's disposition back to SIG_IGN; it installs
        // no handler and touches no memory of ours.
        unsafe {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
        }
    }
    Ok(())
}

/// The signal set holding SIGUSR1 alone.
fn reload_signal() -> libc::sigset_t {
    // SAFETY: sigemptyset and sigaddset initialise the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        set
    }
}

/// Blocks SIGUSR1 in this thread (and so in every thread started after):
/// it is taken by [`reload_on_signal`]'s `sigwait`, never delivered as an
/// asynchronous handler. ctrlc owns SIGINT, SIGTERM and SIGHUP; this
/// touches no other signal, and needs no handler that must be
/// async-signal-safe (signal-hook is not in the tree for one signal).
fn block_reload_signal() {
    let set = reload_signal();
    // SAFETY: pthread_sigmask reads the set we own; no old mask is asked for.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// A thread that waits for SIGUSR1 and re-reads the `--tls` certificate
/// and key: new connections get the new pair; a bad file keeps the old
/// one, logged in one line. Without `--tls`, SIGUSR1 is logged and
/// ignored (its default would end the process).
fn reload_on_signal(certificates: Option<Arc<Certificates>>) -> Result<(), String> {
    std::thread::Builder::new()
        .name("reload".into())
        .spawn(move || loop {
            let set = reload_signal();
            let mut signal = 0;
            // SAFETY: sigwait reads the set and writes one int we own.
            if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
                continue;
            }
            match &certificates {
                None => log::info!("SIGUSR1: no --tls certificate to re-read"),
                Some(certificates) => match certificates.reload() {
                    Ok(not_after) => log::info!(
                        "SIGUSR1: re-read {}; new connections get the certificate valid until {}",
                        certificates.files(),
                        crate::certificates::utc_date(not_after)
                    ),
                    Err(error) => log::warn!(
                        "SIGUSR1: keeping the certificate in use (valid until {}): {error}",
                        crate::certificates::utc_date(certificates.not_after())
                    ),
                },
            }
        })
        .map(drop)
        .map_err(|e| format!("cannot start the reload thread: {e}"))
}

/// Whether `signal`'s disposition is "ignore" (inherited from `nohup`).
fn is_ignored(signal: i32) -> bool {
    // SAFETY: sigaction with a null new action only reads the current one
    // into the zeroed struct we own.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut current) == 0
            && current.sa_sigaction == libc::SIG_IGN
    }
}
