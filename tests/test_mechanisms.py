"""The mechanism catalogue and the variant evaluator (docs/mechanisms.md).

Golden under a catalogued mechanism, computed on the connection golden ran on,
must equal what the generator's pipeline with the same fault published, cell
by cell and component by component (the fixtures of fixtures/README.md).
"""
from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from auditor.errors import ConfigError
from auditor.golden.calculator import COMPONENTS, compute_golden, connect
from auditor.golden.sqlfiles import RulesFolder
from auditor.mechanisms import golden_under, load_catalogue
from auditor.synth.faults import KINDS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DIMS = ["cdn", "device", "os", "player_version", "country", "isp", "content_type"]


def _cells(table, dims=DIMS):
    rows = table.to_pylist()
    out = {}
    for r in rows:
        w = r["window_ms"] if "window_ms" in r else int(r["window_start"].timestamp() * 1000)
        out[(w, *(r[d] for d in dims))] = tuple(r[c] for c in COMPONENTS)
    return out


@pytest.fixture(scope="module")
def golden_con():
    cons = {}

    def get(name):
        if name not in cons:
            con = connect()
            compute_golden(str(FIXTURES / name / "events.parquet"), dims=DIMS, window_minutes=60, con=con)
            cons[name] = con
        return cons[name]
    yield get
    for con in cons.values():
        con.close()


@pytest.mark.parametrize("fixture, mechanism, params, slice_, pipeline", [
    ("duplicates", "duplicates_not_removed", None, {"country": "br"}, "batch"),
    ("preroll_exits", "preroll_exit_not_ebvs", None, {"device": "smart_tv"}, "batch"),
    ("seek_rebuffering", "seek_stall_as_rebuffering", None, {"device": "web", "player_version": "8.6"}, "batch"),
    ("two_faults", "fatal_error_as_ebvs", None, {"cdn": "edgio"}, "batch"),
])
def test_golden_under_reproduces_the_generators_pipeline(golden_con, fixture, mechanism, params, slice_,
                                                         pipeline):
    con = golden_con(fixture)
    variant = golden_under(con, mechanism, params, slice=slice_, dims=DIMS, grain_minutes=60)
    published = pq.read_table(FIXTURES / fixture / f"{pipeline}.parquet")
    assert _cells(variant) == _cells(published)


def test_golden_under_a_late_cut_moves_what_the_watermark_drops(golden_con):
    con = golden_con("streaming_watermark")
    golden = _cells(golden_under(con, "sessions_lost", {"share": 0.0}, slice={"device": "none"}, dims=DIMS,
                                 grain_minutes=60))
    strict = _cells(golden_under(con, "late_events_dropped", {"watermark_s": 60}, slice={"device": "android"},
                                 dims=DIMS, grain_minutes=60))
    loose = _cells(golden_under(con, "late_events_dropped", {"watermark_s": 1e6}, slice={"device": "android"},
                                dims=DIMS, grain_minutes=60))
    assert loose == golden   # nothing arrives 11 days late
    total = [sum(v[i] for v in strict.values()) for i in range(len(COMPONENTS))]
    full = [sum(v[i] for v in golden.values()) for i in range(len(COMPONENTS))]
    play = COMPONENTS.index("play_ms")
    assert total[play] < full[play]
    # only android cells move
    changed = {k for k in golden.keys() | strict.keys() if golden.get(k) != strict.get(k)}
    assert changed and all(k[DIMS.index("device") + 1] == "android" for k in changed)
    # the published streaming output is the fixture's cut (every session, 120 s), exactly
    published = _cells(pq.read_table(FIXTURES / "streaming_watermark" / "streaming.parquet"))
    assert published == _cells(golden_under(con, "late_events_dropped", {"watermark_s": 120}, dims=DIMS,
                                            grain_minutes=60))


def test_golden_under_a_share_hits_that_share_of_the_slice(golden_con):
    con = golden_con("clean")
    slice_ = {"device": "roku"}
    full = golden_under(con, "sessions_lost", {"share": 1.0}, slice=slice_, dims=["device"], grain_minutes=60)
    half = golden_under(con, "sessions_lost", {"share": 0.5}, slice=slice_, dims=["device"], grain_minutes=60)
    base = golden_under(con, "sessions_lost", {"share": 0.5}, slice={"device": "nope"}, dims=["device"],
                        grain_minutes=60)
    attempts = {r["device"]: r["attempts"] for r in base.to_pylist()}
    assert "roku" not in {r["device"] for r in full.to_pylist()}
    half_roku = next(r["attempts"] for r in half.to_pylist() if r["device"] == "roku")
    assert 0.35 * attempts["roku"] < half_roku < 0.65 * attempts["roku"]
    assert {r["device"]: r["attempts"] for r in half.to_pylist() if r["device"] != "roku"} == \
        {d: n for d, n in attempts.items() if d != "roku"}


