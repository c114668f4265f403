//! Telling what a run counted: the merged tally and each client's share,
//! judged (passed or not) and printed for people or as JSON for scripts.

use crate::run::Transport;
use crate::tally::Tally;
use serde_json::json;
use std::io::{self, Write};

/// The outcome of one flood run.
pub struct Report {
    /// What was flooded.
    pub transport: Transport,
    /// The server's address.
    pub address: String,
    /// How the clients sent: `ping-pong`, `pipeline K`, `connect-per-line`.
    pub mode: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Extra idle connections held open during the run.
    pub idle: usize,
    /// Wall-clock seconds the run took.
    pub seconds: f64,
    /// UDP: the most loss (percent of datagrams sent) that still passes.
    pub max_loss_pct: f64,
    /// The timed window (`--duration`), if the run had one.
    pub window: Option<std::time::Duration>,
    /// Each client's good replies inside the timed window.
    pub per_client: Vec<u64>,
    /// All clients' counts together.
    pub tally: Tally,
}

impl Report {
    /// Replies per second.
    pub fn lines_per_sec(&self) -> f64 {
        self.tally.ok as f64 / self.seconds.max(1e-9)
    }

    /// Payload megabytes (10^6) sent per second.
    pub fn mb_per_sec(&self) -> f64 {
        self.tally.bytes as f64 / 1e6 / self.seconds.max(1e-9)
    }

    /// Clients that got no reply at all inside the timed window.
    pub fn starved_clients(&self) -> usize {
        self.per_client.iter().filter(|&&n| n == 0).count()
    }

    /// Round trips per second inside the timed window (all clients).
    pub fn window_rate(&self) -> f64 {
        let secs = self.window.map_or(self.seconds, |w| w.as_secs_f64());
        self.tally.in_window as f64 / secs.max(1e-9)
    }

    /// The slowest client's round trips per second inside the window.
    pub fn slowest_client_rate(&self) -> f64 {
        let secs = self.window.map_or(self.seconds, |w| w.as_secs_f64());
        self.per_client.iter().min().copied().unwrap_or(0) as f64 / secs.max(1e-9)
    }

    /// A latency percentile in microseconds (0 when nothing was measured).
    pub fn percentile_us(&self, percentile: f64) -> u64 {
        if self.tally.latency.is_empty() {
            0
        } else {
            self.tally.latency.value_at_quantile(percentile / 100.0)
        }
    }

    /// Datagrams (or lines) lost, in percent of those sent.
    pub fn loss_pct(&self) -> f64 {
        100.0 * self.tally.lost as f64 / self.tally.sent.max(1) as f64
    }

    /// TCP: every reply arrived and matched. UDP: no reply is wrong, no
    /// client failed, something was answered, and loss is at most
    /// `--max-loss` percent.
    pub fn passed(&self) -> bool {
        let t = &self.tally;
        let clean = t.mismatches == 0 && t.error_count == 0;
        match self.transport {
            Transport::Tcp => clean && t.lost == 0 && t.ok == t.sent,
            _ => clean && t.ok > 0 && self.loss_pct() <= self.max_loss_pct,
        }
    }

    /// The report as one JSON object (the keys SPEC.md names, and more).
    pub fn to_json(&self) -> serde_json::Value {
        let t = &self.tally;
        json!({
            "transport": self.transport.name(),
            "address": self.address,
            "mode": self.mode,
            "clients": self.clients,
            "idle_connections": self.idle,
            "lines_sent": t.sent,
            "replies_ok": t.ok,
            "mismatches": t.mismatches,
            "lost": t.lost,
            "loss_pct": round3(self.loss_pct()),
            "max_loss_pct": self.max_loss_pct,
            "reordered": t.reordered,
            "resent": t.resent,
            "connections_cut": t.connections_cut,
            "starved_clients": self.starved_clients(),
            "slowest_client_per_sec": round3(self.slowest_client_rate()),
            // Each client's good replies inside the window, in client order
            // (a flood thread's clients together): who was left behind.
            "per_client": self.per_client,
            "errors": t.error_count,
            "error_messages": t.errors,
            "seconds": round3(self.seconds),
            "lines_per_sec": round3(self.lines_per_sec()),
            "mb_per_sec": round3(self.mb_per_sec()),
            "p50_us": self.percentile_us(50.0),
            "p99_us": self.percentile_us(99.0),
            "p999_us": self.percentile_us(99.9),
            "max_us": t.latency.max(),
            "passed": self.passed(),
        })
    }

