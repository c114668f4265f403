//! The simplest fast bulk client, as a yardstick for `upcase-flood`'s
//! pipelined mode: one thread writes one 64 KiB block of ASCII lines over
//! and over, the other reads and compares the replies with the expected
//! block (`memcmp`), with nothing limiting how much is in flight but the
//! socket buffers. What it measures is as close to the server's limit as a
//! verifying client gets; `scripts/bench.sh` reports `upcase-flood`'s
//! pipelined MB/s as a fraction of it, against the same server, in the
//! same run.
//!
//! It lives here, not in `flood/`, on purpose: a yardstick for the load
//! generator must share none of its code (no client kit, tally or payload
//! maker), or a slowness they share would cancel out of the ratio.
//!
//! `bulk-client --tcp ADDR [--secs S] [--line-bytes B]`; prints one JSON
//! line: `{"mb_per_sec":…,"bytes":…,"mismatched_reads":…}`. Exits 1 on any
//! wrong byte, short reply or I/O error.

use anyhow::{anyhow, bail, Context as _};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let mut addr = "127.0.0.1:7878".to_string();
    let mut secs = 3.0f64;
    let mut line_bytes = 128usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        let parsed = match flag.as_str() {
            "--tcp" => {
                addr = value;
                true
            }
            "--secs" => value.parse().map(|v| secs = v).is_ok(),
            "--line-bytes" => value.parse().map(|v| line_bytes = v).is_ok(),
            _ => false,
        };
        if !parsed || line_bytes < 2 {
            eprintln!("usage: bulk-client --tcp ADDR [--secs S] [--line-bytes B]");
            return ExitCode::from(2);
        }
    }
    upcase_peers::finish(
        "bulk-client",
        run(&addr, Duration::from_secs_f64(secs), line_bytes),
    )
}

/// 64 KiB of `line_bytes`-byte lines of lowercase ASCII.
fn block_of_lines(line_bytes: usize) -> Vec<u8> {
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 ,.-";
    let mut block = Vec::new();
    for line in 0..(64 * 1024 / line_bytes).max(1) {
        for i in 0..line_bytes - 1 {
            block.push(alphabet[(line * 7 + i * 13) % alphabet.len()]);
        }
        block.push(b'\n');
    }
    block
}

fn run(addr: &str, duration: Duration, line_bytes: usize) -> anyhow::Result<()> {
    let block = block_of_lines(line_bytes);
    let expected = block.to_ascii_uppercase();
    let stream = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let started = Instant::now();
    let (received, mismatched) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| -> anyhow::Result<u64> {
            let mut sent = 0u64;
            let mut out = &stream;
            while started.elapsed() < duration {
                out.write_all(&block).context("write")?;
                sent += block.len() as u64;
            }
            out.shutdown(Shutdown::Write).context("shutdown")?;
            Ok(sent)
        });
        let mut buffer = vec![0u8; 256 * 1024];
        let (mut received, mut mismatched) = (0u64, 0u64);
        let mut input = &stream;
        let read_error = loop {
            match input.read(&mut buffer) {
                Ok(0) => break None,
                Ok(read) => {
                    let mut at = 0;
                    while at < read {
                        let offset = (received % expected.len() as u64) as usize;
                        let take = (read - at).min(expected.len() - offset);
                        if buffer[at..at + take] != expected[offset..offset + take] {
                            mismatched += 1;
                        }
                        at += take;
                        received += take as u64;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => break Some(anyhow::Error::from(e).context("read")),
            }
        };
        let sent = writer
            .join()
            .map_err(|_| anyhow!("the writer panicked"))??;
        if let Some(error) = read_error {
            return Err(error);
        }
        if received != sent {
            bail!("sent {sent} bytes, {received} came back");
        }
        Ok((received, mismatched))
    })?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"mb_per_sec\":{:.1},\"bytes\":{received},\"seconds\":{seconds:.3},\"mismatched_reads\":{mismatched}}}",
        received as f64 / 1e6 / seconds
    );
    if mismatched > 0 {
        bail!("{mismatched} reads held wrong bytes");
    }
    Ok(())
}
