//! The JSON line format, written piece by piece as the event is visited.
//!
//! One line is `{"message":…,"severity":…,"target":…,"time":…, then the event's fields
//! in recorded order}` (the fixed keys sorted, as the `serde_json::Map` that built them
//! before wrote them). It used to be built as a `serde_json::Map` of `Value`s with a
//! `String` per field name and a `serde_json::to_string` per field: ~22 k instructions per
//! line, a fifth of the HS256 handshake (docs/performance.md). Now each piece is appended
//! to one reused per-thread line buffer as the fields are visited, then the line is
//! copied into the [`Writer`] once: no map, no `Value`, no allocation per field, `Debug`
//! values JSON-escaped while they are formatted, and what depends only on the callsite
//! (whether names need escaping, whether a name repeats) worked out once per callsite.
//! The output is byte for byte what the `serde_json` version wrote (a test keeps that
//! version as the reference).
//!
//! The fast path needs the output order to be the visiting order, which holds when no
//! enclosing span has fields and no field name repeats. Otherwise, rarely, the fields are
//! first gathered with their rendered JSON so a later value can replace an earlier one in
//! place.

use std::cell::{Cell, RefCell};
use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats an event as one JSON object in Cloud Logging's structured-log shape.
pub(super) struct CloudLoggingFormat;

/// Keys the format itself writes; an event field with one of these names is renamed
/// `fields.NAME` instead of silently overwriting it.
// `timestamp` stays reserved although the line's time is in `time`: Cloud Logging's agent
// reads a top-level `timestamp` as the entry's time (an object with seconds and nanos).
const RESERVED: [&str; 5] = ["severity", "time", "timestamp", "message", "target"];

/// The field whose value becomes the line's `message` (tracing's macros name the format
/// string so).
const MESSAGE: &str = "message";

impl<S, N> FormatEvent<S, N> for CloudLoggingFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        thread_local! {
            /// The line being formatted, reused: the pieces are appended to a concrete
            /// `String` (short constant pieces become plain stores) rather than each
            /// going through `Writer`'s `&mut dyn fmt::Write`, then copied over once.
            static LINE: RefCell<String> = const { RefCell::new(String::new()) };
        }
        let spans = span_fields(ctx);
        LINE.with(|line| {
            // Taken only if a `Debug` value being formatted logs an event itself.
            let Ok(mut line) = line.try_borrow_mut() else {
                let mut line = String::new();
                format_line(&mut line, event, spans)?;
                return writer.write_str(&line);
            };
            line.clear();
            let result =
                format_line(&mut line, event, spans).and_then(|()| writer.write_str(&line));
            if line.capacity() > KEEP_LINE_CAPACITY {
                *line = String::new();
            }
            result
        })
    }
}

/// A line buffer that grew beyond this (a huge field) is released after use.
const KEEP_LINE_CAPACITY: usize = 16 * 1024;

/// Writes `event` as one JSON line; `spans` are the fields of the enclosing spans.
fn format_line(out: &mut String, event: &Event<'_>, spans: Option<OrderedFields>) -> fmt::Result {
    let metadata = event.metadata();
    let shape = Shape::of(metadata);

    // The four fixed keys in the order the `serde_json::Map` (sorted by key) this
    // replaced wrote them, so that the output stays byte for byte what it was.
    out.push_str("{\"message\":\"");
    write_message(out, event, shape.messages)?;
    out.push_str("\",\"severity\":\"");
    out.push_str(severity(*metadata.level()));
    out.push_str("\",\"target\":\"");
    if shape.plain {
        out.push_str(metadata.target());
    } else {
        write_escaped(out, metadata.target())?;
    }
    out.push_str("\",\"time\":\"");
    write_timestamp(out, SystemTime::now())?;
    out.push('"');

    match spans {
        None if !shape.duplicates => {
            // The common case: each field goes out as it is visited.
            let mut result = Ok(());
            event.record(&mut Visitor(|field: &Field, value: FieldValue<'_>| {
                if result.is_ok() && field.name() != MESSAGE {
                    result = write_field(out, field.name(), shape.plain, &value);
                }
            }));
            result?;
        }
        spans => {
            let mut fields = spans.unwrap_or_default();
            let mut result = Ok(());
            event.record(&mut Visitor(|field: &Field, value: FieldValue<'_>| {
                if result.is_err() || field.name() == MESSAGE {
                    return;
                }
                let mut json = String::new();
                result = value.write_json(&mut json);
                fields.insert(plain(field.name()).to_owned(), json);
            }));
            result?;
            for (name, json) in &fields.0 {
                write_name(out, name)?;
                out.push_str(json);
            }
        }
    }
    out.push_str("}\n");
    Ok(())
}

