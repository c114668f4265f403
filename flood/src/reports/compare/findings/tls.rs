//! The TLS section: what encryption costs each model per line, per byte
//! and per connection, against the same server's plain listener in the
//! same run. A cost is said only beyond the spread of the runs (and by
//! 10 % or more, [`Spread::above`]); otherwise TLS is level with plain.

use super::{clients_phrase, per_sec, ranking, Section, Table};
use crate::reports::compare::measure::{Paired, TlsResults};
use crate::reports::compare::spread::{human, Spread};
use crate::reports::compare::{Plan, PIPELINED_LINES};

fn pct(value: f64) -> String {
    format!("{value:.0} %")
}

fn mb_per_sec(value: f64) -> String {
    format!("{} MB/s", human(value))
}

/// "a", "a and b", "a, b and c".
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The table cell of one paired measurement.
fn cell(p: &Paired, show: &dyn Fn(f64) -> String) -> String {
    if !p.served() {
        return format!(
            "**up to {} never answered** (in {} of {} runs)",
            p.starved, p.starved_runs, p.runs
        );
    }
    format!(
        "{} against {} plain: {}",
        show(p.tls.median),
        show(p.plain.median),
        p.tls_pct.show(pct)
    )
}

/// The sentence for one workload across the models: which lost ground
/// over TLS beyond noise (and how much they kept), which are level with
/// plain, and which left clients unanswered and are not compared.
pub(super) fn cost(what: &str, rows: &[(&str, &Paired)], show: &dyn Fn(f64) -> String) -> String {
    let (mut costs, mut level, mut faster, mut starved) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for &(name, p) in rows {
        if !p.served() {
            starved.push(format!("`{name}`"));
        } else if p.plain.above(&p.tls) {
            let kept = if costs.is_empty() { " kept" } else { "" };
            let of_plain = if costs.is_empty() { " of plain" } else { "" };
            costs.push(format!(
                "`{name}`{kept} {}{of_plain} ({} against {})",
                pct(p.tls_pct.median),
                show(p.tls.median),
                show(p.plain.median)
            ));
        } else if p.tls.above(&p.plain) {
            faster.push(format!("`{name}` ({})", pct(p.tls_pct.median)));
        } else {
            level.push(format!("`{name}` ({})", pct(p.tls_pct.median)));
        }
    }
    let parts: Vec<String> = [
        (costs, "over TLS ", ", beyond the spread of the runs"),
        (level, "", " level with plain within noise"),
        (faster, "", " faster over TLS than plain, beyond the spread"),
        (starved, "", " left clients unanswered, so not compared"),
    ]
    .into_iter()
    .filter(|(models, _, _)| !models.is_empty())
    .map(|(models, before, after)| format!("{before}{}{after}", and_list(&models)))
    .collect();
    format!("{what}: {}.", parts.join("; "))
}

pub(super) fn section(plan: &Plan, results: &[TlsResults]) -> Section {
    let header = std::iter::once("model".to_string())
        .chain(
            plan.tls_clients
                .iter()
                .map(|&c| format!("ping-pong, {}", clients_phrase(c))),
        )
        .chain([
            "bulk, 1 connection".to_string(),
            "a new connection per line".to_string(),
        ])
        .collect();
    let rows = results
        .iter()
        .map(|r| {
            std::iter::once(r.model.name().to_string())
                .chain(r.ping.iter().map(|(_, p)| cell(p, &per_sec)))
                .chain([cell(&r.bulk, &mb_per_sec), cell(&r.churn, &per_sec)])
                .collect()
        })
        .collect();
    let named = |value: &dyn Fn(&TlsResults) -> Option<&Paired>| -> Vec<(&str, &Paired)> {
        results
            .iter()
            .filter_map(|r| value(r).map(|p| (r.model.name(), p)))
            .collect()
    };
    let mut findings: Vec<String> = plan
        .tls_clients
        .iter()
        .enumerate()
        .map(|(index, &clients)| {
            cost(
                &format!("Ping-pong at {}", clients_phrase(clients)),
                &named(&|r| r.ping.get(index).map(|(_, p)| p)),
                &per_sec,
            )
        })
        .collect();
    findings.push(cost(
        "Bulk on one connection",
        &named(&|r| Some(&r.bulk)),
        &mb_per_sec,
    ));
    findings.push(cost(
        "A new connection per line",
        &named(&|r| Some(&r.churn)),
        &per_sec,
    ));
    let tls_of = |value: fn(&TlsResults) -> &Paired| -> Vec<(&str, Spread)> {
        results
            .iter()
            .filter(|r| value(r).served())
            .map(|r| (r.model.name(), value(r).tls))
            .collect()
    };
    findings.push(format!(
        "Handshakes per second over TLS: {}",
        ranking(tls_of(|r| &r.churn), true, "set up the most", &per_sec)
    ));
    findings.push(format!(
        "Bulk over TLS: {}",
        ranking(tls_of(|r| &r.bulk), true, "moved the most", &mb_per_sec)
    ));
    Section {
        title: "TLS against plain: what encryption costs".into(),
        intro: format!(
            "Every server listens twice, plain on `--tcp` and TLS on `--tls` (rustls, TLS 1.3, \
             a certificate made at run time). Each workload runs on both, one right after the \
             other, {} times for {:.1} s each: ping-pong at N clients (the cost per line), one \
             connection with {PIPELINED_LINES} lines of 128 bytes in flight (the cost per \
             byte), and a new connection for every line with session resumption off, so every \
             line pays a full handshake (the cost per connection). A cell gives TLS against \
             plain, and TLS as a percentage of plain: each TLS run over the plain run beside \
             it, median and range.",
            plan.reps,
            plan.tls_timed.as_secs_f64()
        ),
        charts: vec!["tls_ping.svg", "tls_bulk.svg", "tls_connections.svg"],
        table: Table { header, rows },
        findings,
        limits: vec![
            "The load generator encrypts and decrypts too, on the same CPUs: TLS's cost on \
             the client side is part of every TLS row."
                .into(),
            "A client that reconnects would normally resume its session (one round trip, no \
             certificate): the connection column is the first visit's cost, not a returning \
             client's. `scripts/bench.sh` compares upcase's TLS with a tokio-rustls server."
                .into(),
        ],
    }
}
