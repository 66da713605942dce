//! The cached reference values: the product list and product pages as
//! ready-to-send JSON bodies, and the client-event logging switch.
//!
//! Rules that keep it correct across instances:
//! - nothing is served or stored unless the invalidation listener is
//!   LISTENing (a notification sent while it is not is lost for good);
//! - every invalidation, and every change of the listener's state, bumps a
//!   generation; a value read from the database is stored only if the
//!   generation is still the one seen *before* the read began, so a read
//!   that raced an update can never outlive the update's notification;
//! - every entry also expires after the configured TTL, a safety net for a
//!   change that bypassed the triggers (e.g. `session_replication_role`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sqlx::PgPool;

/// At most this many product pages are kept; the catalogue of a small shop
/// is far smaller, so the bound only matters against odd traffic.
pub const MAX_PRODUCT_PAGES: usize = 1024;

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup<T> {
    Hit(T),
    /// Read the database; store the result with the ticket, if there is one
    /// (none while caching is off or the listener is not connected).
    Miss(Option<Ticket>),
}

/// The generation a database read started in. Storing with a ticket from
/// before an invalidation is a no-op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

/// Which cached values a change makes stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// The product list and every product page.
    Catalogue,
    /// The client-event logging switch.
    ClientEventSwitch,
    /// Everything (an unknown table, a reconnect).
    All,
}

/// Shared by all handlers of one instance. Cheap to clone.
#[derive(Clone)]
pub struct ReferenceCache {
    inner: Arc<Inner>,
}

struct Inner {
    /// Zero: caching is off.
    ttl: Duration,
    state: RwLock<State>,
    /// The listener's PostgreSQL backend pid while it is connected, else 0.
    listener_pid: AtomicI32,
}

#[derive(Default)]
struct State {
    listening: bool,
    generation: u64,
    products: Option<Entry<Bytes>>,
    product_pages: HashMap<String, Entry<Bytes>>,
    logging_enabled: Option<Entry<bool>>,
}

struct Entry<T> {
    value: T,
    stored: Instant,
}

impl<T: Clone> Entry<T> {
    fn fresh(&self, ttl: Duration, now: Instant) -> Option<T> {
        (now.saturating_duration_since(self.stored) < ttl).then(|| self.value.clone())
    }
}

impl State {
    fn clear(&mut self, stale: Stale) {
        self.generation += 1;
        if matches!(stale, Stale::Catalogue | Stale::All) {
            self.products = None;
            self.product_pages.clear();
        }
        if matches!(stale, Stale::ClientEventSwitch | Stale::All) {
            self.logging_enabled = None;
        }
    }
}

impl ReferenceCache {
    /// A cache whose entries live `ttl`; `Duration::ZERO` turns caching off
    /// (every lookup misses without a ticket).
    pub fn new(ttl: Duration) -> Self {
        ReferenceCache {
            inner: Arc::new(Inner {
                ttl,
                state: RwLock::new(State::default()),
                listener_pid: AtomicI32::new(0),
            }),
        }
    }

    pub fn is_enabled(&self) -> bool {
        !self.inner.ttl.is_zero()
    }

    /// Whether the invalidation listener is connected, i.e. whether the
    /// cache may serve.
    pub fn is_listening(&self) -> bool {
        self.read().listening
    }

    /// The PostgreSQL backend pid of the invalidation listener while it is
    /// connected (operators find it in `pg_stat_activity`; tests cut it).
    pub fn listener_backend_pid(&self) -> Option<i32> {
        match self.inner.listener_pid.load(Ordering::SeqCst) {
            0 => None,
            pid => Some(pid),
        }
    }

    /// `GET /order/products`' body.
    pub fn products(&self) -> Lookup<Bytes> {
        self.lookup(|s| s.products.as_ref())
    }

    pub fn store_products(&self, ticket: Ticket, body: Bytes) {
        self.store(ticket, |s, entry| s.products = Some(entry), body);
    }

