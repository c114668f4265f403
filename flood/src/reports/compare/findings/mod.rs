//! What a comparison found: the report's sections — each a table, the
//! charts it shows (drawn by `charts`), sentences *computed from this
//! run's numbers*, and what the measurement cannot show on this machine.
//! The same sections become `report.md` and `index.html` (`render`).
//!
//! Two rules run through it. A ranking is said only when the runs' ranges
//! do not overlap ([`Spread::above`]), and then by how much; otherwise the
//! sentence says "level within noise". And a model that left clients
//! unanswered is never ranked by its throughput, nor called fastest while
//! its slowest client or its p99 is worse beyond noise: the sentence says
//! what it trades.

mod ping;
mod sections;
#[cfg(test)]
mod tests;
mod tls;

use super::spread::{human, Spread};
use super::{Plan, WORKERS};

pub(super) use sections::sections;

/// A table: a header row and rows of cells.
pub(super) struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// One section of the report.
pub(super) struct Section {
    pub title: String,
    /// What is measured and how, before the numbers.
    pub intro: String,
    /// SVG files (in the output folder) this section shows.
    pub charts: Vec<&'static str>,
    pub table: Table,
    /// Sentences computed from the numbers above.
    pub findings: Vec<String>,
    /// What this measurement cannot show here.
    pub limits: Vec<String>,
}

/// A threading model as the page introduces it, before any number.
pub(super) struct ModelSketch {
    pub name: &'static str,
    pub summary: &'static str,
    pub diagram: &'static str,
}

/// Each model of [`upcase::config::Model::ALL`], with its diagram (the
/// README's). The match is exhaustive, so a model added to the server
/// cannot reach the page without its own sketch.
pub(super) fn sketches() -> Vec<ModelSketch> {
    use upcase::config::Model;
    Model::ALL
        .iter()
        .map(|&model| {
            let (summary, diagram) = match model {
                Model::Pool => (
                    "the design card's server: the Rust Book's acceptor, channel and thread \
                     pool, but a worker serves a connection only while it has input and parks \
                     an idle one on its own readiness poller, so an idle client holds no thread.",
                    "acceptor ──channel──▶ worker 1: poller { A, C, E … } → serve whichever is ready\n\
                     \x20                  └▶ worker 2: poller { B, D, F … } → serve whichever is ready",
                ),
                Model::EventLoops => (
                    "nginx's shape: no acceptor and no channel; every worker's event loop \
                     accepts for itself and serves the connections it accepted on its own poller.",
                    "listening socket ─▶ event loop 1: accept → poller { A, C, E … } → serve whichever is ready\n\
                     \x20                └▶ event loop 2: accept → poller { B, D, F … } → serve whichever is ready",
                ),
                Model::FixedPool => (
                    "the Rust Book's thread pool exactly: a connection holds one worker for its \
                     whole life, so with 2 workers a third client waits.",
                    "acceptor ──channel──▶ [worker 1: client A ……………………]\n\
                     \x20                     [worker 2: client B ……………………]\n\
                     \x20         client C waits in the channel, then in the backlog",
                ),
                Model::ThreadPerConnection => (
                    "one operating-system thread per client.",
                    "acceptor ─spawn─▶ [thread: A]   ─spawn─▶ [thread: B]   ─spawn─▶ [thread: C] …",
                ),
                Model::Iterative => (
                    "one thread serves one client at a time, the lecture's first server.",
                    "accept A ─ serve A ……… A leaves ─ accept B ─ serve B ………\n\
                     \x20          (B and C wait in the kernel's listen backlog)",
                ),
            };
            ModelSketch {
                name: model.name(),
                summary,
                diagram,
            }
        })
        .collect()
}

/// The opening: how the run was made and how to read its numbers.
pub(super) fn preface(plan: &Plan, quick: bool) -> Vec<String> {
    vec![
        format!(
            "Measured by `upcase-flood compare{}` on a machine with {} CPUs; every server ran \
             with `--workers {WORKERS}` on 127.0.0.1. Every reply was checked byte for byte.",
            if quick { " --quick" } else { "" },
            num_cpus::get(),
        ),
        format!(
            "Each number is the **median of {} runs** of {:.1} s, with the lowest and highest \
             run in parentheses (on the charts: the bar through each point). A sentence ranks \
             two results only when their ranges do not overlap and they differ by 10 % or \
             more; otherwise it says they are level within noise.",
            plan.reps,
            plan.timed.as_secs_f64()
        ),
        "**Carriers**: a crossbeam channel carries a message between two threads of one \
         process; a Unix domain socket, TCP and UDP loopback carry it between sockets through \
         the kernel."
            .into(),
    ]
}

/// "1 client", "16 clients".
fn clients_phrase(clients: usize) -> String {
    format!(
        "{clients} {}",
        if clients == 1 { "client" } else { "clients" }
    )
}

/// `` `a` (X), `b` (Y) and `c` (Z) ``.
fn listing(items: &[(&str, Spread)], show: &dyn Fn(f64) -> String) -> String {
    let named: Vec<String> = items
        .iter()
        .map(|(name, value)| format!("`{name}` ({})", show(value.median)))
        .collect();
    match named.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Ranks `items` by their medians (`higher` better, or lower) and says
/// how the first compares with the rest: ahead by how much when its range
/// clears the next one's, else which are level with it within noise.
/// `what` names the quantity ("moved the most", "was quickest").
fn ranking(
    mut items: Vec<(&str, Spread)>,
    higher: bool,
    what: &str,
    show: &dyn Fn(f64) -> String,
) -> String {
    items.sort_by(|a, b| {
        let order = b.1.median.total_cmp(&a.1.median);
        if higher {
            order
        } else {
            order.reverse()
        }
    });
    let better = |a: &Spread, b: &Spread| if higher { a.above(b) } else { b.above(a) };
    let Some((&(first, top), rest)) = items.split_first() else {
        return "nothing was measured.".into();
    };
    let Some(&(second, next)) = rest.first() else {
        return format!("only `{first}` was measured ({}).", show(top.median));
    };
    let level: Vec<(&str, Spread)> = items
        .iter()
        .filter(|(_, value)| !better(&top, value))
        .copied()
        .collect();
    if level.len() > 1 {
        return format!(
            "{} are level within noise (their runs' ranges overlap).",
            listing(&level, show)
        );
    }
    if higher {
        format!(
            "`{first}` {what}: {}, {:.1}× `{second}`'s {} (beyond the spread of the runs).",
            show(top.median),
            top.times(&next),
            show(next.median)
        )
    } else {
        format!(
            "`{first}` {what}: {}; `{second}` took {:.1}× as long, {} (beyond the spread of \
             the runs).",
            show(top.median),
            next.times(&top),
            show(next.median)
        )
    }
}

fn per_sec(value: f64) -> String {
    format!("{}/s", human(value))
}

fn micros(value: f64) -> String {
    format!("{} µs", human(value))
}
