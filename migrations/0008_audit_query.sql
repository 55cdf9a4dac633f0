-- The admin audit query pages newest first with a keyset cursor (event_time, writer_id, seq).
-- The BRIN index narrows time ranges but cannot return rows in order; this one can, so a
-- page costs an index range scan per partition instead of sorting the whole window.
CREATE INDEX audit_events_newest_idx ON audit_events (event_time DESC, writer_id DESC, seq DESC);
