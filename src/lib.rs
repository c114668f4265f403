//! # upcase
//!
//! A TCP + UDP "uppercase" service — the first network program of every
//! systems course — built the way the Rust Book's last chapter teaches (a
//! hand-built thread pool), hardened so it never crashes, loses a byte or
//! hangs, and instrumented to *show* how threading models compare.
//!
//! ## Map of the crate
//!
//! | module | why it exists |
//! | --- | --- |
//! | [`codec`] | the protocol as pure functions: bytes in, uppercase bytes out |
//! | [`thread_pool`] | the Book's `ThreadPool` / `Worker` / `Job`, bounded and panic-proof |
//! | [`recover`] | one rule for panics: caught and logged, the thread and its locks carry on |
//! | [`shutdown`] | the trigger passed into the server, so tests need no signals |
//! | [`registry`] | every open connection: limits and shutdown reach them all |
//! | [`tcp`] | the shared acceptor and the blocking and evented line handlers |
//! | [`models`] | the threading models `--model` chooses between ([`config::Model::ALL`]) |
//! | [`poller`] | a readiness poller the shutdown signal wakes |
//! | [`udp`] | the datagram service, one thread in every model, and the limits that keep it from being a reflector |
//! | [`busy_poll`] | look again for a few µs before sleeping, while that pays |
//! | [`server`] | wires it together: `run(tcp, udp, config, shutdown)` |
//! | [`net`] | opening sockets (explicit listen backlog) with clear errors |
//! | [`limits`] | the descriptor limit raised and checked at start-up |
//! | [`memory`] | the budget for what the server holds on clients' behalf |
//! | [`config`], [`context`], [`stats`], [`throttle`] | settings, shared state, totals, quiet logs |
//! | [`certificates`] | the `--tls` certificate and key, loaded, checked and reloaded; whom the clients trust |
//! | [`log_sink`] | logging that never blocks serving |
//! | [`activity`], [`admin`] | what the server is doing now: the `--admin` page, `/metrics`, `/stats.json` |
//! | [`process_stats`] | a process's memory, descriptors and threads (`/proc`) |
//! | [`client`] | `upcase-client`: the interactive and piped client |
//!
//! [`cli`] holds the programs' command lines: `upcase-server`'s flags,
//! inherited or opened sockets and signals, `upcase-client`'s flags, each
//! step returning an error type that says what went wrong (the binaries in
//! `src/bin/` call the steps in order and turn an error into one line and
//! an exit status, so the man pages and shell completions are generated
//! from the same definitions). The load generator and the
//! teaching reports (`upcase-flood`) are the workspace crate `flood/`; the
//! benchmark's peer servers are `peers/`.

#![deny(rustdoc::broken_intra_doc_links)]

pub mod activity;
pub mod admin;
pub mod busy_poll;
pub mod certificates;
pub mod cli;
pub mod client;
pub mod codec;
pub mod config;
pub mod context;
pub mod limits;
pub mod log_sink;
pub mod memory;
pub mod models;
pub mod net;
pub mod poller;
pub mod process_stats;
pub mod recover;
pub mod registry;
pub mod server;
pub mod shutdown;
pub mod stats;
pub mod tcp;
pub mod thread_pool;
pub mod throttle;
pub mod udp;
