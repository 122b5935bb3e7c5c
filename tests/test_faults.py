"""Fault specs: the [PIPELINE/]KIND:SLICE[:PARAM] syntax and the catalogue."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from auditor.errors import ConfigError
from auditor.synth.faults import KINDS, PIPELINES, Fault, parse_fault
from auditor.synth.traffic import DIMENSIONS, VALUES


def test_parse_full_spec():
    f = parse_fault("batch/missing_first_frame:device=roku&player_version=5.2:0.5")
    assert f == Fault("batch", "missing_first_frame", (("device", "roku"), ("player_version", "5.2")), 0.5)
    assert f.value == 0.5
    assert f.to_json()["slice"] == {"device": "roku", "player_version": "5.2"}
    assert f.to_json()["params"] == {"share": 0.5}


def test_defaults_pipeline_and_param_per_kind():
    f = parse_fault("late_events_dropped:*")
    assert (f.pipeline, f.slice, f.param, f.value) == ("streaming", (), None, 120.0)
    assert parse_fault("fatal_error_as_ebvs:cdn=edgio").pipeline == "batch"
    assert parse_fault("streaming/fatal_error_as_ebvs:cdn=edgio").pipeline == "streaming"


@pytest.mark.parametrize("spec, message", [
    ("missing_first_frame", "cannot parse"),
    ("no_such_kind:*", "unknown fault kind"),
    ("nightly/missing_first_frame:*", "unknown pipeline"),
    ("missing_first_frame:device", "bad slice term"),
    ("missing_first_frame:colour=red", "unknown dimension"),
    ("missing_first_frame:device=a&device=b", "1-3 distinct"),
    ("missing_first_frame:cdn=a&device=b&os=c&country=d", "1-3 distinct"),
    ("missing_first_frame:*:2", "out of range"),
    ("missing_first_frame:*:lots", "must be a number"),
    ("fatal_error_as_ebvs:*:3", "takes no parameter"),
])
def test_bad_specs_are_config_errors_with_a_hint(spec, message):
    with pytest.raises(ConfigError) as err:
        parse_fault(spec, DIMENSIONS)
    assert message in str(err.value)
    assert err.value.exit_code == 2


def test_every_kind_is_documented_in_the_fixtures_readme():
    from pathlib import Path
    readme = (Path(__file__).parents[1] / "fixtures" / "README.md").read_text()
    for name, kind in KINDS.items():
        assert f"`{name}`" in readme, name
        assert kind.mechanism in ("events", "option", "facts")
        assert all(d in ("up", "down") for _, d in kind.moves)


slices = st.lists(st.sampled_from(DIMENSIONS), min_size=0, max_size=3, unique=True).flatmap(
    lambda dims: st.tuples(*[st.tuples(st.just(d), st.sampled_from(VALUES[d])) for d in dims]))


@given(kind=st.sampled_from(sorted(KINDS)), pipeline=st.sampled_from(PIPELINES), slice_=slices,
       param=st.one_of(st.none(), st.floats(0.01, 1.0)))
def test_label_round_trips_through_the_parser(kind, pipeline, slice_, param):
    if KINDS[kind].param_name is None:
        param = None
    f = Fault(pipeline, kind, tuple(sorted(slice_)), param)
    again = parse_fault(f.label(), DIMENSIONS)
    assert (again.pipeline, again.kind, again.slice) == (f.pipeline, f.kind, f.slice)
    assert again.param == (None if param is None else float(f"{param:g}"))
