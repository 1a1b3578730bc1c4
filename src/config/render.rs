//! Renders the effective policy for `wsgate check`, secrets as fingerprints.

/// TEMPORARY STUB (replaced by the config branch).
pub fn render(config: &super::Config) -> String {
    format!("environment = {:?}\n", config.environment)
}
