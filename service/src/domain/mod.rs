//! Pure rules and types, no I/O.

pub mod account_emails;
pub mod money;
pub mod password;
pub mod signing;
pub mod tokens;
pub mod validation;
