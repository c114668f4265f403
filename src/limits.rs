//! What the process may use, read from the system at start-up: open file
//! descriptors now, so that a limit the server cannot live within is said
//! once at start instead of discovered as `EMFILE` under load.
//!
//! The soft `RLIMIT_NOFILE` is raised to the hard one first, as nginx's
//! `worker_rlimit_nofile` does: the soft limit (often 1024) is a default
//! for programs that never need more, not a policy for a server sized by
//! `--max-connections`.

use crate::config::ServerConfig;

/// Descriptors the server needs besides one per connection: the
/// listeners, the UDP socket, each worker's poller and waker, the admin
/// endpoint and its clients, stdio, the log pipe; generous on purpose.
pub const DESCRIPTOR_OVERHEAD: u64 = 64;

/// The open-file limits after start-up raised the soft one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorLimit {
    /// The soft limit now in force.
    pub soft: u64,
    /// The hard limit (the most the soft one can be raised to).
    pub hard: u64,
}

impl DescriptorLimit {
    /// Raises the soft limit to the hard one and reads both back.
    pub fn raise() -> Option<DescriptorLimit> {
        crate::process_stats::raise_fd_limit();
        let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).ok()?;
        Some(DescriptorLimit { soft, hard })
    }

    /// The warning to give when `config` cannot be served within this
    /// limit, if it cannot.
    pub fn shortfall(&self, config: &ServerConfig) -> Option<String> {
        let needed = (config.max_connections as u64)
            .saturating_add(DESCRIPTOR_OVERHEAD)
            .saturating_add(2 * config.workers as u64);
        (needed > self.soft).then(|| {
            format!(
                "--max-connections {} needs about {needed} file descriptors, but the limit is {} \
                 (hard limit {}): past it, new connections wait in the backlog (EMFILE); \
                 raise LimitNOFILE= (or ulimit -n) or lower --max-connections",
                config.max_connections, self.soft, self.hard
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_below_max_connections_is_named_in_the_warning() {
        let limit = DescriptorLimit {
            soft: 1024,
            hard: 4096,
        };
        let config = ServerConfig {
            max_connections: 10_000,
            ..ServerConfig::default()
        };
        let warning = limit.shortfall(&config).expect("a warning");
        assert!(warning.contains("--max-connections 10000"), "{warning}");
        assert!(
            warning.contains("limit is 1024 (hard limit 4096)"),
            "{warning}"
        );
        let small = ServerConfig {
            max_connections: 100,
            workers: 2,
            ..ServerConfig::default()
        };
        assert_eq!(limit.shortfall(&small), None);
    }

    #[test]
    fn start_up_raises_the_soft_limit_to_the_hard_one() {
        let limit = DescriptorLimit::raise().expect("readable limits");
        assert_eq!(limit.soft, limit.hard);
    }
}
