"""The content catalogue: a SQLite file of YouTube items, their targeting, and impressions.

Access goes through sqlite-utils. The schema is built by numbered
:class:`Migrations` steps recorded in ``PRAGMA user_version``, so a catalogue
written by an older heatcast upgrades in place when opened. The file runs in WAL
mode (the kiosk reads while the CLI writes) with foreign keys on, and every
change touching more than one row happens in one ``BEGIN IMMEDIATE``
transaction: an import killed halfway leaves the catalogue as it was.

An impression records what was shown to which coarse audience bucket and how
long it held attention; never a person, a track or a frame.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import threading
import time as _time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import sqlite_utils

from heatcast.classify.audience import MAX_COUNT, Audience, Bucket
from heatcast.errors import ContentError
from heatcast.firmware.media import Kind, check_name, media_dir, mime_of
from heatcast.firmware.urls import check_domain, is_normalised, normalise_url
from heatcast.sensor.trace import ORIENTATIONS, POSTURES

log = logging.getLogger(__name__)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Learned evidence per (bucket, item) is capped so old habits fade and the bandit keeps exploring.
MAX_EVIDENCE = 200.0
#: An impression counts as a "hit" when someone faced the screen at least this long.
HIT_FACING_S = 2.0


def default_db_path() -> Path:
    """The kiosk's catalogue: ``$HEATCAST_DATA_DIR/content.db``, else under ``$XDG_DATA_HOME`` or
    ``~/.local/share``: ``heatcast/content.db`` (as the kiosk configuration's default data_dir)."""
    data_dir = os.environ.get("HEATCAST_DATA_DIR")
    if data_dir:
        return Path(data_dir) / "content.db"
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "heatcast" / "content.db"


def bundled_catalogue_path() -> Path:
    """The catalogue shipped with heatcast (read it, copy it; never write it)."""
    return Path(str(resources.files("heatcast") / "content.db"))


# --------------------------------------------------------------------------- items


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in re.split(r"[;,]", text or "") if part.strip()]


def _parse_time(text: str, what: str) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match or int(match.group(1)) > 24 or int(match.group(2)) > 59:
        raise ContentError(f"{what} {text!r} is not a time of day; write HH:MM such as 09:00")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours == 24:
        if minutes:
            raise ContentError(f"{what} {text!r} is past 24:00; write HH:MM such as 23:30")
        return time(23, 59, 59)
    return time(hours, minutes)


def _parse_date(text: str | None, what: str) -> date | None:
    if not text or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ContentError(f"{what} {text!r} is not a date; write YYYY-MM-DD") from None


def _choices(text: str | Sequence[str] | None, allowed: Sequence[str], what: str) -> tuple[str, ...]:
    values = _split(text) if isinstance(text, str) or text is None else [v.strip() for v in text]
    out = []
    for value in values:
        low = value.lower()
        if low in ("any", "all", "*"):
            return ()
        if low not in allowed:
            raise ContentError(f"{what} {value!r} is not one of {', '.join(allowed)} (or 'any')")
        if low not in out:
            out.append(low)
    # Listing every value is the same as "any"; store it the short way.
    return () if set(out) == set(allowed) else tuple(sorted(out, key=allowed.index))


@dataclass(frozen=True, slots=True)
class Targeting:
    """Who an item is for. Empty postures/orientations mean "any". people 0-0 is the attract loop."""

    people_min: int = 1
    people_max: int = MAX_COUNT
    postures: tuple[str, ...] = ()
    orientations: tuple[str, ...] = ()
    min_dwell_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.people_min <= self.people_max <= MAX_COUNT:
            raise ContentError(
                f"people {self.people_min}-{self.people_max} is not a range within 0-{MAX_COUNT} "
                f"({MAX_COUNT} means {MAX_COUNT} or more); write e.g. 1-2"
            )
        _choices(self.postures, POSTURES, "posture")
        _choices(self.orientations, ORIENTATIONS, "orientation")
        if not 0 <= self.min_dwell_s <= 3600:
            raise ContentError(f"minimum dwell {self.min_dwell_s} s must be 0..3600 seconds")

    @property
    def attract(self) -> bool:
        """True for items shown when nobody is there."""
        return self.people_max == 0

    @property
    def people(self) -> str:
        return f"{self.people_min}-{self.people_max}"

    @classmethod
    def parse(
        cls,
        people: str | None = None,
        postures: str | Sequence[str] | None = None,
        orientations: str | Sequence[str] | None = None,
        min_dwell_s: float | str | None = None,
    ) -> Targeting:
        """Build from the CLI/CSV text forms: ``people="1-2"``, ``postures="standing,sitting"``."""
        low, high = 1, MAX_COUNT
        if people is not None and str(people).strip():
            match = re.fullmatch(r"\s*(\d+)\s*(?:[-–]\s*(\d+)\+?)?\s*\+?\s*", str(people))
            if not match:
                raise ContentError(f"people {people!r} is not a count or range; write e.g. 1, 1-2 or 0-0")
            low = int(match.group(1))
            high = int(match.group(2)) if match.group(2) else low
            if str(people).strip().endswith("+"):
                high = MAX_COUNT
            high = min(high, MAX_COUNT) if low <= MAX_COUNT else high
        try:
            dwell = float(min_dwell_s) if min_dwell_s not in (None, "") else 0.0
        except ValueError:
            raise ContentError(f"minimum dwell {min_dwell_s!r} is not a number of seconds") from None
        return cls(
            low,
            high,
            _choices(postures, POSTURES, "posture"),
            _choices(orientations, ORIENTATIONS, "orientation"),
            dwell,
        )

    def matches(self, audience: Audience) -> bool:
        if not self.people_min <= audience.count <= self.people_max:
            return False
        if audience.count == 0:
            return True
        if self.postures and audience.posture is not None and audience.posture not in self.postures:
            return False
        if (
            self.orientations
            and audience.orientation is not None
            and audience.orientation not in self.orientations
        ):
            return False
        return audience.dwell_s >= self.min_dwell_s


@dataclass(frozen=True, slots=True)
class Schedule:
    """When an item may run. Empty days mean every day; no hours mean all day.

    A window such as 22:00-02:00 passes midnight: its early-morning part belongs
    to the day it started on (Friday 22:00-02:00 runs into Saturday morning).
    Dates are inclusive.
    """

    days: tuple[int, ...] = ()
    time_from: time | None = None
    time_to: time | None = None
    date_from: date | None = None
    date_to: date | None = None

    def __post_init__(self) -> None:
        if any(not 0 <= d <= 6 for d in self.days):
            raise ContentError("days must be 0 (Monday) .. 6 (Sunday)")
        if (self.time_from is None) != (self.time_to is None):
            raise ContentError("hours need both a start and an end, e.g. 09:00-18:00")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ContentError(f"start date {self.date_from} is after end date {self.date_to}")

    @classmethod
    def parse(
        cls,
        days: str | None = None,
        hours: str | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
    ) -> Schedule:
        """Build from text: ``days="mon-fri,sun"``, ``hours="22:00-02:00"``, ISO dates."""
        day_set: list[int] = []
        for part in _split(days):
            low = part.lower()
            if low in ("any", "all", "daily", "*"):
                day_set = list(range(7))
                break
            first, dash, last = low.partition("-")
            try:
                a = DAYS.index(first[:3])
                b = DAYS.index(last[:3]) if dash else a
            except ValueError:
                raise ContentError(
                    f"days {part!r} is not a day or range of days; write e.g. mon-fri,sun"
                ) from None
            span = range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)]
            day_set.extend(d for d in span if d not in day_set)
        time_from = time_to = None
        if hours and hours.strip() and hours.strip().lower() not in ("any", "all"):
            first, dash, last = hours.partition("-")
            if not dash:
                raise ContentError(f"hours {hours!r} is not a window; write HH:MM-HH:MM such as 09:00-18:00")
            time_from, time_to = _parse_time(first, "hours start"), _parse_time(last, "hours end")
        return cls(
            () if len(day_set) == 7 else tuple(sorted(day_set)),
            time_from,
            time_to,
            _parse_date(start_date, "start date"),
            _parse_date(end_date, "end date"),
        )

    @property
    def days_text(self) -> str:
        return ",".join(DAYS[d] for d in self.days)

    @property
    def hours_text(self) -> str:
        if self.time_from is None or self.time_to is None:
            return ""
        return f"{self.time_from:%H:%M}-{self.time_to:%H:%M}"

    def matches(self, now: datetime) -> bool:
        today = now.date()
        if self.date_from and today < self.date_from:
            return False
        if self.date_to and today > self.date_to:
            return False
        day = now.weekday()
        if self.time_from is not None and self.time_to is not None:
            clock = now.time().replace(tzinfo=None)
            if self.time_from <= self.time_to:
                if not self.time_from <= clock < self.time_to:
                    return False
            elif clock >= self.time_from:
                pass
            elif clock < self.time_to:
                day = (day - 1) % 7
            else:
                return False
        return not self.days or day in self.days


