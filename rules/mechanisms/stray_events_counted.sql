-- stray_events_counted (events): events ordered before the session's first attempt are
-- kept. The attempt rows are moved in front of the session's first event, so the golden
-- stages take every event as live and the session starts at its earliest event.
UPDATE g_narrow AS n
SET seq = m.min_seq - 1, ts = least(n.ts, m.min_ts)
FROM (SELECT sk, min(seq) AS min_seq, min(ts) AS min_ts FROM g_narrow GROUP BY sk) AS m
WHERE n.sk = m.sk AND n.et = 3;  -- 3 = attempt