    /// `GET /order/product/{identifier}`'s body for a product that exists.
    pub fn product_page(&self, identifier: &str) -> Lookup<Bytes> {
        self.lookup(|s| s.product_pages.get(identifier))
    }

    pub fn store_product_page(&self, ticket: Ticket, identifier: &str, body: Bytes) {
        let ttl = self.inner.ttl;
        self.store(
            ticket,
            |s, entry| {
                if s.product_pages.len() >= MAX_PRODUCT_PAGES
                    && !s.product_pages.contains_key(identifier)
                {
                    let now = entry.stored;
                    s.product_pages
                        .retain(|_, e| now.saturating_duration_since(e.stored) < ttl);
                    if s.product_pages.len() >= MAX_PRODUCT_PAGES {
                        // Still full of live pages: drop one rather than grow.
                        if let Some(victim) = s.product_pages.keys().next().cloned() {
                            s.product_pages.remove(&victim);
                        }
                    }
                }
                s.product_pages.insert(identifier.to_owned(), entry);
            },
            body,
        );
    }

    /// `clientevent_configuration.log_client_events`.
    pub fn logging_enabled(&self) -> Lookup<bool> {
        self.lookup(|s| s.logging_enabled.as_ref())
    }

    pub fn store_logging_enabled(&self, ticket: Ticket, enabled: bool) {
        self.store(ticket, |s, entry| s.logging_enabled = Some(entry), enabled);
    }

    /// The switch from the cache, or read from the database (and kept).
    pub async fn load_logging_enabled(&self, pool: &PgPool) -> Result<bool, sqlx::Error> {
        let ticket = match self.logging_enabled() {
            Lookup::Hit(enabled) => return Ok(enabled),
            Lookup::Miss(ticket) => ticket,
        };
        let enabled = crate::db::client_events::logging_enabled(pool).await?;
        if let Some(ticket) = ticket {
            self.store_logging_enabled(ticket, enabled);
        }
        Ok(enabled)
    }

    /// Drops the values a change made stale; reads already under way will
    /// not store what they read.
    pub fn invalidate(&self, stale: Stale) {
        self.write().clear(stale);
    }

    /// The listener has just started LISTENing (on backend `pid`): whatever
    /// changed before is unknown, so start empty, then serve again.
    pub fn listening_started(&self, pid: i32) {
        let mut state = self.write();
        state.clear(Stale::All);
        state.listening = true;
        self.inner.listener_pid.store(pid, Ordering::SeqCst);
    }

    /// The listener lost its connection: stop serving and storing until it
    /// is back.
    pub fn listening_stopped(&self) {
        let mut state = self.write();
        state.clear(Stale::All);
        state.listening = false;
        self.inner.listener_pid.store(0, Ordering::SeqCst);
    }

    fn lookup<T: Clone>(&self, pick: impl FnOnce(&State) -> Option<&Entry<T>>) -> Lookup<T> {
        if !self.is_enabled() {
            return Lookup::Miss(None);
        }
        let state = self.read();
        if !state.listening {
            return Lookup::Miss(None);
        }
        let now = Instant::now();
        match pick(&state).and_then(|e| e.fresh(self.inner.ttl, now)) {
            Some(value) => Lookup::Hit(value),
            None => Lookup::Miss(Some(Ticket(state.generation))),
        }
    }

    fn store<T>(&self, ticket: Ticket, put: impl FnOnce(&mut State, Entry<T>), value: T) {
        let mut state = self.write();
        // The generation moves on every invalidation and listener change,
        // so an equal one means nothing happened since the read began.
        if state.listening && state.generation == ticket.0 {
            put(
                &mut state,
                Entry {
                    value,
                    stored: Instant::now(),
                },
            );
        }
    }

    // A panic while holding the lock cannot leave a half-written entry (every
    // write is a single assignment), so a poisoned lock is still usable.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.inner
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listening(ttl: Duration) -> ReferenceCache {
        let cache = ReferenceCache::new(ttl);
        cache.listening_started(42);
        cache
    }

