"""Warm blobs against the empty room, split into one detection per person.

A person is a few pixels warmer than the room: at 0.5 m they fill the view,
at 5 m they cover part of one or two pixels (7.5 degrees a pixel) and in a
29 C room may be well under a degree above it. So the thresholds are in units
of the measured noise, not fixed degrees, with a floor for the sensor's 0.25 C
steps; a blob's peak must stand clearly above the noise, its edge need not.

Two people side by side make one blob with two peaks: peaks are kept apart
when the warmth between them dips (:data:`DIP`) and they stand side by side,
since one person's head and body are above each other, never beside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from heatcast.sensor.frame import COLS, F64, ROWS

B = npt.NDArray[np.bool_]

#: A pixel belongs to a blob above max(EDGE_C, EDGE_SIGMAS x noise) ...
EDGE_C = 0.25
EDGE_SIGMAS = 3.0
#: ... and a blob is someone when its peak is above max(PEAK_C, PEAK_SIGMAS x noise).
PEAK_C = 0.45
PEAK_SIGMAS = 5.5
#: Two peaks are two people when the warmth between them falls below DIP x the lower peak
#: and they are at least MIN_APART_COLS columns apart.
DIP = 0.75
MIN_APART_COLS = 1.5
#: Nothing warmer than this (apparent C) is a person: radiators, kettles, lamps.
HOT_C = 40.0

_EIGHT = np.ones((3, 3), dtype=bool)
_ROW_INDEX, _COL_INDEX = np.indices((ROWS, COLS), dtype=np.float64)


@dataclass(slots=True)
class Detection:
    """One warm blob (or one person's share of it)."""

    row: float  # warmth-weighted centre, sub-pixel
    col: float
    peak: float  # C above the room
    mass: float  # sum of C above the room over its pixels
    pixels: B  # its pixels
    top: int
    bottom: int
    left: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top + 1

    @property
    def width(self) -> int:
        return self.right - self.left + 1


def thresholds(noise: float) -> tuple[float, float]:
    """(edge, peak) thresholds in C for a smoothed frame with this noise (C rms)."""
    return max(EDGE_C, EDGE_SIGMAS * noise), max(PEAK_C, PEAK_SIGMAS * noise)


def detect(residual: F64, raw: npt.NDArray[np.floating], noise: float) -> list[Detection]:
    """The people-sized warm blobs of ``residual`` (smoothed frame minus room, C)."""
    edge, peak = thresholds(noise)
    if float(residual.max()) < peak:
        return []
    fore = (residual > edge) & (raw < HOT_C)
    labels, n = ndimage.label(fore, structure=_EIGHT)
    if n == 0:
        return []
    local_max = (residual >= ndimage.maximum_filter(residual, size=3, mode="constant", cval=-1e9)) & (
        residual > peak
    )
    out: list[Detection] = []
    for k in range(1, n + 1):
        blob = labels == k
        peaks = np.argwhere(blob & local_max)
        if len(peaks) == 0:
            continue
        kept = _separate(residual, peaks)
        if len(kept) == 1:
            out.append(_detection(residual, blob))
            continue
        # Each pixel of the blob goes to its nearest kept peak.
        centres = np.array(kept, dtype=np.float64)
        rr, cc = np.nonzero(blob)
        d = (rr[:, None] - centres[None, :, 0]) ** 2 + (cc[:, None] - centres[None, :, 1]) ** 2
        owner = np.argmin(d, axis=1)
        for j in range(len(kept)):
            part = np.zeros((ROWS, COLS), dtype=bool)
            part[rr[owner == j], cc[owner == j]] = True
            out.append(_detection(residual, part))
    return out


def _separate(residual: F64, peaks: npt.NDArray[np.intp]) -> list[tuple[int, int]]:
    """The peaks that are separate people, warmest first."""
    order = sorted(((float(residual[r, c]), int(r), int(c)) for r, c in peaks), reverse=True)
    kept: list[tuple[int, int, float]] = []
    for value, r, c in order:
        if all(_apart(residual, (r, c, value), k) for k in kept):
            kept.append((r, c, value))
    return [(r, c) for r, c, _ in kept]


def _apart(residual: F64, a: tuple[int, int, float], b: tuple[int, int, float]) -> bool:
    if abs(a[1] - b[1]) < MIN_APART_COLS:
        return False
    steps = max(abs(a[0] - b[0]), abs(a[1] - b[1]))
    rows = np.rint(np.linspace(a[0], b[0], steps + 1)).astype(int)
    cols = np.rint(np.linspace(a[1], b[1], steps + 1)).astype(int)
    lowest = float(residual[rows, cols].min())
    return lowest < DIP * min(a[2], b[2])


def _detection(residual: F64, pixels: B) -> Detection:
    w = np.where(pixels, residual, 0.0)
    mass = float(w.sum())
    rows = np.flatnonzero(pixels.any(axis=1))
    cols = np.flatnonzero(pixels.any(axis=0))
    return Detection(
        row=float((w * _ROW_INDEX).sum() / mass),
        col=float((w * _COL_INDEX).sum() / mass),
        peak=float(w.max()),
        mass=mass,
        pixels=pixels,
        top=int(rows[0]),
        bottom=int(rows[-1]),
        left=int(cols[0]),
        right=int(cols[-1]),
    )
