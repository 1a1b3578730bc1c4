//! The hot lines ("request allowed", "request denied", "session closed") written straight
//! into the production writer, without tracing's per-field dispatch.
//!
//! Through `tracing::event!` each of these lines cost ~4 k instructions (callgrind, one
//! HS256 handshake writes two): a `ValueSet` built and visited field by field through
//! `Value::record` shims and the `Visit` trait, the layer's own line buffer copied once
//! more, and every string value scanned for escapes, including enum labels that never
//! need any. Here the record functions write their fields with their known types.
//!
//! Only when it changes nothing: the caller first asks tracing whether the event is
//! enabled (`tracing::enabled!` with the event's own target, level and field names, so
//! `WSGATE_LOG` decides exactly as it did), and [`write_line`] writes only when the
//! current dispatcher is the one [`init_logging`](crate::telemetry::init_logging)
//! installs (wsgate's JSON layer writing to the coalescing writer) and no span is
//! entered. Under any other subscriber (a test's `with_default`, another layer) it
//! returns `false` and the caller logs through `tracing::event!` as before. The bytes are
//! what [`CloudLoggingFormat`] writes for the same event (tests compare the two).

use std::cell::RefCell;
use std::fmt;
use std::io::Write as _;
use std::time::{Duration, SystemTime};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::layer::Layered;
use tracing_subscriber::{EnvFilter, Registry};

use super::json::{write_escaped, write_u64};
use super::timestamp::write_timestamp;
use super::{CloudLoggingFormat, KEEP_LINE_CAPACITY};
use crate::telemetry::writer::CoalescingWriter;

/// The target of the record functions' events (`module_path!()` in `telemetry/mod.rs`).
pub(in crate::telemetry) const TARGET: &str = "wsgate::telemetry";

/// The JSON layer [`init_logging`](crate::telemetry::init_logging) installs.
type ProductionLayer = tracing_subscriber::fmt::Layer<
    Layered<EnvFilter, Registry>,
    JsonFields,
    CloudLoggingFormat,
    CoalescingWriter,
>;

/// `,"NAME":` for a literal `NAME` (which must need no escaping), as one constant piece.
macro_rules! json_key {
    ($name:literal) => {
        concat!(",\"", $name, "\":")
    };
}
pub(in crate::telemetry) use json_key;

/// One line being written: the fields after the fixed keys, in the event's order. Each
/// method takes the field's `key`, `,"NAME":` as [`json_key!`] writes it.
pub(in crate::telemetry) struct Line<'a>(&'a mut String);

impl Line<'_> {
    /// A string field, `text` escaped.
    pub(in crate::telemetry) fn str(&mut self, key: &str, text: &str) {
        self.0.push_str(key);
        self.0.push('"');
        // Writing into a `String` cannot fail.
        let _ = write_escaped(self.0, text);
        self.0.push('"');
    }

    /// A string field whose text is known to need no escaping (enum labels, reason codes,
    /// hex digits, socket addresses): no scan.
    pub(in crate::telemetry) fn plain(&mut self, key: &str, text: &str) {
        debug_assert!(!super::json::needs_escape(text), "{text:?}");
        self.0.push_str(key);
        self.0.push('"');
        self.0.push_str(text);
        self.0.push('"');
    }

    /// Like [`Line::str`], nothing when `None` (as tracing records no `None` field).
    pub(in crate::telemetry) fn opt_str(&mut self, key: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.str(key, text);
        }
    }

    pub(in crate::telemetry) fn u64(&mut self, key: &str, value: u64) {
        self.0.push_str(key);
        let _ = write_u64(self.0, value);
    }

    pub(in crate::telemetry) fn bool(&mut self, key: &str, value: bool) {
        self.0.push_str(key);
        self.0.push_str(if value { "true" } else { "false" });
    }

    /// `duration` in milliseconds with microsecond precision: the `f64`
    /// `micros / 1000.0` as the formatter writes it ([`write_millis`]).
    pub(in crate::telemetry) fn millis(&mut self, key: &str, duration: Duration) {
        self.0.push_str(key);
        let _ = write_millis(self.0, duration);
    }
}

