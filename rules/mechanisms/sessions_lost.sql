-- sessions_lost (facts): the sessions never reach the published table. At full strength
-- every session of the slice is lost; the search fits the share.
SELECT sk, window_ms, attempt, started, ebvs, vsf, vpf, vst_ms, play_ms, stall_ms, bitrate_kbps_ms
FROM m_in
WHERE false