@dataclass(frozen=True, slots=True)
class ContentItem:
    """One piece of content. ``url`` is stored normalised (see :mod:`heatcast.firmware.urls`)."""

    id: int | None
    title: str
    url: str
    description: str = ""
    tags: tuple[str, ...] = ()
    targeting: Targeting = field(default_factory=Targeting)
    schedule: Schedule = field(default_factory=Schedule)
    weight: float = 1.0
    active: bool = True
    #: stored file names in the catalogue's media folder (see :mod:`heatcast.firmware.media`)
    poster: str | None = None
    video: str | None = None
    #: archived: off the screen, its impressions and history kept (``active`` is kept for restore)
    archived: bool = False
    #: the shop domain that allowed a non-YouTube link (``--allow-domain``), kept so it stays allowed
    allow_domain: str | None = None

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise ContentError("an item needs a title")
        if not 0 <= self.weight <= 1000:
            raise ContentError(f"weight {self.weight} must be between 0 and 1000")

    def matches(self, audience: Audience, now: datetime) -> bool:
        return (
            self.active
            and not self.archived
            and self.targeting.matches(audience)
            and self.schedule.matches(now)
        )

    def to_row(self) -> dict[str, Any]:
        t, s = self.targeting, self.schedule
        row: dict[str, Any] = {
            "title": self.title,
            "url": self.url,
            "description": self.description,
            "tags": json.dumps(list(self.tags), ensure_ascii=False),
            "people_min": t.people_min,
            "people_max": t.people_max,
            "postures": ",".join(t.postures),
            "orientations": ",".join(t.orientations),
            "min_dwell_s": t.min_dwell_s,
            "days": s.days_text,
            "time_from": f"{s.time_from:%H:%M:%S}" if s.time_from else None,
            "time_to": f"{s.time_to:%H:%M:%S}" if s.time_to else None,
            "date_from": s.date_from.isoformat() if s.date_from else None,
            "date_to": s.date_to.isoformat() if s.date_to else None,
            "weight": self.weight,
            # An archived item is stored switched off, so whatever reads ``active = 1`` (the
            # chooser, the doctor) never shows it; ``archived`` keeps the switch: 1 off, 2 on.
            "active": int(self.active and not self.archived),
            "poster": self.poster,
            "video": self.video,
            "archived": (2 if self.active else 1) if self.archived else 0,
            "allow_domain": self.allow_domain,
        }
        if self.id is not None:
            row["id"] = self.id
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ContentItem:
        return cls(
            id=row["id"],
            title=row["title"],
            url=row["url"],
            description=row["description"] or "",
            tags=tuple(json.loads(row["tags"] or "[]")),
            targeting=Targeting(
                row["people_min"],
                row["people_max"],
                tuple(_split(row["postures"])),
                tuple(_split(row["orientations"])),
                row["min_dwell_s"] or 0.0,
            ),
            schedule=Schedule(
                tuple(DAYS.index(d) for d in _split(row["days"])),
                time.fromisoformat(row["time_from"]) if row["time_from"] else None,
                time.fromisoformat(row["time_to"]) if row["time_to"] else None,
                date.fromisoformat(row["date_from"]) if row["date_from"] else None,
                date.fromisoformat(row["date_to"]) if row["date_to"] else None,
            ),
            weight=row["weight"],
            active=bool(row["active"]) or row.get("archived") == 2,
            poster=row.get("poster"),
            video=row.get("video"),
            archived=bool(row.get("archived")),
            allow_domain=row.get("allow_domain"),
        )

    @classmethod
    def create(
        cls,
        url: str,
        title: str | None = None,
        *,
        description: str = "",
        tags: Iterable[str] = (),
        targeting: Targeting | None = None,
        schedule: Schedule | None = None,
        weight: float = 1.0,
        active: bool = True,
        allow_domains: Iterable[str] = (),
        poster: str | None = None,
        video: str | None = None,
        archived: bool = False,
    ) -> ContentItem:
        """A new item with its URL checked and normalised by the URL policy.

        A link allowed only by one of ``allow_domains`` keeps that domain with the item
        (``allow_domain``), so an export of it imports again without the option.
        """
        domains = tuple(allow_domains)
        normal = normalise_url(url, domains)
        return cls(
            None,
            (title or "").strip() or normal,
            normal,
            description.strip(),
            tuple(t.strip() for t in tags if t.strip()),
            targeting or Targeting(),
            schedule or Schedule(),
            float(weight),
            active,
            poster,
            video,
            archived,
            own_domain(normal, domains),
        )


def own_domain(normal: str, allow_domains: Iterable[str]) -> str | None:
    """The allowed domain that admits a normalised link; None for YouTube links."""
    if is_normalised(normal):
        return None
    host = (urlsplit(normal).hostname or "").lower()
    for domain in allow_domains:
        domain = check_domain(domain)
        if host in (domain, f"www.{domain}"):
            return domain
    # Already in the catalogue from before domains were kept: its own host allows it.
    return host[4:] if host.startswith("www.") and "." in host[4:] else host


#: Fields :meth:`Catalogue.update` changes: the item's own, then its targeting's and schedule's.
ITEM_FIELDS = (
    "title", "url", "description", "tags", "targeting", "schedule", "weight", "active", "poster", "video",
    "allow_domain",
)  # fmt: skip
TARGETING_FIELDS = ("people_min", "people_max", "postures", "orientations", "min_dwell_s")
SCHEDULE_FIELDS = ("days", "time_from", "time_to", "date_from", "date_to")


def changed_item(
    item: ContentItem, changes: dict[str, Any], allow_domains: Iterable[str] = ()
) -> ContentItem:
    """``item`` with ``changes`` applied (typed values, see :meth:`Catalogue.update`), checked as new.

    A new ``url`` is checked by the URL policy with ``allow_domains`` and the
    domain the item already had.
    """
    known = (*ITEM_FIELDS, *TARGETING_FIELDS, *SCHEDULE_FIELDS)
    unknown = [k for k in changes if k not in known]
    if unknown:
        raise ContentError(
            f"cannot change {', '.join(map(repr, unknown))}; the fields are {', '.join(known)}"
        )
    own = {k: v for k, v in changes.items() if k in ITEM_FIELDS}
    targeting = {k: v for k, v in changes.items() if k in TARGETING_FIELDS}
    schedule = {k: v for k, v in changes.items() if k in SCHEDULE_FIELDS}
    for key, allowed in (("postures", POSTURES), ("orientations", ORIENTATIONS)):
        if key in targeting:
            targeting[key] = _choices(targeting[key], allowed, key.rstrip("s"))
    if "days" in schedule:
        schedule["days"] = tuple(sorted(set(schedule["days"] or ())))
    if "tags" in own:
        own["tags"] = tuple(t.strip() for t in own["tags"] or () if t.strip())
    if "title" in own:
        own["title"] = str(own["title"] or "").strip()
    if "description" in own:
        own["description"] = str(own["description"] or "").strip()
    if "weight" in own:
        try:
            own["weight"] = float(own["weight"])
        except (TypeError, ValueError):
            raise ContentError(f"weight {own['weight']!r} is not a number") from None
    if "url" in own:
        domains = [str(d) for d in (*allow_domains, own.get("allow_domain"), item.allow_domain) if d]
        own["url"] = normalise_url(str(own["url"]), domains)
        own["allow_domain"] = own_domain(own["url"], domains)
    elif own.get("allow_domain"):
        own["allow_domain"] = check_domain(own["allow_domain"])
    base = own.pop("targeting", item.targeting)
    when = own.pop("schedule", item.schedule)
    return replace(
        item,
        targeting=replace(base, **targeting) if targeting else base,
        schedule=replace(when, **schedule) if schedule else when,
        **own,
    )


#: The text forms :func:`parse_changes` reads, as the CLI options and CSV cells write them.
TEXT_FIELDS = (
    "title", "url", "description", "tags", "people", "postures", "orientations", "min_dwell_s", "days",
    "hours", "start_date", "end_date", "weight", "active", "poster", "video", "allow_domain",
)  # fmt: skip


def parse_changes(**text: str | None) -> dict[str, Any]:
    """Typed changes for :meth:`Catalogue.update` from text (a CLI option, a CSV cell, a form field).

    Only the names given change; None means "leave it", an empty string clears the
    field to its default: any posture, every day, all day, no dates, no tags,
    people 1-4, weight 1, no poster or video (the drawn poster). Lists take ``,``
    (``;`` too, as older exports wrote them), e.g. ``days="mon-fri,sun"``.
    """
    unknown = [k for k in text if k not in TEXT_FIELDS]
    if unknown:
        raise ContentError(
            f"cannot change {', '.join(map(repr, unknown))}; the fields are {', '.join(TEXT_FIELDS)}"
        )
    out: dict[str, Any] = {}
    given = {k: v for k, v in text.items() if v is not None}
    for key, value in given.items():
        if key in ("title", "url", "description"):
            out[key] = value
        elif key == "tags":
            out["tags"] = tuple(_split(value))
        elif key == "people":
            targeting = Targeting.parse(people=value or None)
            out["people_min"], out["people_max"] = targeting.people_min, targeting.people_max
        elif key in ("postures", "orientations"):
            out[key] = _choices(value, POSTURES if key == "postures" else ORIENTATIONS, key.rstrip("s"))
        elif key == "min_dwell_s":
            out["min_dwell_s"] = Targeting.parse(min_dwell_s=value).min_dwell_s
        elif key == "days":
            out["days"] = Schedule.parse(days=value).days
        elif key == "hours":
            schedule = Schedule.parse(hours=value)
            out["time_from"], out["time_to"] = schedule.time_from, schedule.time_to
        elif key in ("start_date", "end_date"):
            day = _parse_date(value, "start date" if key == "start_date" else "end date")
            out["date_from" if key == "start_date" else "date_to"] = day
        elif key == "weight":
            try:
                out["weight"] = float(value) if value.strip() else 1.0
            except ValueError:
                raise ContentError(f"weight {value!r} is not a number") from None
        elif key == "active":
            out["active"] = _flag(value, "the item")
        elif key in ("poster", "video"):
            out[key] = _media_cell({key: value.strip()}, "poster" if key == "poster" else "video")
        elif key == "allow_domain":
            out["allow_domain"] = check_domain(value) if value.strip() else None
    return out


class Upserted(NamedTuple):
    """What :meth:`Catalogue.upsert_many` did, by URL."""

    added: int
    updated: int
    unchanged: int


