"""The hobby-project baseline heatcast is measured against.

What AMG88xx people counters usually do: average the first frames as the
background, keep averaging pixels that are not foreground, call every pixel
more than 1 C above its background foreground, count connected blobs, and take
the largest blob's height against its width for the posture. For orientation
there is no usual rule; this one says "side" when the largest blob moves and
"facing" otherwise. It has the pipeline's interface so that ``heatcast eval
--baseline`` and the benchmark can run it in its place.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from heatcast.classify.audience import MAX_COUNT, Audience
from heatcast.sensor.frame import COLS, F32, F64, ROWS, Frame

THRESHOLD_C = 1.0
LEARN_FRAMES = 10
ALPHA = 0.02
MOVE_PX = 0.3


class BaselinePipeline:
    """Per-pixel background, +1 C threshold, connected blobs."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._sum = np.zeros((ROWS, COLS), dtype=np.float64)
        self._n = 0
        self._bg: F64 | None = None
        self._last_centre: tuple[float, float] | None = None
        self._since = 0.0
        self._facing_since: float | None = None

    def update(self, frame: Frame) -> Audience:
        return self._step(frame.pixels, frame.t)

    def _step(self, pixels: F32, t: float) -> Audience:
        if self._bg is None:
            self._sum += pixels
            self._n += 1
            if self._n == LEARN_FRAMES:
                self._bg = self._sum / self._n
            return Audience(t, False, 0)
        fore = (pixels - self._bg) > THRESHOLD_C
        self._bg = np.where(fore, self._bg, self._bg + ALPHA * (pixels - self._bg))
        labels, n = ndimage.label(fore)
        if n == 0:
            self._last_centre = None
            self._facing_since = None
            return Audience(t, False, 0)
        sizes = np.bincount(labels.ravel())[1:]
        biggest = int(np.argmax(sizes)) + 1
        rows, cols = np.nonzero(labels == biggest)
        height = int(rows.max() - rows.min()) + 1
        width = int(cols.max() - cols.min()) + 1
        if height >= 1.5 * width:
            posture = "standing"
        elif width >= 1.5 * height:
            posture = "lying"
        else:
            posture = "sitting"
        centre = (float(rows.mean()), float(cols.mean()))
        moved = self._last_centre is not None and math.dist(centre, self._last_centre) >= MOVE_PX
        if self._last_centre is None:
            self._since = t
        self._last_centre = centre
        orientation = "side" if moved else "facing"
        if orientation == "facing":
            if self._facing_since is None:
                self._facing_since = t
        else:
            self._facing_since = None
        facing_s = 0.0 if self._facing_since is None else t - self._facing_since
        return Audience(t, True, min(n, MAX_COUNT), posture, orientation, t - self._since, facing_s)

    def run(self, pixels: F32, t: F64, thermistor: F64) -> list[Audience]:
        """:meth:`update` for (N, 8, 8) consecutive frames."""
        step = self._step
        return [step(p, ti) for p, ti in zip(pixels, t.tolist(), strict=True)]
