-- short_exits_not_ebvs (facts; the named option ebvs_min_wait_ms): an exit before video
-- start sooner than $min_wait_ms after the attempt is not an EBVS.
SELECT sk, window_ms, attempt, started,
       CASE WHEN end_ts - start_ts >= $min_wait_ms::BIGINT THEN ebvs ELSE 0 END AS ebvs,
       vsf, vpf, vst_ms, play_ms, stall_ms, bitrate_kbps_ms
FROM m_in
