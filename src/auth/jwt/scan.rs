//! A validating scan of JSON text that builds nothing: where each top-level member of an
//! object lies (its name and its value, as byte spans of the text), and the items of an
//! array already scanned.
//!
//! [`members`] accepts exactly the text `serde_json::from_slice::<Value>` accepts as an
//! object: the same whitespace, string rules (no control characters, the same escapes,
//! surrogate pairs required), number grammar, numbers within f64's range (`1e400` is
//! refused), `true`/`false`/`null`, nesting limit (128, the top-level object included)
//! and nothing but whitespace after the object. It does not check UTF-8: the caller
//! scans a `&str` (one validation of the whole text is the same check, since every byte
//! outside strings must be ASCII and strings only split at ASCII bytes). A refusal
//! carries no reason: the caller asks `serde_json` for the message, off the hot path.

/// serde_json's recursion limit (`Deserializer::remaining_depth`): a container is refused
/// when entering it leaves no depth.
const DEPTH: u8 = 128;

/// What a JSON value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonKind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

/// A byte range of the scanned text, end exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) end: usize,
}

/// One value of the text: where it is (strings with their quotes), what it is, and for a
/// string whether it holds escapes (then its text is not the span's inside).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Scanned {
    pub(super) span: Span,
    pub(super) kind: JsonKind,
    pub(super) escaped: bool,
}

/// A top-level member: its name (a string, quotes included) and its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Member {
    pub(super) name: Scanned,
    /// The name's key; for a name with escapes, the escapes' own (the caller replaces it).
    pub(super) key: NameKey,
    pub(super) value: Scanned,
}

/// A name's length and first eight bytes: equal names have equal keys, and names of up
/// to eight bytes (every registered claim's) are equal when their keys are. Compares
/// without a call to `memcmp`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct NameKey {
    len: usize,
    head: u64,
}

impl NameKey {
    pub(super) fn of(name: &str) -> NameKey {
        let mut head = 0;
        for (index, byte) in name.bytes().take(8).enumerate() {
            head |= u64::from(byte) << (8 * index);
        }
        NameKey {
            len: name.len(),
            head,
        }
    }

    /// Equal keys mean equal names.
    pub(super) fn is_whole(self) -> bool {
        self.len <= 8
    }
}

/// The members of `text`, a JSON object and nothing else, in document order; `None` when
/// serde_json would refuse the text (duplicate names are the caller's to check).
pub(super) fn members(text: &str) -> Option<Vec<Member>> {
    let mut members = Vec::with_capacity(8);
    each_member(text, |member| {
        members.push(member);
        Some(())
    })?;
    Some(members)
}

/// [`members`] without the list: each member handed to `each` as it is scanned; `None`
/// when the text is refused or `each` refuses a member.
pub(super) fn each_member(text: &str, mut each: impl FnMut(Member) -> Option<()>) -> Option<()> {
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        at: 0,
    };
    scanner.whitespace();
    scanner.eat(b'{')?;
    let room = DEPTH - 1;
    scanner.whitespace();
    if scanner.eat(b'}').is_none() {
        loop {
            let start = scanner.at;
            scanner.eat(b'"')?;
            let escaped = scanner.string()?;
            let name = Scanned {
                span: Span {
                    start,
                    end: scanner.at,
                },
                kind: JsonKind::String,
                escaped,
            };
            let key = text
                .get(start + 1..scanner.at - 1)
                .map_or_else(NameKey::default, NameKey::of);
            scanner.whitespace();
            scanner.eat(b':')?;
            scanner.whitespace();
            let value = scanner.value(room)?;
            each(Member { name, key, value })?;
            scanner.whitespace();
            match scanner.next()? {
                b',' => scanner.whitespace(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    scanner.whitespace();
    (scanner.at == scanner.bytes.len()).then_some(())
}

/// The items of `array`, the text of a JSON array [`members`] accepted (in another
/// text: spans are relative to `array`). Ends early, without a word, on anything else.
pub(super) fn items(array: &str) -> Items<'_> {
    let mut scanner = Scanner {
        bytes: array.as_bytes(),
        at: 0,
    };
    let open = scanner.eat(b'[').is_some();
    scanner.whitespace();
    Items {
        scanner,
        done: !open,
    }
}

/// See [`items`].
pub(super) struct Items<'a> {
    scanner: Scanner<'a>,
    done: bool,
}

impl Iterator for Items<'_> {
    type Item = Scanned;

    fn next(&mut self) -> Option<Scanned> {
        if self.done {
            return None;
        }
        let scanner = &mut self.scanner;
        let item = if scanner.eat(b']').is_some() {
            None
        } else {
            scanner.value(DEPTH)
        };
        scanner.whitespace();
        match (item, scanner.next()) {
            (Some(item), Some(b',')) => {
                scanner.whitespace();
                Some(item)
            }
            (Some(item), Some(b']')) => {
                self.done = true;
                Some(item)
            }
            _ => {
                self.done = true;
                None
            }
        }
    }
}

