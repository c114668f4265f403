//! The lines the flood sends, and the replies it expects.
//!
//! Every line starts with its client and sequence number (`c3 s42 `), so a
//! reply that arrives for the wrong line, or a reordered UDP datagram, is
//! recognised. The rest mixes ASCII with characters whose uppercase has
//! another length (`ß` -> `SS`, `ﬁ` -> `FI`, `ŉ` -> `ʼN`), so the server's
//! full Unicode path is exercised. The expected reply comes from
//! `str::to_uppercase`, not from this crate's codec: the check does not
//! trust the code it checks.

use std::collections::HashMap;

/// What the lines say after their tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Text {
    /// ASCII mixed with characters whose uppercase has another length
    /// (`ß` -> `SS`, `ﬁ` -> `FI`, `ŉ` -> `ʼN`) and Greek: the server's full
    /// Unicode path.
    #[default]
    Mixed,
    /// ASCII only: the server's fast path, and the same work per byte as
    /// the simplest bulk client's.
    Ascii,
}

impl Text {
    /// Filler text, cycled to reach the requested length.
    fn filler(self) -> &'static str {
        match self {
            Text::Mixed => "upcase straße ﬁne ŉ αβγ δ the quick brown fox ",
            Text::Ascii => "upcase the quick brown fox jumps over the lazy dog 0123456789 ",
        }
    }
}

/// Makes one client's lines and their expected replies without
/// allocating per line: the filler after the tag, and its uppercase, are
/// computed once per tag length.
pub struct LineMaker {
    client: usize,
    len: usize,
    text: Text,
    fillers: HashMap<usize, (Vec<u8>, Vec<u8>)>,
    /// The filler room of the previous line: it changes only when the
    /// sequence number gains a digit, so the map is rarely consulted.
    last_room: usize,
    line: Vec<u8>,
    expected: Vec<u8>,
}

impl LineMaker {
    /// Lines of about `len` bytes (newline included) of `text` for
    /// client `client`.
    pub fn new(client: usize, len: usize, text: Text) -> LineMaker {
        LineMaker {
            client,
            len,
            text,
            fillers: HashMap::new(),
            last_room: usize::MAX,
            line: Vec::with_capacity(len + 32),
            expected: Vec::with_capacity(2 * len + 32),
        }
    }

    /// Line number `seq` (ending in `\n`, never shorter than its tag) and
    /// the exact reply the server must send for it.
    pub fn make(&mut self, seq: u64) -> (&[u8], &[u8]) {
        self.line.clear();
        self.expected.clear();
        tag(&mut self.line, b'c', self.client as u64, b's', seq);
        tag(&mut self.expected, b'C', self.client as u64, b'S', seq);
        let room = self.len.saturating_sub(1).saturating_sub(self.line.len());
        if room != self.last_room {
            self.fillers
                .entry(room)
                .or_insert_with(|| filler_of_length(self.text, room));
            self.last_room = room;
        }
        let Some((filler, upper)) = self.fillers.get(&room) else {
            return (&self.line, &self.expected);
        };
        self.line.extend_from_slice(filler);
        self.expected.extend_from_slice(upper);
        (&self.line, &self.expected)
    }

    /// The line [`LineMaker::make`] made last, and its expected reply.
    pub fn last(&self) -> (&[u8], &[u8]) {
        (&self.line, &self.expected)
    }
}

/// Appends `{client_letter}{client} {seq_letter}{seq} ` without the
/// formatting machinery (this runs twice per line sent).
fn tag(out: &mut Vec<u8>, client_letter: u8, client: u64, seq_letter: u8, seq: u64) {
    out.push(client_letter);
    push_decimal(out, client);
    out.push(b' ');
    out.push(seq_letter);
    push_decimal(out, seq);
    out.push(b' ');
}

fn push_decimal(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// The reply the protocol promises for `input`, computed independently of
/// the server's codec: valid UTF-8 runs through `str::to_uppercase`, other
/// bytes copied as they are.
pub fn expected_uppercase(input: &[u8], out: &mut Vec<u8>) {
    for chunk in input.utf8_chunks() {
        out.extend_from_slice(chunk.valid().to_uppercase().as_bytes());
        out.extend_from_slice(chunk.invalid());
    }
}

/// Filler of at most `room` bytes plus `\n`, and its uppercase.
fn filler_of_length(kind: Text, room: usize) -> (Vec<u8>, Vec<u8>) {
    let mut text = String::new();
    for c in kind.filler().chars().cycle() {
        if text.len() + c.len_utf8() > room {
            break;
        }
        text.push(c);
    }
    text.push('\n');
    let upper = text.to_uppercase().into_bytes();
    (text.into_bytes(), upper)
}

/// Reads the sequence number back out of a reply (`C<client> S<seq> ...`),
/// if the reply belongs to `client`.
pub fn sequence_of(reply: &[u8], client: usize) -> Option<u64> {
    let head = &reply[..reply.len().min(48)];
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
    };
    // Either case: a server that echoes instead of uppercasing still has
    // its replies matched to their datagrams (and counted as mismatches,
    // not also as lost).
    let mut words = text.split(' ');
    let tag = |word: &str, letter: char| {
        word.strip_prefix(letter)
            .or_else(|| word.strip_prefix(letter.to_ascii_lowercase()))
            .map(str::to_owned)
    };
    if tag(words.next()?, 'C')?.parse::<usize>().ok()? != client {
        return None;
    }
    tag(words.next()?, 'S')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_the_requested_length_and_one_newline() {
        for len in [20, 64, 128, 1000] {
            let mut maker = LineMaker::new(3, len, Text::Mixed);
            let (line, _) = maker.make(42);
            assert!(
                line.len() <= len && line.len() + 4 > len,
                "{len}: {}",
                line.len()
            );
            assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
            assert!(line.ends_with(b"\n"));
        }
        assert_eq!(LineMaker::new(1, 0, Text::Ascii).make(7).0, b"c1 s7 \n");
    }

    #[test]
    fn expected_replies_are_the_standard_uppercase() {
        let mut maker = LineMaker::new(12, 64, Text::Mixed);
        for seq in [0, 9, 10, 345, 1_000_000] {
            let (line, expected) = maker.make(seq);
            let text = std::str::from_utf8(line).unwrap();
            assert!(text.contains('ß') && text.contains('ﬁ'), "{text}");
            assert_eq!(expected, text.to_uppercase().as_bytes());
            assert_eq!(sequence_of(expected, 12), Some(seq));
            assert_eq!(sequence_of(expected, 13), None);
        }
        assert_eq!(sequence_of(b"garbage", 12), None);
    }
}
