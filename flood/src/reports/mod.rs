//! The teaching reports built on the flood: each starts real servers
//! ([`crate::server_process`]), floods them, and writes what it measured.
//!
//! - [`mod@bench`]: upcase-server beside its peers and the kernel's floor
//!   (`scripts/bench.sh`);
//! - [`compare`]: every threading model and carrier side by side
//!   (`report.md`, `index.html`, SVG charts);
//! - [`lab`]: TCP and UDP under real packet loss between two network
//!   namespaces;
//! - [`soak`]: every model under good and hostile traffic, checked for
//!   wrong replies and leaks;
//! - [`chart`]: the SVG line charts they draw;
//! - `certificate`: the throwaway certificate of their TLS runs;
//! - [`transports`]: what a line costs over each carrier (threads vs
//!   sockets).

pub mod bench;
mod certificate;
pub mod chart;
pub mod compare;
pub mod lab;
pub mod soak;
pub mod transports;
