//! The one JSON line a refused start writes.
//!
//! `wsgate run` on a config that cannot work prints its problems for a terminal on stderr
//! and exits 78. A platform that only keeps the structured log (Cloud Run, a Kubernetes
//! log agent) would then see a bare exit, so the same problems also go out as one log line
//! in the usual shape (`message`, `severity`, `target`, `time`, then the fields), with the
//! problems as an array of `{"key", "message"}` objects rather than flattened into text.
//! Problem texts never contain a secret value (config errors name variables and files).

use std::fmt::Write as _;
use std::path::Path;
use std::time::SystemTime;

use tracing::Level;

use super::format::timestamp::write_timestamp;
use super::writer;
use crate::config::ConfigErrors;

/// The line's `message`.
pub const CONFIG_REFUSED: &str = "configuration refused; not starting";
/// The line's `target`: the module that refuses the start.
const TARGET: &str = "wsgate::cli";

/// Logs `errors`, found in the config file at `path`, as one ERROR line (unless the log
/// filter turns ERROR off for `wsgate::cli`).
pub fn record_config_refused(path: &Path, errors: &ConfigErrors) {
    if !tracing::enabled!(target: TARGET, Level::ERROR) {
        return;
    }
    let line = config_refused_line(path, errors, SystemTime::now());
    // stdout being gone is no reason to change the exit code; stderr has the problems.
    let _ = writer::write_line(line.as_bytes());
}

/// The line itself, `now` as its time.
pub(super) fn config_refused_line(path: &Path, errors: &ConfigErrors, now: SystemTime) -> String {
    let problems: Vec<serde_json::Value> = errors
        .errors
        .iter()
        .map(|error| serde_json::json!({ "key": error.key, "message": error.message }))
        .collect();
    let mut time = String::new();
    // Formatting into a String cannot fail.
    let _ = write_timestamp(&mut time, now);
    let json = |value: serde_json::Value| value.to_string();
    let mut line = String::new();
    let _ = writeln!(
        line,
        "{{\"message\":{},\"severity\":\"ERROR\",\"target\":\"{TARGET}\",\"time\":{},\
         \"config\":{},\"problem_count\":{},\"problems\":{}}}",
        json(CONFIG_REFUSED.into()),
        json(time.into()),
        json(path.display().to_string().into()),
        problems.len(),
        json(problems.into()),
    );
    line
}