def bucket_key(bucket: Bucket) -> str:
    """A bucket as stored: ``"1|standing|facing"``; missing parts are empty."""
    count, posture, orientation = bucket
    return f"{count}|{posture or ''}|{orientation or ''}"


def parse_bucket(key: str) -> Bucket:
    count, posture, orientation = key.split("|")
    return (int(count), posture or None, orientation or None)


@dataclass(frozen=True, slots=True)
class Impression:
    """One showing: what, to which audience bucket, for how long and how well it held attention."""

    content_id: int
    count: int
    posture: str | None
    orientation: str | None
    start: datetime
    end: datetime
    dwell_s: float
    facing_s: float
    stayed: bool
    #: the showing's visits (see :mod:`heatcast.firmware.visits`); None in impressions from before
    visits_at_start: int | None = None
    arrivals: int | None = None
    ots: int | None = None
    watchers: int | None = None
    #: phone taps on the tag while it showed (None: the tag does not count them)
    taps: int | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ContentError(f"impression ends ({self.end}) before it starts ({self.start})")
        counts = (self.visits_at_start, self.arrivals, self.ots, self.watchers, self.taps)
        if any(v is not None and v < 0 for v in counts):
            raise ContentError("impression visit counts must not be negative")
        in_view = (self.visits_at_start or 0) + (self.arrivals or 0)
        if self.watchers is not None and self.visits_at_start is not None and self.watchers > in_view:
            raise ContentError("an impression cannot have more watchers than visits in view")
        if not 0 <= self.count <= MAX_COUNT:
            raise ContentError(f"impression count {self.count} must be 0..{MAX_COUNT}")
        if self.dwell_s < 0 or self.facing_s < 0:
            raise ContentError("impression dwell and facing seconds must not be negative")

    @classmethod
    def from_audience(
        cls, content_id: int, audience: Audience, start: datetime, end: datetime, stayed: bool
    ) -> Impression:
        """From the audience seen at the end of a showing."""
        shown = (end - start).total_seconds()
        return cls(
            content_id,
            audience.count,
            audience.posture,
            audience.orientation,
            start,
            end,
            min(audience.dwell_s, shown),
            min(audience.facing_s, shown),
            stayed,
        )

    @property
    def bucket(self) -> Bucket:
        return (self.count, self.posture, self.orientation)

    @property
    def shown_s(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def reward(self) -> float:
        """How well it held attention, 0..1: the share of the showing someone faced the screen."""
        return max(0.0, min(1.0, self.facing_s / max(self.shown_s, 1e-3)))

    def reward_for(self, mode: str) -> float:
        """The chooser's reward under ``chooser.reward``: attention, taps (1 if anyone tapped) or both."""
        tapped = 1.0 if (self.taps or 0) > 0 else 0.0
        if mode == "taps":
            return tapped
        if mode == "both":
            return max(self.reward, tapped)
        return self.reward



def _stamp(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone().replace(tzinfo=None)
    return moment.isoformat(timespec="seconds")


# --------------------------------------------------------------------------- migrations

Step = Callable[[sqlite_utils.Database], None]


class Migrations:
    """Numbered schema steps; ``PRAGMA user_version`` holds the last one applied.

    Each step runs in its own transaction together with the version bump, so a
    crash mid-upgrade leaves the file at the previous version, never between.
    """

    def __init__(self) -> None:
        self.steps: list[tuple[int, str, Step]] = []

    def __call__(self, func: Step) -> Step:
        self.steps.append((len(self.steps) + 1, func.__name__, func))
        return func

    @property
    def latest(self) -> int:
        return len(self.steps)

    @staticmethod
    def version(db: sqlite_utils.Database) -> int:
        return int(db.conn.execute("PRAGMA user_version").fetchone()[0])

    def apply(self, db: sqlite_utils.Database, target: int | None = None) -> list[str]:
        """Bring ``db`` up to ``target`` (default: latest); returns the step names applied."""
        target = self.latest if target is None else target
        applied = []
        for number, name, step in self.steps:
            if number > target or number <= self.version(db):
                continue
            db.conn.execute("BEGIN IMMEDIATE")
            try:
                if self.version(db) < number:  # another process may have just done it
                    step(db)
                    db.conn.execute(f"PRAGMA user_version = {number}")
                    applied.append(name)
                db.conn.execute("COMMIT")
            except BaseException:
                if db.conn.in_transaction:
                    db.conn.execute("ROLLBACK")
                raise
            log.info("catalogue migration %d (%s) applied", number, name)
        return applied


migrations = Migrations()


@migrations
def create_items(db: sqlite_utils.Database) -> None:
    """v1 (heatcast 0.0): items with audience targeting; tags were comma-separated text."""
    db.table("items").create(
        {
            "id": int,
            "title": str,
            "url": str,
            "description": str,
            "tags": str,
            "people_min": int,
            "people_max": int,
            "postures": str,
            "orientations": str,
            "weight": float,
            "active": int,
        },
        pk="id",
        not_null={"title", "url", "people_min", "people_max", "weight", "active"},
        defaults={
            "description": "",
            "tags": "",
            "postures": "",
            "orientations": "",
            "weight": 1.0,
            "active": 1,
        },
    )
    db.table("items").create_index(["url"], unique=True)


@migrations
def add_schedule_and_dwell(db: sqlite_utils.Database) -> None:
    """v2: minimum dwell, days/hours/dates schedule; tags become a JSON list."""
    items = db.table("items")
    assert isinstance(items, sqlite_utils.db.Table)
    items.add_column("min_dwell_s", float, not_null_default=0.0)
    items.add_column("days", str, not_null_default="")
    for column in ("time_from", "time_to", "date_from", "date_to"):
        items.add_column(column, str)
    for row_id, tags in db.conn.execute("SELECT id, tags FROM items").fetchall():
        db.conn.execute("UPDATE items SET tags = ? WHERE id = ?", (json.dumps(_split(tags)), row_id))


@migrations
def add_impressions(db: sqlite_utils.Database) -> None:
    """v3: impressions and the learned engagement per (audience bucket, item)."""
    db.table("impressions").create(
        {
            "id": int,
            "content_id": int,
            "count": int,
            "posture": str,
            "orientation": str,
            "start": str,
            "end": str,
            "dwell_s": float,
            "facing_s": float,
            "stayed": int,
        },
        pk="id",
        not_null={"content_id", "count", "start", "end", "dwell_s", "facing_s", "stayed"},
        foreign_keys=[("content_id", "items", "id")],
    )
    db.table("engagement").create(
        {"bucket": str, "content_id": int, "alpha": float, "beta": float, "shown": int},
        pk=("bucket", "content_id"),
        not_null={"alpha", "beta", "shown"},
        foreign_keys=[("content_id", "items", "id")],
    )


@migrations
def add_revisions_and_indexes(db: sqlite_utils.Database) -> None:
    """v4: change counters (so choosers refresh) and indexes for choosing and reports."""
    db.table("meta").create({"key": str, "value": int}, pk="key", not_null={"value"})
    db.table("meta").insert_all([{"key": "items_rev", "value": 0}, {"key": "engagement_rev", "value": 0}])
    for table, key in (("items", "items_rev"), ("engagement", "engagement_rev")):
        for action in ("INSERT", "UPDATE", "DELETE"):
            db.conn.execute(
                f"CREATE TRIGGER {table}_{action.lower()}_rev AFTER {action} ON {table} "
                f"BEGIN UPDATE meta SET value = value + 1 WHERE key = '{key}'; END"
            )
    db.table("items").create_index(["active", "people_min", "people_max"])
    db.table("impressions").create_index(["start"])
    db.table("impressions").create_index(["content_id"])
    db.table("engagement").create_index(["content_id"])


@migrations
def add_media_and_neutral_titles(db: sqlite_utils.Database) -> None:
    """v5: a poster and a local video per item; camera-era profiles are no longer titles.

    Earlier imports of the old camera system's table used its description
    ("male, 30, asian, ...") as the title, which the screen showed. Such titles
    become neutral; the description stays, as before, unused for targeting.
    """
    db.table("items").add_column("poster", str)
    db.table("items").add_column("video", str)
    for row in db.query("SELECT id, title, description FROM items"):
        if row["title"] == (row["description"] or "").strip()[:60] and camera_profile(row["description"]):
            db.conn.execute("UPDATE items SET title = ? WHERE id = ?", (neutral_title(row["id"]), row["id"]))


@migrations
def add_archive_and_allowed_domain(db: sqlite_utils.Database) -> None:
    """v6: items can be archived (off the screen, impressions kept) and keep their allowed domain.

    An archived item is stored with ``active = 0``, so every reader that picks
    ``active = 1`` items (the chooser, the doctor) skips it; ``archived`` holds the
    owner's switch for a restore: 0 not archived, 1 archived while off, 2 while on.
    Links on a shop's own domain were allowed by an option or the configuration
    when added; their host now goes with them.
    """
    items = db.table("items")
    assert isinstance(items, sqlite_utils.db.Table)
    items.add_column("archived", int, not_null_default=0)
    items.add_column("allow_domain", str)
    for row_id, url in db.conn.execute("SELECT id, url FROM items").fetchall():
        if not is_normalised(url):
            db.conn.execute("UPDATE items SET allow_domain = ? WHERE id = ?", (own_domain(url, ()), row_id))


@migrations
def add_visit_counts(db: sqlite_utils.Database) -> None:
    """v7: each showing keeps its visits as counts (heatcast.firmware.visits): those in view at
    its start, those arriving during it, its opportunities to see and its watchers."""
    impressions = db.table("impressions")
    assert isinstance(impressions, sqlite_utils.db.Table)
    for column in ("visits_at_start", "arrivals", "ots", "watchers"):
        impressions.add_column(column, int)


@migrations
def add_taps(db: sqlite_utils.Database) -> None:
    """v8: each showing keeps the phone taps the tag counted while it showed (NULL: not counted)."""
    impressions = db.table("impressions")
    assert isinstance(impressions, sqlite_utils.db.Table)
    impressions.add_column("taps", int)


def neutral_title(number: int | str) -> str:
    return f"Video {number}"


_REMAKE = "restore it from a backup, or remove it: the kiosk makes it anew from the shipped one"


def file_problem(path: Path) -> tuple[str, str] | None:
    """What is wrong with a catalogue file itself, before SQLite is asked: (what, fix), or None.

    Named by its real cause (truncated, not SQLite, unreadable, read-only), for doctor and
    for the kiosk's one log line when a write fails.
    """
    _user = current_user

    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(100)
    except PermissionError:
        return "cannot be read (permission denied)", f"sudo chown {_user()} {path}"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})", "check the disk (dmesg) and restore it from a backup"
    if size == 0 or len(head) < 100:
        return f"is truncated ({size} bytes)", _REMAKE
    if not head.startswith(b"SQLite format 3\0"):
        return "is not an SQLite file (overwritten?)", _REMAKE
    page = int.from_bytes(head[16:18], "big") or 65536
    pages = int.from_bytes(head[28:32], "big")
    if pages and size < page * pages:
        return f"is truncated ({size} bytes, its header says {page * pages})", _REMAKE
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        where = path if not os.access(path, os.W_OK) else path.parent
        return (
            f"is read-only for {_user()} ({where} cannot be written): the kiosk could record nothing",
            f"sudo chown {_user()} {where} (and check `lsattr {path}` shows no i flag)",
        )
    return None


