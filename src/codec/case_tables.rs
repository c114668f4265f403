//! Full Unicode uppercasing of UTF-8, fast, without the `String` that
//! `str::to_uppercase` allocates, and byte-for-byte equal to it (the
//! codec's tests check every scalar value, and every lead byte followed by
//! every byte for the invalid cases).
//!
//! One pass both validates and uppercases (a separate `from_utf8` or
//! `utf8_chunks` pass cost a quarter of the time in `perf`). Three paths,
//! by how text usually looks:
//! - runs of ASCII are uppercased eight bytes at a time in a `u64`;
//! - two-byte characters (Latin accents, Greek, Cyrillic, Armenian, Hebrew,
//!   Arabic) come from a table built once: a 2-byte result as one `u16`
//!   store, any other from a side table;
//! - three-byte characters that no case mapping changes (CJK, most symbols)
//!   are copied as they are, found in a bitset built once; the few hundred
//!   that change (ligatures such as `ﬁ`, Latin and Greek extended, fullwidth
//!   letters) are looked up by their rank among the set bits.
//!
//! Only four-byte characters (Deseret, Adlam, ...) go through
//! `char::to_uppercase` each time.

use std::sync::OnceLock;

/// The first code point of the three-byte range.
const THREE_BYTE_START: u32 = 0x800;
/// One past the last code point of the three-byte range.
const THREE_BYTE_END: u32 = 0x1_0000;

/// A list of byte strings stored end to end: string `i` is
/// `bytes[starts[i]..starts[i + 1]]`.
#[derive(Default)]
struct Spellings {
    bytes: Vec<u8>,
    starts: Vec<u32>,
}

impl Spellings {
    fn push(&mut self, spelling: &[u8]) {
        if self.starts.is_empty() {
            self.starts.push(0);
        }
        self.bytes.extend_from_slice(spelling);
        self.starts.push(self.bytes.len() as u32);
    }

    fn get(&self, index: usize) -> &[u8] {
        &self.bytes[self.starts[index] as usize..self.starts[index + 1] as usize]
    }
}

/// Tables computed once from `char::to_uppercase`.
struct CaseTables {
    /// For U+0080..U+07FF: the uppercase as two UTF-8 bytes packed in a
    /// `u16` (first byte high), or 0 when it is not two bytes long.
    two_byte: Vec<u16>,
    /// For every U+0080..U+07FF (indexed by code - 0x80): the uppercase's
    /// UTF-8 when it is not two bytes long (empty otherwise).
    two_byte_other: Spellings,
    /// One bit per code point of U+0800..U+FFFF: set when uppercasing
    /// changes it.
    three_byte_changes: Vec<u64>,
    /// For each word of `three_byte_changes`: how many bits are set in the
    /// words before it, so a set bit's rank is one popcount away.
    three_byte_rank: Vec<u32>,
    /// The uppercase of each three-byte character that changes, by rank.
    three_byte_upper: Spellings,
}

