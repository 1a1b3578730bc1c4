//! One recorded field value, borrowed while tracing visits it, and how it is written as a
//! JSON value; the [`Visit`] that hands each field to a closure.

use std::fmt;

use tracing::field::{Field, Visit};

use super::json::{JsonEscaper, write_i64, write_u64};

/// One recorded value, borrowed for as long as the visitor call lasts.
pub(super) enum FieldValue<'a> {
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
    pub(super) fn write_json(&self, out: &mut impl fmt::Write) -> fmt::Result {
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
    pub(super) fn write_text(&self, out: &mut impl fmt::Write) -> fmt::Result {
        match *self {
            FieldValue::Str(text) => out.write_str(text),
            FieldValue::Debug(value) => write!(out, "{value:?}"),
            FieldValue::Error(error) => write!(out, "{error}"),
            FieldValue::F64(value) if value.is_finite() => write_finite_f64(out, value),
            FieldValue::F64(value) => write!(out, "{value}"),
            FieldValue::I64(value) => write_i64(out, value),
            FieldValue::U64(value) => write_u64(out, value),
            FieldValue::Bool(value) => out.write_str(if value { "true" } else { "false" }),
        }
    }
}

/// Writes `value` as an `f64` field's JSON value (a finite one as a number).
pub(super) fn write_f64(out: &mut impl fmt::Write, value: f64) -> fmt::Result {
    FieldValue::F64(value).write_json(out)
}

/// Writes a finite `value` in serde_json's shortest round-trip form (`2000.0`, `1.5`), as
/// the `serde_json::Value` this replaced wrote it: through serde_json's own number
/// formatter into a stack buffer, without `fmt` machinery (a `duration_ms` on every line).
fn write_finite_f64(out: &mut impl fmt::Write, value: f64) -> fmt::Result {
    use serde_json::ser::Formatter as _;
    // The longest shortest form of an f64 (`-2.2250738585072014e-308`) is 24 bytes.
    let mut buffer = [0u8; 32];
    let left = {
        let mut rest = &mut buffer[..];
        let written = serde_json::ser::CompactFormatter.write_f64(&mut rest, value);
        written.map(|()| rest.len())
    };
    let Ok(left) = left else {
        return write!(out, "{}", serde_json::Value::from(value));
    };
    let written = buffer.len() - left;
    out.write_str(std::str::from_utf8(&buffer[..written]).map_err(|_| fmt::Error)?)
}

/// A [`Visit`] handing each recorded field to a closure as a [`FieldValue`].
pub(super) struct Visitor<F>(pub(super) F);

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
