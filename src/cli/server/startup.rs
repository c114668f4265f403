//! `upcase-server`'s start-up, in the order [`crate::cli::server`] lists:
//! each step either leaves the server one step closer to serving or
//! returns the one line ([`ServerError`]) that says why it cannot.

use super::signals::{install_signal_handlers, notify_systemd, reload_on_signal};
use super::{Args, ServerError};
use crate::admin::{self, Access};
use crate::certificates::Certificates;
use crate::config::{Model, ServerConfig};
use crate::limits::DescriptorLimit;
use crate::log_sink::{LogFlusher, LogSink, Now};
use crate::memory::MemoryLimit;
use crate::net;
use crate::shutdown::ShutdownSignal;
use crate::tcp::Listener;
use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;

/// Logs go to stderr through a queue that never blocks a serving thread,
/// each line in `--log-format`. The flusher empties the queue at exit.
pub fn init_logging(args: &Args) -> Option<LogFlusher> {
    let format = args.log_format.resolve();
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
pub fn admin_access(args: &Args) -> Result<Option<(String, Access)>, ServerError> {
    let Some(address) = &args.admin else {
        return Ok(None);
    };
    let access = match &args.admin_token_file {
        Some(file) => Access::from_token_file(file)?,
        None => Access::open(),
    };
    let resolved = net::resolve(address).map_err(|source| ServerError::AdminAddress {
        address: address.clone(),
        source,
    })?;
    admin::check_exposure(resolved, &access)?;
    Ok(Some((resolved.to_string(), access)))
}

/// Opens the sockets, announces them, installs the signal handlers and
/// serves until a signal, then logs the summary.
pub fn serve(args: &Args, admin: Option<(String, Access)>) -> Result<(), ServerError> {
    // A bad certificate is refused before any socket is opened.
    let certificates = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) if args.tls.is_some() => Some(Certificates::load(cert, key)?),
        _ => None,
    };
    let (tcp, udp) = open_sockets(args)?;
    let tls = match (&args.tls, &certificates) {
        (Some(address), Some(certificates)) => {
            let backlog = args.backlog.unwrap_or_else(net::system_max_backlog);
            Some(Listener::tls(
                net::listen_tcp(address, backlog, args.reuse_port)?,
                Arc::clone(certificates),
            ))
        }
        _ => None,
    };
    let admin = match admin {
        Some((address, access)) => Some((net::listen_tcp(&address, 128, false)?, access)),
        None => None,
    };
    let shutdown = ShutdownSignal::new();
    install_signal_handlers(&shutdown)?;
    for listener in &tcp {
        announce("tcp", listener.socket.local_addr())?;
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
    let listeners = tcp.into_iter().chain(tls).collect();
    let summary = crate::server::run_with_admin(listeners, udp, admin, config, shutdown)
        .map_err(ServerError::Serving)?;
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
fn open_sockets(args: &Args) -> Result<(Vec<Listener>, Option<UdpSocket>), ServerError> {
    let inherited = net::inherited_sockets()?;
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
        let tcp = inherited.tcp.into_iter().map(Listener::inherited).collect();
        return Ok((tcp, udp));
    }
    let backlog = args.backlog.unwrap_or_else(net::system_max_backlog);
    let tcp = net::listen_tcp(&args.tcp, backlog, args.reuse_port)?;
    let udp = if args.no_udp {
        None
    } else {
        Some(net::bind_udp(&args.udp, args.reuse_port)?)
    };
    Ok((vec![Listener::plain(tcp)], udp))
}

/// Prints the one stdout line per socket that scripts wait for. A stdout
/// that cannot be written (closed, `/dev/full`) is an error, not a panic.
fn announce(transport: &'static str, address: io::Result<SocketAddr>) -> Result<(), ServerError> {
    let address = address.map_err(|source| ServerError::LocalAddress { transport, source })?;
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{transport} listening on {address}")
        .and_then(|()| stdout.flush())
        .map_err(ServerError::Stdout)
}
