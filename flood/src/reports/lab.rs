//! `upcase-flood lab`: TCP and UDP under real packet loss.
//!
//! Loopback never loses a packet, so it cannot show TCP's retransmission or
//! UDP's loss. The lab builds a small network of its own: two network
//! namespaces (a server host and a client host) joined by a veth pair, and
//! in each an nftables rule that drops a random p % of the packets it sends
//! (so each direction loses p %). The server runs in one, the verifying
//! flood in the other, for p = 0, 1, 5, 10 % (`--quick`: 0 and 5 %).
//!
//! The host's own network is never touched: everything lives in the two
//! namespaces, whose names carry this process's id (two runs never
//! collide). They are removed when the lab ends — normally, on an error,
//! or on Ctrl-C — and a later run removes any left by a run that crashed
//! (its process is gone). Needs root, `ip` (iproute2) and `nft` (nftables).

use crate::reports::chart::{self, Axes, Point, Series};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// What `lab` does.
pub struct LabOptions {
    /// The `upcase-server` binary.
    pub server: PathBuf,
    /// Where `lab.md` and `lab.svg` go.
    pub out: PathBuf,
    /// Two loss rates and short runs instead of four and longer ones.
    pub quick: bool,
}

/// Every namespace name starts with this, then the owning process's id.
const PREFIX: &str = "upcase-lab-";
const SERVER_ADDR: &str = "10.253.0.1";
const CLIENT_ADDR: &str = "10.253.0.2";

/// The namespaces of this run, for the Ctrl-C handler.
static ACTIVE: Mutex<Option<Namespaces>> = Mutex::new(None);

/// The server's launcher process, for the Ctrl-C handler (0: none).
static SERVER_PID: AtomicU32 = AtomicU32::new(0);

/// The two hosts of one run.
#[derive(Clone)]
struct Namespaces {
    server: String,
    client: String,
}

/// One measurement at one loss rate.
struct Row {
    loss_pct: u32,
    tcp: serde_json::Value,
    udp: serde_json::Value,
}

/// Checks what the lab needs; `Err` is the line to print (exit 2).
pub fn check_requirements() -> Result<(), String> {
    let mut missing = Vec::new();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        missing.push("root (network namespaces)".to_string());
    }
    for (tool, package) in [("ip", "iproute2"), ("nft", "nftables")] {
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
        Err(format!("the lab needs {}", missing.join(", ")))
    }
}

/// Runs the lab and writes `lab.md` and `lab.svg`. Returns the report's path.
pub fn run(options: &LabOptions) -> Result<PathBuf, String> {
    remove_stale_namespaces();
    let names = Namespaces {
        server: format!("{PREFIX}{}-server", std::process::id()),
        client: format!("{PREFIX}{}-client", std::process::id()),
    };
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
    let result = names.build().and_then(|()| measure(&names, options));
    if let Some(names) = ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).take() {
        names.remove();
    }
    let rows = result?;
    std::fs::create_dir_all(&options.out)
        .map_err(|e| format!("cannot create {}: {e}", options.out.display()))?;
    draw(&options.out.join("lab.svg"), &rows)?;
    let path = options.out.join("lab.md");
    std::fs::write(&path, report(&rows, options.quick))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// Runs `args` and fails with its stderr if it fails.
/// Runs `args` inside network namespace `ns`.
fn sh_in(ns: &str, args: &[&str]) -> Result<(), String> {
    let mut all = vec!["ip", "netns", "exec", ns];
    all.extend_from_slice(args);
    sh(&all)
}

