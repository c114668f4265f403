//! TLS as a layer under the handlers: the same [`LineSession`] reads and
//! writes plaintext, and this turns it into records on the socket.
//!
//! [`TlsLayer`] is rustls's `ServerConnection` driven by hand over the
//! connection's own socket, so it works under both handlers: on a blocking
//! socket with its read and write timeouts (a timeout surfaces as
//! `WouldBlock`, exactly as a plain read's does, so `--idle-timeout` and
//! shutdown are noticed on the same ticks), and on a non-blocking socket
//! driven by readiness (`read_tls` / `process_new_packets` / `write_tls`,
//! as rustls's mio example does). The handshake is not a separate phase:
//! a read that needs the client's next flight simply has no plaintext yet,
//! so a client that never finishes it makes no progress and is closed at
//! the idle timeout, or when the server is full, like a quiet one.
//!
//! Ending: [`TlsLayer::close_notify`] queues TLS's own end-of-data alert
//! before the handler's usual clean close (FIN after the last reply).
//!
//! [`LineSession`]: super::session::LineSession

use super::is_timeout;
use crate::stats::{Handshake, Stats};
use rustls::ServerConnection;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

/// Plaintext taken per write: a few records, so a slow client's replies
/// wait in the handler's outbox (counted in the memory budget), not in
/// rustls's buffer.
const WRITE_CHUNK: usize = 16 * 1024;

/// One connection's TLS state.
pub struct TlsLayer {
    tls: ServerConnection,
    /// Whether the handshake's outcome has been counted.
    counted: bool,
    close_sent: bool,
}

impl TlsLayer {
    /// A server side waiting for the client's hello.
    pub fn new(config: Arc<rustls::ServerConfig>) -> io::Result<TlsLayer> {
        let tls = ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(TlsLayer {
            tls,
            counted: false,
            close_sent: false,
        })
    }

    /// Whether the handshake is still going on.
    pub fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    /// Reads plaintext into `buf`: `Ok(0)` at the end of the client's
    /// input (its `close_notify`, or the TCP connection's end); an error
    /// `is_timeout` when the socket has nothing more now.
    pub fn read(
        &mut self,
        mut socket: &TcpStream,
        buf: &mut [u8],
        stats: &Stats,
    ) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                // The TCP connection ended without close_notify: many
                // clients end so; the input ends there either way.
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(error) => return Err(error),
            }
            // The handshake's next flight (or an alert) goes out before
            // waiting for the client's.
            self.flush(socket)?;
            match self.tls.read_tls(&mut socket) {
                Ok(0) => {
                    self.count(stats, Handshake::Closed);
                    return Ok(0);
                }
                Ok(_) => self.process(socket, stats)?,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    if !is_timeout(&error) {
                        self.count(stats, Handshake::Closed);
                    }
                    return Err(error);
                }
            }
        }
    }

    fn process(&mut self, socket: &TcpStream, stats: &Stats) -> io::Result<()> {
        match self.tls.process_new_packets() {
            Ok(_) => {
                if !self.tls.is_handshaking() {
                    self.count(stats, Handshake::Ok);
                }
                Ok(())
            }
            Err(error) => {
                self.count(stats, failure(&error));
                // rustls has queued an alert saying why: best effort.
                let _ = self.flush(socket);
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("TLS: {error}"),
                ))
            }
        }
    }

    /// Counts the handshake's outcome once: a failure only while it is
    /// still going on.
    fn count(&mut self, stats: &Stats, outcome: Handshake) {
        if self.counted || (outcome != Handshake::Ok && !self.tls.is_handshaking()) {
            return;
        }
        self.counted = true;
        stats.handshake(outcome);
    }

    /// The connection ends with the handshake unfinished for a reason of
    /// the server's (idle timeout, shutdown, eviction): counted as a
    /// timeout, unless already counted.
    pub fn abandoned(&mut self, stats: &Stats) {
        self.count(stats, Handshake::Timeout);
    }

    /// Encrypts some of `bytes`, returning how much it took; an error
    /// `is_timeout` (nothing taken) while earlier records still wait for
    /// room on the socket.
    pub fn write(&mut self, socket: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
        if !self.flush(socket)? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let take = bytes.len().min(WRITE_CHUNK);
        let taken = self.tls.writer().write(&bytes[..take])?;
        if taken == 0 && take > 0 {
            // rustls's buffer is full (replies queued during the handshake).
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.flush(socket)?;
        Ok(taken)
    }

    /// Sends the records waiting; `Ok(false)` when the socket took not all
    /// of them (would block, or its write timeout passed).
    pub fn flush(&mut self, mut socket: &TcpStream) -> io::Result<bool> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut socket) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if is_timeout(&error) => return Ok(false),
                Err(error) => return Err(error),
            }
        }
        Ok(true)
    }

    /// Whether records wait for room on the socket.
    pub fn has_pending(&self) -> bool {
        self.tls.wants_write()
    }

    /// Queues `close_notify` (once) and sends what it can: `Ok(true)` once
    /// everything, the alert included, is on the socket.
    pub fn close_notify(&mut self, socket: &TcpStream) -> io::Result<bool> {
        if !std::mem::replace(&mut self.close_sent, true) {
            self.tls.send_close_notify();
        }
        self.flush(socket)
    }
}

/// The metric's reason for a handshake rustls refused.
fn failure(error: &rustls::Error) -> Handshake {
    match error {
        rustls::Error::AlertReceived(_) => Handshake::Alert,
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. }
        | rustls::Error::DecryptError => Handshake::BadMessage,
        rustls::Error::PeerIncompatible(_) => Handshake::Incompatible,
        _ => Handshake::Other,
    }
}

/// A connection's bytes as its handler sees them: the socket itself, or
/// plaintext through a [`TlsLayer`]. `Read` and `Write` for the blocking
/// handler (`BufReader` on top); the evented one calls the same methods.
pub enum Transport<'a> {
    /// Clear text.
    Plain(&'a TcpStream),
    /// TLS over the socket.
    Tls(&'a TcpStream, &'a mut TlsLayer, &'a Stats),
}

impl Read for Transport<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(mut socket) => socket.read(buf),
            Transport::Tls(socket, tls, stats) => tls.read(socket, buf, stats),
        }
    }
}

impl Write for Transport<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(mut socket) => socket.write(bytes),
            Transport::Tls(socket, tls, _) => tls.write(socket, bytes),
        }
    }

    /// Sends what TLS holds; a timeout error while some is left.
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(_) => Ok(()),
            Transport::Tls(socket, tls, _) => match tls.flush(socket)? {
                true => Ok(()),
                false => Err(io::ErrorKind::WouldBlock.into()),
            },
        }
    }
}
