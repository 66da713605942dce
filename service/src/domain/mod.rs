//! Pure rules and types, no I/O.

pub mod money;
pub mod signing;
