"""Presence and count: the empty room, the detector and the tracker, frame by frame."""

from __future__ import annotations

import numpy as np

from heatcast.classify.detector import Detection, components, detect
from heatcast.classify.room import SUSPECT_C, RoomBackground
from heatcast.classify.tracker import Track, Tracker
from heatcast.sensor.frame import F32


class PeopleCounter:
    """How many people are in view, and who is the primary (nearest) one."""

    def __init__(self) -> None:
        self.room = RoomBackground()
        self.tracker = Tracker()
        self._detections: list[Detection] = []

    def reset(self) -> None:
        self.room.reset()
        self.tracker.reset()
        self._detections = []

    def step(self, pixels: F32, t: float) -> list[Track]:
        """The people in view as of this frame, nearest first."""
        room = self.room
        first = self.tracker.fresh
        residual = room.observe(pixels, t)
        if first and room.restored and room.bg is not None:
            # Whoever is in view at a restart is warmer than the room remembered: an arrival.
            self.tracker.prime(room.bg)
        noise = room.smooth_noise
        detections = self._detections = detect(residual, pixels, noise)
        occupied, explained = self.tracker.step(detections, room.smooth, residual, noise, t)
        suspect = room.suspect.copy() if room.suspect.any() else None
        room.learn(residual, occupied, explained)
        if suspect is not None:
            # Someone there at the cold start moved off these pixels: what shows there next was behind them.
            left = suspect & ~room.suspect
            if left.any():
                self.tracker.uncovered(left, t)
        people = self.tracker.people
        if len(people) > 1:
            # The nearest person is the warmest and the largest in view.
            people.sort(key=lambda tr: -tr.mass)
        return people

    def dormant(self) -> int:
        """Warm blobs there since the cold start that no track explains: people, or warm things."""
        room = self.room
        if not room.suspect.any():
            return 0
        # ... and still warm now: a pixel the noise made warm at the start is not.
        smooth = room.smooth
        left = room.suspect & (smooth - np.median(smooth, axis=1, keepdims=True) > SUSPECT_C)
        for tr in self.tracker.tracks:
            left &= ~tr.pixels
        if not left.any():
            return 0
        return len(components(left))

    def empty_room(self) -> list[float | None] | None:
        """The empty room's 64 temperatures, while nobody and nothing warm is in view; else None."""
        if self.tracker.tracks or self._detections:
            return None
        return self.room.snapshot()

    def restore(self, temperatures: list[float | None]) -> None:
        """Start from a saved empty room (:meth:`empty_room`) instead of a cold start."""
        self.reset()
        self.room.restore(temperatures)
