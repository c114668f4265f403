//! The ping-pong section: who served every client, and how fast, fairly
//! and with what tail.

use super::{clients_phrase, listing, micros, per_sec, Section, Table};
use crate::reports::compare::measure::{ModelResults, Ping};
use crate::reports::compare::Plan;

/// The table cell of one measurement.
fn cell(p: &Ping) -> String {
    if p.starved_runs > 0 {
        format!(
            "**up to {} of {} never answered** (in {} of {} runs; {} from the others)",
            p.starved,
            p.clients,
            p.starved_runs,
            p.runs,
            per_sec(p.per_sec.median)
        )
    } else {
        format!(
            "{}; slowest client {}; p50 {}, p99 {}",
            p.per_sec.show(per_sec),
            per_sec(p.slowest_per_sec.median),
            micros(p.p50_us.median),
            p.p99_us.show(micros)
        )
    }
}

/// The slowest client's share of an equal split, in percent.
fn fair_share_pct(p: &Ping) -> f64 {
    let equal = p.per_sec.median / p.clients.max(1) as f64;
    100.0 * p.slowest_per_sec.median / equal.max(1e-9)
}

/// What the leader `top` gives up against the others that served every
/// client: its slowest client or its p99 worse beyond noise.
fn trades(top: (&str, &Ping), others: &[(&str, &Ping)]) -> Vec<String> {
    let (_, a) = top;
    let mut trades = Vec::new();
    let fairest = others.iter().max_by(|x, y| {
        x.1.slowest_per_sec
            .median
            .total_cmp(&y.1.slowest_per_sec.median)
    });
    if let Some(&(name, b)) = fairest {
        if b.slowest_per_sec.above(&a.slowest_per_sec) {
            trades.push(format!(
                "its slowest client got {} ({:.0} % of an equal share) against {} ({:.0} %) \
                 for `{name}`",
                per_sec(a.slowest_per_sec.median),
                fair_share_pct(a),
                per_sec(b.slowest_per_sec.median),
                fair_share_pct(b)
            ));
        }
    }
    let quickest = others
        .iter()
        .min_by(|x, y| x.1.p99_us.median.total_cmp(&y.1.p99_us.median));
    if let Some(&(name, b)) = quickest {
        if a.p99_us.above(&b.p99_us) {
            trades.push(format!(
                "its p99 was {} against {} for `{name}`",
                micros(a.p99_us.median),
                micros(b.p99_us.median)
            ));
        }
    }
    trades
}

/// The sentence for one client count.
pub(super) fn finding(clients: usize, at: &[(&str, &Ping)]) -> String {
    let at_n = format!("At {}", clients_phrase(clients));
    let mut served: Vec<(&str, &Ping)> = at
        .iter()
        .filter(|(_, p)| p.starved_runs == 0)
        .copied()
        .collect();
    served.sort_by(|a, b| b.1.per_sec.median.total_cmp(&a.1.per_sec.median));
    let mut sentence = match served.as_slice() {
        [] => format!("{at_n} no model served every client."),
        [(only, p)] => format!(
            "{at_n} only `{only}` served every client ({}).",
            per_sec(p.per_sec.median)
        ),
        [(first, a), rest @ ..] => {
            let level: Vec<_> = served
                .iter()
                .filter(|(_, p)| !a.per_sec.above(&p.per_sec))
                .map(|(name, p)| (*name, p.per_sec))
                .collect();
            if level.len() > 1 {
                format!(
                    "{at_n} {} served every client and are level within noise in round \
                     trips per second.",
                    listing(&level, &per_sec)
                )
            } else {
                let (second, b) = rest[0];
                let lead = format!(
                    "{}, {:.1}× `{second}`'s {}, beyond the spread of the runs",
                    per_sec(a.per_sec.median),
                    a.per_sec.times(&b.per_sec),
                    per_sec(b.per_sec.median)
                );
                let traded = trades((first, a), rest);
                if traded.is_empty() {
                    format!(
                        "{at_n} `{first}` served every client fastest ({lead}), its slowest \
                         client and p99 no worse beyond noise."
                    )
                } else {
                    format!(
                        "{at_n} `{first}` answered the most in total ({lead}), but at a cost: \
                         {}.",
                        traded.join(", and ")
                    )
                }
            }
        }
    };
    let starving: Vec<String> = at
        .iter()
        .filter(|(_, p)| p.starved_runs > 0)
        .map(|(name, p)| {
            format!(
                "`{name}` left up to {} of {clients} unanswered (in {} of {} runs)",
                p.starved, p.starved_runs, p.runs
            )
        })
        .collect();
    if !starving.is_empty() {
        sentence.push_str(&format!(
            " {}, so {} total is not a ranking.",
            starving.join("; "),
            if starving.len() == 1 { "its" } else { "their" }
        ));
    }
    sentence
}

pub(super) fn section(plan: &Plan, results: &[ModelResults]) -> Section {
    let header = std::iter::once("model".to_string())
        .chain(plan.ping_clients.iter().map(|&c| clients_phrase(c)))
        .collect();
    let rows = results
        .iter()
        .map(|r| {
            std::iter::once(r.model.name().to_string())
                .chain(r.ping.iter().map(cell))
                .collect()
        })
        .collect();
    let findings = plan
        .ping_clients
        .iter()
        .enumerate()
        .map(|(index, &clients)| {
            let at: Vec<(&str, &Ping)> = results
                .iter()
                .filter_map(|r| r.ping.get(index).map(|p| (r.model.name(), p)))
                .collect();
            finding(clients, &at)
        })
        .collect();
    Section {
        title: "Ping-pong: every client sends a line and waits for its reply".into(),
        intro: format!(
            "N clients each send a line, wait for the reply, and repeat, for {:.1} s. The table \
             gives the round trips per second of all clients together, of the slowest client, \
             and the p50/p99 latency; a client that got no reply inside the run is counted as \
             never answered, and its model's total is not compared.",
            plan.timed.as_secs_f64()
        ),
        charts: vec!["throughput.svg", "slowest_client.svg", "latency_p99.svg"],
        table: Table { header, rows },
        findings,
        limits: vec![
            "The load generator runs on the same CPUs as the server: at many clients it is \
             part of what is measured."
                .into(),
            "Loopback has one path and never loses a packet; see `upcase-flood lab` for a \
             lossy link."
                .into(),
        ],
    }
}
