//! Bytes in, uppercase bytes out: the whole protocol as pure functions.
//!
//! Everything else in the crate moves bytes between sockets; this module is
//! the only place that decides *what* the reply is. Keeping it free of I/O
//! means it can be tested exhaustively (the unit tests in `tests.rs`, the
//! property tests of `tests/codec_props.rs`), and every threading model
//! gives byte-identical answers because they all call it.
//!
//! Two layers:
//! - [`uppercase_into`]: full Unicode uppercasing (`ß` -> `SS`) that passes
//!   bytes that are not valid UTF-8 through unchanged.
//! - [`LineCodec`]: TCP framing. It is fed whatever chunks the socket
//!   returns, answers every complete line at once, and keeps only the
//!   partial last line between calls. Because `\n` never occurs inside a
//!   multi-byte UTF-8 sequence, uppercasing whole lines gives the same
//!   answer however the input was chunked.

mod case_tables;

use case_tables::uppercase_bytes_into;
use std::fmt;

/// The default for `--max-line`: the longest line, in bytes, that is answered.
pub const DEFAULT_MAX_LINE: usize = 65536;

/// The most uppercasing can grow text: three times its bytes (`ΐ`, two
/// bytes, becomes `Ϊ́`, six). A reply to a line of `n` bytes holds at most
/// `n * MAX_GROWTH` bytes and its newline.
pub const MAX_GROWTH: usize = 3;

/// The largest payload one IPv4 UDP datagram can carry (65,535 minus the
/// 20-byte IPv4 and 8-byte UDP headers).
pub const MAX_DATAGRAM: usize = 65507;

/// The largest payload one IPv6 UDP datagram can carry without jumbograms
/// (IPv6's length field excludes its own header: 65,535 minus 8).
pub const MAX_DATAGRAM_V6: usize = 65527;

/// The largest UDP payload for the socket's address family.
pub fn max_datagram(ipv6: bool) -> usize {
    if ipv6 {
        MAX_DATAGRAM_V6
    } else {
        MAX_DATAGRAM
    }
}

/// How large a UDP reply may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyBound {
    /// The most one datagram carries ([`max_datagram`]).
    pub max_bytes: usize,
    /// The most bytes out per byte in (`--udp-max-amplification`): a
    /// forged source address turns every reply into traffic aimed at the
    /// address's owner, so a reply must not be much larger than what the
    /// sender paid for it.
    pub max_amplification: u32,
}

impl ReplyBound {
    /// Whether a `reply`-byte answer to a `request`-byte datagram may be sent.
    pub fn allows(&self, request: usize, reply: usize) -> bool {
        reply <= self.max_bytes && reply <= request.saturating_mul(self.max_amplification as usize)
    }
}

/// What [`datagram_reply`] put in the reply buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatagramReply {
    /// The uppercased payload.
    Uppercased,
    /// `error: reply too large`: the uppercased payload was over the bound.
    TooLarge,
    /// Nothing to send: the uppercased payload was over the bound, and so
    /// would the error be (a request of a few bytes at a low
    /// `--udp-max-amplification`).
    Withheld,
}

/// Builds the reply to one datagram into `reply` (cleared first): the
/// uppercased payload when `bound` allows it, else `error: reply too
/// large` when the bound allows that, else nothing.
pub fn datagram_reply(payload: &[u8], reply: &mut Vec<u8>, bound: ReplyBound) -> DatagramReply {
    reply.clear();
    uppercase_into(payload, reply);
    if bound.allows(payload.len(), reply.len()) {
        return DatagramReply::Uppercased;
    }
    reply.clear();
    if !bound.allows(payload.len(), REPLY_TOO_LARGE.len()) {
        return DatagramReply::Withheld;
    }
    reply.extend_from_slice(REPLY_TOO_LARGE);
    DatagramReply::TooLarge
}

/// Sent instead of a UDP reply over its [`ReplyBound`].
pub const REPLY_TOO_LARGE: &[u8] = b"error: reply too large";

/// Sent to a TCP connection that sent no complete line for `--idle-timeout`.
pub const IDLE_TIMEOUT_REPLY: &[u8] = b"error: idle timeout\n";

/// Sent to a TCP connection that arrives past `--max-connections`.
pub const TOO_MANY_CONNECTIONS_REPLY: &[u8] = b"error: too many connections\n";

/// Sent to a TCP connection whose address already has
/// `--max-connections-per-ip` open.
pub const TOO_MANY_FROM_ADDRESS_REPLY: &[u8] = b"error: too many connections from your address\n";

