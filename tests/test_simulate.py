"""Simulated pipelines: golden without faults, and each fault moves what it claims, where it claims."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from auditor.golden import calculator as golden
from auditor.synth.dataset import measure_effect
from auditor.synth.faults import KINDS, parse_fault
from auditor.synth.generate import DEFAULT_START, generate_events
from auditor.synth.simulate import PUBLISHED_DIMS, simulate, simulate_pipeline, slice_mask

END = DEFAULT_START.replace(hour=DEFAULT_START.hour + 1)

# a slice per kind where the mechanism has something to act on
SLICES = {
    "missing_first_frame": "device=roku&player_version=5.2:0.5",
    "late_events_dropped": "device=android:60",
    "preroll_exit_not_ebvs": "device=smart_tv",
    "duplicates_not_removed": "country=br",
    "seek_stall_as_rebuffering": "device=web&player_version=8.6",
    "fatal_error_as_ebvs": "cdn=akamai&content_type=vod",
    "events_after_end_counted": "device=web",
    "ad_time_in_startup": "device=smart_tv&content_type=vod",
    "session_end_attribution": "content_type=live",
    "sessions_lost": "country=br:0.2",
    "short_exits_not_ebvs": "device=android",
    "bitrate_in_bps": "isp=comcast",
}


@pytest.fixture(scope="module")
def events() -> pa.Table:
    return generate_events(6000, 5)


@pytest.fixture(scope="module")
def base(events) -> golden.GoldenResult:
    return golden.compute_golden(events, window_minutes=60, with_sessions=True)


def test_every_kind_has_a_test_slice():
    assert set(SLICES) == set(KINDS)


def test_without_faults_both_pipelines_equal_golden_exactly(events):
    expected = golden.compute_golden(events, dims=PUBLISHED_DIMS)
    base, published = simulate(events, [])
    for pub in published.values():
        assert pub.aggregates.equals(expected.aggregates)
        assert pub.sessions.equals(base.sessions.sort_by("session_id"))


def test_published_rows_are_in_canonical_order(events):
    _, published = simulate(events, [parse_fault("sessions_lost:country=us:0.5")])
    for pub in published.values():
        keys = [(c, "ascending") for c in ("window_start", *PUBLISHED_DIMS)]
        assert pub.aggregates.equals(pub.aggregates.sort_by(keys))
        assert pub.sessions["session_id"].to_pylist() == sorted(pub.sessions["session_id"].to_pylist())


def _sorted(t: pa.Table) -> pa.Table:
    return t.sort_by([("session_id", "ascending"), ("window_start", "ascending")])


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_fault_moves_its_metrics_in_its_slice_and_nothing_outside(kind, events, base):
    fault = parse_fault(f"{kind}:{SLICES[kind]}")
    pub = simulate_pipeline(fault.pipeline, events, [fault], base)
    # outside the slice every session keeps its golden facts
    g, p = base.sessions, pub.sessions
    assert _sorted(p.filter(~slice_mask(p, fault.slice))).equals(_sorted(g.filter(~slice_mask(g, fault.slice))))
    # ...and so does every published aggregate row outside it
    if all(d in PUBLISHED_DIMS for d, _ in fault.slice):
        gold = golden.compute_golden(events, dims=PUBLISHED_DIMS).aggregates
        out_p = pub.aggregates.filter(~slice_mask(pub.aggregates, fault.slice))
        out_g = gold.filter(~slice_mask(gold, fault.slice))
        assert out_p.equals(out_g)
    effects = measure_effect(fault, g, p, DEFAULT_START, END)
    claimed = dict(fault.spec.moves)
    main = effects[0]
    assert main["direction"] == claimed[main["metric"]], main
    assert main["slice_candidate"] != main["slice_golden"]
    for e in effects[1:]:   # side effects may be absent in small data, never the other way
        assert e["direction"] in ("none", claimed[e["metric"]]), e


def test_two_faults_on_one_pipeline_compose(events, base):
    a = parse_fault("missing_first_frame:device=roku")
    b = parse_fault("preroll_exit_not_ebvs:device=roku&content_type=vod")
    both = simulate_pipeline("batch", events, [a, b], base)
    only_a = simulate_pipeline("batch", events, [a], base)
    assert not both.aggregates.equals(only_a.aggregates)
    # the streaming pipeline is untouched by batch faults
    assert simulate_pipeline("streaming", events, [a, b], base).sessions.equals(base.sessions.sort_by("session_id"))


def test_share_selects_a_stable_fraction_of_sessions(events, base):
    f = parse_fault("missing_first_frame:*:0.3")
    p = simulate_pipeline("batch", events, [f], base).sessions
    g = base.sessions.sort_by("session_id")
    lost = np.sum(g["started"].to_numpy() - p["started"].to_numpy())
    assert 0.22 < lost / g["started"].to_numpy().sum() < 0.38
    assert simulate_pipeline("batch", events, [f], base).sessions.equals(p)


def test_a_session_whose_every_event_a_fault_drops_is_lost(events, base):
    # the watermark pipeline cannot count a session it never saw: a session whose events
    # all arrived late is gone from its output, not kept with golden's facts
    late = pc.greater(pc.subtract(events["received_at"].cast(pa.int64()), events["ts"].cast(pa.int64())),
                      120_000)
    per_session: dict[str, list[bool]] = {}
    for sid, is_late in zip(events["session_id"].to_pylist(), late.to_pylist()):
        per_session.setdefault(sid, []).append(bool(is_late))
    all_late = {sid for sid, flags in per_session.items() if all(flags)}
    counted = set(base.sessions["session_id"].to_pylist())
    assert all_late & counted, "the generated events need a counted session whose every event is late"
    pub = simulate_pipeline("streaming", events, [parse_fault("streaming/late_events_dropped:*:120")], base)
    assert not all_late & set(pub.sessions["session_id"].to_pylist())