fn sh(args: &[&str]) -> Result<(), String> {
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
fn remove_stale_namespaces() {
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
    /// Two namespaces, a veth pair between them, loopback up, addresses set,
    /// and an (empty) nftables chain in each for the drop rule.
    fn build(&self) -> Result<(), String> {
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
    fn set_loss(&self, percent: u32) -> Result<(), String> {
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
    fn remove(&self) {
        for ns in [&self.server, &self.client] {
            let _ = sh(&["ip", "netns", "del", ns]);
        }
    }
}

/// The server in its namespace; stopped (SIGTERM) when dropped.
struct LabServer(Child);

impl LabServer {
    fn start(names: &Namespaces, binary: &Path) -> Result<LabServer, String> {
        let address = format!("{SERVER_ADDR}:7878");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &names.server])
            .arg(binary)
            .args(["--tcp", &address, "--udp", &address, "--workers", "2"])
            // The lab measures what the network loses; the per-source limit
            // (the client is one non-loopback source) would add its own.
            .args(["--udp-rate-limit", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let ready = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.starts_with("udp listening"));
        if ready {
            SERVER_PID.store(child.id(), Ordering::SeqCst);
            Ok(LabServer(child))
        } else {
            let _ = child.kill();
            Err("the server did not start in its namespace".into())
        }
    }
}

impl Drop for LabServer {
    fn drop(&mut self) {
        SERVER_PID.store(0, Ordering::SeqCst);
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn measure(names: &Namespaces, options: &LabOptions) -> Result<Vec<Row>, String> {
    let _server = LabServer::start(names, &options.server)?;
    let me = std::env::current_exe().map_err(|e| format!("cannot find upcase-flood: {e}"))?;
    let (rates, seconds): (&[u32], &str) = if options.quick {
        (&[0, 5], "2")
    } else {
        (&[0, 1, 5, 10], "5")
    };
    let address = format!("{SERVER_ADDR}:7878");
    let mut rows = Vec::new();
    for &loss_pct in rates {
        names.set_loss(loss_pct)?;
        let flood = |transport: &str, extra: &[&str]| -> Result<serde_json::Value, String> {
            let output = Command::new("ip")
                .args(["netns", "exec", &names.client])
                .arg(&me)
                .args([
                    transport,
                    &address,
                    "--clients",
                    "4",
                    "--duration",
                    seconds,
                    "--json",
                ])
                .args(extra)
                .output()
                .map_err(|e| format!("cannot run the flood: {e}"))?;
            serde_json::from_slice(&output.stdout).map_err(|e| {
                format!(
                    "the {transport} flood at {loss_pct} % loss gave no report ({e}): {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                )
            })
        };
        let tcp = flood("--tcp", &["--timeout", "120"])?;
        let udp = flood("--udp", &["--max-loss", "100"])?;
        rows.push(Row { loss_pct, tcp, udp });
    }
    Ok(rows)
}

fn num(value: &serde_json::Value, key: &str) -> f64 {
    value[key].as_f64().unwrap_or(0.0)
}

fn draw(path: &Path, rows: &[Row]) -> Result<(), String> {
    // x = loss % (+1, so that 0 % can sit on the log axis at "1").
    let ticks: Vec<f64> = rows.iter().map(|r| f64::from(r.loss_pct)).collect();
    let series = |name: &str, transport: fn(&Row) -> &serde_json::Value, key: &str| Series {
        name: name.to_string(),
        points: rows
            .iter()
            .map(|r| Point::at(f64::from(r.loss_pct), num(transport(r), key).max(1.0)))
            .collect(),
    };
    chart::line_chart(
        path,
        "TCP vs UDP as packet loss grows (each direction)",
        &Axes {
            x_label: "packets dropped in each direction (%)",
            y_label: "latency (µs)",
            x_ticks: &ticks,
        },
        &[
            series("TCP p99", |r| &r.tcp, "p99_us"),
            series("TCP max", |r| &r.tcp, "max_us"),
            series("UDP p99 (of the replies that came)", |r| &r.udp, "p99_us"),
        ],
    )
}

fn report(rows: &[Row], quick: bool) -> String {
    use std::fmt::Write as _;
    let mut md = String::from("# TCP and UDP under real packet loss\n\n");
    let _ = writeln!(
        md,
        "Measured by `upcase-flood lab{}`: the server and 4 ping-pong clients on two network \
         hosts (namespaces) joined by a veth pair; nftables on each host drops a random p % of \
         the TCP and UDP packets it sends. Every reply was checked byte for byte.\n",
        if quick { " --quick" } else { "" }
    );
    let _ = writeln!(md, "![TCP vs UDP as loss grows](lab.svg)\n");
    let _ = writeln!(
        md,
        "| loss each way | TCP lines/s | TCP lines lost | TCP p50 / p99 / max (ms) | UDP round trips lost | UDP reordered | UDP p50 / p99 (ms) |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    let ms = |us: f64| us / 1000.0;
    for r in rows {
        let _ = writeln!(
            md,
            "| {} % | {:.0} | {} | {:.2} / {:.1} / {:.0} | {} of {} ({:.1} %) | {} | {:.2} / {:.2} |",
            r.loss_pct,
            num(&r.tcp, "lines_per_sec"),
            r.tcp["lost"],
            ms(num(&r.tcp, "p50_us")),
            ms(num(&r.tcp, "p99_us")),
            ms(num(&r.tcp, "max_us")),
            r.udp["lost"],
            r.udp["lines_sent"],
            num(&r.udp, "loss_pct"),
            r.udp["reordered"],
            ms(num(&r.udp, "p50_us")),
            ms(num(&r.udp, "p99_us")),
        );
    }
    let _ = writeln!(md, "\n## What it shows (computed from the numbers above)\n");
    for r in rows.iter().filter(|r| r.loss_pct > 0) {
        let expected_udp = 100.0 * (1.0 - (1.0 - f64::from(r.loss_pct) / 100.0).powi(2));
        let _ = writeln!(
            md,
            "- At {} % loss each way TCP lost {} lines: every lost segment was sent again, \
             and the wait shows in its tail (p99 {:.1} ms, worst {:.0} ms; Linux waits at \
             least 200 ms before resending). Lines behind a lost segment waited too: that is \
             head-of-line blocking. UDP lost {:.1} % of round trips (a round trip needs both \
             datagrams: 1 − (1 − p)² = {:.1} %), and the ones that came were as fast as \
             without loss (p99 {:.2} ms).",
            r.loss_pct,
            r.tcp["lost"],
            ms(num(&r.tcp, "p99_us")),
            ms(num(&r.tcp, "max_us")),
            num(&r.udp, "loss_pct"),
            expected_udp,
            ms(num(&r.udp, "p99_us")),
        );
    }
    let _ = writeln!(
        md,
        "\n*What it cannot show here:* one short veth link, no queueing delay or \
         bandwidth limit, and loss that is random rather than bursty as on a real network."
    );
    md
}

/// How long the lab's floods take, for the progress line.
pub fn expected_duration(quick: bool) -> Duration {
    if quick {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(45)
    }
}