/// Appends the uppercase form of `input` to `out`.
///
/// Valid UTF-8 runs are uppercased exactly as [`str::to_uppercase`] would;
/// bytes that are not valid UTF-8 are copied through unchanged, in place.
/// Nothing is dropped or replaced. Pure ASCII (the common case) takes a fast
/// path that the compiler vectorises.
pub fn uppercase_into(input: &[u8], out: &mut Vec<u8>) {
    if input.is_ascii() {
        let start = out.len();
        out.extend_from_slice(input);
        out[start..].make_ascii_uppercase();
        return;
    }
    uppercase_bytes_into(input, out);
}

/// Convenience form of [`uppercase_into`] that returns a new buffer.
pub fn uppercase(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    uppercase_into(input, &mut out);
    out
}

/// A line was longer than the connection's `--max-line`.
///
/// The connection is answered with [`LineTooLong::reply`] and then closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong {
    /// The limit that was exceeded, in bytes.
    pub max_line: usize,
}

impl LineTooLong {
    /// The exact error line the protocol sends: `error: line exceeds N bytes\n`.
    pub fn reply(&self) -> Vec<u8> {
        format!("error: {self}\n").into_bytes()
    }
}

impl fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line exceeds {} bytes", self.max_line)
    }
}

impl std::error::Error for LineTooLong {}

/// What one [`LineCodec::decode`] call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decoded {
    /// Lines answered (their replies were appended to the output).
    pub lines: usize,
    /// Set when a line exceeded the limit; decoding stopped there.
    pub too_long: Option<LineTooLong>,
}

/// TCP line framing for one connection: complete lines in, replies out.
///
/// A line's length is the number of bytes before its `\n` (a `\r` before
/// the `\n` counts). An idle codec holds no heap memory: the partial-line
/// buffer is allocated when a line is split across reads and given back as
/// soon as that line is complete.
#[derive(Debug)]
pub struct LineCodec {
    partial: Vec<u8>,
    max_line: usize,
}

impl LineCodec {
    /// A codec that rejects lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> LineCodec {
        LineCodec {
            partial: Vec::new(),
            max_line,
        }
    }

    /// Whether bytes of an unfinished line are being held.
    pub fn has_partial_line(&self) -> bool {
        !self.partial.is_empty()
    }

    /// Bytes of the unfinished line.
    pub fn partial_len(&self) -> usize {
        self.partial.len()
    }

    /// Heap bytes held for the unfinished line.
    pub fn held_bytes(&self) -> usize {
        self.partial.capacity()
    }

    /// Feeds the next chunk of input and appends the replies to every line it
    /// completes to `out`, in order.
    ///
    /// A line longer than `max_line` stops decoding: [`Decoded::too_long`]
    /// is set, and [`Decoded::lines`] still counts (and `out` still holds)
    /// every line answered before it; the caller sends those, then the error.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Decoded {
        let mut decoded = Decoded::default();
        if let Err(too_long) = self.decode_lines(input, out, &mut decoded.lines) {
            decoded.too_long = Some(too_long);
        }
        decoded
    }

    fn decode_lines(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        lines: &mut usize,
    ) -> Result<(), LineTooLong> {
        let mut rest = input;
        if !self.partial.is_empty() {
            match memchr::memchr(b'\n', rest) {
                None => return self.hold(rest),
                Some(newline) => {
                    self.check_length(self.partial.len() + newline)?;
                    self.partial.extend_from_slice(&rest[..=newline]);
                    uppercase_into(&self.partial, out);
                    self.partial = Vec::new();
                    rest = &rest[newline + 1..];
                    *lines += 1;
                }
            }
        }
        // Complete lines are uppercased as one span: per-line work is only
        // the length check, which keeps many short pipelined lines cheap.
        let mut line_start = 0;
        for newline in memchr::memchr_iter(b'\n', rest) {
            if let Err(too_long) = self.check_length(newline - line_start) {
                uppercase_into(&rest[..line_start], out);
                return Err(too_long);
            }
            line_start = newline + 1;
            *lines += 1;
        }
        uppercase_into(&rest[..line_start], out);
        self.hold(&rest[line_start..])
    }

    /// Signals end of input: the unterminated last line, if any, is answered
    /// as it is (no newline added). Returns whether there was one.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> bool {
        let had_partial = self.has_partial_line();
        uppercase_into(&self.partial, out);
        self.partial = Vec::new();
        had_partial
    }

    /// Drops the unfinished line (used at shutdown: a line the client had
    /// not finished sending is not answered with half a reply).
    pub fn discard_partial_line(&mut self) {
        self.partial = Vec::new();
    }

    fn hold(&mut self, unfinished: &[u8]) -> Result<(), LineTooLong> {
        self.check_length(self.partial.len() + unfinished.len())?;
        self.partial.extend_from_slice(unfinished);
        Ok(())
    }

    fn check_length(&self, length: usize) -> Result<(), LineTooLong> {
        if length > self.max_line {
            Err(LineTooLong {
                max_line: self.max_line,
            })
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
