-- Alerts: conditions over recent traffic (proxy/alerts/), raised by the evaluator, one open
-- alert per condition however many replicas evaluate, and their webhook deliveries.

CREATE TABLE alerts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- risky_events, block_rate_spike, ratelimit_storm, upstream_errors, latency_drift,
    -- tenant_health: see proxy/alerts/rules.py.
    type            text NOT NULL,
    -- What the condition is about: a tenant, an upstream or a model, per type.
    subject         text NOT NULL,
    tenant          text,
    upstream        text,
    model           text,
    severity        warden_severity NOT NULL,
    -- Written by Warden from counts and names: metadata only.
    message         text NOT NULL,
    value           double precision,
    threshold       double precision,
    -- Evaluation rounds that found the condition while this alert was open.
    count           bigint NOT NULL DEFAULT 1,
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'open',
    resolved        boolean GENERATED ALWAYS AS (status = 'resolved') STORED,
    acknowledged_at timestamptz,
    acknowledged_by text,
    resolved_at     timestamptz,
    -- 'auto' when the condition cleared, else who resolved it through the admin API.
    resolved_by     text,

    CONSTRAINT alerts_status_known CHECK (status IN ('open', 'acknowledged', 'resolved')),
    CONSTRAINT alerts_type_bounded CHECK (length(type) BETWEEN 1 AND 64),
    CONSTRAINT alerts_subject_bounded CHECK (length(subject) BETWEEN 1 AND 200),
    CONSTRAINT alerts_tenant_bounded CHECK (length(tenant) <= 200),
    CONSTRAINT alerts_upstream_bounded CHECK (length(upstream) <= 200),
    CONSTRAINT alerts_model_bounded CHECK (length(model) <= 200),
    CONSTRAINT alerts_message_bounded CHECK (length(message) BETWEEN 1 AND 1000),
    CONSTRAINT alerts_acknowledged_by_bounded CHECK (length(acknowledged_by) <= 200),
    CONSTRAINT alerts_resolved_by_bounded CHECK (length(resolved_by) <= 200),
    CONSTRAINT alerts_seen_ordered CHECK (first_seen <= last_seen)
);

-- While an alert is open, the same condition only grows it (last_seen, count): the
-- evaluator's INSERT … ON CONFLICT relies on this index, so no race can open a duplicate.
CREATE UNIQUE INDEX alerts_open_once ON alerts (type, subject) WHERE status <> 'resolved';
CREATE INDEX alerts_status_idx ON alerts (status, id);

-- One row: when the last evaluation round ran, so N replicas together evaluate once per
-- interval rather than N times.
CREATE TABLE alert_rounds (
    id            smallint PRIMARY KEY DEFAULT 1,
    evaluated_at  timestamptz NOT NULL,
    CONSTRAINT alert_rounds_single_row CHECK (id = 1)
);

-- Webhook notifications as an outbox: written in the transaction that fires or resolves the
-- alert, delivered (at least once) by whichever replica claims them, retried with backoff.
CREATE TABLE alert_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id         bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    event            text NOT NULL,
    url              text NOT NULL,
    -- The alert as it was when the event happened.
    payload          jsonb NOT NULL,
    state            text NOT NULL DEFAULT 'pending',
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_status      integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,

    CONSTRAINT alert_deliveries_event_known CHECK (event IN ('alert.fired', 'alert.resolved')),
    CONSTRAINT alert_deliveries_state_known CHECK (state IN ('pending', 'delivered', 'failed')),
    CONSTRAINT alert_deliveries_url_bounded CHECK (length(url) BETWEEN 1 AND 2000),
    CONSTRAINT alert_deliveries_last_error_bounded CHECK (length(last_error) <= 500)
);

CREATE INDEX alert_deliveries_due_idx ON alert_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX alert_deliveries_alert_idx ON alert_deliveries (alert_id);
