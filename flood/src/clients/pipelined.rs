//! The pipelined TCP client: up to `--pipeline` lines in flight on one
//! connection (plain or TLS), every reply still checked byte for byte.
//!
//! It must measure the server, not itself, so the per-line work is gone
//! from the common path:
//! - the lines (each with its own `c<client> s<n>` tag) and their expected
//!   replies are made once, as a `LineCycle` the writer walks through in
//!   batches; a batch is one `write` system call;
//! - the reader compares whole batches of replies with one `memcmp` as the
//!   bytes arrive, and records the batch's latency once for all its lines.
//!
//! Only a batch whose bytes differ is taken apart line by line (re-synced on
//! newlines, exactly as a line-at-a-time reader would), so a wrong, missing
//! or extra reply is still counted and shown per line. The replies are
//! expected in order: a lost or repeated line shifts everything after it
//! and is found.

use crate::clients::connect;
use crate::payload::LineMaker;
use crate::run::{describe, Options, RunState};
use crate::tally::Tally;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::Instant;
use upcase::client::link::Link;

/// Batches in one cycle of lines: a reply that repeats an earlier batch is
/// caught unless it is exactly this many batches late.
const CYCLE_BATCHES: usize = 8;

/// The most bytes one batch should hold (one `write`).
const BATCH_BYTES: usize = 64 * 1024;

/// Lines handed from the writer to the reader together.
struct Batch {
    /// The first line's index in the cycle.
    first: usize,
    /// How many lines.
    count: usize,
    /// When they were written.
    written_at: Instant,
}

/// Up to `--pipeline` lines in flight: a writer thread sends batches while
/// this thread reads and checks the replies in order.
pub fn pipelined(id: usize, addr: SocketAddr, run: &RunState) -> Tally {
    let mut tally = Tally::new();
    let Some(stream) = connect::connect(id, addr, run, &mut tally) else {
        return tally;
    };
    let sender = match stream.try_clone() {
        Ok(sender) => sender,
        Err(error) => {
            tally.error(describe(id, "socket", &error));
            return tally;
        }
    };
    let batch = batch_lines(run.options.pipeline, run.options.line_bytes);
    let cycle = LineCycle::new(id, &run.options, batch * CYCLE_BATCHES);
    // The window: batches written but not yet taken by the reader.
    let window_batches = (run.options.pipeline / batch).saturating_sub(1).max(1);
    let (window, written) = crossbeam_channel::bounded::<Batch>(window_batches);
    let (read_result, writer_result) = thread::scope(|scope| {
        let writer = scope.spawn(|| send_all(sender, run, &cycle, batch, window));
        let replies = check_replies(stream, run, &cycle, written, &mut tally);
        (replies, writer.join())
    });
    match writer_result {
        Ok(sent) => {
            tally.sent += sent.lines;
            tally.bytes += sent.bytes;
            if let Some(error) = sent.error {
                tally.error(describe(id, "send", &error));
            }
        }
        Err(_) => tally.error(format!("client {id}: the sending thread panicked")),
    }
    if let Err(error) = read_result {
        tally.error(describe(id, "waiting for a reply", &error));
    }
    tally
}

/// Lines per batch: a quarter of the window (so several batches are in
/// flight), at most [`BATCH_BYTES`] of them, at least one.
fn batch_lines(pipeline: usize, line_bytes: usize) -> usize {
    (pipeline / 4).min(BATCH_BYTES / line_bytes.max(1)).max(1)
}

/// A client's lines made once, with their expected replies, stored end to
/// end so that any run of consecutive lines is one slice.
struct LineCycle {
    requests: Vec<u8>,
    replies: Vec<u8>,
    /// Where line `i` ends in `requests` and `replies` (and starts: at the
    /// end of line `i - 1`, or 0).
    request_ends: Vec<usize>,
    reply_ends: Vec<usize>,
}

impl LineCycle {
    fn new(client: usize, options: &Options, lines: usize) -> LineCycle {
        let mut maker = LineMaker::new(client, options.line_bytes, options.text);
        let mut cycle = LineCycle {
            requests: Vec::new(),
            replies: Vec::new(),
            request_ends: Vec::with_capacity(lines),
            reply_ends: Vec::with_capacity(lines),
        };
        for seq in 0..lines {
            let (line, reply) = maker.make(seq as u64);
            cycle.requests.extend_from_slice(line);
            cycle.replies.extend_from_slice(reply);
            cycle.request_ends.push(cycle.requests.len());
            cycle.reply_ends.push(cycle.replies.len());
        }
        cycle
    }

    fn len(&self) -> usize {
        self.request_ends.len()
    }

    fn span(ends: &[usize], first: usize, count: usize) -> std::ops::Range<usize> {
        let start = if first == 0 { 0 } else { ends[first - 1] };
        start..ends[first + count - 1]
    }

    /// Lines `first..first + count`, as sent.
    fn requests(&self, first: usize, count: usize) -> &[u8] {
        &self.requests[Self::span(&self.request_ends, first, count)]
    }

