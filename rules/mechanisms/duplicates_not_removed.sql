-- duplicates_not_removed (facts): the pipeline joins the session's facts to every delivered
-- copy of its attempt event, so a session whose attempt arrived k times counts k times.
SELECT m.sk, m.window_ms, m.attempt, m.started, m.ebvs, m.vsf, m.vpf, m.vst_ms, m.play_ms,
       m.stall_ms, m.bitrate_kbps_ms
FROM m_in AS m, range(greatest(m.attempt_rows, 1)) AS copies(k)
