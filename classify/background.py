"""The per-pixel background: what the room looks like with nobody in it.

The model sees each frame minus this background, so the background must

* be learned from pixels judged empty, so that a person standing still for
  minutes is not absorbed (foreground pixels only follow the room's global
  drift, plus a half-hour leak so that a warm thing left behind fades out);
* follow slow ambient drift over hours (empty pixels track the frame with a
  6 s time constant; the global drift term comes from the empty pixels, or
  from the thermistor when people fill the view);
* follow things that warm up slowly (a heater or a screen switching on, sun
  on a wall): only what rises quickly becomes foreground;
* keep static warm objects present from the start (radiators, screens, lamps):
  the background starts as the first frame;
* recover from a cold start with people in view: where a pixel falls clearly
  *below* the background, something warm has left, so the background drops to
  the pixel within seconds.

The background is updated once per block of :data:`BLOCK` frames from the
block's mean. Frame by frame (the kiosk) and a whole array at once (replay,
training) therefore give the very same numbers, and the per-frame cost stays
at a subtraction and a copy.
"""

from __future__ import annotations

import math

import numpy as np

from heatcast.sensor.frame import COLS, F32, F64, ROWS

#: Frames per background update.
BLOCK = 8
#: A block mean this far above the background is foreground (C).
FOREGROUND_C = 0.5
#: ... if it rose at least this much since the previous block (C); slower
#: warming is followed as background.
JUMP_C = 0.4
#: When no foreground pixel has changed by STEADY_C between blocks for STEADY_S
#: seconds, the foreground is a thing, not a person, and fades into the
#: background over TAU_STALE_S.
STEADY_C = 0.3
STEADY_S = 90.0
TAU_STALE_S = 30.0
#: ... and this far below it means something warm has left (C).
COLD_C = 0.5
#: Time constants (s): empty pixels, pixels that turned colder, foreground pixels.
TAU_EMPTY_S = 6.0
TAU_COLD_S = 2.0
TAU_FOREGROUND_S = 1800.0
#: Fewer empty pixels than this and the thermistor gives the global drift.
MIN_EMPTY_PIXELS = 6
#: Longest gap between updates that counts as elapsed time (a paused source).
MAX_GAP_S = 600.0
#: The ambient is this order statistic of the background's 64 pixels (the median).
AMBIENT_RANK = 32
#: A pixel never seen to change since the cold start stops counting as
#: possibly hiding a person over this time (s).
TAU_HIDDEN_S = 180.0
#: Activity is how far each pixel's block means wander about their own slow
#: average (a running standard deviation over this time, s), above the
#: frame's typical wander: people sway, shift their weight and glance aside;
#: a radiator, a screen or a lamp never does.
TAU_ACTIVITY_S = 20.0
#: Nothing hotter than this (apparent C) is a person.
HOT_C = 40.0
#: The thermistor is smoothed first: some boards report whole degrees.
TAU_THERMISTOR_S = 60.0