/// The position in the text; every method that refuses returns `None` and leaves the
/// position anywhere.
struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek() == Some(byte)).then(|| self.at += 1)
    }

    /// JSON's four whitespace bytes, as serde_json skips them.
    fn whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// The value at the position; `room` is the depth left (serde_json's
    /// `remaining_depth`), taken by one when entering an array or object. Strings and
    /// numbers (nearly every claim) inline; the rest in [`Scanner::other`].
    #[inline]
    fn value(&mut self, room: u8) -> Option<Scanned> {
        let start = self.at;
        let (kind, escaped) = match self.peek()? {
            b'"' => {
                self.at += 1;
                (JsonKind::String, self.string()?)
            }
            b'-' | b'0'..=b'9' => {
                self.number()?;
                (JsonKind::Number, false)
            }
            _ => (self.other(room)?, false),
        };
        Some(Scanned {
            span: Span {
                start,
                end: self.at,
            },
            kind,
            escaped,
        })
    }

    /// An object, an array, `true`, `false` or `null`.
    #[inline(never)]
    fn other(&mut self, room: u8) -> Option<JsonKind> {
        match self.next()? {
            b'{' => {
                self.object(room.checked_sub(1).filter(|left| *left > 0)?)?;
                Some(JsonKind::Object)
            }
            b'[' => {
                self.array(room.checked_sub(1).filter(|left| *left > 0)?)?;
                Some(JsonKind::Array)
            }
            b't' => self.word(b"rue", JsonKind::Bool),
            b'f' => self.word(b"alse", JsonKind::Bool),
            b'n' => self.word(b"ull", JsonKind::Null),
            _ => None,
        }
    }

    fn word(&mut self, rest: &[u8], kind: JsonKind) -> Option<JsonKind> {
        let end = self.at + rest.len();
        (self.bytes.get(self.at..end)? == rest).then(|| {
            self.at = end;
            kind
        })
    }

    /// After `{`: members (duplicates allowed, as a `Value`'s map keeps the last), `}`.
    fn object(&mut self, room: u8) -> Option<()> {
        self.whitespace();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.eat(b'"')?;
            self.string()?;
            self.whitespace();
            self.eat(b':')?;
            self.whitespace();
            self.value(room)?;
            self.whitespace();
            match self.next()? {
                b',' => self.whitespace(),
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// After `[`: items, `]` (no trailing comma).
    fn array(&mut self, room: u8) -> Option<()> {
        self.whitespace();
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            self.value(room)?;
            self.whitespace();
            match self.next()? {
                b',' => self.whitespace(),
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    /// After the opening quote, past the closing one: whether the string held escapes.
    fn string(&mut self) -> Option<bool> {
        let mut escaped = false;
        loop {
            // Plain bytes in eights (serde_json's trick): stop at a quote, a backslash
            // or a control byte somewhere in the next eight.
            while let Some(chunk) = self.bytes.get(self.at..self.at + 8) {
                let mut word = [0; 8];
                word.copy_from_slice(chunk);
                let word = u64::from_le_bytes(word);
                const ONES: u64 = u64::MAX / 255;
                let control = word.wrapping_sub(ONES * 0x20) & !word;
                let quote = word ^ (ONES * u64::from(b'"'));
                let quote = quote.wrapping_sub(ONES) & !quote;
                let backslash = word ^ (ONES * u64::from(b'\\'));
                let backslash = backslash.wrapping_sub(ONES) & !backslash;
                let found = (control | quote | backslash) & (ONES << 7);
                if found != 0 {
                    self.at += found.trailing_zeros() as usize / 8;
                    break;
                }
                self.at += 8;
            }
            match self.next()? {
                b'"' => return Some(escaped),
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                0..=0x1F => return None,
                _ => {}
            }
        }
    }

    /// After a backslash: one escape. `\u` surrogates must pair, leading then trailing,
    /// as serde_json requires when reading a string.
    fn escape(&mut self) -> Option<()> {
        match self.next()? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(()),
            b'u' => match self.hex()? {
                0xDC00..=0xDFFF => None,
                0xD800..=0xDBFF => {
                    self.eat(b'\\')?;
                    self.eat(b'u')?;
                    matches!(self.hex()?, 0xDC00..=0xDFFF).then_some(())
                }
                _ => Some(()),
            },
            _ => None,
        }
    }

    /// Four hex digits, either case.
    fn hex(&mut self) -> Option<u16> {
        let digits = self.bytes.get(self.at..self.at + 4)?;
        let mut unit = 0u16;
        for &digit in digits {
            unit = unit << 4 | char::from(digit).to_digit(16)? as u16;
        }
        self.at += 4;
        Some(unit)
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, within f64's range.
    fn number(&mut self) -> Option<()> {
        let start = self.at;
        let _ = self.eat(b'-');
        let integer = self.at;
        match self.next()? {
            b'0' => {
                if let Some(b'0'..=b'9') = self.peek() {
                    return None;
                }
            }
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        // Up to 300 integer digits and no exponent: far below f64::MAX (1.8e308),
        // whatever the fraction. Anything else is read by serde_json itself, whose
        // rounding decides where its range ends.
        let mut surely_finite = self.at - integer <= 300;
        if self.eat(b'.').is_some() {
            let fraction = self.at;
            self.digits();
            if self.at == fraction {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            let exponent = self.at;
            self.digits();
            if self.at == exponent {
                return None;
            }
            surely_finite = false;
        }
        if surely_finite {
            return Some(());
        }
        let text = std::str::from_utf8(&self.bytes[start..self.at]).ok()?;
        serde_json::from_str::<serde_json::Number>(text)
            .ok()
            .map(|_| ())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }
}
