//! One connection to the server, plain TCP or TLS, shared by the client's
//! writer thread and its reply reader.
//!
//! The client reads and writes from two threads ([`stream`](super::stream)
//! says why), and a TLS session is one state machine for both directions,
//! so both halves hold the same `rustls::ClientConnection` behind a mutex,
//! taken only to encrypt or decrypt, never across a socket call: a writer
//! blocked on a server that stopped reading cannot stall the reader. Only the writer
//! writes to the socket, so TLS records leave in the order they were made.
//!
//! The handshake is finished before either thread starts, so a certificate
//! the client does not trust is one clear error at connect time.

use crate::recover::lock;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a TLS connection needs: whom to trust, and which name the
/// server's certificate must carry.
#[derive(Debug, Clone)]
pub struct TlsClient {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
}

/// One half of a connection (the reader's or the writer's).
pub enum Link {
    Plain(TcpStream),
    Tls(TlsLink),
}

/// A TLS connection's half: the socket and the session both halves share.
pub struct TlsLink {
    socket: TcpStream,
    session: Arc<Mutex<ClientConnection>>,
    /// Bytes read from the socket that the session has not taken yet.
    raw: Vec<u8>,
    raw_start: usize,
}

/// The error kind a failed TLS handshake or a corrupt record is reported
/// with: not worth reconnecting for (the same certificate comes back).
pub const TLS_FAILURE: ErrorKind = ErrorKind::InvalidData;

/// A TLS session over `socket` (blocking), its handshake finished within
/// `patience` per read; the socket's read timeout is put back after. A
/// certificate refused or a corrupt record is a [`TLS_FAILURE`] naming why.
pub fn handshake(
    socket: &TcpStream,
    tls: &TlsClient,
    patience: Duration,
) -> io::Result<ClientConnection> {
    let mut session = ClientConnection::new(Arc::clone(&tls.config), tls.server_name.clone())
        .map_err(|e| io::Error::new(TLS_FAILURE, format!("TLS: {e}")))?;
    let tick = socket.read_timeout()?;
    socket.set_read_timeout(Some(patience))?;
    let mut io = socket;
    while session.is_handshaking() {
        session.complete_io(&mut io).map_err(|e| {
            if e.kind() == TLS_FAILURE {
                io::Error::new(TLS_FAILURE, format!("TLS handshake failed: {e}"))
            } else {
                e
            }
        })?;
    }
    socket.set_read_timeout(tick)?;
    Ok(session)
}

impl Link {
    /// Wraps a connected socket: as it is, or after a TLS handshake that
    /// may take up to `patience`. The socket's read timeout is kept.
    pub fn open(
        socket: TcpStream,
        tls: Option<&TlsClient>,
        patience: Duration,
    ) -> io::Result<Link> {
        let Some(tls) = tls else {
            return Ok(Link::Plain(socket));
        };
        let session = handshake(&socket, tls, patience)?;
        Ok(Link::Tls(TlsLink {
            socket,
            session: Arc::new(Mutex::new(session)),
            raw: Vec::new(),
            raw_start: 0,
        }))
    }

    /// The other half of the same connection.
    pub fn try_clone(&self) -> io::Result<Link> {
        Ok(match self {
            Link::Plain(socket) => Link::Plain(socket.try_clone()?),
            Link::Tls(tls) => Link::Tls(TlsLink {
                socket: tls.socket.try_clone()?,
                session: Arc::clone(&tls.session),
                raw: Vec::new(),
                raw_start: 0,
            }),
        })
    }

    /// Ends the sending direction: over TLS, `close_notify` first, so the
    /// server can tell the end of input from a cut connection.
    pub fn finish_sending(&mut self) {
        if let Link::Tls(tls) = self {
            lock(&tls.session).send_close_notify();
            let _ = tls.flush_records();
        }
        let _ = self.socket().shutdown(Shutdown::Write);
    }

    /// The TCP socket under the connection.
    pub fn socket(&self) -> &TcpStream {
        match self {
            Link::Plain(socket) => socket,
            Link::Tls(tls) => &tls.socket,
        }
    }
}

fn corrupt(error: rustls::Error) -> io::Error {
    io::Error::new(TLS_FAILURE, format!("TLS: {error}"))
}

impl TlsLink {
    /// Sends every record the session has ready (made under the lock,
    /// written without it).
    fn flush_records(&mut self) -> io::Result<()> {
        let mut records = Vec::new();
        {
            let mut session = lock(&self.session);
            while session.wants_write() {
                session.write_tls(&mut records)?;
            }
        }
        self.socket.write_all(&records)
    }
}

impl Read for TlsLink {
    /// Plaintext, as a socket would give it: `Ok(0)` at the server's end
    /// (with or without `close_notify`: the reply reader's own rules decide
    /// whether what came before was whole), the socket's timeout as
    /// `WouldBlock`/`TimedOut`.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let mut session = lock(&self.session);
                match session.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                if self.raw_start < self.raw.len() {
                    // Fed only while no plaintext waits, so the session's
                    // plaintext buffer has room.
                    let mut rest = &self.raw[self.raw_start..];
                    let taken = session.read_tls(&mut rest)?;
                    self.raw_start += taken;
                    session.process_new_packets().map_err(corrupt)?;
                    continue;
                }
            }
            self.raw.resize(64 * 1024, 0);
            self.raw_start = 0;
            let n = match self.socket.read(&mut self.raw) {
                Ok(n) => n,
                Err(e) => {
                    self.raw.clear();
                    return Err(e);
                }
            };
            self.raw.truncate(n);
            if n == 0 {
                let mut session = lock(&self.session);
                session.read_tls(&mut &[][..])?;
                session.process_new_packets().map_err(corrupt)?;
            }
        }
    }
}

impl Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Link::Plain(socket) => socket.read(buf),
            Link::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Link {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Link::Plain(socket) => socket.write(buf),
            Link::Tls(tls) => {
                // The session takes at most its buffer limit at a time.
                let taken = lock(&tls.session).writer().write(buf)?;
                tls.flush_records()?;
                Ok(taken)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Link::Plain(socket) => socket.flush(),
            Link::Tls(tls) => tls.flush_records(),
        }
    }
}