/// Below this many microseconds (31 years) a duration's milliseconds have at most 15
/// significant digits, so the exact decimal `micros / 1000` is the shortest text that
/// reads back as the `f64` `micros as f64 / 1000.0` (distinct decimals of up to 15
/// digits are distinct doubles), which is what serde_json (ryu) writes for it: in plain
/// notation, since the decimal point is at most 12 digits in.
const EXACT_MICROS: u64 = 1_000_000_000_000_000;

/// Writes `duration`'s milliseconds as the `f64` `micros as f64 / 1000.0` is written as a
/// JSON number (`0.0`, `0.001`, `1.5`, `2001.0`, `1234.567`), from the integer
/// microseconds: no float formatting.
pub(in crate::telemetry) fn write_millis(out: &mut String, duration: Duration) -> fmt::Result {
    let micros = duration.as_micros();
    let Some(micros) = u64::try_from(micros).ok().filter(|&m| m < EXACT_MICROS) else {
        #[allow(clippy::cast_precision_loss)] // as the `duration_ms` field always was
        return super::field::write_f64(out, micros as f64 / 1000.0);
    };
    write_u64(out, micros / 1000)?;
    out.push('.');
    let mut fraction = micros % 1000;
    if fraction == 0 {
        out.push('0');
        return Ok(());
    }
    let mut digits = 3;
    while fraction % 10 == 0 {
        fraction /= 10;
        digits -= 1;
    }
    let buffer = &mut [0; 20];
    let text = super::json::decimal(buffer, fraction);
    for _ in text.len()..digits {
        out.push('0');
    }
    for &digit in text {
        out.push(char::from(digit));
    }
    Ok(())
}

/// The start of a line up to the opening quote of the `time` value, for a literal message
/// (which must need no escaping) at `INFO` or `WARN`, as [`CloudLoggingFormat`] writes
/// the fixed keys: one constant piece.
macro_rules! line_head {
    (INFO, $message:literal) => {
        concat!(
            "{\"message\":\"",
            $message,
            "\",\"severity\":\"INFO\",\"target\":\"wsgate::telemetry\",\"time\":\""
        )
    };
    (WARN, $message:literal) => {
        concat!(
            "{\"message\":\"",
            $message,
            "\",\"severity\":\"WARNING\",\"target\":\"wsgate::telemetry\",\"time\":\""
        )
    };
}
pub(in crate::telemetry) use line_head;

/// Writes one line, `head` (from [`line_head!`]), the time, then the fields `fields`
/// writes, into the installed coalescing writer, if the current dispatcher is the
/// production one and no span is entered; returns whether it did. The caller has checked
/// that the event is enabled.
pub(in crate::telemetry) fn write_line(
    head: &'static str,
    fields: impl FnOnce(&mut Line<'_>),
) -> bool {
    thread_local! {
        static LINE: RefCell<String> = const { RefCell::new(String::new()) };
    }
    let mut fields = Some(fields);
    tracing::dispatcher::get_default(|dispatch| {
        let Some(layer) = dispatch.downcast_ref::<ProductionLayer>() else {
            return false;
        };
        // The formatter would add an entered span's fields; none is entered on wsgate's
        // paths, but if one is, leave the line to it.
        if dispatch.current_span().id().is_some() {
            return false;
        }
        LINE.with(|line| {
            let Ok(mut line) = line.try_borrow_mut() else {
                return false;
            };
            line.clear();
            line.push_str(head);
            if write_timestamp(&mut *line, SystemTime::now()).is_err() {
                return false;
            }
            line.push('"');
            if let Some(fields) = fields.take() {
                fields(&mut Line(&mut line));
            }
            line.push_str("}\n");
            #[cfg(test)]
            WRITTEN.with(|written| written.set(written.get() + 1));
            // As tracing-subscriber's layer does, a failed write is not logged again.
            let _ = layer.writer().make_writer().write_all(line.as_bytes());
            if line.capacity() > KEEP_LINE_CAPACITY {
                *line = String::new();
            }
            true
        })
    })
}

#[cfg(test)]
thread_local! {
    /// How many lines [`write_line`] wrote on this thread: tests check which path a line
    /// took.
    pub(in crate::telemetry) static WRITTEN: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}
