//! Threads vs sockets: the same request/reply (a line, uppercased and sent
//! back, one in flight) carried four ways inside one process, so that only
//! the carrier differs:
//!
//! - a crossbeam channel between two threads (no kernel involved);
//! - a Unix domain socket pair (the kernel, but no network stack);
//! - TCP over loopback (the full TCP stack: reliable, ordered, a stream);
//! - UDP over loopback (the IP stack without TCP's reliability).
//!
//! It checks two lecture claims by measurement: "sockets are like
//! communicating between threads" (they are, at a price per message) and
//! "UDP is faster because it skips reliability".

use crate::payload::expected_uppercase;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

/// The cost of one request/reply over one carrier.
#[derive(Debug, Clone)]
pub struct TransportCost {
    /// What carried the messages.
    pub carrier: &'static str,
    /// Average nanoseconds per round trip.
    pub nanos_per_round_trip: f64,
}

impl TransportCost {
    /// Round trips per second.
    pub fn per_sec(&self) -> f64 {
        1e9 / self.nanos_per_round_trip.max(1e-9)
    }
}

const LINE: &[u8] = "the quick brown fox jumps over the lazy dog, straße 0123456789\n".as_bytes();

/// Measures every carrier with `round_trips` request/replies each.
pub fn measure_all(round_trips: u64) -> io::Result<Vec<TransportCost>> {
    Ok(vec![
        measure("crossbeam channel (threads)", round_trips, channel_pair)?,
        measure("unix domain socket", round_trips, unix_pair)?,
        measure("tcp loopback", round_trips, tcp_pair)?,
        measure("udp loopback", round_trips, udp_pair)?,
    ])
}

/// One side of a request/reply carrier: send a request, wait for the reply.
type Ask = Box<dyn FnMut(&[u8], &mut Vec<u8>) -> io::Result<()>>;

fn measure(
    carrier: &'static str,
    round_trips: u64,
    connect: fn() -> io::Result<Ask>,
) -> io::Result<TransportCost> {
    let mut ask = connect()?;
    let mut reply = Vec::with_capacity(256);
    let mut expected = Vec::new();
    expected_uppercase(LINE, &mut expected);
    for _ in 0..round_trips / 10 {
        ask(LINE, &mut reply)?; // warm-up
    }
    let started = Instant::now();
    for _ in 0..round_trips {
        ask(LINE, &mut reply)?;
    }
    let elapsed = started.elapsed();
    if reply != expected {
        return Err(io::Error::other(format!(
            "{carrier}: wrong reply {reply:?}"
        )));
    }
    Ok(TransportCost {
        carrier,
        nanos_per_round_trip: elapsed.as_nanos() as f64 / round_trips.max(1) as f64,
    })
}

fn channel_pair() -> io::Result<Ask> {
    let (to_server, requests) = crossbeam_channel::bounded::<Vec<u8>>(1);
    let (to_client, replies) = crossbeam_channel::bounded::<Vec<u8>>(1);
    thread::spawn(move || {
        for request in requests {
            let mut reply = Vec::with_capacity(request.len());
            expected_uppercase(&request, &mut reply);
            if to_client.send(reply).is_err() {
                break;
            }
        }
    });
    Ok(Box::new(move |line, reply| {
        to_server
            .send(line.to_vec())
            .map_err(|_| io::Error::other("server gone"))?;
        *reply = replies
            .recv()
            .map_err(|_| io::Error::other("server gone"))?;
        Ok(())
    }))
}

/// Serves one stream connection: read a line, write it uppercased.
fn echo_lines<S: io::Read + Write>(stream: S, mut writer: impl Write) {
    let mut reader = BufReader::new(stream);
    let (mut line, mut reply) = (Vec::new(), Vec::new());
    while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
        reply.clear();
        expected_uppercase(&line, &mut reply);
        if writer.write_all(&reply).is_err() {
            break;
        }
        line.clear();
    }
}

fn stream_asker<S: io::Read + Write + 'static>(client: S, reader: S) -> Ask {
    let mut client = client;
    let mut reader = BufReader::new(reader);
    Box::new(move |line, reply| {
        client.write_all(line)?;
        reply.clear();
        reader.read_until(b'\n', reply)?;
        Ok(())
    })
}

fn unix_pair() -> io::Result<Ask> {
    let (client, server) = UnixStream::pair()?;
    let server_writer = server.try_clone()?;
    thread::spawn(move || echo_lines(server, server_writer));
    let reader = client.try_clone()?;
    Ok(stream_asker(client, reader))
}

fn tcp_pair() -> io::Result<Ask> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let client = TcpStream::connect(listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let server_writer = server.try_clone()?;
    thread::spawn(move || echo_lines(server, server_writer));
    let reader = client.try_clone()?;
    Ok(stream_asker(client, reader))
}

fn udp_pair() -> io::Result<Ask> {
    let server = UdpSocket::bind("127.0.0.1:0")?;
    let client = UdpSocket::bind("127.0.0.1:0")?;
    client.connect(server.local_addr()?)?;
    client.set_read_timeout(Some(Duration::from_secs(5)))?;
    // The echo thread ends after 2 s without a datagram.
    server.set_read_timeout(Some(Duration::from_secs(2)))?;
    thread::spawn(move || {
        let (mut buf, mut reply) = (vec![0u8; 65536], Vec::new());
        while let Ok((n, from)) = server.recv_from(&mut buf) {
            reply.clear();
            expected_uppercase(&buf[..n], &mut reply);
            if server.send_to(&reply, from).is_err() {
                break;
            }
        }
    });
    let mut buf = vec![0u8; 65536];
    Ok(Box::new(move |line, reply| {
        client.send(line)?;
        let n = client.recv(&mut buf)?;
        reply.clear();
        reply.extend_from_slice(&buf[..n]);
        Ok(())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_carrier_answers_correctly() {
        let costs = measure_all(200).unwrap();
        assert_eq!(costs.len(), 4);
        for cost in costs {
            assert!(cost.nanos_per_round_trip > 0.0, "{cost:?}");
            assert!(cost.per_sec() > 0.0);
        }
    }
}
