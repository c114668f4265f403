//! The floor peer: not a server to run, an estimate of what the kernel
//! alone costs on this machine, so that `scripts/bench.sh` can say how close
//! each server is to the limit. One thread, raw level-triggered epoll; every
//! ready socket is read once and answered at once (ASCII uppercased in
//! place), UDP included (one `recvmmsg` of up to 64 datagrams per wake,
//! answered with one `sendmmsg`). No limits, no timeouts, no buffering of a
//! reply the socket will not take: a write that would block waits for the
//! socket (right for ping-pong and for a bulk client with a bounded window).
//! The one thing kept between reads is a character cut by a read's end
//! (at most 3 bytes per connection), so that Unicode is answered right.
//! Whatever a real server spends above this is its own cost.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::process::ExitCode;

/// Datagrams taken per `recvmmsg` and answered per `sendmmsg`.
const BATCH: usize = 64;
/// The epoll key of the listener and of the UDP socket (connections are
/// keyed by their descriptor, never this large).
const LISTENER: u64 = u64::MAX;
const UDP: u64 = u64::MAX - 1;

fn main() -> ExitCode {
    upcase_peers::finish("floor-epoll", serve().map_err(anyhow::Error::from))
}

fn serve() -> io::Result<()> {
    let (tcp, udp) = upcase_peers::addresses();
    let listener = TcpListener::bind(&tcp)?;
    let socket = UdpSocket::bind(&udp)?;
    println!("tcp listening on {}", listener.local_addr()?);
    println!("udp listening on {}", socket.local_addr()?);
    listener.set_nonblocking(true)?;
    socket.set_nonblocking(true)?;
    // SAFETY: epoll_create1 has no memory preconditions; the result is checked.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epoll < 0 {
        return Err(io::Error::last_os_error());
    }
    watch(epoll, listener.as_raw_fd(), LISTENER)?;
    watch(epoll, socket.as_raw_fd(), UDP)?;
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut input = vec![0u8; 64 * 1024];
    let mut reply = Vec::with_capacity(64 * 1024);
    let mut cut = Cut::default();
    let mut datagrams = Datagrams::new();
    loop {
        // SAFETY: the buffer holds events.len() entries.
        let ready =
            unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, -1) };
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        for event in &events[..ready as usize] {
            match event.u64 {
                LISTENER => accept_all(epoll, &listener),
                UDP => datagrams.answer(&socket),
                fd => answer(epoll, fd as RawFd, &mut input, &mut reply, &mut cut),
            }
        }
    }
}

/// Takes every connection waiting in the backlog.
fn accept_all(epoll: RawFd, listener: &TcpListener) {
    while let Ok((stream, _)) = listener.accept() {
        let ready = stream.set_nodelay(true).and(stream.set_nonblocking(true));
        let fd = stream.into_raw_fd();
        if ready.and_then(|()| watch(epoll, fd, fd as u64)).is_err() {
            // SAFETY: fd came from into_raw_fd and is owned here.
            unsafe { libc::close(fd) };
        }
    }
}

/// The bytes of a character a read cut in two, per connection (by descriptor).
#[derive(Default)]
struct Cut(Vec<Vec<u8>>);

impl Cut {
    fn of(&mut self, fd: RawFd) -> &mut Vec<u8> {
        let index = fd as usize;
        if self.0.len() <= index {
            self.0.resize_with(index + 1, Vec::new);
        }
        &mut self.0[index]
    }
}

/// Where the character cut by the end of `bytes` starts, if one is.
fn cut_at(bytes: &[u8]) -> Option<usize> {
    let from = bytes.len().saturating_sub(3);
    let start = (from..bytes.len()).rev().find(|&i| bytes[i] >= 0xC0)?;
    let wants = match bytes[start] {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    };
    (bytes.len() - start < wants).then_some(start)
}

