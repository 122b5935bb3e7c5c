-- window_offset (facts): windows cut and labelled on a clock $offset_ms off UTC (a time-zone
-- slip), so a session counts in the window of start_ts + offset
-- (on golden's grain $grain_ms).
SELECT sk,
       (start_ts + $offset_ms::BIGINT)
         - ((((start_ts + $offset_ms::BIGINT) % $grain_ms::BIGINT) + $grain_ms::BIGINT) % $grain_ms::BIGINT)
         AS window_ms,
       attempt, started, ebvs, vsf, vpf, vst_ms, play_ms, stall_ms, bitrate_kbps_ms
FROM m_in
