-- Stage 1: load the narrow per-event columns the golden calculator orders.
-- Input: view g_input (canonical raw-event columns, built by auditor.events).
-- Wide dimension columns stay out of this table: they are read once, from
-- attempt events only, in 06_attributes.sql.
--
-- Large inputs (template flag spool, auditor.golden): instead of one table, the
-- rows are written once to Parquet files in $spool, partitioned by session
-- bucket (sk % $buckets), and stages 2-5 run one bucket at a time, so memory
-- is bounded by the bucket size rather than the input size. The spool is
-- written without dictionaries (the event ids are nearly all distinct, and
-- trying them cost 0.4 s per 10M rows) and with snappy (a plain spool is 3x
-- the bytes, which cost as much in write time as snappy saves).
--
-- sk: 64-bit session key, hash(session_id, $salt). auditor.golden verifies
-- that no two session ids share a key (and re-salts if they ever do), so the
-- key is exact, not probabilistic.
-- et: event type code, assigned in bytewise order of the canonical names so
-- that ordering by code equals ordering by name (the ENUM lists them in that
-- order; a cast to it is one hash lookup per row instead of a chain of string
-- comparisons); 0 = unknown type (the raw name is kept in et_other for the
-- dedup tie-break, then the event is dropped).
{% if spool %}COPY ({% else %}CREATE OR REPLACE TEMP TABLE g_narrow AS{% endif %}
SELECT
    hash(session_id, $salt::BIGINT) AS sk,
    hash(session_id, event_id)     AS ek,
    event_id,
    seq,
    ts,
    received_at,
    coalesce(enum_code(TRY_CAST(event_type AS ENUM(
        'ad_end', 'ad_start', 'attempt', 'bitrate_change', 'end', 'error', 'first_frame',
        'heartbeat', 'pause', 'resume', 'seek_end', 'seek_start', 'stall_end', 'stall_start'
    ))) + 1, 0)::UTINYINT AS et,
    CASE WHEN et = 0 THEN event_type END AS et_other,  -- DuckDB reads `et` from this SELECT
    bitrate_kbps,
    fatal{% if spool %},
    sk % $buckets::UBIGINT AS bucket{% endif %}
FROM g_input
-- Rows without the keys needed to deduplicate and order them cannot take
-- part (docs/definitions.md#rows-missing-a-key); the data-quality stage counts them.
WHERE session_id IS NOT NULL AND event_id IS NOT NULL
  AND seq IS NOT NULL AND ts IS NOT NULL
{% if spool %}) TO $spool (FORMAT parquet, PARTITION_BY (bucket), COMPRESSION snappy, DICTIONARY_SIZE_LIMIT 1){% endif %};
