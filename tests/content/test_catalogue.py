"""The catalogue file: schema and migrations, items, impressions, retention and faults."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from heatcast.errors import ContentError
from heatcast.firmware.catalogue import (
    Catalogue,
    ContentItem,
    Impression,
    Migrations,
    Schedule,
    Targeting,
    bundled_catalogue_path,
    default_db_path,
    migrations,
)

V1_SCHEMA = """
CREATE TABLE [items] (
   [id] INTEGER PRIMARY KEY, [title] TEXT NOT NULL, [url] TEXT NOT NULL,
   [description] TEXT DEFAULT '', [tags] TEXT DEFAULT '',
   [people_min] INTEGER NOT NULL, [people_max] INTEGER NOT NULL,
   [postures] TEXT DEFAULT '', [orientations] TEXT DEFAULT '',
   [weight] FLOAT NOT NULL DEFAULT 1.0, [active] INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX [idx_items_url] ON [items] ([url]);
INSERT INTO items (title, url, tags, people_min, people_max, postures, orientations, weight, active)
VALUES ('Morning coffee', 'https://youtu.be/WjRlLK6sNdV', 'coffee, morning', 1, 2, 'standing', 'facing',
        2.0, 1),
       ('Attract', 'https://youtu.be/pOnC1_4Eako', '', 0, 0, '', '', 1.0, 1),
       ('Old one', 'https://youtu.be/Km5b_OAYGST', 'x', 3, 4, '', '', 1.0, 0);
PRAGMA user_version = 1;
"""


def impression(item_id: int, start: datetime, facing: float = 5.0, count: int = 1) -> Impression:
    return Impression(
        item_id,
        count,
        "standing" if count else None,
        "facing" if count else None,
        start,
        start + timedelta(seconds=10),
        8.0,
        facing,
        True,
    )


def test_a_new_catalogue_is_wal_with_foreign_keys_at_the_latest_schema(catalogue: Catalogue) -> None:
    conn = catalogue.db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert Migrations.version(catalogue.db) == migrations.latest >= 4
    assert {"items", "impressions", "engagement", "meta"} <= set(catalogue.db.table_names())


def test_a_v1_catalogue_upgrades_in_place_keeping_its_items(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    conn.close()
    with Catalogue(path) as cat:
        assert Migrations.version(cat.db) == migrations.latest
        items = cat.items()
        assert [i.title for i in items] == ["Morning coffee", "Attract", "Old one"]
        coffee = items[0]
        assert coffee.tags == ("coffee", "morning")  # comma text became a JSON list
        assert coffee.targeting == Targeting(1, 2, ("standing",), ("facing",), 0.0)
        assert coffee.schedule == Schedule()
        assert coffee.weight == 2.0
        assert items[1].targeting.attract and not items[2].active
        assert cat.record_impression(impression(coffee.id or 0, datetime(2026, 1, 5, 9)))
        assert cat.revision()[1] == 1
    # Opening again is a no-op.
    with Catalogue(path) as cat:
        assert migrations.apply(cat.db) == []
        assert len(cat.items()) == 3


def test_migrations_stop_at_a_target_and_resume(tmp_path: Path) -> None:
    import sqlite_utils

    db = sqlite_utils.Database(tmp_path / "m.db")
    assert migrations.apply(db, target=1) == ["create_items"]
    assert Migrations.version(db) == 1
    db.execute("INSERT INTO items (title, url, people_min, people_max, tags) VALUES ('a', 'u', 1, 1, 'p,q')")
    assert migrations.apply(db)[0] == "add_schedule_and_dwell"
    assert db.execute("SELECT tags FROM items").fetchone()[0] == '["p", "q"]'


def test_a_failing_step_leaves_the_previous_version(tmp_path: Path) -> None:
    import sqlite_utils

    steps = Migrations()

    @steps
    def one(db: sqlite_utils.Database) -> None:
        db.execute("CREATE TABLE a (x)")

    @steps
    def two(db: sqlite_utils.Database) -> None:
        db.execute("CREATE TABLE b (x)")
        raise RuntimeError("boom")

    db = sqlite_utils.Database(tmp_path / "f.db")
    with pytest.raises(RuntimeError):
        steps.apply(db)
    assert Migrations.version(db) == 1
    assert db.table_names() == ["a"]


def test_newer_and_foreign_files_are_refused(tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {migrations.latest + 1}")
    conn.close()
    with pytest.raises(ContentError, match="newer heatcast"):
        Catalogue(newer)
    legacy = tmp_path / "legacy.db"
    conn = sqlite3.connect(legacy)
    conn.execute("CREATE TABLE youtube_urls (description TEXT, url TEXT)")
    conn.close()
    with pytest.raises(ContentError, match=r"not a heatcast catalogue.*content import"):
        Catalogue(legacy)
    with pytest.raises(ContentError, match="does not exist"):
        Catalogue(tmp_path / "missing.db", create=False)


def test_items_add_get_remove_and_duplicates(catalogue: Catalogue, h) -> None:
    item = catalogue.add(h.item(1, people="2", postures="sitting", days="sat-sun", hours="22:00-02:00"))
    assert item.id is not None
    assert catalogue.get(item.id) == item
    with pytest.raises(ContentError, match="already item"):
        catalogue.add(h.item(1))
    catalogue.record_impression(impression(item.id, datetime(2026, 1, 1, 12)))
    assert catalogue.remove(item.id) == item
    assert catalogue.count() == 0
    assert catalogue.query("SELECT count(*) AS n FROM impressions")[0]["n"] == 0
    with pytest.raises(ContentError, match="no item"):
        catalogue.get(item.id)


def test_item_validation_names_the_problem() -> None:
    with pytest.raises(ContentError, match="people 3-1"):
        Targeting.parse("3-1")
    with pytest.raises(ContentError, match="posture 'crouching'"):
        Targeting.parse("1", "crouching")
    with pytest.raises(ContentError, match="days 'funday'"):
        Schedule.parse("funday")
    with pytest.raises(ContentError, match="HH:MM"):
        Schedule.parse(None, "9-18")
    with pytest.raises(ContentError, match="after end date"):
        Schedule.parse(None, None, "2026-02-01", "2026-01-01")
    with pytest.raises(ContentError, match="weight"):
        ContentItem.create("https://youtu.be/WjRlLK6sNdV", weight=-1)
    assert Targeting.parse("2+") == Targeting(2, 4)
    assert Targeting.parse("0-0").attract
    assert Targeting.parse("1", "standing,sitting,lying").postures == ()


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 11, 20, 23, 0), True),  # Friday 23:00
        (datetime(2026, 11, 21, 1, 30), True),  # Saturday 01:30 = Friday night
        (datetime(2026, 11, 21, 2, 0), False),  # window ends at 02:00
        (datetime(2026, 11, 21, 23, 0), False),  # Saturday night is not Friday
        (datetime(2026, 11, 20, 1, 0), False),  # Friday 01:00 belongs to Thursday
        (datetime(2026, 11, 20, 21, 59), False),
    ],
)
def test_a_window_passing_midnight_belongs_to_the_day_it_starts(moment: datetime, expected: bool) -> None:
    assert Schedule.parse("fri", "22:00-02:00").matches(moment) is expected


def test_schedule_dates_are_inclusive() -> None:
    s = Schedule.parse(None, "09:00-17:00", "2026-12-01", "2026-12-24")
    assert s.matches(datetime(2026, 12, 1, 9, 0))
    assert s.matches(datetime(2026, 12, 24, 16, 59))
    assert not s.matches(datetime(2026, 12, 25, 10, 0))
    assert not s.matches(datetime(2026, 11, 30, 10, 0))
    assert not s.matches(datetime(2026, 12, 10, 17, 0))


def test_impressions_feed_engagement_and_retention_purges(catalogue: Catalogue, h) -> None:
    item = catalogue.add(h.item(1))
    now = datetime(2026, 3, 31, 12)
    for days_ago in (100, 40, 5, 0):
        shown = impression(item.id or 0, now - timedelta(days=days_ago), facing=10.0)
        assert catalogue.record_impression(shown)
    assert catalogue.record_impression(impression(item.id or 0, now, count=0))
    alpha, beta = catalogue.engagement((1, "standing", "facing"))[item.id or 0]
    assert alpha == pytest.approx(5.0) and beta == pytest.approx(1.0)  # 4 full-attention showings
    assert catalogue.engagement((0, None, None)) == {}  # nobody there: nothing learned
    assert catalogue.purge(30, now=now) == 2
    starts = [r["start"] for r in catalogue.query("SELECT start FROM impressions ORDER BY start")]
    assert starts == ["2026-03-26T12:00:00", "2026-03-31T12:00:00", "2026-03-31T12:00:00"]
    with pytest.raises(ContentError):
        catalogue.purge(-1)


def test_impressions_hold_no_per_person_data(catalogue: Catalogue) -> None:
    columns = {c.name for c in catalogue.db.table("impressions").columns}
    assert columns == {
        "id",
        "content_id",
        "count",
        "posture",
        "orientation",
        "start",
        "end",
        "dwell_s",
        "facing_s",
        "stayed",
        # counts of the showing's visits, never their serial numbers
        "visits_at_start",
        "arrivals",
        "ots",
        "watchers",
        "taps",  # how many phones tapped the tag while it showed, nothing about them
    }


def test_locked_by_another_writer_is_one_clear_error_then_recovers(tmp_path: Path, h) -> None:
    path = tmp_path / "c.db"
    Catalogue(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO meta VALUES ('x', 1)")
    with Catalogue(path, busy_timeout_s=0.05, retries=1) as cat:
        with pytest.raises(ContentError, match=r"locked by another program.*retry"):
            cat.add(h.item(1))
        assert cat.record_impression(impression(1, datetime(2026, 1, 1))) is False
        other.execute("ROLLBACK")
        assert cat.add(h.item(1)).id == 1
    other.close()


def test_a_lock_released_during_the_retries_is_waited_for(tmp_path: Path, h) -> None:
    path = tmp_path / "c.db"
    Catalogue(path).close()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    releaser.start()
    with Catalogue(path, busy_timeout_s=0.1, retries=8) as cat:
        assert cat.add(h.item(1)).id == 1
    releaser.join()
    other.close()


def test_disk_full_while_recording_logs_one_error_and_keeps_going(
    catalogue: Catalogue, h, caplog: pytest.LogCaptureFixture
) -> None:
    # A size-limited file system needs root; SQLite's max_page_count gives the
    # same SQLITE_FULL ("database or disk is full") at a fixed size.
    item = catalogue.add(h.item(1))
    conn = catalogue.db.conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    start = datetime(2026, 1, 1)
    with caplog.at_level(logging.WARNING, logger="heatcast.firmware.catalogue"):
        results = [
            catalogue.record_impression(impression(item.id or 0, start + timedelta(minutes=i)))
            for i in range(400)
        ]
    assert False in results
    first_fail = results.index(False)
    assert not any(results[first_fail:])  # stays full
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "no room" in errors[0].getMessage()
    assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    stored = catalogue.query("SELECT count(*) AS n FROM impressions")[0]["n"]
    assert stored == first_fail  # every success stored, no failure half-stored
    conn.execute("PRAGMA max_page_count = 1073741823")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="heatcast.firmware.catalogue"):
        assert catalogue.record_impression(impression(item.id or 0, start))
    assert "recorded again" in caplog.text


def test_a_corrupt_file_is_a_clear_error_naming_it_and_the_fix(tmp_path: Path, h) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(ContentError, match=r"garbage\.db is corrupt.*restore it from a backup"):
        Catalogue(garbage)

    damaged = tmp_path / "damaged.db"
    with Catalogue(damaged) as cat:
        cat.upsert_many([h.item(n, title="x" * 500) for n in range(300)])
        cat.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(damaged.read_bytes())
    for offset in range(4096 * 2, len(data), 4096):  # scribble over every page header but the first
        data[offset : offset + 64] = b"\xa5" * 64
    damaged.write_bytes(bytes(data))
    with pytest.raises(ContentError, match=r"damaged\.db is corrupt.*delete it"):
        Catalogue(damaged)


def test_open_or_copy_copies_the_shipped_catalogue_and_never_writes_it(tmp_path: Path) -> None:
    bundled = bundled_catalogue_path()
    before = hashlib.sha256(bundled.read_bytes()).hexdigest(), bundled.stat().st_mtime_ns
    target = tmp_path / "data" / "content.db"
    with Catalogue.open_or_copy(target) as cat:
        assert cat.count() >= 30
        cat.add(ContentItem.create("https://youtu.be/Zx9_yW8-vU7", "mine"))
    with Catalogue.open_or_copy(target) as cat:  # second start: the copy is kept
        assert any(i.title == "mine" for i in cat.items())
    assert (hashlib.sha256(bundled.read_bytes()).hexdigest(), bundled.stat().st_mtime_ns) == before
    assert not Path(f"{bundled}-wal").exists() and not Path(f"{bundled}-shm").exists()


def test_default_db_path_follows_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEATCAST_DATA_DIR", str(tmp_path))
    assert default_db_path() == tmp_path / "content.db"
    monkeypatch.delenv("HEATCAST_DATA_DIR")
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert default_db_path() == Path.home() / ".local" / "share" / "heatcast" / "content.db"


def test_the_shipped_catalogue_is_well_formed(tmp_path: Path) -> None:
    with Catalogue(bundled_catalogue_path(), readonly=True) as cat:
        items = cat.items()
        assert cat.db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert 30 <= len(items) <= 60
    assert all(i.url.startswith("https://youtu.be/") and len(i.url) == 28 for i in items)
    assert len({i.url for i in items}) == len(items)
    t = [i.targeting for i in items]
    assert sum(x.attract for x in t) >= 3
    assert any(x.people_min <= 1 <= x.people_max and not x.attract for x in t)
    assert any(x.people_min <= 2 <= x.people_max and x.people_max <= 2 for x in t)
    assert any(x.people_min >= 3 for x in t)
    assert any(x.postures == ("sitting",) for x in t)
    assert any("side" in x.orientations for x in t)
    assert sum(x.orientations == ("facing",) and x.min_dwell_s >= 5 for x in t) >= 4
    assert any(i.schedule.date_to and i.schedule.date_to > date(2026, 12, 1) for i in items)


def test_build_script_reproduces_the_shipped_file(tmp_path: Path) -> None:
    import importlib.util

    script = Path(__file__).resolve().parents[2] / "tools" / "build_content_db.py"
    spec = importlib.util.spec_from_file_location("build_content_db", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "content.db"
    module.build(out)
    shipped_path = bundled_catalogue_path()
    with Catalogue(out, readonly=True) as built, Catalogue(shipped_path, readonly=True) as shipped:
        assert [i.to_row() for i in built.items()] == [i.to_row() for i in shipped.items()]


def test_catalogue_changes_bump_the_revision(catalogue: Catalogue, h) -> None:
    first = catalogue.revision()
    item = catalogue.add(h.item(1))
    second = catalogue.revision()
    assert second[0] > first[0]
    catalogue.set_active(item.id or 0, False)
    assert catalogue.revision()[0] > second[0]
    time.sleep(0)


def test_diagnose_names_problems_without_changing_the_file(tmp_path: Path, h) -> None:
    from heatcast.firmware.catalogue import diagnose

    assert diagnose(bundled_catalogue_path()) == []
    assert "does not exist yet" in diagnose(tmp_path / "none.db")[0]
    path = tmp_path / "c.db"
    with Catalogue(path) as cat:
        item = cat.add(h.item(1))
    assert "no active attract item" in diagnose(path)[0]
    with Catalogue(path) as cat:
        cat.set_active(item.id or 0, False)
        cat.db.execute("UPDATE items SET url = 'javascript:alert(1)'")
    problems = diagnose(path)
    assert "no active items" in problems[0] and "javascript: scheme" in problems[1]
    garbage = tmp_path / "g.db"
    garbage.write_bytes(b"x" * 5000)
    before = garbage.read_bytes()
    assert "corrupt" in diagnose(garbage)[0]
    assert garbage.read_bytes() == before


def test_impression_from_audience_caps_at_the_showing() -> None:
    from heatcast.classify.audience import Audience

    who = Audience(
        t=5.0, presence=True, count=2, posture="sitting", orientation="facing", dwell_s=100.0, facing_s=40.0
    )
    start = datetime(2026, 1, 1, 12)
    imp = Impression.from_audience(7, who, start, start + timedelta(seconds=30), stayed=True)
    assert (imp.bucket, imp.dwell_s, imp.facing_s, imp.reward) == ((2, "sitting", "facing"), 30.0, 30.0, 1.0)
    with pytest.raises(ContentError, match="before it starts"):
        Impression(1, 1, None, None, start, start - timedelta(seconds=1), 0, 0, False)


def test_an_impression_of_a_removed_item_is_dropped_quietly(
    catalogue: Catalogue, h, caplog: pytest.LogCaptureFixture
) -> None:
    item = catalogue.add(h.item(1))
    catalogue.remove(item.id or 0)
    with caplog.at_level(logging.INFO, logger="heatcast.firmware.catalogue"):
        assert catalogue.record_impression(impression(item.id or 0, datetime(2026, 1, 1))) is False
    assert "removed while it showed" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert catalogue.record_impression(impression(catalogue.add(h.item(2)).id or 0, datetime(2026, 1, 1)))


def test_a_long_import_holds_up_an_impression_only_briefly(tmp_path: Path, h) -> None:
    path = tmp_path / "c.db"
    with Catalogue(path) as cat:
        item = cat.add(h.item(1))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # as `content import` does for its whole write
    with Catalogue(path, busy_timeout_s=30) as kiosk:
        assert (
            kiosk.record_impression(impression(item.id or 0, datetime(2026, 1, 1)), busy_timeout_s=0.05)
            is False
        )
        assert kiosk.db.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30000  # restored
        other.execute("COMMIT")
        assert kiosk.record_impression(impression(item.id or 0, datetime(2026, 1, 1)))
    other.close()


@pytest.mark.parametrize("mode", ["attention", "taps", "both"])
def test_late_taps_teach_the_chooser_when_its_reward_weighs_them(catalogue: Catalogue, h, mode) -> None:
    from datetime import datetime, timedelta

    from heatcast.firmware.catalogue import Impression

    item = catalogue.add(h.item(1)).id or 0
    catalogue.reward_mode = mode
    at = datetime(2026, 11, 23, 12)
    shown = Impression(item, 1, "standing", "side", at, at + timedelta(seconds=20), 10.0, 0.0, False)
    assert catalogue.record_impression(shown)
    bucket = (1, "standing", "side")
    before = catalogue.engagement(bucket)[item]
    assert catalogue.add_taps(catalogue.last_impression_id or 0, 2)
    after = catalogue.engagement(bucket)[item]
    taps = catalogue.query("SELECT taps FROM impressions WHERE id = ?", [catalogue.last_impression_id])
    assert taps[0]["taps"] == 2
    if mode == "attention":
        assert after == before  # nobody faced the screen: taps change nothing it learns
    else:
        assert after[0] == pytest.approx(before[0] + 1) and after[1] == pytest.approx(before[1] - 1)
