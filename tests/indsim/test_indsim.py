"""Tests of the independent simulator: the physics that could go wrong, its labels and its trace files."""

from __future__ import annotations

import gzip
import importlib.util
import math
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent


def _load() -> ModuleType:
    # loaded by path: the tests run with --import-mode=importlib and tests/ is no package
    if "indsim" in sys.modules:
        return sys.modules["indsim"]
    spec = importlib.util.spec_from_file_location("indsim", HERE / "indsim.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["indsim"] = module
    spec.loader.exec_module(module)
    return module


indsim = _load()


def _stand_still(ambient: float, distance: float, seconds: float, actions: list[Any], **kw: Any) -> Any:
    spec = indsim.simple_scene(ambient, distance, seconds, **kw)
    spec.people[0].actions = actions
    return spec


def test_empty_room_noise_is_about_0_15_c_and_independent() -> None:
    result = indsim.render(indsim.simple_scene(22.0, None, seconds=40.0))
    std = result.pixels.std(axis=0)
    assert 0.1 <= float(np.median(std)) <= 0.25
    assert std.min() > 0.08 and std.max() < 0.3
    fluct = result.pixels - result.pixels.mean(axis=0)
    right = np.corrcoef(fluct[:, :, :-1].ravel(), fluct[:, :, 1:].ravel())[0, 1]
    later = np.corrcoef(fluct[:-1].ravel(), fluct[1:].ravel())[0, 1]
    assert abs(right) < 0.1 and abs(later) < 0.1
    # a uniform room reads close to its ambient
    assert abs(float(np.median(result.pixels)) - 22.0) < 1.0


def test_values_are_quantised() -> None:
    spec = indsim.random_scene(np.random.default_rng(11), 10.0, people=2)
    result = indsim.render(spec)
    assert result.pixels.shape == (100, 8, 8)
    assert np.all(np.abs(result.pixels * 4 - np.round(result.pixels * 4)) < 1e-9)
    assert np.all(np.abs(result.thermistor * 16 - np.round(result.thermistor * 16)) < 1e-9)
    assert result.thermistor.mean() > spec.ambient_c  # the board runs warm


@pytest.mark.parametrize("ambient", [20.0, 29.0])
def test_near_person_is_warmer_and_larger_than_far(ambient: float) -> None:
    empty = indsim.render(indsim.simple_scene(ambient, None)).pixels.mean(axis=0)
    near = indsim.render(indsim.simple_scene(ambient, 1.0)).pixels.mean(axis=0) - empty
    far = indsim.render(indsim.simple_scene(ambient, 4.5)).pixels.mean(axis=0) - empty
    near_px = int((near > 1.0).sum())
    far_px = int((far > 1.0).sum())
    assert near_px >= 10
    assert near_px >= 4 * max(far_px, 1)
    assert near.max() > far.max() + 1.0
    assert far.max() > 0.5  # still faintly there at 4.5 m
    assert near.max() < 35.5 - ambient + 0.5  # never warmer than skin


def test_contrast_is_lower_in_a_warm_room() -> None:
    def excess(ambient: float) -> float:
        empty = indsim.render(indsim.simple_scene(ambient, None)).pixels.mean(axis=0)
        person = indsim.render(indsim.simple_scene(ambient, 1.5)).pixels.mean(axis=0)
        return float((person - empty).max())

    assert excess(29.0) < excess(18.0) - 1.0


def test_face_is_warmer_than_the_back_of_the_head() -> None:
    facing = indsim.render(indsim.simple_scene(20.0, 1.2))
    away = _stand_still(
        20.0, 1.2, 3.0, [indsim.Action("stand", duration_s=1e9, facing="yaw", yaw=math.pi / 2)]
    )
    away.people[0].yaw0 = math.pi / 2
    away_r = indsim.render(away)
    assert facing.orientation[-1] == "facing" and away_r.orientation[-1] == "away"
    assert facing.pixels[:, :3].mean(axis=0).max() > away_r.pixels[:, :3].mean(axis=0).max() + 0.5


def test_labels_agree() -> None:
    seqs = np.random.SeedSequence(7).spawn(12)
    behaviours = list(indsim.BEHAVIOURS)
    for i, seq in enumerate(seqs):
        rng = np.random.default_rng(seq)
        beh = [behaviours[i % len(behaviours)], behaviours[(3 * i + 1) % len(behaviours)]][: 1 + i % 2]
        spec = indsim.random_scene(rng, 30.0, behaviours=beh)
        r = indsim.render(spec)
        empty = r.count == 0
        assert np.array_equal(empty, np.array([p == "" for p in r.posture]))
        assert np.array_equal(empty, np.array([o == "" for o in r.orientation]))
        assert np.array_equal(empty, np.isnan(r.distance_m))
        assert np.array_equal(empty, r.primary < 0)
        assert not np.any(r.since_start & empty)
        assert set(r.posture) <= {"", "standing", "sitting", "lying"}
        assert set(r.orientation) <= {"", "facing", "side", "away"}
        assert r.count.max() <= len(spec.people)
        assert np.all(r.distance_m[~empty] > 0.3) and np.all(r.distance_m[~empty] < 8.0)
        # since_start only ever switches off, never back on for the same person
        for k in range(1, len(r.t)):
            if r.since_start[k] and r.primary[k] == r.primary[k - 1]:
                assert r.since_start[k - 1]


def test_a_passer_by_is_counted_only_while_in_view() -> None:
    spec = indsim.random_scene(np.random.default_rng(3), 30.0, behaviours=["pass"], distractors=False)
    person = spec.people[0]
    person.start_s = 1.0
    act = person.actions[0]
    person.y0 = act.y = 2.0
    r = indsim.render(spec)
    assert r.count[0] == 0 and r.count[-1] == 0
    assert r.count.max() == 1
    seen = r.count > 0
    assert not r.since_start.any()
    sides = [o for o, s in zip(r.orientation, seen, strict=True) if s]
    assert sides.count("side") >= 0.8 * len(sides)
    assert {p for p, s in zip(r.posture, seen, strict=True) if s} == {"standing"}


def test_someone_standing_from_the_start_is_since_start() -> None:
    r = indsim.render(indsim.simple_scene(24.0, 2.0, 5.0))
    assert r.since_start.all() and (r.count == 1).all()
    assert np.allclose(r.distance_m, 2.0, atol=0.15)


def test_a_fall_ends_lying_and_lower_in_the_image() -> None:
    acts = [
        indsim.Action("stand", duration_s=3.0),
        indsim.Action("fall", duration_s=1.0),
        indsim.Action("lie", duration_s=1e9),
    ]
    spec = _stand_still(20.0, 2.5, 10.0, acts, height_m=1.2, tilt_deg=20.0)
    empty = indsim.render(indsim.simple_scene(20.0, None, 10.0, height_m=1.2, tilt_deg=20.0)).pixels
    r = indsim.render(spec)
    assert r.posture[0] == "standing" and r.posture[-1] == "lying"
    assert r.count[-1] == 1

    def warm_row(frames: slice) -> float:
        excess = np.clip((r.pixels[frames] - empty[frames]).mean(axis=0) - 0.5, 0.0, None)
        return float((excess.sum(axis=1) * np.arange(8)).sum() / excess.sum())

    assert warm_row(slice(80, 100)) > warm_row(slice(0, 25)) + 1.0


def test_a_warm_seat_is_not_a_person() -> None:
    spec = indsim.random_scene(
        np.random.default_rng(0), 90.0, behaviours=["sit_bench"], distractors=False, ambient_c=20.0
    )
    r = indsim.render(spec)
    assert "sitting" in r.posture
    last_sit = max(k for k, p in enumerate(r.posture) if p == "sitting")
    first_sit = r.posture.index("sitting")
    before = np.nonzero(r.count[:first_sit] == 0)[0]
    after = np.nonzero(r.count[last_sit:] == 0)[0] + last_sit
    assert len(before) > 10 and len(after) > 50
    excess = r.pixels[after[:30]].mean(axis=0) - r.pixels[before].mean(axis=0)
    assert excess.max() > 0.6  # the seat is still warm ...
    assert (r.count[after] == 0).all()  # ... and nobody is counted


def test_a_wheelchair_user_is_sitting() -> None:
    spec = indsim.random_scene(np.random.default_rng(5), 40.0, behaviours=["wheelchair"])
    r = indsim.render(spec)
    assert {p for p in r.posture if p} == {"sitting"}


def test_scene_mix_and_envelope() -> None:
    rng = np.random.default_rng(1)
    specs = [indsim.random_scene(rng, 60.0) for _ in range(300)]
    n = np.array([len(s.people) for s in specs])
    assert 0.08 < np.mean(n == 0) < 0.23
    assert 0.35 < np.mean(n == 1) < 0.55
    assert 0.17 < np.mean(n == 2) < 0.33
    assert 0.08 < np.mean(n >= 3) < 0.23
    amb = np.array([s.ambient_c for s in specs])
    assert amb.min() >= 15.0 and amb.max() <= 30.0 and np.mean(amb >= 25.0) > 0.35
    assert all(1.0 <= s.height_m <= 2.2 and 0.0 <= s.tilt_deg <= 30.0 for s in specs)
    assert all(4.0 <= s.room.depth_m <= 8.0 for s in specs)
    assert all(s.distractors for s in specs if not s.people)


def test_render_is_fast_enough() -> None:
    spec = indsim.random_scene(
        np.random.default_rng(2), 60.0, behaviours=["stand", "stand", "approach_watch", "pass"]
    )
    start = time.perf_counter()
    r = indsim.render(spec)
    assert time.perf_counter() - start < 5.0
    assert len(r.t) == 600 and r.count.max() >= 2


def test_generate_is_deterministic(tmp_path: Path) -> None:
    a = indsim.generate(tmp_path / "a", seed=4, scenes=2, seconds=5.0)
    b = indsim.generate(tmp_path / "b", seed=4, scenes=2, seconds=5.0)
    c = indsim.generate(tmp_path / "c", seed=5, scenes=2, seconds=5.0)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert [p.read_bytes() for p in a] != [p.read_bytes() for p in c]


def test_trace_is_readable_by_heatcast(tmp_path: Path) -> None:
    from heatcast.sensor.trace import TraceReader

    spec = indsim.random_scene(np.random.default_rng(9), 8.0, behaviours=["stand", "pass"])
    result = indsim.render(spec)
    for name in ("scene.csv", "scene.csv.gz"):
        path = indsim.write_trace(tmp_path / name, result, spec)
        with TraceReader(path) as trace:
            assert trace.meta["heatcast-trace"] == "1"
            assert trace.meta["mount"] == "wall" and trace.fps == 10.0
            assert float(trace.meta["height_m"]) == pytest.approx(spec.height_m, abs=0.01)
            records = list(trace)
        assert len(records) == len(result.t)
        for k, rec in enumerate(records):
            assert np.array_equal(np.asarray(rec.frame.pixels, float), result.pixels[k])
            assert rec.frame.t == pytest.approx(result.t[k])
            assert rec.labels.count == result.count[k]
            assert rec.labels.presence == (result.count[k] > 0)
            assert (rec.labels.posture or "") == result.posture[k]
            assert (rec.labels.orientation or "") == result.orientation[k]
            assert rec.extra["since_start"] == ("1" if result.since_start[k] else "0")
    with gzip.open(tmp_path / "scene.csv.gz", "rt") as fh:
        head = [next(fh) for _ in range(10)]
    assert head[0] == "# heatcast-trace: 1\n"
    assert head[6] == "# source: heatcast tests/indsim (independent simulator)\n"
    assert head[9].startswith("t,thermistor,p00,p01,")


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert indsim.main(["--out", str(tmp_path), "--seed", "1", "--scenes", "1", "--seconds", "2"]) == 0
    files = sorted(tmp_path.glob("*.csv.gz"))
    assert len(files) == 1 and str(files[0]) in capsys.readouterr().out


def test_image_orientation_row_0_top_column_0_left() -> None:
    empty = indsim.render(indsim.simple_scene(20.0, None, tilt_deg=0.0)).pixels.mean(axis=0)
    spec = indsim.simple_scene(20.0, 2.0, tilt_deg=0.0)
    spec.people[0].x0 = -0.8  # to the left, as seen looking out
    excess = indsim.render(spec).pixels.mean(axis=0) - empty
    cols = np.clip(excess - 0.5, 0.0, None).sum(axis=0)
    assert cols[:4].sum() > 3 * cols[4:].sum()
    # the sensor is at 1.5 m and looks level: above the head (top rows) is only wall, the body is below
    rows = np.clip(excess - 0.5, 0.0, None).sum(axis=1)
    assert rows[:2].sum() < 0.1 * rows[4:].sum()
