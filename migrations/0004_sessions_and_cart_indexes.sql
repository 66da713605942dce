-- Ours, additive. Server-side member sessions, and the indexes the cart and
-- catalogue lookups need so that no request scans a table.

-- A logged-in session. Anonymous visitors have no row: their cart is found
-- through the signed `an_ct` cookie.
CREATE TABLE swa_session (
    session_key       varchar(40) PRIMARY KEY,
    user_id           integer NOT NULL REFERENCES auth_user (id) ON DELETE CASCADE,
    expire_date       timestamptz NOT NULL,
    created_date_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX swa_session_user_id_idx ON swa_session (user_id);
CREATE INDEX swa_session_expire_date_idx ON swa_session (expire_date);

-- Anonymous carts are looked up by the cookie value on every cart request.
CREATE INDEX IF NOT EXISTS swa_order_cart_anonymous_cart_id_idx
    ON order_cart (anonymous_cart_id) WHERE anonymous_cart_id IS NOT NULL;

-- The current price is the latest price row of a SKU.
CREATE INDEX IF NOT EXISTS swa_order_sku_price_sku_latest_idx
    ON order_sku_price (sku_id, created_date_time DESC, id DESC);
