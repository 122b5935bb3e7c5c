-- Stage 5: per-session facts (docs/definitions.md#session-facts) under the named options
-- (docs/definitions.md#named-options), summed straight from the intervals of stage 4
-- (included below).
-- Parameters: $inactivity_timeout_ms (NULL = off), $ebvs_min_wait_ms (0 = off),
-- $session_end (attribution = session_end), $window_ms, and 04's $any_frame.
-- Template: {{ timeout }} (the inactivity timeout is set), {{ exact_ties }}
-- (04: recompute the sessions with (seq, ts) ties in the full order and
-- replace their rows; g_facts.tied flags them in the first run).
--
-- Inactivity timeout: the session also terminates at the last event before
-- the first gap longer than the timeout (strictly greater; only before the
-- normal termination, so an end or fatal error before the gap stands). The
-- intervals are then read twice (cut, then sums), so they are materialized.
--
-- The columns after bitrate_kbps_ms are per-session counts for the
-- data-quality stage (rules/quality/02_sessions.sql), taken in the same pass.
{% if exact_ties %}
CREATE OR REPLACE TEMP TABLE g_tied AS SELECT sk FROM g_facts WHERE tied;
DELETE FROM g_facts WHERE tied;
INSERT INTO g_facts
{% else %}
CREATE OR REPLACE TEMP TABLE g_facts AS
{% endif %}
WITH r AS {% if timeout %}MATERIALIZED {% endif %}(
{% include "golden/04_intervals.sql" %}
), cut AS (
{% if timeout %}
    SELECT sk, min(pos) AS cut_pos
    FROM r
    WHERE before_term AND ts_next - ts > $inactivity_timeout_ms::BIGINT
    GROUP BY sk
{% else %}
    -- no cut: an empty table with the session key's type on every engine
    SELECT sk, NULL::BIGINT AS cut_pos FROM g_first_attempt WHERE false
{% endif %}
), per_session AS (
    SELECT
        r.sk,
        min(r.ts) FILTER (WHERE r.pos = 1) AS start_ts,
        -- the first end / fatal error, else the last live event
        coalesce(arg_min(r.ts, r.pos) FILTER (WHERE r.is_term), arg_max(r.ts, r.pos)) AS natural_end_ts,
        any_value(c.cut_pos) AS cut_pos,
        max(r.ts) FILTER (WHERE r.pos = c.cut_pos) AS cut_ts,
        coalesce(bool_or(r.anchored AND r.before_term
                         AND (c.cut_pos IS NULL OR r.pos <= c.cut_pos)), false) AS started,
        coalesce(arg_min(r.is_fatal, r.pos) FILTER (WHERE r.is_term), false)
            AND any_value(c.cut_pos) IS NULL AS fatal_end,
        coalesce(sum(r.dur_ms) FILTER (WHERE r.state = 2 /* startup */
            AND (c.cut_pos IS NULL OR r.pos < c.cut_pos)), 0) AS startup_ms,
        coalesce(sum(r.dur_ms) FILTER (WHERE r.state = 6 /* playing */
            AND (c.cut_pos IS NULL OR r.pos < c.cut_pos)), 0) AS play_ms,
        coalesce(sum(r.dur_ms) FILTER (WHERE r.state = 4 /* stalled */
            AND (c.cut_pos IS NULL OR r.pos < c.cut_pos)), 0) AS stall_ms,
        coalesce(sum(r.dur_ms * r.bitrate_now) FILTER (WHERE r.state = 6 /* playing */
            AND (c.cut_pos IS NULL OR r.pos < c.cut_pos)), 0) AS bitrate_kbps_ms,
        bool_or(r.tied) AS tied,
        count(*) AS live_rows,
        count(*) FILTER (WHERE r.seq_repeat) AS live_seq_repeats,
        -- rows from the first terminating event on, less that event itself
        count(*) FILTER (WHERE NOT r.before_term) - (count(*) FILTER (WHERE r.is_term) > 0)::INTEGER AS after_end,
        count(r.dur_ms) AS intervals,
        count(*) FILTER (WHERE r.dur_ms IS NOT NULL AND r.ts_next < r.ts) AS negative_intervals
    FROM r
    LEFT JOIN cut c USING (sk)
    GROUP BY r.sk
), outcomes AS (
    SELECT *,
        -- the terminating event: the timeout's cut, else the natural end
        coalesce(cut_ts, natural_end_ts) AS end_ts,
        NOT started AND NOT fatal_end AS no_start_exit
    FROM per_session
), attributed AS (
    SELECT *,
        $ebvs_min_wait_ms::BIGINT = 0
            OR end_ts - start_ts >= $ebvs_min_wait_ms::BIGINT AS waited,
        CASE WHEN $session_end THEN end_ts ELSE start_ts END AS anchor_ts
    FROM outcomes
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
    bitrate_kbps_ms::BIGINT AS bitrate_kbps_ms,
    tied,
    live_rows::BIGINT AS live_rows,
    live_seq_repeats::BIGINT AS live_seq_repeats,
    after_end::BIGINT AS after_end,
    intervals::BIGINT AS intervals,
    negative_intervals::BIGINT AS negative_intervals,
    (natural_end_ts - start_ts)::BIGINT AS duration_ms
FROM attributed;
