-- Stage 6: session attributes (docs/definitions.md#session-attributes): the dimension values on the
-- session's first attempt event. Among delivered copies of that event the one
-- kept by deduplication is taken (smallest received_at, nulls last); copies
-- that tie on every dedup key are broken by the dimension values themselves,
-- so the result never depends on row order.
-- Template: {{ dims }} is the list of dimension columns (quoted identifiers).
CREATE OR REPLACE TEMP TABLE g_attrs AS
SELECT sk, session_id{{ dims | prefixed('') }}
FROM (
    SELECT a.sk, i.session_id{{ dims | prefixed('i.') }},
           row_number() OVER (
               PARTITION BY a.sk
               ORDER BY i.received_at ASC NULLS LAST, i.bitrate_kbps ASC NULLS LAST,
                        i.fatal ASC NULLS LAST{{ dims | prefixed('i.', ' ASC NULLS LAST') }}
           ) AS copy_rank
    FROM g_input i
    JOIN g_first_attempt a
      ON hash(i.session_id, $salt::BIGINT) = a.sk
     AND i.event_id = a.a_event_id
     AND i.seq = a.a_seq
     AND i.ts = a.a_ts
    WHERE i.event_type = 'attempt' AND i.session_id IS NOT NULL
)
WHERE copy_rank = 1;