def current_user() -> str:
    """The name of the user this process runs as (for the chown a message suggests)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


# --------------------------------------------------------------------------- catalogue

_FIX_CORRUPT = (
    "restore it from a backup, or delete it and heatcast copies the shipped catalogue again "
    "(re-import your own items with `heatcast content import`)"
)


def _explain(path: Path, exc: sqlite3.Error, doing: str) -> ContentError:
    """One clear ContentError for a SQLite failure, naming the file and the fix."""
    text = str(exc).lower()
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return ContentError(f"{path} is corrupt ({exc}) while {doing}: {_FIX_CORRUPT}")
    if "locked" in text or "busy" in text:
        return ContentError(
            f"{path} is locked by another program writing to it ({doing}); "
            "wait for it to finish or stop it, then retry"
        )
    if "full" in text:
        return ContentError(f"no room to write {path} ({exc}) while {doing}: free some disk space")
    if "readonly" in text or "read-only" in text:
        return ContentError(f"{path} is read-only ({doing}); check the file's permissions or use --db")
    if "unable to open" in text:
        return ContentError(
            f"cannot open {path} ({exc}); check that its folder exists and is writable, or use --db"
        )
    return ContentError(f"{path}: {exc} while {doing}")


class Catalogue:
    """A content catalogue file. Thread-safe; every multi-row change is one transaction."""

    def __init__(
        self,
        path: Path | str,
        *,
        busy_timeout_s: float = 5.0,
        retries: int = 2,
        create: bool = True,
        readonly: bool = False,
    ) -> None:
        self.path = Path(path)
        self.retries = retries
        self._lock = threading.RLock()
        self._full_logged = False
        #: what the chooser learns from (``chooser.reward``, one of :data:`REWARDS`)
        self.reward_mode = "attention"
        #: the row id of the impression recorded last
        self.last_impression_id: int | None = None
        if not self.path.exists() and (readonly or not create):
            raise ContentError(f"catalogue {self.path} does not exist; check the path or use --db")
        if self.path.exists() and self.path.is_dir():
            raise ContentError(f"{self.path} is a folder, not a catalogue file; give a file path with --db")
        try:
            if readonly:
                conn = sqlite3.connect(
                    f"file:{self.path}?mode=ro", uri=True, timeout=busy_timeout_s, check_same_thread=False
                )
            else:
                conn = sqlite3.connect(str(self.path), timeout=busy_timeout_s, check_same_thread=False)
        except sqlite3.Error as exc:
            raise _explain(self.path, exc, "opening it") from None
        self.db = sqlite_utils.Database(conn, execute_plugins=False)
        try:
            self._prepare(readonly)
        except sqlite3.Error as exc:
            conn.close()
            raise _explain(self.path, exc, "opening it") from None
        except ContentError:
            conn.close()
            raise

    def _prepare(self, readonly: bool) -> None:
        conn = self.db.conn
        conn.execute("PRAGMA foreign_keys = ON")
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise ContentError(f"{self.path} is corrupt (integrity check: {check}): {_FIX_CORRUPT}")
        version = Migrations.version(self.db)
        tables = set(self.db.table_names())
        if version == 0 and tables - {"sqlite_sequence"}:
            hint = (
                f"; to bring its items in, run `heatcast content import {self.path}`"
                if "youtube_urls" in tables
                else ""
            )
            raise ContentError(
                f"{self.path} is an SQLite file but not a heatcast catalogue "
                f"(it holds {', '.join(sorted(tables))}){hint}"
            )
        if version > migrations.latest:
            raise ContentError(
                f"{self.path} was written by a newer heatcast (schema {version}, this one knows "
                f"{migrations.latest}); upgrade heatcast or use another --db"
            )
        if readonly:
            if version < migrations.latest:
                raise ContentError(f"{self.path} has an old schema; open it writable once to upgrade it")
            return
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self._retry(lambda: self.db.enable_wal(), "switching it to WAL mode")
        self._retry(lambda: migrations.apply(self.db), "upgrading its schema")

    @classmethod
    def open_or_copy(cls, path: Path | None = None, **kwargs: Any) -> Catalogue:
        """Open the kiosk's catalogue, first copying the shipped one there if it does not exist yet."""
        path = Path(path) if path is not None else default_db_path()
        if not path.exists():
            shipped = bundled_catalogue_path()
            if not shipped.is_file():
                raise ContentError(
                    f"the catalogue shipped with heatcast ({shipped}) is missing, so {path} cannot be "
                    "created; reinstall heatcast, or give a catalogue of your own with --db"
                )
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=".content-", suffix=".db", dir=path.parent)
                os.close(fd)
                try:
                    shutil.copyfile(shipped, tmp)
                    os.replace(tmp, path)  # atomic: a crash never leaves half a catalogue
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
            except OSError as exc:
                raise ContentError(
                    f"cannot create {path} ({exc}); check the data folder's permissions"
                ) from None
            log.info("copied the shipped catalogue to %s", path)
        return cls(path, **kwargs)

    @property
    def media_dir(self) -> Path:
        """Where this catalogue's posters and videos are kept."""
        return media_dir(self.path)

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing

    def _retry(self, action: Callable[[], Any], doing: str) -> Any:
        """Run ``action``; on "database is locked" (after the busy timeout) try again, then explain."""
        for attempt in range(self.retries + 1):
            try:
                with self._lock:
                    return action()
            except sqlite3.OperationalError as exc:
                text = str(exc).lower()
                if ("locked" in text or "busy" in text) and attempt < self.retries:
                    log.warning("%s is locked (%s); retrying", self.path, doing)
                    _time.sleep(0.05 * (attempt + 1))
                    continue
                raise _explain(self.path, exc, doing) from None
            except sqlite3.Error as exc:
                raise _explain(self.path, exc, doing) from None
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite_utils.Database]:
        """One ``BEGIN IMMEDIATE`` transaction: takes the write lock up front so it never deadlocks."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def revision(self) -> tuple[int, int]:
        """(items revision, engagement revision): they change whenever anyone changes either."""

        def read() -> tuple[int, int]:
            rows = dict(self.db.conn.execute("SELECT key, value FROM meta").fetchall())
            return int(rows["items_rev"]), int(rows["engagement_rev"])

        result: tuple[int, int] = self._retry(read, "reading it")
        return result

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read-only query as dicts."""

        def run() -> list[dict[str, Any]]:
            cursor = self.db.conn.execute(sql, tuple(params))
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        result: list[dict[str, Any]] = self._retry(run, "reading it")
        return result

    # -- items

    def items(self, *, active_only: bool = False, archived: bool | None = False) -> list[ContentItem]:
        """Items by id. ``archived``: False (the default) leaves archived items out, True gives
        only them, None gives both. ``active_only`` gives only the items that may show."""
        where = []
        if active_only:
            where.append("active = 1")
        if archived is not None:
            where.append("archived > 0" if archived else "archived = 0")
        sql = "SELECT * FROM items" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
        try:
            return [ContentItem.from_row(r) for r in self.query(sql)]
        except (ValueError, KeyError, TypeError) as exc:
            raise ContentError(
                f"{self.path} holds an item that cannot be read ({exc}): {_FIX_CORRUPT}"
            ) from None

    def count(self) -> int:
        """How many items, archived ones included."""
        return int(self.query("SELECT count(*) AS n FROM items")[0]["n"])

    def get(self, item_id: int) -> ContentItem:
        """One item by id (archived or not)."""
        return self.get_many([item_id])[0]

    def get_many(self, ids: Iterable[int]) -> list[ContentItem]:
        """Items by id, in the order given (each once); one error naming every id that is not there."""
        wanted = list(dict.fromkeys(int(i) for i in ids))
        rows = self.query(
            f"SELECT * FROM items WHERE id IN ({', '.join('?' * len(wanted))})", wanted
        ) if wanted else []
        found = {r["id"]: ContentItem.from_row(r) for r in rows}
        self._refuse_missing(wanted, found)
        return [found[i] for i in wanted]

    def _refuse_missing(self, wanted: Sequence[int], found: Iterable[int]) -> None:
        missing = [i for i in wanted if i not in set(found)]
        if missing:
            some = "is no item" if len(missing) == 1 else "are no items"
            raise ContentError(
                f"there {some} {', '.join(map(str, missing))} in {self.path}; nothing was changed "
                "(`heatcast content list --all` shows the ids)"
            )

    def _locked_items(self, db: sqlite_utils.Database, ids: Iterable[int]) -> dict[int, ContentItem]:
        """Inside a write transaction: the items, or one error naming the ids not there."""
        wanted = list(dict.fromkeys(int(i) for i in ids))
        if not wanted:
            raise ContentError("give one or more item ids (`heatcast content list` shows them)")
        cursor = db.conn.execute(
            f"SELECT * FROM items WHERE id IN ({', '.join('?' * len(wanted))})", wanted
        )
        names = [d[0] for d in cursor.description]
        found = {row[0]: ContentItem.from_row(dict(zip(names, row, strict=True))) for row in cursor}
        self._refuse_missing(wanted, found)
        return {i: found[i] for i in wanted}

    def _duplicate(self, db: sqlite_utils.Database, url: str, but: int | None = None) -> None:
        same = db.conn.execute(
            "SELECT id, archived FROM items WHERE url = ? AND id IS NOT ?", (url, but)
        ).fetchone()
        if same:
            if same[1]:
                raise ContentError(
                    f"{url} is already item {same[0]}, archived; bring it back with "
                    f"`heatcast content restore {same[0]}`"
                )
            raise ContentError(
                f"{url} is already item {same[0]}; change that item with `heatcast content edit {same[0]}`"
            )

    def add(self, item: ContentItem) -> ContentItem:
        """Insert one item; refuses a URL that is already in the catalogue."""

        def insert() -> int:
            with self._write() as db:
                self._duplicate(db, item.url)
                row = item.to_row()
                row.pop("id", None)
                cursor = db.conn.execute(
                    f"INSERT INTO items ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                    tuple(row.values()),
                )
                return int(cursor.lastrowid or 0)

        return replace(item, id=self._retry(insert, f"adding {item.url}"))

    def update(self, item_id: int, *, allow_domains: Iterable[str] = (), **changes: Any) -> ContentItem:
        """Change some fields of one item; the rest stay. Returns the item as stored.

        ``changes`` are typed values by name: the item's own fields (``title``,
        ``url``, ``description``, ``tags``, ``weight``, ``active``, ``poster`` and
        ``video`` as stored names from :func:`heatcast.firmware.media.store`, or
        whole ``targeting``/``schedule`` objects) or single fields of its
        targeting (``people_min``, ``people_max``, ``postures``, ``orientations``,
        ``min_dwell_s``) and schedule (``days`` as 0-6, ``time_from``, ``time_to``,
        ``date_from``, ``date_to``). :func:`parse_changes` makes them from the
        text forms the CLI and CSV use. The result is checked as a new item is
        (a new ``url`` by the URL policy with ``allow_domains`` and the item's own
        domain, and against the other items' URLs); nothing changes on an error.
        """
        return self.update_many([item_id], allow_domains=allow_domains, **changes)[0]

    def update_many(
        self, ids: Iterable[int], *, allow_domains: Iterable[str] = (), **changes: Any
    ) -> list[ContentItem]:
        """The same ``changes`` (as :meth:`update`) to several items, all or nothing."""
        domains = tuple(allow_domains)
        wanted = list(ids)

        def write() -> list[ContentItem]:
            with self._write() as db:
                items = self._locked_items(db, wanted)
                if "url" in changes and len(items) > 1:
                    raise ContentError("a URL belongs to one item; give one id to change it")
                out = []
                for item_id, item in items.items():
                    new = changed_item(item, changes, domains)
                    if new.url != item.url:
                        self._duplicate(db, new.url, but=item_id)
                    row = new.to_row()
                    row.pop("id", None)
                    db.conn.execute(
                        f"UPDATE items SET {', '.join(f'{k} = ?' for k in row)} WHERE id = ?",
                        (*row.values(), item_id),
                    )
                    out.append(new)
                return out

        result: list[ContentItem] = self._retry(write, "changing items")
        return result

    def _flip(
        self, ids: Iterable[int], change: Callable[[ContentItem], ContentItem], doing: str
    ) -> list[ContentItem]:
        """Apply ``change`` to each item of ``ids`` in one transaction; the items as stored."""
        wanted = list(ids)

        def write() -> list[ContentItem]:
            with self._write() as db:
                out = []
                for item_id, item in self._locked_items(db, wanted).items():
                    new = change(item)
                    if new != item:
                        row = new.to_row()
                        db.conn.execute(
                            "UPDATE items SET active = ?, archived = ? WHERE id = ?",
                            (row["active"], row["archived"], item_id),
                        )
                    out.append(new)
                return out

        result: list[ContentItem] = self._retry(write, doing)
        return result

    def set_active(self, ids: int | Iterable[int], active: bool) -> list[ContentItem]:
        """Switch items on or off (all or nothing). An archived item stays archived; the switch
        applies once it is restored."""
        wanted = [ids] if isinstance(ids, int) else list(ids)
        return self._flip(wanted, lambda item: replace(item, active=active), "switching items")

    def archive(self, ids: Iterable[int]) -> list[ContentItem]:
        """Take items off the screen but keep them, their impressions and what was learned
        (all or nothing); :meth:`restore` brings them back as they were. Already archived
        items stay so."""
        return self._flip(ids, lambda item: replace(item, archived=True), "archiving items")

    def restore(self, ids: Iterable[int]) -> list[ContentItem]:
        """Bring archived items back, switched on or off as they were when archived."""
        return self._flip(ids, lambda item: replace(item, archived=False), "restoring items")

    def delete_items(self, ids: Iterable[int]) -> list[ContentItem]:
        """Delete items for good with their impressions and learned engagement (one
        transaction, all or nothing); returns what was deleted. Their media files stay
        (another item may share one). To keep the history, :meth:`archive` instead."""
        wanted = list(ids)

        def delete() -> list[ContentItem]:
            with self._write() as db:
                items = self._locked_items(db, wanted)
                marks = ", ".join("?" * len(items))
                for table, column in (("impressions", "content_id"), ("engagement", "content_id")):
                    db.conn.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", tuple(items))
                db.conn.execute(f"DELETE FROM items WHERE id IN ({marks})", tuple(items))
                return list(items.values())

        result: list[ContentItem] = self._retry(delete, "deleting items")
        return result

    def remove(self, item_id: int) -> ContentItem:
        """Delete one item for good, as :meth:`delete_items` (``content remove`` archives instead)."""
        return self.delete_items([item_id])[0]

    def upsert_many(
        self, items: Sequence[ContentItem], progress: Callable[[int], None] | None = None
    ) -> Upserted:
        """Add or change (by URL) all ``items`` in ONE transaction; counts added, updated, unchanged.

        An item whose every field is already as given is left alone (and counted
        unchanged). An item without a poster or video (from a legacy table or an
        older export) keeps the ones it has.
        """

        def write() -> Upserted:
            added = updated = unchanged = 0
            with self._write() as db:
                cursor = db.conn.execute("SELECT * FROM items")
                names = [d[0] for d in cursor.description]
                existing: dict[str, ContentItem] = {}
                for values in cursor:
                    stored = ContentItem.from_row(dict(zip(names, values, strict=True)))
                    existing[stored.url] = stored
                for number, item in enumerate(items, 1):
                    was = existing.get(item.url)
                    if was is not None:
                        new = replace(
                            item,
                            id=was.id,
                            poster=item.poster if item.poster is not None else was.poster,
                            video=item.video if item.video is not None else was.video,
                        )
                        if new.to_row() == was.to_row():
                            unchanged += 1
                        else:
                            row = new.to_row()
                            row.pop("id")
                            db.conn.execute(
                                f"UPDATE items SET {', '.join(f'{k} = ?' for k in row)} WHERE id = ?",
                                (*row.values(), was.id),
                            )
                            updated += 1
                    else:
                        row = item.to_row()
                        row.pop("id", None)
                        cursor = db.conn.execute(
                            f"INSERT INTO items ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                            tuple(row.values()),
                        )
                        existing[item.url] = replace(item, id=cursor.lastrowid)
                        added += 1
                    if progress is not None and number % 1000 == 0:
                        progress(number)
            return Upserted(added, updated, unchanged)

        result: Upserted = self._retry(write, "importing items")
        return result

    # -- impressions and learning

    def record_impression(self, impression: Impression, busy_timeout_s: float = 0.5) -> bool:
        """Store one impression and update the learned engagement, together.

        Never raises for a full disk or a locked or broken file: the kiosk must
        keep showing content. Logs one clear error (once per run of failures)
        and returns False instead. Waits at most about ``busy_timeout_s`` per
        attempt for another writer (say a long ``content import``), so the
        kiosk loop is never held up for long. An impression of an item removed
        meanwhile is dropped quietly.
        """
        key = bucket_key(impression.bucket)
        reward = impression.reward_for(self.reward_mode)
        gone = False

        def write() -> None:
            nonlocal gone
            with self._write() as db:
                exists = db.conn.execute("SELECT 1 FROM items WHERE id = ?", (impression.content_id,))
                if exists.fetchone() is None:
                    gone = True
                    return
                db.conn.execute(
                    "INSERT INTO impressions (content_id, count, posture, orientation, start, end, "
                    "dwell_s, facing_s, stayed, visits_at_start, arrivals, ots, watchers, taps) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        impression.content_id,
                        impression.count,
                        impression.posture,
                        impression.orientation,
                        _stamp(impression.start),
                        _stamp(impression.end),
                        round(impression.dwell_s, 2),
                        round(impression.facing_s, 2),
                        int(impression.stayed),
                        impression.visits_at_start,
                        impression.arrivals,
                        impression.ots,
                        impression.watchers,
                        impression.taps,
                    ),
                )
                self.last_impression_id = db.conn.execute("SELECT last_insert_rowid()").fetchone()[0]
                if impression.count == 0:
                    return  # nobody there: nothing to learn about attention
                row = db.conn.execute(
                    "SELECT alpha, beta, shown FROM engagement WHERE bucket = ? AND content_id = ?",
                    (key, impression.content_id),
                ).fetchone()
                alpha, beta, shown = row if row else (1.0, 1.0, 0)
                alpha, beta = alpha + reward, beta + (1.0 - reward)
                if alpha + beta > MAX_EVIDENCE:
                    scale = MAX_EVIDENCE / (alpha + beta)
                    alpha, beta = alpha * scale, beta * scale
                db.conn.execute(
                    "INSERT OR REPLACE INTO engagement (bucket, content_id, alpha, beta, shown) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (key, impression.content_id, alpha, beta, shown + 1),
                )

        try:
            with self._lock:
                conn = self.db.conn
                usual = conn.execute("PRAGMA busy_timeout").fetchone()[0]
                conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
                try:
                    self._retry(write, "recording an impression")
                finally:
                    conn.execute(f"PRAGMA busy_timeout = {int(usual)}")
        except ContentError as exc:
            if not self._full_logged:
                log.error("impression not recorded: %s", exc)
                self._full_logged = True
            return False
        except sqlite3.Error as exc:  # the PRAGMAs themselves on a broken file
            if not self._full_logged:
                log.error("impression not recorded: %s", _explain(self.path, exc, "recording an impression"))
                self._full_logged = True
            return False
        if gone:
            log.info("item %d was removed while it showed; its impression is dropped", impression.content_id)
            return False
        if self._full_logged:
            log.warning("impressions are being recorded again in %s", self.path)
        self._full_logged = False
        return True

    def add_taps(self, impression_id: int, taps: int) -> bool:
        """Taps the tag counted for a showing already recorded (they are read when the tag is
        next visited: at the content change or within ``nfc.count_every_s``). With a reward that
        weighs taps, the learned engagement takes them in too. Never raises; False if not stored."""
        if taps <= 0:
            return True

        def write() -> None:
            with self._write() as db:
                row = db.conn.execute(
                    "SELECT content_id, count, posture, orientation, start, end, dwell_s, facing_s, taps "
                    "FROM impressions WHERE id = ?",
                    (impression_id,),
                ).fetchone()
                if row is None:
                    return
                content_id, count, posture, orientation, start, end, dwell_s, facing_s, before = row
                db.conn.execute(
                    "UPDATE impressions SET taps = COALESCE(taps, 0) + ? WHERE id = ?", (taps, impression_id)
                )
                if count == 0 or self.reward_mode == "attention":
                    return
                shown = Impression(
                    content_id, count, posture, orientation, datetime.fromisoformat(start),
                    datetime.fromisoformat(end), dwell_s, facing_s, False, taps=before,
                )  # fmt: skip
                gain = replace(shown, taps=(before or 0) + taps).reward_for(self.reward_mode)
                gain -= shown.reward_for(self.reward_mode)
                if gain:
                    db.conn.execute(
                        "UPDATE engagement SET alpha = alpha + ?, beta = max(0.01, beta - ?) "
                        "WHERE bucket = ? AND content_id = ?",
                        (gain, gain, bucket_key((count, posture, orientation)), content_id),
                    )

        try:
            with self._lock:
                self._retry(write, "recording taps")
        except (ContentError, sqlite3.Error) as exc:
            log.error("taps not recorded: %s", exc)
            return False
        return True

    def engagement(self, bucket: Bucket) -> dict[int, tuple[float, float]]:
        """Learned Beta(alpha, beta) per item id for one audience bucket."""
        rows = self.query(
            "SELECT content_id, alpha, beta FROM engagement WHERE bucket = ?", (bucket_key(bucket),)
        )
        return {r["content_id"]: (r["alpha"], r["beta"]) for r in rows}

    def purge(self, retention_days: float, now: datetime | None = None) -> int:
        """Delete impressions older than ``retention_days``; returns how many went."""
        if retention_days < 0:
            raise ContentError(f"retention of {retention_days} days must not be negative")
        cutoff = _stamp((now or datetime.now()) - timedelta(days=retention_days))

        def delete() -> int:
            with self._write() as db:
                return int(db.conn.execute("DELETE FROM impressions WHERE start < ?", (cutoff,)).rowcount)

        removed: int = self._retry(delete, "purging old impressions")
        if removed:
            log.info("purged %d impressions older than %s", removed, cutoff)
        return removed


