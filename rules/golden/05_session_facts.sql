-- Stage 5: per-session facts (metrics.md 3, 5).
-- Parameters: $inactivity_timeout_ms (NULL = off), $ebvs_min_wait_ms (0 = off),
-- $session_end (attribution = session_end), $window_ms.
--
-- Inactivity timeout: the session also terminates at the last event before
-- the first gap longer than the timeout (strictly greater; only before the
-- normal termination, so an end or fatal error before the gap stands).
CREATE OR REPLACE TEMP TABLE g_cut AS
SELECT sk, min(pos) AS cut_pos
FROM g_rows
WHERE $inactivity_timeout_ms::BIGINT IS NOT NULL
  AND before_term
  AND ts_next - ts > $inactivity_timeout_ms::BIGINT
GROUP BY sk;

CREATE OR REPLACE TEMP TABLE g_facts AS
WITH per_session AS (
    SELECT
        r.sk,
        min(r.ts) FILTER (WHERE r.pos = 1) AS start_ts,
        -- the terminating event (the timeout's cut, else the first end / fatal error),
        -- else the last live event
        CASE WHEN any_value(c.cut_pos) IS NOT NULL THEN max(r.ts) FILTER (WHERE r.pos = c.cut_pos)
             ELSE coalesce(arg_min(r.ts, r.pos) FILTER (WHERE r.is_term), arg_max(r.ts, r.pos))
        END AS end_ts,
        coalesce(bool_or(r.anchored AND r.before_term
                         AND (c.cut_pos IS NULL OR r.pos <= c.cut_pos)), false) AS started,
        coalesce(arg_min(r.is_fatal, r.pos) FILTER (WHERE r.is_term), false)
            AND any_value(c.cut_pos) IS NULL AS fatal_end,
        coalesce(sum(r.dur_ms) FILTER (WHERE r.state = 'startup'
            AND (c.cut_pos IS NULL OR r.pos < c.cut_pos)), 0) AS startup_ms,
        coalesce(sum(r.dur_ms) FILTER (WHERE r.state = 'playing'
            AND (c.cut_pos IS NULL OR r.pos < c.cut_pos)), 0) AS play_ms,
        coalesce(sum(r.dur_ms) FILTER (WHERE r.state = 'stalled'
            AND (c.cut_pos IS NULL OR r.pos < c.cut_pos)), 0) AS stall_ms,
        coalesce(sum(r.dur_ms * r.bitrate_now) FILTER (WHERE r.state = 'playing'
            AND (c.cut_pos IS NULL OR r.pos < c.cut_pos)), 0) AS bitrate_kbps_ms
    FROM g_rows r
    LEFT JOIN g_cut c USING (sk)
    GROUP BY r.sk
), outcomes AS (
    SELECT *,
        NOT started AND NOT fatal_end AS no_start_exit,
        $ebvs_min_wait_ms::BIGINT = 0
            OR end_ts - start_ts >= $ebvs_min_wait_ms::BIGINT AS waited,
        CASE WHEN $session_end THEN end_ts ELSE start_ts END AS anchor_ts
    FROM per_session
)
SELECT
    sk,
    anchor_ts - (((anchor_ts % $window_ms::BIGINT) + $window_ms::BIGINT) % $window_ms::BIGINT) AS window_ms,
    1::BIGINT AS attempt,
    started::BIGINT AS started,
    (no_start_exit AND waited)::BIGINT AS ebvs,
    (no_start_exit AND NOT waited)::BIGINT AS ebvs_short,
    (NOT started AND fatal_end)::BIGINT AS vsf,
    (started AND fatal_end)::BIGINT AS vpf,
    CASE WHEN started THEN startup_ms ELSE 0 END::BIGINT AS vst_ms,
    play_ms::BIGINT AS play_ms,
    stall_ms::BIGINT AS stall_ms,
    bitrate_kbps_ms::BIGINT AS bitrate_kbps_ms
FROM outcomes;
