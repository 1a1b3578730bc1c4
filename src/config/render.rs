//! Renders the effective policy for `wsgate check`, secrets as fingerprints.
