-- late_events_dropped (events): a watermark drops every event received more than
-- $watermark_ms after its client time. An event without received_at is never late.
DELETE FROM g_narrow WHERE received_at - ts > $watermark_ms::BIGINT;