# --------------------------------------------------------------------------- import / export

#: CSV columns (and JSON keys), for export and import alike. Lists inside a cell are separated
#: by "," as on the command line (";" is still read, as older exports wrote it).
CSV_COLUMNS = (
    "id", "title", "url", "description", "tags", "people", "postures", "orientations",
    "min_dwell_s", "days", "hours", "start_date", "end_date", "weight", "active", "poster", "video",
    "archived", "allow_domain",
)  # fmt: skip
#: The formats ``content export`` writes and ``content import`` reads (besides the old system's table).
FORMATS = {"csv": "CSV", "json": "JSON", "nl": "newline-delimited JSON"}
#: Keys a JSON item may have that are derived, so an import ignores them.
_DERIVED_KEYS = ("attract",)
_FORMAT_HINT = (
    "heatcast imports CSV, a JSON array, newline-delimited JSON (one object a line), as "
    "`heatcast content export --csv/--json/--nl` writes them, or the old system's SQLite file "
    "(table youtube_urls)"
)
_SQLITE_MAGIC = b"SQLite format 3\x00"
_TRUE = {"1", "yes", "true", "y", "on", ""}
_FALSE = {"0", "no", "false", "n", "off"}

# Camera-era profile words. Only the first group describes what a thermal
# sensor can see; the rest are kept as tags and never used for targeting.
_PEOPLE_WORDS = {
    "nobody": (0, 0), "empty": (0, 0), "no one": (0, 0), "noone": (0, 0), "idle": (0, 0),
    "attract": (0, 0), "alone": (1, 1), "single": (1, 1), "one person": (1, 1), "1 person": (1, 1),
    "solo": (1, 1), "couple": (2, 2), "pair": (2, 2), "two people": (2, 2), "2 people": (2, 2),
    "group": (3, 4), "family": (3, 4), "friends": (3, 4), "crowd": (4, 4), "3 people": (3, 3),
    "4 people": (4, 4), "many": (4, 4),
}  # fmt: skip
_POSTURE_WORDS = {"sitting": "sitting", "seated": "sitting", "standing": "standing", "lying": "lying"}
_ORIENTATION_WORDS = {
    "facing": "facing", "looking": "facing", "watching": "facing", "passing": "side",
    "walking by": "side", "passing by": "side", "side-on": "side", "side": "side", "away": "away",
}  # fmt: skip
_DWELL_WORDS = {"staying": 5.0, "waiting": 10.0, "lingering": 5.0, "browsing": 5.0, "queueing": 10.0}
_UNOBSERVABLE = {
    "gender": {"male", "female", "man", "woman", "men", "women", "boy", "girl", "m", "f",
               "non-binary", "nonbinary"},
    "age": {"child", "kid", "teen", "teenager", "young", "adult", "senior", "elderly", "old",
            "middle-aged", "baby"},
    "ethnicity": {"asian", "white", "black", "caucasian", "hispanic", "latino", "latina", "african",
                  "indian", "arab", "middle eastern", "european", "mixed"},
    "hair": {"short", "long", "bald", "blond", "blonde", "brunette", "curly", "red hair", "grey hair",
             "short hair", "long hair", "medium"},
    "glasses or beard (yes/no)": {"yes", "no", "glasses", "beard", "sunglasses", "mask"},
}  # fmt: skip
_CLOTHES = re.compile(
    r"shirt|dress|suit|jacket|coat|hoodie|sweater|jumper|jeans|skirt|uniform|hat|cap|t-shirt|"
    r"tee|blouse|polo|shorts|trousers|pants|scarf|vest|top"
)


