//! Many datagrams per system call: `recvmmsg(2)` in, `sendmmsg(2)` out.
//!
//! Why this exists: the UDP thread spends its time in the kernel, not in
//! uppercasing. Under load several datagrams are already queued each time
//! the thread wakes (about nine with four ping-pong clients on this
//! machine), and taking them one `recvfrom` at a time, then answering one
//! `sendto` at a time, pays a kernel entry and exit for every datagram
//! twice over. These two calls move the whole batch each way in one entry.
//!
//! Neither std nor mio offers them, so this is the crate's one module of
//! raw `libc` calls. The unsafe code is only the bookkeeping the kernel
//! asks for (arrays of headers pointing into our buffers, built fresh for
//! each call so they can never outlive what they point at); the tests
//! below check it against real sockets.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::ptr;

/// How many datagrams one call moves at most.
pub const BATCH: usize = 32;

/// Room for one datagram: any UDP payload (at most 65,527 bytes) fits, so
/// nothing is ever truncated. Pages the kernel never writes to are never
/// touched, so small datagrams keep the resident memory small.
const SLOT: usize = 64 * 1024;

/// A datagram's sender, kept in the kernel's own form so a reply can be
/// addressed to it without converting back and forth.
#[derive(Clone, Copy)]
pub struct Peer {
    address: libc::sockaddr_storage,
    length: libc::socklen_t,
}

