"""The empty room: a per-pixel background that never learns a person.

The detector sees each frame against this background. Its rules come from
what the AMG88xx and a shop are like:

* **Noise-aware.** The sensor's noise (about 0.15 C rms a pixel at 10 fps, in
  0.25 C steps) is measured as it runs, from the frame-to-frame change of the
  pixels nobody is on, so the thresholds hold at 1 fps and 10 fps and on a
  noisier board. Frames are smoothed over :data:`TAU_SMOOTH_S` first.
* **Gated.** A pixel learns only while nobody is on or next to it (the
  tracker says where people are). A person standing still for minutes is
  never absorbed, which is where a background that follows every pixel fails.
* **Follows the room.** The room's drift (heating, sun, the sensor warming
  up) is taken from the free pixels and applied to every pixel, the ones
  under people too, so a long visit does not leave a stale background.
* **Lets go of what left.** A pixel clearly colder than its background means
  something warm left it (someone there at the cold start, a warm seat that
  cooled): it drops to the pixel within a second or two.
* **Persists.** :meth:`snapshot` and :meth:`restore` give and take the 64
  temperatures of the empty room, so a restarted kiosk is not a cold start.
  Only pixels learned while nobody was on them are kept (the others are left
  out), and only while nobody is in view: never a person.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from heatcast.classify.background import HOT_C
from heatcast.sensor.frame import COLS, F64, ROWS

B = npt.NDArray[np.bool_]

#: Smoothing of frames before they are compared (s): cuts the noise by half at 10 fps.
TAU_SMOOTH_S = 0.15
#: How fast free pixels follow the room (s), and the room's drift (s).
TAU_FREE_S = 2.0
TAU_DRIFT_S = 4.0
#: Pixels colder than the background by this many noise units let go within TAU_COLD_S.
COLD_SIGMAS = 4.0
TAU_COLD_S = 1.0
#: Warm pixels no person explains (a heater warming, a seat cooling) follow over this time (s).
TAU_UNEXPLAINED_S = 6.0
#: Prior for the sensor's noise, and the range the measured noise is kept in (C rms).
NOISE_C = 0.15
NOISE_RANGE = (0.06, 0.6)
TAU_NOISE_S = 30.0
#: Frame-to-frame changes beyond this many noise units are clipped when the noise is measured.
CLIP_SIGMAS = 3.5
#: Fewer free pixels than this and the drift is not measured.
MIN_FREE = 8
#: A saved background whose cooler half misses the first frame by more than this (C rms) is dropped.
RESTORE_FIT_C = 0.6
#: At a cold start, pixels this much above their row's median (and below SUSPECT_MAX_C) may be
#: people; those UNSEEN_C above it are not learned as the empty room until they let go.
SUSPECT_C = 0.5
UNSEEN_C = 1.0
SUSPECT_MAX_C = HOT_C
#: A background is worth keeping once this many of its pixels were seen empty.
MIN_LEARNED = 48
#: Longest gap between frames that counts as elapsed time (a paused source).
MAX_GAP_S = 10.0
SQRT2 = math.sqrt(2.0)


def _alpha(dt: float, tau: float) -> float:
    return -math.expm1(-dt / tau) if dt > 0 else 0.0


class RoomBackground:
    """The empty room's temperatures, and the sensor's measured noise."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.bg: F64 | None = None
        self.smooth: F64 = np.zeros((ROWS, COLS))
        self.previous: F64 = np.zeros((ROWS, COLS))
        self.noise = NOISE_C
        self._t = math.nan
        self._dt = 0.1
        #: Pixels learned while empty since the start (or restored): what :meth:`snapshot` may keep.
        self.learned: B = np.zeros((ROWS, COLS), dtype=bool)
        self.restored = False
        #: Pixels that were warm at the cold start and have not let go since: someone may stand there.
        self.suspect: B = np.zeros((ROWS, COLS), dtype=bool)
        self._unseen: B = np.zeros((ROWS, COLS), dtype=bool)
        #: How many frames' worth the background is an average of (its own noise is noise / sqrt(n)).
        self._n = 1.0
        self._last_step: F64 | None = None
        self._rates_dt = math.nan
        self._rates_cache = (0.0, 0.0, 0.0, 0.0, 0.0)

    @property
    def smooth_noise(self) -> float:
        """The noise of :attr:`smooth` minus the background (C rms): the frame's and the background's."""
        a = _alpha(self._dt, TAU_SMOOTH_S) if self._dt > 0 else 1.0
        return self.noise * math.sqrt(a / (2.0 - a) + 1.0 / self._n)

    def observe(self, pixels: npt.NDArray[np.floating], t: float) -> F64:
        """Take a frame: the smoothed frame minus the background."""
        x = pixels.astype(np.float64)
        if self.bg is None or math.isnan(self._t):
            if self.bg is None:
                self.bg = x.copy()
                self._start_suspects(x)
            else:
                self._fit_restored(x)
            self.smooth = x.copy()
            self.previous = x
            self._t = t
            return self.smooth - self.bg
        dt = min(max(t - self._t, 0.0), MAX_GAP_S)
        self._t = t
        if dt > 0:
            self._dt = dt
        a = _alpha(dt, TAU_SMOOTH_S) if dt > 0 else 1.0
        self.smooth += a * (x - self.smooth)
        self._last_step = x - self.previous
        self.previous = x
        return self.smooth - self.bg

    def _fit_restored(self, x: F64) -> None:
        # The room may have warmed or cooled since the background was saved: shift it by the
        # median change (people cover less than half the view), and forget it if the room's
        # pattern no longer fits (furniture moved, sensor turned). Pixels never learned empty
        # before the save start from this frame, as at a cold start.
        assert self.bg is not None
        unknown = np.isnan(self.bg)
        d = np.where(unknown, np.nan, x - self.bg)
        self.bg = np.where(unknown, x, self.bg + float(np.nanmedian(d)))
        residual = np.where(unknown, np.nan, x - self.bg).ravel()
        known = np.sort(residual[~np.isnan(residual)])
        cooler = known[: max(len(known) // 2, 1)]
        self._start_suspects(x)
        if float(np.sqrt(np.mean(cooler**2))) > RESTORE_FIT_C:
            self.bg = x.copy()
            self.restored = False
            self.learned[:] = False
        else:
            self.learned = ~unknown
            self.suspect &= unknown
            self._unseen &= unknown

    def _start_suspects(self, x: F64) -> None:
        # Against its row's median: a room is warmer towards the ceiling, a person is a column.
        above = x - np.median(x, axis=1, keepdims=True)
        plausible = x < SUSPECT_MAX_C
        self.suspect = (above > SUSPECT_C) & plausible
        self._unseen = (above > UNSEEN_C) & plausible

    def _rates(self, dt: float) -> tuple[float, float, float, float, float]:
        # The time constants as per-frame rates; frames come at a steady rate, so cache them.
        if dt != self._rates_dt:
            self._rates_dt = dt
            taus = (TAU_NOISE_S, TAU_DRIFT_S, TAU_FREE_S, TAU_COLD_S, TAU_UNEXPLAINED_S)
            a, b, c, d, e = (_alpha(dt, tau) for tau in taus)
            self._rates_cache = (a, b, c, d, e)
        return self._rates_cache

    def learn(self, residual: F64, occupied: B, explained: B) -> None:
        """Update after a frame: ``occupied`` pixels hold or border a person; ``explained`` are theirs."""
        bg = self.bg
        if bg is None:
            return
        dt = self._dt
        a_noise, a_drift, a_free, a_cold, a_unexplained = self._rates(dt)
        free = ~occupied
        n_free = int(np.count_nonzero(free))
        step = self._last_step
        if step is not None and n_free >= MIN_FREE:
            # Frame-to-frame change of empty pixels is sqrt(2) x the noise. Clipped, so a pixel at a
            # person's edge does not count as noise (a median would be biased by the 0.25 C steps).
            changes = np.abs(step[free])
            np.minimum(changes, CLIP_SIGMAS * SQRT2 * self.noise, out=changes)
            rms = math.sqrt(float(np.dot(changes, changes)) / n_free) / SQRT2
            lo, hi = NOISE_RANGE
            self.noise = min(max(self.noise + a_noise * (rms - self.noise), lo), hi)
        cold = residual < -COLD_SIGMAS * self.smooth_noise
        # On or beside a person, a colder pixel is a person hiding something warmer (a lamp, a
        # radiator), which comes back when they move on: only free pixels let go.
        let_go = cold & free
        steady_free = free & ~cold
        if n_free >= MIN_FREE:
            values = residual[steady_free]
            if len(values):
                drift = a_drift * float(np.partition(values, len(values) // 2)[len(values) // 2])
                bg += drift
                residual = residual - drift
        # From a cold start the free pixels average every frame so far, then follow at TAU_FREE_S.
        steady = 2.0 / a_free - 1.0 if a_free > 0 else self._n
        rate = np.full((ROWS, COLS), max(a_free, 1.0 / (self._n + 1.0)))
        self._n = min(self._n + 1.0, steady)
        if not free.all():
            rate[occupied] = a_unexplained
            rate[explained | (cold & occupied)] = 0.0
        if let_go.any():
            rate[let_go] = a_cold
            self.suspect &= ~let_go
            self._unseen &= ~let_go
        rate *= residual
        bg += rate
        steady_free &= ~self._unseen
        self.learned |= steady_free

    def snapshot(self) -> list[float | None] | None:
        """The empty room's 64 temperatures (row by row; None where never seen empty).

        None until at least :data:`MIN_LEARNED` pixels were learned while nobody was on them.
        """
        if self.bg is None or int(np.count_nonzero(self.learned)) < MIN_LEARNED:
            return None
        pairs = zip(self.bg.ravel().tolist(), self.learned.ravel().tolist(), strict=True)
        return [round(v, 3) if ok else None for v, ok in pairs]

    def restore(self, temperatures: list[float | None]) -> None:
        """Start from a saved empty room (:meth:`snapshot`) instead of a cold start."""
        if len(temperatures) != ROWS * COLS:
            raise ValueError(f"a saved background is {ROWS * COLS} temperatures, not {len(temperatures)}")
        values = np.array([math.nan if v is None else float(v) for v in temperatures], dtype=np.float64)
        known = ~np.isnan(values)
        if int(known.sum()) < MIN_LEARNED or not np.all(np.isfinite(values[known])):
            raise ValueError(f"a saved background needs at least {MIN_LEARNED} finite temperatures")
        self.reset()
        self.bg = values.reshape(ROWS, COLS)
        self.restored = True
