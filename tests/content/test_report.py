"""Reports: figures from known impressions, CSV, PNG and the CLI."""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from heatcast.firmware.catalogue import Catalogue, Impression
from heatcast.firmware.cli import main
from heatcast.firmware.report import CSV_COLUMNS, build_report, format_text, write_csv, write_png


def show(item: int, at: datetime, count: int, facing: float, dwell: float = 10.0,
         posture: str | None = "standing", orientation: str | None = "facing") -> Impression:
    if count == 0:
        posture = orientation = None
    return Impression(item, count, posture, orientation, at, at + timedelta(seconds=20), dwell, facing,
                      facing > 10)


@pytest.fixture
def filled(catalogue: Catalogue, h) -> Catalogue:
    a = catalogue.add(h.item(1, title="Coffee")).id or 0
    b = catalogue.add(h.item(2, title="Lunch")).id or 0
    day = datetime(2026, 11, 23)
    for imp in (
        show(a, day.replace(hour=9), 1, 12.0),
        show(a, day.replace(hour=9, minute=5), 2, 0.0, posture="sitting", orientation="away"),
        show(b, day.replace(hour=12), 3, 1.0),
        show(b, day.replace(hour=12, minute=1), 0, 0.0, dwell=0.0),
        show(a, day.replace(hour=12, minute=2), 1, 3.0),
        show(b, day - timedelta(days=3), 4, 20.0),  # before --since
    ):
        assert catalogue.record_impression(imp)
    return catalogue


def test_figures_per_hour_item_and_bucket(filled: Catalogue) -> None:
    report = build_report(filled, since=datetime(2026, 11, 23))
    t = report.total
    assert (t.shown, t.people_in_view, t.watchers) == (5, 7, 3)
    assert t.attention_s == pytest.approx(16.0) and t.dwell_s == pytest.approx(40.0)
    assert (t.hits, t.misses) == (2, 2)  # the empty showing is neither
    assert sorted(report.by_hour) == [9, 12]
    assert report.by_hour[9].people_in_view == 3 and report.by_hour[12].watchers == 2
    assert report.by_item[1].hits == 2 and report.by_item[2].hits == 0
    assert report.by_bucket["2|sitting|away"][1].misses == 1
    assert report.by_bucket["3|standing|facing"][2].misses == 1
    everything = build_report(filled)
    assert everything.total.shown == 6 and everything.total.people_in_view == 11
    text = "\n".join(format_text(report))
    assert "visits 7; opportunities to see 7; watchers 3 (conversion 43%)" in text
    assert "2 people, sitting, away: #1 0/1" in text


def test_csv_is_tidy_one_row_per_period_item_and_audience(filled: Catalogue, tmp_path: Path) -> None:
    write_csv(build_report(filled), tmp_path / "r.csv", periods=("day", "week"))
    with open(tmp_path / "r.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    days = [r for r in rows if r["period"] == "day"]
    weeks = [r for r in rows if r["period"] == "week"]
    assert {r["start"] for r in days} == {"2026-11-20", "2026-11-23"}
    assert {r["start"] for r in weeks} == {"2026-11-16", "2026-11-23"}  # ISO weeks start on Monday
    # every row is one period, item and audience; summing the rows gives the totals
    assert len({(r["start"], r["item"], r["audience"]) for r in days}) == len(days)
    assert sum(int(r["showings"]) for r in days) == sum(int(r["showings"]) for r in weeks) == 6
    assert sum(int(r["ots"]) for r in days) == 11
    coffee = [r for r in days if r["title"] == "Coffee" and r["audience"] == "2 people, sitting, away"]
    assert len(coffee) == 1 and (coffee[0]["showings"], coffee[0]["misses"]) == ("1", "1")


def test_png_is_drawn_even_when_empty(catalogue: Catalogue, filled: Catalogue, tmp_path: Path) -> None:
    write_png(build_report(filled), tmp_path / "r.png")
    data = (tmp_path / "r.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    with Catalogue(tmp_path / "empty.db") as empty:
        write_png(build_report(empty), tmp_path / "e.png")
    assert (tmp_path / "e.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_report(filled: Catalogue, tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(filled.path)
    result = runner.invoke(main, ["report", "--db", db, "--since", "2026-11-23",
                                  "--csv", str(tmp_path / "r.csv"), "--png", str(tmp_path / "r.png")])
    assert result.exit_code == 0, result.output
    assert "5 showings" in result.stdout and (tmp_path / "r.png").exists() and (tmp_path / "r.csv").exists()
    bad = runner.invoke(main, ["report", "--db", db, "--since", "yesterday"])
    assert bad.exit_code == 2 and "yesterday" in bad.stderr
    missing = runner.invoke(main, ["report", "--db", str(tmp_path / "nope.db")])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


def demo_day(catalogue: Catalogue, seed: int = 1) -> None:
    """A plausible shop day, for looking at the chart (``python test_report.py out.png``)."""
    rng = random.Random(seed)
    ids = [i.id or 0 for i in catalogue.items()]
    day = datetime(2026, 11, 23, 8)
    for minute in range(0, 11 * 60, 2):
        at = day + timedelta(minutes=minute)
        busy = 1.0 if at.hour in (12, 13, 17) else 0.4
        count = 0 if rng.random() > busy else rng.choice([1, 1, 1, 2, 2, 3, 4])
        facing = rng.choice([0, 0, 1, 3, 8, 15]) if count else 0
        posture = rng.choice(["standing", "standing", "sitting"])
        orientation = "facing" if facing else rng.choice(["side", "away"])
        catalogue.record_impression(show(rng.choice(ids), at, count, float(facing), dwell=facing + 5.0,
                                         posture=posture, orientation=orientation))


if __name__ == "__main__":
    import sys

    out = Path(sys.argv[1])
    with Catalogue.open_or_copy(out.with_suffix(".db")) as cat:
        demo_day(cat)
        write_png(build_report(cat), out)
