"""Choosing what to show: targeting, schedule, weight and a Thompson-sampling bandit.

The chooser keeps an in-memory index of the active items (numpy arrays), rebuilt
only when the catalogue's item revision changes (a trigger counts every change,
by any process). It keeps the items matching each audience bucket, and of those
the ones whose schedule is on (the few distinct schedules are checked once a
minute; the candidates are rebuilt only when one starts or ends), so a choice
among 100,000 items is a dwell comparison, one random draw per candidate and an
argmax.

Ranking: ``weight x sample`` where the sample comes from the item's learned
Beta(alpha, beta) for this audience bucket (Beta(1, 1) before it has been shown
to that bucket). Sampling instead of taking the mean keeps exploring.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, time

import numpy as np
import numpy.typing as npt

from heatcast.classify.audience import MAX_COUNT, Audience, Bucket
from heatcast.errors import ContentError
from heatcast.firmware.catalogue import DAYS, Catalogue, ContentItem, _explain, _split
from heatcast.sensor.trace import ORIENTATIONS, POSTURES

log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
_ALL_DAYS = 0x7F
_ANY3 = 0b111
_NO_DATE_LOW, _NO_DATE_HIGH = 0, 10**7


@functools.lru_cache(maxsize=4096)
def _seconds(text: str | None) -> int:
    if not text:
        return -1
    moment = time.fromisoformat(text)
    return moment.hour * 3600 + moment.minute * 60 + moment.second


@functools.lru_cache(maxsize=4096)
def _bits(values: str | None, names: tuple[str, ...]) -> int:
    parts = _split(values)
    return sum(1 << names.index(p) for p in parts if p in names) if parts else _ANY3


@dataclass
class _Index:
    """Columns of the active items, position-aligned."""

    ids: IntArray
    people_min: npt.NDArray[np.int8]
    people_max: npt.NDArray[np.int8]
    postures: npt.NDArray[np.uint8]
    orientations: npt.NDArray[np.uint8]
    min_dwell: npt.NDArray[np.float64]
    days: npt.NDArray[np.uint8]
    t_from: npt.NDArray[np.int32]
    t_to: npt.NDArray[np.int32]
    d_from: npt.NDArray[np.int32]
    d_to: npt.NDArray[np.int32]
    weight: npt.NDArray[np.float64]

    @classmethod
    def load(cls, catalogue: Catalogue) -> _Index:
        rows = catalogue.db.conn.execute(
            "SELECT id, people_min, people_max, postures, orientations, min_dwell_s, days, "
            "time_from, time_to, date_from, date_to, weight FROM items WHERE active = 1 ORDER BY id"
        ).fetchall()
        cols = list(zip(*rows, strict=True)) if rows else [()] * 12

        # Catalogues repeat a few schedules many times: parse each distinct text once.
        @functools.lru_cache(maxsize=4096)
        def day_mask(text: str | None) -> int:
            parts = _split(text)
            return sum(1 << DAYS.index(d) for d in parts) if parts else _ALL_DAYS

        @functools.lru_cache(maxsize=4096)
        def ordinal(text: str | None, default: int) -> int:
            return date.fromisoformat(text).toordinal() if text else default

        return cls(
            ids=np.array(cols[0], dtype=np.int64),
            people_min=np.array(cols[1], dtype=np.int8),
            people_max=np.array(cols[2], dtype=np.int8),
            postures=np.array([_bits(v, POSTURES) for v in cols[3]], dtype=np.uint8),
            orientations=np.array([_bits(v, ORIENTATIONS) for v in cols[4]], dtype=np.uint8),
            min_dwell=np.array([v or 0.0 for v in cols[5]], dtype=np.float64),
            days=np.array([day_mask(v) for v in cols[6]], dtype=np.uint8),
            t_from=np.array([_seconds(v) for v in cols[7]], dtype=np.int32),
            t_to=np.array([_seconds(v) for v in cols[8]], dtype=np.int32),
            d_from=np.array([ordinal(v, _NO_DATE_LOW) for v in cols[9]], dtype=np.int32),
            d_to=np.array([ordinal(v, _NO_DATE_HIGH) for v in cols[10]], dtype=np.int32),
            weight=np.array(cols[11], dtype=np.float64),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def targeted(self, bucket: Bucket, strict: bool = True) -> npt.NDArray[np.bool_]:
        """Items whose targeting admits this bucket (dwell is checked per choice)."""
        count, posture, orientation = bucket
        mask = (self.people_min <= count) & (count <= self.people_max)
        if count > 0 and strict:
            if posture is not None:
                mask &= (self.postures & (1 << POSTURES.index(posture))) != 0
            if orientation is not None:
                mask &= (self.orientations & (1 << ORIENTATIONS.index(orientation))) != 0
        return mask

    def __post_init__(self) -> None:
        # Items share few distinct schedules: evaluate each once per minute, not per item.
        # (A dict beats np.unique(axis=0), which sorts 100,000 rows.)
        seen: dict[tuple[int, ...], int] = {}
        columns = (self.days, self.t_from, self.t_to, self.d_from, self.d_to)
        keys = zip(*(c.tolist() for c in columns), strict=True)
        self.schedule_of = np.fromiter(
            (seen.setdefault(key, len(seen)) for key in keys), dtype=np.int64, count=len(self.ids)
        )
        self.schedules = np.array(list(seen) or np.zeros((0, 5)), dtype=np.int64).reshape(-1, 5)

    def schedules_on(self, now: datetime) -> npt.NDArray[np.bool_]:
        """Which distinct schedules admit this moment (windows may pass midnight)."""
        days, t_from, t_to, d_from, d_to = (self.schedules[:, k] for k in range(5))
        clock = now.hour * 3600 + now.minute * 60 + now.second
        today = now.weekday()
        on_today = (days & (1 << today)) != 0
        on_yesterday = (days & (1 << ((today - 1) % 7))) != 0
        windowed = t_from >= 0
        plain = t_from <= t_to
        in_plain = (t_from <= clock) & (clock < t_to) & on_today
        in_overnight = ((clock >= t_from) & on_today) | ((clock < t_to) & on_yesterday)
        timely = np.where(windowed, np.where(plain, in_plain, in_overnight), on_today)
        day = now.toordinal()
        result: npt.NDArray[np.bool_] = timely & (d_from <= day) & (day <= d_to)
        return result

    def scheduled(self, now: datetime) -> npt.NDArray[np.bool_]:
        """Items whose schedule admits this moment."""
        result: npt.NDArray[np.bool_] = self.schedules_on(now)[self.schedule_of]
        return result


#: Every audience bucket there is: computed up front so no choice pays for it.
_BUCKETS: list[Bucket] = [(0, None, None)] + [
    (count, posture, orientation)
    for count in range(1, MAX_COUNT + 1)
    for posture in (None, *POSTURES)
    for orientation in (None, *ORIENTATIONS)
]


@dataclass
class _Slot:
    """The candidates for one (bucket, schedule state): positions in ascending order."""

    positions: IntArray
    min_dwell: npt.NDArray[np.float64]

    def eligible(self, audience: Audience) -> IntArray:
        if audience.count == 0:
            return self.positions
        ok = self.min_dwell <= audience.dwell_s
        return self.positions if ok.all() else self.positions[ok]


def _locate(eligible: IntArray, wanted: IntArray) -> IntArray:
    """Index in ``eligible`` (ascending) of each wanted position, or -1."""
    if not len(eligible):
        return np.full(len(wanted), -1, dtype=np.int64)
    idx = np.minimum(np.searchsorted(eligible, wanted), len(eligible) - 1)
    result: IntArray = np.where(eligible[idx] == wanted, idx, -1)
    return result


class Chooser:
    """Picks the item to show for an :class:`Audience` at a local time.

    ``seed`` makes choices reproducible. The same item is not chosen twice in a
    row while another one matches. With nobody there it falls back to the
    attract items (targeting people 0-0); with no match at all to any item on
    schedule, then any active item. Returns None only when there is no active item.
    """

    def __init__(self, catalogue: Catalogue, seed: int | None = None, *, avoid_repeat: bool = True) -> None:
        self.catalogue = catalogue
        self.rng = np.random.default_rng(seed)
        self.avoid_repeat = avoid_repeat
        self.last_id: int | None = None
        self._revision: tuple[int, int] | None = None
        self._index: _Index | None = None
        self._targeted: dict[Bucket, IntArray] = {}
        self._minute: tuple[int, int] | None = None
        self._on: npt.NDArray[np.bool_] | None = None
        self._scheduled: npt.NDArray[np.bool_] | None = None
        self._slots: dict[Bucket, _Slot] = {}
        self._learned: dict[Bucket, tuple[IntArray, npt.NDArray[np.float64], npt.NDArray[np.float64]]] = {}
        self._items: dict[int, ContentItem] = {}
        self._stale = False

    # -- keeping the index current

    def refresh(self) -> None:
        """Reload what changed in the catalogue (cheap when nothing did).

        If the catalogue cannot be read any more (corrupt, locked for long), the
        last good index keeps serving and one error is logged; with no index yet
        the ContentError goes to the caller.
        """
        try:
            revision = self.catalogue.revision()
            if self._revision is not None and revision == self._revision:
                return
            if self._revision is None or revision[0] != self._revision[0]:
                try:
                    with self.catalogue._lock:
                        index = _Index.load(self.catalogue)
                except sqlite3.Error as exc:
                    raise _explain(self.catalogue.path, exc, "reading its items") from None
                except (ValueError, KeyError) as exc:
                    raise ContentError(f"{self.catalogue.path} holds an unreadable item ({exc})") from None
                self._index = index
                self._targeted = {bucket: self._targeting(index, bucket) for bucket in _BUCKETS}
                self._items.clear()
                self._slots.clear()
                self._minute = None
                self._on = None
                self._scheduled = None
                log.debug("chooser index rebuilt: %d active items", len(index))
            self._learned.clear()
            self._revision = revision
            self._stale = False
        except ContentError as exc:
            if self._index is None:
                raise
            if not self._stale:
                log.error("%s; still choosing from the last good copy of the catalogue", exc)
                self._stale = True

    @staticmethod
    def _targeting(index: _Index, bucket: Bucket) -> IntArray:
        """Positions (ascending) of the items targeting ``bucket``."""
        return np.flatnonzero(index.targeted(bucket))

    def _index_now(self) -> _Index:
        self.refresh()
        assert self._index is not None
        return self._index

    def _slot(self, index: _Index, bucket: Bucket, now: datetime) -> _Slot:
        minute = (now.toordinal(), now.hour * 60 + now.minute)
        if minute != self._minute:
            self._minute = minute
            on = index.schedules_on(now.replace(second=0, microsecond=0))
            if self._on is None or not np.array_equal(on, self._on):
                self._on = on  # a schedule started or ended: candidates change
                self._scheduled = None
                self._slots.clear()
        slot = self._slots.get(bucket)
        if slot is None:
            targeted = self._targeted.get(bucket)
            if targeted is None:
                targeted = self._targeted[bucket] = self._targeting(index, bucket)
            assert self._on is not None
            positions = targeted[self._on[index.schedule_of[targeted]]]
            slot = _Slot(positions, index.min_dwell[positions])
            self._slots[bucket] = slot
        return slot

    def _learning(
        self, index: _Index, bucket: Bucket
    ) -> tuple[IntArray, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        learned = self._learned.get(bucket)
        if learned is None:
            stats = self.catalogue.engagement(bucket)
            ids = np.fromiter(stats, dtype=np.int64, count=len(stats))
            pos = np.searchsorted(index.ids, ids)
            pos = np.minimum(pos, max(len(index) - 1, 0))
            known = (index.ids[pos] == ids) if len(index) else np.zeros(0, dtype=bool)
            alpha = np.array([stats[int(i)][0] for i in ids], dtype=np.float64)
            beta = np.array([stats[int(i)][1] for i in ids], dtype=np.float64)
            learned = (pos[known], alpha[known], beta[known])
            self._learned[bucket] = learned
        return learned

    # -- choosing

    def candidates(self, audience: Audience, now: datetime) -> list[int]:
        """Ids of the items that match this audience and time (no fallback)."""
        index = self._index_now()
        slot = self._slot(index, audience.bucket, now)
        return [int(index.ids[p]) for p in slot.eligible(audience)]

    def choose(self, audience: Audience, now: datetime) -> ContentItem | None:
        index = self._index_now()
        if len(index) == 0:
            return None
        slot = self._slot(index, audience.bucket, now)
        positions = slot.eligible(audience)
        if len(positions) == 0:
            positions = self._fallback(index, audience, now)
        learned_pos, alpha, beta = self._learning(index, audience.bucket)
        scores = index.weight[positions] * self.rng.random(len(positions))
        if len(learned_pos):
            where = _locate(positions, learned_pos)
            ok = where >= 0
            if ok.any():
                samples = self.rng.beta(alpha[ok], beta[ok])
                scores[where[ok]] = index.weight[learned_pos[ok]] * samples
        best = int(np.argmax(scores))
        if self.avoid_repeat and len(positions) > 1 and index.ids[positions[best]] == self.last_id:
            scores[best] = -np.inf
            best = int(np.argmax(scores))
        chosen = int(index.ids[positions[best]])
        self.last_id = chosen
        return self._item(chosen)

    def _fallback(self, index: _Index, audience: Audience, now: datetime) -> IntArray:
        """No exact match: relax step by step, so something sensible always shows."""
        assert self._on is not None
        if self._scheduled is None:
            self._scheduled = self._on[index.schedule_of]
        on_time = self._scheduled
        count = audience.count
        steps: list[npt.NDArray[np.bool_]] = []
        if count > 0:
            steps.append(index.targeted(audience.bucket, strict=False) & on_time)  # ignore posture/dwell
            steps.append((index.people_min <= count) & (count <= index.people_max))
        attract = index.people_min == 0
        steps += [attract & on_time, attract, on_time, np.ones(len(index), dtype=bool)]
        for mask in steps:
            found = np.flatnonzero(mask)
            if len(found):
                break
        log.debug("no item matches %s at %s; falling back to %d items", audience.bucket, now, len(found))
        return found

    def _item(self, item_id: int) -> ContentItem:
        item = self._items.get(item_id)
        if item is None:
            item = self.catalogue.get(item_id)
            if len(self._items) > 4096:
                self._items.clear()
            self._items[item_id] = item
        return item