impl CaseTables {
    fn get() -> &'static CaseTables {
        static TABLES: OnceLock<CaseTables> = OnceLock::new();
        TABLES.get_or_init(CaseTables::build)
    }

    fn build() -> CaseTables {
        let words = ((THREE_BYTE_END - THREE_BYTE_START) / 64) as usize;
        let mut tables = CaseTables {
            two_byte: Vec::with_capacity(0x800 - 0x80),
            two_byte_other: Spellings::default(),
            three_byte_changes: vec![0; words],
            three_byte_rank: Vec::with_capacity(words),
            three_byte_upper: Spellings::default(),
        };
        for code in 0x80u32..0x800 {
            // No surrogates below U+0800, so every code is a char.
            let upper = char::from_u32(code).map(upper_utf8).unwrap_or_default();
            if upper.len() == 2 {
                tables
                    .two_byte
                    .push(u16::from_be_bytes([upper[0], upper[1]]));
                tables.two_byte_other.push(&[]);
            } else {
                tables.two_byte.push(0);
                tables.two_byte_other.push(&upper);
            }
        }
        let mut changed = 0;
        for code in THREE_BYTE_START..THREE_BYTE_END {
            let bit = code - THREE_BYTE_START;
            if bit.is_multiple_of(64) {
                tables.three_byte_rank.push(changed);
            }
            // Surrogates (U+D800..U+DFFF) are not chars and never occur in a str.
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            let upper = upper_utf8(c);
            if upper != c.encode_utf8(&mut [0; 4]).as_bytes() {
                tables.three_byte_changes[(bit / 64) as usize] |= 1 << (bit % 64);
                tables.three_byte_upper.push(&upper);
                changed += 1;
            }
        }
        tables
    }

    /// Uppercases the run of two-byte characters at the start of `input`
    /// (there is at least one); returns its length in bytes.
    #[inline(never)]
    fn push_two_byte_run(&self, input: &[u8], out: &mut Vec<u8>) -> usize {
        let mut run = 0;
        for pair in input.chunks_exact(2) {
            let Some(index) = two_byte_index(pair[0], pair[1]) else {
                break;
            };
            self.push_two_byte(index, out);
            run += 2;
        }
        run
    }

    /// Uppercases one two-byte character, by its index.
    #[inline(always)]
    fn push_two_byte(&self, index: usize, out: &mut Vec<u8>) {
        match self.two_byte[index] {
            0 => self.push_two_byte_other(index, out),
            upper => out.extend_from_slice(&upper.to_be_bytes()),
        }
    }

    /// The rare two-byte characters whose uppercase is not two bytes long.
    #[cold]
    fn push_two_byte_other(&self, index: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(self.two_byte_other.get(index));
    }

    /// The uppercase of the three-byte character `code`, or `None` when
    /// uppercasing leaves it as it is.
    fn three_byte_upper(&self, code: u32) -> Option<&[u8]> {
        let bit = code - THREE_BYTE_START;
        let word = (bit / 64) as usize;
        let below = self.three_byte_changes[word] & ((1u64 << (bit % 64)) - 1);
        if self.three_byte_changes[word] & (1 << (bit % 64)) == 0 {
            return None;
        }
        let rank = self.three_byte_rank[word] + below.count_ones();
        Some(self.three_byte_upper.get(rank as usize))
    }
}

/// The UTF-8 of `c`'s uppercase (possibly several characters).
fn upper_utf8(c: char) -> Vec<u8> {
    c.to_uppercase().collect::<String>().into_bytes()
}

/// Copies the run of ASCII at the start of `input` to `out`, uppercased,
/// eight bytes at a time; returns its length.
fn push_ascii_run(input: &[u8], out: &mut Vec<u8>) -> usize {
    let mut run = 0;
    for word in input.chunks_exact(8) {
        let word = u64::from_le_bytes([
            word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
        ]);
        if word & HIGH_BITS != 0 {
            break;
        }
        out.extend_from_slice(&ascii_word_uppercase(word).to_le_bytes());
        run += 8;
    }
    for byte in &input[run..] {
        if !byte.is_ascii() {
            break;
        }
        out.push(byte.to_ascii_uppercase());
        run += 1;
    }
    run
}

/// The high bit of each byte of a `u64`.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Uppercases eight ASCII bytes at once: a byte's high bit is set by the
/// additions exactly when it is at least `a` and not past `z`, and that
/// bit, moved to 0x20, clears the lowercase bit. No byte carries into the
/// next because every byte is below 0x80.
fn ascii_word_uppercase(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let at_least_a = word + ONES * u64::from(0x80 - b'a');
    let past_z = word + ONES * u64::from(0x80 - b'z' - 1);
    let lowercase = at_least_a & !past_z & HIGH_BITS;
    word ^ (lowercase >> 2)
}

/// The index into the two-byte tables of the character `lead`, `second`,
/// if they spell one.
#[inline(always)]
fn two_byte_index(lead: u8, second: u8) -> Option<usize> {
    if (0xC2..0xE0).contains(&lead) && is_continuation(second) {
        Some(((usize::from(lead & 0x1F) << 6) | usize::from(second & 0x3F)) - 0x80)
    } else {
        None
    }
}

/// Whether `byte` is a UTF-8 continuation byte (`10xx_xxxx`).
fn is_continuation(byte: u8) -> bool {
    byte & 0xC0 == 0x80
}