impl Peer {
    fn empty() -> Peer {
        // SAFETY: sockaddr_storage is plain old data; all zeroes is valid.
        Peer {
            address: unsafe { mem::zeroed() },
            length: mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    /// The sender as a std address, for log lines.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        let storage = &self.address as *const libc::sockaddr_storage;
        match i32::from(self.address.ss_family) {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in,
                // and sockaddr_storage is aligned for every address type.
                let v4 = unsafe { &*(storage as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(v4.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: as above, for sockaddr_in6.
                let v6 = unsafe { &*(storage as *const libc::sockaddr_in6) };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(v6.sin6_addr.s6_addr),
                    u16::from_be(v6.sin6_port),
                    u32::from_be(v6.sin6_flowinfo),
                    v6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

/// Datagrams received in one call, with their senders.
pub struct Inbox {
    slots: Vec<u8>,
    lengths: [usize; BATCH],
    senders: [Peer; BATCH],
    count: usize,
}

impl Default for Inbox {
    fn default() -> Self {
        Inbox {
            // Zeroed allocation: the kernel maps pages only as they are written.
            slots: vec![0u8; BATCH * SLOT],
            lengths: [0; BATCH],
            senders: [Peer::empty(); BATCH],
            count: 0,
        }
    }
}

impl Inbox {
    /// Takes up to [`BATCH`] datagrams already queued on `socket`, without
    /// waiting. Returns how many; `WouldBlock` when none were queued.
    ///
    /// Fewer than [`BATCH`] means the queue ran dry during the call: on a
    /// non-blocking unconnected UDP socket the kernel stops early only at
    /// `EAGAIN` (other errors are reported by a call of their own).
    pub fn receive(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.count = 0;
        // SAFETY: iovec and mmsghdr are plain old data; zeroes are valid.
        let mut buffers: [libc::iovec; BATCH] = unsafe { mem::zeroed() };
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { mem::zeroed() };
        let base = self.slots.as_mut_ptr();
        for (slot, (buffer, header)) in buffers.iter_mut().zip(headers.iter_mut()).enumerate() {
            // SAFETY: slot * SLOT + SLOT <= slots.len(), so this stays in bounds.
            buffer.iov_base = unsafe { base.add(slot * SLOT) }.cast();
            buffer.iov_len = SLOT;
            let sender = &mut self.senders[slot];
            sender.length = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            header.msg_hdr.msg_name = (&mut sender.address as *mut libc::sockaddr_storage).cast();
            header.msg_hdr.msg_namelen = sender.length;
            header.msg_hdr.msg_iov = buffer;
            header.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at a live buffer and address of the
        // size it claims; all of them outlive the call.
        let received = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                ptr::null_mut(),
            )
        };
        if received < 0 {
            return Err(io::Error::last_os_error());
        }
        self.count = received as usize;
        for (slot, header) in headers.iter().take(self.count).enumerate() {
            self.lengths[slot] = header.msg_len as usize;
            self.senders[slot].length = header.msg_hdr.msg_namelen;
        }
        Ok(self.count)
    }

    /// How many datagrams the last [`receive`](Inbox::receive) took.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the last receive took nothing.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The payload of datagram `index` (< [`len`](Inbox::len)).
    pub fn payload(&self, index: usize) -> &[u8] {
        let start = index * SLOT;
        &self.slots[start..start + self.lengths[index]]
    }

    /// Who sent datagram `index`.
    pub fn sender(&self, index: usize) -> Peer {
        self.senders[index]
    }
}

/// Replies waiting to go out in one call, each to its own peer.
#[derive(Default)]
pub struct Outbox {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    peers: Vec<Peer>,
}

impl Outbox {
    /// Queues `reply` for `peer`. At most [`BATCH`] replies are queued
    /// between two sends.
    pub fn push(&mut self, peer: Peer, reply: &[u8]) {
        debug_assert!(self.peers.len() < BATCH, "send before queueing more");
        self.bytes.extend_from_slice(reply);
        self.ends.push(self.bytes.len());
        self.peers.push(peer);
    }

    /// Sends every queued reply, in order, and empties the box. `report`
    /// hears each reply's fate: `Ok(bytes sent)`, or the error that
    /// dropped it (a full send buffer drops a reply, as UDP may).
    pub fn send(
        &mut self,
        socket: &UdpSocket,
        mut report: impl FnMut(usize, Peer, io::Result<usize>),
    ) {
        let count = self.peers.len();
        // SAFETY: iovec and mmsghdr are plain old data; zeroes are valid.
        let mut buffers: [libc::iovec; BATCH] = unsafe { mem::zeroed() };
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { mem::zeroed() };
        let mut start = 0;
        for (index, (buffer, header)) in buffers
            .iter_mut()
            .zip(headers.iter_mut())
            .take(count)
            .enumerate()
        {
            let end = self.ends[index];
            buffer.iov_base = self.bytes[start..end].as_ptr() as *mut libc::c_void;
            buffer.iov_len = end - start;
            start = end;
            let peer = &mut self.peers[index];
            header.msg_hdr.msg_name = (&mut peer.address as *mut libc::sockaddr_storage).cast();
            header.msg_hdr.msg_namelen = peer.length;
            header.msg_hdr.msg_iov = buffer;
            header.msg_hdr.msg_iovlen = 1;
        }
        let mut next = 0;
        while next < count {
            // SAFETY: headers[next..count] point at live replies and peers
            // (the kernel only reads them) that outlive the call.
            let sent = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    headers[next..].as_mut_ptr(),
                    (count - next) as libc::c_uint,
                    0,
                )
            };
            if sent < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // The first unsent reply failed: report it, go on after it.
                report(next, self.peers[next], Err(error));
                next += 1;
                continue;
            }
            let done = &headers[next..next + sent as usize];
            for (index, header) in (next..).zip(done) {
                report(index, self.peers[index], Ok(header.msg_len as usize));
            }
            next += sent as usize;
        }
        self.bytes.clear();
        self.ends.clear();
        self.peers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pair() -> (UdpSocket, UdpSocket) {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(server.local_addr().unwrap()).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        (server, client)
    }

    #[test]
    fn an_empty_queue_would_block() {
        let (server, _client) = pair();
        let error = Inbox::default().receive(&server).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn queued_datagrams_arrive_whole_in_order_with_their_sender() {
        let (server, client) = pair();
        let sizes = [0usize, 1, 64, 1500, 65_507];
        for (index, &size) in sizes.iter().enumerate() {
            client.send(&vec![b'a' + index as u8; size]).unwrap();
        }
        let mut inbox = Inbox::default();
        let mut got = Vec::new();
        // Loopback queues all five at once; collect over calls regardless.
        while got.len() < sizes.len() {
            inbox.receive(&server).unwrap();
            for index in 0..inbox.len() {
                got.push(inbox.payload(index).to_vec());
                assert_eq!(
                    inbox.sender(index).socket_addr(),
                    Some(client.local_addr().unwrap())
                );
            }
        }
        for (index, &size) in sizes.iter().enumerate() {
            assert_eq!(got[index], vec![b'a' + index as u8; size]);
        }
    }

    #[test]
    fn a_full_batch_leaves_the_rest_for_the_next_call() {
        let (server, client) = pair();
        for seq in 0..BATCH + 3 {
            client.send(format!("{seq}").as_bytes()).unwrap();
        }
        let mut inbox = Inbox::default();
        assert_eq!(inbox.receive(&server).unwrap(), BATCH);
        assert_eq!(
            inbox.payload(BATCH - 1),
            format!("{}", BATCH - 1).as_bytes()
        );
        assert_eq!(inbox.receive(&server).unwrap(), 3);
        assert_eq!(inbox.payload(2), format!("{}", BATCH + 2).as_bytes());
    }

    #[test]
    fn replies_go_to_each_sender_in_one_send() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let clients: Vec<UdpSocket> = (0..3)
            .map(|_| {
                let client = UdpSocket::bind("127.0.0.1:0").unwrap();
                client.connect(server.local_addr().unwrap()).unwrap();
                client
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                client
            })
            .collect();
        for (index, client) in clients.iter().enumerate() {
            client.send(format!("from {index}").as_bytes()).unwrap();
        }
        let mut inbox = Inbox::default();
        let mut outbox = Outbox::default();
        let mut answered = 0;
        while answered < clients.len() {
            inbox.receive(&server).unwrap();
            for index in 0..inbox.len() {
                let reply = inbox.payload(index).to_ascii_uppercase();
                outbox.push(inbox.sender(index), &reply);
            }
            let mut reports = Vec::new();
            outbox.send(&server, |index, _, result| {
                reports.push((index, result.unwrap()))
            });
            assert_eq!(reports.len(), inbox.len());
            answered += inbox.len();
        }
        for (index, client) in clients.iter().enumerate() {
            let mut reply = [0u8; 64];
            let length = client.recv(&mut reply).unwrap();
            assert_eq!(&reply[..length], format!("FROM {index}").as_bytes());
        }
    }

    #[test]
    fn a_failed_reply_is_reported_and_the_rest_still_go() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
        listener
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        // Learn a Peer for `listener` by receiving from it.
        listener
            .send_to(b"hi", server.local_addr().unwrap())
            .unwrap();
        let mut inbox = Inbox::default();
        assert_eq!(inbox.receive(&server).unwrap(), 1);
        let peer = inbox.sender(0);
        let mut outbox = Outbox::default();
        outbox.push(peer, &vec![b'x'; 70_000]); // too big for any datagram: EMSGSIZE
        outbox.push(peer, b"after");
        let mut reports = Vec::new();
        outbox.send(&server, |index, _, result| {
            reports.push((index, result.map_err(|e| e.raw_os_error())))
        });
        assert_eq!(reports, vec![(0, Err(Some(libc::EMSGSIZE))), (1, Ok(5))]);
        let mut reply = [0u8; 16];
        let (length, _) = listener.recv_from(&mut reply).unwrap();
        assert_eq!(&reply[..length], b"after");
    }
}
