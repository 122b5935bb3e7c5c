-- Quality 3: the dimension values of every session in q_sessions, so that
-- check rates can be cut by slice. Sessions with an attempt take the golden
-- attributes (g_attrs, metrics.md 1.7); orphans take the values on their first
-- row in (seq, ts, event_id, received_at) order.
-- Parameters: $salt (the session-key salt the golden run used, table g_meta),
-- $has_orphans (false skips the scan of g_input).
-- Template: {{ dims }} is the list of dimension columns.
CREATE OR REPLACE TEMP TABLE q_orphan_attrs AS
SELECT hash(session_id, $salt::BIGINT) AS sk
{%- for d in dims %}, arg_min({{ d | ident }}, (seq, ts, event_id, received_at)) AS {{ d | ident }}{% endfor %}
FROM g_input
WHERE session_id IS NOT NULL AND event_id IS NOT NULL AND seq IS NOT NULL AND ts IS NOT NULL
  AND $has_orphans
  AND hash(session_id, $salt::BIGINT) IN (SELECT sk FROM q_sessions WHERE orphan)
GROUP BY session_id;

CREATE OR REPLACE TEMP TABLE q_session_dims AS
SELECT sk{{ dims | prefixed('') }} FROM g_attrs
UNION ALL BY NAME
SELECT sk{{ dims | prefixed('') }} FROM q_orphan_attrs;
