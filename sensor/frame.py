"""The one frame type every layer passes around."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

ROWS = 8
COLS = 8
PIXELS = ROWS * COLS
#: The AMG88xx measurement range, and the range a trace may hold.
MIN_C = -40.0
MAX_C = 125.0

Pixels = npt.NDArray[np.float32]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One 8x8 thermal image.

    ``pixels`` is an (8, 8) float32 array of degrees C. Row 0 is the top of the
    scene and column 0 its left, as seen from the sensor looking out.
    ``thermistor`` is the sensor board's own temperature in degrees C, or None
    where the source has none. ``t`` is seconds since the source's first frame
    and ``seq`` counts frames from 0.
    """

    pixels: Pixels
    thermistor: float | None
    t: float
    seq: int

    def __post_init__(self) -> None:
        if self.pixels.shape != (ROWS, COLS) or self.pixels.dtype != np.float32:
            object.__setattr__(
                self, "pixels", np.asarray(self.pixels, dtype=np.float32).reshape(ROWS, COLS)
            )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frame):
            return NotImplemented
        return (
            self.thermistor == other.thermistor
            and self.t == other.t
            and self.seq == other.seq
            and bool(np.array_equal(self.pixels, other.pixels))
        )

    __hash__ = None  # type: ignore[assignment]
