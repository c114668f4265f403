//! Starting and stopping a whole server: TCP in the chosen model, UDP on
//! its own thread, and the graceful shutdown that ties them together.
//!
//! ```text
//! run(tcp, udp, config, shutdown)
//!   ├─ thread "acceptor" ("tcp" in event-loops): models::run  (the model's threads)
//!   ├─ thread "udp": UdpService::run
//!   ├─ thread "admin" (with --admin): /metrics, /stats.json, /healthz, the page
//!   └─ this thread: waits for the trigger, then
//!        1. handlers stop reading and answer what they have read
//!        2. waits up to the grace period for replies to drain (the admin
//!           endpoint still answers, /healthz with "draining")
//!        3. cuts what is left, stops the admin endpoint, joins every
//!           thread, returns the totals
//! ```

use crate::admin;
use crate::config::ServerConfig;
use crate::context::Context;
use crate::models;
use crate::shutdown::ShutdownSignal;
use crate::stats::Summary;
use crate::tcp::{Listener, Serves};
use crate::udp::UdpService;
use std::io;
use std::net::{TcpListener, UdpSocket};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Serves `tcp` (and `udp`, if given) until `shutdown` is triggered, then
/// shuts down gracefully and returns the totals.
///
/// Fails only if a server thread cannot be started or the TCP side fails
/// outright (e.g. the poller cannot be created); a failure of one side
/// triggers `shutdown` so the other stops too.
pub fn run(
    tcp: TcpListener,
    udp: Option<UdpSocket>,
    config: ServerConfig,
    shutdown: ShutdownSignal,
) -> io::Result<Summary> {
    run_with_admin(vec![Listener::plain(tcp)], udp, None, config, shutdown)
}

/// [`run`] on every listener in `tcp` (plain or TLS), also serving the
/// admin endpoint (`/metrics`, `/stats.json`, `/healthz`, `/`) on `admin`,
/// to the callers its [`admin::Access`] allows, until the drain is over.
pub fn run_with_admin(
    tcp: Vec<Listener>,
    udp: Option<UdpSocket>,
    admin: Option<(TcpListener, admin::Access)>,
    config: ServerConfig,
    shutdown: ShutdownSignal,
) -> io::Result<Summary> {
    let ctx = Context::new(config, shutdown.clone());
    let tls = tcp.iter().find_map(|listener| match &listener.serves {
        Serves::Tls(certificates) => Some(Arc::clone(certificates)),
        Serves::Plain => None,
    });
    if let Some(certificates) = tls {
        let _ = ctx.certificates.set(certificates);
    }
    let listening = tcp
        .iter()
        .filter_map(|l| admin::metrics::socket_inode(&l.socket));
    let _ = ctx.listening.set(listening.collect());
    // Step 1 of the diagram, armed now: when the trigger is pulled, every
    // handler stops reading (blocking readers notice within their read
    // timeout tick, event loops are woken) and answers what it has read.
    // Sockets are not shut for reading: Linux resets a connection that
    // receives data after a read shutdown, which would destroy replies.
    let draining = Arc::downgrade(&ctx);
    shutdown.on_trigger(move || {
        if let Some(ctx) = draining.upgrade() {
            ctx.activity.start_draining();
        }
    });
    // Set UDP up before TCP starts accepting: TCP clients could otherwise
    // take the last file descriptors that UDP's poller needs.
    let udp = udp
        .map(|socket| UdpService::new(socket, &shutdown))
        .transpose()?;
    let tcp_thread = spawn_service(models::thread_name(ctx.config.model), &ctx, move |ctx| {
        // However TCP ends (an error, a panic), the admin endpoint below
        // stops waiting for it to accept.
        let _accepting = PullOnDrop(ctx.accepting.clone());
        models::run(tcp, ctx)
    })?;
    let udp_thread = match udp {
        Some(service) => Some(spawn_service("udp", &ctx, move |ctx| service.run(&ctx))?),
        None => None,
    };
    // The admin endpoint starts accepting once TCP has its threads and
    // pollers: a crowd of admin clients could otherwise take the file
    // descriptors a worker's poller needs, and the server would stop.
    crossbeam_channel::select! {
        recv(ctx.accepting.channel()) -> _ => {}
        recv(shutdown.channel()) -> _ => {}
    }
    let admin_thread = admin
        .map(|(listener, access)| admin::start(listener, &ctx, access))
        .transpose()?;
    shutdown.wait();
    log::info!("shutting down: answering the lines already received");
    // A grace period past the clock's range waits as long as it can.
    let now = Instant::now();
    let deadline = now
        .checked_add(ctx.config.shutdown_grace)
        .unwrap_or(now + Duration::from_secs(u32::MAX.into()));
    if !ctx.registry.wait_until_empty(deadline) {
        let open = ctx.registry.open_count();
        log::warn!(
            "{open} {} still open after {:?} (replies unread or the client not closing); cutting {}",
            if open == 1 { "connection" } else { "connections" },
            ctx.config.shutdown_grace,
            if open == 1 { "it" } else { "them" }
        );
        ctx.registry.close_all();
    }
    if let Some(admin) = admin_thread {
        admin.stop();
    }
    let tcp_result = join(tcp_thread);
    let udp_result = udp_thread.map_or(Ok(()), join);
    tcp_result.and(udp_result)?;
    Ok(ctx.stats.summary())
}

/// Pulls a switch when dropped, also when the thread holding it panics.
struct PullOnDrop(ShutdownSignal);

impl Drop for PullOnDrop {
    fn drop(&mut self) {
        self.0.trigger();
    }
}

/// Starts one side of the server on its own thread. If it ends with an
/// error, the error is logged and the whole server is shut down.
fn spawn_service(
    name: &str,
    ctx: &Arc<Context>,
    service: impl FnOnce(Arc<Context>) -> io::Result<()> + Send + 'static,
) -> io::Result<JoinHandle<io::Result<()>>> {
    let ctx = Arc::clone(ctx);
    let name_owned = name.to_string();
    thread::Builder::new().name(name.into()).spawn(move || {
        let shutdown = ctx.shutdown.clone();
        let result = service(ctx);
        if let Err(error) = &result {
            log::error!("{name_owned} service failed: {error}");
            shutdown.trigger();
        }
        result
    })
}

fn join(thread: JoinHandle<io::Result<()>>) -> io::Result<()> {
    thread
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("a server thread panicked")))
}
