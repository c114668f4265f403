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

/// CPU time used and start time, for the standard `process_*` metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessTimes {
    /// User and system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// When the process started, in seconds since the Unix epoch.
    pub start_time_seconds: f64,
}

impl ProcessTimes {
    /// Reads this process's times.
    pub fn of_self() -> Option<ProcessTimes> {
        let stat = procfs::process::Process::myself().ok()?.stat().ok()?;
        let ticks = procfs::ticks_per_second() as f64;
        let boot = procfs::boot_time_secs().ok()? as f64;
        Some(ProcessTimes {
            cpu_seconds: (stat.utime + stat.stime) as f64 / ticks,
            start_time_seconds: boot + stat.starttime as f64 / ticks,
        })
    }
}

/// This process's open-file limit (the soft one, which `open` obeys).
pub fn max_fds() -> u64 {
    rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(0, |(soft, _)| soft)
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

    #[test]
    fn this_process_started_in_the_past_and_has_a_descriptor_limit() {
        let times = ProcessTimes::of_self().expect("readable /proc");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            times.start_time_seconds > now - 86_400.0 * 365.0
                && times.start_time_seconds <= now + 1.0,
            "{times:?}"
        );
        assert!(times.cpu_seconds >= 0.0);
        assert!(max_fds() >= 3);
    }
}
