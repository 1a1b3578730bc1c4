//! demo (skeleton)
