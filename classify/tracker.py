"""People as tracks: born where warmth arrives, kept while they stand still.

Each frame's detections are assigned to the tracks by the assignment of least
total cost (distance from where each track is expected, and change of warmth).
The rules are the physics of a shop floor:

* **Born where warmth arrives.** A detection no track explains becomes a
  track only if its warmth arrived quickly (a person walks in within a second;
  a heater or a screen warms over minutes) or if it split off a tracked
  person (two people who walked in together step apart). A strong one counts
  at once; a faint one once it has been seen for :data:`CONFIRM_S`. Warmth
  on or beside a person, or where someone there at the cold start just moved
  off, counts only once it moves on its own: it may be what they uncovered.
* **Kept while still.** The room's background never learns a tracked person,
  so a person standing still stays a detection. A faint person who dips under
  the threshold for a moment is kept while warmth remains where they are,
  and coasts for :data:`COAST_S` otherwise.
* **Ends where it leaves or cools.** A track ends when its warmth is gone,
  or when it sat still while its warmth faded (a warm seat cools; a person
  does not), or after :data:`STALE_S` without the least movement (a lamp).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from heatcast.classify.detector import Detection, neighbourhood_max
from heatcast.sensor.frame import COLS, F64, ROWS

B = npt.NDArray[np.bool_]

#: A detection whose pixels rose this many noise units (and RISE_C) within about TAU_RISE_S is an arrival.
RISE_SIGMAS = 4.0
RISE_C = 0.3
TAU_RISE_S = 1.5
#: ... and that rise is at least this share of its warmth.
ARRIVAL_SHARE = 0.5
#: A detection this far above the room (noise units, and C) counts at once.
STRONG_SIGMAS = 9.0
STRONG_C = 0.9
#: A faint new track counts once seen this long (s).
CONFIRM_S = 0.25
#: A track with no detection coasts this long (s) ...
COAST_S = 0.6
#: ... unless it was lost this close to the side of the view (px), where people leave ...
EDGE_PX = 0.75
#: ... and longer while its pixels stay this many noise units above the room ...
KEEP_SIGMAS = 2.5
#: ... but never more than KEEP_S without a detection (s).
KEEP_S = 2.0
#: At the side of the view, a track down to EXIT_FRACTION of the warmth it had lately (decaying
#: over EXIT_TAU_S) has walked out.
EXIT_FRACTION = 0.4
EXIT_TAU_S = 5.0
#: Assignment gate: pixels, plus how far a brisk walker at 1 m moves per second.
GATE_PX = 1.6
GATE_PX_PER_S = 12.0
MAX_GATE_PX = 6.0
#: A track still (within STILL_PX) for COOL_S whose warmth fell below COOL_FRACTION of what it had
#: is a warm thing cooling (a seat someone left), one whose warmth grew past WARM_FACTOR x what it
#: had a thing warming up (a radiator); still for STALE_S at all, a warm thing.
STILL_PX = 0.5
COOL_S = 10.0
COOL_FRACTION = 0.85
WARM_FACTOR = 1.25
STALE_S = 300.0
#: Its warmth is compared from this long after it stopped (s): the average first forgets the walk.
SETTLE_S = 3.0
TAU_MASS_S = 3.0
#: A track split off a tracked person counts once it has moved this far from where it split off (px).
SPLIT_MOVE_PX = 1.5
#: Warmth that appears where a person was this recently (s) may be what they uncovered (a lamp or a
#: screen behind them shows as a rise as they step off it): it counts only once it moves as a person
#: would. Two of the rise's time constants: the uncovering has shown as a rise by then.
UNCOVER_S = 2.0 * TAU_RISE_S
#: Assignment cost of a change of warmth, per e-fold, in pixels of distance.
MASS_COST = 0.5
#: Assignments with at most this many ways to pair are solved exactly (by enumeration).
EXACT_UP_TO = 64
#: Position smoothing per frame (how much of the new detection is taken).
FOLLOW = 0.7


@dataclass(slots=True)
class Track:
    """One person in view."""

    row: float
    col: float
    born: float
    seen: float  # last frame it was seen or its warmth kept it
    mass: float
    pixels: B
    confirmed: bool = False
    detected: float = 0.0  # last frame a detection was assigned to it
    anchor_row: float = 0.0
    anchor_col: float = 0.0
    still_since: float = 0.0
    still_mass: float = 0.0  # the most and least warmth it has had while still
    still_low: float = 0.0
    settled: bool = False  # still for SETTLE_S: still_mass and still_low count from then
    #: Its warmth averaged over TAU_MASS_S: a warm seat's falls steadily, a person's does not.
    mean_mass: float = 0.0
    #: Born by splitting off a tracked person: counts only once it has moved away on its own.
    split: bool = False
    born_row: float = 0.0
    born_col: float = 0.0
    #: The most warmth it has shown lately (decays over EXIT_TAU_S).
    top_mass: float = 0.0

    def reanchor(self, t: float) -> None:
        self.anchor_row, self.anchor_col = self.row, self.col
        self.still_since = t
        self.mean_mass = self.still_mass = self.still_low = self.mass
        self.settled = False


def _least_cost(cost: list[list[float]]) -> tuple[list[int], list[int]]:
    """The pairs (track, detection) of least total cost; inf means "may not pair".

    Exact by enumeration while there are at most :data:`EXACT_UP_TO` ways to pair (an 8x8
    view holds a handful of people), greedy by cost beyond. The most pairs win first, then
    the least total cost, as scipy's ``linear_sum_assignment`` with forbidden pairs would.
    """
    n_t, n_d = len(cost), len(cost[0])
    if (n_d + 1) ** n_t > EXACT_UP_TO:
        pairs = sorted((c, i, j) for i, row in enumerate(cost) for j, c in enumerate(row) if c < math.inf)
        used_t: set[int] = set()
        used_d: set[int] = set()
        out = []
        for _, i, j in pairs:
            if i not in used_t and j not in used_d:
                used_t.add(i)
                used_d.add(j)
                out.append((i, j))
        out.sort()
        return [i for i, _ in out], [j for _, j in out]
    best: tuple[int, float, tuple[tuple[int, int], ...]] = (0, 0.0, ())
    # Each track takes a detection or none (-1).
    for choice in itertools.product(range(-1, n_d), repeat=n_t):
        taken = [j for j in choice if j >= 0]
        if len(set(taken)) != len(taken):
            continue
        total = 0.0
        ok = True
        for i, j in enumerate(choice):
            if j >= 0:
                c = cost[i][j]
                if c == math.inf:
                    ok = False
                    break
                total += c
        if not ok:
            continue
        key = (len(taken), -total)
        if key > (best[0], -best[1]):
            best = (len(taken), total, tuple((i, j) for i, j in enumerate(choice) if j >= 0))
    return [i for i, _ in best[2]], [j for _, j in best[2]]


def _inside(tr: Track) -> bool:
    # People leave the view through its sides: a track lost there has left, not dipped. Not
    # through the bottom: someone who falls ends up there.
    return EDGE_PX <= tr.col <= COLS - 1 - EDGE_PX


def _leaving(tr: Track) -> bool:
    # The last of someone who walked out is the blur of their edge in the outermost column.
    return not _inside(tr) and tr.mass < EXIT_FRACTION * tr.top_mass


class Tracker:
    """Tracks people from frame to frame; :attr:`tracks` are the confirmed and tentative ones."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.tracks: list[Track] = []
        self._t = math.nan
        self._recent: F64 | None = None
        self._occupied_before: B = np.zeros((ROWS, COLS), dtype=bool)
        #: When someone there at the cold start last left each pixel (-inf: never).
        self._uncovered_at: F64 = np.full((ROWS, COLS), -math.inf)
        self._let_go: B = np.zeros((ROWS, COLS), dtype=bool)

    @property
    def fresh(self) -> bool:
        """No frame seen since the last reset."""
        return math.isnan(self._t)

    def prime(self, recent: F64) -> None:
        """Measure the first frame's arrivals against ``recent`` (a remembered empty room)."""
        self._recent = recent.copy()

    def uncovered(self, pixels: B, t: float) -> None:
        """``pixels`` held someone until now (someone there at the cold start who moved off)."""
        self._uncovered_at[pixels] = t

    @property
    def people(self) -> list[Track]:
        return [tr for tr in self.tracks if tr.confirmed]

    def step(
        self, detections: list[Detection], smooth: F64, residual: F64, noise: float, t: float
    ) -> tuple[B, B]:
        """Take a frame's detections; returns (occupied, explained) pixels for the background.

        ``smooth`` is the smoothed frame (its recent past tells arrivals), ``residual``
        the smoothed frame minus the room and ``noise`` its noise (C rms).
        """
        dt = 0.0 if math.isnan(self._t) else max(t - self._t, 0.0)
        self._t = t
        if self._recent is None:
            self._recent = smooth.copy()
        rise = smooth - self._recent
        self._recent += (-math.expm1(-dt / TAU_RISE_S) if dt > 0 else 0.0) * rise
        if not detections and not self.tracks:
            # Nobody and nothing warm: the common case in an empty shop.
            self._let_go[:] = False
            self._occupied_before = np.zeros((ROWS, COLS), dtype=bool)
            return self._occupied_before, self._occupied_before

        matched_tracks, matched_dets = self._assign(detections, dt)
        for ti, di in zip(matched_tracks, matched_dets, strict=True):
            self._follow(self.tracks[ti], detections[di], t, dt)
        gone = []
        matched = set(matched_tracks)
        for ti, tr in enumerate(self.tracks):
            if ti in matched:
                continue
            if self._still_warm(tr, residual, noise) and t - tr.detected < KEEP_S:
                tr.seen = t
            elif t - tr.seen > COAST_S or not tr.confirmed or not _inside(tr):
                gone.append(ti)
        taken = set(matched_dets)
        for di, d in enumerate(detections):
            if di in taken:
                continue
            # Someone walking in was not there a second ago: most of their warmth is new. A radiator
            # or a lamp warming up crosses the threshold with most of its warmth already there.
            # Weighed by warmth over the blob, so one noisy pixel does not make an arrival.
            warmth = residual[d.pixels]
            risen = float(np.dot(rise[d.pixels], warmth)) / d.mass
            typical = float(np.dot(warmth, warmth)) / d.mass
            arrived = risen > max(RISE_C, RISE_SIGMAS * noise, ARRIVAL_SHARE * typical)
            # Warmth on or beside a tracked person, or where someone there at the cold start has just
            # moved off, may be theirs or what they uncovered (a lamp, a screen): it must move on its own.
            behind = self._occupied_before | (self._uncovered_at >= t - UNCOVER_S)
            split = bool((d.pixels & behind).any())
            if arrived or split:
                tr = Track(d.row, d.col, t, t, d.mass, d.pixels, top_mass=d.mass, detected=t)
                tr.reanchor(t)
                tr.born_row, tr.born_col = d.row, d.col
                tr.split = split
                tr.confirmed = not split and d.peak > max(STRONG_C, STRONG_SIGMAS * noise)
                self.tracks.append(tr)
        faded = self._faded(t)
        for ti in faded:
            self._let_go |= self.tracks[ti].pixels
        for ti, tr in enumerate(self.tracks):
            if _leaving(tr):
                gone.append(ti)
                self._let_go |= tr.pixels
        for ti in sorted(set(gone) | faded, reverse=True):
            del self.tracks[ti]

        explained = np.zeros((ROWS, COLS), dtype=bool)
        for tr in self.tracks:
            if tr.confirmed or not tr.split:
                explained |= tr.pixels
        near = neighbourhood_max(explained)
        occupied = near.copy()
        for d in detections:
            occupied |= d.pixels
        # What was let go of as a warm thing stays let go of until it has cooled away.
        if self._let_go.any():
            self._let_go &= residual > max(RISE_C, RISE_SIGMAS * noise) / 2
            near &= ~self._let_go
            occupied &= ~self._let_go
        self._occupied_before = near
        return occupied, explained

    def _assign(self, detections: list[Detection], dt: float) -> tuple[list[int], list[int]]:
        if not self.tracks or not detections:
            return [], []
        gate = min(GATE_PX + GATE_PX_PER_S * dt, MAX_GATE_PX)
        if len(self.tracks) == 1 and len(detections) == 1:
            only, d = self.tracks[0], detections[0]
            return ([0], [0]) if math.hypot(only.row - d.row, only.col - d.col) <= gate else ([], [])
        # A person keeps their warmth from frame to frame; the seat they leave has far less.
        # (Plain Python: a handful of tracks and detections.)
        cost = []
        for tr in self.tracks:
            row = []
            tm = max(tr.mass, 1e-3)
            for d in detections:
                c = math.hypot(tr.row - d.row, tr.col - d.col)
                if c <= gate:
                    c += MASS_COST * abs(math.log(tm / max(d.mass, 1e-3)))
                row.append(c if c <= gate else math.inf)
            cost.append(row)
        return _least_cost(cost)

    def _follow(self, tr: Track, d: Detection, t: float, dt: float) -> None:
        tr.top_mass = max(d.mass, tr.top_mass * math.exp(-dt / EXIT_TAU_S))
        tr.row += FOLLOW * (d.row - tr.row)
        tr.col += FOLLOW * (d.col - tr.col)
        tr.mass = d.mass
        tr.pixels = d.pixels
        tr.seen = tr.detected = t
        if not tr.confirmed:
            if tr.split:
                tr.confirmed = math.hypot(tr.row - tr.born_row, tr.col - tr.born_col) > SPLIT_MOVE_PX
            else:
                tr.confirmed = t - tr.born >= CONFIRM_S
        a = -math.expm1(-dt / TAU_MASS_S) if dt > 0 else 0.0
        if math.hypot(tr.row - tr.anchor_row, tr.col - tr.anchor_col) > STILL_PX:
            tr.reanchor(t)
        else:
            tr.mean_mass += a * (d.mass - tr.mean_mass)
            if t - tr.still_since < SETTLE_S:
                pass  # the average still carries the walk in
            elif not tr.settled:
                tr.settled = True
                tr.still_mass = tr.still_low = tr.mean_mass
            else:
                tr.still_mass = max(tr.still_mass, tr.mean_mass)
                tr.still_low = min(tr.still_low, tr.mean_mass)

    def _still_warm(self, tr: Track, residual: F64, noise: float) -> bool:
        if not tr.confirmed:
            return False
        return float(residual[tr.pixels].mean()) > KEEP_SIGMAS * noise

    def _faded(self, t: float) -> set[int]:
        out = set()
        for ti, tr in enumerate(self.tracks):
            still = t - tr.still_since
            cooling = tr.mean_mass < COOL_FRACTION * tr.still_mass
            warming = tr.mean_mass > WARM_FACTOR * tr.still_low
            if still > STALE_S or (tr.settled and still > COOL_S and (cooling or warming)):
                out.add(ti)
        return out
