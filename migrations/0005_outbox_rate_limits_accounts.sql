-- Ours, additive. The email outbox, shared rate-limit counters, and the
-- indexes the account endpoints need.

-- Outgoing mail is written here in the same transaction as the change that
-- causes it; a background sender delivers it with retries, so an SMTP outage
-- never fails a request or loses a message.
CREATE TABLE swa_email_outbox (
    id                bigserial PRIMARY KEY,
    -- What the message is (welcome, password-reset, order-confirmation, ...).
    kind              varchar(50) NOT NULL,
    -- Set when the same message must never be enqueued twice (an order's
    -- confirmation); NULL otherwise.
    dedupe_key        varchar(200) UNIQUE,
    recipients        text[] NOT NULL CHECK (cardinality(recipients) > 0),
    subject           text NOT NULL,
    body              text NOT NULL,
    status            varchar(10) NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'sent', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    last_error        text,
    created_date_time timestamptz NOT NULL DEFAULT now(),
    sent_date_time    timestamptz
);
CREATE INDEX swa_email_outbox_due_idx
    ON swa_email_outbox (next_attempt_at) WHERE status = 'pending';

-- Fixed-window request counters, shared by every instance of the service.
CREATE TABLE swa_rate_limit (
    bucket       varchar(50)  NOT NULL,
    client_key   varchar(200) NOT NULL,
    window_start timestamptz  NOT NULL,
    hits         integer      NOT NULL,
    PRIMARY KEY (bucket, client_key, window_start)
);
CREATE INDEX swa_rate_limit_window_start_idx ON swa_rate_limit (window_start);

-- Whether the session cookie was issued with "remember me" (a persistent
-- cookie) or as a browser-session cookie; a rotated session keeps the choice.
ALTER TABLE swa_session ADD COLUMN persistent boolean NOT NULL DEFAULT true;

-- Email matching is case-insensitive (forgot-username, chat linkage,
-- prospect conversion and duplicates, password reset).
CREATE INDEX IF NOT EXISTS swa_auth_user_email_lower_idx ON auth_user (lower(email));
CREATE INDEX IF NOT EXISTS swa_user_prospect_email_lower_idx ON user_prospect (lower(email));
CREATE INDEX IF NOT EXISTS swa_user_chat_message_email_lower_idx
    ON user_chat_message (lower(email_address));
