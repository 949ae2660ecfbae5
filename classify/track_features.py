"""What the learned heads read about the primary person: their track, not the whole view.

Per frame, for the primary (warmest, so nearest) track: where its blob sits
in the view and how tall and wide it is (a standing person is a tall column,
a sitting one shorter and lower, a lying one wide and low), how warm it is,
how fast and which way it moves (walking across the view is side-on;
stopping in front and staying is facing), how long it has been tracked, how
many people there are, and the residual image itself.
"""

from __future__ import annotations

import math

import numpy as np

from heatcast.classify.detector import Detection
from heatcast.classify.tracker import Track
from heatcast.sensor.frame import COLS, F32, F64, ROWS

GEOMETRY = (
    "top", "bottom", "left", "right", "height", "width", "row", "col", "log_mass", "peak", "pixels",
    "v_row", "v_col", "speed", "log_age", "people", "warmth",
)  # fmt: skip
#: Inputs: the geometry above, then the residual image (C / RESIDUAL_SCALE_C, clipped to +-2).
SIZE = len(GEOMETRY) + ROWS * COLS
RESIDUAL_SCALE_C = 4.0
SPEED_SCALE = 5.0  # pixels a second


def track_features(
    people: list[Track], residual: F64, pixels: F32, t: float, out: F32 | None = None
) -> F32 | None:
    """The heads' input for this frame, or None when nobody is tracked."""
    if not people:
        return None
    tr = people[0]
    d: Detection | None = tr.detection
    x = np.zeros(SIZE, dtype=np.float32) if out is None else out
    if d is not None:
        x[0:6] = (d.top / 7, d.bottom / 7, d.left / 7, d.right / 7, d.height / 8, d.width / 8)
        x[10] = float(d.pixels.sum()) / (ROWS * COLS)
        x[9] = d.peak / RESIDUAL_SCALE_C
    x[6], x[7] = tr.row / 7, tr.col / 7
    x[8] = math.log1p(max(tr.mass, 0.0)) / 4
    x[11], x[12] = tr.v_row / SPEED_SCALE, tr.v_col / SPEED_SCALE
    x[13] = math.hypot(tr.v_row, tr.v_col) / SPEED_SCALE
    x[14] = math.log1p(max(t - tr.born, 0.0)) / 5
    x[15] = min(len(people), 4) / 4
    x[16] = (float(pixels.max()) - float(np.median(pixels))) / RESIDUAL_SCALE_C
    np.clip(residual.ravel() / RESIDUAL_SCALE_C, -2.0, 2.0, out=x[len(GEOMETRY) :])
    return x
