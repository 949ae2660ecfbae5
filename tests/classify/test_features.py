"""The model's input window: frame by frame equals arrays, int8 equals quantised floats."""

from __future__ import annotations

import numpy as np
import pytest
from classify_helpers import noisy, room

from heatcast.classify.features import CHANNELS, HOT_C, INPUT_SHAPE, LAGS, SCALE_C, FeatureWindow, quantize

pytestmark = pytest.mark.tflite


def scene(n: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    base = room(rng)
    pics = []
    for i in range(n):
        p = base.copy()
        col = i % 8
        if 10 <= i < 50:
            p[2:7, col] += 4.0  # someone walking across
        pics.append(noisy(p, rng))
    pixels = np.stack(pics).astype(np.float32)
    pixels[:, 7, 7] = HOT_C + 15  # a lamp
    return pixels, np.arange(n) / 10.0, np.full(n, 25.0)


@pytest.mark.parametrize("quant", [None, (0.03, -20)])
@pytest.mark.parametrize("splits", [[60], [1] * 60, [7, 13, 40], [2, 58]])
def test_step_equals_many(quant: tuple[float, int] | None, splits: list[int]) -> None:
    pixels, t, th = scene()
    a = FeatureWindow(quant)
    ref = np.stack([a.step(p, float(ti), 25.0).copy() for p, ti in zip(pixels, t, strict=True)])
    b = FeatureWindow(quant)
    parts, start = [], 0
    for n in splits:
        parts.append(b.many(pixels[start : start + n], t[start : start + n], th[start : start + n]))
        start += n
    got = np.concatenate(parts)
    assert got.shape == (60, *INPUT_SHAPE)
    assert np.array_equal(got, ref)


def test_int8_window_is_the_quantised_float_window() -> None:
    pixels, t, th = scene()
    x = FeatureWindow().many(pixels, t, th)
    q = FeatureWindow((0.03, -20)).many(pixels, t, th)
    expected = quantize(np.asarray(x, dtype=np.float32), 0.03, -20)
    assert q.dtype == np.int8
    assert np.abs(q.astype(int) - expected.astype(int)).max() <= 1
    assert (q == expected).mean() > 0.999


def test_channels_hold_the_lagged_differences_and_warmth() -> None:
    pixels, t, th = scene()
    x = FeatureWindow().many(pixels, t, th)
    assert x.shape[-1] == CHANNELS
    for k, lag in enumerate(LAGS):
        assert np.array_equal(x[20:, ..., k], x[20 - lag : 60 - lag, ..., 0])
    # the walker shows in the current difference, about 4 C
    i = 30
    assert x[i, 2:7, i % 8, 0].mean() * SCALE_C == pytest.approx(4.0, abs=0.5)
    # the lamp is never anything
    assert not x[:, 7, 7, :].any()
    # warmth: the frame against the room's median; relief: against its row's second-coolest pixel
    assert x[i, 2:7, i % 8, len(LAGS)].mean() * SCALE_C > 3.0
    assert x[i, 2:7, i % 8, len(LAGS) + 1].mean() * SCALE_C > 3.0
    assert (np.asarray(x[..., len(LAGS) + 1]) >= 0).sum(axis=(1, 2)).min() >= 8 * 7 - 1


def test_reset_is_a_cold_start() -> None:
    pixels, t, th = scene()
    w = FeatureWindow()
    first = w.many(pixels, t, th).copy()
    w.reset()
    assert np.array_equal(w.many(pixels, t, th), first)
