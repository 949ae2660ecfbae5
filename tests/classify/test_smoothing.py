"""Smoothing: steady posture and orientation, dwell and facing time, for a decided count."""

from __future__ import annotations

import numpy as np
import pytest

from heatcast.classify.smoothing import Smoother

pytestmark = pytest.mark.tflite

EVEN = [1 / 3] * 3


def one_hot(i: int, n: int = 3, p: float = 0.9) -> list[float]:
    out = [(1 - p) / (n - 1)] * n
    out[i] = p
    return out


def test_an_audience_starts_and_ends_with_the_count() -> None:
    s = Smoother()
    assert not s.decided(0.0, 0, EVEN, EVEN, 0.9).presence
    a = s.decided(0.1, 1, one_hot(0), one_hot(0), 0.9)
    assert a.presence and a.count == 1 and a.posture == "standing" and a.orientation == "facing"
    assert a.confidence == 0.9
    gone = s.decided(0.2, 0, EVEN, EVEN, 0.95)
    assert not gone.presence and gone.count == 0 and gone.posture is None and gone.orientation is None


def test_posture_and_orientation_do_not_flicker() -> None:
    s = Smoother()
    rng = np.random.default_rng(2)
    seen_posture, seen_orient = [], []
    for i in range(300):
        # the model wavers: mostly sitting side-on, now and then a frame says otherwise
        odd = rng.random() < 0.2
        posture = [0.5, 0.4, 0.1] if odd else [0.2, 0.7, 0.1]
        orient = [0.5, 0.4, 0.1] if odd else [0.2, 0.7, 0.1]
        a = s.decided(i / 10, 2, posture, orient, 0.95)
        seen_posture.append(a.posture)
        seen_orient.append(a.orientation)
        assert a.count == 2
    assert set(seen_posture) == {"sitting"}
    assert set(seen_orient) == {"side"}


def test_a_real_change_comes_through_quickly() -> None:
    s = Smoother()
    for i in range(20):
        a = s.decided(i / 10, 1, one_hot(0), one_hot(1), 0.95)
    assert (a.posture, a.orientation) == ("standing", "side")
    changed_at = None
    for i in range(20, 40):
        a = s.decided(i / 10, 1, one_hot(1), one_hot(0), 0.95)
        if changed_at is None and a.posture == "sitting" and a.orientation == "facing":
            changed_at = i
    assert changed_at is not None and changed_at - 20 <= 4


def test_dwell_and_facing_time() -> None:
    s = Smoother()
    s.decided(0.0, 0, EVEN, EVEN, 1.0)
    for i in range(1, 31):  # 3 s side-on
        a = s.decided(10 + i / 10, 1, one_hot(0), one_hot(1), 0.95)
    assert a.dwell_s == pytest.approx(2.9, abs=0.05)
    assert a.facing_s == 0.0
    for i in range(31, 81):  # then 5 s facing
        a = s.decided(10 + i / 10, 1, one_hot(0), one_hot(0), 0.95)
    assert a.orientation == "facing"
    assert 4.0 < a.facing_s <= 5.0
    assert a.dwell_s == pytest.approx(7.9, abs=0.05)
    a = s.decided(20.0, 0, EVEN, EVEN, 1.0)
    assert a.dwell_s == 0.0 and a.facing_s == 0.0
    a = s.decided(20.1, 1, one_hot(0), one_hot(0), 0.95)
    assert a.dwell_s == 0.0  # a new audience


def test_time_constants_are_in_seconds_not_frames() -> None:
    """At 1 fps a change shows on the next frame; it does not take ten seconds."""
    s = Smoother()
    s.decided(0.0, 1, one_hot(0), one_hot(0), 0.95)
    s.decided(1.0, 1, one_hot(0), one_hot(0), 0.95)
    a = s.decided(2.0, 3, one_hot(2), one_hot(2), 0.95)
    assert (a.count, a.posture, a.orientation) == (3, "lying", "away")
