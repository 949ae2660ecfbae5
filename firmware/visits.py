"""Visits: the people in view, as anonymous serial numbers that live only while they are there.

The figures a shop reads are defined once, here:

* a **visit** is someone arriving in view and leaving. The audience reading
  gives how many people are in view; each rise of the settled count (held for
  the decision's settle time, so a flicker is no visit) is that many arrivals,
  each fall that many departures. Which of several people left is not known:
  the latest to arrive is taken to leave first (passers-by go, stayers stay).
* the **opportunities to see** (OTS) of an item are the visits that were in
  view while it showed, each visit counted once per item however often it saw it;
* its **watchers** are the visits that faced the screen for at least
  :data:`WATCH_S` on end while it showed, each once per item. The sensor tells
  whether the nearest person faces the screen, not who: each such stretch of
  facing is one watcher, credited to a visit in view that had not yet watched
  this showing, so watchers never exceed the visits in view;
* its **attention time** is the seconds someone faced the screen while it
  showed, its **dwell** the seconds someone was in view.

Content chosen for nobody there (an attract loop) has no watchers and no
attention: whoever arrived during it is the audience of what was chosen for
them next. So: watchers <= OTS <= visits, over any period.

Nothing here is stored: impressions keep only the counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Facing the screen this long on end makes a watcher.
WATCH_S = 2.0
#: A longer gap between frames ends a stretch of facing.
MAX_GAP_S = 1.0


@dataclass
class ShowingVisits:
    """The visits of one showing (a stretch of one content), as serial numbers."""

    at_start: list[int] = field(default_factory=list)
    arrived: list[int] = field(default_factory=list)
    watched: list[int] = field(default_factory=list)
    at_end: list[int] = field(default_factory=list)

    @property
    def in_view(self) -> set[int]:
        return {*self.at_start, *self.arrived}

    def extend(self, later: ShowingVisits) -> None:
        """Take in the next stretch of the same content."""
        self.arrived += [v for v in later.arrived if v not in self.arrived]
        self.watched += [v for v in later.watched if v not in self.watched]
        self.at_end = list(later.at_end)


class VisitBook:
    """Follows the settled people count frame by frame (the kiosk's sensor thread)."""

    def __init__(self) -> None:
        self._next = 1
        self.present: list[int] = []
        self.showing = ShowingVisits()
        self._facing_since: float | None = None
        self._credited = False
        self._last_t: float | None = None

    def update(self, t: float, settled_count: int, facing: bool) -> None:
        """One frame: the settled count (``Decider.settled``) and whether someone faces the screen."""
        while len(self.present) < settled_count:
            self.present.append(self._next)
            self.showing.arrived.append(self._next)
            self._next += 1
        while len(self.present) > settled_count:
            self.present.pop()  # the latest to arrive leaves first
        gap = self._last_t is not None and t - self._last_t > MAX_GAP_S
        self._last_t = t
        if not facing or not self.present or gap:
            self._facing_since = None
            self._credited = False
        if facing and self.present and self._facing_since is None:
            self._facing_since = t
        if self._facing_since is not None and not self._credited and t - self._facing_since >= WATCH_S:
            self._credited = True
            fresh = [v for v in self.present if v not in self.showing.watched]
            if fresh:
                self.showing.watched.append(fresh[0])

    def next_showing(self) -> ShowingVisits:
        """Close the current showing's visits and start the next one's; returns the closed one."""
        closed = self.showing
        closed.at_end = list(self.present)
        self.showing = ShowingVisits(at_start=list(self.present))
        self._credited = False  # a stretch of facing that goes on is a watcher of the new showing too
        if self._facing_since is not None and self._last_t is not None:
            self._facing_since = self._last_t
        return closed


@dataclass(frozen=True, slots=True)
class VisitCounts:
    """What an impression keeps of its visits: counts only."""

    at_start: int
    arrivals: int
    ots: int
    watchers: int


class ItemMemory:
    """Which items each visit still in view has seen and watched (the kiosk's worker thread),
    so that a visit counts once per item in OTS and watchers."""

    def __init__(self) -> None:
        self._seen: dict[int, set[int]] = {}
        self._watched: dict[int, set[int]] = {}

    def count(self, item: int, visits: ShowingVisits, *, watchable: bool) -> VisitCounts:
        ots = 0
        for visit in sorted(visits.in_view):
            seen = self._seen.setdefault(visit, set())
            if item not in seen:
                seen.add(item)
                ots += 1
        watchers = 0
        if watchable:
            for visit in visits.watched:
                watched = self._watched.setdefault(visit, set())
                if item not in watched:
                    watched.add(item)
                    watchers += 1
        # Forget the visits that have left: the memory is bounded by who is in view.
        keep = set(visits.at_end)
        self._seen = {v: s for v, s in self._seen.items() if v in keep}
        self._watched = {v: s for v, s in self._watched.items() if v in keep}
        return VisitCounts(len(visits.at_start), len(visits.arrived), ots, watchers)