/// What the callsite's target and field names allow, known before any value is visited.
/// It depends only on the callsite, so it is worked out once per callsite and thread
/// ([`Shape::of`]'s cache): the exact duplicate check compares every pair of names.
#[derive(Clone, Copy)]
struct Shape {
    /// How many fields are named `message`.
    messages: u8,
    /// Whether two other fields share a name (after `r#` is stripped), so that the later
    /// value must replace the earlier one instead of both being written.
    duplicates: bool,
    /// Whether the target and every field name can be written as they are: nothing to
    /// escape, no `r#` to strip, no reserved name to rename.
    plain: bool,
}

/// Entries in the per-thread [`Shape`] cache (direct-mapped; a collision only costs a
/// recomputation). wsgate has a few dozen callsites, of which a handful are hot.
const SHAPE_CACHE: usize = 64;

impl Shape {
    /// The shape of `metadata`'s callsite, from the per-thread cache when it is there.
    fn of(metadata: &'static Metadata<'static>) -> Shape {
        thread_local! {
            static CACHE: [Cell<(usize, Shape)>; SHAPE_CACHE] = const {
                [const { Cell::new((0, Shape::EMPTY)) }; SHAPE_CACHE]
            };
        }
        // Callsite metadata lives in statics (or is leaked) and is never freed, so its
        // address identifies the callsite for the life of the process; it is never 0.
        let key = std::ptr::from_ref(metadata).addr();
        let slot = (key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SHAPE_CACHE.ilog2());
        let slot = usize::try_from(slot).unwrap_or_default() % SHAPE_CACHE;
        CACHE.with(|cache| {
            let (cached, shape) = cache[slot].get();
            if cached == key {
                return shape;
            }
            let shape = Shape::compute(metadata);
            cache[slot].set((key, shape));
            shape
        })
    }

    /// A placeholder for empty cache slots.
    const EMPTY: Shape = Shape {
        messages: 0,
        duplicates: false,
        plain: false,
    };

    fn compute(metadata: &Metadata<'_>) -> Shape {
        let fields = metadata.fields();
        let mut shape = Shape {
            messages: 0,
            duplicates: false,
            plain: !needs_escape(metadata.target()),
        };
        for (index, field) in fields.iter().enumerate() {
            if field.name() == MESSAGE {
                shape.messages = shape.messages.saturating_add(1);
                continue;
            }
            let name = plain(field.name());
            shape.plain &= name == field.name() && !needs_escape(name) && !RESERVED.contains(&name);
            shape.duplicates |= fields
                .iter()
                .take(index)
                .any(|earlier| earlier.name() != MESSAGE && plain(earlier.name()) == name);
        }
        shape
    }
}

/// Writes the event's `message` as JSON string contents; nothing when it has none.
fn write_message(out: &mut String, event: &Event<'_>, messages: u8) -> fmt::Result {
    let mut result = Ok(());
    match messages {
        0 => {}
        1 => event.record(&mut Visitor(|field: &Field, value: FieldValue<'_>| {
            if field.name() == MESSAGE {
                result = value.write_text(&mut JsonEscaper(&mut *out));
            }
        })),
        // Several `message` fields: the last one recorded wins.
        _ => {
            let mut last = None;
            event.record(&mut Visitor(|field: &Field, value: FieldValue<'_>| {
                if field.name() == MESSAGE {
                    let mut text = String::new();
                    result = value.write_text(&mut text);
                    last = Some(text);
                }
            }));
            if let Some(text) = last {
                write_escaped(out, &text)?;
            }
        }
    }
    result
}

/// The fields of the spans enclosing the event, outermost first, or `None` when none of
/// them has any. Spans are rare on wsgate's paths, so this keeps the simple approach of
/// parsing what `JsonFields` stored for each span.
fn span_fields<S, N>(ctx: &FmtContext<'_, S, N>) -> Option<OrderedFields>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    let scope = ctx.event_scope()?;
    let mut fields = OrderedFields::default();
    for span in scope.from_root() {
        let extensions = span.extensions();
        let Some(formatted) = extensions.get::<FormattedFields<N>>() else {
            continue;
        };
        if formatted.fields.is_empty() {
            continue;
        }
        if let Ok(Value::Object(map)) = serde_json::from_str(&formatted.fields) {
            for (name, value) in map {
                fields.insert(name, value.to_string());
            }
        }
    }
    (!fields.0.is_empty()).then_some(fields)
}

/// Field name → rendered JSON value, in first-recorded order, a later value replacing an
/// earlier one in place.
#[derive(Default)]
struct OrderedFields(Vec<(String, String)>);