    /// The replies to lines `first..first + count`.
    fn replies(&self, first: usize, count: usize) -> &[u8] {
        &self.replies[Self::span(&self.reply_ends, first, count)]
    }
}

/// What the writer sent before it stopped, and why it stopped early.
struct Sent {
    lines: u64,
    bytes: u64,
    error: Option<io::Error>,
}

fn send_all(
    mut stream: Link,
    run: &RunState,
    cycle: &LineCycle,
    batch: usize,
    window: crossbeam_channel::Sender<Batch>,
) -> Sent {
    let mut sent = Sent {
        lines: 0,
        bytes: 0,
        error: None,
    };
    let mut next = 0;
    while run.should_send(sent.lines) {
        let count = match run.options.duration {
            Some(_) => batch,
            None => batch.min((run.options.lines - sent.lines) as usize),
        };
        let requests = cycle.requests(next, count);
        let written_at = Instant::now();
        if let Err(error) = stream.write_all(requests) {
            sent.error = Some(error);
            break;
        }
        sent.lines += count as u64;
        sent.bytes += requests.len() as u64;
        let written = Batch {
            first: next,
            count,
            written_at,
        };
        // Blocks while the window is full: the reader has to catch up.
        if window.send(written).is_err() {
            break; // the reader stopped
        }
        next = (next + batch) % cycle.len();
    }
    stream.finish_sending();
    sent
}

/// Reads the replies batch by batch and checks them.
fn check_replies(
    stream: Link,
    run: &RunState,
    cycle: &LineCycle,
    written: crossbeam_channel::Receiver<Batch>,
    tally: &mut Tally,
) -> io::Result<()> {
    let mut input = ReplyBuffer::new(stream);
    for Batch {
        first,
        count,
        written_at,
    } in written.iter()
    {
        // One system call per batch, not per line: the timeout shrinks
        // near the run's deadline.
        input
            .stream
            .socket()
            .set_read_timeout(Some(run.read_timeout()))?;
        let want = cycle.replies(first, count);
        if input.starts_with(want)? {
            input.consume(want.len());
            let micros = written_at.elapsed().as_micros() as u64;
            run.record_right(tally, count as u64, micros);
            continue;
        }
        // Something differs: line by line, to count and show it.
        for line in first..first + count {
            let want = cycle.replies(line, 1);
            let Some(reply) = input.line(want.len() + 1)? else {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ));
            };
            let micros = written_at.elapsed().as_micros() as u64;
            run.record(tally, reply, want, micros);
            let length = reply.len();
            input.consume(length);
        }
    }
    Ok(())
}

/// Received bytes not yet checked, read straight from the socket in large
/// reads.
struct ReplyBuffer {
    stream: Link,
    buffer: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReplyBuffer {
    fn new(stream: Link) -> ReplyBuffer {
        ReplyBuffer {
            stream,
            buffer: vec![0; 256 * 1024],
            start: 0,
            end: 0,
        }
    }

    fn available(&self) -> &[u8] {
        &self.buffer[self.start..self.end]
    }

    fn consume(&mut self, bytes: usize) {
        self.start += bytes;
    }

    /// Reads at least one more byte; `false` when the server has closed.
    fn read_more(&mut self) -> io::Result<bool> {
        if self.end == self.buffer.len() {
            if self.start == 0 {
                self.buffer.resize(self.buffer.len() * 2, 0);
            } else {
                self.buffer.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
        }
        loop {
            match self.stream.read(&mut self.buffer[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(read) => {
                    self.end += read;
                    return Ok(true);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
        }
    }

    /// Whether the next bytes are exactly `want`, reading as they arrive
    /// and answering `false` at the first byte that differs (or at the
    /// end of the stream), without waiting for the rest.
    fn starts_with(&mut self, want: &[u8]) -> io::Result<bool> {
        let mut checked = 0;
        loop {
            let available = self.available();
            let upto = available.len().min(want.len());
            if available[checked..upto] != want[checked..upto] {
                return Ok(false);
            }
            if upto == want.len() {
                return Ok(true);
            }
            checked = upto;
            if !self.read_more()? {
                return Ok(false);
            }
        }
    }

    /// The next line, newline included, or its first `limit` bytes if it
    /// is longer (as `take(limit).read_until(b'\n')` would return);
    /// `None` at the end of the stream.
    fn line(&mut self, limit: usize) -> io::Result<Option<&[u8]>> {
        let mut searched = 0;
        loop {
            let available = self.available();
            let window = &available[..available.len().min(limit)];
            if let Some(newline) = memchr::memchr(b'\n', &window[searched..]) {
                let end = self.start + searched + newline + 1;
                return Ok(Some(&self.buffer[self.start..end]));
            }
            if window.len() == limit {
                return Ok(Some(&self.buffer[self.start..self.start + limit]));
            }
            searched = window.len();
            if !self.read_more()? {
                let rest = self.available();
                return Ok((!rest.is_empty()).then_some(rest));
            }
        }
    }
}