class Background:
    """A per-pixel background, updated every :data:`BLOCK` frames.

    :meth:`subtract` takes one frame, :meth:`subtract_many` an array of
    consecutive frames; mixing them in any split gives identical results.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.bg: F32 | None = None
        #: The room's temperature: the background's median (C).
        self.ambient = math.nan
        self._block = np.zeros((BLOCK, ROWS, COLS), dtype=np.float32)
        self._filled = 0
        self._t_last = 0.0
        self._therm = math.nan
        self.updates = 0
        self._t_start = 0.0
        #: Pixels seen to be background: something warm left them, or they
        #: turned colder. The rest may hide a person who was there from the start.
        self.confirmed = np.zeros((ROWS, COLS), dtype=bool)
        self._was_fore = np.zeros((ROWS, COLS), dtype=bool)
        #: How likely each pixel still hides someone absorbed at the cold start:
        #: unconfirmed pixels, fading as the watch goes on without a change.
        self.hidden = np.zeros((ROWS, COLS), dtype=np.float32)
        #: Recent movement per pixel (C): a still person from the cold start
        #: shows here even once the background has absorbed them.
        self.activity = np.zeros((ROWS, COLS), dtype=np.float32)
        self._fore = np.zeros((ROWS, COLS), dtype=bool)
        self._steady_s = np.zeros((ROWS, COLS), dtype=np.float32)
        self._last_mean: F32 | None = None
        self._slow: F32 | None = None
        self._var = np.zeros((ROWS, COLS), dtype=np.float32)

    def _start(self, pixels: F32, t: float, thermistor: float) -> F32:
        bg = np.array(pixels, dtype=np.float32, copy=True)
        self.bg = bg
        self.ambient = float(np.partition(bg, AMBIENT_RANK, axis=None)[AMBIENT_RANK])
        self._t_last = t
        self._t_start = t
        self._therm = thermistor
        self.hidden = (bg <= HOT_C).astype(np.float32)
        return bg

    def start(self, pixels: F32, t: float, thermistor: float) -> F32:
        """The background as of this frame, starting from it on the first call."""
        return self.bg if self.bg is not None else self._start(pixels, t, thermistor)

    def learn(self, pixels: F32, t: float, thermistor: float) -> bool:
        """Learn from one frame (after subtracting); True when the background changed."""
        self._block[self._filled] = pixels
        self._filled += 1
        if self._filled == BLOCK:
            self._update(self._block, t, thermistor)
            return True
        return False

    def subtract(self, pixels: F32, t: float, thermistor: float | None = None) -> tuple[F32, float]:
        """``pixels`` minus the background, and the ambient it was taken against.

        The frame is learned from afterwards.
        """
        therm = math.nan if thermistor is None else thermistor
        bg = self.start(pixels, t, therm)
        ambient = self.ambient
        diff: F32 = pixels - bg
        self.learn(pixels, t, therm)
        return diff, ambient

    def subtract_many(self, pixels: F32, t: F64, thermistor: F64) -> tuple[F32, F32, F32, F32]:
        """:meth:`subtract` for an (N, 8, 8) array; ``thermistor`` holds NaN where unknown.

        Returns the (N, 8, 8) differences, the (N,) ambient and the (N, 8, 8)
        :attr:`hidden` and :attr:`activity` each frame was taken against.
        """
        n = len(pixels)
        out = np.empty((n, ROWS, COLS), dtype=np.float32)
        ambient = np.empty(n, dtype=np.float32)
        hidden = np.empty((n, ROWS, COLS), dtype=np.float32)
        activity = np.empty((n, ROWS, COLS), dtype=np.float32)
        if n == 0:
            return out, ambient, hidden, activity
        bg = self.start(pixels[0], float(t[0]), float(thermistor[0]))
        i = 0
        while i < n:
            j = min(n - i, BLOCK - self._filled)
            np.subtract(pixels[i : i + j], bg, out=out[i : i + j])
            ambient[i : i + j] = self.ambient
            hidden[i : i + j] = self.hidden
            activity[i : i + j] = self.activity
            if j == BLOCK:
                block = pixels[i : i + j]
                self._filled = BLOCK
            else:
                self._block[self._filled : self._filled + j] = pixels[i : i + j]
                self._filled += j
                block = self._block
            i += j
            if self._filled == BLOCK:
                self._update(block, float(t[i - 1]), float(thermistor[i - 1]))
                assert self.bg is not None
                bg = self.bg
        return out, ambient, hidden, activity

    def _update(self, block: F32, t: float, thermistor: float) -> None:
        bg = self.bg
        assert bg is not None
        self._filled = 0
        mean = np.add.reduce(block, axis=0)
        mean *= np.float32(1.0 / BLOCK)
        d = mean - bg
        rise = d if self._last_mean is None else mean - self._last_mean
        self._last_mean = mean
        dt = min(max(t - self._t_last, 0.0), MAX_GAP_S)
        a_act = np.float32(-math.expm1(-dt / TAU_ACTIVITY_S))
        if self._slow is None:
            self._slow = mean.copy()
        dev = mean - self._slow
        self._slow += a_act * dev
        dev *= dev
        dev -= self._var
        dev *= a_act
        self._var += dev
        act = np.sqrt(self._var, out=self.activity)
        # The frame's typical wander is the sensor's noise (and the room's drift), not movement.
        act -= np.float32(np.partition(act, AMBIENT_RANK, axis=None)[AMBIENT_RANK])
        np.maximum(act, 0.0, out=act)
        act *= mean <= HOT_C
        self._t_last = t
        a_empty = -math.expm1(-dt / TAU_EMPTY_S)
        a_cold = -math.expm1(-dt / TAU_COLD_S)
        a_fore = -math.expm1(-dt / TAU_FOREGROUND_S)
        warm = d > FOREGROUND_C
        cold = d < -COLD_C
        # Foreground is what arrived quickly; a heater or a sunny patch warming
        # slowly is followed as background instead of freezing in as "someone".
        fore = warm & (self._fore | (rise > JUMP_C))
        self._fore = fore
        # People shift, turn and breathe; a lamp or a heater that came on stays
        # put. While anything in the foreground moves, nothing in it is stale.
        moving = bool(np.any(fore & (np.abs(rise) >= STEADY_C)))
        self._steady_s = np.where(
            fore, np.float32(0.0) if moving else self._steady_s + np.float32(dt), np.float32(0.0)
        )
        stale = self._steady_s > STEADY_S
        empty = ~(warm | cold)
        therm_before = self._therm
        if math.isfinite(thermistor):
            if math.isfinite(therm_before):
                self._therm = therm_before - math.expm1(-dt / TAU_THERMISTOR_S) * (thermistor - therm_before)
            else:
                self._therm = therm_before = thermistor
        n_empty = int(np.count_nonzero(empty))
        if n_empty >= MIN_EMPTY_PIXELS:
            drift = a_empty * float(np.sum(d, where=empty)) / n_empty
        elif math.isfinite(self._therm) and math.isfinite(therm_before):
            # People fill the view: the board's temperature tells how the room moved.
            drift = self._therm - therm_before
        else:
            drift = 0.0
        self.confirmed |= cold | (empty & self._was_fore)
        self._was_fore = fore
        watched = max(t - self._t_start, 0.0)
        self.hidden = (~self.confirmed & (bg <= HOT_C)) * np.float32(math.exp(-watched / TAU_HIDDEN_S))
        a_stale = -math.expm1(-dt / TAU_STALE_S)
        rate = np.where(
            fore,
            np.where(stale, np.float32(a_stale), np.float32(a_fore)),
            np.where(cold, np.float32(a_cold), np.float32(a_empty)),
        )
        d *= rate
        if drift:
            d += fore * np.float32(drift)
        bg += d
        self.ambient = float(np.partition(bg, AMBIENT_RANK, axis=None)[AMBIENT_RANK])
        self.updates += 1
