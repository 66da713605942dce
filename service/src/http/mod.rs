//! Poem plumbing shared by every endpoint: request ids, CORS, security headers.

pub mod body_limit;
pub mod cors;
pub mod request_id;
pub mod security_headers;
