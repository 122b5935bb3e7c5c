-- Stage 3: first attempt and live events (docs/definitions.md#event-order,
-- docs/definitions.md#first-attempt-and-orphans, docs/definitions.md#live-events).
-- Order within a session is (seq, ts, event_id); the first attempt is the
-- first attempt event in that order. Sessions without one (orphans) drop out
-- here through the inner join; events ordered before the first attempt are
-- filtered out.
CREATE OR REPLACE TEMP TABLE g_first_attempt AS
SELECT sk,
       arg_min(seq, (seq, ts, event_id)) AS a_seq,
       arg_min(ts, (seq, ts, event_id)) AS a_ts,
       arg_min(event_id, (seq, ts, event_id)) AS a_event_id
FROM g_events
WHERE et = 3
GROUP BY sk;

CREATE OR REPLACE TEMP VIEW g_live AS
SELECT e.sk, e.event_id, e.seq, e.ts, e.et, e.bitrate_kbps, e.fatal
FROM g_events e
JOIN g_first_attempt a USING (sk)
WHERE e.seq > a.a_seq
   OR (e.seq = a.a_seq AND (e.ts > a.a_ts
       OR (e.ts = a.a_ts AND e.event_id >= a.a_event_id)));
