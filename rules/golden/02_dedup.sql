-- Stage 2: deduplicate on (session_id, event_id) (docs/definitions.md#deduplication)
-- and drop unknown event types (docs/definitions.md#unknown-event-types).
-- Keep the copy with the smallest received_at (nulls last), then smallest
-- seq, ts, event_type. Copies equal on all of these are broken by
-- bitrate_kbps, then fatal (nulls last) so the result never depends on row
-- order. Only keys that occur more than once take the exact (sorted) path;
-- the rest pass straight through. The repeated keys are found by grouping
-- the 64-bit keys: a grouping partitions on any engine (a window over all
-- rows would put every row in one Spark task).
CREATE OR REPLACE TEMP TABLE g_dupkeys AS
SELECT ek
FROM g_narrow
GROUP BY ek
HAVING count(*) > 1;

CREATE OR REPLACE TEMP VIEW g_events AS
SELECT sk, event_id, seq, ts, et, bitrate_kbps, fatal
FROM g_narrow
WHERE ek NOT IN (SELECT ek FROM g_dupkeys) AND et > 0
UNION ALL
SELECT sk, event_id, seq, ts, et, bitrate_kbps, fatal
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY sk, event_id
        ORDER BY received_at ASC NULLS LAST, seq, ts,
                 coalesce(et_other, CASE et
                    WHEN 1 THEN 'ad_end' WHEN 2 THEN 'ad_start' WHEN 3 THEN 'attempt'
                    WHEN 4 THEN 'bitrate_change' WHEN 5 THEN 'end' WHEN 6 THEN 'error'
                    WHEN 7 THEN 'first_frame' WHEN 8 THEN 'heartbeat' WHEN 9 THEN 'pause'
                    WHEN 10 THEN 'resume' WHEN 11 THEN 'seek_end' WHEN 12 THEN 'seek_start'
                    WHEN 13 THEN 'stall_end' WHEN 14 THEN 'stall_start' END) NULLS LAST,
                 bitrate_kbps ASC NULLS LAST, fatal ASC NULLS LAST
    ) AS copy_rank
    FROM g_narrow
    WHERE ek IN (SELECT ek FROM g_dupkeys)
)
WHERE copy_rank = 1 AND et > 0;
