//! What a process costs right now: resident memory, open file descriptors,
//! threads. The server's metrics report its own; the soak, `compare` and
//! the tests watch a server they started. Read through `procfs` (Linux).

/// One reading of a process's resources.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessStats {
    /// Resident memory, in KiB.
    pub rss_kib: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// Threads.
    pub threads: u64,
}

impl ProcessStats {
    /// Reads process `pid`'s resources; `None` if it is gone or unreadable.
    pub fn of(pid: u32) -> Option<ProcessStats> {
        let process = procfs::process::Process::new(i32::try_from(pid).ok()?).ok()?;
        Self::read(&process)
    }

    /// Reads this process's own resources.
    pub fn of_self() -> Option<ProcessStats> {
        Self::read(&procfs::process::Process::myself().ok()?)
    }

    fn read(process: &procfs::process::Process) -> Option<ProcessStats> {
        let status = process.status().ok()?;
        Some(ProcessStats {
            rss_kib: status.vmrss.unwrap_or(0),
            fds: process.fd_count().ok()? as u64,
            threads: status.threads,
        })
    }
}

/// Raises this process's open-file limit to its hard limit (children
/// inherit it) and returns the new soft limit. Tools that hold thousands
/// of connections call it first.
pub fn raise_fd_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_descriptors_and_a_thread() {
        let stats = ProcessStats::of_self().expect("readable /proc");
        assert!(
            stats.rss_kib > 0 && stats.fds >= 3 && stats.threads >= 1,
            "{stats:?}"
        );
        assert_eq!(
            ProcessStats::of(std::process::id()).map(|s| s.threads > 0),
            Some(true)
        );
    }
}
