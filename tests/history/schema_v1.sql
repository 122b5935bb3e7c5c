-- A history store as auditor's first history release wrote it (schema version 1: no
-- definitions fingerprint, no late-arrival horizon, no acknowledgements). Kept verbatim:
-- tests/test_history.py migrates it forward. Do not edit it to follow the current schema.
CREATE TABLE history_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (run_id TEXT PRIMARY KEY, recorded_at TEXT NOT NULL, recorded_ms BIGINT NOT NULL,
  auditor_version TEXT, config_file TEXT, events TEXT, window_minutes BIGINT, status TEXT,
  golden_options TEXT, report_dir TEXT);
CREATE TABLE window_results (run_id TEXT NOT NULL, pipeline TEXT NOT NULL, metric TEXT NOT NULL,
  window_ms BIGINT NOT NULL, window_minutes BIGINT NOT NULL, unit TEXT, kind TEXT, status TEXT,
  published_rows BIGINT, golden DOUBLE PRECISION, candidate DOUBLE PRECISION, golden_num BIGINT,
  cand_num BIGINT, golden_den BIGINT, cand_den BIGINT, rel_diff DOUBLE PRECISION, tolerance TEXT,
  superseded_by TEXT);
CREATE TABLE findings (run_id TEXT NOT NULL, finding_id TEXT NOT NULL, pipeline TEXT NOT NULL,
  metric TEXT NOT NULL, slice TEXT NOT NULL, direction TEXT NOT NULL, window_ms BIGINT NOT NULL,
  golden DOUBLE PRECISION, candidate DOUBLE PRECISION, share_of_gap DOUBLE PRECISION,
  moved TEXT, detail TEXT, superseded_by TEXT);
CREATE TABLE quality_counts (run_id TEXT NOT NULL, check_name TEXT NOT NULL, status TEXT,
  unexpected_count BIGINT, denominator BIGINT, rate DOUBLE PRECISION, first_window_ms BIGINT);
INSERT INTO history_meta VALUES ('schema_version', '1');
INSERT INTO runs VALUES ('20250320T170000Z-0a1b2c3d', '2025-03-20T17:00:00Z', 1742490000000, '0.1.0',
  'audit.yaml', 'events.parquet', 60, 'fail', '{"start_anchor": "content_frame"}', NULL);
INSERT INTO window_results VALUES
  ('20250320T170000Z-0a1b2c3d', 'batch', 'ebvs_rate', 1742479200000, 60, 'ratio', 'ratio', 'fail', 120,
   0.10, 0.14, 10, 14, 100, 100, 0.4, 'exact', NULL),
  ('20250320T170000Z-0a1b2c3d', 'batch', 'ebvs_rate', 1742482800000, 60, 'ratio', 'ratio', 'pass', 118,
   0.12, 0.12, 12, 12, 100, 100, 0.0, 'exact', NULL);
INSERT INTO findings VALUES ('20250320T170000Z-0a1b2c3d', 'c7f3e1a2b4', 'batch', 'ebvs_rate', 'device=roku',
  'higher', 1742479200000, 0.10, 0.14, 1.0, 'numerator', '{"share_of_gap": 1.0}', NULL);
INSERT INTO quality_counts VALUES ('20250320T170000Z-0a1b2c3d', 'duplicate_events', 'pass', 0, 2200, 0.0,
  1742479200000);
