//! How many UDP replies one source network gets: a token bucket per /24
//! (IPv4) or /64 (IPv6), in a table of fixed size.
//!
//! A datagram's source address is whatever its sender wrote, so every reply
//! can be aimed at someone else: without a limit, one sender with a forged
//! address makes the server flood its victim. DNS servers answer this with
//! response rate limiting per source prefix (a /24 or /64 is one site, and a
//! victim's neighbours are the same victim); upcase does the same.
//!
//! Each bucket is one number, its theoretical arrival time (the generic cell
//! rate algorithm, the token bucket without a separate token count): a reply
//! is allowed while that time is less than a burst's worth ahead of now. A
//! bucket whose time has passed is full, so it is the same as no bucket:
//! such entries are free for reuse, and a flood of forged sources, each sent
//! once, only ever recycles entries that hold nothing. When every entry of a
//! set is in use (more busy source networks than the table holds), the
//! newcomers share one overflow bucket: memory stays fixed and the total
//! those sources get stays bounded, at the cost of fairness among them.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::Instant;

/// Entries the table is split into; a source network hashes to one set.
const SETS: usize = 1024;
/// Entries per set: a source network can take any free one of its set.
const WAYS: usize = 8;

/// One source network's bucket. `key == 0` is a free entry.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    key: u128,
    /// Nanoseconds since the limiter started at which the bucket is full.
    full_at: u64,
}

/// Replies per second per source network, with a burst of one second's worth.
#[derive(Debug)]
pub struct RateLimiter {
    /// Nanoseconds one reply costs.
    interval: u64,
    /// How far ahead of now a bucket's time may be and still allow a reply.
    tolerance: u64,
    exempt_loopback: bool,
    start: Instant,
    /// Keyed at random per process, so that nobody can pick sources that
    /// all land in one set.
    hasher: RandomState,
    entries: Box<[Entry]>,
    overflow: u64,
}

impl RateLimiter {
    /// A limiter allowing `per_second` replies (at least one) to each
    /// source network; loopback sources unlimited when `exempt_loopback`.
    pub fn new(per_second: u32, exempt_loopback: bool) -> RateLimiter {
        let per_second = u64::from(per_second.max(1));
        let interval = (1_000_000_000 / per_second).max(1);
        RateLimiter {
            interval,
            tolerance: interval * (per_second - 1),
            exempt_loopback,
            start: Instant::now(),
            hasher: RandomState::new(),
            entries: vec![Entry::default(); SETS * WAYS].into_boxed_slice(),
            overflow: 0,
        }
    }

    /// Whether a reply to `source` may go out at `now`; counts it if so.
    pub fn allow(&mut self, source: IpAddr, now: Instant) -> bool {
        let source = source.to_canonical();
        if self.exempt_loopback && source.is_loopback() {
            return true;
        }
        let now = self.nanos(now);
        let key = network_key(source);
        let set = (self.hasher.hash_one(key) as usize % SETS) * WAYS;
        let entries = &mut self.entries[set..set + WAYS];
        let slot = match entries.iter().position(|e| e.key == key) {
            Some(found) => Some(found),
            None => entries
                .iter()
                .position(|e| e.key == 0 || e.full_at <= now)
                .inspect(|&free| {
                    entries[free] = Entry { key, full_at: now };
                }),
        };
        let (interval, tolerance) = (self.interval, self.tolerance);
        let bucket = match slot {
            Some(slot) => &mut entries[slot].full_at,
            None => &mut self.overflow,
        };
        take(bucket, now, interval, tolerance)
    }

    /// Source networks with a bucket that is not full now (for tests).
    pub fn busy_networks(&self, now: Instant) -> usize {
        let now = self.nanos(now);
        self.entries
            .iter()
            .filter(|e| e.key != 0 && e.full_at > now)
            .count()
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX)
    }
}

/// The generic cell rate algorithm's test: allows one more reply, and
/// moves the bucket's time on, unless that time is more than `tolerance`
/// ahead of `now`.
fn take(full_at: &mut u64, now: u64, interval: u64, tolerance: u64) -> bool {
    let from = (*full_at).max(now);
    if from - now > tolerance {
        return false;
    }
    *full_at = from + interval;
    true
}

/// The network a source belongs to, as it is limited: its /24 or /64.
pub fn network(source: IpAddr) -> String {
    match source.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) >> 64 << 64;
            format!("{}/64", std::net::Ipv6Addr::from(prefix))
        }
    }
}

