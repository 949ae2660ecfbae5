"""The whole pipeline on simulated scenes it never saw, and on real recordings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from classify_helpers import SHARED, simulate

from heatcast.classify.audience import Audience
from heatcast.classify.baseline import BaselinePipeline
from heatcast.classify.evaluate import decisions_from, evaluate, score
from heatcast.classify.pipeline import Pipeline
from heatcast.classify.tracebatch import read_trace_arrays, records_to_chunk

pytestmark = pytest.mark.tflite

Report = dict[str, Any]


def test_frame_by_frame_equals_arrays(sim_traces: list[Path]) -> None:
    chunk = read_trace_arrays(sim_traces[0])
    from heatcast.sensor.trace import TraceReader

    with TraceReader(sim_traces[0]) as r:
        frames = [rec.frame for rec in r]
    p = Pipeline()
    one = [p.update(f) for f in frames]
    p.reset()
    half = len(chunk) // 3
    many = p.run(chunk.pixels[:half], chunk.t[:half], chunk.thermistor[:half])
    many += p.run(chunk.pixels[half:], chunk.t[half:], chunk.thermistor[half:])
    assert len(one) == len(many) == len(frames)
    assert all(isinstance(a, Audience) for a in one)
    same = sum(a == b for a, b in zip(one, many, strict=True))
    assert same == len(one)


def test_reset_is_a_cold_start(sim_traces: list[Path]) -> None:
    chunk = read_trace_arrays(sim_traces[1])
    p = Pipeline()
    first = p.run(chunk.pixels, chunk.t, chunk.thermistor)
    p.reset()
    assert p.run(chunk.pixels, chunk.t, chunk.thermistor) == first


def _commonest_share(confusion: list[list[int]]) -> float:
    """The accuracy of always saying the commonest true class."""
    truth = np.array(confusion).sum(axis=1)
    return float(truth.max() / truth.sum())


@pytest.fixture(scope="module")
def unseen_report(unseen_scenes: list[Path]) -> Report:
    """heatcast eval's report for the shipped model on the unseen scenes."""
    return evaluate(Pipeline(), unseen_scenes)


@pytest.fixture(scope="module")
def baseline_report(unseen_scenes: list[Path]) -> Report:
    """The same for the background-subtraction baseline."""
    return evaluate(BaselinePipeline(), unseen_scenes)


def test_beats_the_baseline_on_unseen_scenes(unseen_report: Report, baseline_report: Report) -> None:
    ours, base = unseen_report, baseline_report
    for label in ("presence", "count", "posture", "orientation"):
        s = ours["labels"][label]
        assert s["frames"] > 100
        assert s["accuracy"] > base["labels"][label]["accuracy"], label
    for label in ("presence", "count", "posture"):
        assert ours["labels"][label]["macro_f1"] > base["labels"][label]["macro_f1"], label
    for label in ("presence", "count"):
        assert ours["labels"][label]["accuracy"] > _commonest_share(ours["labels"][label]["confusion"]), label
    assert ours["arrival_latency_frames"]["median"] <= 10  # within a second
    assert ours["arrival_latency_frames"]["missed"] == 0


@pytest.mark.xfail(
    strict=True, reason="issue 3 is open: orientation is near chance, its macro F1 level with the baseline's"
)
def test_orientation_macro_f1_beats_the_baseline(unseen_report: Report, baseline_report: Report) -> None:
    ours, base = unseen_report, baseline_report
    assert ours["labels"]["orientation"]["macro_f1"] > base["labels"]["orientation"]["macro_f1"]


@pytest.mark.xfail(strict=True, reason="issue 3 is open: posture and orientation miss their targets")
def test_posture_and_orientation_beat_always_saying_the_commonest_class(unseen_report: Report) -> None:
    ours = unseen_report
    for label in ("posture", "orientation"):
        assert ours["labels"][label]["accuracy"] > _commonest_share(ours["labels"][label]["confusion"]), label


@pytest.mark.xfail(strict=True, reason="issue 3 is open: presence lingers for seconds after people leave")
def test_presence_in_two_busy_scenes(sim_traces: list[Path]) -> None:
    ours = evaluate(Pipeline(), sim_traces)
    assert ours["labels"]["presence"]["accuracy"] > 0.9


def test_an_empty_room_with_warm_things_is_empty() -> None:
    """A scene with radiators, screens and lamps but nobody: (almost) never anyone there."""
    records = simulate(9090, 60.0, rate_per_min=0.001, initial_people=0)
    chunk = records_to_chunk(records)
    assert (chunk.count == 0).all()
    audiences = Pipeline().run(chunk.pixels, chunk.t, chunk.thermistor)
    false = sum(a.presence for a in audiences)
    assert false <= len(audiences) * 0.01


def test_real_recordings_beat_the_baseline_on_count_and_presence() -> None:
    path = SHARED / "snapshots.csv"
    chunk = read_trace_arrays(path)
    ours = score(decisions_from(Pipeline().run(chunk.pixels, chunk.t, chunk.thermistor), chunk))
    base = score(decisions_from(BaselinePipeline().run(chunk.pixels, chunk.t, chunk.thermistor), chunk))
    for label in ("presence", "count"):
        assert ours["labels"][label]["accuracy"] > base["labels"][label]["accuracy"], label
        assert ours["labels"][label]["macro_f1"] > base["labels"][label]["macro_f1"], label


def test_audiences_hold_nothing_but_the_profile(sim_traces: list[Path]) -> None:
    chunk = read_trace_arrays(sim_traces[0])
    for a in Pipeline().run(chunk.pixels[:200], chunk.t[:200], chunk.thermistor[:200]):
        assert set(a.to_json()) == {
            "t", "presence", "count", "posture", "orientation", "dwell_s", "facing_s", "confidence",
        }  # fmt: skip
        assert (a.posture is None) == (not a.presence)
        assert 0.0 <= a.confidence <= 1.0
