//! JSON text written piece by piece, exactly as serde_json writes it: string contents
//! escaped (eight bytes at a time), and integers in decimal without `fmt` machinery.

use std::fmt;

/// A [`fmt::Write`] adapter that JSON-escapes everything written through it, so `Debug`
/// and `Display` output can be escaped as it is produced, without an intermediate
/// `String`.
pub(in crate::telemetry) struct JsonEscaper<'a, W: fmt::Write + ?Sized>(
    pub(in crate::telemetry) &'a mut W,
);

impl<W: fmt::Write + ?Sized> fmt::Write for JsonEscaper<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        write_escaped(self.0, text)
    }
}

/// Writes `value`'s decimal digits into the end of `buffer` and returns them: integers
/// as `Display` writes them, without a pass through `fmt::write` and `pad_integral`
/// (a few hundred instructions per number, and a line has up to nine).
pub(in crate::telemetry) fn decimal(buffer: &mut [u8; 20], value: u64) -> &[u8] {
    let mut start = buffer.len();
    let mut rest = value;
    loop {
        start -= 1;
        buffer[start] = b'0' + u8::try_from(rest % 10).unwrap_or(0);
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    &buffer[start..]
}

/// Writes `value` in decimal, as `Display` does. Digit by digit: into a `String` (the
/// line buffer) that is a push each, cheaper than validating the digits as a `str`.
pub(in crate::telemetry) fn write_u64(out: &mut impl fmt::Write, value: u64) -> fmt::Result {
    for &digit in decimal(&mut [0; 20], value) {
        out.write_char(char::from(digit))?;
    }
    Ok(())
}

/// Writes `value` in decimal, as `Display` does.
pub(in crate::telemetry) fn write_i64(out: &mut impl fmt::Write, value: i64) -> fmt::Result {
    if value < 0 {
        out.write_str("-")?;
    }
    write_u64(out, value.unsigned_abs())
}

/// Whether `text` has a character [`write_escaped`] escapes.
pub(in crate::telemetry) fn needs_escape(text: &str) -> bool {
    find_escape(text.as_bytes(), 0).is_some()
}

/// Whether `byte` is escaped in a JSON string: a control character, `"` or `\`.
fn escaped(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// The index of the first byte at or after `from` that must be escaped.
///
/// Eight bytes at a time (SWAR): for a word `x`, `(x - 0x01…01 * n) & !x & 0x80…80` has a
/// byte's high bit set where that byte is below `n` (and possibly, through the borrow, in
/// some bytes after a byte that is), so its lowest set bit marks the first such byte;
/// a byte equal to `c` is a zero byte of `x ^ 0x01…01 * c`, i.e. below 1. The three
/// masks are or-ed: the lowest bit set in any of them is a real match.
fn find_escape(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS;
    let matches = |x: u64| {
        below(x, 0x20)
            | below(x ^ (ONES * u64::from(b'"')), 1)
            | below(x ^ (ONES * u64::from(b'\\')), 1)
    };
    let mut index = from;
    while let Some(chunk) = bytes.get(index..index + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let found = matches(u64::from_le_bytes(word));
        if found != 0 {
            // Little-endian: the lowest set bit is in the first matching byte.
            return Some(index + usize::try_from(found.trailing_zeros() / 8).unwrap_or(0));
        }
        index += 8;
    }
    let tail = bytes.get(index..)?;
    if from == 0 && !tail.is_empty() {
        // The last eight bytes as one word, overlapping bytes the loop found clean: those
        // set no bit (and, holding no match, start no borrow), so the lowest set bit is
        // the first match at or after `index`. Not after an escape (`from > 0`): the
        // escaped byte before `from` would match again.
        if let Some(chunk) = bytes.len().checked_sub(8).and_then(|at| bytes.get(at..)) {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            let found = matches(u64::from_le_bytes(word));
            return (found != 0).then(|| {
                bytes.len() - 8 + usize::try_from(found.trailing_zeros() / 8).unwrap_or(0)
            });
        }
    }
    tail.iter()
        .position(|&byte| escaped(byte))
        .map(|at| index + at)
}

/// Writes `text` as the contents of a JSON string, escaped exactly as serde_json escapes
/// it: `"` and `\` with a backslash; backspace, form feed, newline, carriage return and
/// tab as `\b \f \n \r \t`; every other control character below U+0020 as `\u00xx`
/// (lowercase hex); everything else, including DEL and all non-ASCII, as is (the output
/// is UTF-8).
pub(in crate::telemetry) fn write_escaped<W: fmt::Write + ?Sized>(
    out: &mut W,
    text: &str,
) -> fmt::Result {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    let mut start = 0;
    while let Some(index) = find_escape(bytes, start) {
        // Every byte that needs escaping is ASCII, so `index` is a char boundary.
        if index > start {
            out.write_str(&text[start..index])?;
        }
        start = index + 1;
        match bytes[index] {
            b'"' => out.write_str("\\\"")?,
            b'\\' => out.write_str("\\\\")?,
            b'\n' => out.write_str("\\n")?,
            b'\r' => out.write_str("\\r")?,
            b'\t' => out.write_str("\\t")?,
            0x08 => out.write_str("\\b")?,
            0x0c => out.write_str("\\f")?,
            byte => {
                let escape = [
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(byte >> 4)],
                    HEX[usize::from(byte & 0x0f)],
                ];
                out.write_str(std::str::from_utf8(&escape).map_err(|_| fmt::Error)?)?;
            }
        }
    }
    if start < text.len() {
        out.write_str(&text[start..])?;
    }
    Ok(())
}