def test_golden_tables_survive_variant_runs(golden_con):
    con = golden_con("clean")
    before = con.execute("SELECT count(*), sum(play_ms) FROM g_facts").fetchall()
    golden_under(con, "late_events_dropped", {"watermark_s": 5}, dims=DIMS, grain_minutes=60)
    assert con.execute("SELECT count(*), sum(play_ms) FROM g_facts").fetchall() == before
    leftovers = con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'm%\\_%' ESCAPE '\\'"
                            ).fetchall()
    assert leftovers == []


def test_unknown_mechanism_and_missing_parameter_are_config_errors(golden_con):
    con = golden_con("clean")
    with pytest.raises(ConfigError, match="unknown mechanism 'late_event_dropped'"):
        golden_under(con, "late_event_dropped", dims=DIMS, grain_minutes=60)
    with pytest.raises(ConfigError, match="needs its parameter 'watermark_s'"):
        golden_under(con, "late_events_dropped", dims=DIMS, grain_minutes=60)


def test_catalogue_names_the_generators_fault_kinds_the_same_way():
    names = set(load_catalogue().names())
    assert set(KINDS) <= names


def test_catalogue_errors_name_file_line_and_key(tmp_path):
    (tmp_path / "mechanisms").mkdir()
    (tmp_path / "mechanisms.yaml").write_text(
        "version: 1\nmechanisms:\n  x:\n    family: f\n    how: event\n    phrase: p\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_catalogue(RulesFolder(str(tmp_path)))
    assert "mechanisms.yaml:5" in str(err.value.file) and "how must be one of" in err.value.message
    (tmp_path / "mechanisms.yaml").write_text(
        "version: 1\nmechanisms:\n  x:\n    family: f\n    how: facts\n    phrase: p\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="needs its overlay mechanisms/x.sql"):
        load_catalogue(RulesFolder(str(tmp_path)))


def test_variants_evaluated_side_by_side_equal_each_alone(golden_con):
    """deltas() keys each variant's copy of a session apart in one golden rerun (and one
    query for the facts overlays): the result must be what each variant gives alone."""
    from auditor.mechanisms.variant import SliceVariants, Variant

    con = golden_con("streaming_watermark")
    cat = load_catalogue()
    variants = [Variant(cat.get("late_events_dropped"), {"watermark_s": 60}),
                Variant(cat.get("late_events_dropped"), {"watermark_s": 5}),
                Variant(cat.get("missing_first_frame"), {"share": 1.0}),
                Variant(cat.get("missing_first_frame"), {"share": 0.3}),
                Variant(cat.get("stray_events_counted")),
                Variant(cat.get("preroll_exit_not_ebvs")),
                Variant(cat.get("inactivity_timeout"), {"timeout_s": 30}),
                Variant(cat.get("window_offset"), {"offset_minutes": 30}),
                Variant(cat.get("short_exits_not_ebvs"), {"min_wait_s": 2}),
                Variant(cat.get("duplicates_not_removed"))]

    def rows(table):
        return sorted(tuple(r.values()) for r in table.to_pylist() if any(r[c] for c in COMPONENTS))

    with SliceVariants(con, {"device": "android"}, grain_ms=3_600_000, dims=DIMS) as sv:
        together = sv.deltas(variants, dims=DIMS, grain_ms=3_600_000)
        alone = [sv.delta(v.mechanism, v.params, dims=DIMS, grain_ms=3_600_000) for v in variants]
    assert [rows(t) for t in together] == [rows(t) for t in alone]
    assert sum(bool(rows(t)) for t in together) >= 6   # the comparison is not between empty tables


def test_rows_read_once_for_several_slices_give_the_same_variants(golden_con):
    """SlicesRows reads golden's raw rows once for all the slices a search covers; each
    slice's variants must be what reading them itself gives."""
    from auditor.mechanisms.variant import SlicesRows, SliceVariants, Variant

    con = golden_con("streaming_watermark")
    cat = load_catalogue()
    variants = [Variant(cat.get("late_events_dropped"), {"watermark_s": 60}), Variant(cat.get("preroll_exit_not_ebvs")),
                Variant(cat.get("missing_first_frame"), {"share": 1.0})]
    slices = [{"device": "android"}, {"device": "ios", "content_type": "live"}]

    def deltas(slice_, rows=None):
        with SliceVariants(con, slice_, grain_ms=3_600_000, dims=DIMS, rows=rows) as sv:
            return [sorted(map(tuple, (r.values() for r in t.to_pylist())))
                    for t in sv.deltas(variants, dims=DIMS, grain_ms=3_600_000)]
    with SlicesRows(con, slices) as rows:
        assert rows.table is not None
        shared = [deltas(s, rows) for s in slices]
    assert shared == [deltas(s) for s in slices]
    assert all(any(d) for d in shared[0])
    assert SlicesRows(con, [{}, {"device": "ios"}]).table is None   # every session: nothing to share
