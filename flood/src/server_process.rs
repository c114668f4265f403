//! Starting `upcase-server` as a child process on free ports, for the
//! reports and the flood's own tests: the `… listening on ADDR` lines are
//! the ready signal, and the child is always stopped (SIGTERM, then kill)
//! on drop. The bench starts its peers (`peers/`) the same way, optionally
//! pinned to one CPU.

use std::io::Read;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use upcase::process_stats::ProcessStats;

/// A server this process started.
pub struct ServerProcess {
    child: Child,
    /// Its TCP address.
    pub tcp: SocketAddr,
    /// Its UDP address.
    pub udp: SocketAddr,
    /// Its TLS address, when started with `--tls`.
    pub tls: Option<SocketAddr>,
    /// What it logged on stderr, when started with a log level.
    log: Option<Arc<Mutex<String>>>,
}

/// The `upcase-server` built beside the running program: in the same
/// directory, or one up when the program is a test in `target/*/deps/`.
pub fn server_beside_this_program() -> io::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let dir = me
        .parent()
        .ok_or_else(|| io::Error::other("this program has no directory"))?;
    let candidates = [dir.join("upcase-server"), dir.join("../upcase-server")];
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no upcase-server beside {}", me.display()),
            )
        })
}

impl ServerProcess {
    /// Starts `binary` on 127.0.0.1 port 0 (TCP and UDP) with `args`, and
    /// waits for its address lines.
    pub fn start(binary: &Path, args: &[&str]) -> io::Result<ServerProcess> {
        ServerProcess::start_logging(binary, args, None)
    }

    /// [`ServerProcess::start`], keeping what the server logs at `level`
    /// (`RUST_LOG`) for [`ServerProcess::log`]; `None`: errors only, not kept.
    pub fn start_logging(
        binary: &Path,
        args: &[&str],
        level: Option<&str>,
    ) -> io::Result<ServerProcess> {
        ServerProcess::spawn(binary, args, level, None)
    }

    /// [`ServerProcess::start`] with the server's threads kept on `cpu`
    /// (`sched_setaffinity` in the child before it runs), or anywhere for
    /// `None`.
    pub fn start_on_cpu(
        binary: &Path,
        args: &[&str],
        cpu: Option<usize>,
    ) -> io::Result<ServerProcess> {
        ServerProcess::spawn(binary, args, None, cpu)
    }

    fn spawn(
        binary: &Path,
        args: &[&str],
        level: Option<&str>,
        cpu: Option<usize>,
    ) -> io::Result<ServerProcess> {
        let mut command = Command::new(binary);
        if let Some(cpu) = cpu {
            let set = cpu_set(cpu)?;
            // SAFETY: the closure runs between fork and exec and only makes
            // one system call on a set built before the fork.
            unsafe {
                command.pre_exec(move || {
                    if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::last_os_error())
                    }
                })
            };
        }
        let mut child = command
            .args(["--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", level.unwrap_or("error"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if level.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .spawn()
            .map_err(|e| {
                io::Error::new(e.kind(), format!("cannot start {}: {e}", binary.display()))
            })?;
        let log = child.stderr.take().map(|mut pipe| {
            let log = Arc::new(Mutex::new(String::new()));
            let sink = Arc::clone(&log);
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut buf) {
                    if let Ok(mut text) = sink.lock() {
                        text.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            });
            log
        });
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let (mut tcp, mut udp, mut tls) = (None, None, None);
        let wants_tls = args.contains(&"--tls");
        while tcp.is_none() || udp.is_none() || (wants_tls && tls.is_none()) {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(addr) = line.strip_prefix("tcp listening on ") {
                tcp = addr.parse().ok();
            } else if let Some(addr) = line.strip_prefix("udp listening on ") {
                udp = addr.parse().ok();
            } else if let Some(addr) = line.strip_prefix("tls listening on ") {
                tls = addr.parse().ok();
            }
        }
        thread::spawn(move || for _ in lines {});
        match (tcp, udp) {
            (Some(tcp), Some(udp)) if tls.is_some() || !wants_tls => Ok(ServerProcess {
                child,
                tcp,
                udp,
                tls,
                log,
            }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err(io::Error::other(format!(
                    "{} did not announce its addresses",
                    binary.display()
                )))
            }
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server logged so far (empty unless started with a level).
    pub fn log(&self) -> String {
        self.log
            .as_ref()
            .and_then(|log| log.lock().ok().map(|text| text.clone()))
            .unwrap_or_default()
    }

    /// The server's resident memory in KiB (Linux), if it can be read.
    pub fn rss_kib(&self) -> Option<u64> {
        ProcessStats::of(self.child.id()).map(|stats| stats.rss_kib)
    }
}

/// The CPU set holding only `cpu`.
fn cpu_set(cpu: usize) -> io::Result<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is plain data; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
        return Err(io::Error::other(format!("no CPU {cpu}")));
    }
    // SAFETY: cpu is inside the set, checked above.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    Ok(set)
}

/// Keeps the calling thread, and every thread it starts from now on, on
/// `cpu`.
pub fn pin_this_thread(cpu: usize) -> io::Result<()> {
    let set = cpu_set(cpu)?;
    // SAFETY: set is a valid cpu_set_t of the size given.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The CPUs this process may run on, lowest first.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a valid cpu_set_t of the size given.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) } != 0 {
        return Vec::new();
    }
    (0..8 * std::mem::size_of::<libc::cpu_set_t>())
        // SAFETY: every index is inside the set.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our child's.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
