-- A pipeline's session rows joined with golden's per-session facts on session_id
-- (what `auditor explain` drills into). One row per session id seen on either side.
-- A pipeline that wrote a session more than once (a join fan-out) has its rows
-- summed, and `pipeline_rows` says how many it wrote. Dimension values come from
-- golden (its attribution is the truth); a session golden does not have keeps the
-- pipeline's values for the dimensions its rows carry, null for the others.
-- Tables: x_golden_sessions (compute_golden(with_sessions=True)), the pipeline's
-- source view named by `source`, r_windows (start_ms) when `window_column` is set.
-- Parameters: $window_ms (the audit window length) when `window_column` is set; an
-- integer window column holds epoch milliseconds (`window_is_ms`).
CREATE OR REPLACE TEMP TABLE x_pipe_sessions AS
SELECT CAST({{ session_column | ident }} AS VARCHAR) AS session_id,
       count(*) AS pipeline_rows
       {%- for name, column in pipe_dims %},
       CAST(any_value({{ column | ident }}) AS VARCHAR) AS {{ name | ident }}
       {%- endfor %}
       {%- for fact in facts %},
       sum(CAST({{ fact | ident }} AS BIGINT))::BIGINT AS {{ fact | ident }}
       {%- endfor %}
FROM {{ source | ident }}
WHERE {{ session_column | ident }} IS NOT NULL
{%- if window_column %}
  AND ({% if window_is_ms %}CAST({{ window_column | ident }} AS BIGINT){% else %}epoch_ms(CAST({{ window_column | ident }} AS TIMESTAMPTZ)){% endif %}
       // $window_ms::BIGINT) * $window_ms::BIGINT
      IN (SELECT start_ms FROM r_windows)
{%- endif %}
GROUP BY 1;

CREATE OR REPLACE TEMP TABLE x_session_join AS
SELECT coalesce(g.session_id, p.session_id) AS session_id,
       g.session_id IS NOT NULL AS in_golden,
       p.session_id IS NOT NULL AS in_pipeline,
       coalesce(p.pipeline_rows, 0) AS pipeline_rows
       {%- for d in dims %},
       {% if d in pipe_dim_names %}CASE WHEN g.session_id IS NOT NULL THEN CAST(g.{{ d | ident }} AS VARCHAR) ELSE p.{{ d | ident }} END
       {%- else %}CAST(g.{{ d | ident }} AS VARCHAR){% endif %} AS {{ d | ident }}
       {%- endfor %}
       {%- for fact in facts %},
       coalesce(g.{{ fact | ident }}, 0)::BIGINT AS {{ ('g_' ~ fact) | ident }},
       coalesce(p.{{ fact | ident }}, 0)::BIGINT AS {{ ('p_' ~ fact) | ident }}
       {%- endfor %}
FROM x_golden_sessions AS g
FULL OUTER JOIN x_pipe_sessions AS p ON g.session_id = p.session_id;
