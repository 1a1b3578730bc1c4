//! Tests for `jwt::verify`, with real crypto and the keys in `tests/fixtures/`.
