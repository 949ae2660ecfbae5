"""The yardstick: plain background subtraction, exactly as AMG88xx people counters do it.

heatcast's audience reading is measured against this method (``heatcast eval
--baseline bgsub``), so it is written out as the method is usually described
and nothing more:

* background: the per-pixel median of the first :data:`LEARN_FRAMES` frames
  (nobody is reported while it learns);
* foreground: pixels more than :data:`THRESHOLD_C` above the background;
  people: the connected components of the foreground (scipy's default
  4-connectivity), four or more reported as 4;
* the background follows the room (``new = 0.95 old + 0.05 frame``) only on
  frames with no foreground at all;
* posture: the largest component's bounding box: height >= 1.5 x width is
  standing, width >= 1.5 x height lying, anything else sitting.

The method has no rule for orientation, so it decides none (``eval`` shows a
dash for it). It has the pipeline's interface, so ``eval``, ``replay`` and the
benchmarks can run it in the pipeline's place.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from heatcast.classify.audience import MAX_COUNT, Audience
from heatcast.sensor.frame import COLS, F32, F64, ROWS, Frame

LEARN_FRAMES = 50
THRESHOLD_C = 1.0
ALPHA = 0.05
#: Bounding-box ratio that makes a blob standing (tall) or lying (wide).
RATIO = 1.5


class BgSubPipeline:
    """Median background, +1 C foreground, connected components."""

    decides_orientation = False

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._learning = np.empty((LEARN_FRAMES, ROWS, COLS), dtype=np.float32)
        self._n = 0
        self._bg: F64 | None = None
        self._since = 0.0
        self._present = False

    def update(self, frame: Frame) -> Audience:
        return self._step(frame.pixels, frame.t)

    def _step(self, pixels: F32, t: float) -> Audience:
        if self._bg is None:
            self._learning[self._n] = pixels
            self._n += 1
            if self._n < LEARN_FRAMES:
                return Audience(t, False, 0)
            self._bg = np.median(self._learning, axis=0).astype(np.float64)
        fore = (pixels - self._bg) > THRESHOLD_C
        labels, n = ndimage.label(fore)
        if n == 0:
            self._bg = (1.0 - ALPHA) * self._bg + ALPHA * pixels
            self._present = False
            return Audience(t, False, 0)
        if not self._present:
            self._present = True
            self._since = t
        sizes = np.bincount(labels.ravel())[1:]
        rows, cols = np.nonzero(labels == int(np.argmax(sizes)) + 1)
        height = int(rows.max() - rows.min()) + 1
        width = int(cols.max() - cols.min()) + 1
        if height >= RATIO * width:
            posture = "standing"
        elif width >= RATIO * height:
            posture = "lying"
        else:
            posture = "sitting"
        return Audience(t, True, min(n, MAX_COUNT), posture, None, t - self._since, 0.0)

    def run(self, pixels: F32, t: F64, thermistor: F64) -> list[Audience]:
        """:meth:`update` for (N, 8, 8) consecutive frames."""
        step = self._step
        return [step(p, ti) for p, ti in zip(pixels, t.tolist(), strict=True)]
