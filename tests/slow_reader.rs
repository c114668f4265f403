//! `--idle-timeout` counts time without *progress*: a client that reads
//! its replies slowly, but steadily, is never cut as idle.

mod common;

use common::*;
use socket2::{Domain, Socket, Type};
use std::io::{Read, Write};
use std::thread;
use std::time::{Duration, Instant};

/// 8 MB of lines sent at once, replies read at about 2 MB/s through a
/// small receive buffer, against a 2-second idle timeout: the server is
/// stuck sending for seconds at a time, but the client takes bytes all the
/// while, so every reply arrives and the connection ends cleanly.
fn a_slow_but_steady_reader_gets_every_reply(model: &str) {
    let server = InProcess::start(model, |config| {
        config.idle_timeout = Some(Duration::from_secs(2))
    });
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    socket.connect(&server.tcp.into()).unwrap();
    let stream: std::net::TcpStream = socket.into();
    let line = b"a slow reader still makes progress, line after line\n";
    let lines = 8_000_000 / line.len();
    let mut writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        let batch = line.repeat(1000);
        for _ in 0..lines / 1000 {
            writer.write_all(&batch).unwrap();
        }
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut reader = &stream;
    reader.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut received = 0usize;
    let mut buf = vec![0u8; 20 * 1024];
    let started = Instant::now();
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                assert!(!buf[..n].windows(6).any(|w| w == b"error:"), "cut as idle");
                received += n;
            }
            Err(e) => panic!("after {received} bytes: {e}"),
        }
        // About 2 MB/s: 20 KB every 10 ms.
        thread::sleep(Duration::from_millis(10));
    }
    sender.join().unwrap();
    assert_eq!(received, lines / 1000 * 1000 * line.len());
    assert!(
        started.elapsed() > Duration::from_secs(2),
        "the reads were not slow"
    );
    let summary = server.stop();
    assert_eq!(summary.idle_timeouts, 0, "{summary:?}");
    assert_eq!(summary.lines, (lines / 1000 * 1000) as u64, "{summary:?}");
}

for_every_model!(a_slow_but_steady_reader_gets_every_reply);
