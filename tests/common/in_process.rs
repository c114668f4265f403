//! An upcase server run inside the test process, through the seam the
//! server was built around: `server::run(listener, udp, config, shutdown)`
//! on a thread, stopped by pulling its [`ShutdownSignal`] (mini-redis's
//! `start_server`). No binary, no signals, no log scraping: the test gets
//! the returned [`Summary`] and can assert on it.
//!
//! Binary tests (`Server` in this module's parent) stay for what only a
//! process shows: signals, the command line, socket activation, the client.

use super::PATIENCE;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use upcase::admin::Access;
use upcase::certificates::Certificates;
use upcase::config::{Model, ServerConfig};
use upcase::server;
use upcase::shutdown::ShutdownSignal;
use upcase::stats::Summary;
use upcase::tcp::Listener;

/// A server running on a thread of this test.
pub struct InProcess {
    pub tcp: SocketAddr,
    pub udp: SocketAddr,
    /// The admin endpoint, when started with [`InProcess::start_with_admin`].
    pub admin: Option<SocketAddr>,
    /// The TLS listener, when started with [`InProcess::start_tls`].
    pub tls: Option<SocketAddr>,
    shutdown: ShutdownSignal,
    thread: Option<JoinHandle<io::Result<Summary>>>,
}

impl InProcess {
    /// The default configuration in `model`, adjusted by `adjust`, on
    /// free loopback ports (TCP and UDP).
    pub fn start(model: &str, adjust: impl FnOnce(&mut ServerConfig)) -> InProcess {
        InProcess::start_on(model, loopback_udp(), None, adjust)
    }

    /// Like [`InProcess::start`], also serving the admin endpoint on a
    /// free loopback port to the callers `access` lets in
    /// (`server::run_with_admin`).
    pub fn start_with_admin(
        model: &str,
        access: Access,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> InProcess {
        InProcess::start_on(model, loopback_udp(), Some(access), adjust)
    }

    /// The general case: UDP served on `udp` (a socket the test bound as
    /// it needs), the admin endpoint with `access` if given.
    pub fn start_on(
        model: &str,
        udp: UdpSocket,
        access: Option<Access>,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> InProcess {
        InProcess::launch(model, udp, None, access, adjust)
    }

    /// Like [`InProcess::start_on`] on a free UDP port, also serving
    /// lines over TLS with the pair `cert`, `key` on a free loopback port
    /// (what `--tls` adds).
    pub fn start_tls(
        model: &str,
        (cert, key): (&Path, &Path),
        access: Option<Access>,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> InProcess {
        let certificates = Certificates::load(cert, key).expect("a usable certificate pair");
        InProcess::launch(model, loopback_udp(), Some(certificates), access, adjust)
    }

    fn launch(
        model: &str,
        udp: UdpSocket,
        tls: Option<Arc<Certificates>>,
        access: Option<Access>,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> InProcess {
        let mut config = ServerConfig {
            model: model.parse::<Model>().expect("a model name"),
            ..ServerConfig::default()
        };
        adjust(&mut config);
        // The server's log, captured by the test harness: shown when a test fails.
        let _ = env_logger::builder()
            .is_test(true)
            .parse_env(env_logger::Env::default().default_filter_or("debug"))
            .try_init();
        // The binary's backlog (std's 128 would drop SYNs from a burst of
        // connects, each retried a second or more later).
        let listen = || {
            upcase::net::listen_tcp("127.0.0.1:0", upcase::net::system_max_backlog(), false)
                .expect("listen on a loopback port")
        };
        let listener = listen();
        let (tcp_addr, udp_addr) = (listener.local_addr().unwrap(), udp.local_addr().unwrap());
        let mut tcp = vec![Listener::plain(listener)];
        let mut tls_addr = None;
        if let Some(certificates) = tls {
            let socket = listen();
            tls_addr = Some(socket.local_addr().unwrap());
            tcp.push(Listener::tls(socket, certificates));
        }
        let admin = access.map(|access| (TcpListener::bind("127.0.0.1:0").unwrap(), access));
        let admin_addr = admin.as_ref().map(|(admin, _)| admin.local_addr().unwrap());
        let shutdown = ShutdownSignal::new();
        let trigger = shutdown.clone();
        let thread = thread::Builder::new()
            .name("in-process server".into())
            .spawn(move || server::run_with_admin(tcp, Some(udp), admin, config, trigger))
            .unwrap();
        // The listeners are bound and listening before `run` starts, so a
        // connect succeeds at once: nothing to wait for.
        InProcess {
            tcp: tcp_addr,
            udp: udp_addr,
            admin: admin_addr,
            tls: tls_addr,
            shutdown,
            thread: Some(thread),
        }
    }

    /// `model` with its defaults.
    pub fn start_model(model: &str) -> InProcess {
        InProcess::start(model, |_| {})
    }

    /// A new client connection with bounded reads.
    pub fn connect(&self) -> TcpStream {
        super::connect_to(self.tcp)
    }

    /// A UDP socket connected to the server, with bounded reads.
    pub fn udp_client(&self) -> UdpSocket {
        super::udp_client_of(self.udp, PATIENCE)
    }

    /// The admin endpoint's address (started with
    /// [`InProcess::start_with_admin`]).
    pub fn admin(&self) -> SocketAddr {
        self.admin.expect("started with an admin endpoint")
    }

    /// `/stats.json` from the admin endpoint.
    pub fn stats(&self) -> serde_json::Value {
        super::stats_json(self.admin())
    }

    /// Polls `/stats.json` until `check` holds (bounded by [`PATIENCE`])
    /// and returns the last one read.
    pub fn stats_until(&self, check: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let stats = self.stats();
            if check(&stats) || Instant::now() > deadline {
                return stats;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts the shutdown (what a signal does) without waiting for it:
    /// the drain can then be watched; [`InProcess::stop`] ends it.
    pub fn trigger(&self) {
        self.shutdown.trigger();
    }

    /// Pulls the trigger and returns the server's totals once every
    /// thread has been joined (bounded by [`PATIENCE`]).
    pub fn stop(mut self) -> Summary {
        self.shutdown.trigger();
        let thread = self.thread.take().unwrap();
        let deadline = Instant::now() + PATIENCE;
        while !thread.is_finished() {
            assert!(
                Instant::now() < deadline,
                "the server did not stop within {PATIENCE:?}"
            );
            thread::sleep(Duration::from_millis(5));
        }
        thread
            .join()
            .expect("the server thread panicked")
            .expect("the server failed")
    }
}

/// A UDP socket on a free loopback port.
fn loopback_udp() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("bind a loopback UDP port")
}

impl Drop for InProcess {
    fn drop(&mut self) {
        // A test that failed midway still stops its server; one that hangs
        // is left behind rather than hanging the test binary.
        self.shutdown.trigger();
        if let Some(thread) = self.thread.take() {
            let deadline = Instant::now() + PATIENCE;
            while !thread.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}
