//! The lab's two hosts: network namespaces joined by a veth pair, each with
//! an nftables chain for the loss rule, and each kernel's TCP counters.
//!
//! Everything is done by running `ip` and `nft` (the tools an operator would
//! type), so that what the lab builds can be read, and rebuilt by hand.

use std::process::Command;

/// Every namespace name starts with this, then the owning process's id.
const PREFIX: &str = "upcase-lab-";
pub(super) const SERVER_ADDR: &str = "10.253.0.1";
pub(super) const CLIENT_ADDR: &str = "10.253.0.2";

/// The two hosts of one run.
#[derive(Clone)]
pub(super) struct Namespaces {
    pub(super) server: String,
    pub(super) client: String,
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
    pub(super) fn read(ns: &str) -> Result<TcpCounters, String> {
        let output = Command::new("ip")
            .args(["netns", "exec", ns, "cat", "/proc/net/snmp"])
            .output()
            .map_err(|e| format!("cannot read {ns}'s /proc/net/snmp: {e}"))?;
        TcpCounters::parse(&String::from_utf8_lossy(&output.stdout))
            .ok_or_else(|| format!("no Tcp counters in {ns}'s /proc/net/snmp"))
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

/// Runs `args` inside network namespace `ns`.
pub(super) fn sh_in(ns: &str, args: &[&str]) -> Result<(), String> {
    let mut all = vec!["ip", "netns", "exec", ns];
    all.extend_from_slice(args);
    sh(&all)
}

/// Runs `args` and fails with its stderr if it fails.
pub(super) fn sh(args: &[&str]) -> Result<(), String> {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
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
        }
    }

    /// Two namespaces, a veth pair between them, loopback up, addresses set,
    /// and an (empty) nftables chain in each for the drop rule.
    pub(super) fn build(&self) -> Result<(), String> {
        let pid = std::process::id();
        let (veth_s, veth_c) = (format!("ul{pid}s"), format!("ul{pid}c"));
        sh(&["ip", "netns", "add", &self.server])?;
        sh(&["ip", "netns", "add", &self.client])?;
        sh(&[
            "ip", "link", "add", &veth_s, "type", "veth", "peer", "name", &veth_c,
        ])?;
        sh(&["ip", "link", "set", &veth_s, "netns", &self.server])?;
        sh(&["ip", "link", "set", &veth_c, "netns", &self.client])?;
        for (ns, veth, addr) in [
            (&self.server, &veth_s, SERVER_ADDR),
            (&self.client, &veth_c, CLIENT_ADDR),
        ] {
            let inside = |args: &[&str]| sh_in(ns, args);
            inside(&["ip", "link", "set", "lo", "up"])?;
            inside(&["ip", "addr", "add", &format!("{addr}/24"), "dev", veth])?;
            inside(&["ip", "link", "set", veth, "up"])?;
            inside(&["nft", "add", "table", "inet", "upcase_lab"])?;
            inside(&[
                "nft",
                "add",
                "chain",
                "inet",
                "upcase_lab",
                "out",
                "{ type filter hook output priority 0; }",
            ])?;
        }
        Ok(())
    }

    /// Both hosts drop a random `percent` of the TCP and UDP packets they send.
    pub(super) fn set_loss(&self, percent: u32) -> Result<(), String> {
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
        for ns in [&self.server, &self.client] {
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