/// One read of a ready connection, answered at once.
fn answer(epoll: RawFd, fd: RawFd, input: &mut [u8], reply: &mut Vec<u8>, cut: &mut Cut) {
    // SAFETY: fd is an open connection this loop owns; ManuallyDrop keeps
    // the borrow from closing it.
    let mut stream = std::mem::ManuallyDrop::new(unsafe { TcpStream::from_raw_fd(fd) });
    let held = cut.of(fd);
    let kept = held.len();
    input[..kept].copy_from_slice(held);
    held.clear();
    let done = match stream.read(&mut input[kept..]) {
        Ok(0) => true,
        Ok(n) => {
            let mut request = &mut input[..kept + n];
            if let Some(start) = cut_at(request) {
                held.extend_from_slice(&request[start..]);
                request = &mut request[..start];
            }
            let answer: &[u8] = if request.is_ascii() {
                request.make_ascii_uppercase();
                request
            } else {
                reply.clear();
                upcase_peers::upcase_into(request, reply);
                reply
            };
            write_waiting(&mut stream, answer).is_err()
        }
        Err(error) => !matches!(
            error.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
        ),
    };
    if done {
        held.clear();
        // SAFETY: fd is open and owned here; after this nothing uses it.
        unsafe {
            libc::epoll_ctl(epoll, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut());
            libc::close(fd);
        }
    }
}

/// Writes all of `data`, waiting (poll) whenever the socket is full.
fn write_waiting(stream: &mut TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match stream.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                let mut writable = libc::pollfd {
                    fd: stream.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut writable, 1, 1000) };
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Adds `fd` to the epoll set, readable, level-triggered.
fn watch(epoll: RawFd, fd: RawFd, key: u64) -> io::Result<()> {
    let mut event = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: key,
    };
    // SAFETY: event is a valid epoll_event for the duration of the call.
    if unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut event) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The buffers of one `recvmmsg` / `sendmmsg` round.
struct Datagrams {
    input: Vec<[u8; 65536]>,
    replies: Vec<Vec<u8>>,
    senders: Vec<libc::sockaddr_storage>,
}

impl Datagrams {
    fn new() -> Datagrams {
        Datagrams {
            input: vec![[0u8; 65536]; BATCH],
            replies: (0..BATCH).map(|_| Vec::with_capacity(2048)).collect(),
            // SAFETY: sockaddr_storage is plain data; all zeroes is valid.
            senders: vec![unsafe { std::mem::zeroed() }; BATCH],
        }
    }

    /// Takes what is queued (up to BATCH), answers each to its sender.
    fn answer(&mut self, socket: &UdpSocket) {
        let fd = socket.as_raw_fd();
        let mut iov: Vec<libc::iovec> = self
            .input
            .iter_mut()
            .map(|buf| libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            })
            .collect();
        let mut headers = self.headers(&mut iov);
        // SAFETY: every header points at a live buffer and address of this struct.
        let got = unsafe {
            libc::recvmmsg(
                fd,
                headers.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if got <= 0 {
            return;
        }
        let got = got as usize;
        for ((header, input), reply) in headers
            .iter()
            .zip(&self.input)
            .zip(&mut self.replies)
            .take(got)
        {
            reply.clear();
            upcase_peers::upcase_into(&input[..header.msg_len as usize], reply);
        }
        let mut iov: Vec<libc::iovec> = self.replies[..got]
            .iter_mut()
            .map(|reply| libc::iovec {
                iov_base: reply.as_mut_ptr().cast(),
                iov_len: reply.len(),
            })
            .collect();
        for (header, vector) in headers.iter_mut().zip(iov.iter_mut()) {
            header.msg_hdr.msg_iov = vector;
            header.msg_len = 0;
        }
        let mut sent = 0;
        while sent < got {
            // SAFETY: headers[sent..got] point at live replies and addresses.
            let n =
                unsafe { libc::sendmmsg(fd, headers[sent..].as_mut_ptr(), (got - sent) as u32, 0) };
            if n <= 0 {
                break;
            }
            sent += n as usize;
        }
    }

    /// One header per buffer, each with room for its sender's address.
    fn headers(&mut self, iov: &mut [libc::iovec]) -> Vec<libc::mmsghdr> {
        self.senders
            .iter_mut()
            .zip(iov.iter_mut())
            .map(|(sender, vector)| {
                // SAFETY: mmsghdr is plain data; all zeroes is valid.
                let mut header: libc::mmsghdr = unsafe { std::mem::zeroed() };
                header.msg_hdr.msg_name = (sender as *mut libc::sockaddr_storage).cast();
                header.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
                header.msg_hdr.msg_iov = vector;
                header.msg_hdr.msg_iovlen = 1;
                header
            })
            .collect()
    }
}
