//! Bytes in, uppercase bytes out: the whole protocol as pure functions.
//!
//! Everything else in the crate moves bytes between sockets; this module is
//! the only place that decides *what* the reply is. Keeping it free of I/O
//! means it can be tested exhaustively (unit and property tests below, and
//! `tests/codec_props.rs`), and every threading model gives byte-identical
//! answers because they all call it.
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
mod tests {
    use super::*;

    #[test]
    fn no_character_grows_past_max_growth_and_one_reaches_it() {
        let mut most = 0;
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let mut bytes = [0u8; 4];
            let grown = uppercase(c.encode_utf8(&mut bytes).as_bytes()).len();
            assert!(
                grown <= MAX_GROWTH * c.len_utf8(),
                "{c:?} grows to {grown} bytes"
            );
            most = most.max(grown / c.len_utf8());
        }
        assert_eq!(most, MAX_GROWTH);
    }

    fn decode_all(chunks: &[&[u8]], max_line: usize) -> (Vec<u8>, Result<usize, LineTooLong>) {
        let mut codec = LineCodec::new(max_line);
        let mut out = Vec::new();
        let mut total = 0;
        for chunk in chunks {
            let decoded = codec.decode(chunk, &mut out);
            total += decoded.lines;
            if let Some(too_long) = decoded.too_long {
                return (out, Err(too_long));
            }
        }
        codec.finish(&mut out);
        (out, Ok(total))
    }

    /// One datagram's worth, with QUIC's bound on amplification.
    const BOUND: ReplyBound = ReplyBound {
        max_bytes: MAX_DATAGRAM,
        max_amplification: 3,
    };

    #[test]
    fn a_datagram_reply_that_fits_is_the_uppercased_payload() {
        let mut reply = Vec::new();
        let answer = datagram_reply("straße".as_bytes(), &mut reply, BOUND);
        assert_eq!(answer, DatagramReply::Uppercased);
        assert_eq!(reply, "STRASSE".as_bytes());
        assert_eq!(
            datagram_reply(b"", &mut reply, BOUND),
            DatagramReply::Uppercased
        );
        assert!(reply.is_empty());
    }

    #[test]
    fn a_datagram_reply_that_grows_too_large_becomes_an_error() {
        // 'ŉ' is 2 bytes and uppercases to 3 ('ʼN'): 30,000 of them grow
        // 60,000 bytes to 90,000.
        let payload = "ŉ".repeat(30_000);
        let mut reply = Vec::new();
        let answer = datagram_reply(payload.as_bytes(), &mut reply, BOUND);
        assert_eq!(answer, DatagramReply::TooLarge);
        assert_eq!(reply, REPLY_TOO_LARGE);
    }

    #[test]
    fn the_worst_growth_is_three_times_and_the_default_bound_allows_it() {
        // 'ΐ' and 'ΰ' (2 bytes) uppercase to three code points (6 bytes).
        let payload = "ΐΰ".repeat(100);
        let mut reply = Vec::new();
        let answer = datagram_reply(payload.as_bytes(), &mut reply, BOUND);
        assert_eq!(answer, DatagramReply::Uppercased);
        assert_eq!(reply.len(), 3 * payload.len());
        let two = ReplyBound {
            max_amplification: 2,
            ..BOUND
        };
        let answer = datagram_reply(payload.as_bytes(), &mut reply, two);
        assert_eq!(answer, DatagramReply::TooLarge);
        assert_eq!(reply, REPLY_TOO_LARGE);
    }

    #[test]
    fn no_reply_when_even_the_error_would_amplify() {
        let one = ReplyBound {
            max_amplification: 1,
            ..BOUND
        };
        let mut reply = b"left over".to_vec();
        // 2 bytes in, 6 out, and the error is 22: nothing goes out.
        let answer = datagram_reply("ΐ".as_bytes(), &mut reply, one);
        assert_eq!(answer, DatagramReply::Withheld);
        assert!(reply.is_empty());
        // Growth that keeps the size ('ß' -> 'SS') is still answered at 1.
        let answer = datagram_reply("ßß".as_bytes(), &mut reply, one);
        assert_eq!(answer, DatagramReply::Uppercased);
        assert_eq!(reply, b"SSSS");
    }

    #[test]
    fn ipv6_datagrams_carry_twenty_bytes_more_than_ipv4() {
        let payload = vec![b'a'; 65_520];
        let mut reply = Vec::new();
        let v4 = ReplyBound {
            max_bytes: max_datagram(false),
            ..BOUND
        };
        let v6 = ReplyBound {
            max_bytes: max_datagram(true),
            ..BOUND
        };
        assert_eq!(
            datagram_reply(&payload, &mut reply, v4),
            DatagramReply::TooLarge
        );
        assert_eq!(
            datagram_reply(&payload, &mut reply, v6),
            DatagramReply::Uppercased
        );
        assert_eq!(reply.len(), 65_520);
    }

    #[test]
    fn ascii_is_uppercased() {
        assert_eq!(uppercase(b"hello, World 123!"), b"HELLO, WORLD 123!");
    }

    #[test]
    fn unicode_uses_full_case_mapping() {
        assert_eq!(uppercase("straße".as_bytes()), "STRASSE".as_bytes());
        assert_eq!(uppercase("ﬁne".as_bytes()), "FINE".as_bytes());
        assert_eq!(uppercase("αβγ ωσς".as_bytes()), "ΑΒΓ ΩΣΣ".as_bytes());
        assert_eq!(uppercase("բարեւ".as_bytes()), "ԲԱՐԵՒ".as_bytes());
        assert_eq!(uppercase("ŉ".as_bytes()), "ʼN".as_bytes());
    }

    #[test]
    fn every_character_uppercases_like_the_standard_library() {
        let mut utf8 = [0u8; 4];
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let text: &str = c.encode_utf8(&mut utf8);
            assert_eq!(
                uppercase(text.as_bytes()),
                text.to_uppercase().as_bytes(),
                "{c:?}"
            );
        }
    }

    #[test]
    fn invalid_utf8_passes_through_and_neighbours_are_uppercased() {
        assert_eq!(uppercase(b"ab\xffcd\xc3"), b"AB\xffCD\xc3");
        assert_eq!(uppercase(b"\x00\x80\xfe"), b"\x00\x80\xfe");
        let mut input = b"\xe0\x80".to_vec();
        input.extend_from_slice("ß".as_bytes());
        let mut expected = b"\xe0\x80".to_vec();
        expected.extend_from_slice(b"SS");
        assert_eq!(uppercase(&input), expected);
    }

    #[test]
    fn each_line_is_answered_with_its_terminator() {
        let (out, lines) = decode_all(&[b"a\nb\r\n\nc"], 100);
        assert_eq!(out, b"A\nB\r\n\nC");
        assert_eq!(lines, Ok(3));
    }

    #[test]
    fn a_line_split_across_chunks_is_answered_once_complete() {
        let mut codec = LineCodec::new(100);
        let mut out = Vec::new();
        assert_eq!(codec.decode(b"hel", &mut out).lines, 0);
        assert!(out.is_empty());
        assert!(codec.has_partial_line());
        assert_eq!(codec.decode(b"lo\nwo", &mut out).lines, 1);
        assert_eq!(out, b"HELLO\n");
        assert_eq!(codec.decode(b"rld\n", &mut out).lines, 1);
        assert_eq!(out, b"HELLO\nWORLD\n");
        assert!(!codec.has_partial_line());
    }

    #[test]
    fn a_multibyte_character_split_across_chunks_is_uppercased() {
        let bytes = "ß\n".as_bytes();
        let (out, _) = decode_all(&[&bytes[..1], &bytes[1..]], 100);
        assert_eq!(out, "SS\n".as_bytes());
    }

    #[test]
    fn a_line_of_exactly_max_line_bytes_is_answered() {
        let (out, lines) = decode_all(&[b"abcd\n"], 4);
        assert_eq!(out, b"ABCD\n");
        assert_eq!(lines, Ok(1));
    }

    #[test]
    fn a_longer_line_is_rejected_after_the_lines_before_it() {
        let (out, result) = decode_all(&[b"ok\nabcde\nnever\n"], 4);
        assert_eq!(out, b"OK\n");
        assert_eq!(result, Err(LineTooLong { max_line: 4 }));
        assert_eq!(
            LineTooLong { max_line: 4 }.reply(),
            b"error: line exceeds 4 bytes\n"
        );
    }

    #[test]
    fn lines_answered_before_a_long_one_are_counted() {
        let mut codec = LineCodec::new(4);
        let mut out = Vec::new();
        let decoded = codec.decode(b"ok\nyes\nabcde\n", &mut out);
        assert_eq!(decoded.lines, 2);
        assert_eq!(decoded.too_long, Some(LineTooLong { max_line: 4 }));
        assert_eq!(out, b"OK\nYES\n");
    }

    #[test]
    fn an_unfinished_line_is_rejected_as_soon_as_it_is_too_long() {
        let mut codec = LineCodec::new(4);
        let mut out = Vec::new();
        assert_eq!(codec.decode(b"abc", &mut out), Decoded::default());
        assert!(codec.decode(b"de", &mut out).too_long.is_some());
        let (_, result) = decode_all(&[b"abcdef"], 4);
        assert!(result.is_err());
    }

    #[test]
    fn finish_answers_the_unterminated_line_and_discard_drops_it() {
        let mut codec = LineCodec::new(100);
        let mut out = Vec::new();
        codec.decode(b"x\ntail", &mut out);
        assert!(codec.finish(&mut out));
        assert_eq!(out, b"X\nTAIL");
        assert!(!codec.finish(&mut out));

        codec.decode(b"half", &mut out);
        codec.discard_partial_line();
        assert!(!codec.finish(&mut out));
        assert_eq!(out, b"X\nTAIL");
    }

    #[test]
    fn an_idle_codec_holds_no_buffer() {
        let mut codec = LineCodec::new(100);
        let mut out = Vec::new();
        codec.decode(b"par", &mut out);
        codec.decode(b"tial\n", &mut out);
        assert_eq!(codec.partial.capacity(), 0);
    }
}
