//! A network namespace a test creates for itself (`ip netns add`), so that
//! it can use an address other than loopback, or TCP buffer sizes other
//! than the host's, without touching the host's network settings. The
//! namespace is removed when the guard is dropped, including when the
//! test fails (the drop runs while the panic unwinds).
//!
//! Needs root and `ip` (iproute2): a test that cannot create its namespace
//! fails saying so, it is never skipped.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A network namespace, deleted on drop.
pub struct Namespace {
    name: String,
    /// `/var/run/netns/NAME`, kept open to enter the namespace.
    handle: File,
}

impl Namespace {
    /// Creates `upcase-test-PID-TAG-N` with its loopback interface up.
    pub fn create(tag: &str) -> Namespace {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("upcase-test-{}-{tag}-{n}", std::process::id());
        run(Command::new("ip").args(["netns", "add", &name]));
        // From here on, a failure still removes the namespace (Drop).
        let handle = match File::open(format!("/var/run/netns/{name}")) {
            Ok(handle) => handle,
            Err(error) => {
                let _ = Command::new("ip").args(["netns", "del", &name]).status();
                panic!("cannot open namespace {name}: {error}");
            }
        };
        let namespace = Namespace { name, handle };
        namespace.ip(&["link", "set", "lo", "up"]);
        namespace
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NAME ARGS...`.
    pub fn ip(&self, args: &[&str]) {
        run(Command::new("ip").args(["-n", &self.name]).args(args));
    }

    /// Sets a sysctl inside the namespace only (per-namespace keys such as
    /// `net.ipv4.tcp_wmem`).
    pub fn sysctl(&self, key: &str, value: &str) {
        run(Command::new("ip")
            .args(["netns", "exec", &self.name, "sysctl", "-q", "-w"])
            .arg(format!("{key}={value}")));
    }

    /// Moves the calling thread into the namespace: every socket it opens
    /// from now on lives there (setns affects only the calling thread, and
    /// each test runs on a thread of its own).
    pub fn enter(&self) {
        // SAFETY: setns(2) on a namespace descriptor we hold open.
        let result = unsafe { libc::setns(self.handle.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(
            result,
            0,
            "setns into {}: {}",
            self.name,
            std::io::Error::last_os_error()
        );
    }

    /// Makes `command` start inside the namespace (the child itself calls
    /// setns before exec, so the test keeps the server's own pid).
    pub fn put(&self, command: &mut Command) {
        let fd: RawFd = self.handle.as_raw_fd();
        // SAFETY: setns is a plain system call, async-signal-safe as
        // pre_exec requires; `fd` stays open while `self` lives, and the
        // command is spawned while it does.
        unsafe {
            command.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let deleted = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status()
            .is_ok_and(|status| status.success());
        if !deleted && !std::thread::panicking() {
            panic!("could not remove network namespace {}", self.name);
        }
    }
}

/// Runs `command`, failing the test with its stderr if it fails.
fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e} (needs iproute2's `ip`)"));
    assert!(
        output.status.success(),
        "{command:?} failed (network namespaces need root): {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
}
