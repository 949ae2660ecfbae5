"""Reports from the impressions: who had the chance to see what, and what held attention.

All figures come from anonymous impressions (audience bucket, visit counts,
dwell and facing seconds); there is nothing per person to report. The figures
are defined once, in :mod:`heatcast.firmware.visits`: visits, opportunities to
see (OTS), watchers, attention time and dwell. Also:

* conversion: watchers / OTS;
* hit: a showing chosen for people where someone faced the screen for at least
  2 s; miss: one where nobody did. Content for nobody there (attract loops) is
  neither: it is meant to draw people in, not to be watched.

Impressions recorded before visits were counted (no ``ots`` column) count each
showing's people as its OTS and one watcher if someone faced the screen.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from heatcast.errors import ContentError
from heatcast.firmware.catalogue import HIT_FACING_S, Catalogue, parse_bucket

#: The tidy CSV and JSON: one row per period, item and audience bucket.
CSV_COLUMNS = (
    "period", "start", "item", "title", "attract", "audience", "showings", "ots", "watchers",
    "conversion", "dwell_s", "attention_s", "hits", "misses", "taps",
)  # fmt: skip
PERIODS = ("hour", "day", "week")


@dataclass
class Stats:
    shown: int = 0
    ots: int = 0
    watchers: int = 0
    arrivals: int = 0
    dwell_s: float = 0.0
    attention_s: float = 0.0
    hits: int = 0
    misses: int = 0
    #: phone taps, over the showings whose tag counted them (``tapped_showings``)
    taps: int = 0
    tapped_showings: int = 0

    def add(self, row: dict[str, Any]) -> None:
        self.shown += 1
        if row.get("taps") is not None:
            self.taps += int(row["taps"])
            self.tapped_showings += 1
        attract = bool(row["attract"])
        if row["ots"] is None:  # recorded before visits were counted
            self.ots += int(row["count"])
            self.watchers += int(row["count"] > 0 and row["facing_s"] > 0 and not attract)
        else:
            self.ots += int(row["ots"])
            self.watchers += int(row["watchers"] or 0)
            self.arrivals += int(row["arrivals"] or 0)
        self.dwell_s += float(row["dwell_s"])
        self.attention_s += float(row["facing_s"])
        if row["count"] > 0 and not attract:
            if row["facing_s"] >= HIT_FACING_S:
                self.hits += 1
            else:
                self.misses += 1

    @property
    def people_in_view(self) -> int:
        """The opportunities to see (the name of earlier reports)."""
        return self.ots

    @property
    def conversion(self) -> float | None:
        return self.watchers / self.ots if self.ots else None

    @property
    def taps_counted(self) -> bool:
        return self.tapped_showings > 0

    @property
    def taps_per_watcher(self) -> float | None:
        return self.taps / self.watchers if self.taps_counted and self.watchers else None

    @property
    def hit_rate(self) -> float | None:
        seen = self.hits + self.misses
        return self.hits / seen if seen else None


@dataclass
class Report:
    source: Path
    since: datetime | None
    until: datetime | None = None
    first: str | None = None
    last: str | None = None
    #: visits in the period: those in view at its first showing, and every arrival
    visits: int = 0
    total: Stats = field(default_factory=Stats)
    by_hour: dict[int, Stats] = field(default_factory=dict)
    by_item: dict[int, Stats] = field(default_factory=dict)
    titles: dict[int, str] = field(default_factory=dict)
    attract: set[int] = field(default_factory=set)
    by_bucket: dict[str, dict[int, Stats]] = field(default_factory=dict)
    #: (period kind, period start, item, bucket) -> figures, for the tidy CSV and JSON
    cells: dict[tuple[str, str, int, str], Stats] = field(default_factory=dict)


def bucket_label(key: str) -> str:
    """ "2|sitting|facing" -> "2 people, sitting, facing"."""
    count, posture, orientation = parse_bucket(key)
    if count == 0:
        return "nobody there"
    who = "1 person" if count == 1 else ("4+ people" if count >= 4 else f"{count} people")
    return ", ".join(p for p in (who, posture, orientation) if p)


def period_start(kind: str, stamp: str) -> str:
    """The start of the hour, day or (ISO, Monday) week a timestamp falls in."""
    moment = datetime.fromisoformat(stamp)
    if kind == "hour":
        return f"{moment:%Y-%m-%dT%H}:00"
    if kind == "day":
        return f"{moment:%Y-%m-%d}"
    return f"{(moment - timedelta(days=moment.weekday())):%Y-%m-%d}"


def build_report(
    catalogue: Catalogue, since: datetime | None = None, until: datetime | None = None
) -> Report:
    """Aggregate the impressions from ``since`` up to ``until`` (open ends when None), local time."""
    clauses, params = [], []
    if since is not None:
        clauses.append("i.start >= ?")
        params.append(since.isoformat(timespec="seconds"))
    if until is not None:
        clauses.append("i.start < ?")
        params.append(until.isoformat(timespec="seconds"))
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = catalogue.query(
        "SELECT i.content_id, i.count, i.posture, i.orientation, i.start, i.dwell_s, i.facing_s, "
        "i.visits_at_start, i.arrivals, i.ots, i.watchers, i.taps, it.title, it.people_max = 0 AS attract "
        f"FROM impressions i JOIN items it ON it.id = i.content_id {where} ORDER BY i.start, i.id",
        params,
    )
    report = Report(catalogue.path, since, until)
    legacy = False
    for row in rows:
        legacy = legacy or row["ots"] is None
        if report.first is None:
            report.visits += int(row["visits_at_start"] or 0)
        report.first = report.first or row["start"]
        report.last = row["start"]
        report.visits += int(row["arrivals"] or 0)
        hour = int(row["start"][11:13])
        item = int(row["content_id"])
        key = f"{row['count']}|{row['posture'] or ''}|{row['orientation'] or ''}"
        report.titles[item] = row["title"]
        if row["attract"]:
            report.attract.add(item)
        report.total.add(row)
        report.by_hour.setdefault(hour, Stats()).add(row)
        report.by_item.setdefault(item, Stats()).add(row)
        report.by_bucket.setdefault(key, {}).setdefault(item, Stats()).add(row)
        for kind in PERIODS:
            cell = (kind, period_start(kind, row["start"]), item, key)
            report.cells.setdefault(cell, Stats()).add(row)
    if legacy:  # rows from before visits were counted, whose OTS is the people of each showing
        report.visits = max(report.visits, report.total.ots)
    return report


def compare_weeks(catalogue: Catalogue, until: datetime) -> tuple[Report, Report]:
    """The seven days before ``until`` and the seven before those."""
    this = build_report(catalogue, until - timedelta(days=7), until)
    last = build_report(catalogue, until - timedelta(days=14), until - timedelta(days=7))
    return this, last


def _duration(value: float) -> str:
    seconds = round(value)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _rate(stats: Stats) -> str:
    rate = stats.hit_rate
    return "-" if rate is None else f"{100 * rate:.0f}%"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _window(report: Report) -> str:
    if report.since and report.until:
        return f"from {report.since:%Y-%m-%d %H:%M} until {report.until:%Y-%m-%d %H:%M}"
    if report.since:
        return f"since {report.since:%Y-%m-%d %H:%M}"
    if report.until:
        return f"until {report.until:%Y-%m-%d %H:%M}"
    return "all recorded time"


def format_text(report: Report, weeks: tuple[Report, Report] | None = None) -> list[str]:
    t = report.total
    out = [f"heatcast report for {report.source} ({_window(report)})"]
    if not t.shown:
        return [*out, "no impressions recorded yet: run the kiosk (`heatcast run`) and come back later"]
    out += [
        f"{t.shown} showings from {report.first} to {report.last}",
        f"visits {report.visits}; opportunities to see {t.ots}; watchers {t.watchers} "
        f"(conversion {_percent(t.conversion)}); dwell {_duration(t.dwell_s)}; "
        f"attention {_duration(t.attention_s)}; hit rate {_rate(t)} (content chosen for people)",
    ]
    if t.taps_counted:
        per = t.taps_per_watcher
        out.append(
            f"phone taps on the tag {t.taps} over {t.tapped_showings} showings"
            + (f" ({per:.2f} per watcher)" if per is not None else "")
            + "; a tap is credited to the showing its link was on the tag for, read at each change "
            "and every nfc.count_every_s, so one near a change may go to the neighbouring showing"
        )
    if weeks is not None:
        this, last = weeks
        out.append(
            f"last 7 days against the 7 before: visits {this.visits} / {last.visits}, "
            f"OTS {this.total.ots} / {last.total.ots}, watchers {this.total.watchers} / "
            f"{last.total.watchers}, conversion {_percent(this.total.conversion)} / "
            f"{_percent(last.total.conversion)}"
        )
    out += ["", "per hour   shown     OTS  watchers     dwell  attention  hit%"]
    for hour in sorted(report.by_hour):
        s = report.by_hour[hour]
        out.append(
            f"  {hour:02d}:00  {s.shown:6d}  {s.ots:6d}  {s.watchers:8d}  "
            f"{_duration(s.dwell_s):>8}  {_duration(s.attention_s):>9}  {_rate(s):>4}"
        )
    out += ["", "per item       shown     OTS  watchers  conversion  attention  hit%  taps  title"]
    for item, s in _ranked(report):
        taps = str(s.taps) if s.taps_counted else "-"
        out.append(
            f"  #{item:<8d}  {s.shown:6d}  {s.ots:6d}  {s.watchers:8d}  {_percent(s.conversion):>10}  "
            f"{_duration(s.attention_s):>9}  {_rate(s):>4}  {taps:>4}  {report.titles[item][:50]}"
        )
    attract = [(i, report.by_item[i]) for i in sorted(report.attract)]
    if attract:
        out += ["", "for nobody there (attract loops: shown to draw people in, never counted as watched)"]
        for item, s in attract:
            out.append(f"  #{item:<8d}  {s.shown:6d} showings  {s.ots:4d} OTS  {report.titles[item][:50]}")
    out += ["", "hits / misses per audience (hit: facing the screen 2 s or more)"]
    for key in sorted(report.by_bucket, key=lambda k: parse_bucket(k)[0]):
        if key.startswith("0|"):
            continue
        parts = [
            f"#{item} {s.hits}/{s.misses}"
            for item, s in sorted(report.by_bucket[key].items(), key=lambda kv: -kv[1].hits)
            if item not in report.attract
        ]
        if parts:
            out.append(f"  {bucket_label(key)}: " + ", ".join(parts))
    return out


def _ranked(report: Report) -> list[tuple[int, Stats]]:
    """Content chosen for people, by the attention it held."""
    chosen = [(i, s) for i, s in report.by_item.items() if i not in report.attract]
    return sorted(chosen, key=lambda kv: -kv[1].attention_s)


def report_rows(report: Report, periods: Iterable[str] = ("day",)) -> Iterable[dict[str, Any]]:
    """Tidy rows: one per period, item and audience bucket, in ``periods`` (hour, day, week)."""
    wanted = tuple(periods)
    for (kind, start, item, key), s in sorted(report.cells.items()):
        if kind not in wanted:
            continue
        yield {
            "period": kind, "start": start, "item": item, "title": report.titles[item],
            "attract": item in report.attract, "audience": bucket_label(key), "showings": s.shown,
            "ots": s.ots, "watchers": s.watchers,
            "conversion": round(s.conversion, 3) if s.conversion is not None else None,
            "dwell_s": round(s.dwell_s, 1), "attention_s": round(s.attention_s, 1),
            "hits": s.hits, "misses": s.misses, "taps": s.taps if s.taps_counted else None,
        }  # fmt: skip


def _period(report: Report) -> str:
    if not report.first or not report.last:
        return f"since {report.since:%d %b %Y}" if report.since else "nothing recorded yet"
    first, last = datetime.fromisoformat(report.first), datetime.fromisoformat(report.last)
    if first.date() == last.date():
        return f"{first:%a %d %b %Y}"
    return f"{first:%d %b %Y} to {last:%d %b %Y}"


def _publish(tmp: str, path: Path) -> None:
    """Move the finished file into place with ordinary permissions (mkstemp makes it 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def _atomic_target(path: Path) -> tuple[int, str]:
    try:
        return tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent if str(path.parent) else ".")
    except OSError as exc:
        raise ContentError(
            f"cannot write {path}: {exc.strerror}; check the folder exists and is writable"
        ) from None


