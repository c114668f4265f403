//! The flood's clients, one module per transport and way of sending. Each
//! takes the shared [`RunState`](crate::run::RunState) and returns a
//! [`Tally`](crate::tally::Tally) per client; none imports the
//! orchestration that starts it.

pub mod ping_pong;
pub mod pipelined;
pub mod tcp;
pub mod udp;
