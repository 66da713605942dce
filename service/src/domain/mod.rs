//! Pure rules and types, no I/O.

pub mod money;
pub mod password;
pub mod signing;
pub mod tokens;
