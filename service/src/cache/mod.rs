//! In-process caches of reference data: what the hot read endpoints serve to
//! every visitor and what changes only when an operator edits the catalogue
//! or the client-event switch.
//!
//! Every instance keeps its own copy; the database tells all of them when a
//! table behind a cached value changes (`invalidation`), and nothing is
//! served from the cache while that channel is not known to be open.

pub mod invalidation;
pub mod json_body;
pub mod reference;

pub use json_body::JsonBody;
pub use reference::{Lookup, ReferenceCache, Ticket};
