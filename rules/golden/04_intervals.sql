-- Stage 4: player state intervals (docs/definitions.md#player-state-over-time), one ordered pass.
-- A query, not a statement: 05_session_facts.sql includes it and sums its
-- rows per session in the same pipeline, so the 10M-row interval table is
-- never written out.
--
-- Every live event opens an interval until the next live event,
-- duration = max(0, ts_next - ts). The state of an interval follows from the
-- events up to and including the one that opens it, by the priority table:
--   ad > startup > seeking > stalled > paused > playing.
-- "The latest of {x_start, x_end} is x_start" is last_value(... IGNORE NULLS)
-- over the pair's events; every running fact is such a last_value (the
-- cheapest running window function in DuckDB), all over one window, so the
-- events are sorted once. term_seen: a terminating event (end, fatal error)
-- at or before the row; a row opens an interval only while it is null. Which
-- terminating event came first is left to the per-session aggregate (05).
--
-- Parameters: $any_frame (start_anchor = any_frame: an ad_start before the
-- first content frame is the video start).
--
-- Order: (seq, ts, event_id). Comparing event_id strings in the sort costs
-- about a third of the pass, and it only matters for events of one session
-- that tie on (seq, ts), which real clients almost never send. So the first
-- run ({{ exact_ties }} false) sorts on (seq, ts) and flags such ties
-- (`tied`); auditor.golden then reruns 05 with exact_ties true, which
-- recomputes just the sessions with a tie (table g_tied) in the full order.
-- seq_repeat (no golden fact reads it) lets the data-quality stage count
-- repeated seq values without grouping the events by (session, seq) again.
WITH ordered AS (
    SELECT
        sk, seq, ts, et, fatal,
        row_number() OVER w AS pos,
        lead(ts) OVER w AS ts_next,
        lead(seq) OVER w AS seq_next,
        last_value(CASE WHEN et IN (1, 2) THEN et END IGNORE NULLS) OVER w AS ad_last,
        last_value(CASE WHEN et IN (11, 12) THEN et END IGNORE NULLS) OVER w AS seek_last,
        last_value(CASE WHEN et IN (13, 14) THEN et END IGNORE NULLS) OVER w AS stall_last,
        last_value(CASE WHEN et IN (9, 10) THEN et END IGNORE NULLS) OVER w AS pause_last,
        last_value(CASE WHEN et = 7 OR ($any_frame AND et = 2) THEN true END IGNORE NULLS) OVER w AS anchored,
        last_value(CASE WHEN bitrate_kbps > 0 THEN bitrate_kbps END IGNORE NULLS) OVER w AS bitrate_now,
        last_value(CASE WHEN et = 5 OR (et = 6 AND fatal IS TRUE) THEN true END IGNORE NULLS) OVER w AS term_seen
    FROM g_live
    {% if exact_ties %}WHERE sk IN (SELECT sk FROM g_tied){% endif %}
    WINDOW w AS (PARTITION BY sk ORDER BY seq, ts{% if exact_ties %}, event_id{% endif %}
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
SELECT
    sk, pos, ts, ts_next, et,
    {% if exact_ties %}false{% else %}coalesce(seq_next = seq AND ts_next = ts, false){% endif %} AS tied,
    -- the next live event has the same seq (for the data-quality stage's seq_not_unique)
    coalesce(seq_next = seq, false) AS seq_repeat,
    anchored IS NOT NULL AS anchored,
    term_seen IS NULL AS before_term,
    -- a terminating event (the session's first one is the one with the smallest pos)
    et = 5 OR (et = 6 AND fatal IS TRUE) AS is_term,
    et = 6 AND fatal IS TRUE AS is_fatal,
    -- state code (small integers, cheaper than names in the sums of 05):
    -- 1 ad, 2 startup, 3 seeking, 4 stalled, 5 paused, 6 playing
    CASE
        WHEN ad_last = 2 THEN 1
        WHEN anchored IS NULL THEN 2
        WHEN seek_last = 12 THEN 3
        WHEN stall_last = 14 THEN 4
        WHEN pause_last = 9 THEN 5
        ELSE 6
    END::UTINYINT AS state,
    CASE WHEN term_seen IS NULL AND ts_next IS NOT NULL
         THEN greatest(ts_next - ts, 0) END AS dur_ms,
    bitrate_now
FROM ordered
