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
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use upcase::config::{Model, ServerConfig};
use upcase::server;
use upcase::shutdown::ShutdownSignal;
use upcase::stats::Summary;

/// A server running on a thread of this test.
pub struct InProcess {
    pub tcp: SocketAddr,
    pub udp: SocketAddr,
    shutdown: ShutdownSignal,
    thread: Option<JoinHandle<io::Result<Summary>>>,
}

impl InProcess {
    /// The default configuration in `model`, adjusted by `adjust`, on
    /// free loopback ports (TCP and UDP).
    pub fn start(model: &str, adjust: impl FnOnce(&mut ServerConfig)) -> InProcess {
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
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (tcp_addr, udp_addr) = (listener.local_addr().unwrap(), udp.local_addr().unwrap());
        let shutdown = ShutdownSignal::new();
        let trigger = shutdown.clone();
        let thread = thread::Builder::new()
            .name("in-process server".into())
            .spawn(move || server::run(listener, Some(udp), config, trigger))
            .unwrap();
        // The listener is bound and listening before `run` starts, so a
        // connect succeeds at once: nothing to wait for.
        InProcess {
            tcp: tcp_addr,
            udp: udp_addr,
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
