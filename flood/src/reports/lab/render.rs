//! `lab.md`: the table, and sentences computed from its numbers (never
//! written by hand, so they cannot drift from a run).

use super::loss::{expected_udp_loss, ms, num, Row};

pub(super) fn report(rows: &[Row], quick: bool) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::lab::loss::tests::row;

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
}
