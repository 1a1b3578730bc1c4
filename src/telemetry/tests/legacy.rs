//! The JSON format as it was written before the streaming formatter (`serde_json::Value`
//! per field), kept verbatim as the reference the new one must match byte for byte.

use std::time::SystemTime;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats an event as one JSON object in Cloud Logging's structured-log shape.
pub(super) struct LegacyFormat;

/// Keys the format itself writes; an event field with one of these names is renamed
/// `fields.NAME` instead of silently overwriting it.
// `timestamp` stays reserved although the line's time is in `time`: Cloud Logging's agent
// reads a top-level `timestamp` as the entry's time (an object with seconds and nanos).
const RESERVED: [&str; 5] = ["severity", "time", "timestamp", "message", "target"];

impl<S, N> FormatEvent<S, N> for LegacyFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut fields = OrderedFields::default();
        // Fields of enclosing spans first (outermost first), so the event's own win.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(formatted) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(map)) = serde_json::from_str(&formatted.fields) {
                    for (name, value) in map {
                        fields.insert(name, value);
                    }
                }
            }
        }
        let mut message = None;
        event.record(&mut JsonVisitor {
            fields: &mut fields,
            message: &mut message,
        });

        let metadata = event.metadata();
        let mut line = serde_json::Map::new();
        line.insert("severity".into(), severity(*metadata.level()).into());
        line.insert(
            "time".into(),
            humantime::format_rfc3339_millis(SystemTime::now())
                .to_string()
                .into(),
        );
        line.insert("message".into(), message.unwrap_or_default().into());
        line.insert("target".into(), metadata.target().into());
        let mut text = serde_json::to_string(&line).map_err(|_| std::fmt::Error)?;
        // Append the fields in the order they were recorded rather than serde_json's
        // sorted map order, after the four fixed keys.
        text.pop(); // the closing '}'
        for (name, value) in fields.0 {
            let name = if RESERVED.contains(&name.as_str()) {
                format!("fields.{name}")
            } else {
                name
            };
            let name = serde_json::to_string(&name).map_err(|_| std::fmt::Error)?;
            let value = serde_json::to_string(&value).map_err(|_| std::fmt::Error)?;
            text.push(',');
            text.push_str(&name);
            text.push(':');
            text.push_str(&value);
        }
        text.push('}');
        writeln!(writer, "{text}")
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

/// Field name → value, in first-recorded order, a later value replacing an earlier one.
#[derive(Default)]
struct OrderedFields(Vec<(String, Value)>);

impl OrderedFields {
    fn insert(&mut self, name: String, value: Value) {
        match self.0.iter_mut().find(|(existing, _)| *existing == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }
}

/// Records an event's fields as JSON values; `message` is kept apart.
struct JsonVisitor<'a> {
    fields: &'a mut OrderedFields,
    message: &'a mut Option<String>,
}

impl JsonVisitor<'_> {
    fn record(&mut self, field: &Field, value: Value) {
        let name = field.name();
        if name == "message" {
            *self.message = Some(match value {
                Value::String(text) => text,
                other => other.to_string(),
            });
            return;
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.fields.insert(name.to_owned(), value);
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // NaN and infinities are not JSON numbers.
        let value = serde_json::Number::from_f64(value)
            .map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.record(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.record(field, value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record(field, value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record(field, format!("{value:?}").into());
    }
}
