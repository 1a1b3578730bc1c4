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
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::time::SystemTime;

use tracing::Level;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::layer::Layered;
use tracing_subscriber::{EnvFilter, Registry};

use super::json::{write_escaped, write_u64};
use super::timestamp::write_timestamp;
use super::{CloudLoggingFormat, KEEP_LINE_CAPACITY, severity};
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

/// One line being written: the fields after the fixed keys, in the event's order.
pub(in crate::telemetry) struct Line<'a>(&'a mut String);

impl Line<'_> {
    /// `,"NAME":"TEXT"` with `text` escaped.
    pub(in crate::telemetry) fn str(&mut self, name: &str, text: &str) {
        self.key(name);
        self.0.push('"');
        // Writing into a `String` cannot fail.
        let _ = write_escaped(self.0, text);
        self.0.push('"');
    }

    /// `,"NAME":"TEXT"` for text known to need no escaping (enum labels, reason codes,
    /// hex digits, socket addresses): no scan.
    pub(in crate::telemetry) fn plain(&mut self, name: &str, text: &str) {
        debug_assert!(!super::json::needs_escape(text), "{text:?}");
        self.key(name);
        self.0.push('"');
        self.0.push_str(text);
        self.0.push('"');
    }

    /// Like [`Line::str`], nothing when `None` (as tracing records no `None` field).
    pub(in crate::telemetry) fn opt_str(&mut self, name: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.str(name, text);
        }
    }

    pub(in crate::telemetry) fn u64(&mut self, name: &str, value: u64) {
        self.key(name);
        let _ = write_u64(self.0, value);
    }

    pub(in crate::telemetry) fn bool(&mut self, name: &str, value: bool) {
        self.key(name);
        self.0.push_str(if value { "true" } else { "false" });
    }

    /// A finite number, as the formatter writes an `f64` field.
    pub(in crate::telemetry) fn f64(&mut self, name: &str, value: f64) {
        self.key(name);
        let _ = super::field::write_f64(self.0, value);
    }

    /// `,"NAME":`; names are the record functions' literals, which need no escaping.
    fn key(&mut self, name: &str) {
        self.0.push_str(",\"");
        self.0.push_str(name);
        self.0.push_str("\":");
    }
}

/// Writes one line with `message` at `level` and the fields `fields` writes into the
/// installed coalescing writer, if the current dispatcher is the production one and no
/// span is entered; returns whether it did. The caller has checked that the event is
/// enabled.
pub(in crate::telemetry) fn write_line(
    level: Level,
    message: &str,
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
            if write_fixed(&mut line, level, message).is_err() {
                return false;
            }
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

/// `{"message":…,"severity":…,"target":…,"time":…"`, as [`CloudLoggingFormat`] writes
/// them.
fn write_fixed(out: &mut String, level: Level, message: &str) -> fmt::Result {
    out.push_str("{\"message\":\"");
    write_escaped(out, message)?;
    out.push_str("\",\"severity\":\"");
    out.push_str(severity(level));
    out.push_str("\",\"target\":\"");
    out.push_str(TARGET);
    out.push_str("\",\"time\":\"");
    write_timestamp(out, SystemTime::now())?;
    out.write_char('"')
}
