-- startup_in_seconds (facts): video start time summed in whole seconds where
-- milliseconds are expected.
SELECT sk, window_ms, attempt, started, ebvs, vsf, vpf, vst_ms // 1000 AS vst_ms, play_ms,
       stall_ms, bitrate_kbps_ms
FROM m_in
