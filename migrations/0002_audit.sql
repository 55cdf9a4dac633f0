-- Audit events: one row per request, metadata only, hash-chained per writer, partitioned by month.
--
-- Principle 8 (metadata only) is enforced here as well as in code: every text column is a
-- bounded identifier with a length CHECK. A pipeline bug that tried to store a prompt, a
-- response or an error body in `model` or `tenant` is refused by Postgres instead of kept
-- for years; 200 characters fits any real identifier (ids, model names, hostnames, URLs of
-- routes) and the AuditRecord class clamps to the same limits, so a valid row never fails.
-- Lists (rule ids, data sources) and the finding counts are bounded the same way, per item.

-- True when every id is present and at most max_len long, and there are at most max_items.
CREATE FUNCTION audit_ids_bounded(ids text[], max_items integer, max_len integer)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT cardinality(ids) <= max_items
       AND NOT EXISTS (SELECT 1 FROM unnest(ids) AS id WHERE id IS NULL OR length(id) > max_len)
$$;

-- Finding counts are {kind: count}: bounded kind names, non-negative integer counts, never spans.
CREATE FUNCTION audit_counts_bounded(counts jsonb)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_typeof(counts) = 'object'
       AND (SELECT count(*) FROM jsonb_object_keys(counts)) <= 256
       AND NOT EXISTS (
           SELECT 1 FROM jsonb_each(counts) AS e
           WHERE length(e.key) NOT BETWEEN 1 AND 100
              OR jsonb_typeof(e.value) <> 'number'
              OR (e.value)::numeric < 0
              OR (e.value)::numeric <> trunc((e.value)::numeric)
       )
$$;

CREATE TABLE audit_events (
    event_time             timestamptz NOT NULL,
    -- (writer_id, seq) is one writer's hash chain; replays after a crash are deduplicated on it.
    writer_id              text NOT NULL,
    seq                    bigint NOT NULL,
    request_id             text NOT NULL,
    tenant                 text,
    key_id                 text,
    route                  text,
    upstream               text,
    format                 text,
    model                  text,
    decision               text NOT NULL,
    -- What monitor-mode rules would have done; NULL when none matched.
    monitor_action         text,
    rule_ids               text[] NOT NULL DEFAULT '{}',
    monitored_rule_ids     text[] NOT NULL DEFAULT '{}',
    finding_counts         jsonb NOT NULL DEFAULT '{}',
    risk_score             double precision,
    risk_label             text,
    status                 integer NOT NULL,
    upstream_status        integer,
    streamed               boolean NOT NULL DEFAULT false,
    stream_cut             boolean NOT NULL DEFAULT false,
    request_bytes          bigint NOT NULL DEFAULT 0,
    response_bytes         bigint NOT NULL DEFAULT 0,
    prompt_tokens          integer,
    completion_tokens      integer,
    latency_ms             double precision NOT NULL,
    upstream_ms            double precision,
    overhead_ms            double precision,
    request_sha256         bytea,
    response_sha256        bytea,
    policy_version         text,
    -- Compliance context clients pass in headers (EU AI Act Art. 12/14 record-keeping).
    session_id             text,
    human_review_required  boolean,
    human_reviewer         text,
    data_sources           text[] NOT NULL DEFAULT '{}',
    model_version          text,
    prev_hash              bytea NOT NULL,
    row_hash               bytea NOT NULL,

    -- The partition key must be part of every unique constraint. A row's event_time never
    -- changes between its first attempt and a replay, so a duplicate lands in the same
    -- partition and conflicts there: per-writer uniqueness holds across the whole table.
    PRIMARY KEY (writer_id, seq, event_time),

    CONSTRAINT audit_events_writer_id_bounded CHECK (length(writer_id) BETWEEN 1 AND 200),
    CONSTRAINT audit_events_seq_positive CHECK (seq > 0),
    CONSTRAINT audit_events_request_id_bounded CHECK (length(request_id) BETWEEN 1 AND 200),
    CONSTRAINT audit_events_tenant_bounded CHECK (length(tenant) <= 200),
    CONSTRAINT audit_events_key_id_bounded CHECK (length(key_id) <= 200),
    CONSTRAINT audit_events_route_bounded CHECK (length(route) <= 200),
    CONSTRAINT audit_events_upstream_bounded CHECK (length(upstream) <= 200),
    CONSTRAINT audit_events_format_bounded CHECK (length(format) <= 32),
    CONSTRAINT audit_events_model_bounded CHECK (length(model) <= 200),
    CONSTRAINT audit_events_decision_bounded CHECK (length(decision) BETWEEN 1 AND 32),
    CONSTRAINT audit_events_monitor_action_bounded CHECK (length(monitor_action) <= 32),
    CONSTRAINT audit_events_rule_ids_bounded CHECK (audit_ids_bounded(rule_ids, 256, 200)),
    CONSTRAINT audit_events_monitored_rule_ids_bounded
        CHECK (audit_ids_bounded(monitored_rule_ids, 256, 200)),
    CONSTRAINT audit_events_finding_counts_bounded CHECK (audit_counts_bounded(finding_counts)),
    CONSTRAINT audit_events_risk_score_range CHECK (risk_score BETWEEN 0 AND 1),
    CONSTRAINT audit_events_risk_label_bounded CHECK (length(risk_label) <= 32),
    CONSTRAINT audit_events_status_range CHECK (status BETWEEN 0 AND 999),
    CONSTRAINT audit_events_upstream_status_range CHECK (upstream_status BETWEEN 0 AND 999),
    CONSTRAINT audit_events_bytes_non_negative CHECK (request_bytes >= 0 AND response_bytes >= 0),
    CONSTRAINT audit_events_tokens_non_negative
        CHECK (prompt_tokens >= 0 AND completion_tokens >= 0),
    CONSTRAINT audit_events_latency_non_negative
        CHECK (latency_ms >= 0 AND upstream_ms >= 0 AND overhead_ms >= 0),
    CONSTRAINT audit_events_request_sha256_size CHECK (length(request_sha256) = 32),
    CONSTRAINT audit_events_response_sha256_size CHECK (length(response_sha256) = 32),
    CONSTRAINT audit_events_policy_version_bounded CHECK (length(policy_version) <= 100),
    CONSTRAINT audit_events_session_id_bounded CHECK (length(session_id) <= 200),
    CONSTRAINT audit_events_human_reviewer_bounded CHECK (length(human_reviewer) <= 200),
    CONSTRAINT audit_events_data_sources_bounded CHECK (audit_ids_bounded(data_sources, 32, 200)),
    CONSTRAINT audit_events_model_version_bounded CHECK (length(model_version) <= 200),
    CONSTRAINT audit_events_prev_hash_size CHECK (length(prev_hash) = 32),
    CONSTRAINT audit_events_row_hash_size CHECK (length(row_hash) = 32)
) PARTITION BY RANGE (event_time);

