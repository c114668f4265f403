//! `upcase-flood`'s run: probe the server, open the idle connections,
//! start the clients (see [`crate::clients`]) in their threads, merge
//! their tallies into one [`Report`].
//!
//! Every run is bounded: by `--lines` per client or by `--duration`, and in
//! any case by `--timeout`, after which clients stop and what is missing is
//! counted as lost. Every blocking read has a timeout, so it never hangs.

use crate::clients::{connect, ping_pong, pipelined, thread_per_client, udp_window};
use crate::error::FloodError;
use crate::report::Report;
use crate::run::{Options, RunState, Target, REPLY_TIMEOUT};
use crate::tally::Tally;
use indicatif::{ProgressBar, ProgressStyle};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Floods the target as `options` say and reports what happened.
pub fn run(options: Options) -> Result<Report, FloodError> {
    let (transport, address) = (options.target.transport(), options.target.addr());
    match options.target {
        Target::Tcp(addr) => connect::probe(addr),
        Target::Udp(addr) => udp_window::probe(addr),
    }?;
    let idle = open_idle_connections(&options)?;
    let run = Arc::new(RunState::new(options.clone()));
    let progress = ProgressDisplay::start(&run);
    let groups = client_groups(&options);
    let threads: Vec<_> = groups
        .iter()
        .map(|ids| {
            let (run, ids) = (Arc::clone(&run), ids.clone());
            thread::Builder::new()
                .name(format!("clients-{}", ids[0]))
                .stack_size(256 * 1024)
                .spawn(move || clients(&ids, &run))
        })
        .collect();
    let mut tally = Tally::new();
    let mut per_client = Vec::with_capacity(options.clients.max(1));
    for (ids, spawned) in groups.iter().zip(threads) {
        let tallies = match spawned {
            Ok(thread) => thread.join().unwrap_or_else(|_| {
                ids.iter()
                    .map(|id| {
                        let mut t = Tally::new();
                        t.error(format!("client {id} panicked"));
                        t
                    })
                    .collect()
            }),
            Err(error) => ids
                .iter()
                .map(|id| {
                    let mut t = Tally::new();
                    t.error(format!("cannot start client {id}: {error}"));
                    t
                })
                .collect(),
        };
        for client in tallies {
            let client = run.finish(client);
            per_client.push(client.in_window);
            tally.merge(client);
        }
    }
    let seconds = run.started.elapsed().as_secs_f64();
    progress.finish();
    drop(idle);
    Ok(Report {
        transport,
        address: address.to_string(),
        mode: mode_name(&options),
        clients: options.clients.max(1),
        idle: options.idle,
        seconds,
        max_loss_pct: options.max_loss_pct,
        window: options.duration,
        per_client,
        tally,
    })
}

/// Whether the TCP clients are ping-pong clients driven from pollers,
/// several per thread (see `ping_pong.rs`).
fn evented_ping_pong(options: &Options) -> bool {
    matches!(options.target, Target::Tcp(_))
        && options.pipeline <= 1
        && !options.connect_per_line
        && !options.reconnect
}

/// Which clients share a thread: evented ping-pong clients are split in a
/// group per CPU (or per `--threads`); every other kind of client has a
/// thread of its own.
fn client_groups(options: &Options) -> Vec<Vec<usize>> {
    let clients = options.clients.max(1);
    if !evented_ping_pong(options) {
        return (0..clients).map(|id| vec![id]).collect();
    }
    let threads = options
        .threads
        .unwrap_or_else(num_cpus::get)
        .max(1)
        .min(clients);
    (0..threads)
        .map(|group| (group..clients).step_by(threads).collect())
        .collect()
}

/// Runs the clients `ids` on this thread; one tally each, in order.
fn clients(ids: &[usize], run: &RunState) -> Vec<Tally> {
    match run.options.target {
        Target::Tcp(addr) if evented_ping_pong(&run.options) => {
            ping_pong::ping_pong_group(ids, addr, run)
        }
        _ => ids.iter().map(|&id| client(id, run)).collect(),
    }
}

fn client(id: usize, run: &RunState) -> Tally {
    match run.options.target {
        Target::Tcp(addr) if run.options.connect_per_line => {
            thread_per_client::connect_per_line(id, addr, run)
        }
        Target::Tcp(addr) if run.options.pipeline > 1 => pipelined::pipelined(id, addr, run),
        Target::Tcp(addr) => thread_per_client::ping_pong(id, addr, run),
        Target::Udp(addr) => udp_window::client(id, addr, run),
    }
}

fn mode_name(options: &Options) -> String {
    let how = if options.connect_per_line {
        "connect-per-line".to_string()
    } else if options.pipeline > 1 {
        format!("pipeline {}", options.pipeline)
    } else {
        "ping-pong".to_string()
    };
    match options.duration {
        Some(d) => format!("{how}, {:.1} s", d.as_secs_f64()),
        None => format!("{how}, {} lines each", options.lines),
    }
}

/// Opens the `--idle` connections that sit silent through the run.
///
/// Each is aborted when dropped (`SO_LINGER` 0): they never carried a
/// line, and a normal close would leave each local port in TIME_WAIT for a
/// minute, so a few runs of thousands (`compare`'s idle section, in one
/// process) ran out of ephemeral ports (EADDRNOTAVAIL).
fn open_idle_connections(options: &Options) -> Result<Vec<TcpStream>, FloodError> {
    if options.idle == 0 {
        return Ok(Vec::new());
    }
    let addr = options.target.addr();
    (0..options.idle)
        .map(|i| {
            let stream = TcpStream::connect_timeout(&addr, REPLY_TIMEOUT).map_err(|source| {
                FloodError::Idle {
                    opened: i,
                    wanted: options.idle,
                    addr,
                    source,
                }
            })?;
            // Best effort: without it the close is only slower to recycle.
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            Ok(stream)
        })
        .collect()
}

