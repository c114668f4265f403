//! The lab's hosts: a server and a client, network namespaces joined by a
//! veth pair, each with an nftables chain for the loss rule, and each
//! kernel's TCP counters; and a victim, on a link of its own from the
//! server's host, whose address the reflection demo forges.
//!
//! Everything is done by running `ip` and `nft` (the tools an operator would
//! type), so that what the lab builds can be read, and rebuilt by hand.

use crate::error::ReportError;
use std::os::fd::AsRawFd;
use std::process::Command;

/// Every namespace name starts with this, then the owning process's id.
const PREFIX: &str = "upcase-lab-";
pub(super) const SERVER_ADDR: &str = "10.253.0.1";
pub(super) const CLIENT_ADDR: &str = "10.253.0.2";
/// The server's address on the victim's link, and the victim's.
const SERVER_SIDE_ADDR: &str = "10.253.1.1";
pub(super) const VICTIM_ADDR: &str = "10.253.1.2";

/// The hosts of one run.
#[derive(Clone)]
pub(super) struct Namespaces {
    pub(super) server: String,
    pub(super) client: String,
    pub(super) victim: String,
}

/// A host's TCP segment counters (`/proc/net/snmp`), or their growth over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct TcpCounters {
    /// `OutSegs`: segments sent, resends excluded.
    pub(super) out_segs: u64,
    /// `RetransSegs`: segments sent again.
    pub(super) retrans_segs: u64,
}

impl TcpCounters {
    /// The counters of network namespace `ns`, as its kernel reports them.
    pub(super) fn read(ns: &str) -> Result<TcpCounters, ReportError> {
        let output = Command::new("ip")
            .args(["netns", "exec", ns, "cat", "/proc/net/snmp"])
            .output()
            .map_err(ReportError::io(format!(
                "cannot read {ns}'s /proc/net/snmp"
            )))?;
        TcpCounters::parse(&String::from_utf8_lossy(&output.stdout))
            .ok_or_else(|| ReportError::Check(format!("no Tcp counters in {ns}'s /proc/net/snmp")))
    }

    /// The `Tcp:` header and value lines of `/proc/net/snmp`.
    fn parse(snmp: &str) -> Option<TcpCounters> {
        let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
        let (names, values) = (tcp.next()?, tcp.next()?);
        let field = |wanted: &str| {
            names
                .split_whitespace()
                .zip(values.split_whitespace())
                .find(|(name, _)| *name == wanted)
                .and_then(|(_, value)| value.parse().ok())
        };
        Some(TcpCounters {
            out_segs: field("OutSegs")?,
            retrans_segs: field("RetransSegs")?,
        })
    }

    pub(super) fn since(self, before: TcpCounters) -> TcpCounters {
        TcpCounters {
            out_segs: self.out_segs.saturating_sub(before.out_segs),
            retrans_segs: self.retrans_segs.saturating_sub(before.retrans_segs),
        }
    }

    /// Resends as a share of all segments sent (%).
    pub(super) fn resent_pct(self) -> f64 {
        let sent = self.out_segs + self.retrans_segs;
        if sent == 0 {
            0.0
        } else {
            100.0 * self.retrans_segs as f64 / sent as f64
        }
    }
}

/// A veth pair between two namespaces, each end `(namespace, name,
/// address)` with its /24 and up.
fn link(a: (&str, &str, &str), b: (&str, &str, &str)) -> Result<(), ReportError> {
    sh(&[
        "ip", "link", "add", a.1, "type", "veth", "peer", "name", b.1,
    ])?;
    for (ns, veth, addr) in [a, b] {
        sh(&["ip", "link", "set", veth, "netns", ns])?;
        sh_in(
            ns,
            &["ip", "addr", "add", &format!("{addr}/24"), "dev", veth],
        )?;
        sh_in(ns, &["ip", "link", "set", veth, "up"])?;
    }
    Ok(())
}

/// Runs `work` on a thread of this process that has joined network
/// namespace `ns`: the sockets it opens are that host's.
pub(super) fn in_namespace<T: Send + 'static>(
    ns: &str,
    work: impl FnOnce() -> Result<T, ReportError> + Send + 'static,
) -> std::thread::JoinHandle<Result<T, ReportError>> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).map_err(ReportError::file("open", &path))?;
        // SAFETY: setns on a namespace file this thread holds open; it
        // moves only this thread, which ends with `work`.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(ReportError::Io {
                doing: format!("cannot join {path}"),
                source: std::io::Error::last_os_error(),
            });
        }
        work()
    })
}

/// Runs `args` inside network namespace `ns`.
pub(super) fn sh_in(ns: &str, args: &[&str]) -> Result<(), ReportError> {
    let mut all = vec!["ip", "netns", "exec", ns];
    all.extend_from_slice(args);
    sh(&all)
}

