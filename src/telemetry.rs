//! telemetry (skeleton)
