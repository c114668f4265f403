//! The codec's unit tests: every character against the standard library,
//! every chunking of a line, the datagram bounds at their edges.

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
