//! `upcase-flood lab`: TCP and UDP under real packet loss.
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
//! The host's own network is never touched: everything lives in the two
//! namespaces, whose names carry this process's id (two runs never
//! collide). They are removed when the lab ends — normally, on an error,
//! or on Ctrl-C — and a later run removes any left by a run that crashed
//! (its process is gone). Needs root, `ip` (iproute2) and `nft` (nftables).

use plotters::prelude::*;
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
    /// Two loss rates and short runs instead of five and longer ones.
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
    /// What the server's host's kernel counted during the TCP run.
    server_tcp: TcpCounters,
    /// What the client's host's kernel counted during the TCP run.
    client_tcp: TcpCounters,
}

/// A host's TCP segment counters (`/proc/net/snmp`), or their growth over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct TcpCounters {
    /// `OutSegs`: segments sent, resends excluded.
    out_segs: u64,
    /// `RetransSegs`: segments sent again.
    retrans_segs: u64,
}

impl TcpCounters {
    /// The counters of network namespace `ns`, as its kernel reports them.
    fn read(ns: &str) -> Result<TcpCounters, String> {
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

    fn since(self, before: TcpCounters) -> TcpCounters {
        TcpCounters {
            out_segs: self.out_segs.saturating_sub(before.out_segs),
            retrans_segs: self.retrans_segs.saturating_sub(before.retrans_segs),
        }
    }

    /// Resends as a share of all segments sent (%).
    fn resent_pct(self) -> f64 {
        let sent = self.out_segs + self.retrans_segs;
        if sent == 0 {
            0.0
        } else {
            100.0 * self.retrans_segs as f64 / sent as f64
        }
    }
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
        (&[0, 1, 2, 5, 10], "5")
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
        let (server_before, client_before) = (
            TcpCounters::read(&names.server)?,
            TcpCounters::read(&names.client)?,
        );
        let tcp = flood("--tcp", &["--timeout", "120"])?;
        let server_tcp = TcpCounters::read(&names.server)?.since(server_before);
        let client_tcp = TcpCounters::read(&names.client)?.since(client_before);
        let udp = flood("--udp", &["--max-loss", "100"])?;
        rows.push(Row {
            loss_pct,
            tcp,
            udp,
            server_tcp,
            client_tcp,
        });
    }
    Ok(rows)
}

fn num(value: &serde_json::Value, key: &str) -> f64 {
    value[key].as_f64().unwrap_or(0.0)
}

/// Milliseconds from the flood's microseconds.
fn ms(value: &serde_json::Value, key: &str) -> f64 {
    num(value, key) / 1000.0
}

/// What a round trip of two datagrams, each lost with `loss_pct` %, loses (%).
fn expected_udp_loss(loss_pct: f64) -> f64 {
    100.0 * (1.0 - (1.0 - loss_pct / 100.0).powi(2))
}

// The Okabe–Ito palette (told apart with any colour vision), each series
// with a marker shape of its own as well.
const SKY: RGBColor = RGBColor(86, 180, 233);
const ORANGE: RGBColor = RGBColor(230, 159, 0);
const VERMILLION: RGBColor = RGBColor(213, 94, 0);
const BLUE: RGBColor = RGBColor(0, 114, 178);
const GREEN: RGBColor = RGBColor(0, 158, 115);
const PURPLE: RGBColor = RGBColor(204, 121, 167);

/// The SVG's own size; it scales with the page (plotters writes a viewBox).
/// Text at 24 px stays as large as body text when the page is 1400 px wide.
const SIZE: (u32, u32) = (1500, 640);
const TEXT: u32 = 24;

#[derive(Clone, Copy)]
enum Shape {
    Circle,
    Triangle,
    Square,
}

