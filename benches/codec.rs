//! `cargo bench`: the codec alone, in MB/s of input, on ASCII and on
//! multi-byte text, as whole lines through `LineCodec` (what the server
//! does per read). No server, no sockets: this is the ceiling the network
//! code works under. End-to-end numbers come from `scripts/bench.sh`.

use std::hint::black_box;
use std::time::{Duration, Instant};
use upcase::codec::LineCodec;

/// About 64 KiB of 128-byte lines made of `text`.
fn lines_of(text: &str) -> Vec<u8> {
    let mut line = String::new();
    for c in text.chars().cycle() {
        if line.len() + c.len_utf8() > 127 {
            break;
        }
        line.push(c);
    }
    line.push('\n');
    line.repeat(64 * 1024 / line.len()).into_bytes()
}

/// Feeds `input` through a codec repeatedly for about a second; MB/s.
fn measure(input: &[u8]) -> f64 {
    let mut codec = LineCodec::new(65536);
    let mut out = Vec::with_capacity(input.len() * 3);
    let mut bytes = 0u64;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        for _ in 0..64 {
            out.clear();
            black_box(codec.decode(black_box(input), &mut out));
            bytes += input.len() as u64;
        }
    }
    bytes as f64 / 1e6 / started.elapsed().as_secs_f64()
}

fn main() {
    let cases = [
        (
            "ascii",
            lines_of("the quick brown fox jumps over the lazy dog 0123456789 "),
        ),
        (
            "mixed (ascii with some ß, ﬁ, é)",
            lines_of("straße ﬁne café the quick brown fox "),
        ),
        ("greek", lines_of("καλημέρα κόσμε σίσυφος ")),
        ("cjk (no case)", lines_of("大写字母测试文本")),
    ];
    println!("{:<36} {:>10}", "codec input (128-byte lines)", "MB/s");
    for (name, input) in cases {
        println!("{name:<36} {:>10.0}", measure(&input));
    }
}
