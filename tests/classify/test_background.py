"""The background model: drift, a person standing still, warm objects, cold start."""

from __future__ import annotations

import numpy as np
import pytest
from classify_helpers import noisy, room

from heatcast.classify.background import BLOCK, HOT_C, Background
from heatcast.classify.features import FeatureWindow

pytestmark = pytest.mark.tflite

PERSON = (slice(2, 7), slice(3, 5))


def feed(bg: Background, pictures: list[np.ndarray], fps: float, t0: float = 0.0) -> np.ndarray:
    diff = np.zeros((8, 8), np.float32)
    for i, p in enumerate(pictures):
        diff, _ = bg.subtract(p.astype(np.float32), t0 + i / fps, 25.0)
    return diff


def test_follows_slow_ambient_drift_over_hours() -> None:
    rng = np.random.default_rng(1)
    base = room(rng)
    bg = Background()
    hours = 3
    n = hours * 3600  # 1 fps
    drift = np.linspace(0.0, 3.0, n)  # 3 C over three hours
    pictures = [noisy(base + d, rng, 0.05) for d in drift]
    diff = feed(bg, pictures, fps=1.0)
    assert bg.bg is not None
    assert np.abs(bg.bg - (base + 3.0)).max() < 0.35
    assert np.abs(diff).max() < 0.6


