//! The memory budget: one server-wide bound on what the server holds on
//! its clients' behalf, so that many clients together cannot make an
//! allocation fail (Rust aborts the whole process when one does, and glibc
//! aborts a thread start it cannot allocate for).
//!
//! Each connection is bounded on its own (one read's replies, one
//! `--max-line` partial line), but nothing else bounds the sum: 10,000
//! clients that never read their replies would hold ~1.4 GB. So what can
//! grow with the number of clients is taken from a [`MemoryBudget`]
//! *before* it is allocated:
//! - admitting a connection takes its fixed cost (its thread's stack and
//!   buffers in the blocking models, its state in the evented ones); at
//!   the budget the newcomer gets the usual `error: too many connections`;
//! - before each read, a connection takes what the read may make it hold
//!   (the replies it cannot send yet, its partial line) and gives back
//!   what it did not need once the replies are sent; when that does not
//!   fit, it reads less, then not at all until memory is given back: the
//!   clients holding the most are the ones no longer read.
//!
//! Either way the registry is asked to close the connection that has made
//! no progress for longest (a client that does not read its replies holds
//! memory and makes none), so a full budget, like a full server, still
//! serves a fresh client.
//!
//! The default budget is derived from the process's memory limit, if one
//! is set (`RLIMIT_AS`, cgroup v2 `memory.max`): half of what the limit
//! leaves at start-up, the other half being slack for what is not counted
//! (allocator overhead, the log queue, UDP). With no limit there is no
//! budget, and nothing is counted (no atomic on the hot path).

use crate::config::Model;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// The server-wide memory budget.
#[derive(Debug)]
pub struct MemoryBudget {
    /// The most bytes held at once; `None`: unbounded and not counted.
    limit: Option<usize>,
    used: AtomicUsize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes (`None`: no budget).
    pub fn new(limit: Option<usize>) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// The budget in bytes, if there is one.
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// Bytes held now (zero when there is no budget: nothing is counted).
    pub fn used(&self) -> usize {
        self.used.load(Relaxed)
    }

