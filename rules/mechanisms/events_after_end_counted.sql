-- events_after_end_counted (events): `end` does not terminate the session; it becomes a
-- plain liveness event, so whatever follows it (heartbeats, a late first frame) counts.
UPDATE g_narrow SET et = 8 WHERE et = 5;  -- end -> heartbeat
