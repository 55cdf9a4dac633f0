-- Evidence: records of what happened after a request (human review, business decision, session
-- end) in the same hash chains, Ed25519-signed checkpoints of the chain heads, and retention
-- that drops old partitions yet leaves every remaining chain verifiable.

-- An evidence record is a row of audit_events like a request's, so it is chained, journaled,
-- partitioned, exported and pruned the same way. `kind` tells them apart ('request' for every
-- row written before this migration). Like every text column here, the new ones are bounded
-- identifiers: a review outcome or a reason is a code, never a sentence a prompt could hide in.
ALTER TABLE audit_events
    ADD COLUMN kind text NOT NULL DEFAULT 'request',
    -- The earlier request this record is about (its x-request-id).
    ADD COLUMN subject_request_id text,
    -- What the reviewer or the business decided: approved, rejected, loan_granted, ...
    ADD COLUMN outcome text,
    -- Why, as a code: false_positive, policy_exception, ...
    ADD COLUMN reason text,
    -- Where the human-readable notes live: a ticket or case id in the caller's own system.
    ADD COLUMN reference text,
    -- When it happened, as the caller says; event_time stays when Warden received it.
    ADD COLUMN occurred_at timestamptz,
    ADD CONSTRAINT audit_events_kind_bounded CHECK (length(kind) BETWEEN 1 AND 32),
    ADD CONSTRAINT audit_events_subject_request_id_bounded
        CHECK (length(subject_request_id) <= 200),
    ADD CONSTRAINT audit_events_outcome_bounded CHECK (length(outcome) <= 64),
    ADD CONSTRAINT audit_events_reason_bounded CHECK (length(reason) <= 64),
    ADD CONSTRAINT audit_events_reference_bounded CHECK (length(reference) <= 128);

-- "Everything recorded about request X": the request's row and the evidence that cites it.
CREATE INDEX audit_events_subject_request_id_idx ON audit_events (subject_request_id)
    WHERE subject_request_id IS NOT NULL;

-- A writer's signature over its chain head: "row `seq` of chain `writer_id` hashes to
-- `row_hash`". Stored in the transaction that stores that row. Whoever can write to this
-- database can edit rows and recompute every later hash, but cannot sign: a checkpoint then
-- no longer matches its row, or its signature no longer verifies.
CREATE TABLE audit_checkpoints (
    writer_id   text NOT NULL,
    seq         bigint NOT NULL,
    row_hash    bytea NOT NULL,
    signed_at   timestamptz NOT NULL,
    -- Which key signed: "ed25519:" + the first 16 hex digits of SHA-256 of the public key.
    key_id      text NOT NULL,
    signature   bytea NOT NULL,
    PRIMARY KEY (writer_id, seq),
    CONSTRAINT audit_checkpoints_writer_id_bounded CHECK (length(writer_id) BETWEEN 1 AND 200),
    CONSTRAINT audit_checkpoints_seq_positive CHECK (seq > 0),
    CONSTRAINT audit_checkpoints_row_hash_size CHECK (length(row_hash) = 32),
    CONSTRAINT audit_checkpoints_key_id_bounded CHECK (length(key_id) BETWEEN 1 AND 100),
    CONSTRAINT audit_checkpoints_signature_size CHECK (length(signature) = 64)
);

-- Retention drops whole months of rows. The rows that stay still point at dropped ones:
-- the first kept row's prev_hash is the last dropped row's row_hash, and a request that
-- finished after midnight on the 1st can sit in the older month with a later seq than rows
-- of the newer one. Pruning keeps exactly those dropped rows' links (never their content),
-- so verification starts from them instead of from the genesis hash.
CREATE TABLE audit_pruned_links (
    writer_id   text NOT NULL,
    seq         bigint NOT NULL,
    event_time  timestamptz NOT NULL,
    prev_hash   bytea NOT NULL,
    row_hash    bytea NOT NULL,
    pruned_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (writer_id, seq),
    CONSTRAINT audit_pruned_links_prev_hash_size CHECK (length(prev_hash) = 32),
    CONSTRAINT audit_pruned_links_row_hash_size CHECK (length(row_hash) = 32)
);

-- Every prune, so that retention itself leaves a record.
CREATE TABLE audit_prunes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pruned_at   timestamptz NOT NULL DEFAULT now(),
    -- Rows older than this were eligible; whole months before it were dropped.
    cutoff      timestamptz NOT NULL,
    partitions  text[] NOT NULL,
    rows_pruned bigint NOT NULL
);
