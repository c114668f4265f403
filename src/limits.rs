//! What the process may use, read from the system at start-up: open file
//! descriptors now, so that a limit the server cannot live within is said
//! once at start instead of discovered as `EMFILE` under load.
//!
//! The soft `RLIMIT_NOFILE` is raised to the hard one first, as nginx's
//! `worker_rlimit_nofile` does: the soft limit (often 1024) is a default
//! for programs that never need more, not a policy for a server sized by
//! `--max-connections`. What the hard limit still cannot hold lowers
//! `--max-connections` ([`DescriptorLimit::fit`]).

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

    /// Fits `config` to this limit: when `--max-connections` would need
    /// more descriptors than the limit allows, it is lowered to what fits,
    /// and the warning to log is returned. Lowered, a full server is full
    /// by its own count, so the quiet-connection rule (see
    /// [`registry`](crate::registry)) still makes room for a newcomer;
    /// left as asked, accept would fail with `EMFILE` and a newcomer would
    /// wait in the listen backlog until some client leaves.
    pub fn fit(&self, config: &mut ServerConfig) -> Option<String> {
        let asked = config.max_connections;
        let needed = (asked as u64)
            .saturating_add(DESCRIPTOR_OVERHEAD)
            .saturating_add(2 * config.workers as u64);
        if needed <= self.soft {
            return None;
        }
        let fits = self.connections_that_fit(config.workers);
        config.max_connections = fits;
        Some(format!(
            "--max-connections {asked} needs about {needed} file descriptors, but the limit is {} \
             (hard limit {}): max-connections lowered to {fits}, so that a full server still \
             closes its quietest connection for a newcomer instead of failing to accept (EMFILE); \
             raise LimitNOFILE= (or ulimit -n) to serve more",
            self.soft, self.hard
        ))
    }

    /// Connections this limit can hold with `workers` workers: what the
    /// overhead leaves, less a tenth for connections told to leave that
    /// have not closed yet (the registry admits newcomers while they
    /// close), and at least one.
    fn connections_that_fit(&self, workers: usize) -> usize {
        let left = self
            .soft
            .saturating_sub(DESCRIPTOR_OVERHEAD)
            .saturating_sub(2 * workers as u64);
        usize::try_from(left * 10 / 11).unwrap_or(usize::MAX).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_connections_beyond_the_limit_is_lowered_to_what_fits_and_named_in_the_warning() {
        let limit = DescriptorLimit {
            soft: 1024,
            hard: 4096,
        };
        let mut config = ServerConfig {
            max_connections: 10_000,
            workers: 2,
            ..ServerConfig::default()
        };
        let warning = limit.fit(&mut config).expect("a warning");
        assert!(warning.contains("--max-connections 10000"), "{warning}");
        assert!(
            warning.contains("limit is 1024 (hard limit 4096)"),
            "{warning}"
        );
        // 1024 - 64 - 2 * 2 = 956 descriptors, a tenth kept for evictions.
        assert_eq!(config.max_connections, 869);
        assert!(warning.contains("lowered to 869"), "{warning}");
        let mut small = ServerConfig {
            max_connections: 100,
            workers: 2,
            ..ServerConfig::default()
        };
        assert_eq!(limit.fit(&mut small), None);
        assert_eq!(small.max_connections, 100);
    }

    #[test]
    fn a_limit_below_the_overhead_still_admits_one_connection() {
        let limit = DescriptorLimit { soft: 32, hard: 32 };
        let mut config = ServerConfig {
            max_connections: 10_000,
            workers: 64,
            ..ServerConfig::default()
        };
        assert!(limit.fit(&mut config).is_some());
        assert_eq!(config.max_connections, 1);
    }

    #[test]
    fn start_up_raises_the_soft_limit_to_the_hard_one() {
        let limit = DescriptorLimit::raise().expect("readable limits");
        assert_eq!(limit.soft, limit.hard);
    }
}