/// Appends the uppercase of `input` to `out`: every valid UTF-8 character
/// exactly as `str::to_uppercase` would spell it, every byte that is not
/// part of one copied unchanged.
///
/// Validation happens in the same pass as the lookups: a byte that does
/// not start a well-formed character (by the rules of RFC 3629: no
/// overlong forms, no surrogates, nothing past U+10FFFF) is copied alone
/// and decoding goes on at the next byte, which keeps every valid
/// character that `utf8_chunks` would find.
pub(super) fn uppercase_bytes_into(input: &[u8], out: &mut Vec<u8>) {
    let tables = CaseTables::get();
    out.reserve(input.len());
    let mut i = 0;
    while i < input.len() {
        let lead = input[i];
        let next = |offset: usize| input.get(i + offset).copied().unwrap_or(0);
        if lead < 0x80 {
            // A run of ASCII, in bulk.
            i += push_ascii_run(&input[i..], out);
        } else if let Some(index) = two_byte_index(lead, next(1)) {
            tables.push_two_byte(index, out);
            let followed_by_another = (0xC2..0xE0).contains(&next(2));
            i += 2;
            if followed_by_another {
                // Greek, Cyrillic, ...: whole words of two-byte characters.
                i += tables.push_two_byte_run(&input[i..], out);
            }
        } else if (0xE0..0xF0).contains(&lead) && is_three_byte_char(lead, next(1), next(2)) {
            let code = (u32::from(lead & 0x0F) << 12)
                | (u32::from(next(1) & 0x3F) << 6)
                | u32::from(next(2) & 0x3F);
            match tables.three_byte_upper(code) {
                Some(upper) => out.extend_from_slice(upper),
                None => out.extend_from_slice(&input[i..i + 3]),
            }
            i += 3;
        } else if let Some(c) = four_byte_char(&input[i..]) {
            let mut utf8 = [0u8; 4];
            for upper in c.to_uppercase() {
                out.extend_from_slice(upper.encode_utf8(&mut utf8).as_bytes());
            }
            i += 4;
        } else {
            // Not the start of a character: passed through as it is.
            out.push(lead);
            i += 1;
        }
    }
}

/// Whether `lead`, `second`, `third` spell a three-byte character: no
/// overlong form (after E0 the second byte is at least A0) and no
/// surrogate (after ED it is below A0).
fn is_three_byte_char(lead: u8, second: u8, third: u8) -> bool {
    let second_ok = match lead {
        0xE0 => (0xA0..0xC0).contains(&second),
        0xED => (0x80..0xA0).contains(&second),
        _ => is_continuation(second),
    };
    second_ok && is_continuation(third)
}

/// The four-byte character at the start of `bytes`, if one is there.
fn four_byte_char(bytes: &[u8]) -> Option<char> {
    let candidate = bytes.get(..4)?;
    if !(0xF0..0xF5).contains(&candidate[0]) {
        return None;
    }
    std::str::from_utf8(candidate).ok()?.chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `uppercase_bytes_into` must equal: valid runs through
    /// `str::to_uppercase`, the rest as it is, split by `utf8_chunks`.
    fn reference(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in input.utf8_chunks() {
            out.extend_from_slice(chunk.valid().to_uppercase().as_bytes());
            out.extend_from_slice(chunk.invalid());
        }
        out
    }

    #[test]
    fn every_lead_byte_followed_by_any_byte_matches_the_standard_library() {
        // Each lead byte, each second byte, and third and fourth bytes from
        // the boundaries the UTF-8 rules care about: overlong forms,
        // surrogates, code points past U+10FFFF, truncated sequences.
        let edges = [
            0x00, 0x61, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xE0, 0xFF,
        ];
        let mut out = Vec::new();
        for lead in 0x80..=0xFFu8 {
            for second in 0..=0xFFu8 {
                for third in edges {
                    for fourth in [0x80, 0x61] {
                        let input = [b'a', lead, second, third, fourth, b'z'];
                        for end in 2..=input.len() {
                            out.clear();
                            uppercase_bytes_into(&input[..end], &mut out);
                            assert_eq!(out, reference(&input[..end]), "{:x?}", &input[..end]);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn ascii_words_uppercase_like_bytes() {
        for byte in 0..0x80u8 {
            let word = u64::from_le_bytes([byte, b'a', b'z', b'`', b'{', b'A', b'Z', byte]);
            let expected = word.to_le_bytes().map(|b| b.to_ascii_uppercase());
            assert_eq!(ascii_word_uppercase(word).to_le_bytes(), expected);
        }
    }
}
