"""What the model sees: a short window of background-subtracted frames.

Each input is an (8, 8, 8) array, channels last:

* ``diff@0``, ``diff@1``, ``diff@2``, ``diff@4`` — the frame minus the
  background now and 1, 2 and 4 frames ago: where people are, and how they move
  (people walking across are usually side-on, which the model learns);
* ``warmth`` — the frame minus the room's ambient (the background's median):
  lets the model see a person who was already there when heatcast started and
  so sits in the background;
* ``relief`` — the frame minus its row's second-coolest pixel: the same, but
  free of the room's vertical gradient (floor cool, ceiling warm), so that a
  person standing in view since the start stands out as a warm column;
* ``activity`` — how much each pixel wandered lately beyond the sensor's noise
  (a running deviation over :data:`~heatcast.classify.background.TAU_ACTIVITY_S`,
  magnified by :data:`ACTIVITY_GAIN`):
  people sway, turn and shift every few seconds, a radiator or a screen at
  body temperature never does — so a still person there since the cold start
  differs from a warm object even after the background absorbed them;
* ``hidden`` — how likely each pixel still hides a person who was there at the
  cold start (the background has never seen it change; fades over minutes):
  tells a person standing still since the start from a warm object.

All channels are in units of :data:`SCALE_C` degrees, and pixels hotter than
anything a person can be (:data:`HOT_C`) are zeroed: a radiator or a kettle is
never a person. Training (``tools/train_thermal.py``) and the runtime build the
window with this module, so they cannot drift apart.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from heatcast.classify.background import HOT_C as HOT_C
from heatcast.classify.background import Background
from heatcast.sensor.frame import COLS, F32, F64, ROWS

#: Bump when the input changes meaning; the model's sidecar must match.
FEATURE_VERSION = 4
LAGS = (0, 1, 2, 4)
CHANNEL_NAMES = (*(f"diff@{lag}" for lag in LAGS), "warmth", "relief", "activity", "hidden")
#: The relief channel subtracts this order statistic of each row.
ROW_RANK = 1
CHANNELS = len(CHANNEL_NAMES)
HISTORY = max(LAGS) + 1
#: Degrees C per input unit.
SCALE_C = 4.0
#: The activity channel is magnified this much: a still person's sway is a
#: tenth of a degree, which the int8 input must still resolve.
ACTIVITY_GAIN = 4.0
INPUT_SHAPE = (ROWS, COLS, CHANNELS)


def describe() -> dict[str, object]:
    """The input normalisation, for the model's sidecar."""
    return {
        "feature_version": FEATURE_VERSION,
        "shape": list(INPUT_SHAPE),
        "channels": list(CHANNEL_NAMES),
        "lags_frames": list(LAGS),
        "scale_c": SCALE_C,
        "hot_c": HOT_C,
        "activity_gain": ACTIVITY_GAIN,
        "background": "per-pixel, block-updated (heatcast.classify.background)",
    }