impl OrderedFields {
    fn insert(&mut self, name: String, json: String) {
        match self.0.iter_mut().find(|(existing, _)| *existing == name) {
            Some(slot) => slot.1 = json,
            None => self.0.push((name, json)),
        }
    }
}

/// Cloud Logging's `LogSeverity` names.
fn severity(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG | Level::TRACE => "DEBUG",
    }
}

/// A field name as written: without the raw-identifier prefix (`r#type` is `type`).
fn plain(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

/// Writes `,"NAME":VALUE`; `plain` says the name needs no renaming or escaping.
fn write_field(
    out: &mut impl fmt::Write,
    name: &str,
    plain: bool,
    value: &FieldValue<'_>,
) -> fmt::Result {
    if plain {
        out.write_str(",\"")?;
        out.write_str(name)?;
        out.write_str("\":")?;
    } else {
        write_name(out, self::plain(name))?;
    }
    value.write_json(out)
}

/// Writes `,"NAME":`, renaming a reserved name `fields.NAME` and escaping it.
fn write_name(out: &mut impl fmt::Write, name: &str) -> fmt::Result {
    out.write_str(",\"")?;
    if RESERVED.contains(&name) {
        out.write_str("fields.")?;
    }
    write_escaped(out, name)?;
    out.write_str("\":")
}

/// One recorded value, borrowed for as long as the visitor call lasts.
enum FieldValue<'a> {
    Str(&'a str),
    Debug(&'a dyn fmt::Debug),
    Error(&'a (dyn std::error::Error + 'static)),
    F64(f64),
    I64(i64),
    U64(u64),
    Bool(bool),
}

impl FieldValue<'_> {
    /// Whether the value is written as a JSON string. NaN and the infinities are not JSON
    /// numbers, so they are written as strings (`"NaN"`, `"inf"`, `"-inf"`).
    fn is_string(&self) -> bool {
        match self {
            FieldValue::Str(_) | FieldValue::Debug(_) | FieldValue::Error(_) => true,
            FieldValue::F64(value) => !value.is_finite(),
            FieldValue::I64(_) | FieldValue::U64(_) | FieldValue::Bool(_) => false,
        }
    }

    /// Writes the value as a JSON value.
    fn write_json(&self, out: &mut impl fmt::Write) -> fmt::Result {
        if self.is_string() {
            out.write_str("\"")?;
            self.write_text(&mut JsonEscaper(&mut *out))?;
            out.write_str("\"")
        } else {
            self.write_text(out)
        }
    }

    /// Writes the value's text: a string's contents (unescaped: pass a [`JsonEscaper`] to
    /// escape), a number or boolean as its JSON literal.
    fn write_text(&self, out: &mut impl fmt::Write) -> fmt::Result {
        match *self {
            FieldValue::Str(text) => out.write_str(text),
            FieldValue::Debug(value) => write!(out, "{value:?}"),
            FieldValue::Error(error) => write!(out, "{error}"),
            // serde_json's shortest round-trip form (`2000.0`, `1.5`), as the
            // `serde_json::Value` this replaced wrote it.
            FieldValue::F64(value) => match serde_json::Number::from_f64(value) {
                Some(number) => write!(out, "{number}"),
                None => write!(out, "{value}"),
            },
            FieldValue::I64(value) => write_i64(out, value),
            FieldValue::U64(value) => write_u64(out, value),
            FieldValue::Bool(value) => out.write_str(if value { "true" } else { "false" }),
        }
    }
}

/// A [`Visit`] handing each recorded field to a closure as a [`FieldValue`].
struct Visitor<F>(F);

impl<F: FnMut(&Field, FieldValue<'_>)> Visit for Visitor<F> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        (self.0)(field, FieldValue::F64(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        (self.0)(field, FieldValue::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        (self.0)(field, FieldValue::U64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        (self.0)(field, FieldValue::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        (self.0)(field, FieldValue::Str(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        (self.0)(field, FieldValue::Error(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        (self.0)(field, FieldValue::Debug(value));
    }
}

/// A [`fmt::Write`] adapter that JSON-escapes everything written through it, so `Debug`
/// and `Display` output can be escaped as it is produced, without an intermediate
/// `String`.
pub(super) struct JsonEscaper<'a, W: fmt::Write + ?Sized>(pub(super) &'a mut W);

impl<W: fmt::Write + ?Sized> fmt::Write for JsonEscaper<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        write_escaped(self.0, text)
    }
}