@dataclass
class ImportSummary:
    """What an import did, and what it could not use."""

    source: Path
    kind: str
    items: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0
    #: shop domains the file's own rows allowed (their allow_domain cells)
    domains: list[str] = field(default_factory=list)
    mapped: dict[str, int] = field(default_factory=dict)
    unmapped: dict[str, dict[str, int]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [
            f"imported {self.items} items from {self.source} (detected: {self.kind}): "
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged"
            + (f", {self.merged} duplicate rows merged" if self.merged else "")
        ]
        if self.domains:
            out.append(f"links allowed by the file's allow_domain cells: {', '.join(self.domains)}")
        if self.mapped:
            done = ", ".join(f"{k} x{n}" for k, n in sorted(self.mapped.items()))
            out.append(f"mapped to thermal targeting: {done}")
        if self.unmapped:
            out.append(
                "not mapped: a thermal sensor cannot observe these, so they are kept only as tags "
                "and never used for targeting:"
            )
            for category, words in sorted(self.unmapped.items()):
                total = sum(words.values())
                shown = ", ".join(sorted(words)[:8]) + (", ..." if len(words) > 8 else "")
                out.append(f"  {category} x{total} ({shown})")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "source": str(self.source), "kind": self.kind, "items": self.items, "added": self.added,
            "updated": self.updated, "unchanged": self.unchanged, "merged": self.merged,
            "domains": self.domains, "mapped": self.mapped, "unmapped": self.unmapped,
        }  # fmt: skip


def _flag(text: str, where: str, what: str = "active") -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ContentError(f"{where}: {what} {text!r} must be 1/0, yes/no or true/false")