-- Indexes declared on the parent are created on every partition, present and future.
-- BRIN suits an append-mostly time column: tiny, and "since …" scans touch few blocks.
CREATE INDEX audit_events_time_brin ON audit_events USING brin (event_time);
CREATE INDEX audit_events_tenant_time_idx ON audit_events (tenant, event_time);
CREATE INDEX audit_events_request_id_idx ON audit_events (request_id);

-- Create the month partition holding `at` (UTC months) unless it exists; returns its name.
-- Writers call this the first time they see a month, so no month is ever missing; operators
-- may also pre-create partitions ahead: SELECT audit_ensure_partition(now() + interval '1 month').
-- The advisory lock serialises concurrent creators (N workers, N replicas) of the same month.
CREATE FUNCTION audit_ensure_partition(at timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    month_start timestamp := date_trunc('month', at AT TIME ZONE 'UTC');
    partition_name text := 'audit_events_' || to_char(month_start, 'YYYY_MM');
BEGIN
    IF to_regclass(partition_name) IS NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('warden.audit_events.partitions'));
        IF to_regclass(partition_name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)',
                partition_name,
                month_start AT TIME ZONE 'UTC',
                (month_start + interval '1 month') AT TIME ZONE 'UTC'
            );
        END IF;
    END IF;
    RETURN partition_name;
END
$$;

-- Retention drops whole months instead of deleting rows: `warden audit prune` calls this.
-- Only partitions that end at or before `cutoff` go; returns the names dropped.
CREATE FUNCTION audit_drop_partitions_before(cutoff timestamptz) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT c.oid::regclass::text AS name
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit_events'::regclass
          AND c.relkind = 'r'
          AND c.relname ~ '^audit_events_\d{4}_\d{2}$'
          AND (to_date(substr(c.relname, 14), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC')
              + interval '1 month' <= cutoff
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %s', part.name);
        RETURN NEXT part.name;
    END LOOP;
END
$$;

SELECT audit_ensure_partition(now());
SELECT audit_ensure_partition(now() + interval '1 month');