class FeatureWindow:
    """Turns consecutive frames into model inputs, from a cold start.

    :meth:`step` takes one frame; :meth:`many` an (N, 8, 8) array. Both give
    identical inputs for the same frames, however they are split. Given the
    model's input ``quant`` (scale, zero point) the window is built in int8
    directly, which is what the runtime feeds the interpreter; without it,
    float features (for training).
    """

    def __init__(self, quant: tuple[float, int] | None = None) -> None:
        self.background = Background()
        self.quant = quant
        if quant is None:
            self._mult = np.float32(1.0 / SCALE_C)
            self._unit = np.float32(1.0)
            self._zero = np.float32(0.0)
            self._dtype: type[np.generic] = np.float32
        else:
            self._mult = np.float32(1.0 / (SCALE_C * quant[0]))
            self._unit = np.float32(1.0 / quant[0])
            self._zero = np.float32(quant[1])
            self._dtype = np.int8
        self._act_mult = self._mult * np.float32(ACTIVITY_GAIN)
        self.reset()

    def reset(self) -> None:
        self.background.reset()
        # diff history, channels last; slot k holds the diff k frames ago.
        self._hist: npt.NDArray[np.generic] | None = None
        self._base = np.zeros((ROWS, COLS, 3), dtype=np.float32)
        self._new = np.zeros((ROWS, COLS, 3), dtype=np.float32)
        self._out = np.zeros(INPUT_SHAPE, dtype=self._dtype)
        self._hidden = np.zeros((ROWS, COLS), dtype=self._dtype)
        self._activity = np.zeros((ROWS, COLS), dtype=self._dtype)

    def _finish(self, x: F32) -> npt.NDArray[np.generic]:
        """Scaled values -> this window's dtype (in place where it can)."""
        if self.quant is None:
            return x
        np.rint(x, out=x)
        x += self._zero
        np.maximum(x, -128.0, out=x)  # two ufuncs: np.clip costs several times more per call
        np.minimum(x, 127.0, out=x)
        return x.astype(np.int8)

    def step(
        self,
        pixels: F32,
        t: float,
        thermistor: float | None = None,
        out: npt.NDArray[np.generic] | None = None,
    ) -> npt.NDArray[np.generic]:
        """The input for this frame, written into ``out`` (default: a buffer the next call reuses)."""
        therm = math.nan if thermistor is None else thermistor
        bgm = self.background
        if bgm.bg is None:
            bgm.start(pixels, t, therm)
            self._rebase()
        base = self._base
        base[..., 2] = np.partition(pixels, ROW_RANK, axis=1)[:, ROW_RANK : ROW_RANK + 1]
        new = np.subtract(pixels[..., None], base, out=self._new)
        new *= ((pixels <= HOT_C) * self._mult)[..., None]
        q = self._finish(new)
        hidden = self._hidden
        activity = self._activity
        if bgm.learn(pixels, t, therm):
            self._rebase()
        hist = self._hist
        if hist is None:
            hist = self._hist = np.repeat(q[..., :1], HISTORY, axis=-1)
        else:
            hist[..., 1:] = hist[..., :-1]
            hist[..., 0] = q[..., 0]
        if out is None:
            out = self._out
        out[..., : len(LAGS)] = hist[..., LAGS]
        out[..., len(LAGS) : -2] = q[..., 1:]
        out[..., -2] = activity
        out[..., -1] = hidden
        return out

    def _rebase(self) -> None:
        bgm = self.background
        assert bgm.bg is not None
        self._base[..., 0] = bgm.bg
        self._base[..., 1] = bgm.ambient
        self._hidden = self._finish(bgm.hidden * self._unit)
        self._activity = self._finish(bgm.activity * self._act_mult)

    def many(self, pixels: F32, t: F64, thermistor: F64) -> npt.NDArray[np.generic]:
        """Inputs for (N, 8, 8) consecutive frames: an (N, 8, 8, C) array."""
        n = len(pixels)
        if n == 0:
            return np.zeros((0, *INPUT_SHAPE), dtype=self._dtype)
        diff, ambient, hidden, activity = self.background.subtract_many(pixels, t, thermistor)
        new = np.empty((n, ROWS, COLS, 3), dtype=np.float32)
        new[..., 0] = diff
        np.subtract(pixels, ambient[:, None, None], out=new[..., 1])
        rowlow = np.partition(pixels, ROW_RANK, axis=2)[:, :, ROW_RANK : ROW_RANK + 1]
        np.subtract(pixels, rowlow, out=new[..., 2])
        new *= ((pixels <= HOT_C) * self._mult)[..., None]
        self._rebase()
        q = self._finish(new)
        if self._hist is None:
            before = np.repeat(q[:1, ..., 0], HISTORY - 1, axis=0)
        else:
            before = np.moveaxis(self._hist[..., HISTORY - 2 :: -1], -1, 0)
        full = np.concatenate([before, q[..., 0]])
        out = np.empty((n, *INPUT_SHAPE), dtype=self._dtype)
        for k, lag in enumerate(LAGS):
            out[..., k] = full[HISTORY - 1 - lag : HISTORY - 1 - lag + n]
        out[..., len(LAGS) : -2] = q[..., 1:]
        activity *= self._act_mult
        out[..., -2] = self._finish(activity)
        out[..., -1] = self._finish(hidden * self._unit)
        self._hist = np.ascontiguousarray(np.moveaxis(full[-HISTORY:][::-1], 0, -1))
        return out


def quantize(features: F32, scale: float, zero_point: int) -> npt.NDArray[np.int8]:
    """The model's int8 input for float features."""
    q: F32 = np.rint(features * np.float32(1.0 / scale))
    q += np.float32(zero_point)
    np.clip(q, -128, 127, out=q)
    return q.astype(np.int8)