def _item_from_cells(cell: dict[str, str], where: str, allow_domains: Sequence[str]) -> ContentItem:
    """One item from the text cells of an import row (CSV, or JSON made text), checked as ``add``."""
    try:
        weight = float(cell.get("weight") or 1.0)
    except ValueError:
        raise ContentError(f"{where}: weight {cell['weight']!r} is not a number") from None
    try:
        # The row's own allowed domain (as export writes it) admits its link, and only its own.
        own = cell.get("allow_domain") or ""
        domains = (*allow_domains, check_domain(own)) if own else allow_domains
        return ContentItem.create(
            cell["url"],
            cell.get("title"),
            description=cell.get("description", ""),
            tags=_split(cell.get("tags")),
            targeting=Targeting.parse(
                cell.get("people") or None,
                cell.get("postures"),
                cell.get("orientations"),
                cell.get("min_dwell_s"),
            ),
            schedule=Schedule.parse(
                cell.get("days"), cell.get("hours"), cell.get("start_date"), cell.get("end_date")
            ),
            weight=weight,
            active=_flag(cell.get("active", ""), where),
            allow_domains=domains,
            poster=_media_cell(cell, "poster"),
            video=_media_cell(cell, "video"),
            archived=_flag(cell.get("archived") or "0", where, "archived"),
        )
    except ContentError as exc:
        if str(exc).startswith(where):
            raise
        raise ContentError(f"{where}: {exc}") from None


def _unique(items: list[ContentItem], item: ContentItem, seen: dict[str, str], name: str, at: str) -> None:
    """Append ``item`` (from ``at``, "line 3", in file ``name``) unless its URL came earlier."""
    if item.url in seen:
        raise ContentError(f"{name} {at}: {item.url} is already on {seen[item.url]}; keep one of them")
    seen[item.url] = at
    items.append(item)


def _read_csv(text: str, name: str, allow_domains: Sequence[str]) -> list[ContentItem]:
    import csv

    reader = csv.DictReader(text.splitlines(keepends=True), strict=True)
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        raise ContentError(f"{name} line 1: not valid CSV ({exc})") from None
    names = [h.strip().lower() for h in header]
    unknown = [h for h in names if h not in CSV_COLUMNS]
    if "url" not in names or unknown:
        why = f"unknown columns {', '.join(map(repr, unknown))}" if unknown else "no url column"
        raise ContentError(
            f"{name} line 1: {why}; the columns are {', '.join(CSV_COLUMNS)} "
            "(as `heatcast content export` writes them; only url is required)"
        )
    reader.fieldnames = names
    items: list[ContentItem] = []
    seen: dict[str, str] = {}
    try:
        for row in reader:
            where = f"{name} line {reader.line_num}"
            if None in row or any(v is None for v in row.values()):
                raise ContentError(f"{where}: {len(header)} cells expected; check the commas and quotes")
            cell = {k: (v or "").strip() for k, v in row.items()}
            if not any(cell.values()):
                continue
            item = _item_from_cells(cell, where, allow_domains)
            _unique(items, item, seen, name, f"line {reader.line_num}")
    except csv.Error as exc:
        raise ContentError(f"{name} line {reader.line_num}: not valid CSV ({exc})") from None
    return items


def _json_cell(value: Any, key: str, where: str) -> str:
    """A JSON value as the text a CSV cell would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float, str)):
        return str(value).strip()
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return ",".join(str(v).strip() for v in value)
    raise ContentError(f"{where}: {key} must be text, a number, true/false or a list of text")


def _item_from_json(obj: Any, where: str, allow_domains: Sequence[str]) -> ContentItem | None:
    if not isinstance(obj, dict):
        raise ContentError(f"{where}: an item must be a JSON object, not {type(obj).__name__}")
    keys = {str(k).strip().lower(): v for k, v in obj.items()}
    unknown = [k for k in keys if k not in CSV_COLUMNS and k not in _DERIVED_KEYS]
    if unknown or "url" not in keys:
        why = f"unknown keys {', '.join(map(repr, unknown))}" if unknown else "no url"
        raise ContentError(
            f"{where}: {why}; the keys are {', '.join(CSV_COLUMNS)} "
            "(as `heatcast content export --json` writes them; only url is required)"
        )
    cell = {k: _json_cell(v, k, where) for k, v in keys.items() if k not in _DERIVED_KEYS}
    return _item_from_cells(cell, where, allow_domains) if any(cell.values()) else None


def _json(text: str, where: str, hint: str = "") -> Any:
    """json.loads that answers every malformed input with one ContentError."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContentError(f"{where} line {exc.lineno}: not valid JSON ({exc.msg}){hint}") from None
    except RecursionError:
        raise ContentError(f"{where}: JSON nested too deeply to be an item list{hint}") from None
    except ValueError as exc:  # an integer of thousands of digits
        raise ContentError(f"{where}: not valid JSON here ({exc}){hint}") from None


def _read_json(text: str, name: str, allow_domains: Sequence[str]) -> list[ContentItem]:
    data = _json(text, name)
    if not isinstance(data, list):
        raise ContentError(
            f"{name}: JSON must be an array of items, as `heatcast content export --json` writes it"
        )
    items: list[ContentItem] = []
    seen: dict[str, str] = {}
    for number, obj in enumerate(data, 1):
        item = _item_from_json(obj, f"{name} item {number}", allow_domains)
        if item is not None:
            _unique(items, item, seen, name, f"item {number}")
    return items


def _read_nl(text: str, name: str, allow_domains: Sequence[str]) -> list[ContentItem]:
    items: list[ContentItem] = []
    seen: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{name} line {number}"
        obj = _json(line, where, "; newline-delimited JSON holds one object a line")
        item = _item_from_json(obj, where, allow_domains)
        if item is not None:
            _unique(items, item, seen, name, f"line {number}")
    return items


def detect_format(data: bytes, name: str = "the file") -> str:
    """What an import file holds, by its content: "sqlite", "csv", "json" or "nl"; else one clear error."""
    if data.startswith(_SQLITE_MAGIC):
        return "sqlite"
    if name.lower().endswith((".db", ".sqlite", ".sqlite3")):
        raise ContentError(f"{name} is not an SQLite file (its header is wrong); is it corrupt?")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ContentError(
            f"{name} is neither UTF-8 CSV nor an SQLite file ({exc.reason} at byte {exc.start}); "
            + _FORMAT_HINT
        ) from None
    start = text.lstrip()[:1]
    if start == "[":
        return "json"
    if start == "{":
        return "nl"
    import csv

    first = next(iter(text.splitlines()), "")
    try:
        header = next(csv.reader([first]), [])
    except csv.Error:
        header = []
    if not text.strip() or any(h.strip().lower() in CSV_COLUMNS for h in header):
        return "csv"
    raise ContentError(f"{name} is not in a format heatcast reads; {_FORMAT_HINT}")


def _media_cell(cell: dict[str, str], kind: Kind) -> str | None:
    name = cell.get(kind) or None
    if name is not None and (mime_of(name) or "").split("/")[0] != ("image" if kind == "poster" else "video"):
        raise ContentError(
            f"{kind} {name!r} is not the name of a stored {kind} (as `heatcast content export` writes it); "
            f"give the file itself with `heatcast content add URL --{kind} FILE`"
        )
    return name


def profile_targeting(description: str, summary: ImportSummary | None = None) -> tuple[Targeting, list[str]]:
    """Map a camera-era profile ("male, 30, asian, no, short, polo shirt") to targeting and tags.

    Only what a thermal sensor sees (how many, sitting/standing, facing/passing,
    staying) becomes targeting; everything else is kept as tags and counted in
    ``summary.unmapped``.
    """
    tokens = [t.strip().lower() for t in re.split(r"[,;/|]", description or "") if t.strip()]
    people: tuple[int, int] | None = None
    postures: list[str] = []
    orientations: list[str] = []
    dwell = 0.0
    mapped: dict[str, int] = {}
    unmapped: dict[str, dict[str, int]] = {}

    def note(table: dict[str, dict[str, int]], category: str, word: str) -> None:
        table.setdefault(category, {})
        table[category][word] = table[category].get(word, 0) + 1

    for token in tokens:
        if token in _PEOPLE_WORDS:
            low, high = _PEOPLE_WORDS[token]
            people = (low, high) if people is None else (min(people[0], low), max(people[1], high))
            mapped["people count"] = mapped.get("people count", 0) + 1
        elif token in _POSTURE_WORDS:
            postures.append(_POSTURE_WORDS[token])
            mapped["posture"] = mapped.get("posture", 0) + 1
        elif token in _ORIENTATION_WORDS:
            orientations.append(_ORIENTATION_WORDS[token])
            mapped["orientation"] = mapped.get("orientation", 0) + 1
        elif token in _DWELL_WORDS:
            dwell = max(dwell, _DWELL_WORDS[token])
            mapped["dwell"] = mapped.get("dwell", 0) + 1
        elif re.fullmatch(r"\d{1,3}s?|\d{1,2}\s*-\s*\d{1,3}|age \d+|\d+ years?( old)?", token):
            note(unmapped, "age", token)
        else:
            category = next((c for c, words in _UNOBSERVABLE.items() if token in words), None)
            if category is None and _CLOTHES.search(token):
                category = "clothing"
            note(unmapped, category or "other", token)
    if summary is not None:
        for key, n in mapped.items():
            summary.mapped[key] = summary.mapped.get(key, 0) + n
        for category, words in unmapped.items():
            bucket = summary.unmapped.setdefault(category, {})
            for word, n in words.items():
                bucket[word] = bucket.get(word, 0) + n
    low, high = people if people is not None else (1, MAX_COUNT)
    if low == 0:
        postures, orientations, dwell = [], [], 0.0
    targeting = Targeting(
        low,
        high,
        _choices(postures, POSTURES, "posture"),
        _choices(orientations, ORIENTATIONS, "orientation"),
        dwell,
    )
    return targeting, tokens


