-- Stage 7: session facts with their attributes, and the canonical aggregate
-- (docs/definitions.md#canonical-aggregate): one row per window and combination of
-- dimension values present. Sums stay 64-bit integers (an overflow is an
-- error, never a wrap-around); ratios are derived later from these sums.
-- Parameters: $window_from_ms, $window_to_ms (NULL = every window).
CREATE OR REPLACE TEMP TABLE g_sessions AS
SELECT
    a.session_id,
    make_timestamptz(f.window_ms * 1000) AS window_start{{ dims | prefixed('a.') }},
    f.attempt, f.started, f.ebvs, f.ebvs_short, f.vsf, f.vpf,
    f.vst_ms, f.play_ms, f.stall_ms, f.bitrate_kbps_ms
FROM g_facts f
JOIN g_attrs a USING (sk)
WHERE ($window_from_ms::BIGINT IS NULL OR f.window_ms >= $window_from_ms::BIGINT)
  AND ($window_to_ms::BIGINT IS NULL OR f.window_ms < $window_to_ms::BIGINT);

CREATE OR REPLACE TEMP TABLE g_aggregate AS
SELECT
    window_start{{ dims | prefixed('') }},
    sum(attempt)::BIGINT AS attempts,
    sum(started)::BIGINT AS plays,
    sum(ebvs)::BIGINT AS ebvs,
    sum(ebvs_short)::BIGINT AS ebvs_short,
    sum(vsf)::BIGINT AS vsf,
    sum(vpf)::BIGINT AS vpf,
    sum(vst_ms)::BIGINT AS vst_ms_sum,
    sum(play_ms)::BIGINT AS play_ms,
    sum(stall_ms)::BIGINT AS stall_ms,
    sum(bitrate_kbps_ms)::BIGINT AS bitrate_kbps_ms
FROM g_sessions
GROUP BY ALL;
