-- seek_stall_as_rebuffering (events): seek events are ignored, so the stall that
-- follows a seek counts as rebuffering.
DELETE FROM g_narrow WHERE et IN (11, 12);  -- seek_end, seek_start
