//! no_panic