/// One line of a panel: its legend entry, colour, marker and points.
struct Line {
    name: String,
    color: RGBColor,
    shape: Shape,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

fn failed(path: &Path, error: impl std::fmt::Display) -> String {
    format!("cannot draw {}: {error}", path.display())
}

/// Three panels, one lesson each, over the same x axis (loss each way, %):
/// TCP's latency tail (ms, logarithmic: it spans decades), the segments
/// each host's kernel resent, and UDP's round trips lost beside the
/// 1 − (1 − p)² expected. Legends sit under the plots, never on them.
fn draw(path: &Path, rows: &[Row]) -> Result<(), String> {
    let x_max = f64::from(rows.iter().map(|r| r.loss_pct).max().unwrap_or(0).max(1));
    let at = |r: &Row, y: f64| (f64::from(r.loss_pct), y);
    let tcp_ms = |name: &str, key: &str, color, shape| Line {
        name: name.to_string(),
        color,
        shape,
        dashed: false,
        points: rows.iter().map(|r| at(r, ms(&r.tcp, key))).collect(),
    };
    let latency = [
        tcp_ms("TCP p50", "p50_us", SKY, Shape::Circle),
        tcp_ms("TCP p99", "p99_us", ORANGE, Shape::Triangle),
        tcp_ms("TCP worst line", "max_us", VERMILLION, Shape::Square),
    ];
    let resent = [
        Line {
            name: "by the server's kernel".into(),
            color: BLUE,
            shape: Shape::Square,
            dashed: false,
            points: rows
                .iter()
                .map(|r| at(r, r.server_tcp.retrans_segs as f64))
                .collect(),
        },
        Line {
            name: "by the client's kernel".into(),
            color: GREEN,
            shape: Shape::Triangle,
            dashed: false,
            points: rows
                .iter()
                .map(|r| at(r, r.client_tcp.retrans_segs as f64))
                .collect(),
        },
    ];
    let udp = [
        Line {
            name: "UDP round trips lost".into(),
            color: PURPLE,
            shape: Shape::Circle,
            dashed: false,
            points: rows
                .iter()
                .map(|r| at(r, num(&r.udp, "loss_pct")))
                .collect(),
        },
        Line {
            name: "expected: 1 − (1 − p)²".into(),
            color: BLACK,
            shape: Shape::Circle,
            dashed: true,
            points: (0..=50)
                .map(|i| {
                    let p = x_max * f64::from(i) / 50.0;
                    (p, expected_udp_loss(p))
                })
                .collect(),
        },
    ];

    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(path, e))?;
    let (title, body) = root.split_vertically(56);
    title
        .draw_text(
            "Packet loss: TCP delivers every line, late; UDP is never late, and loses",
            &("sans-serif", 30).into_font().color(&BLACK),
            (24, 14),
        )
        .map_err(|e| failed(path, e))?;
    let panels = body.split_evenly((1, 3));
    let x_label = "packets dropped each way (%)";

