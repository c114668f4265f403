//! What a running server needs to know, independent of how it was asked.
//!
//! The command line ([`crate::cli::server`]) and the tests both build a
//! [`ServerConfig`]; the server never looks at flags or the environment.

use crate::codec::DEFAULT_MAX_LINE;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How TCP connections are mapped onto threads. See the README's
/// "Threading models" section for a diagram of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Model {
    /// The Rust Book's acceptor, channel and pool, but a worker parks a
    /// quiet connection on its own readiness poller instead of blocking on
    /// it, so idle clients hold no thread.
    #[default]
    Pool,
    /// nginx's shape: no acceptor, every worker's event loop accepts for
    /// itself and parks its connections on its own poller.
    EventLoops,
    /// The Rust Book's shape: a connection holds one worker for its whole life.
    FixedPool,
    /// One OS thread per connection.
    ThreadPerConnection,
    /// One thread serves one client at a time.
    Iterative,
}

impl Model {
    /// Every model, in the order the tools report them.
    pub const ALL: [Model; 5] = [
        Model::Pool,
        Model::EventLoops,
        Model::FixedPool,
        Model::ThreadPerConnection,
        Model::Iterative,
    ];

    /// The name used by `--model`.
    pub fn name(self) -> &'static str {
        match self {
            Model::Pool => "pool",
            Model::EventLoops => "event-loops",
            Model::FixedPool => "fixed-pool",
            Model::ThreadPerConnection => "thread-per-connection",
            Model::Iterative => "iterative",
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Model {
    type Err = UnknownModel;

    fn from_str(name: &str) -> Result<Model, UnknownModel> {
        Model::ALL
            .into_iter()
            .find(|model| model.name() == name)
            .ok_or_else(|| UnknownModel(name.to_string()))
    }
}

/// A `--model` name that is none of [`Model::ALL`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown model '{0}' (expected one of: {known})", known = known_models())]
pub struct UnknownModel(pub String);

fn known_models() -> String {
    let names: Vec<_> = Model::ALL.iter().map(|m| m.name()).collect();
    names.join(", ")
}

/// The default for `--max-connections-per-ip`.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 1000;

/// `--max-connections-per-ip`: how many connections one address may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerIpLimit {
    /// The limit; zero means none.
    pub max: usize,
    /// Whether loopback clients (this machine's own tools, a local
    /// balancer) are exempt: true for the default, false once set.
    pub exempt_loopback: bool,
}

impl PerIpLimit {
    /// The limit as set on the command line: applies to every address.
    pub fn set(max: usize) -> PerIpLimit {
        PerIpLimit {
            max,
            exempt_loopback: false,
        }
    }

    /// The limit that applies to a client at `ip` (`None`: unlimited).
    pub fn for_address(&self, ip: std::net::IpAddr) -> Option<usize> {
        if self.max == 0 || (self.exempt_loopback && ip.is_loopback()) {
            None
        } else {
            Some(self.max)
        }
    }
}

impl Default for PerIpLimit {
    /// [`DEFAULT_MAX_CONNECTIONS_PER_IP`] for every address but loopback.
    fn default() -> Self {
        PerIpLimit {
            max: DEFAULT_MAX_CONNECTIONS_PER_IP,
            exempt_loopback: true,
        }
    }
}

/// The default for `--udp-rate-limit`: replies per second to one source
/// network. An interactive client or a test sends far fewer; a reflection
/// flood aimed at one victim sends far more.
pub const DEFAULT_UDP_RATE_LIMIT: u32 = 1000;

/// The default for `--udp-max-amplification`: the bound QUIC puts on a
/// server before it has validated the client's address (RFC 9000, 8.1).
pub const DEFAULT_UDP_MAX_AMPLIFICATION: u32 = 3;

/// `--udp-rate-limit`: how many replies one source network gets per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRateLimit {
    /// Replies per second (and the burst allowed at once); zero means none.
    pub per_second: u32,
    /// Whether loopback sources (this machine's own tools) are exempt: a
    /// forged source address cannot come from outside on loopback.
    pub exempt_loopback: bool,
}

impl Default for UdpRateLimit {
    fn default() -> Self {
        UdpRateLimit {
            per_second: DEFAULT_UDP_RATE_LIMIT,
            exempt_loopback: true,
        }
    }
}

/// The server's settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The threading model for TCP.
    pub model: Model,
    /// Worker threads (or event loops) for `pool`, `fixed-pool` and `event-loops`.
    pub workers: usize,
    /// The longest line answered, in bytes (not counting its `\n`).
    pub max_line: usize,
    /// How long a connection may go without sending a complete line;
    /// `None` means forever.
    pub idle_timeout: Option<Duration>,
    /// The most TCP connections open at once.
    pub max_connections: usize,
    /// The most TCP connections open at once from one IP address, so that
    /// one client cannot take every place.
    pub max_connections_per_ip: PerIpLimit,
    /// How long a connection must have made no progress before a full
    /// server may close it to admit a newcomer
    /// ([`EVICTABLE_AFTER`](crate::registry::EVICTABLE_AFTER); the tests
    /// shorten it).
    pub evictable_after: Duration,
    /// The longest a serving thread looks for more work before it sleeps
    /// (see [`busy_poll`](crate::busy_poll)); zero never looks.
    pub busy_poll: Duration,
    /// How long a shutdown waits for replies to drain before cutting
    /// connections that do not read them.
    pub shutdown_grace: Duration,
    /// Replies per second to one UDP source network.
    pub udp_rate_limit: UdpRateLimit,
    /// The largest UDP reply, as a multiple of its request's size.
    pub udp_max_amplification: u32,
    /// The most bytes held on clients' behalf (see [`memory`](crate::memory));
    /// `None`: no budget.
    pub memory_budget: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            model: Model::default(),
            workers: num_cpus::get(),
            max_line: DEFAULT_MAX_LINE,
            idle_timeout: Some(Duration::from_secs(300)),
            max_connections: 10_000,
            max_connections_per_ip: PerIpLimit::default(),
            evictable_after: crate::registry::EVICTABLE_AFTER,
            busy_poll: crate::busy_poll::DEFAULT_MAX_WINDOW,
            shutdown_grace: Duration::from_secs(2),
            udp_rate_limit: UdpRateLimit::default(),
            udp_max_amplification: DEFAULT_UDP_MAX_AMPLIFICATION,
            memory_budget: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_round_trip() {
        for model in Model::ALL {
            assert_eq!(model.name().parse::<Model>(), Ok(model));
        }
        let error = "threads".parse::<Model>().unwrap_err();
        assert_eq!(error, UnknownModel("threads".into()));
        assert!(error.to_string().contains("fixed-pool"), "{error}");
    }
}