/// The table key of `source`'s network: never 0 (the low byte is the
/// family), and an IPv4 /24 never equals an IPv6 /64.
fn network_key(source: IpAddr) -> u128 {
    match source {
        IpAddr::V4(v4) => (u128::from(u32::from(v4) >> 8) << 8) | 4,
        IpAddr::V6(v6) => (u128::from(v6) >> 64 << 64) | 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// Replies allowed to `source` out of `count` asked for at `at`.
    fn allowed(limiter: &mut RateLimiter, source: &str, count: usize, at: Instant) -> usize {
        (0..count).filter(|_| limiter.allow(ip(source), at)).count()
    }

    #[test]
    fn a_source_gets_its_burst_then_its_rate() {
        let mut limiter = RateLimiter::new(100, true);
        let start = limiter.start;
        assert_eq!(allowed(&mut limiter, "192.0.2.1", 1000, start), 100);
        // A tenth of a second later, a tenth of a second's worth more.
        let later = start + Duration::from_millis(100);
        assert_eq!(allowed(&mut limiter, "192.0.2.1", 1000, later), 10);
        // A whole quiet second refills the bucket, and no more.
        let much_later = later + Duration::from_secs(5);
        assert_eq!(allowed(&mut limiter, "192.0.2.1", 1000, much_later), 100);
    }

    #[test]
    fn a_network_shares_one_bucket_and_its_neighbours_have_their_own() {
        let mut limiter = RateLimiter::new(10, true);
        let now = limiter.start;
        assert_eq!(allowed(&mut limiter, "192.0.2.1", 6, now), 6);
        assert_eq!(allowed(&mut limiter, "192.0.2.200", 6, now), 4);
        assert_eq!(allowed(&mut limiter, "192.0.3.1", 20, now), 10);
        assert_eq!(allowed(&mut limiter, "2001:db8:1:2::1", 6, now), 6);
        assert_eq!(allowed(&mut limiter, "2001:db8:1:2:ffff::9", 6, now), 4);
        assert_eq!(allowed(&mut limiter, "2001:db8:1:3::1", 20, now), 10);
        // An IPv4 client of a dual-stack socket is its IPv4 network.
        assert_eq!(allowed(&mut limiter, "::ffff:192.0.3.7", 1, now), 0);
    }

    #[test]
    fn loopback_is_exempt_only_when_asked() {
        let mut exempt = RateLimiter::new(1, true);
        let now = exempt.start;
        assert_eq!(allowed(&mut exempt, "127.0.0.1", 100, now), 100);
        assert_eq!(allowed(&mut exempt, "::1", 100, now), 100);
        assert_eq!(allowed(&mut exempt, "::ffff:127.0.0.1", 100, now), 100);
        let mut strict = RateLimiter::new(1, false);
        let now = strict.start;
        assert_eq!(allowed(&mut strict, "127.0.0.1", 100, now), 1);
    }

    #[test]
    fn forged_sources_neither_grow_the_table_nor_free_a_busy_victim() {
        let mut limiter = RateLimiter::new(10, true);
        let now = limiter.start;
        let size = std::mem::size_of_val(&*limiter.entries);
        assert_eq!(allowed(&mut limiter, "198.51.100.1", 100, now), 10);
        // A million datagrams from distinct forged /24s, all at once.
        for i in 0..1_000_000u32 {
            let source = IpAddr::from((i << 8).to_be_bytes());
            limiter.allow(source, now);
        }
        assert_eq!(std::mem::size_of_val(&*limiter.entries), size);
        assert!(limiter.busy_networks(now) <= SETS * WAYS);
        // The victim's bucket was busy, so it was never recycled.
        assert_eq!(allowed(&mut limiter, "198.51.100.1", 100, now), 0);
    }

    #[test]
    fn sources_past_a_full_set_share_the_overflow_bucket() {
        let mut limiter = RateLimiter::new(5, true);
        let now = limiter.start;
        let mut answered = 0;
        // Far more busy networks than entries: the ones without an entry
        // get five replies between them, not five each.
        for i in 0..(SETS * WAYS * 4) as u32 {
            let source = IpAddr::from(((i + 1) << 8).to_be_bytes());
            answered += allowed(&mut limiter, &source.to_string(), 5, now);
        }
        // The hash is keyed at random, so a set may (about once in 10,000
        // runs) be given fewer networks than it has ways: nearly full.
        let busy = limiter.busy_networks(now);
        assert!(
            (SETS * WAYS * 99 / 100..=SETS * WAYS).contains(&busy),
            "{busy}"
        );
        assert!(answered <= SETS * WAYS * 5 + 5, "{answered}");
    }

    #[test]
    fn networks_are_named_by_their_prefix() {
        assert_eq!(network(ip("192.0.2.77")), "192.0.2.0/24");
        assert_eq!(network(ip("2001:db8:1:2:3::4")), "2001:db8:1:2::/64");
        assert_eq!(network(ip("::ffff:10.1.2.3")), "10.1.2.0/24");
    }
}
