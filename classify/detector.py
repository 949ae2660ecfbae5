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
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from heatcast.classify.background import HOT_C
from heatcast.sensor.frame import COLS, F64, ROWS

B = npt.NDArray[np.bool_]
T = TypeVar("T", np.bool_, np.float64)

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
#: Only a blob's warmest peaks are weighed (more is the noise on a large close blob).
MAX_PEAKS = 6

_FULL = (1 << (ROWS * COLS)) - 1
_NOT_LEFT = sum(1 << (r * COLS) for r in range(ROWS)) ^ _FULL  # every pixel but column 0
_NOT_RIGHT = sum(1 << (r * COLS + COLS - 1) for r in range(ROWS)) ^ _FULL  # but column 7
_BITS = np.arange(ROWS * COLS, dtype=np.uint64)


def _grow(x: int) -> int:
    """A 64-bit mask (bit r*8+c) grown by one pixel in all eight directions."""
    x |= ((x >> 1) & _NOT_RIGHT) | ((x << 1) & _NOT_LEFT)
    return (x | (x >> COLS) | (x << COLS)) & _FULL


def components(mask: B) -> list[B]:
    """The 8-connected components of an 8x8 mask, as bit masks grown inside it (scipy's labelling
    costs more here and weighs some 30 MB on a Pi)."""
    left = int(np.packbits(mask.ravel(), bitorder="little").view("<u8")[0])
    out = []
    while left:
        part = left & -left
        while True:
            grown = _grow(part) & left
            if grown == part:
                break
            part = grown
        left &= ~part
        out.append(((np.uint64(part) >> _BITS) & np.uint64(1)).astype(bool).reshape(ROWS, COLS))
    return out


@dataclass(slots=True)
class Detection:
    """One warm blob (or one person's share of it)."""

    row: float  # warmth-weighted centre, sub-pixel
    col: float
    peak: float  # C above the room
    mass: float  # sum of C above the room over its pixels
    pixels: B  # its pixels


def thresholds(noise: float) -> tuple[float, float]:
    """(edge, peak) thresholds in C for a smoothed frame with this noise (C rms)."""
    return max(EDGE_C, EDGE_SIGMAS * noise), max(PEAK_C, PEAK_SIGMAS * noise)


def detect(residual: F64, raw: npt.NDArray[np.floating], noise: float) -> list[Detection]:
    """The people-sized warm blobs of ``residual`` (smoothed frame minus room, C)."""
    edge, peak = thresholds(noise)
    if float(residual.max()) < peak:
        return []
    fore = (residual > edge) & (raw < HOT_C)  # nothing that hot is a person: radiators, kettles
    blobs = components(fore)
    if not blobs:
        return []
    local_max = (residual >= neighbourhood_max(residual)) & (residual > peak)
    out: list[Detection] = []
    for blob in blobs:
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


def neighbourhood_max(x: npt.NDArray[T]) -> npt.NDArray[T]:
    """Each pixel's 3x3 neighbourhood maximum; for a mask, the mask grown by one pixel all round.

    (scipy's maximum_filter costs ten times more on an 8x8 frame.)
    """
    low = False if x.dtype == np.bool_ else -np.inf
    pad = np.full((ROWS + 2, COLS + 2), low, dtype=x.dtype)
    pad[1:-1, 1:-1] = x
    rows = np.maximum(np.maximum(pad[:-2], pad[1:-1]), pad[2:])
    out: npt.NDArray[T] = np.maximum(np.maximum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])
    return out


def _separate(residual: F64, peaks: npt.NDArray[np.intp]) -> list[tuple[int, int]]:
    """The peaks that are separate people, warmest first."""
    grid = residual.tolist()
    order = sorted(((grid[r][c], int(r), int(c)) for r, c in peaks.tolist()), reverse=True)[:MAX_PEAKS]
    kept: list[tuple[int, int, float]] = []
    for value, r, c in order:
        if all(_apart(grid, (r, c, value), k) for k in kept):
            kept.append((r, c, value))
    return [(r, c) for r, c, _ in kept]


def _apart(grid: list[list[float]], a: tuple[int, int, float], b: tuple[int, int, float]) -> bool:
    if abs(a[1] - b[1]) < MIN_APART_COLS:
        return False
    steps = max(abs(a[0] - b[0]), abs(a[1] - b[1]))
    lowest = min(
        grid[round(a[0] + (b[0] - a[0]) * k / steps)][round(a[1] + (b[1] - a[1]) * k / steps)]
        for k in range(steps + 1)
    )
    return lowest < DIP * min(a[2], b[2])


def _detection(residual: F64, pixels: B) -> Detection:
    rr, cc = np.nonzero(pixels)
    warmth = residual[rr, cc]
    mass = float(warmth.sum())
    return Detection(float(warmth @ rr) / mass, float(warmth @ cc) / mass, float(warmth.max()), mass, pixels)
