//! Outgoing mail through a transactional outbox.
//!
//! A request that causes an email writes it to `swa_email_outbox` with
//! [`enqueue`] inside its own database transaction, so the message exists if
//! and only if the change that caused it was committed. A background sender
//! ([`sender`]) delivers pending rows over SMTP with retries and exponential
//! backoff, so an SMTP outage never fails a request or loses a message.
//!
//! Delivery is **at least once**: see [`sender`].

mod outbox;
pub mod sender;

use std::sync::Arc;

use tokio::sync::Notify;

pub use outbox::enqueue;
pub use sender::{SenderHandle, spawn_sender};

/// One message to send. The body is plain text (sent as
/// `text/plain; charset=utf-8`); bare `\n` line ends are normalised to
/// `\r\n` when the message is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// What the message is (`welcome`, `password-reset`, `order-confirmation`, ...).
    pub kind: &'static str,
    /// At least one address; each may carry a display name (`Name <a@b.c>`).
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    /// Set when the same message must never be enqueued twice (an order's
    /// confirmation); a second [`enqueue`] with the same key is a no-op.
    pub dedupe_key: Option<String>,
}

/// Wakes the background sender so mail committed by a request goes out now
/// rather than at the next poll. Cheap to clone; one per `Application`.
#[derive(Clone, Default)]
pub struct Mailer {
    notify: Arc<Notify>,
}

impl Mailer {
    pub fn new() -> Mailer {
        Mailer::default()
    }

    /// Call after committing the transaction that enqueued mail. Harmless when
    /// no sender runs (SMTP not configured): the wake-up is simply kept.
    pub fn wake(&self) {
        // notify_one stores a permit when the sender is busy, so a wake-up
        // during a send round is not lost: the next round starts at once.
        self.notify.notify_one();
    }

    pub(crate) async fn woken(&self) {
        self.notify.notified().await;
    }
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mailer")
    }
}
