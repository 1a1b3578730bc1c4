//! TOML syntax and shape errors, located by line and column and named by the key path
//! (with `[[array]]` indices put back).

use super::ConfigError;

/// A TOML syntax or shape error, located by line and column. The offending line itself is
/// not quoted: it could hold a literal secret.
pub(super) fn toml_error(text: &str, err: &toml::de::Error) -> ConfigError {
    // Without its input, toml's Display appends "in `a.b.0.c`": the key path.
    let mut bare = err.clone();
    bare.set_input(None);
    let shown = bare.to_string();
    let key = shown
        .lines()
        .find_map(|line| line.strip_prefix("in `")?.strip_suffix('`'))
        .map(|dotted| key_path(text, dotted, err.span().map_or(0, |s| s.start)))
        .unwrap_or_default();
    let mut message = err.message().trim_end().to_owned();
    // For an unknown key toml names the enclosing table; name the key itself.
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field.to_owned());
    let key = match unknown {
        Some(field) if key.is_empty() => field,
        Some(field) => format!("{key}.{field}"),
        None => key,
    };
    let is_secret = key.ends_with("secret") || key.ends_with("key") || key.contains("keys");
    if is_secret && message.starts_with("invalid type") {
        message = r#"must be { env = "VAR" } or { file = "PATH" }"#.to_owned();
    }
    // serde quotes the offending string value; any value may be a misplaced secret.
    for prefix in ["invalid type: string ", "invalid value: string "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let expected = rest.find(", expected").map_or("", |i| &rest[i..]);
            message = format!(
                "{}a string{expected}",
                &prefix[..prefix.len() - "string ".len()]
            );
            break;
        }
    }
    let message = match err.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    };
    ConfigError::new(key, message)
}

/// toml names the key without array indices (`auth.issuers.secret`); put back the index
/// of each `[[array]]` table the error sits in by counting its headers before `offset`.
/// (Inline arrays, `keys = [{ ... }]`, keep the bare name.)
pub(super) fn key_path(text: &str, dotted: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let mut prefix = String::new();
    let mut out = String::new();
    for part in dotted.split('.') {
        if !prefix.is_empty() {
            prefix.push('.');
            out.push('.');
        }
        prefix.push_str(part);
        out.push_str(part);
        let header = format!("[[{prefix}]]");
        let count = before
            .lines()
            .filter(|line| line.trim().replace(' ', "") == header)
            .count();
        if count > 0 {
            out.push_str(&format!("[{}]", count - 1));
        }
    }
    out
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}