/// A progress bar on stderr, fed from the shared reply counter.
struct ProgressDisplay {
    ticker: Option<(thread::JoinHandle<()>, Arc<std::sync::atomic::AtomicBool>)>,
}

impl ProgressDisplay {
    fn start(run: &Arc<RunState>) -> ProgressDisplay {
        if !run.options.progress {
            return ProgressDisplay { ticker: None };
        }
        let total = match run.options.duration {
            Some(_) => None,
            None => Some(run.options.lines * run.options.clients.max(1) as u64),
        };
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template(
                    "{bar:40} {human_pos}/{human_len} replies, {msg}, eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {human_pos} replies, {msg}, {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (run, stop) = (Arc::clone(run), Arc::clone(&done));
        let ticker = thread::spawn(move || {
            let started = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let replies = run.progress.load(Ordering::Relaxed);
                bar.set_position(replies);
                let rate = replies as f64 / started.elapsed().as_secs_f64().max(1e-3);
                bar.set_message(format!("{} replies/s", indicatif::HumanCount(rate as u64)));
                bar.tick();
                thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        ProgressDisplay {
            ticker: Some((ticker, done)),
        }
    }

    fn finish(self) {
        if let Some((ticker, done)) = self.ticker {
            done.store(true, Ordering::Relaxed);
            let _ = ticker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{SocketAddr, TcpListener, UdpSocket};

    #[test]
    fn idle_connections_are_aborted_not_left_in_time_wait() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let options = Options {
            target: Target::Tcp(listener.local_addr().unwrap()),
            idle: 3,
            ..Options::default()
        };
        let idle = open_idle_connections(&options).unwrap();
        assert_eq!(idle.len(), 3);
        for stream in &idle {
            let linger = socket2::SockRef::from(stream).linger().unwrap();
            assert_eq!(linger, Some(Duration::ZERO));
        }
    }

    #[test]
    fn threads_split_the_ping_pong_clients_into_that_many_groups() {
        let options = |threads| Options {
            clients: 6,
            threads,
            ..Options::default()
        };
        assert_eq!(
            client_groups(&options(Some(1))),
            vec![vec![0, 1, 2, 3, 4, 5]]
        );
        assert_eq!(
            client_groups(&options(Some(2))),
            vec![vec![0, 2, 4], vec![1, 3, 5]]
        );
        // More threads than clients: one client each.
        assert_eq!(client_groups(&options(Some(64))).len(), 6);
        // Clients that are not evented ping-pong keep a thread each.
        let pipelined = Options {
            pipeline: 8,
            ..options(Some(1))
        };
        assert_eq!(client_groups(&pipelined).len(), 6);
    }

    /// A TCP server that answers every line with the line itself: every
    /// reply arrives, and every one is wrong.
    fn echo_tcp_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        thread::spawn(move || {
            for stream in listener.incoming().take(200) {
                let Ok(stream) = stream else { continue };
                thread::spawn(move || {
                    let mut line = Vec::new();
                    let mut reader = BufReader::new(&stream);
                    while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                        if (&stream).write_all(&line).is_err() {
                            break;
                        }
                        line.clear();
                    }
                });
            }
        });
        address
    }

    /// The same over UDP: each datagram comes back unchanged (the probe too).
    fn echo_udp_server() -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = socket.local_addr().unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let _ = socket.send_to(&buf[..n], from);
            }
        });
        address
    }

    /// Every client kind against a server whose every reply is wrong: each
    /// reply is a mismatch, none is answered (in the timed window or at
    /// all), none is also lost. The connect-per-line, `--reconnect` and UDP
    /// clients used to count wrong replies as answered in the window.
    #[test]
    fn a_wrong_reply_is_never_answered_in_any_mode() {
        let (tcp, udp) = (echo_tcp_server(), echo_udp_server());
        type Adjust = fn(&mut Options);
        let modes: [(&str, Target, Adjust); 5] = [
            ("ping-pong", Target::Tcp(tcp), |_| {}),
            ("reconnect", Target::Tcp(tcp), |o| o.reconnect = true),
            ("connect-per-line", Target::Tcp(tcp), |o| {
                o.connect_per_line = true
            }),
            ("pipelined", Target::Tcp(tcp), |o| o.pipeline = 8),
            ("udp", Target::Udp(udp), |_| {}),
        ];
        for (mode, target, adjust) in modes {
            let mut options = Options {
                target,
                clients: 2,
                lines: 20,
                timeout: Duration::from_secs(20),
                ..Options::default()
            };
            adjust(&mut options);
            let report = run(options).unwrap();
            let t = &report.tally;
            assert_eq!(t.sent, 40, "{mode}");
            assert_eq!((t.ok, t.mismatches, t.lost), (0, 40, 0), "{mode}");
            assert_eq!(t.in_window, 0, "{mode}: wrong replies counted as answered");
            assert_eq!(report.per_client, [0, 0], "{mode}");
            assert!(!report.passed(), "{mode}");
        }
    }
}
