-- bitrate_in_bps (facts): bitrate summed in bit/s where kbit/s is expected.
SELECT sk, window_ms, attempt, started, ebvs, vsf, vpf, vst_ms, play_ms, stall_ms,
       bitrate_kbps_ms * 1000 AS bitrate_kbps_ms
FROM m_in
