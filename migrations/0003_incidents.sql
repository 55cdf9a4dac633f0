-- Incidents: opened by hand through the admin API, or automatically from enforced blocks.
--
-- Automatic incidents are derived from audit rows inside the transaction that stores them
-- (proxy/incidents/from_blocks.py), so each block counts exactly once, replays included.
-- Like audit_events, incidents hold metadata only: identifiers, counts, times, and text that
-- administrators wrote themselves (title, description, notes), never a prompt or an answer.

-- The decision that settled the request's outcome: which rule, at which severity. NULL when
-- no rule decided (the default decision) and for rows written before this migration.
ALTER TABLE audit_events
    ADD COLUMN severity text,
    ADD COLUMN winning_rule text,
    ADD CONSTRAINT audit_events_severity_bounded CHECK (length(severity) <= 32),
    ADD CONSTRAINT audit_events_winning_rule_bounded CHECK (length(winning_rule) <= 200);

-- An enum, so that severities compare in their natural order (greatest(), >=, ORDER BY).
CREATE TYPE warden_severity AS ENUM ('low', 'medium', 'high', 'critical');

CREATE TABLE incidents (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- auto: opened from enforced blocks; manual: created through the admin API.
    source           text NOT NULL,
    title            text NOT NULL,
    description      text,
    severity         warden_severity NOT NULL,
    status           text NOT NULL DEFAULT 'open',
    tenant           text,
    rule_id          text,
    -- Blocks grouped into this incident, and the first request ids among them (bounded).
    count            bigint NOT NULL DEFAULT 0,
    request_ids      text[] NOT NULL DEFAULT '{}',
    first_seen       timestamptz NOT NULL,
    last_seen        timestamptz NOT NULL,
    assignee         text,
    notes            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    resolved_at      timestamptz,

    CONSTRAINT incidents_source_known CHECK (source IN ('auto', 'manual')),
    CONSTRAINT incidents_status_known CHECK (status IN ('open', 'acknowledged', 'resolved')),
    CONSTRAINT incidents_title_bounded CHECK (length(title) BETWEEN 1 AND 200),
    CONSTRAINT incidents_description_bounded CHECK (length(description) <= 4000),
    CONSTRAINT incidents_tenant_bounded CHECK (length(tenant) <= 200),
    CONSTRAINT incidents_rule_id_bounded CHECK (length(rule_id) <= 200),
    CONSTRAINT incidents_assignee_bounded CHECK (length(assignee) <= 200),
    CONSTRAINT incidents_notes_bounded CHECK (length(notes) <= 10000),
    CONSTRAINT incidents_count_non_negative CHECK (count >= 0),
    CONSTRAINT incidents_request_ids_bounded CHECK (audit_ids_bounded(request_ids, 1000, 200)),
    CONSTRAINT incidents_seen_ordered CHECK (first_seen <= last_seen)
);

-- The automatic grouping looks up the open incident of one tenant and rule.
CREATE INDEX incidents_group_idx ON incidents (tenant, rule_id, last_seen)
    WHERE source = 'auto' AND status <> 'resolved';
-- Listing filters (newest first by id, keyset pagination) mostly narrow by status or tenant.
CREATE INDEX incidents_status_idx ON incidents (status, id);
CREATE INDEX incidents_tenant_idx ON incidents (tenant, id);
