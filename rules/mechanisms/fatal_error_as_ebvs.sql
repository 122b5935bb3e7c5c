-- fatal_error_as_ebvs (facts): a session that failed to start (vsf) counts as an exit
-- before video start instead.
SELECT sk, window_ms, attempt, started, ebvs + vsf AS ebvs, 0 AS vsf, vpf, vst_ms, play_ms,
       stall_ms, bitrate_kbps_ms
FROM m_in
