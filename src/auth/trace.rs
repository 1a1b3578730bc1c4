//! Step recording for `wsgate explain`.
//!
//! The proxy and `explain` run the same decision code; the proxy passes `NoTrace`, whose
//! `enabled()` is false, so no step text is ever formatted on the hot path.

use crate::domain::refusal::Refusal;

/// The outcome of one decision step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The check passed.
    Pass,
    /// The check failed with this reason (the verdict).
    Fail(Refusal),
    /// Information only (what was found, what was skipped).
    Info,
}

/// One line of `explain` output.
#[derive(Debug, Clone)]
pub struct Step {
    /// Short stable step name: `route`, `origin`, `token`, `header`, `issuer`, `key`, ...
    pub name: &'static str,
    pub outcome: Outcome,
    /// Human detail. Never contains a token, a secret or a bypass key.
    pub detail: String,
}

/// Receives decision steps.
pub trait Trace {
    /// Whether steps are wanted at all. When false, `record` is never called.
    fn enabled(&self) -> bool;
    fn record(&mut self, step: Step);
}

/// The proxy's trace: records nothing.
pub struct NoTrace;

impl Trace for NoTrace {
    fn enabled(&self) -> bool {
        false
    }
    fn record(&mut self, _step: Step) {}
}

impl Trace for Vec<Step> {
    fn enabled(&self) -> bool {
        true
    }
    fn record(&mut self, step: Step) {
        self.push(step);
    }
}

/// Records a step, formatting `detail` only when the trace is enabled. Inlined: with
/// [`NoTrace`] (every proxied request) a step is one `enabled()` call.
#[inline]
pub fn step(
    trace: &mut dyn Trace,
    name: &'static str,
    outcome: Outcome,
    detail: impl FnOnce() -> String,
) {
    if trace.enabled() {
        trace.record(Step {
            name,
            outcome,
            detail: detail(),
        });
    }
}
