//! The flood's clients, one module per way of sending. Each takes the
//! shared [`RunState`](crate::run::RunState) and returns a
//! [`Tally`](crate::tally::Tally) per client; none imports the
//! orchestration that starts it.
//!
//! - [`connect`]: the TCP connection (plain or TLS) every TCP client opens;
//! - [`ping_pong`]: one line in flight per connection, many clients per
//!   thread on a poller (the default);
//! - [`pipelined`]: up to `--pipeline` lines in flight on one connection;
//! - [`thread_per_client`]: a thread per client on blocking sockets:
//!   ping-pong with `--reconnect`, and `--connect-per-line`;
//! - [`udp_window`]: UDP, up to `--pipeline` datagrams in flight, loss and
//!   reordering counted.

pub mod connect;
pub mod ping_pong;
pub mod pipelined;
pub mod thread_per_client;
pub mod udp_window;
