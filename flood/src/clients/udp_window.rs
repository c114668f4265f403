//! The UDP flood client: up to `--pipeline` datagrams in flight, replies
//! matched by the sequence number they carry, loss and reordering counted.
//! An empty reply is an error, never an answer.

use crate::error::FloodError;
use crate::payload::{sequence_of, LineMaker};
use crate::run::{describe, is_timeout, RunState};
use crate::tally::Tally;
use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A datagram without a reply for this long is counted as lost.
pub const LOSS_TIMEOUT: Duration = Duration::from_millis(500);

/// How long one `recv` waits before the client looks at its clock again.
const POLL: Duration = Duration::from_millis(5);

/// A datagram unanswered this long no longer holds a send slot (it may
/// still be answered, until [`LOSS_TIMEOUT`]): a lost datagram must not
/// stall the sender for half a second, so UDP and TCP send counts compare
/// like with like.
const SLOT_TIMEOUT: Duration = Duration::from_millis(10);

fn open(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let local: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(addr)?;
    Ok(socket)
}

/// Checks that something answers on `addr` (a few tries, about 3 s).
pub fn probe(addr: SocketAddr) -> Result<(), FloodError> {
    let fail = |source| FloodError::Probe { addr, source };
    let socket = open(addr).map_err(fail)?;
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(fail)?;
    let mut buf = [0u8; 64];
    let mut empty = 0;
    for _ in 0..3 {
        match socket.send(b"probe") {
            // A local packet filter dropped it (nftables answers a drop in
            // the output hook with EPERM): a lost probe, as a network's.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => continue,
            Err(e) => return Err(fail(e)),
            Ok(_) => {}
        }
        match socket.recv(&mut buf) {
            // No answer: a proxy's word that its server is down.
            Ok(0) => empty += 1,
            Ok(_) => return Ok(()),
            Err(e) if is_timeout(&e) => {}
            Err(e) => return Err(fail(e)),
        }
    }
    Err(FloodError::NoReply { addr, empty })
}

/// Sends this client's datagrams and checks the replies.
pub fn client(id: usize, addr: SocketAddr, run: &RunState) -> Tally {
    let mut tally = Tally::new();
    let socket = match open(addr).and_then(|s| s.set_read_timeout(Some(POLL)).map(|()| s)) {
        Ok(socket) => socket,
        Err(error) => {
            tally.error(describe(id, "udp socket", &error));
            return tally;
        }
    };
    let window = run.options.pipeline.max(1);
    let mut in_flight: VecDeque<(u64, Instant)> = VecDeque::with_capacity(window);
    let mut buf = vec![0u8; 65536];
    let mut highest_seen: Option<u64> = None;
    let mut lines = LineMaker::new(id, run.options.line_bytes, run.options.text);
    let mut seq = 0;
    loop {
        while holding_slots(&in_flight) < window && run.should_send(seq) {
            let (datagram, _) = datagram_and_reply(&mut lines, seq);
            match socket.send(datagram) {
                Ok(_) => {
                    tally.sent += 1;
                    tally.bytes += datagram.len() as u64;
                    in_flight.push_back((seq, Instant::now()));
                }
                // The kernel's buffer is full, or a firewall rule on this
                // host dropped it (EPERM; the lab's packet loss): a loss,
                // counted (sent, never answered).
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock
                        || e.raw_os_error() == Some(libc::EPERM) =>
                {
                    tally.sent += 1;
                }
                Err(error) => {
                    tally.error(describe(id, "send", &error));
                    return tally;
                }
            }
            seq += 1;
        }
        if in_flight.is_empty() || run.past_deadline() {
            return tally;
        }
        match socket.recv(&mut buf) {
            Ok(n) => {
                let reply = &buf[..n];
                receive(
                    id,
                    reply,
                    run,
                    &mut lines,
                    &mut in_flight,
                    &mut highest_seen,
                    &mut tally,
                )
            }
            Err(e) if is_timeout(&e) => {}
            Err(error) => {
                tally.error(describe(id, "receive", &error));
                return tally;
            }
        }
        while in_flight
            .front()
            .is_some_and(|(_, sent)| sent.elapsed() >= LOSS_TIMEOUT)
        {
            in_flight.pop_front(); // lost: a late reply is ignored
        }
    }
}

/// How many datagrams in flight still hold a send slot (the recent ones).
fn holding_slots(in_flight: &VecDeque<(u64, Instant)>) -> usize {
    in_flight
        .iter()
        .rev()
        .take_while(|(_, sent)| sent.elapsed() < SLOT_TIMEOUT)
        .count()
}

/// The datagram for line `seq` and its expected reply: the line and
/// reply without their newlines (a datagram needs no terminator).
fn datagram_and_reply(lines: &mut LineMaker, seq: u64) -> (&[u8], &[u8]) {
    let (line, reply) = lines.make(seq);
    (&line[..line.len() - 1], &reply[..reply.len() - 1])
}

fn receive(
    id: usize,
    reply: &[u8],
    run: &RunState,
    lines: &mut LineMaker,
    in_flight: &mut VecDeque<(u64, Instant)>,
    highest_seen: &mut Option<u64>,
    tally: &mut Tally,
) {
    if reply.is_empty() {
        // Every datagram sent is non-empty and so is its uppercase: an
        // empty reply answers none of them (nginx sends one when the
        // server behind it is down). Its datagram stays unanswered.
        tally.error(format!(
            "client {id}: an empty reply, which answers no datagram (a proxy whose server is down?)"
        ));
        return;
    }
    let Some(seq) = sequence_of(reply, id) else {
        let want = b"<a reply carrying this client's sequence number>";
        run.record(tally, reply, want, 0);
        return;
    };
    // A reply to a datagram already counted lost (or a duplicate) is ignored.
    let Some(index) = in_flight.iter().position(|(s, _)| *s == seq) else {
        return;
    };
    let (_, sent) = in_flight.remove(index).unwrap_or((seq, Instant::now()));
    if highest_seen.is_some_and(|highest| seq < highest) {
        tally.reordered += 1;
    }
    *highest_seen = Some(highest_seen.map_or(seq, |h| h.max(seq)));
    let (_, expected) = datagram_and_reply(lines, seq);
    run.record(tally, reply, expected, sent.elapsed().as_micros() as u64);
}