def test_does_not_absorb_a_person_standing_still_for_minutes() -> None:
    rng = np.random.default_rng(2)
    base = room(rng)
    bg = Background()
    fps = 10.0
    empty = [noisy(base, rng) for _ in range(300)]
    feed(bg, empty, fps)
    person = base.copy()
    person[PERSON] += 5.0
    # five minutes without taking a step; the head turns now and then (face, hair)
    turned = person.copy()
    turned[2, 3:5] -= 1.0
    still = [noisy(turned if (i // 40) % 3 == 0 else person, rng) for i in range(int(5 * 60 * fps))]
    diff = feed(bg, still, fps, t0=30.0)
    assert diff[PERSON].mean() > 4.0
    # the rest of the room is still background
    outside = np.ones((8, 8), bool)
    outside[PERSON] = False
    assert np.abs(diff[outside]).mean() < 0.3


def test_a_lamp_switched_on_fades_into_the_background() -> None:
    rng = np.random.default_rng(9)
    base = room(rng)
    bg = Background()
    feed(bg, [noisy(base, rng) for _ in range(300)], 10.0)
    lit = base.copy()
    lit[0:2, 6:8] += 6.0  # a lamp comes on at once: it looks like an arrival ...
    diff = feed(bg, [noisy(lit, rng) for _ in range(300)], 10.0, t0=30.0)
    assert diff[0:2, 6:8].mean() > 5.0
    diff = feed(bg, [noisy(lit, rng) for _ in range(2400)], 10.0, t0=60.0)  # ... but never moves
    assert np.abs(diff).max() < 0.8


def test_a_heater_warming_up_slowly_is_followed() -> None:
    rng = np.random.default_rng(10)
    base = room(rng)
    bg = Background()
    feed(bg, [noisy(base, rng) for _ in range(300)], 10.0)
    pics = []
    for i in range(900):  # warms by 8 C over a minute, then stays
        warm = base.copy()
        warm[5:8, 0:2] += 8.0 * min(i / 600, 1.0)
        pics.append(noisy(warm, rng))
    diff = feed(bg, pics, 10.0, t0=30.0)
    assert np.abs(diff).max() < 0.8


def test_warm_objects_present_from_the_start_are_background() -> None:
    rng = np.random.default_rng(3)
    base = room(rng)
    base[6:8, 0:3] = 55.0  # radiator
    base[1:3, 5:8] = 33.0  # screen, as warm as a person
    bg = Background()
    diff = feed(bg, [noisy(base, rng) for _ in range(600)], 10.0)
    assert np.abs(diff).max() < 0.8
    # and the feature window never shows anything hotter than a person
    window = FeatureWindow()
    hot = base.copy()
    hot[0, 0] = HOT_C + 20
    x = window.step(hot, 0.0, 25.0)
    x = window.step(hot + np.where(hot > HOT_C, 10.0, 0.0).astype(np.float32), 0.1, 25.0)
    assert x[0, 0, :].tolist() == [0.0] * x.shape[-1]


def test_cold_start_with_a_person_in_view_recovers() -> None:
    rng = np.random.default_rng(4)
    base = room(rng)
    person = base.copy()
    person[PERSON] += 5.0
    bg = Background()
    fps = 10.0
    feed(bg, [noisy(person, rng) for _ in range(200)], fps)  # heatcast starts, someone stands there
    feed(bg, [noisy(base, rng) for _ in range(50)], fps, t0=20.0)  # they leave: 5 s
    assert bg.bg is not None
    assert np.abs(bg.bg[PERSON] - base[PERSON]).max() < 0.5
    # a person coming back to that spot shows up again
    diff = feed(bg, [noisy(person, rng) for _ in range(5)], fps, t0=25.0)
    assert diff[PERSON].mean() > 4.0


def test_cold_start_recovers_at_one_frame_per_second() -> None:
    rng = np.random.default_rng(5)
    base = room(rng)
    person = base.copy()
    person[PERSON] += 3.0
    bg = Background()
    feed(bg, [noisy(person, rng, 0.05) for _ in range(40)], 1.0)
    feed(bg, [noisy(base, rng, 0.05) for _ in range(2 * BLOCK)], 1.0, t0=40.0)
    assert bg.bg is not None
    assert np.abs(bg.bg[PERSON] - base[PERSON]).max() < 0.5


def test_people_filling_the_view_use_the_thermistor_for_drift() -> None:
    def moved(thermistor: bool) -> float:
        rng = np.random.default_rng(6)
        base = room(rng)
        bg = Background()
        for i in range(80):
            bg.subtract(noisy(base, rng), i / 10, 25.0)
        assert bg.bg is not None
        before = bg.bg.copy()
        crowd = base + 4.0
        shuffle = np.zeros((8, 8), np.float32)
        shuffle[3:5, 3:5] = 0.8  # somebody in the crowd always shifts about
        for i in range(6000):  # ten minutes of a full view while the room warms by 1 C
            board = 25.0 + i / 6000 if thermistor else None
            moving = shuffle * ((i // 20) % 2)
            bg.subtract(noisy(crowd + moving + i / 6000, rng), 8.0 + i / 10, board)
        return float((bg.bg - before).mean())

    with_board, without = moved(True), moved(False)
    assert 0.7 < with_board - without < 1.2  # the thermistor carried the room's 1 C
    assert with_board < 2.5  # and the 4 C crowd was not absorbed


@pytest.mark.parametrize("splits", [[1] * 40, [3, 7, 30], [40], [8, 8, 24], [5, 1, 1, 33]])
def test_frame_by_frame_equals_arrays(splits: list[int]) -> None:
    rng = np.random.default_rng(7)
    base = room(rng)
    pics = np.stack([noisy(base + (2.0 if 10 <= i < 25 else 0.0), rng) for i in range(40)]).astype(np.float32)
    t = np.arange(40) / 10.0
    th = np.full(40, 25.0)
    one = Background()
    ref = np.stack([one.subtract(p, float(ti), 25.0)[0] for p, ti in zip(pics, t, strict=True)])
    other = Background()
    parts = []
    start = 0
    for n in splits:
        d, _, _, _ = other.subtract_many(pics[start : start + n], t[start : start + n], th[start : start + n])
        parts.append(d)
        start += n
    assert np.array_equal(np.concatenate(parts), ref)
    assert one.bg is not None and other.bg is not None
    assert np.array_equal(one.bg, other.bg)


def test_hidden_marks_what_the_cold_start_may_have_absorbed() -> None:
    rng = np.random.default_rng(8)
    base = room(rng)
    person = base.copy()
    person[PERSON] += 5.0
    bg = Background()
    feed(bg, [noisy(person, rng) for _ in range(100)], 10.0)  # someone there from the start
    assert bg.hidden.min() > 0.9  # nothing confirmed yet: anywhere may hide a person
    feed(bg, [noisy(base, rng) for _ in range(40)], 10.0, t0=10.0)  # they leave
    assert (bg.hidden[PERSON] == 0).all()  # seen warm, then cooler: that was someone
    outside = np.ones((8, 8), bool)
    outside[PERSON] = False
    assert bg.hidden[outside].min() > 0.9
    feed(bg, [noisy(base, rng) for _ in range(600)], 1.0, t0=14.0)  # ten quiet minutes at 1 fps
    assert bg.hidden.max() < 0.1  # nothing ever changed there: a static room, not a person


def test_activity_tells_a_person_there_from_the_start_from_a_warm_object() -> None:
    rng = np.random.default_rng(11)
    base = room(rng)
    radiator = (slice(5, 7), slice(0, 2))
    base[radiator] += 8.0  # body-warm, there from the start, never moves
    person = base.copy()
    person[PERSON] += 5.0
    turned = person.copy()
    turned[2, 3:5] -= 1.0  # the head turns now and then (face, hair)
    bg = Background()
    feed(bg, [noisy(turned if (i // 40) % 3 == 0 else person, rng) for i in range(300)], 10.0)
    # both were absorbed at the cold start; only the person ever changed
    assert bg.activity[2, 3:5].min() > 0.3
    assert bg.activity[radiator].max() < 0.15
    assert np.median(bg.activity) < 0.05  # the sensor's noise is not movement
    # still for a minute: the mark fades
    feed(bg, [noisy(person, rng) for _ in range(600)], 10.0, t0=30.0)
    assert bg.activity[2, 3:5].max() < 0.2
