-- Quality 1: one pass over the canonical raw rows (view g_input), before any
-- deduplication. Counts the row-level checks whose denominator is "rows".
-- Parameters: $max_lateness_ms, $max_ahead_ms, $allowed_end_reasons (list).
CREATE OR REPLACE TEMP TABLE q_rows AS
SELECT
    count(*)::BIGINT AS rows,
    count(*) FILTER (WHERE event_id IS NULL OR session_id IS NULL OR seq IS NULL
                        OR ts IS NULL OR event_type IS NULL)::BIGINT AS null_key_rows,
    count(*) FILTER (WHERE event_id IS NULL)::BIGINT AS null_event_id,
    count(*) FILTER (WHERE session_id IS NULL)::BIGINT AS null_session_id,
    count(*) FILTER (WHERE seq IS NULL)::BIGINT AS null_seq,
    count(*) FILTER (WHERE ts IS NULL)::BIGINT AS null_ts,
    count(*) FILTER (WHERE event_type IS NULL)::BIGINT AS null_event_type,
    count(received_at)::BIGINT AS rows_with_received_at,
    count(*) FILTER (WHERE received_at - ts > $max_lateness_ms::BIGINT)::BIGINT AS late_rows,
    count(*) FILTER (WHERE ts - received_at > $max_ahead_ms::BIGINT)::BIGINT AS ahead_rows,
    max(received_at - ts)::BIGINT AS max_lateness_ms,
    max(ts - received_at)::BIGINT AS max_ahead_ms,
    count(*) FILTER (WHERE event_type = 'error')::BIGINT AS error_rows,
    count(*) FILTER (WHERE event_type = 'error' AND fatal IS NULL)::BIGINT AS fatal_missing_rows,
    count(*) FILTER (WHERE event_type = 'end')::BIGINT AS end_rows,
    count(*) FILTER (WHERE event_type = 'end' AND (end_reason IS NULL
        OR NOT list_contains($allowed_end_reasons::VARCHAR[], end_reason)))::BIGINT AS bad_end_rows,
    count(fatal)::BIGINT AS rows_with_fatal,
    count(end_reason)::BIGINT AS rows_with_end_reason
FROM g_input;
