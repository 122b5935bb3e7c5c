-- Stage 4: player state intervals (metrics.md 2), one ordered pass.
-- Every live event opens an interval until the next live event,
-- duration = max(0, ts_next - ts). The state of an interval follows from the
-- events up to and including the one that opens it, by the priority table:
--   ad > startup > seeking > stalled > paused > playing.
-- "The latest of {x_start, x_end} is x_start" is last_value(... IGNORE NULLS)
-- over the pair's events. term_incl counts terminating events (end, fatal
-- error) at or before the row: a row opens an interval only while it is 0.
--
-- Parameters: $any_frame (start_anchor = any_frame: an ad_start before the
-- first content frame is the video start).
CREATE OR REPLACE TEMP TABLE g_rows AS
WITH ordered AS (
    SELECT
        sk, ts, et, fatal,
        row_number() OVER w AS pos,
        lead(ts) OVER w AS ts_next,
        last_value(CASE WHEN et IN (1, 2) THEN et END IGNORE NULLS) OVER w AS ad_last,
        last_value(CASE WHEN et IN (11, 12) THEN et END IGNORE NULLS) OVER w AS seek_last,
        last_value(CASE WHEN et IN (13, 14) THEN et END IGNORE NULLS) OVER w AS stall_last,
        last_value(CASE WHEN et IN (9, 10) THEN et END IGNORE NULLS) OVER w AS pause_last,
        sum(CASE WHEN et = 7 OR ($any_frame AND et = 2) THEN 1 ELSE 0 END) OVER w AS anchors,
        last_value(CASE WHEN bitrate_kbps > 0 THEN bitrate_kbps END IGNORE NULLS) OVER w AS bitrate_now,
        sum(CASE WHEN et = 5 OR (et = 6 AND fatal IS TRUE) THEN 1 ELSE 0 END) OVER w AS term_incl
    FROM g_live
    WINDOW w AS (PARTITION BY sk ORDER BY seq, ts, event_id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
SELECT
    sk, pos, ts, ts_next, et,
    anchors > 0 AS anchored,
    term_incl,
    -- the first live terminating event of the session
    (et = 5 OR (et = 6 AND fatal IS TRUE)) AND term_incl = 1 AS is_first_term,
    et = 6 AND fatal IS TRUE AS is_fatal,
    CASE
        WHEN ad_last = 2 THEN 'ad'
        WHEN anchors = 0 THEN 'startup'
        WHEN seek_last = 12 THEN 'seeking'
        WHEN stall_last = 14 THEN 'stalled'
        WHEN pause_last = 9 THEN 'paused'
        ELSE 'playing'
    END AS state,
    CASE WHEN term_incl = 0 AND ts_next IS NOT NULL
         THEN greatest(ts_next - ts, 0) END AS dur_ms,
    bitrate_now
FROM ordered;
