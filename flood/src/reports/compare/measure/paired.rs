//! The TLS section's measurements: every model's TLS listener beside its
//! plain one on the same server, each workload (ping-pong, pipelined,
//! connect-per-line with a full handshake) run plain and over TLS one
//! right after the other, so each ratio is of two runs made under the same
//! conditions.

use super::{bounded, flood_or_fail, start_with};
use crate::error::ReportError;
use crate::report::Report;
use crate::reports::certificate::Certificate;
use crate::reports::compare::spread::Spread;
use crate::reports::compare::{CompareOptions, Plan, PIPELINED_LINES};
use crate::run::{Options, Target};
use crate::server_process::ServerProcess;
use indicatif::ProgressBar;
use std::net::SocketAddr;
use upcase::config::Model;

/// One workload run on the same server in plain TCP and over TLS, one
/// right after the other in every repetition.
pub struct Paired {
    pub plain: Spread,
    pub tls: Spread,
    /// TLS's share of plain in percent, repetition by repetition (each
    /// TLS run over the plain run beside it), over the runs that answered
    /// every client on both sides.
    pub tls_pct: Spread,
    /// The most clients left with no reply in one run (either side).
    pub starved: usize,
    /// Runs (pairs) in which some client was left with no reply.
    pub starved_runs: usize,
    pub runs: usize,
}

impl Paired {
    /// Every client answered in every run, on both sides.
    pub fn served(&self) -> bool {
        self.starved_runs == 0
    }

    fn of(pairs: &[(Report, Report)], value: impl Fn(&Report) -> f64) -> Paired {
        let starved =
            |(plain, tls): &(Report, Report)| plain.starved_clients().max(tls.starved_clients());
        let answered: Vec<&(Report, Report)> = pairs.iter().filter(|p| starved(p) == 0).collect();
        Paired {
            plain: Spread::of(&pairs.iter().map(|(p, _)| value(p)).collect::<Vec<_>>()),
            tls: Spread::of(&pairs.iter().map(|(_, t)| value(t)).collect::<Vec<_>>()),
            tls_pct: Spread::of(
                &answered
                    .iter()
                    .map(|(p, t)| 100.0 * value(t) / value(p).max(1e-9))
                    .collect::<Vec<_>>(),
            ),
            starved: pairs.iter().map(starved).max().unwrap_or(0),
            starved_runs: pairs.len() - answered.len(),
            runs: pairs.len(),
        }
    }
}

/// One model's TLS results.
pub struct TlsResults {
    pub model: Model,
    /// Round trips per second at each of [`Plan::tls_clients`].
    pub ping: Vec<(usize, Paired)>,
    /// Pipelined MB/s on one connection.
    pub bulk: Paired,
    /// Connections per second, a new connection (and a full handshake)
    /// per line.
    pub churn: Paired,
}

/// Every model with a TLS listener beside its plain one: each workload
/// plain then over TLS (TLS first in odd repetitions, so neither side
/// always runs on a machine warmed by the other), interleaved across
/// models as [`models`](super::models) does.
pub fn tls(
    plan: &Plan,
    options: &CompareOptions,
    bar: &ProgressBar,
) -> Result<Vec<TlsResults>, ReportError> {
    let certificate = Certificate::make("compare")?;
    let flags = certificate.server_flags();
    let servers: Vec<(ServerProcess, SocketAddr)> = Model::ALL
        .iter()
        .map(|&model| {
            let server = start_with(options, model, &flags)?;
            let tls = server
                .tls
                .ok_or_else(|| ReportError::Check(format!("{model}: no tls listening line")))?;
            Ok::<_, ReportError>((server, tls))
        })
        .collect::<Result<_, _>>()?;
    // The handshake is the point of churn: no session resumption there.
    let fresh = certificate.client_without_resumption();
    let window = |workload: &Options, target| Options {
        target,
        duration: Some(plan.tls_timed),
        timeout: bounded(plan.tls_timed),
        ..workload.clone()
    };
    let workloads: Vec<Options> = plan
        .tls_clients
        .iter()
        .map(|&clients| Options {
            clients,
            ..Options::default()
        })
        .chain([
            Options {
                clients: 1,
                pipeline: PIPELINED_LINES,
                line_bytes: 128,
                ..Options::default()
            },
            Options {
                clients: 1,
                connect_per_line: true,
                ..Options::default()
            },
        ])
        .collect();
    let churn = workloads.len() - 1;
    // runs[model][workload]: (plain, tls) per repetition.
    let mut runs: Vec<Vec<Vec<(Report, Report)>>> = servers
        .iter()
        .map(|_| workloads.iter().map(|_| Vec::new()).collect())
        .collect();
    for rep in 0..plan.reps {
        for (index, (model, (server, tls))) in Model::ALL.iter().zip(&servers).enumerate() {
            bar.set_message(format!(
                "{model}: plain and TLS, {} of {}",
                rep + 1,
                plan.reps
            ));
            for (w, workload) in workloads.iter().enumerate() {
                let plain = || flood_or_fail(window(workload, Target::Tcp(server.tcp)));
                let secure = || {
                    let client = if w == churn {
                        &fresh
                    } else {
                        &certificate.client
                    };
                    flood_or_fail(Options {
                        tls: Some(client.clone()),
                        ..window(workload, Target::Tcp(*tls))
                    })
                };
                let pair = if rep % 2 == 0 {
                    let p = plain()?;
                    (p, secure()?)
                } else {
                    let t = secure()?;
                    (plain()?, t)
                };
                runs[index][w].push(pair);
            }
            bar.inc(1);
        }
    }
    drop(servers);
    Ok(Model::ALL
        .into_iter()
        .zip(runs)
        .map(|(model, mut runs)| {
            let churn = Paired::of(&runs.pop().unwrap_or_default(), Report::lines_per_sec);
            let bulk = Paired::of(&runs.pop().unwrap_or_default(), Report::mb_per_sec);
            let ping = plan
                .tls_clients
                .iter()
                .zip(&runs)
                .map(|(&clients, pairs)| (clients, Paired::of(pairs, Report::window_rate)))
                .collect();
            TlsResults {
                model,
                ping,
                bulk,
                churn,
            }
        })
        .collect())
}
