-- missing_first_frame (events): the pipeline never sees the session's first_frame events.
-- Runs on g_narrow, the raw rows of the touched sessions before deduplication; the
-- share of sessions it hits is fitted by the search (docs/mechanisms.md#parameters).
DELETE FROM g_narrow WHERE et = 7;  -- 7 = first_frame (rules/golden/01_load.sql)