def write_csv(report: Report, path: Path, periods: Iterable[str] = ("day",)) -> None:
    """The tidy rows of :func:`report_rows` as CSV, written atomically."""
    fd, tmp = _atomic_target(path)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in report_rows(report, periods):
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    _publish(tmp, path)


def write_png(report: Report, path: Path) -> None:
    """A one-page chart for the shop owner: when people were there, what held them, for whom."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(12, 10), dpi=100, layout="constrained")
    t = report.total
    period = _period(report)
    fig.suptitle(
        f"heatcast: what was seen ({period})\n{report.visits} visits, {t.shown} showings, {t.ots} "
        f"opportunities to see, {t.watchers} watchers, {_duration(t.attention_s)} of attention",
        fontsize=14,
    )
    grid = fig.add_gridspec(2, 2)
    ax_hour = fig.add_subplot(grid[0, :])
    ax_item = fig.add_subplot(grid[1, 0])
    ax_bucket = fig.add_subplot(grid[1, 1])
    if not t.shown:
        for ax in (ax_hour, ax_item, ax_bucket):
            ax.axis("off")
        ax_hour.text(0.5, 0.5, "No showings recorded yet", ha="center", va="center", fontsize=18)
    else:
        active = sorted(report.by_hour)
        hours = list(range(max(active[0] - 1, 0), min(active[-1] + 1, 23) + 1))
        people = [report.by_hour.get(h, _EMPTY).ots for h in hours]
        watchers = [report.by_hour.get(h, _EMPTY).watchers for h in hours]
        ax_hour.bar(
            [h - 0.2 for h in hours], people, width=0.4, label="opportunities to see", color="#9ecae1"
        )
        ax_hour.bar(
            [h + 0.2 for h in hours],
            watchers,
            width=0.4,
            label="watchers (faced the screen)",
            color="#08519c",
        )
        ax_hour.set_xticks(hours, [f"{h:02d}" for h in hours])
        ax_hour.set_xlabel("hour of the day")
        ax_hour.set_ylabel("count")
        ax_hour.set_title("When people were in front of the screen")
        # above the bars, never over them
        ax_hour.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False)
        ax_hour.grid(axis="y", alpha=0.3)

        ranked = _ranked(report)[:10][::-1]
        labels = [_short(report.titles[i]) for i, _ in ranked]
        minutes = [s.attention_s / 60 for _, s in ranked]
        bars = ax_item.barh(labels, minutes, color="#31a354")
        for bar, (_, s) in zip(bars, ranked, strict=True):
            ax_item.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {_rate(s)} hits",
                         va="center", fontsize=8)  # fmt: skip
        ax_item.set_xlabel("minutes of attention (someone facing the screen)")
        ax_item.set_title("Content that held attention (top 10)")
        ax_item.margins(x=0.25)

        shown = {k: sum(s.shown for s in v.values()) for k, v in report.by_bucket.items() if k[0] != "0"}
        keys = sorted(sorted(shown, key=lambda k: -shown[k])[:12], key=parse_bucket_sort)
        hits = [sum(s.hits for s in report.by_bucket[k].values()) for k in keys]
        misses = [sum(s.misses for s in report.by_bucket[k].values()) for k in keys]
        names = [bucket_label(k) for k in keys]
        ax_bucket.barh(names, hits, color="#31a354", label="hit: watched 2 s or more")
        ax_bucket.barh(names, misses, left=hits, color="#bdbdbd", label="miss: nobody watched")
        ax_bucket.set_xlabel("showings")
        ax_bucket.set_title(
            "Hits and misses per audience" + ("\n(the 12 most frequent)" if len(shown) > 12 else "")
        )
        ax_bucket.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8, frameon=False)
        ax_bucket.invert_yaxis()
    fd, tmp = _atomic_target(path)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png")
        _publish(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)


_EMPTY = Stats()


def parse_bucket_sort(key: str) -> tuple[int, str, str]:
    count, posture, orientation = parse_bucket(key)
    return (count, posture or "", orientation or "")


def _short(title: str, width: int = 28) -> str:
    return title if len(title) <= width else title[: width - 1] + "…"
