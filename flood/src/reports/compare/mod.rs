//! `upcase-flood compare`: one command that starts the server in every
//! threading model, runs the same workloads against each (plain, and over
//! TLS beside plain), measures the carriers of a message (threads vs
//! sockets), and writes a report with tables and charts that a student can
//! read in a minute.
//!
//! `measure` measures (every point the median of repeated runs,
//! [`spread`]); `findings` turns the results into sections (tables, charts
//! and sentences computed from the numbers); `charts` draws them and
//! `render` writes `report.md` and a self-contained `index.html`.

mod charts;
mod findings;
mod measure;
mod render;
pub mod spread;

use crate::error::ReportError;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::Duration;
use upcase::config::Model;

/// Lines one client keeps in flight for the throughput column: enough
/// (512 KiB of 128-byte lines) that the client never waits on a round
/// trip, so the column measures the server.
pub const PIPELINED_LINES: usize = 4096;

/// Workers every model is given, so they are compared on equal terms.
const WORKERS: &str = "2";

/// What `compare` does.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// The `upcase-server` binary to start.
    pub server: PathBuf,
    /// Where `report.md` and the charts go.
    pub out: PathBuf,
    /// A short run (about a minute, not several), for tests and a first look.
    pub quick: bool,
    /// Show a progress bar.
    pub progress: bool,
}

/// The sizes of one comparison run.
struct Plan {
    ping_clients: Vec<usize>,
    idle_counts: Vec<usize>,
    /// Each timed run's window.
    timed: Duration,
    /// Runs per measured point: each point is their median, and a model is
    /// ranked above another only when all its runs beat all the other's
    /// ([`Spread::above`](spread::Spread::above)). With 3 runs each, two
    /// models that are in truth level would still come out apart, in one
    /// order or the other, 1 time in 10 (2 of the 20 equally likely ways
    /// to interleave 3 and 3 runs); with 5, about 1 in 126 (2 of 252): so
    /// even a quick report makes no ranking by luck, and says the same thing
    /// twice in a row.
    reps: usize,
    /// How long a new client among idle ones may take to be answered.
    idle_patience: Duration,
    transport_round_trips: u64,
    /// The TLS section's ping-pong client counts.
    tls_clients: Vec<usize>,
    /// The TLS section's window: each of its points is run twice (plain
    /// and TLS), so its window is shorter than the others'.
    tls_timed: Duration,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                ping_clients: vec![1, 4, 16],
                idle_counts: vec![0, 100],
                timed: Duration::from_millis(300),
                reps: 5,
                idle_patience: Duration::from_millis(1500),
                transport_round_trips: 5_000,
                tls_clients: vec![1],
                tls_timed: Duration::from_millis(200),
            }
        } else {
            Plan {
                ping_clients: vec![1, 4, 16, 64, 256],
                idle_counts: vec![0, 100, 1000, 5000],
                timed: Duration::from_secs(2),
                reps: 5,
                idle_patience: Duration::from_secs(3),
                transport_round_trips: 100_000,
                tls_clients: vec![1, 16, 128],
                tls_timed: Duration::from_millis(500),
            }
        }
    }
}

/// Runs the whole comparison and writes the report. Returns the report's path.
pub fn run(options: &CompareOptions) -> Result<PathBuf, ReportError> {
    // Many idle connections need many descriptors: use the whole allowance.
    upcase::process_stats::raise_fd_limit();
    let plan = Plan::new(options.quick);
    let steps = Model::ALL.len() * (2 * plan.reps + 1) + 2;
    let bar = progress_bar(options.progress, steps as u64);
    let results = measure::models(&plan, options, &bar)?;
    let tls = measure::tls(&plan, options, &bar)?;
    bar.set_message("threads vs sockets");
    let carriers = measure::carriers(&plan)?;
    bar.inc(1);
    bar.set_message("udp and tcp under a flood");
    let floods = measure::floods(options, &plan)?;
    bar.inc(1);
    bar.finish_and_clear();
    std::fs::create_dir_all(&options.out).map_err(ReportError::file("create", &options.out))?;
    charts::draw_all(&options.out, &plan, &results, &carriers, &floods)?;
    charts::draw_tls(&options.out, &plan, &tls)?;
    let sections = findings::sections(&plan, &results, &tls, &carriers, &floods);
    let preface = findings::preface(&plan, options.quick);
    let write = |name: &str, text: String| {
        let path = options.out.join(name);
        std::fs::write(&path, text).map_err(ReportError::file("write", &path))?;
        Ok::<_, ReportError>(path)
    };
    write(
        "index.html",
        render::html(&options.out, &preface, &sections),
    )?;
    write("report.md", render::markdown(&preface, &sections))
}

fn progress_bar(visible: bool, steps: u64) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    ProgressBar::new(steps).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
}
