"""From the decided count and the model's head probabilities to one steady :class:`Audience`.

* Presence and count are decided upstream (the detector and tracker, with
  the model's word, :mod:`.pipeline`); a new audience starts the moment the
  count leaves 0.
* Posture and orientation follow exponential averages of the head
  probabilities (time constants in seconds, so 1 fps and 10 fps sensors behave
  alike) and only switch when the new class leads by a margin: no flicker.
* Dwell time counts from the start of the current presence; facing time from
  the moment the primary person turned to face the screen.

Plain Python floats throughout: this runs once per frame and numpy's per-call
overhead would dominate such tiny vectors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from heatcast.classify.audience import Audience
from heatcast.sensor.trace import ORIENTATIONS, POSTURES


def _lead(ema: list[float], current: int, margin: float) -> int:
    top = max(ema)
    best = ema.index(top)
    if current < 0 or (best != current and top > ema[current] + margin):
        return best
    return current


class Smoother:
    """Turns head probabilities into steady audience profiles."""

    def __init__(self, label_tau_s: float = 0.3, label_margin: float = 0.1) -> None:
        self.label_tau_s = label_tau_s
        self.label_margin = label_margin
        self.reset()

    def reset(self) -> None:
        self.present = False
        self._t_last: float | None = None
        self._dt = -1.0
        self._a_label = 1.0
        self._since = 0.0
        self._facing_since: float | None = None
        self._posture = -1
        self._orientation = -1
        self._ema_posture = [0.0] * len(POSTURES)
        self._ema_orientation = [0.0] * len(ORIENTATIONS)

    def _rates(self, t: float) -> None:
        dt = 0.0 if self._t_last is None else t - self._t_last
        self._t_last = t
        if dt != self._dt:
            self._dt = dt
            self._a_label = -math.expm1(-max(dt, 1e-3) / self.label_tau_s)

    def decided(
        self, t: float, count: int, posture: Sequence[float], orientation: Sequence[float], confidence: float
    ) -> Audience:
        """One frame whose count (0: nobody) is already decided: smooth posture and orientation only."""
        self._rates(t)
        return self._labels(t, count, posture, orientation, confidence)

    def _labels(
        self, t: float, count: int, posture: Sequence[float], orientation: Sequence[float], confidence: float
    ) -> Audience:
        if count == 0:
            if self.present:
                self.present = False
                self._posture = self._orientation = -1
                self._facing_since = None
            return Audience(t, False, 0, None, None, 0.0, 0.0, confidence)
        if not self.present:
            # A new audience: start the averages from this frame alone.
            self.present = True
            self._since = t
            self._ema_posture = list(posture)
            self._ema_orientation = list(orientation)
        else:
            a = self._a_label
            self._ema_posture = [e + a * (p - e) for e, p in zip(self._ema_posture, posture, strict=False)]
            self._ema_orientation = [
                e + a * (p - e) for e, p in zip(self._ema_orientation, orientation, strict=False)
            ]
        self._posture = _lead(self._ema_posture, self._posture, self.label_margin)
        previous = self._orientation
        self._orientation = _lead(self._ema_orientation, previous, self.label_margin)
        facing = self._orientation == 0
        if not facing:
            self._facing_since = None
        elif self._facing_since is None or previous != 0:
            self._facing_since = t
        return Audience(
            t,
            True,
            count,
            POSTURES[self._posture],
            ORIENTATIONS[self._orientation],
            t - self._since,
            0.0 if self._facing_since is None else t - self._facing_since,
            confidence,
        )
