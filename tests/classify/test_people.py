"""The detector and tracker on their own: people who stand still, people side by side, restarts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from classify_helpers import load_indsim

from heatcast.classify.detector import detect
from heatcast.classify.people import PeopleCounter

indsim = load_indsim()


def _counts(counter: PeopleCounter, result: Any) -> np.ndarray:
    return np.array([len(counter.step(px, float(t))) for px, t in zip(result.pixels, result.t, strict=True)])


def _walks_in_and_stands(seconds: float, distance: float, ambient: float = 22.0, seed: int = 3) -> Any:
    """One person walks in from the side 3 s in, stops facing the screen and stands still."""
    spec = indsim.simple_scene(ambient, distance, seconds=seconds, seed=seed)
    person = spec.people[0]
    person.start_s, person.x0 = 3.0, -4.0
    walk = indsim.Action("walk", x=0.0, y=person.y0, speed=1.0)
    person.actions = [walk, indsim.Action("stand", duration_s=1e9)]
    return indsim.render(spec)


def test_a_person_standing_still_for_minutes_is_kept() -> None:
    result = _walks_in_and_stands(240.0, 2.5)
    counts = _counts(PeopleCounter(), result)
    there = result.count == 1
    assert there[-1] and not there[0]
    assert (counts[~there] == 0).mean() > 0.95
    still = np.flatnonzero(there)[50:]  # from 5 s after arriving to the end, about 3.5 minutes
    assert (counts[still] == 1).mean() > 0.99


def test_a_faint_person_far_away_in_a_warm_room_is_found() -> None:
    result = _walks_in_and_stands(40.0, 4.5, ambient=28.0)
    counts = _counts(PeopleCounter(), result)
    there = np.flatnonzero(result.count == 1)[30:]
    assert (counts[there] >= 1).mean() > 0.9


def test_a_remembered_room_sees_who_stands_there_at_a_restart() -> None:
    empty = indsim.render(indsim.simple_scene(22.0, None, seconds=20.0, seed=5))
    counter = PeopleCounter()
    _counts(counter, empty)
    room = counter.empty_room()
    assert room is not None and len(room) == 64
    # the kiosk restarts with someone already standing still in view
    standing = indsim.render(indsim.simple_scene(22.0, 2.0, seconds=20.0, seed=5))
    assert (standing.count == 1).all()
    cold = _counts(PeopleCounter(), standing)
    warm_counter = PeopleCounter()
    warm_counter.restore(room)
    warm = _counts(warm_counter, standing)
    # from a cold start they are mostly part of the room; remembered, they are there at once
    assert (cold == 1).mean() < 0.5
    assert (warm == 1).mean() > 0.95 and warm[0] == 1
    assert warm_counter.empty_room() is None  # and while they are there, no room is kept


def test_a_remembered_room_that_no_longer_fits_is_dropped() -> None:
    counter = PeopleCounter()
    counter.restore([20.0 + (i % 8) for i in range(64)])  # a view with a strong left-right pattern
    frame = np.full((8, 8), 23.0, dtype=np.float32)
    for k in range(30):
        assert counter.step(frame, k / 10) == []
    assert not counter.room.restored


def _blob(rows: float, col: float, peak: float, sigma: float = 0.7) -> np.ndarray:
    r, c = np.indices((8, 8))
    return peak * np.exp(-((r - rows) ** 2 + (c - col) ** 2) / (2 * sigma**2))


def test_two_people_side_by_side_are_two_and_one_tall_person_is_one() -> None:
    pair = _blob(4, 2, 3.0) + _blob(4, 5, 2.5)
    assert len(detect(pair, pair + 22, 0.1)) == 2
    # head and body of one person: two warm spots above each other
    tall = _blob(2, 3.5, 3.0, 0.6) + _blob(5, 3.5, 2.5, 0.9)
    assert len(detect(tall, tall + 22, 0.1)) == 1
    # the noise floor: a bump of three noise units is nobody
    assert detect(_blob(4, 4, 0.3), _blob(4, 4, 0.3) + 22, 0.1) == []


def test_components_are_scipys_8_connected_labels() -> None:
    from scipy import ndimage

    from heatcast.classify.detector import components

    rng = np.random.default_rng(4)
    for _ in range(300):
        mask = rng.random((8, 8)) < rng.uniform(0.05, 0.6)
        labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
        ours = components(mask)
        assert len(ours) == n
        assert sorted(tuple(np.flatnonzero(b)) for b in ours) == sorted(
            tuple(np.flatnonzero(labels == k)) for k in range(1, n + 1)
        )


def test_assignment_is_scipys_least_cost_where_it_is_exact() -> None:
    from scipy.optimize import linear_sum_assignment

    from heatcast.classify.tracker import EXACT_UP_TO, _least_cost

    rng = np.random.default_rng(5)
    checked = 0
    for _ in range(2000):
        n_t, n_d = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        if (n_d + 1) ** n_t > EXACT_UP_TO:
            continue
        cost = rng.uniform(0, 3, (n_t, n_d))
        cost[cost > 2.2] = np.inf  # outside the gate
        rows, cols = _least_cost(cost.tolist())
        r, c = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e6))
        keep = np.isfinite(cost[r, c])
        assert len(rows) == int(keep.sum())
        ours = sum(cost[i, j] for i, j in zip(rows, cols, strict=True))
        assert ours == pytest.approx(cost[r, c][keep].sum())
        assert len(set(rows)) == len(rows) and len(set(cols)) == len(cols)
        checked += 1
    assert checked > 500