    fn ticket<T: std::fmt::Debug>(lookup: Lookup<T>) -> Ticket {
        match lookup {
            Lookup::Miss(Some(t)) => t,
            other => panic!("expected a miss with a ticket, got {other:?}"),
        }
    }

    fn hit<T: std::fmt::Debug>(lookup: Lookup<T>) -> T {
        match lookup {
            Lookup::Hit(v) => v,
            other => panic!("expected a hit, got {other:?}"),
        }
    }

    #[test]
    fn a_stored_value_is_served_until_invalidated() {
        let cache = listening(Duration::from_secs(60));
        let t = ticket(cache.products());
        cache.store_products(t, Bytes::from_static(b"list"));
        assert_eq!(hit(cache.products()), Bytes::from_static(b"list"));
        cache.invalidate(Stale::Catalogue);
        ticket(cache.products());
    }

    #[test]
    fn a_read_that_started_before_an_invalidation_is_not_stored() {
        let cache = listening(Duration::from_secs(60));
        let before = ticket(cache.product_page("abc"));
        cache.invalidate(Stale::Catalogue);
        cache.store_product_page(before, "abc", Bytes::from_static(b"stale"));
        ticket(cache.product_page("abc"));
        // Even an invalidation of something else: the generation is global.
        let before = ticket(cache.logging_enabled());
        cache.invalidate(Stale::Catalogue);
        cache.store_logging_enabled(before, false);
        ticket(cache.logging_enabled());
    }

    #[test]
    fn invalidation_is_scoped_to_what_the_table_feeds() {
        let cache = listening(Duration::from_secs(60));
        let t = ticket(cache.logging_enabled());
        cache.store_logging_enabled(t, false);
        let t = ticket(cache.products());
        cache.store_products(t, Bytes::from_static(b"list"));
        cache.invalidate(Stale::ClientEventSwitch);
        ticket(cache.logging_enabled());
        assert_eq!(hit(cache.products()), Bytes::from_static(b"list"));
    }

    #[test]
    fn nothing_is_served_or_stored_while_not_listening() {
        let cache = ReferenceCache::new(Duration::from_secs(60));
        assert!(matches!(cache.products(), Lookup::Miss(None)));
        let cache = listening(Duration::from_secs(60));
        let t = ticket(cache.products());
        cache.store_products(t, Bytes::from_static(b"list"));
        cache.listening_stopped();
        assert!(matches!(cache.products(), Lookup::Miss(None)));
        assert_eq!(cache.listener_backend_pid(), None);
        // A read begun while connected and finished after the loss is dropped,
        // and so is everything from before the reconnect.
        cache.store_products(t, Bytes::from_static(b"late"));
        cache.listening_started(43);
        let t2 = ticket(cache.products());
        assert_ne!(t, t2);
        cache.store_products(t, Bytes::from_static(b"late"));
        ticket(cache.products());
    }

    #[test]
    fn zero_ttl_turns_caching_off() {
        let cache = listening(Duration::ZERO);
        assert!(!cache.is_enabled());
        assert!(matches!(cache.logging_enabled(), Lookup::Miss(None)));
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = listening(Duration::from_millis(1));
        let t = ticket(cache.products());
        cache.store_products(t, Bytes::from_static(b"list"));
        std::thread::sleep(Duration::from_millis(5));
        ticket(cache.products());
    }

    #[test]
    fn product_pages_are_bounded() {
        let cache = listening(Duration::from_secs(60));
        for i in 0..MAX_PRODUCT_PAGES + 10 {
            let id = format!("p{i}");
            let t = ticket(cache.product_page(&id));
            cache.store_product_page(t, &id, Bytes::from_static(b"page"));
        }
        assert_eq!(cache.read().product_pages.len(), MAX_PRODUCT_PAGES);
        let last = format!("p{}", MAX_PRODUCT_PAGES + 9);
        hit(cache.product_page(&last));
    }
}