def camera_profile(description: str | None) -> bool:
    """Whether a text describes a person as a camera saw them (age, gender, looks, clothes)."""
    summary = ImportSummary(Path("."), "")
    profile_targeting(description or "", summary)
    return any(category != "other" for category in summary.unmapped)


def _read_legacy(path: Path, allow_domains: Iterable[str], summary: ImportSummary) -> list[ContentItem]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise _explain(path, exc, "opening it for import") from None
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "youtube_urls" not in tables:
            hint = " (it is a heatcast catalogue: copy it or use it with --db)" if "items" in tables else ""
            raise ContentError(
                f"{path} has no youtube_urls table{hint}; heatcast imports CSV or an SQLite file "
                "with the original system's table youtube_urls (description TEXT, url TEXT)"
            )
        columns = {r[1] for r in conn.execute("PRAGMA table_info(youtube_urls)")}
        if not {"description", "url"} <= columns:
            raise ContentError(
                f"{path}: table youtube_urls has columns {', '.join(sorted(columns))}, "
                "not description and url"
            )
        rows = conn.execute("SELECT rowid, description, url FROM youtube_urls ORDER BY rowid").fetchall()
    except sqlite3.Error as exc:
        raise _explain(path, exc, "reading it for import") from None
    finally:
        conn.close()
    by_url: dict[str, ContentItem] = {}
    for rowid, description, url in rows:
        where = f"{path} table youtube_urls row {rowid}"
        if not isinstance(url, str) or not url.strip():
            raise ContentError(f"{where}: the url is empty")
        if description is not None and not isinstance(description, str):
            description = str(description)
        try:
            normal = normalise_url(url, allow_domains)
        except ContentError as exc:
            raise ContentError(f"{where}: {exc}") from None
        targeting, tokens = profile_targeting(description or "", summary)
        if normal in by_url:
            old = by_url[normal]
            tags = old.tags + tuple(t for t in tokens if t not in old.tags)
            by_url[normal] = replace(old, tags=tags, description=f"{old.description}; {description or ''}")
            summary.merged += 1
            continue
        # The old system's descriptions are profiles of people ("male, 30, asian"): never
        # a title, which the screen shows. The description is kept, unused, as before.
        title = neutral_title(len(by_url) + 1)
        by_url[normal] = ContentItem(
            None, title, normal, (description or "").strip(), tuple(tokens), targeting,
            allow_domain=own_domain(normal, allow_domains),
        )
    return list(by_url.values())


def read_import(
    path: Path | str, allow_domains: Iterable[str] = (), *, data: bytes | None = None
) -> tuple[list[ContentItem], ImportSummary]:
    """Read and check a whole import without touching any catalogue.

    The format is found from the content (see :func:`detect_format`): CSV, a JSON
    array or newline-delimited JSON as ``content export`` writes them, or the old
    system's SQLite file. ``data`` is the content itself (say standard input),
    ``path`` then only names it in messages.
    """
    path = Path(path)
    name = str(path)
    domains = tuple(allow_domains)
    if data is None:
        if not path.is_file():
            raise ContentError(f"{path} does not exist or is not a file")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ContentError(f"cannot read {path}: {exc.strerror}") from None
    kind = detect_format(data, name)
    summary = ImportSummary(path, "SQLite youtube_urls table" if kind == "sqlite" else FORMATS[kind])
    if kind == "sqlite":
        if path.is_file():
            items = _read_legacy(path, domains, summary)
        else:  # from standard input: SQLite needs a file
            with tempfile.TemporaryDirectory(prefix="heatcast-import-") as tmp:
                copy = Path(tmp) / "import.db"
                copy.write_bytes(data)
                items = _read_legacy(copy, domains, summary)
    else:
        reader = {"csv": _read_csv, "json": _read_json, "nl": _read_nl}[kind]
        items = reader(data.decode("utf-8-sig"), name, domains)
    if not items:
        raise ContentError(f"{path} holds no items to import")
    summary.items = len(items)
    summary.domains = sorted({i.allow_domain for i in items if i.allow_domain})
    return items, summary


def import_file(
    catalogue: Catalogue,
    path: Path | str,
    allow_domains: Iterable[str] = (),
    progress: Callable[[int], None] | None = None,
    *,
    data: bytes | None = None,
) -> ImportSummary:
    """Check the whole file first, then write every item in one transaction (all or nothing).

    Items are matched by URL; the summary counts those added, updated (some field
    differed) and unchanged. ``data``: the content itself, as for :func:`read_import`.
    """
    items, summary = read_import(path, allow_domains, data=data)
    folder = catalogue.media_dir
    for item in items:
        pairs: tuple[tuple[Kind, str | None], ...] = (("poster", item.poster), ("video", item.video))
        for kind, name in pairs:
            if name is not None:
                check_name(name, kind, folder)
    if progress is not None:
        progress(0)
    summary.added, summary.updated, summary.unchanged = catalogue.upsert_many(items, progress)
    return summary


def item_to_csv_row(item: ContentItem) -> dict[str, str]:
    """An item as the text cells of an export row (lists joined with ",")."""
    t, s = item.targeting, item.schedule
    return {
        "id": str(item.id or ""),
        "title": item.title,
        "url": item.url,
        "description": item.description,
        "tags": ",".join(item.tags),
        "people": t.people,
        "postures": ",".join(t.postures),
        "orientations": ",".join(t.orientations),
        "min_dwell_s": f"{t.min_dwell_s:g}",
        "days": s.days_text,
        "hours": s.hours_text,
        "start_date": s.date_from.isoformat() if s.date_from else "",
        "end_date": s.date_to.isoformat() if s.date_to else "",
        "weight": f"{item.weight:g}",
        "active": "1" if item.active else "0",
        "poster": item.poster or "",
        "video": item.video or "",
        "archived": "1" if item.archived else "0",
        "allow_domain": item.allow_domain or "",
    }


def item_to_json(item: ContentItem) -> dict[str, Any]:
    """An item as a JSON object (the keys of :data:`CSV_COLUMNS`, typed, and ``attract``)."""
    t, s = item.targeting, item.schedule
    row: dict[str, Any] = dict(item_to_csv_row(item))
    row.update(
        id=item.id,
        tags=list(item.tags),
        postures=list(t.postures),
        orientations=list(t.orientations),
        min_dwell_s=t.min_dwell_s,
        days=[DAYS[d] for d in s.days],
        start_date=row["start_date"] or None,
        end_date=row["end_date"] or None,
        weight=item.weight,
        active=item.active,
        poster=item.poster,
        video=item.video,
        archived=item.archived,
        allow_domain=item.allow_domain,
        attract=t.attract,
    )
    return row


def format_items(items: Iterable[ContentItem], fmt: str) -> Iterator[str]:
    """The text of ``items`` in an export format ("csv", "json" or "nl"), in pieces."""
    import csv
    import io

    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        for item in items:
            writer.writerow(item_to_csv_row(item))
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()
    elif fmt == "json":
        yield json.dumps([item_to_json(i) for i in items], indent=1, ensure_ascii=False) + "\n"
    elif fmt == "nl":
        for item in items:
            yield json.dumps(item_to_json(item), ensure_ascii=False) + "\n"
    else:
        raise ContentError(f"export format {fmt!r} is not one of {', '.join(FORMATS)}")


def write_atomic(path: Path, pieces: Iterable[str]) -> None:
    """Write text to ``path`` via a temporary file, so a reader never sees half of it."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent if str(path.parent) else ".")
        try:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
                for piece in pieces:
                    handle.write(piece)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it owner-only
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        raise ContentError(
            f"cannot write {path}: {exc.strerror}; check the folder exists and is writable"
        ) from None


def export_items(
    catalogue: Catalogue, path: Path, fmt: str = "csv", *, archived: bool | None = False
) -> int:
    """Write the items (``archived`` as for :meth:`Catalogue.items`) in ``fmt``; returns how many."""
    items = catalogue.items(archived=archived)
    write_atomic(path, format_items(items, fmt))
    return len(items)


def export_csv(catalogue: Catalogue, path: Path) -> int:
    """Write every item that is not archived as CSV (the import format); returns how many."""
    return export_items(catalogue, path, "csv")


# --------------------------------------------------------------------------- health


def diagnose(path: Path, allow_domains: Iterable[str] = ()) -> list[str]:
    """Problems with a catalogue file, each one line naming the fix (empty: all well).

    For ``heatcast doctor``: opens the file read-only and changes nothing.
    """
    path = Path(path)
    if not path.exists():
        return [f"catalogue {path} does not exist yet; heatcast copies the shipped one there on first start"]
    try:
        with Catalogue(path, readonly=True) as cat:
            items = cat.items()
    except ContentError as exc:
        if "old schema" in str(exc):
            return []  # upgraded in place on the kiosk's next start
        return [str(exc)]
    problems = []
    active = [i for i in items if i.active]
    if not active:
        problems.append(
            f"{path} has no active items, so nothing can be shown; add some with `heatcast content add`"
        )
    elif not any(i.targeting.people_min == 0 for i in active):
        problems.append(
            f"{path} has no active attract item (people 0-0) for when nobody is there; "
            "add one with `heatcast content add URL --people 0-0`"
        )
    for item in items:
        try:
            normalise_url(item.url, [*allow_domains, *([item.allow_domain] if item.allow_domain else [])])
        except ContentError as exc:
            problems.append(f"{path} item {item.id}: {exc}; fix it with `heatcast content remove {item.id}`")
    return problems
