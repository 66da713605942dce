//! Clients of outside services the domain depends on. Each one turns the
//! provider's wire types and errors into the service's own.

pub mod stripe;
