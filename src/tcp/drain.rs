//! Closing a connection without destroying replies: the one close path for
//! every handler (and for refused connections).
//!
//! If a socket is closed while input it never read is still queued, the
//! kernel answers with a reset (RST) instead of a FIN, and a reset discards
//! the replies still waiting in *our* send queue: the client loses replies
//! the server counted as sent. So whenever the client may still be sending
//! (an error reply, a refusal, shutdown), the server:
//! 1. shuts its write half after the last reply (FIN: "no more replies");
//! 2. reads and discards what the client still sends, until the client has
//!    closed its side (its FIN arrived: the socket's TCP state says so) and
//!    has acknowledged every reply (the send queue, `SIOCOUTQ`, is empty),
//!    or until a grace period ends;
//! 3. only then closes.
//!
//! The grace period is bounded by *time*, not bytes: a client that keeps
//! sending forever is cut when it ends (and that is logged).
//!
//! Nothing ever shuts a socket's read half, not even at shutdown (Linux
//! resets a connection that receives data after a read shutdown, see
//! [`crate::server::run_with_admin`]): at shutdown the handlers just stop
//! reading lines and close through this drain like any other ending. A
//! read that returns end-of-file therefore means the client's FIN arrived;
//! the TCP state (`TCP_INFO`) confirms it, and the send queue (`SIOCOUTQ`)
//! says when every reply is acknowledged, which no read can tell.

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// How long a close waits for the client to finish sending and to
/// acknowledge the replies.
pub const DRAIN_GRACE: Duration = Duration::from_secs(3);

/// How often a blocking drain looks again while it waits for
/// acknowledgements (a read cannot wait for those).
const RECHECK: Duration = Duration::from_millis(5);

/// Where a drain stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Safe to close: the client ended its input and has every reply, or
    /// the connection is already broken.
    Done,
    /// Not yet: more input may come (wait until the socket is readable).
    AwaitingInput,
    /// Not yet, and no readiness event will say when: the client has
    /// closed its side but not acknowledged every reply. Look again
    /// shortly.
    Recheck,
}

/// Bytes sent on `socket` and not yet acknowledged by the peer.
pub fn unacknowledged(socket: &TcpStream) -> usize {
    let mut queued: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int through the pointer given.
    let result = unsafe { libc::ioctl(socket.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
    if result == 0 {
        usize::try_from(queued).unwrap_or(0)
    } else {
        0
    }
}

/// The kernel's TCP state of `socket` (`None` if it cannot be read).
fn tcp_info(socket: &TcpStream) -> Option<libc::tcp_info> {
    // SAFETY: tcp_info is plain data; getsockopt writes at most `len` bytes.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let result = libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        );
        (result == 0).then_some(info)
    }
}

/// The kernel's TCP states in which the peer may still send (Linux's
/// `include/net/tcp_states.h`; libc does not export them).
const TCP_ESTABLISHED: u8 = 1;
const TCP_FIN_WAIT1: u8 = 4;
const TCP_FIN_WAIT2: u8 = 5;

/// Whether the peer has sent its FIN (or the connection is gone), from
/// the kernel's TCP state: every state but the three in which it may
/// still send means it has closed (or never will send again).
pub fn peer_has_closed(socket: &TcpStream) -> bool {
    tcp_info(socket).is_none_or(|info| {
        !matches!(
            info.tcpi_state,
            TCP_ESTABLISHED | TCP_FIN_WAIT1 | TCP_FIN_WAIT2
        )
    })
}

/// Whether the peer sent no data at all on `socket`, from the kernel's
/// count (still readable after a reset). `fin_received`: the peer ended
/// with a FIN, which the count includes as one byte.
pub fn peer_sent_nothing(socket: &TcpStream, fin_received: bool) -> bool {
    tcp_info(socket).is_some_and(|info| info.tcpi_bytes_received <= u64::from(fin_received))
}

/// Sends FIN after the last reply. Call once, before [`discard_input`].
pub fn finish_replies(socket: &TcpStream) {
    let _ = socket.shutdown(Shutdown::Write);
}

/// Reads and discards what is readable now (a non-blocking socket stops
/// at would-block; a blocking one at its read timeout) and says whether it
/// is safe to close.
pub fn discard_input(mut socket: &TcpStream, scratch: &mut [u8]) -> Drain {
    loop {
        match socket.read(scratch) {
            Ok(0) if peer_has_closed(socket) && unacknowledged(socket) == 0 => return Drain::Done,
            Ok(0) => return Drain::Recheck,
            Ok(_) => continue,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) if super::is_timeout(&error) => return Drain::AwaitingInput,
            // Reset or otherwise broken: nothing left to protect.
            Err(_) => return Drain::Done,
        }
    }
}

/// The blocking form: finishes the replies, then drains until done or
/// [`DRAIN_GRACE`] passes. Returns whether it ended cleanly.
pub fn drain_before_close(socket: &TcpStream) -> bool {
    finish_replies(socket);
    let deadline = Instant::now() + DRAIN_GRACE;
    let mut scratch = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || socket.set_read_timeout(Some(left)).is_err() {
            return false;
        }
        match discard_input(socket, &mut scratch) {
            Drain::Done => return true,
            Drain::AwaitingInput => {}
            // Reads would return at once: wait a moment between looks.
            Drain::Recheck => std::thread::sleep(RECHECK.min(left)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    #[test]
    fn a_client_that_sent_more_still_gets_every_reply_and_a_fin() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        // The client sends more than the server will read...
        let writer = {
            let mut client = client.try_clone().unwrap();
            std::thread::spawn(move || {
                let chunk = vec![b'x'; 64 * 1024];
                for _ in 0..64 {
                    if client.write_all(&chunk).is_err() {
                        break;
                    }
                }
                let _ = client.shutdown(Shutdown::Write);
            })
        };
        // ...while the server sends its last replies and closes.
        server.write_all(&vec![b'R'; 200_000]).unwrap();
        let closer = std::thread::spawn(move || drain_before_close(&server));
        let mut replies = Vec::new();
        client.read_to_end(&mut replies).unwrap();
        assert_eq!(replies.len(), 200_000, "every reply, then a clean FIN");
        writer.join().unwrap();
        assert!(closer.join().unwrap());
    }
}
