//! The bench's Markdown: each metric's spread per server, each server's
//! same-run ratio to the reference and to the floor, and the load
//! generator against the simplest bulk client.

use super::workloads::{Workload, HIGHER_IS_BETTER};
use super::{BenchOptions, Placement, Sample, Server};
use crate::reports::compare::spread::Spread;
use std::fmt::Write as _;

/// A value as the tables print it: grouped thousands, two decimals below 1.
pub(super) fn number(value: f64) -> String {
    if value.abs() < 1.0 {
        return format!("{value:.2}");
    }
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0.0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

/// Each repetition's own ratio of `server` to `reference` (runs seconds
/// apart), skipping repetitions where the reference measured zero.
fn ratios(server: &[Sample], reference: &[Sample], metric: &str) -> Vec<f64> {
    server
        .iter()
        .zip(reference)
        .filter_map(|(s, r)| {
            let (s, r) = (s.get(metric)?, r.get(metric)?);
            (*r > 0.0).then(|| s / r)
        })
        .collect()
}

/// "1.02× (0.98 1.01 1.02 1.03 1.05)": the median of the repetitions'
/// ratios, then each in run order.
fn ratio_cell(per_rep: &[f64]) -> String {
    if per_rep.is_empty() {
        return "—".to_string();
    }
    let median = Spread::of(per_rep).median;
    if per_rep.len() == 1 {
        return format!("{median:.2}×");
    }
    let each: Vec<String> = per_rep.iter().map(|r| format!("{r:.2}")).collect();
    format!("{median:.2}× ({})", each.join(" "))
}

pub(super) fn render(
    options: &BenchOptions,
    placement: &Placement,
    chosen: &[Workload],
    results: &[Vec<Vec<Sample>>],
) -> String {
    let servers = &options.servers;
    let index = |name: &str| servers.iter().position(|s| s.name == name);
    let reference = index(&options.reference);
    let floor = index(&options.floor);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Measured {} on {} CPUs, Linux {}, by `{}`: {} repetition{} of {} s, servers \
         rotated within each, {}. Medians (min–max) of the repetitions.\n",
        today(),
        placement.cpus,
        kernel(),
        options.command,
        options.reps,
        if options.reps == 1 { "" } else { "s" },
        options.secs,
        placement.describe(),
    );
    let names: Vec<String> = servers.iter().map(|s| s.name.clone()).collect();
    table(&mut out, &names, chosen, |w, metric| {
        results[w]
            .iter()
            .map(|samples| {
                let values: Vec<f64> = samples
                    .iter()
                    .filter_map(|s| s.get(metric).copied())
                    .collect();
                if values.is_empty() {
                    // Not measured (a server without TLS).
                    return "—".to_string();
                }
                Spread::of(&values).show(number)
            })
            .collect()
    });
    // The ratio columns: each server over the reference (tokio) and over
    // the floor, repetition by repetition.
    let mut columns: Vec<(usize, usize)> = Vec::new();
    for s in 0..servers.len() {
        if let Some(r) = reference.filter(|&r| r != s && Some(s) != floor) {
            columns.push((s, r));
        }
        if let Some(f) = floor.filter(|&f| f != s) {
            columns.push((s, f));
        }
    }
    if !columns.is_empty() {
        let _ = writeln!(
            out,
            "\nSame-run ratios: the median of each repetition's own ratio, then \
             each repetition's in run order. Above 1× is better for {}, below 1× \
             for the latencies, loss and memory.\n",
            HIGHER_IS_BETTER.join(" and ")
        );
        let heads: Vec<String> = columns
            .iter()
            .map(|&(s, by)| format!("{} ÷ {}", servers[s].name, servers[by].name))
            .collect();
        table(&mut out, &heads, chosen, |w, metric| {
            columns
                .iter()
                .map(|&(s, by)| ratio_cell(&ratios(&results[w][s], &results[w][by], metric)))
                .collect()
        });
    }
    yardstick(&mut out, servers, chosen, results);
    out
}

/// A table with a row per workload and metric: `heads` after the two
/// first columns, the cells from `cells(workload index, metric)`.
fn table(
    out: &mut String,
    heads: &[String],
    chosen: &[Workload],
    cells: impl Fn(usize, &str) -> Vec<String>,
) {
    let _ = writeln!(out, "| workload | metric | {} |", heads.join(" | "));
    let _ = writeln!(out, "|---|---|{}", "---|".repeat(heads.len()));
    for (w, workload) in chosen.iter().enumerate() {
        for metric in &workload.metrics {
            let row = cells(w, metric).join(" | ");
            let _ = writeln!(out, "| {} | {metric} | {row} |", workload.name);
        }
    }
}

