-- Ours, additive. Exactly-once orders from Stripe Checkout.

-- One row per Checkout Session that became (or is becoming) an order. The
-- primary key is what makes the success page, the webhook, duplicates and
-- retries create one order: the first transaction to insert the row creates
-- the order; any other waits for it and then finds the order.
CREATE TABLE swa_checkout_session (
    session_id            varchar(255) PRIMARY KEY,
    order_id              integer UNIQUE REFERENCES order_order (id) ON DELETE SET NULL,
    -- What the cart said and what Stripe charged, so a difference (a cart
    -- changed in another tab, a promotion code) stays visible.
    cart_total_cents      bigint,
    amount_total_cents    bigint,
    amount_discount_cents bigint,
    created_date_time     timestamptz NOT NULL DEFAULT now()
);

-- Webhook event ids already handled: a repeated delivery is answered 200
-- without a second effect.
CREATE TABLE swa_stripe_event (
    event_id           varchar(255) PRIMARY KEY,
    event_type         varchar(100) NOT NULL,
    received_date_time timestamptz NOT NULL DEFAULT now()
);

-- The order page and account list look orders up by member and identifier.
CREATE INDEX IF NOT EXISTS swa_order_order_member_date_idx
    ON order_order (member_id, order_date_time DESC);
