-- session_end_attribution (facts): the session counts in the window in which it ends
-- (end_window_ms: the window of its terminating event on golden's grain).
SELECT sk, end_window_ms AS window_ms, attempt, started, ebvs, vsf, vpf, vst_ms, play_ms,
       stall_ms, bitrate_kbps_ms
FROM m_in