    // TCP's tail: logarithmic in whole decades of milliseconds.
    let positive = latency
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .filter(|y| *y > 0.0);
    let (lo, hi) = positive.fold((f64::MAX, 0.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let (lo, hi) = if hi > 0.0 { (lo, hi) } else { (0.01, 1.0) };
    let y_range = 10f64.powf(lo.log10().floor())..10f64.powf((hi * 1.01).log10().ceil());
    panel(
        path,
        &panels[0],
        "TCP: latency (ms)",
        x_max,
        x_label,
        y_range,
        true,
        &latency,
    )?;

    let top = resent
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(1.0, f64::max);
    panel(
        path,
        &panels[1],
        "TCP: segments resent (TcpRetransSegs)",
        x_max,
        x_label,
        0.0..top * 1.15,
        false,
        &resent,
    )?;

    let top = udp
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(1.0, f64::max);
    panel(
        path,
        &panels[2],
        "UDP: round trips lost (%)",
        x_max,
        x_label,
        0.0..top * 1.15,
        false,
        &udp,
    )?;
    root.present().map_err(|e| failed(path, e))
}

#[allow(clippy::too_many_arguments)]
fn panel(
    path: &Path,
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    title: &str,
    x_max: f64,
    x_label: &str,
    y_range: std::ops::Range<f64>,
    log: bool,
    lines: &[Line],
) -> Result<(), String> {
    let legend_height = 20 + 36 * lines.len() as u32;
    let (plot, legend) = area.split_vertically(area.dim_in_pixel().1 - legend_height);
    let font = ("sans-serif", TEXT);
    let mut builder = ChartBuilder::on(&plot);
    builder
        .caption(title, ("sans-serif", 26))
        .margin(14)
        .x_label_area_size(64)
        .y_label_area_size(80);
    let x_range = -x_max * 0.04..x_max * 1.04;
    macro_rules! draw_lines {
        ($chart:expr) => {{
            let chart = $chart;
            for line in lines {
                let style = line.color.stroke_width(3);
                if line.dashed {
                    chart
                        .draw_series(DashedLineSeries::new(line.points.clone(), 10, 6, style))
                        .map_err(|e| failed(path, e))?;
                } else {
                    chart
                        .draw_series(LineSeries::new(line.points.clone(), style))
                        .map_err(|e| failed(path, e))?;
                    let style = line.color.filled();
                    let at = |p: (f64, f64)| EmptyElement::at(p);
                    match line.shape {
                        Shape::Circle => chart.draw_series(
                            line.points
                                .iter()
                                .map(|&p| at(p) + Circle::new((0, 0), 7, style)),
                        ),
                        Shape::Triangle => chart.draw_series(
                            line.points
                                .iter()
                                .map(|&p| at(p) + TriangleMarker::new((0, 0), 9, style)),
                        ),
                        Shape::Square => chart.draw_series(
                            line.points
                                .iter()
                                .map(|&p| at(p) + Rectangle::new([(-6, -6), (6, 6)], style)),
                        ),
                    }
                    .map_err(|e| failed(path, e))?;
                }
            }
        }};
    }
    if log {
        let mut chart = builder
            .build_cartesian_2d(x_range, y_range.log_scale())
            .map_err(|e| failed(path, e))?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .label_style(font)
            .axis_desc_style(font)
            .x_desc(x_label)
            .x_labels(6)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y}"))
            .draw()
            .map_err(|e| failed(path, e))?;
        draw_lines!(&mut chart);
    } else {
        let mut chart = builder
            .build_cartesian_2d(x_range, y_range)
            .map_err(|e| failed(path, e))?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .label_style(font)
            .axis_desc_style(font)
            .x_desc(x_label)
            .x_labels(6)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(|e| failed(path, e))?;
        draw_lines!(&mut chart);
    }
    for (i, line) in lines.iter().enumerate() {
        let y = 18 + 36 * i as i32;
        let style = line.color.stroke_width(3);
        let x0 = 90;
        if line.dashed {
            for dash in 0..3 {
                let start = x0 + dash * 16;
                legend
                    .draw(&PathElement::new(vec![(start, y), (start + 10, y)], style))
                    .map_err(|e| failed(path, e))?;
            }
        } else {
            legend
                .draw(&PathElement::new(vec![(x0, y), (x0 + 44, y)], style))
                .map_err(|e| failed(path, e))?;
            let marker_style = line.color.filled();
            match line.shape {
                Shape::Circle => legend.draw(&Circle::new((x0 + 22, y), 7, marker_style)),
                Shape::Triangle => legend.draw(&TriangleMarker::new((x0 + 22, y), 9, marker_style)),
                Shape::Square => legend.draw(&Rectangle::new(
                    [(x0 + 16, y - 6), (x0 + 28, y + 6)],
                    marker_style,
                )),
            }
            .map_err(|e| failed(path, e))?;
        }
        legend
            .draw_text(
                &line.name,
                &("sans-serif", TEXT).into_font().color(&BLACK),
                (x0 + 56, y - 12),
            )
            .map_err(|e| failed(path, e))?;
    }
    Ok(())
}

fn report(rows: &[Row], quick: bool) -> String {
    use std::fmt::Write as _;
    let mut md = String::from("# TCP and UDP under real packet loss\n\n");
    let _ = writeln!(
        md,
        "Measured by `upcase-flood lab{}`: the server and 4 ping-pong clients on two network \
         hosts (namespaces) joined by a veth pair; nftables on each host drops a random p % of \
         the TCP and UDP packets it sends. Every reply was checked byte for byte. The resends \
         are the kernels' own count (`TcpRetransSegs` in each namespace's `/proc/net/snmp`, \
         over the TCP run).\n",
        if quick { " --quick" } else { "" }
    );
    let _ = writeln!(md, "![TCP vs UDP as loss grows](lab.svg)\n");
    let _ = writeln!(
        md,
        "| loss each way | TCP lines/s | TCP lines lost | TCP p50 / p99 / worst (ms) | TCP segments resent: server / client (kernel count) | UDP round trips lost | expected 1 − (1 − p)² | UDP p50 / p99 (ms) |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    for r in rows {
        let _ = writeln!(
            md,
            "| {} % | {:.0} | {} | {:.2} / {:.1} / {:.0} | {} of {} ({:.1} %) / {} of {} ({:.1} %) | {} of {} ({:.1} %) | {:.1} % | {:.2} / {:.2} |",
            r.loss_pct,
            num(&r.tcp, "lines_per_sec"),
            r.tcp["lost"],
            ms(&r.tcp, "p50_us"),
            ms(&r.tcp, "p99_us"),
            ms(&r.tcp, "max_us"),
            r.server_tcp.retrans_segs,
            r.server_tcp.out_segs + r.server_tcp.retrans_segs,
            r.server_tcp.resent_pct(),
            r.client_tcp.retrans_segs,
            r.client_tcp.out_segs + r.client_tcp.retrans_segs,
            r.client_tcp.resent_pct(),
            r.udp["lost"],
            r.udp["lines_sent"],
            num(&r.udp, "loss_pct"),
            expected_udp_loss(f64::from(r.loss_pct)),
            ms(&r.udp, "p50_us"),
            ms(&r.udp, "p99_us"),
        );
    }
    let _ = writeln!(md, "\n## What it shows (computed from the numbers above)\n");
    let base = rows.iter().find(|r| r.loss_pct == 0);
    for r in rows.iter().filter(|r| r.loss_pct > 0) {
        let lines_per_sec = num(&r.tcp, "lines_per_sec");
        let pace = match base.map(|b| num(&b.tcp, "lines_per_sec")) {
            Some(before) if lines_per_sec > 0.0 && before >= 2.0 * lines_per_sec => format!(
                "{lines_per_sec:.0} lines/s, {:.0}× fewer than the {before:.0} lines/s without loss",
                before / lines_per_sec
            ),
            Some(before) if before > 0.0 => format!(
                "{lines_per_sec:.0} lines/s, {:.0} % of the {before:.0} lines/s without loss",
                100.0 * lines_per_sec / before
            ),
            _ => format!("{lines_per_sec:.0} lines/s"),
        };
        let tail_before = base
            .map(|b| format!(" (without loss: {:.1} ms)", ms(&b.tcp, "p99_us")))
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "- At {p} % loss each way TCP answered {pace}, and lost {lost} lines: the kernels \
             resent {s} segments from the server and {c} from the client ({sp:.1} % and {cp:.1} % \
             of what each sent), and each resend came late (Linux waits at least 200 ms before \
             resending the one segment in flight), so the tail grew to p99 {p99:.1} ms{tail_before} \
             and {max:.0} ms for the worst line. A ping-pong client sends nothing while its reply \
             waits, and lines behind a lost segment wait with it (head-of-line blocking): the \
             resends, not the link, set TCP's pace. UDP lost {u:.1} % of round trips, against \
             {e:.1} % expected (a round trip needs both datagrams: 1 − (1 − p)²); it never waits \
             for a resend, and the replies that came took p99 {up99:.2} ms.",
            p = r.loss_pct,
            lost = r.tcp["lost"],
            s = r.server_tcp.retrans_segs,
            c = r.client_tcp.retrans_segs,
            sp = r.server_tcp.resent_pct(),
            cp = r.client_tcp.resent_pct(),
            p99 = ms(&r.tcp, "p99_us"),
            max = ms(&r.tcp, "max_us"),
            u = num(&r.udp, "loss_pct"),
            e = expected_udp_loss(f64::from(r.loss_pct)),
            up99 = ms(&r.udp, "p99_us"),
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
        Duration::from_secs(60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(loss_pct: u32, tcp_lps: f64, p99_us: f64, udp_loss: f64, resent: (u64, u64)) -> Row {
        Row {
            loss_pct,
            tcp: json!({"lines_per_sec": tcp_lps, "lost": 0, "p50_us": 40.0,
                        "p99_us": p99_us, "max_us": p99_us * 2.0}),
            udp: json!({"lost": 1365, "lines_sent": 14512, "loss_pct": udp_loss,
                        "p50_us": 30.0, "p99_us": 70.0}),
            server_tcp: TcpCounters {
                out_segs: 9_000,
                retrans_segs: resent.0,
            },
            client_tcp: TcpCounters {
                out_segs: 11_000,
                retrans_segs: resent.1,
            },
        }
    }

    #[test]
    fn the_sentences_come_from_the_numbers() {
        let rows = [
            row(0, 100_000.0, 100.0, 0.0, (0, 0)),
            row(5, 250.0, 208_000.0, 9.4, (1000, 0)),
        ];
        let md = report(&rows, true);
        assert!(
            md.contains("TCP answered 250 lines/s, 400× fewer than the 100000 lines/s"),
            "{md}"
        );
        assert!(
            md.contains(
                "resent 1000 segments from the server and 0 from the client (10.0 % and 0.0 %"
            ),
            "{md}"
        );
        assert!(
            md.contains("p99 208.0 ms (without loss: 0.1 ms) and 416 ms"),
            "{md}"
        );
        assert!(
            md.contains("UDP lost 9.4 % of round trips, against 9.8 % expected"),
            "{md}"
        );
        assert!(md.contains("| 5 % | 250 | 0 | 0.04 / 208.0 / 416 | 1000 of 10000 (10.0 %) / 0 of 11000 (0.0 %) | 1365 of 14512 (9.4 %) | 9.8 % |"), "{md}");
        // No sentence for the loss-free run: it is the baseline.
        assert!(!md.contains("At 0 %"), "{md}");
    }

    #[test]
    fn a_small_drop_is_said_as_a_share() {
        let rows = [
            row(0, 1000.0, 100.0, 0.0, (0, 0)),
            row(1, 800.0, 300.0, 2.0, (5, 5)),
        ];
        assert!(report(&rows, false).contains("800 lines/s, 80 % of the 1000 lines/s"));
    }

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

    #[test]
    fn the_chart_shows_tcp_resends_and_udp_loss_against_the_expected() {
        let rows = [
            row(0, 100_000.0, 100.0, 0.0, (0, 0)),
            row(5, 250.0, 208_000.0, 9.4, (1000, 3)),
        ];
        let dir = std::env::temp_dir().join(format!("upcase-lab-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lab.svg");
        draw(&path, &rows).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        for text in [
            "TcpRetransSegs",
            "round trips lost",
            "1 − (1 − p)²",
            "latency (ms)",
            "viewBox",
        ] {
            assert!(svg.contains(text), "the chart lacks {text:?}");
        }
    }
}
