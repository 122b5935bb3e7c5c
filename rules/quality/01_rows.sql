-- Quality 1: the row-level checks whose denominator is "rows" (every input
-- row, before any deduplication).
-- Rows with all ordering keys are counted from g_narrow (golden stage 1), so
-- the events are not read again for them; the rows golden drops for a null
-- key are read from the canonical view g_input (Parquet statistics skip the
-- read when no key column has a null). end_reason is not in g_narrow: one
-- narrow pass over event_type and end_reason counts the end rows.
-- Parameters: $max_lateness_ms, $max_ahead_ms, $allowed_end_reasons (list).
CREATE OR REPLACE TEMP TABLE q_rows AS
WITH r AS (
    SELECT ts, received_at, et = 6 AS is_error, fatal,
           et = 0 AND et_other IS NULL AS no_event_type,
           false AS no_event_id, false AS no_session_id, false AS no_seq, false AS no_ts
    FROM g_narrow
    UNION ALL
    SELECT ts, received_at, event_type = 'error', fatal, event_type IS NULL,
           event_id IS NULL, session_id IS NULL, seq IS NULL, ts IS NULL
    FROM g_input
    WHERE event_id IS NULL OR session_id IS NULL OR seq IS NULL OR ts IS NULL
), ends AS (
    SELECT count(*) FILTER (WHERE event_type = 'end')::BIGINT AS end_rows,
           count(*) FILTER (WHERE event_type = 'end' AND (end_reason IS NULL
               OR NOT list_contains($allowed_end_reasons::VARCHAR[], end_reason)))::BIGINT AS bad_end_rows,
           count(end_reason)::BIGINT AS rows_with_end_reason
    FROM g_input
), agg AS (
    SELECT
        count(*)::BIGINT AS rows,
        count(*) FILTER (WHERE no_event_id OR no_session_id OR no_seq OR no_ts
                            OR no_event_type)::BIGINT AS null_key_rows,
        count(*) FILTER (WHERE no_event_id)::BIGINT AS null_event_id,
        count(*) FILTER (WHERE no_session_id)::BIGINT AS null_session_id,
        count(*) FILTER (WHERE no_seq)::BIGINT AS null_seq,
        count(*) FILTER (WHERE no_ts)::BIGINT AS null_ts,
        count(*) FILTER (WHERE no_event_type)::BIGINT AS null_event_type,
        count(received_at)::BIGINT AS rows_with_received_at,
        count(*) FILTER (WHERE received_at - ts > $max_lateness_ms::BIGINT)::BIGINT AS late_rows,
        count(*) FILTER (WHERE ts - received_at > $max_ahead_ms::BIGINT)::BIGINT AS ahead_rows,
        max(received_at - ts)::BIGINT AS max_lateness_ms,
        max(ts - received_at)::BIGINT AS max_ahead_ms,
        count(*) FILTER (WHERE is_error)::BIGINT AS error_rows,
        count(*) FILTER (WHERE is_error AND fatal IS NULL)::BIGINT AS fatal_missing_rows,
        count(fatal)::BIGINT AS rows_with_fatal
    FROM r
)
SELECT * FROM agg, ends;
