//! The lines the flood sends, and the replies it expects.
//!
//! Every line starts with its client and sequence number, so a reply that
//! arrives for the wrong line (or a reordered UDP datagram) is recognised.
//! The rest mixes ASCII with characters whose uppercase has another length
//! (`ß` -> `SS`, `ŉ` -> `ʼN`), so the server's full Unicode path is
//! exercised. The expected reply comes from `str::to_uppercase`, not from
//! this crate's codec: the check does not trust the code it checks.

/// Filler text, cycled to reach the requested length.
const FILLER: &str = "upcase straße ﬁne ŉ αβγ δ the quick brown fox ";

/// The line (ending in `\n`) that client `client` sends as number `seq`,
/// about `len` bytes long (never shorter than its `c<client> s<seq> ` tag).
pub fn line(client: usize, seq: u64, len: usize) -> Vec<u8> {
    let mut text = format!("c{client} s{seq} ");
    let target = len.saturating_sub(1);
    for c in FILLER.chars().cycle() {
        if text.len() + c.len_utf8() > target {
            break;
        }
        text.push(c);
    }
    text.push('\n');
    text.into_bytes()
}

/// The reply the server must send for `line`.
pub fn expected(line: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(line).to_uppercase().into_bytes()
}

/// Reads the sequence number back out of a reply (`C<client> S<seq> ...`),
/// if the reply belongs to `client`.
pub fn sequence_of(reply: &[u8], client: usize) -> Option<u64> {
    let text = std::str::from_utf8(reply.get(..reply.len().min(48))?).ok()?;
    let mut words = text.split(' ');
    let tag = words.next()?;
    if tag.strip_prefix('C')?.parse::<usize>().ok()? != client {
        return None;
    }
    words.next()?.strip_prefix('S')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_the_requested_length_and_one_newline() {
        for len in [20, 64, 128, 1000] {
            let line = line(3, 42, len);
            assert!(
                line.len() <= len && line.len() + 4 > len,
                "{len}: {}",
                line.len()
            );
            assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
            assert!(line.ends_with(b"\n"));
        }
        assert_eq!(line(1, 7, 0), b"c1 s7 \n");
    }

    #[test]
    fn expected_replies_change_length_and_carry_the_sequence() {
        let line = line(12, 345, 64);
        let reply = expected(&line);
        let text = std::str::from_utf8(&line).unwrap();
        assert!(text.contains('ß') && text.contains('ﬁ'), "{text}");
        assert_ne!(reply, line);
        assert_eq!(sequence_of(&reply, 12), Some(345));
        assert_eq!(sequence_of(&reply, 13), None);
        assert_eq!(sequence_of(b"garbage", 12), None);
    }
}
