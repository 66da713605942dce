//! Pure rules and types, no I/O.

pub mod account_emails;
pub mod checkout;
pub mod money;
pub mod order_email;
pub mod password;
pub mod signing;
pub mod stripe_signature;
pub mod tokens;
pub mod validation;
