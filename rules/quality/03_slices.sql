-- Quality 3: the dimension values of every session in q_sessions, so that
-- check rates can be cut by slice. Sessions with an attempt take the golden
-- attributes (g_attrs, docs/definitions.md#session-attributes); orphans take
-- the values on their first row in (seq, ts, event_id, received_at) order.
-- Parameters: $salt (the session-key salt the golden run used, table g_meta),
-- $has_orphans (false skips the scan of g_input).
-- Template: {{ dims }} is the list of dimension columns.
-- Two steps: the orphans' session ids first (a pass over session_id alone),
-- then only their rows by session_id (at 10M events 0.5 s instead of 0.65 s
-- for one pass that hashes every row's session_id next to all its columns).
CREATE OR REPLACE TEMP TABLE q_orphan_ids AS
SELECT DISTINCT session_id
FROM g_input
WHERE $has_orphans AND session_id IS NOT NULL
  AND hash(session_id, $salt::BIGINT) IN (SELECT sk FROM q_sessions WHERE orphan);

CREATE OR REPLACE TEMP TABLE q_orphan_attrs AS
SELECT hash(session_id, $salt::BIGINT) AS sk
{%- for d in dims %}, arg_min({{ d | ident }}, (seq, ts, event_id, received_at)) AS {{ d | ident }}{% endfor %}
FROM g_input
WHERE session_id IN (SELECT session_id FROM q_orphan_ids)
  AND event_id IS NOT NULL AND seq IS NOT NULL AND ts IS NOT NULL
GROUP BY session_id;

CREATE OR REPLACE TEMP TABLE q_session_dims AS
SELECT sk{{ dims | prefixed('') }} FROM g_attrs
UNION ALL BY NAME
SELECT sk{{ dims | prefixed('') }} FROM q_orphan_attrs;
