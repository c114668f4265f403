//! Full Unicode uppercasing of valid UTF-8, fast, without the `String`
//! that `str::to_uppercase` allocates, and byte-for-byte equal to it (the
//! codec's tests check every scalar value).
//!
//! Three paths, by how text usually looks:
//! - runs of ASCII are copied and uppercased in bulk (vectorised);
//! - two-byte characters (Latin accents, Greek, Cyrillic, Armenian, Hebrew,
//!   Arabic) come from a table built once: a 2-byte result as one `u16`
//!   store, any other from a side table;
//! - three-byte characters that no case mapping changes (CJK, most symbols)
//!   are copied as they are, found in a bitset built once; the few that
//!   change, and four-byte characters, go through `char::to_uppercase`.

use std::sync::OnceLock;

/// The first code point of the three-byte range.
const THREE_BYTE_START: u32 = 0x800;
/// One past the last code point of the three-byte range.
const THREE_BYTE_END: u32 = 0x1_0000;

/// Tables computed once from `char::to_uppercase`.
struct CaseTables {
    /// For U+0080..U+07FF: the uppercase as two UTF-8 bytes packed in a
    /// `u16` (first byte high), or 0 when it is not two bytes long.
    two_byte: Vec<u16>,
    /// For the rest of U+0080..U+07FF: the uppercase's UTF-8 bytes, and
    /// where each one starts (indexed by code - 0x80, one extra at the end).
    other_bytes: Vec<u8>,
    other_starts: Vec<u32>,
    /// One bit per code point of U+0800..U+FFFF: set when uppercasing
    /// changes it.
    three_byte_changes: Vec<u64>,
}

impl CaseTables {
    fn get() -> &'static CaseTables {
        static TABLES: OnceLock<CaseTables> = OnceLock::new();
        TABLES.get_or_init(CaseTables::build)
    }

    fn build() -> CaseTables {
        let mut tables = CaseTables {
            two_byte: Vec::with_capacity(0x800 - 0x80),
            other_bytes: Vec::new(),
            other_starts: Vec::with_capacity(0x800 - 0x80 + 1),
            three_byte_changes: vec![0; ((THREE_BYTE_END - THREE_BYTE_START) / 64) as usize],
        };
        for code in 0x80u32..0x800 {
            tables.other_starts.push(tables.other_bytes.len() as u32);
            // No surrogates below U+0800, so every code is a char.
            let upper = char::from_u32(code).map(upper_utf8).unwrap_or_default();
            if upper.len() == 2 {
                tables
                    .two_byte
                    .push(u16::from_be_bytes([upper[0], upper[1]]));
            } else {
                tables.two_byte.push(0);
                tables.other_bytes.extend_from_slice(&upper);
            }
        }
        tables.other_starts.push(tables.other_bytes.len() as u32);
        for code in THREE_BYTE_START..THREE_BYTE_END {
            // Surrogates (U+D800..U+DFFF) are not chars and never occur in a str.
            if let Some(c) = char::from_u32(code) {
                if c.to_uppercase().ne(std::iter::once(c)) {
                    let bit = code - THREE_BYTE_START;
                    tables.three_byte_changes[(bit / 64) as usize] |= 1 << (bit % 64);
                }
            }
        }
        tables
    }

    fn three_byte_changes(&self, code: u32) -> bool {
        let bit = code - THREE_BYTE_START;
        self.three_byte_changes[(bit / 64) as usize] & (1 << (bit % 64)) != 0
    }
}

/// The UTF-8 of `c`'s uppercase (possibly several characters).
fn upper_utf8(c: char) -> Vec<u8> {
    c.to_uppercase().collect::<String>().into_bytes()
}

/// Appends the uppercase of `text` to `out`, exactly as
/// `text.to_uppercase()` would spell it.
pub(super) fn uppercase_str_into(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    let tables = CaseTables::get();
    out.reserve(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let lead = bytes[i];
        if lead < 0x80 {
            // A run of ASCII, in bulk.
            let run = bytes[i..]
                .iter()
                .position(|b| *b >= 0x80)
                .unwrap_or(bytes.len() - i);
            let start = out.len();
            out.extend_from_slice(&bytes[i..i + run]);
            out[start..].make_ascii_uppercase();
            i += run;
        } else if lead < 0xE0 {
            // `text` is valid UTF-8: a lead byte below 0xE0 has one continuation byte.
            let code = (usize::from(lead & 0x1F) << 6) | usize::from(bytes[i + 1] & 0x3F);
            match tables.two_byte[code - 0x80] {
                0 => {
                    let index = code - 0x80;
                    let (from, to) = (tables.other_starts[index], tables.other_starts[index + 1]);
                    out.extend_from_slice(&tables.other_bytes[from as usize..to as usize]);
                }
                pair => out.extend_from_slice(&pair.to_be_bytes()),
            }
            i += 2;
        } else if lead < 0xF0 {
            let code = (u32::from(lead & 0x0F) << 12)
                | (u32::from(bytes[i + 1] & 0x3F) << 6)
                | u32::from(bytes[i + 2] & 0x3F);
            if tables.three_byte_changes(code) {
                push_upper(text, i, out);
            } else {
                out.extend_from_slice(&bytes[i..i + 3]);
            }
            i += 3;
        } else {
            i += push_upper(text, i, out);
        }
    }
}

/// The slow path: `char::to_uppercase` of the character at `text[at..]`.
/// Returns its length in bytes.
fn push_upper(text: &str, at: usize, out: &mut Vec<u8>) -> usize {
    let Some(c) = text[at..].chars().next() else {
        return text.len() - at;
    };
    let mut utf8 = [0u8; 4];
    for upper in c.to_uppercase() {
        out.extend_from_slice(upper.encode_utf8(&mut utf8).as_bytes());
    }
    c.len_utf8()
}
