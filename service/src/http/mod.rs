//! Poem plumbing shared by every endpoint: request ids, CORS, security
//! headers, body limits, cookies, CSRF and visitor identification.

pub mod body_limit;
pub mod client_ip;
pub mod cookies;
pub mod cors;
pub mod csrf;
pub mod header_limit;
pub mod rate_limit;
pub mod request_deadline;
pub mod request_id;
pub mod security_headers;
pub mod visitor;