/// Whether the flood measures the server and not itself: its bulk MB/s
/// against the simplest bulk client's, same server, same run.
fn yardstick(
    out: &mut String,
    servers: &[Server],
    chosen: &[Workload],
    results: &[Vec<Vec<Sample>>],
) {
    let find = |name: &str| chosen.iter().position(|w| w.name == name);
    let (Some(ours), Some(theirs)) = (find("bulk ascii"), find("bulk-client")) else {
        return;
    };
    let median = |samples: &[Sample]| {
        let values: Vec<f64> = samples
            .iter()
            .filter_map(|s| s.get("mb_per_sec").copied())
            .collect();
        Spread::of(&values).median
    };
    let _ = writeln!(
        out,
        "\nThe load generator against the simplest bulk client \
         (`peers/src/bin/bulk-client.rs`), same server, same run; medians of mb_per_sec:\n"
    );
    let _ = writeln!(
        out,
        "| server | upcase-flood (bulk ascii) | bulk-client | upcase-flood ÷ bulk-client |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    for (s, server) in servers.iter().enumerate() {
        let (a, b) = (median(&results[ours][s]), median(&results[theirs][s]));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2}× |",
            server.name,
            number(a),
            number(b),
            a / b.max(1e-9)
        );
    }
}

/// Today's date (UTC), for the preface.
fn today() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%d").to_string()
}

/// The running kernel's release.
fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|text| text.trim().to_string())
        .unwrap_or_else(|_| "(unknown)".to_string())
}

#[cfg(test)]
mod tests {
    use super::super::workloads::workloads;
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(number(1234567.4), "1,234,567");
        assert_eq!(number(999.0), "999");
        assert_eq!(number(0.25), "0.25");
    }

    #[test]
    fn a_ratio_per_repetition_skips_a_zero_reference() {
        let of = |v: f64| Sample::from([("lines_per_sec", v)]);
        let ours = [of(10.0), of(30.0), of(5.0)];
        let theirs = [of(5.0), of(0.0), of(10.0)];
        assert_eq!(ratios(&ours, &theirs, "lines_per_sec"), vec![2.0, 0.5]);
        assert_eq!(ratio_cell(&[2.0, 0.5, 1.0]), "1.00× (2.00 0.50 1.00)");
        assert_eq!(ratio_cell(&[]), "—");
    }

    #[test]
    fn every_server_is_divided_by_the_reference_and_the_floor() {
        let server = |name: &str| Server {
            name: name.to_string(),
            binary: PathBuf::from(name),
            args: Vec::new(),
            tls: false,
        };
        let options = BenchOptions {
            servers: vec![server("tokio"), server("floor"), server("pool")],
            reference: "tokio".into(),
            floor: "floor".into(),
            bulk_client: PathBuf::from("bulk-client"),
            reps: 2,
            secs: 1.0,
            idle: 10,
            only: Vec::new(),
            pin: false,
            command: "scripts/bench.sh".into(),
        };
        let chosen: Vec<Workload> = workloads(1.0, 10)
            .into_iter()
            .filter(|w| w.name == "churn C=4")
            .collect();
        let of = |v: f64| Sample::from([("lines_per_sec", v)]);
        let results = vec![vec![
            vec![of(100.0), of(200.0)],
            vec![of(400.0), of(400.0)],
            vec![of(100.0), of(100.0)],
        ]];
        let placement = Placement {
            server: None,
            load: None,
            cpus: 2,
        };
        let table = render(&options, &placement, &chosen, &results);
        assert!(
            table.contains("| workload | metric | tokio ÷ floor | pool ÷ tokio | pool ÷ floor |"),
            "{table}"
        );
        assert!(
            table.contains("| churn C=4 | lines_per_sec | 0.38× (0.25 0.50) | 0.75× (1.00 0.50) | 0.25× (0.25 0.25) |"),
            "{table}"
        );
        assert!(
            table.contains("| churn C=4 | lines_per_sec | 150 (100–200) | 400 | 100 |"),
            "{table}"
        );
    }
}
