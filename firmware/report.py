"""Reports from the impressions: who had the chance to see what, and what held attention.

All figures come from anonymous impressions (audience bucket, dwell and facing
seconds); there is nothing per person to report. Terms:

* opportunities to see: people in view while an item showed (the sum of counts);
* watchers: showings where someone faced the screen;
* dwell: seconds the audience stayed in view; attention: seconds someone faced the screen;
* hit: a showing where someone faced the screen for at least 2 s; miss: people
  were there but nobody did.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from heatcast.errors import ContentError
from heatcast.firmware.catalogue import HIT_FACING_S, Catalogue, parse_bucket

CSV_COLUMNS = (
    "section", "key", "label", "shown", "people_in_view", "watchers",
    "dwell_s", "attention_s", "hits", "misses",
)  # fmt: skip


@dataclass
class Stats:
    shown: int = 0
    people_in_view: int = 0
    watchers: int = 0
    dwell_s: float = 0.0
    attention_s: float = 0.0
    hits: int = 0
    misses: int = 0

    def add(self, row: dict[str, Any]) -> None:
        self.shown += 1
        self.people_in_view += int(row["count"])
        self.watchers += int(row["facing_s"] > 0)
        self.dwell_s += float(row["dwell_s"])
        self.attention_s += float(row["facing_s"])
        if row["count"] > 0:
            if row["facing_s"] >= HIT_FACING_S:
                self.hits += 1
            else:
                self.misses += 1

    @property
    def hit_rate(self) -> float | None:
        seen = self.hits + self.misses
        return self.hits / seen if seen else None


@dataclass
class Report:
    source: Path
    since: datetime | None
    first: str | None = None
    last: str | None = None
    total: Stats = field(default_factory=Stats)
    by_hour: dict[int, Stats] = field(default_factory=dict)
    by_item: dict[int, Stats] = field(default_factory=dict)
    titles: dict[int, str] = field(default_factory=dict)
    by_bucket: dict[str, dict[int, Stats]] = field(default_factory=dict)


def bucket_label(key: str) -> str:
    """ "2|sitting|facing" -> "2 people, sitting, facing"."""
    count, posture, orientation = parse_bucket(key)
    if count == 0:
        return "nobody there"
    who = "1 person" if count == 1 else ("4+ people" if count >= 4 else f"{count} people")
    return ", ".join(p for p in (who, posture, orientation) if p)


def build_report(catalogue: Catalogue, since: datetime | None = None) -> Report:
    """Aggregate the impressions since ``since`` (all of them when None)."""
    where, params = ("WHERE i.start >= ?", [since.isoformat(timespec="seconds")]) if since else ("", [])
    rows = catalogue.query(
        "SELECT i.content_id, i.count, i.posture, i.orientation, i.start, i.dwell_s, i.facing_s, "
        f"it.title FROM impressions i JOIN items it ON it.id = i.content_id {where} ORDER BY i.start",
        params,
    )
    report = Report(catalogue.path, since)
    for row in rows:
        report.first = report.first or row["start"]
        report.last = row["start"]
        hour = int(row["start"][11:13])
        item = int(row["content_id"])
        key = f"{row['count']}|{row['posture'] or ''}|{row['orientation'] or ''}"
        report.titles[item] = row["title"]
        report.total.add(row)
        report.by_hour.setdefault(hour, Stats()).add(row)
        report.by_item.setdefault(item, Stats()).add(row)
        report.by_bucket.setdefault(key, {}).setdefault(item, Stats()).add(row)
    return report


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


def format_text(report: Report) -> list[str]:
    t = report.total
    period = f"since {report.since:%Y-%m-%d %H:%M}" if report.since else "all recorded time"
    out = [f"heatcast report for {report.source} ({period})"]
    if not t.shown:
        return [*out, "no impressions recorded yet: run the kiosk (`heatcast run`) and come back later"]
    out += [
        f"{t.shown} showings from {report.first} to {report.last}",
        f"opportunities to see (people in view): {t.people_in_view}; watchers (facing the screen): "
        f"{t.watchers}; dwell {_duration(t.dwell_s)}; attention {_duration(t.attention_s)}; "
        f"hit rate {_rate(t)}",
        "",
        "per hour   shown  people  watchers     dwell  attention  hit%",
    ]
    for hour in sorted(report.by_hour):
        s = report.by_hour[hour]
        out.append(
            f"  {hour:02d}:00  {s.shown:6d}  {s.people_in_view:6d}  {s.watchers:8d}  "
            f"{_duration(s.dwell_s):>8}  {_duration(s.attention_s):>9}  {_rate(s):>4}"
        )
    out += ["", "per item       shown  people  watchers  attention  hit%  title"]
    ranked = sorted(report.by_item.items(), key=lambda kv: -kv[1].attention_s)
    for item, s in ranked:
        out.append(
            f"  #{item:<8d}  {s.shown:6d}  {s.people_in_view:6d}  {s.watchers:8d}  "
            f"{_duration(s.attention_s):>9}  {_rate(s):>4}  {report.titles[item][:50]}"
        )
    out += ["", "hits / misses per audience (hit: facing the screen 2 s or more)"]
    for key in sorted(report.by_bucket, key=lambda k: parse_bucket(k)[0]):
        if key.startswith("0|"):
            continue
        parts = [
            f"#{item} {s.hits}/{s.misses}"
            for item, s in sorted(report.by_bucket[key].items(), key=lambda kv: -kv[1].hits)
        ]
        out.append(f"  {bucket_label(key)}: " + ", ".join(parts))
    return out


def report_rows(report: Report) -> Iterable[dict[str, Any]]:
    def row(section: str, key: str, label: str, s: Stats) -> dict[str, Any]:
        return {
            "section": section, "key": key, "label": label, "shown": s.shown,
            "people_in_view": s.people_in_view, "watchers": s.watchers,
            "dwell_s": round(s.dwell_s, 1), "attention_s": round(s.attention_s, 1),
            "hits": s.hits, "misses": s.misses,
        }  # fmt: skip

    yield row("total", "", "all showings", report.total)
    for hour in sorted(report.by_hour):
        yield row("hour", f"{hour:02d}", f"{hour:02d}:00-{hour:02d}:59", report.by_hour[hour])
    for item in sorted(report.by_item):
        yield row("item", str(item), report.titles[item], report.by_item[item])
    for key in sorted(report.by_bucket):
        for item, s in sorted(report.by_bucket[key].items()):
            yield row("audience_item", f"{key}#{item}", f"{bucket_label(key)} / {report.titles[item]}", s)


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


def write_csv(report: Report, path: Path) -> None:
    """One table: section (total, hour, item, audience_item), key, label and the figures."""
    fd, tmp = _atomic_target(path)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(report_rows(report))
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
        f"heatcast: what was seen ({period})\n{t.shown} showings, {t.people_in_view} people in view, "
        f"{t.watchers} watched, {_duration(t.attention_s)} of attention",
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
        people = [report.by_hour.get(h, _EMPTY).people_in_view for h in hours]
        watchers = [report.by_hour.get(h, _EMPTY).watchers for h in hours]
        ax_hour.bar([h - 0.2 for h in hours], people, width=0.4, label="people in view", color="#9ecae1")
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
        ax_hour.legend(loc="upper left")
        ax_hour.grid(axis="y", alpha=0.3)

        ranked = sorted(report.by_item.items(), key=lambda kv: kv[1].attention_s, reverse=True)[:10][::-1]
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
        ax_bucket.legend(loc="lower right", fontsize=8)
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
