//! The serde mirror of the TOML file.
