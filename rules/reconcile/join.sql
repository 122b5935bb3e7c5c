-- Golden rolled up to one pipeline's grain and dimensions, joined to what the
-- pipeline published for the audited windows. Slices are joined with
-- IS NOT DISTINCT FROM: a null dimension value is a slice of its own
-- (docs/definitions.md#session-attributes). Rows present on one side only keep nulls on the other.
-- Tables: r_golden (window_ms, <audit dims>, components; or the table named by `golden`:
-- golden under a pipeline's declared deviations), r_windows (start_ms),
-- the candidate table named by `candidate` (sources.load_candidate).
-- Parameters: $grain_ms (the pipeline's grain), $window_ms (the audit window length).
CREATE OR REPLACE TEMP TABLE r_joined AS
WITH g AS (
    SELECT (window_ms // $grain_ms::BIGINT) * $grain_ms::BIGINT AS window_ms{{ dims | prefixed('') }}
    {%- for c in golden_components %},
        sum({{ c | ident }})::BIGINT AS {{ c | ident }}
    {%- endfor %}
    FROM {{ (golden | default('r_golden')) | ident }}
    GROUP BY ALL
), c AS (
    SELECT *
    FROM {{ candidate | ident }}
    WHERE (window_ms // $window_ms::BIGINT) * $window_ms::BIGINT IN (SELECT start_ms FROM r_windows)
)
SELECT
    coalesce(g.window_ms, c.window_ms) AS window_ms
    {%- for d in dims %},
    coalesce(g.{{ d | ident }}, c.{{ d | ident }}) AS {{ d | ident }}
    {%- endfor %},
    g.window_ms IS NOT NULL AS in_golden,
    c.window_ms IS NOT NULL AS in_candidate
    {%- for col in golden_components %},
    g.{{ col | ident }} AS {{ ('g_' ~ col) | ident }}
    {%- endfor %}
    {%- for col in candidate_columns %},
    c.{{ col | ident }} AS {{ ('c_' ~ col) | ident }}
    {%- endfor %}
FROM g
FULL OUTER JOIN c
  ON g.window_ms = c.window_ms
  {%- for d in dims %}
  AND g.{{ d | ident }} IS NOT DISTINCT FROM c.{{ d | ident }}
  {%- endfor %};