    /// Takes `bytes` if they fit; with no budget, always.
    fn try_take(&self, bytes: usize) -> bool {
        let Some(limit) = self.limit else {
            return true;
        };
        self.used
            .fetch_update(Relaxed, Relaxed, |used| {
                used.checked_add(bytes).filter(|&after| after <= limit)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        if self.limit.is_some() && bytes > 0 {
            self.used.fetch_sub(bytes, Relaxed);
        }
    }
}

/// What an evented connection costs while open: its state, its place in
/// the registry and on a poller (its buffers are counted as they grow).
pub const EVENTED_CONNECTION: usize = 1024;

/// Guard page and thread bookkeeping beside a thread's stack.
const THREAD_OVERHEAD: usize = 16 * 1024;

/// What admitting one connection takes from the budget under `model`.
pub fn connection_cost(model: Model) -> usize {
    let blocking = crate::tcp::blocking::BUFFER + EVENTED_CONNECTION;
    match model {
        Model::ThreadPerConnection => {
            blocking + crate::models::thread_per_connection::STACK_SIZE + THREAD_OVERHEAD
        }
        Model::FixedPool | Model::Iterative => blocking,
        _ => EVENTED_CONNECTION,
    }
}

/// Bytes taken from a [`MemoryBudget`] on one owner's behalf, given back
/// when it is dropped.
#[derive(Debug)]
pub struct Held {
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

impl Held {
    /// Holds nothing yet.
    pub fn none(budget: &Arc<MemoryBudget>) -> Held {
        Held {
            budget: Arc::clone(budget),
            bytes: 0,
        }
    }

    /// Takes `bytes` from `budget`, if they fit.
    pub fn take(budget: &Arc<MemoryBudget>, bytes: usize) -> Option<Held> {
        budget.try_take(bytes).then(|| Held {
            budget: Arc::clone(budget),
            bytes,
        })
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Grows the holding to at least `bytes`; returns whether it is.
    pub fn ensure(&mut self, bytes: usize) -> bool {
        if bytes <= self.bytes {
            return true;
        }
        if !self.budget.try_take(bytes - self.bytes) {
            return false;
        }
        self.bytes = bytes;
        true
    }

    /// Sets the holding to what is really held now, `bytes` (which the
    /// caller took with [`ensure`](Self::ensure) beforehand): gives the
    /// rest back. Holding more than was ensured is a caller's bug; it is
    /// counted anyway so the books stay right.
    pub fn settle(&mut self, bytes: usize) {
        if bytes < self.bytes {
            self.budget.give_back(self.bytes - bytes);
        } else if bytes > self.bytes && self.budget.limit.is_some() {
            self.budget.used.fetch_add(bytes - self.bytes, Relaxed);
        }
        self.bytes = bytes;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

/// The process's memory limit, if one is set: the lower of the soft
/// `RLIMIT_AS` and the cgroup v2 `memory.max` of this process's cgroup and
/// its ancestors, each less what is already used of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimit {
    /// Which limit it is, for the start-up line.
    pub source: &'static str,
    /// The limit, in bytes.
    pub limit: u64,
    /// What the limit leaves at start-up, in bytes.
    pub available: u64,
}

impl MemoryLimit {
    /// Reads the limits in force now.
    pub fn current() -> Option<MemoryLimit> {
        [address_space_limit(), cgroup_limit()]
            .into_iter()
            .flatten()
            .min_by_key(|limit| limit.available)
    }

    /// The default budget under this limit: half of what it leaves.
    pub fn default_budget(&self) -> usize {
        usize::try_from(self.available / 2).unwrap_or(usize::MAX)
    }
}

/// `RLIMIT_AS`, less the address space mapped now (`VmSize`).
fn address_space_limit() -> Option<MemoryLimit> {
    let (soft, _) = rlimit::getrlimit(rlimit::Resource::AS).ok()?;
    if soft == rlimit::INFINITY {
        return None;
    }
    let mapped = procfs::process::Process::myself()
        .ok()?
        .status()
        .ok()?
        .vmsize
        .unwrap_or(0)
        * 1024;
    Some(MemoryLimit {
        source: "RLIMIT_AS",
        limit: soft,
        available: soft.saturating_sub(mapped),
    })
}

/// The tightest cgroup v2 `memory.max` from this process's cgroup up to
/// the root, less that cgroup's `memory.current`.
fn cgroup_limit() -> Option<MemoryLimit> {
    let membership = fs::read_to_string("/proc/self/cgroup").ok()?;
    let relative = membership
        .lines()
        .find_map(|line| line.strip_prefix("0::"))?;
    let root = Path::new("/sys/fs/cgroup");
    let mut dir: PathBuf = root.join(relative.trim_start_matches('/'));
    let mut tightest: Option<MemoryLimit> = None;
    while dir.starts_with(root) {
        let max = read_number(&dir.join("memory.max"));
        let current = read_number(&dir.join("memory.current"));
        if let (Some(max), Some(current)) = (max, current) {
            let here = MemoryLimit {
                source: "cgroup memory.max",
                limit: max,
                available: max.saturating_sub(current),
            };
            if tightest.is_none_or(|t| here.available < t.available) {
                tightest = Some(here);
            }
        }
        if !dir.pop() {
            break;
        }
    }
    tightest
}

/// A cgroup file holding a number (`max` and anything else: `None`).
fn read_number(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// With an address-space limit, glibc's per-thread malloc arenas (64 MiB
/// of address space reserved each, up to eight per CPU) would take most
/// of it before any client arrives; one arena keeps the address space for
/// data. Call first thing in `main`, before any thread starts.
pub fn fit_allocator_to_address_space_limit() {
    let limited =
        rlimit::getrlimit(rlimit::Resource::AS).is_ok_and(|(soft, _)| soft != rlimit::INFINITY);
    if limited {
        // SAFETY: mallopt only changes the allocator's tuning; called
        // before other threads exist.
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

/// Parses a byte count with an optional binary suffix: `65536`, `64K`,
/// `256M`, `2G` (also `KiB`, `MiB`, `GiB`).
pub fn parse_bytes(text: &str) -> Result<usize, ByteCountError> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, suffix) = trimmed.split_at(split);
    let scale: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        other => return Err(ByteCountError::UnknownUnit(other.to_string())),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| ByteCountError::NotANumber(text.to_string()))?;
    number
        .checked_mul(scale)
        .and_then(|bytes| usize::try_from(bytes).ok())
        .ok_or_else(|| ByteCountError::TooLarge(text.to_string()))
}

/// Why a text is no byte count ([`parse_bytes`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ByteCountError {
    /// The suffix is not K, M or G (or KiB, MiB, GiB).
    #[error("unknown unit '{0}' (expected K, M or G)")]
    UnknownUnit(String),
    /// No digits before the unit.
    #[error("'{0}' is not a byte count (e.g. 65536, 64K, 256M)")]
    NotANumber(String),
    /// More bytes than this machine can count.
    #[error("'{0}' is too large")]
    TooLarge(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holdings_never_exceed_the_budget_and_are_given_back() {
        let budget = MemoryBudget::new(Some(1000));
        let mut first = Held::take(&budget, 600).unwrap();
        assert!(Held::take(&budget, 500).is_none());
        let mut second = Held::none(&budget);
        assert!(second.ensure(400));
        assert!(!second.ensure(401));
        assert_eq!(budget.used(), 1000);
        second.settle(100);
        first.settle(0);
        assert_eq!(budget.used(), 100);
        drop(second);
        drop(first);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn no_budget_takes_anything_and_counts_nothing() {
        let budget = MemoryBudget::new(None);
        let mut held = Held::take(&budget, usize::MAX).unwrap();
        assert!(held.ensure(usize::MAX));
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn byte_counts_take_binary_suffixes() {
        assert_eq!(parse_bytes("65536"), Ok(65536));
        assert_eq!(parse_bytes("64K"), Ok(64 << 10));
        assert_eq!(parse_bytes("256MiB"), Ok(256 << 20));
        assert_eq!(parse_bytes("2g"), Ok(2 << 30));
        assert_eq!(
            parse_bytes("12 parsecs"),
            Err(ByteCountError::UnknownUnit("parsecs".into()))
        );
        assert_eq!(
            parse_bytes("99999999999999999999G"),
            Err(ByteCountError::NotANumber("99999999999999999999G".into()))
        );
        assert_eq!(
            parse_bytes("99999999999G"),
            Err(ByteCountError::TooLarge("99999999999G".into()))
        );
    }

    #[test]
    fn the_memory_limit_is_read_without_failing() {
        // Whatever this machine sets, reading it must not panic, and a
        // limit found leaves no more than it is.
        if let Some(limit) = MemoryLimit::current() {
            assert!(limit.available <= limit.limit, "{limit:?}");
        }
    }
}