/// Writes `now` as humantime's `format_rfc3339_millis` does (`2026-05-01T12:00:00.123Z`).
///
/// The date and time of day change once a second, so they are formatted once per second
/// and thread and kept; each line only adds the milliseconds.
pub(super) fn write_timestamp(out: &mut impl fmt::Write, now: SystemTime) -> fmt::Result {
    thread_local! {
        /// The second last formatted, and its `YYYY-MM-DDTHH:MM:SS`.
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let slow = |out: &mut dyn fmt::Write| write!(out, "{}", humantime::format_rfc3339_millis(now));
    let Ok(since_epoch) = now.duration_since(UNIX_EPOCH) else {
        return slow(out);
    };
    let (seconds, millis) = (since_epoch.as_secs(), since_epoch.subsec_millis());
    SECOND.with(|second| {
        let Ok(mut second) = second.try_borrow_mut() else {
            return slow(out);
        };
        let (cached, prefix) = &mut *second;
        if *cached != seconds {
            prefix.clear();
            let whole = UNIX_EPOCH + Duration::from_secs(seconds);
            write!(prefix, "{}", humantime::format_rfc3339_seconds(whole))?;
            prefix.pop(); // the 'Z'
            *cached = seconds;
        }
        out.write_str(prefix)?;
        let digit = |n: u32| char::from(b'0' + u8::try_from(n % 10).unwrap_or(0));
        out.write_char('.')?;
        out.write_char(digit(millis / 100))?;
        out.write_char(digit(millis / 10))?;
        out.write_char(digit(millis))?;
        out.write_char('Z')
    })
}

/// A client address as a log field: `SocketAddr`'s `Display` text, formatted in one piece
/// for IPv4. The standard `Display` writes each octet through its own nested `write!`,
/// and through the JSON escaper that was ~1.9 k instructions per line, the largest single
/// cost of a decision line; IPv6 (rare here, and with compression rules) still uses it.
pub(super) struct ClientAddr(pub(super) SocketAddr);

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SocketAddr::V4(addr) = self.0 else {
            return fmt::Display::fmt(&self.0, f);
        };
        if f.width().is_some() || f.precision().is_some() {
            return fmt::Display::fmt(&self.0, f);
        }
        // "255.255.255.255:65535" is 21 bytes.
        let mut text = [0u8; 21];
        let mut len = 0;
        let mut push = |bytes: &[u8]| {
            text[len..len + bytes.len()].copy_from_slice(bytes);
            len += bytes.len();
        };
        let mut digits = [0; 20];
        for (index, octet) in addr.ip().octets().into_iter().enumerate() {
            if index > 0 {
                push(b".");
            }
            push(decimal(&mut digits, u64::from(octet)));
        }
        push(b":");
        push(decimal(&mut digits, u64::from(addr.port())));
        f.write_str(std::str::from_utf8(&text[..len]).map_err(|_| fmt::Error)?)
    }
}

/// Writes `value`'s decimal digits into the end of `buffer` and returns them: integers
/// as `Display` writes them, without a pass through `fmt::write` and `pad_integral`
/// (a few hundred instructions per number, and a line has up to nine).
fn decimal(buffer: &mut [u8; 20], value: u64) -> &[u8] {
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
pub(super) fn write_u64(out: &mut impl fmt::Write, value: u64) -> fmt::Result {
    for &digit in decimal(&mut [0; 20], value) {
        out.write_char(char::from(digit))?;
    }
    Ok(())
}

/// Writes `value` in decimal, as `Display` does.
pub(super) fn write_i64(out: &mut impl fmt::Write, value: i64) -> fmt::Result {
    if value < 0 {
        out.write_str("-")?;
    }
    write_u64(out, value.unsigned_abs())
}

/// Whether `text` has a character [`write_escaped`] escapes.
fn needs_escape(text: &str) -> bool {
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
    let mut index = from;
    while let Some(chunk) = bytes.get(index..index + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let found = below(x, 0x20)
            | below(x ^ (ONES * u64::from(b'"')), 1)
            | below(x ^ (ONES * u64::from(b'\\')), 1);
        if found != 0 {
            // Little-endian: the lowest set bit is in the first matching byte.
            return Some(index + usize::try_from(found.trailing_zeros() / 8).unwrap_or(0));
        }
        index += 8;
    }
    let tail = bytes.get(index..)?;
    tail.iter()
        .position(|&byte| escaped(byte))
        .map(|at| index + at)
}

/// Writes `text` as the contents of a JSON string, escaped exactly as serde_json escapes
/// it: `"` and `\` with a backslash; backspace, form feed, newline, carriage return and
/// tab as `\b \f \n \r \t`; every other control character below U+0020 as `\u00xx`
/// (lowercase hex); everything else, including DEL and all non-ASCII, as is (the output
/// is UTF-8).
pub(super) fn write_escaped<W: fmt::Write + ?Sized>(out: &mut W, text: &str) -> fmt::Result {
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
