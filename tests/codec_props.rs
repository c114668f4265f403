//! Property tests of the codec: uppercasing agrees with the standard
//! library, never loses a byte, and framing does not depend on how the
//! input was chunked.

mod common;

use proptest::prelude::*;
use upcase::codec::{uppercase, LineCodec};

/// The obvious reference, independent of the codec.
fn reference(input: &[u8]) -> Vec<u8> {
    common::reference_uppercase(input)
}

/// Bytes that are mostly text with newlines, some multi-byte characters
/// whose uppercase has another length, and some invalid UTF-8.
fn wire_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9 ,.!]{0,12}".prop_map(String::into_bytes),
        2 => Just(b"\n".to_vec()),
        1 => Just(b"\r\n".to_vec()),
        2 => "[ßﬁŉαβγςԲբ€😀ǆ]{1,4}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 1..4),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

/// Feeds `input` split at `cuts` and returns all replies plus the result.
fn decode_in_chunks(input: &[u8], cuts: &[usize], max_line: usize) -> (Vec<u8>, bool) {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.sort_unstable();
    let mut codec = LineCodec::new(max_line);
    let mut out = Vec::new();
    let mut start = 0;
    for end in points.into_iter().chain([input.len()]) {
        if codec
            .decode(&input[start..end], &mut out)
            .too_long
            .is_some()
        {
            return (out, false);
        }
        start = end;
    }
    codec.finish(&mut out);
    (out, true)
}

/// 2,000 cases per property in `cargo test`; `scripts/fuzz.sh` raises it
/// through `PROPTEST_CASES` for a long fuzzing run.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    ProptestConfig::with_cases(cases)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn valid_utf8_is_uppercased_like_the_standard_library(text in any::<String>()) {
        prop_assert_eq!(uppercase(text.as_bytes()), text.to_uppercase().into_bytes());
    }

    #[test]
    fn any_bytes_match_the_reference(input in prop::collection::vec(any::<u8>(), 0..200)) {
        prop_assert_eq!(uppercase(&input), reference(&input));
    }

    #[test]
    fn wire_like_bytes_match_the_reference(input in wire_bytes()) {
        prop_assert_eq!(uppercase(&input), reference(&input));
    }

    #[test]
    fn chunking_never_changes_the_replies(
        input in wire_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let (whole, ok) = decode_in_chunks(&input, &[], usize::MAX);
        prop_assert!(ok);
        // Lines end at '\n', never inside a character, so line by line
        // equals all at once.
        prop_assert_eq!(&whole, &reference(&input));
        let (chunked, ok) = decode_in_chunks(&input, &cuts, usize::MAX);
        prop_assert!(ok);
        prop_assert_eq!(chunked, whole);
    }

    #[test]
    fn max_line_rejects_exactly_the_long_lines(
        input in wire_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
        max_line in 0usize..30,
    ) {
        let longest = input.split(|&b| b == b'\n').map(<[u8]>::len).max().unwrap_or(0);
        let (replies, ok) = decode_in_chunks(&input, &cuts, max_line);
        prop_assert_eq!(ok, longest <= max_line);
        if ok {
            prop_assert_eq!(replies, reference(&input));
        } else {
            // Whatever was answered is a prefix of the full answer, whole lines only.
            let full = reference(&input);
            prop_assert!(full.starts_with(&replies));
            prop_assert!(replies.is_empty() || replies.ends_with(b"\n"));
        }
    }
}
