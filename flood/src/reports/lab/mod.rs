//! `upcase-flood lab`: TCP and UDP under real packet loss, and what the
//! network lets others do to a service that leaves loopback.
//!
//! Loopback never loses a packet, so it cannot show TCP's retransmission or
//! UDP's loss. The lab builds a small network of its own: two network
//! namespaces (a server host and a client host) joined by a veth pair, and
//! in each an nftables rule that drops a random p % of the packets it sends
//! (so each direction loses p %). The server runs in one, the verifying
//! flood in the other, for p = 0, 1, 2, 5, 10 % (`--quick`: 0 and 5 %).
//!
//! It shows both halves of the lesson side by side: TCP loses nothing but
//! pays in latency (its tail, and the resends each host's kernel counted,
//! `TcpRetransSegs` from that namespace's `/proc/net/snmp`), while UDP
//! pays in round trips lost (drawn against the 1 − (1 − p)² a round trip
//! of two datagrams should lose).
//!
//! Then, with the loss rule off, the lecture's other question ("does it
//! need security?"): what `tcpdump` on the path reads of a connection, and
//! what datagrams with a forged source address make the server send to a
//! third host, the victim, with the UDP limits off and on.
//!
//! The host's own network is never touched: everything lives in the
//! namespaces, whose names carry this process's id (two runs never
//! collide). They are removed when the lab ends — normally, on an error,
//! or on Ctrl-C — and a later run removes any left by a run that crashed
//! (its process is gone). Needs root, `ip` (iproute2), `nft` (nftables),
//! `tcpdump` and `openssl`.
//!
//! Its parts: `hosts` builds the hosts (namespaces, veth, nftables) and
//! reads their kernels' counters; `loss` runs the server in one namespace
//! and the floods from the other at each loss rate; `render` writes
//! `lab.md`'s loss section, every sentence computed from the numbers;
//! `chart` draws `lab.svg`; `eavesdrop` captures a connection;
//! `reflection` forges the victim's address.

mod chart;
mod eavesdrop;
mod hosts;
mod loss;
mod reflection;
mod render;

use crate::error::ReportError;
use hosts::Namespaces;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// What `lab` does.
pub struct LabOptions {
    /// The `upcase-server` binary.
    pub server: PathBuf,
    /// Where `lab.md` and `lab.svg` go.
    pub out: PathBuf,
    /// Two loss rates and short runs instead of five and longer ones.
    pub quick: bool,
}

/// The namespaces of this run, for the Ctrl-C handler.
static ACTIVE: Mutex<Option<Namespaces>> = Mutex::new(None);

/// The server's launcher process, for the Ctrl-C handler (0: none).
static SERVER_PID: AtomicU32 = AtomicU32::new(0);

/// Checks what the lab needs; `Err` names what is missing.
pub fn check_requirements() -> Result<(), ReportError> {
    let mut missing = Vec::new();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        missing.push("root (network namespaces)".to_string());
    }
    for (tool, package) in [
        ("ip", "iproute2"),
        ("nft", "nftables"),
        ("tcpdump", "tcpdump"),
        ("openssl", "openssl"),
    ] {
        let found = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            missing.push(format!("`{tool}` ({package})"));
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ReportError::Missing(missing))
    }
}

/// Runs the lab and writes `lab.md` and `lab.svg`. Returns the report's path.
pub fn run(options: &LabOptions) -> Result<PathBuf, ReportError> {
    hosts::remove_stale_namespaces();
    let names = Namespaces::of_this_process();
    *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(names.clone());
    let _ = ctrlc::set_handler(|| {
        let server = SERVER_PID.swap(0, Ordering::SeqCst);
        if server != 0 {
            // SAFETY: kill(2) on the child this process started.
            unsafe { libc::kill(server as i32, libc::SIGKILL) };
        }
        if let Some(names) = ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).take() {
            names.remove();
        }
        eprintln!("upcase-flood lab: interrupted; namespaces removed");
        std::process::exit(130);
    });
    std::fs::create_dir_all(&options.out).map_err(ReportError::file("create", &options.out))?;
    let result = names.build().and_then(|()| lessons(&names, options));
    if let Some(names) = ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).take() {
        names.remove();
    }
    let (rows, seen, reflections) = result?;
    chart::draw(&options.out.join("lab.svg"), &rows)?;
    let path = options.out.join("lab.md");
    let md = [
        render::report(&rows, options.quick),
        eavesdrop::render(&seen),
        reflection::render(&reflections),
    ]
    .join("\n");
    std::fs::write(&path, md).map_err(ReportError::file("write", &path))?;
    Ok(path)
}

/// The three lessons, in the namespaces `names` built: loss, then (with
/// the loss rule off) the eavesdropper and the reflection.
fn lessons(
    names: &Namespaces,
    options: &LabOptions,
) -> Result<
    (
        Vec<loss::Row>,
        eavesdrop::Eavesdropping,
        Vec<reflection::Reflection>,
    ),
    ReportError,
> {
    let rows = loss::measure(names, options)?;
    names.set_loss(0)?;
    let seen = {
        let tls = eavesdrop::tls_flags(&options.out);
        let flags: Vec<&str> = match &tls {
            Ok(flags) => flags.iter().map(String::as_str).collect(),
            Err(_) => Vec::new(),
        };
        let _server = loss::LabServer::start(names, &options.server, &flags)?;
        let client = options.server.with_file_name("upcase-client");
        eavesdrop::capture(names, &options.out, tls.map(|_| ()), &client)?
    };
    let reflections = reflection::measure(names, &options.server)?;
    Ok((rows, seen, reflections))
}

/// How long the lab's floods take, for the progress line.
pub fn expected_duration(quick: bool) -> Duration {
    if quick {
        Duration::from_secs(20)
    } else {
        Duration::from_secs(70)
    }
}
