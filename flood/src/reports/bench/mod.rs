//! `upcase-flood bench`: `upcase-server` beside its peers (`peers/`: a
//! tokio server, a thread-per-connection std server, and the kernel's floor
//! — one thread of raw epoll), every workload run by the flood (which
//! checks every reply), so that the repository alone shows how each server
//! compares with what a user would pick instead and how close it is to the
//! limit. It is part of the flood crate so that the servers are started by
//! the one launcher ([`crate::server_process`]) and measured by the one
//! client kit, not by a script's copy of them.
//!
//! Servers are rotated within each repetition (a slow spell of the machine
//! touches them alike) and, on two or more CPUs, kept on one CPU with the
//! load on another. The output is Markdown, to be pasted as it comes out
//! into `docs/performance.md` and the README.
//!
//! `workloads` says what is run, `measure` runs one workload against one
//! server, `render` writes the tables.

mod measure;
mod render;
mod workloads;

use crate::error::ReportError;
use crate::reports::certificate::Certificate;
use crate::server_process;
use measure::{measure, raise_descriptor_limit};
use render::render;
use std::collections::BTreeMap;
use std::path::PathBuf;
use workloads::{workloads, Workload};

/// One server to measure: a name for the table, a binary and its flags.
#[derive(Debug, Clone)]
pub struct Server {
    /// Its column in the tables.
    pub name: String,
    /// The program.
    pub binary: PathBuf,
    /// Flags after `--tcp 127.0.0.1:0 --udp 127.0.0.1:0`.
    pub args: Vec<String>,
    /// It serves `--tls ADDR --tls-cert FILE --tls-key FILE` (upcase-server,
    /// tokio-upcase): the TLS rows run against it.
    pub tls: bool,
}

/// What `bench` runs.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The servers, in the tables' order.
    pub servers: Vec<Server>,
    /// The server every other is divided by (`tokio`).
    pub reference: String,
    /// The kernel's floor (`floor`), if among the servers.
    pub floor: String,
    /// `peers/`'s bulk client, the yardstick for the flood's bulk rows.
    pub bulk_client: PathBuf,
    /// Repetitions (each runs every workload against every server).
    pub reps: usize,
    /// Seconds per timed run.
    pub secs: f64,
    /// Idle connections in the memory row.
    pub idle: usize,
    /// Workload name prefixes to run (empty: all).
    pub only: Vec<String>,
    /// Keep servers and load on CPUs of their own.
    pub pin: bool,
    /// The command line, for the table's preface.
    pub command: String,
}

/// What one run yields, by metric name.
pub(super) type Sample = BTreeMap<&'static str, f64>;

/// The CPUs the servers and the load run on, when pinned.
pub(super) struct Placement {
    server: Option<usize>,
    load: Option<usize>,
    /// The CPUs this process could run on before it pinned itself.
    cpus: usize,
}

impl Placement {
    fn choose(pin: bool) -> Result<Placement, ReportError> {
        let cpus = server_process::allowed_cpus();
        if !pin || cpus.len() < 2 {
            return Ok(Placement {
                server: None,
                load: None,
                cpus: cpus.len(),
            });
        }
        // This thread starts every client thread and every server: what
        // it is pinned to, they inherit (the servers then move to theirs).
        server_process::pin_this_thread(cpus[1]).map_err(ReportError::io(format!(
            "cannot pin the load to CPU {}",
            cpus[1]
        )))?;
        Ok(Placement {
            server: Some(cpus[0]),
            load: Some(cpus[1]),
            cpus: cpus.len(),
        })
    }

    fn describe(&self) -> String {
        match (self.server, self.load) {
            (Some(server), Some(load)) => {
                format!("servers on CPU {server} and the load on CPU {load}")
            }
            _ => "unpinned".to_string(),
        }
    }
}

/// Runs every chosen workload against every server, `reps` times, and
/// returns the Markdown tables. Progress goes to stderr.
pub fn run(options: &BenchOptions) -> Result<String, ReportError> {
    let chosen: Vec<Workload> = workloads(options.secs, options.idle)
        .into_iter()
        .filter(|w| options.only.is_empty() || options.only.iter().any(|p| w.name.starts_with(p)))
        .collect();
    if chosen.is_empty() {
        return Err(ReportError::Check(format!(
            "no workload matches --only {}",
            options.only.join(",")
        )));
    }
    raise_descriptor_limit();
    let certificate = Certificate::make("bench")?;
    let placement = Placement::choose(options.pin)?;
    let servers = &options.servers;
    // results[workload][server]: one sample per repetition, in order.
    let mut results = vec![vec![Vec::<Sample>::new(); servers.len()]; chosen.len()];
    for rep in 0..options.reps {
        for (w, workload) in chosen.iter().enumerate() {
            for turn in 0..servers.len() {
                let s = (turn + rep) % servers.len();
                let server = &servers[s];
                let sample = measure(server, workload, options, &placement, &certificate)?;
                let shown: Vec<String> = workload
                    .metrics
                    .iter()
                    .map(|m| format!("{m}={:.0}", sample.get(m).copied().unwrap_or(0.0)))
                    .collect();
                eprintln!(
                    "  rep {}: {:16} {:12} {}",
                    rep + 1,
                    workload.name,
                    server.name,
                    shown.join(" ")
                );
                results[w][s].push(sample);
            }
        }
    }
    Ok(render(options, &placement, &chosen, &results))
}
