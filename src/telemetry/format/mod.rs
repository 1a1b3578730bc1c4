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
//! Here: the line's shape and its fields' order; `field.rs` holds a recorded value and
//! how it is written as JSON, `json.rs` JSON string escaping and integers, `timestamp.rs`
//! the `time` value, `client_addr.rs` the `client` field.
//!
//! The fast path needs the output order to be the visiting order, which holds when no
//! enclosing span has fields and no field name repeats. Otherwise, rarely, the fields are
//! first gathered with their rendered JSON so a later value can replace an earlier one in
//! place.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::time::SystemTime;

use serde_json::Value;
use tracing::field::Field;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

pub(in crate::telemetry) mod client_addr;
pub(in crate::telemetry) mod direct;
mod field;
pub(in crate::telemetry) mod json;
pub(in crate::telemetry) mod timestamp;

use field::{FieldValue, Visitor};
use json::{JsonEscaper, needs_escape, write_escaped};
use timestamp::write_timestamp;

/// Formats an event as one JSON object in Cloud Logging's structured-log shape.
pub(in crate::telemetry) struct CloudLoggingFormat;

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

    match spans {
        None if !shape.duplicates && shape.message_first => {
            // The common case, every event of tracing's macros with a message: one pass.
            // The message is the first field visited, so it is written in place, then the
            // other fixed keys, then each field as it is visited.
            let mut result = Ok(());
            let mut started = false;
            event.record(&mut Visitor(|field: &Field, value: FieldValue<'_>| {
                if result.is_err() {
                    return;
                }
                let is_message = field.name() == MESSAGE;
                if !started {
                    started = true;
                    if is_message {
                        result = value
                            .write_text(&mut JsonEscaper(&mut *out))
                            .and_then(|()| write_fixed_keys(out, metadata, shape));
                        return;
                    }
                    // The message was not recorded: it is empty.
                    result = write_fixed_keys(out, metadata, shape);
                }
                if result.is_ok() && !is_message {
                    result = write_field(out, field.name(), shape.plain, &value);
                }
            }));
            result?;
            if !started {
                write_fixed_keys(out, metadata, shape)?;
            }
        }
        None if !shape.duplicates => {
            write_message(out, event, shape.messages)?;
            write_fixed_keys(out, metadata, shape)?;
            // No message, or not first: it is found in a pass of its own, then each field
            // goes out as it is visited.
            let mut result = Ok(());
            event.record(&mut Visitor(|field: &Field, value: FieldValue<'_>| {
                if result.is_ok() && field.name() != MESSAGE {
                    result = write_field(out, field.name(), shape.plain, &value);
                }
            }));
            result?;
        }
        spans => {
            write_message(out, event, shape.messages)?;
            write_fixed_keys(out, metadata, shape)?;
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

/// Ends the `message` value and writes the other three fixed keys: `severity`, `target`
/// and `time`.
fn write_fixed_keys(out: &mut String, metadata: &Metadata<'_>, shape: Shape) -> fmt::Result {
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
    Ok(())
}

/// What the callsite's target and field names allow, known before any value is visited.
/// It depends only on the callsite, so it is worked out once per callsite and thread
/// ([`Shape::of`]'s cache): the exact duplicate check compares every pair of names.
#[derive(Clone, Copy)]
struct Shape {
    /// How many fields are named `message`.
    messages: u8,
    /// Whether the only `message` field is the first field (as tracing's macros put it),
    /// so that it is visited before every other field.
    message_first: bool,
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
        message_first: false,
        duplicates: false,
        plain: false,
    };

    fn compute(metadata: &Metadata<'_>) -> Shape {
        let fields = metadata.fields();
        let mut shape = Shape {
            messages: 0,
            message_first: false,
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
        shape.message_first =
            shape.messages == 1 && fields.iter().next().is_some_and(|f| f.name() == MESSAGE);
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
