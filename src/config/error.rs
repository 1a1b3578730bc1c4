//! A configuration problem (the key it concerns and what to do) and the list of every
//! problem in one file, as `check`, `run` and a reload print them.

use std::fmt;

/// One problem with the configuration, naming the key (`auth.issuers[0].secret`) and, where
/// relevant, the env var or file. Never contains a secret value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key path; empty for file-level problems (syntax, unreadable file).
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// Every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The file (or `<string>`) the problems are in.
    pub origin: String,
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    pub fn single(error: ConfigError) -> ConfigErrors {
        ConfigErrors {
            origin: String::new(),
            errors: vec![error],
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        if self.origin.is_empty() {
            writeln!(
                f,
                "invalid configuration ({n} problem{}):",
                if n == 1 { "" } else { "s" }
            )?;
        } else {
            writeln!(
                f,
                "invalid configuration in {} ({n} problem{}):",
                self.origin,
                if n == 1 { "" } else { "s" }
            )?;
        }
        for error in &self.errors {
            writeln!(f, "  - {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
