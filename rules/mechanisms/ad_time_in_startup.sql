-- ad_time_in_startup (events): ad events before the session's first frame (pre-roll) are
-- ignored, so the ad time counts as startup time.
DELETE FROM g_narrow AS n
WHERE n.et IN (1, 2)  -- ad_end, ad_start
  AND n.seq < coalesce((SELECT min(f.seq) FROM g_narrow AS f WHERE f.sk = n.sk AND f.et = 7),
                       9223372036854775807);
