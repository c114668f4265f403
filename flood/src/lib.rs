//! `upcase-flood`, the library: many concurrent clients, every reply
//! checked byte for byte, and the teaching reports built on them. A
//! library (not only a binary) so its parts are unit-tested and reused by
//! the tests and the benchmark.
//!
//! The clients and their tally:
//! - [`payload`]: the lines sent and the replies expected;
//! - [`run`]: what every client shares (options, clock, deadline) and the
//!   one rule for what a timeout is;
//! - [`tally`]: what one client counted, and the rule for what counts;
//! - [`clients`]: one function per client kind (TCP ping-pong, pipelined,
//!   connect-per-line, UDP);
//! - [`flood`]: one run: probe, start the clients, merge their tallies;
//! - [`report`]: the merged result, judged and printed (or JSON);
//! - [`error`]: what can stop a run or a report, as types.
//!
//! The reports ([`reports`]): `bench` (upcase beside its peers and the
//! kernel's floor), `compare` (every model and carrier side by
//! side), `lab` (TCP and UDP under real packet loss), `soak` (every model
//! under good and hostile traffic), with [`server_process`] starting the
//! servers they measure.
//!
//! [`cli`] holds the flags (clap's definitions, which `gen-docs/` turns
//! into man pages) and the options they make; the binary runs them.

#![deny(rustdoc::broken_intra_doc_links)]

pub mod cli;
pub mod clients;
pub mod error;
pub mod flood;
pub mod payload;
pub mod report;
pub mod reports;
pub mod run;
pub mod server_process;
pub mod tally;