    /// The summary for people.
    pub fn print_human(&self, mut out: impl Write) -> io::Result<()> {
        let t = &self.tally;
        writeln!(
            out,
            "upcase-flood: {} {}, {} {}, {}{}",
            self.transport,
            self.address,
            self.clients,
            if self.clients == 1 {
                "client"
            } else {
                "clients"
            },
            self.mode,
            if self.idle > 0 {
                format!(", {} idle connections held", self.idle)
            } else {
                String::new()
            }
        )?;
        writeln!(out, "  lines sent    {}", t.sent)?;
        writeln!(out, "  replies ok    {}", t.ok)?;
        writeln!(out, "  mismatches    {}", t.mismatches)?;
        if self.transport == Transport::Udp {
            writeln!(
                out,
                "  lost          {} ({:.2} %, at most {} % passes)",
                t.lost,
                self.loss_pct(),
                self.max_loss_pct
            )?;
        } else {
            writeln!(out, "  lost          {}", t.lost)?;
        }
        if self.transport == Transport::Udp {
            writeln!(out, "  reordered     {}", t.reordered)?;
        }
        if t.connections_cut > 0 {
            writeln!(
                out,
                "  cut           {} connections ended with a line unanswered",
                t.connections_cut
            )?;
        }
        if t.resent > 0 {
            writeln!(out, "  resent        {} (after reconnecting)", t.resent)?;
        }
        writeln!(out, "  errors        {}", t.error_count)?;
        writeln!(out, "  time          {:.2} s", self.seconds)?;
        writeln!(
            out,
            "  throughput    {:.0} lines/s, {:.2} MB/s",
            self.lines_per_sec(),
            self.mb_per_sec()
        )?;
        writeln!(
            out,
            "  latency (us)  p50 {}  p99 {}  p99.9 {}  max {}",
            self.percentile_us(50.0),
            self.percentile_us(99.0),
            self.percentile_us(99.9),
            t.latency.max()
        )?;
        for message in &t.errors {
            writeln!(out, "  error: {message}")?;
        }
        let verdict = match (self.passed(), self.transport) {
            (true, Transport::Tcp) => "OK: every reply arrived and matched",
            (true, _) => "OK: every reply that arrived matched, and loss is within --max-loss",
            (false, _) => "FAILED: see the counts above",
        };
        writeln!(out, "verdict: {verdict}")
    }
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(transport: Transport, tally: Tally) -> Report {
        Report {
            transport,
            address: "127.0.0.1:1".into(),
            mode: "ping-pong".into(),
            clients: 1,
            idle: 0,
            seconds: 2.0,
            max_loss_pct: 50.0,
            window: None,
            per_client: vec![tally.ok],
            tally,
        }
    }

    #[test]
    fn tcp_passes_only_when_every_reply_matched() {
        let mut tally = Tally::new();
        tally.sent = 2;
        tally.check(b"A", b"A", 10);
        tally.check(b"B", b"B", 30);
        assert!(report(Transport::Tcp, tally).passed());

        let mut tally = Tally::new();
        tally.sent = 2;
        tally.check(b"A", b"A", 10);
        tally.check(b"b", b"B", 10);
        let failed = report(Transport::Tcp, tally);
        assert!(!failed.passed());
        assert_eq!(failed.to_json()["mismatches"], 1);
        assert_eq!(failed.to_json()["errors"], 0);
    }

    #[test]
    fn udp_loss_within_max_loss_passes_and_beyond_it_fails() {
        let mut tally = Tally::new();
        tally.sent = 4;
        tally.lost = 3;
        tally.check(b"A", b"A", 10);
        assert!(
            !report(Transport::Udp, tally).passed(),
            "75 % lost, 50 % allowed"
        );
    }

    #[test]
    fn a_long_mismatch_is_shown_as_a_short_excerpt() {
        use crate::tally::excerpt;
        let shown = excerpt(&vec![b'x'; 100_000]);
        assert!(
            shown.len() < 100 && shown.ends_with("(100000 bytes)"),
            "{shown}"
        );
    }

    #[test]
    fn udp_loss_is_reported_but_not_a_failure() {
        let mut tally = Tally::new();
        tally.sent = 3;
        tally.lost = 1;
        tally.check(b"A", b"A", 10);
        tally.check(b"B", b"B", 10);
        let udp = report(Transport::Udp, tally);
        assert!(udp.passed());
        let json = udp.to_json();
        for key in [
            "transport",
            "clients",
            "lines_sent",
            "replies_ok",
            "mismatches",
            "lost",
            "seconds",
            "lines_per_sec",
            "p50_us",
            "p99_us",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
        assert_eq!(json["lines_per_sec"], 1.0);
        assert_eq!(json["lost"], 1);
    }
}
