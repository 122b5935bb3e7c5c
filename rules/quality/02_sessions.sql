-- Quality 2: per-session summary, from the tables the golden stages built
-- (g_narrow, g_dupkeys, g_events, g_facts). One row per
-- session key that has at least one row with all ordering keys.
-- Parameters: $max_lateness_ms, $max_duration_ms.
--
-- q_dup: every (session, event_id) delivered more than once; extra = copies
-- beyond the first; conflicting = the copies differ in more than received_at.
CREATE OR REPLACE TEMP TABLE q_dup AS
SELECT sk, event_id,
       (count(*) - 1)::BIGINT AS extra,
       count(DISTINCT (seq, ts, et, et_other, bitrate_kbps, fatal)) > 1 AS conflicting
FROM g_narrow
WHERE ek IN (SELECT ek FROM g_dupkeys)
GROUP BY sk, event_id;

-- Deduplicated known events per session.
CREATE OR REPLACE TEMP TABLE q_known AS
SELECT sk, count(*)::BIGINT AS known_rows FROM g_events GROUP BY sk;

-- Live events (from the first attempt on) per session: golden counts them
-- while it sums the intervals (rules/golden/05_session_facts.sql):
-- live_seq_repeats = live rows beyond the first per seq (stage 4's
-- seq_repeat), after_end = live rows after the terminating event,
-- duration_ms = first attempt to termination (the inactivity cut aside).
CREATE OR REPLACE TEMP VIEW q_live AS
SELECT sk, live_rows, live_seq_repeats, after_end, intervals, negative_intervals, duration_ms
FROM g_facts;

-- Sessions with known events that are not live (orphans, events before the
-- first attempt; rare): their seq repeats are counted over all their known
-- events, the exact (session, seq) grouping done for them only.
CREATE OR REPLACE TEMP TABLE q_seq_other AS
SELECT sk, sum(n - 1)::BIGINT AS seq_repeats
FROM (SELECT sk, seq, count(*) AS n FROM g_events
      WHERE sk IN (SELECT k.sk FROM q_known k LEFT JOIN q_live l USING (sk)
                   WHERE k.known_rows > coalesce(l.live_rows, 0))
      GROUP BY sk, seq)
GROUP BY sk;

CREATE OR REPLACE TEMP TABLE q_sessions AS
WITH per AS (
    SELECT sk, count(*)::BIGINT AS rows,
           count(*) FILTER (WHERE received_at - ts > $max_lateness_ms::BIGINT)::BIGINT AS late_rows
    FROM g_narrow
    GROUP BY sk
), dups AS (
    SELECT sk, sum(extra)::BIGINT AS dup_rows FROM q_dup GROUP BY sk
)
SELECT
    per.sk,
    per.rows,
    coalesce(dups.dup_rows, 0) AS dup_rows,
    per.rows - coalesce(dups.dup_rows, 0) AS dedup_rows,
    per.late_rows,
    coalesce(k.known_rows, 0) AS known_rows,
    coalesce(o.seq_repeats, l.live_seq_repeats, 0) AS seq_repeats,
    l.sk IS NULL AS orphan,
    CASE WHEN l.sk IS NULL THEN 0 ELSE coalesce(k.known_rows, 0) - l.live_rows END AS before_attempt,
    coalesce(l.after_end, 0) AS after_end,
    coalesce(l.intervals, 0) AS intervals,
    coalesce(l.negative_intervals, 0) AS negative_intervals,
    coalesce(l.duration_ms > $max_duration_ms::BIGINT, false) AS implausible,
    l.duration_ms
FROM per
LEFT JOIN dups USING (sk)
LEFT JOIN q_known k USING (sk)
LEFT JOIN q_live l USING (sk)
LEFT JOIN q_seq_other o USING (sk);