/// Runs `args` and fails with its stderr if it fails.
pub(super) fn sh(args: &[&str]) -> Result<(), ReportError> {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| ReportError::Command {
            command: args.join(" "),
            detail: e.to_string(),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(ReportError::Command {
            command: format!("`{}` failed", args.join(" ")),
            detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

/// Removes lab namespaces whose owning process is gone (a crashed run).
pub(super) fn remove_stale_namespaces() {
    let Ok(output) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let owner: i32 = rest
            .split('-')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        // SAFETY: kill with signal 0 only checks that the process exists.
        let alive = owner > 0 && unsafe { libc::kill(owner, 0) } == 0;
        if !alive {
            eprintln!("upcase-flood lab: removing {name}, left by a run that ended abnormally");
            let _ = sh(&["ip", "netns", "del", name]);
        }
    }
}

impl Namespaces {
    /// The two hosts' names for this run (they carry the process id).
    pub(super) fn of_this_process() -> Namespaces {
        Namespaces {
            server: format!("{PREFIX}{}-server", std::process::id()),
            client: format!("{PREFIX}{}-client", std::process::id()),
            victim: format!("{PREFIX}{}-victim", std::process::id()),
        }
    }

    /// The server's end of the client's link (where an eavesdropper on the
    /// path between them listens).
    pub(super) fn server_link() -> String {
        format!("ul{}s", std::process::id())
    }

    /// The three namespaces; the client's and the victim's links to the
    /// server, loopback up, addresses set; and an (empty) nftables chain in
    /// the server's and the client's for the drop rule.
    pub(super) fn build(&self) -> Result<(), ReportError> {
        let pid = std::process::id();
        for ns in [&self.server, &self.client, &self.victim] {
            sh(&["ip", "netns", "add", ns])?;
            sh_in(ns, &["ip", "link", "set", "lo", "up"])?;
        }
        let server_link = Namespaces::server_link();
        link(
            (&self.server, &server_link, SERVER_ADDR),
            (&self.client, &format!("ul{pid}c"), CLIENT_ADDR),
        )?;
        for ns in [&self.server, &self.client] {
            sh_in(ns, &["nft", "add", "table", "inet", "upcase_lab"])?;
            sh_in(
                ns,
                &[
                    "nft",
                    "add",
                    "chain",
                    "inet",
                    "upcase_lab",
                    "out",
                    "{ type filter hook output priority 0; }",
                ],
            )?;
        }
        // The victim's link: its own /24, so that the server's replies to
        // the victim's address go there. The server's host does not check
        // that a datagram's source could have come in where it did
        // (reverse-path filtering off, as on most hosts, and on the many
        // networks that BCP 38 asks to filter and do not).
        let victim_link = format!("ul{pid}t");
        link(
            (&self.server, &victim_link, SERVER_SIDE_ADDR),
            (&self.victim, &format!("ul{pid}v"), VICTIM_ADDR),
        )?;
        for key in ["all", "default", &victim_link, &server_link] {
            let setting = format!("net.ipv4.conf.{key}.rp_filter=0");
            sh_in(&self.server, &["sysctl", "-q", "-w", &setting])?;
        }
        Ok(())
    }

    /// Both hosts drop a random `percent` of the TCP and UDP packets they send.
    pub(super) fn set_loss(&self, percent: u32) -> Result<(), ReportError> {
        for ns in [&self.server, &self.client] {
            sh_in(ns, &["nft", "flush", "chain", "inet", "upcase_lab", "out"])?;
            if percent > 0 {
                let below = percent.to_string();
                let rule = [
                    "meta",
                    "l4proto",
                    "{ tcp, udp }",
                    "numgen",
                    "random",
                    "mod",
                    "100",
                ];
                let mut args = vec!["nft", "add", "rule", "inet", "upcase_lab", "out"];
                args.extend_from_slice(&rule);
                args.extend_from_slice(&["<", &below, "drop"]);
                sh_in(ns, &args)?;
            }
        }
        Ok(())
    }

    /// Deleting a namespace deletes its veth end (and so the pair) and its
    /// nftables tables.
    pub(super) fn remove(&self) {
        for ns in [&self.server, &self.client, &self.victim] {
            let _ = sh(&["ip", "netns", "del", ns]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_counters_are_read_from_snmp() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
                    Tcp: RtoAlgorithm RtoMin InSegs OutSegs RetransSegs InErrs\n\
                    Tcp: 1 200 10 2345 17 0\n";
        let c = TcpCounters::parse(snmp).unwrap();
        assert_eq!(
            c,
            TcpCounters {
                out_segs: 2345,
                retrans_segs: 17
            }
        );
        let later = TcpCounters {
            out_segs: 2400,
            retrans_segs: 20,
        };
        assert_eq!(
            later.since(c),
            TcpCounters {
                out_segs: 55,
                retrans_segs: 3
            }
        );
        assert_eq!(TcpCounters::parse("Udp: InDatagrams\nUdp: 3\n"), None);
    }
}
