"""Import and export: CSV round trip, the old system's SQLite table, all-or-nothing, SIGKILL."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from heatcast.errors import ContentError
from heatcast.firmware.catalogue import (
    CSV_COLUMNS,
    Catalogue,
    export_csv,
    import_file,
    profile_targeting,
    read_import,
)
from heatcast.firmware.cli import main

LEGACY_ROWS = [
    ("male, 30, asian, no, short, polo shirt", "https://www.youtube.com/watch?v=Ab3dE5gH7jK"),
    ("female, 25, white, yes, long, dress", "https://youtu.be/Zx9_yW8-vU7"),
    ("couple, sitting", "https://youtu.be/Qq1Ww2Ee3Rr"),
    ("group, staying, facing", "https://m.youtube.com/shorts/Tt4Yy5Uu6Ii"),
    ("nobody", "https://youtu.be/Oo7Pp8Aa9Ss"),
    ("man, 45, black, no, bald, suit, passing", "https://youtu.be/Ab3dE5gH7jK"),  # same video again
]


def legacy_db(path: Path, rows: Sequence[tuple[str | None, str | None]]) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE youtube_urls (description TEXT, url TEXT)")
    conn.executemany("INSERT INTO youtube_urls VALUES (?, ?)", rows)
    conn.commit()
    conn.close()
    return path


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), (
        result.exception
    )
    return result.exit_code, result.stdout, result.stderr


def test_csv_export_then_import_round_trips(tmp_path: Path) -> None:
    with Catalogue.open_or_copy(tmp_path / "a.db") as source:
        exported = export_csv(source, tmp_path / "items.csv")
        originals = [i.to_row() for i in source.items()]
    with open(tmp_path / "items.csv", newline="") as handle:
        assert tuple(csv.DictReader(handle).fieldnames or ()) == CSV_COLUMNS
    with Catalogue(tmp_path / "b.db") as target:
        summary = import_file(target, tmp_path / "items.csv")
        assert (summary.added, summary.updated, exported) == (len(originals), 0, len(originals))
        assert [i.to_row() for i in target.items()] == originals
        again = import_file(target, tmp_path / "items.csv")  # matched by URL, nothing to change
        assert (again.added, again.updated, again.unchanged) == (0, 0, len(originals))


def test_a_bad_csv_row_imports_nothing_and_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "title,url,people\n"
        "good,https://youtu.be/Ab3dE5gH7jK,1-2\n"
        "also good,https://youtu.be/Zx9_yW8-vU7,\n"
        "evil,javascript:alert(1),1\n"
    )
    db = tmp_path / "c.db"
    with Catalogue(db) as cat:
        with pytest.raises(ContentError, match=r"bad\.csv line 4: URL 'javascript:alert\(1\)' refused"):
            import_file(cat, path)
        assert cat.count() == 0
    code, out, err = run_cli("content", "import", str(path), "--db", str(db))
    assert code == 2 and "line 4" in err and "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title,link\nx,https://youtu.be/Ab3dE5gH7jK\n", "unknown columns 'link'"),
        ("title\nx\n", "no url column"),
        ("url,people\nhttps://youtu.be/Ab3dE5gH7jK,5-9\n", "line 2: people 5-9"),
        ("url,weight\nhttps://youtu.be/Ab3dE5gH7jK,heavy\n", "line 2: weight 'heavy'"),
        ("url,hours\nhttps://youtu.be/Ab3dE5gH7jK,9 to 5\n", "line 2: hours '9 to 5'"),
        ("url,active\nhttps://youtu.be/Ab3dE5gH7jK,maybe\n", "line 2: active 'maybe'"),
        ("url,title\nhttps://youtu.be/Ab3dE5gH7jK,a\nhttps://youtu.be/Ab3dE5gH7jK,b\n", "already on line 2"),
        ("url,title\nhttps://youtu.be/Ab3dE5gH7jK,a,extra\n", "cells expected"),
        ('url,title\n"https://youtu.be/Ab3dE5gH7jK,a\n', "not valid CSV"),
        ("url\n", "holds no items"),
    ],
)
def test_csv_faults_are_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "f.csv"
    path.write_text(text)
    with pytest.raises(ContentError, match=message):
        read_import(path)


def test_non_utf8_and_broken_sqlite_files_are_refused(tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("title,url\ncaf\xe9,https://youtu.be/Ab3dE5gH7jK\n".encode("latin-1"))
    with pytest.raises(ContentError, match="neither UTF-8 CSV nor an SQLite file"):
        read_import(latin)
    broken = tmp_path / "broken.db"
    legacy_db(broken, LEGACY_ROWS)
    data = bytearray(broken.read_bytes())
    data[100:4096] = b"\x00\xff" * ((4096 - 100) // 2)
    broken.write_bytes(bytes(data))
    with pytest.raises(ContentError, match=r"broken\.db"):
        read_import(broken)
    notsqlite = tmp_path / "old.db"
    notsqlite.write_bytes(b"garbage" * 50)
    with pytest.raises(ContentError, match="not an SQLite file"):
        read_import(notsqlite)
    code, _, err = run_cli("content", "import", str(broken), "--db", str(tmp_path / "x.db"))
    assert code == 2 and "broken.db" in err
    code, _, err = run_cli("content", "import", str(tmp_path / "missing.csv"), "--db", str(tmp_path / "x.db"))
    assert code == 2 and "does not exist" in err
    code, _, err = run_cli("content", "import", str(latin), "--frobnicate")
    assert code == 2 and "No such option" in err


def test_the_old_systems_table_maps_only_what_a_thermal_sensor_sees(tmp_path: Path) -> None:
    source = legacy_db(tmp_path / "old.db", LEGACY_ROWS)
    with Catalogue(tmp_path / "c.db") as cat:
        summary = import_file(cat, source)
        items = {i.url.rsplit("/", 1)[1]: i for i in cat.items()}
    assert (summary.items, summary.added, summary.merged) == (5, 5, 1)
    camera = items["Ab3dE5gH7jK"]
    assert camera.targeting.people_min == 1 and camera.targeting.postures == ()  # nothing observable
    assert {"male", "30", "asian", "polo shirt", "man", "suit"} <= set(camera.tags)  # kept as tags only
    assert items["Qq1Ww2Ee3Rr"].targeting.people == "2-2"
    assert items["Qq1Ww2Ee3Rr"].targeting.postures == ("sitting",)
    group = items["Tt4Yy5Uu6Ii"].targeting
    assert (group.people, group.orientations, group.min_dwell_s) == ("3-4", ("facing",), 5.0)
    assert items["Oo7Pp8Aa9Ss"].targeting.attract
    assert {"gender", "age", "ethnicity", "clothing", "hair"} <= set(summary.unmapped)
    assert summary.unmapped["gender"] == {"male": 1, "female": 1, "man": 1}
    text = "\n".join(summary.lines())
    assert "cannot observe" in text and "never used for targeting" in text
    assert "ethnicity x3 (asian, black, white)" in text


def test_profile_words_that_a_thermal_sensor_cannot_see_never_target() -> None:
    targeting, tags = profile_targeting("female, 70, hispanic, glasses, long hair, red coat")
    assert targeting.people == "1-4" and not targeting.postures and not targeting.orientations
    assert tags == ["female", "70", "hispanic", "glasses", "long hair", "red coat"]


def test_a_bad_legacy_row_imports_nothing(tmp_path: Path) -> None:
    rows = [*LEGACY_ROWS, ("male", "http://youtu.be/Ab3dE5gH7jK"), ("x", None)]
    source = legacy_db(tmp_path / "old.db", rows)
    with Catalogue(tmp_path / "c.db") as cat:
        with pytest.raises(ContentError, match=r"youtube_urls row 7: URL .* http: is not encrypted"):
            import_file(cat, source)
        assert cat.count() == 0
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE videos (link TEXT)")
    conn.close()
    with pytest.raises(ContentError, match="no youtube_urls table"):
        read_import(other)


def test_cli_import_prints_the_summary(tmp_path: Path) -> None:
    source = legacy_db(tmp_path / "old.db", LEGACY_ROWS)
    code, out, _ = run_cli("content", "import", str(source), "--db", str(tmp_path / "c.db"))
    assert code == 0
    assert "imported 5 items" in out and "gender x3" in out


def test_an_import_killed_midway_leaves_the_catalogue_intact(tmp_path: Path) -> None:
    db = tmp_path / "content.db"
    with Catalogue.open_or_copy(db) as cat:
        before = [i.to_row() for i in cat.items()]
    big = tmp_path / "big.csv"
    with open(big, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["title", "url", "description", "tags", "people", "hours"])
        for n in range(120_000):
            url = f"https://youtu.be/{n:011d}"
            writer.writerow([f"bulk {n}", url, "x" * 80, "bulk;test", "1-2", "09:00-18:00"])
    wal = Path(f"{db}-wal")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from heatcast.firmware.cli import main; main()",
         "content", "import", str(big), "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    line = proc.stderr.readline()  # printed once every row is checked, just before writing
    assert "writing to" in line, line
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if wal.exists() and wal.stat().st_size > 2_000_000:  # well into the transaction
            break
        time.sleep(0.002)
    assert proc.poll() is None, "the import finished before it could be killed; make the file bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with Catalogue(db) as cat:
        assert cat.db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert cat.db.conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert [i.to_row() for i in cat.items()] == before
        # and the catalogue still takes writes
        summary = import_file(cat, _small_csv(tmp_path))
        assert summary.added == 1


def _small_csv(tmp_path: Path) -> Path:
    path = tmp_path / "one.csv"
    path.write_text("title,url\none,https://youtu.be/Ab3dE5gH7jK\n")
    return path


_cells = st.sampled_from([
    "", "x", "https://youtu.be/Ab3dE5gH7jK", "https://youtu.be/Zx9_yW8-vU7", "javascript:1", "1-2", "0-0",
    "9", "sitting", "facing;side", "any", "mon-fri", "22:00-02:00", "25:00-1", "2026-12-01", "2026-13-01",
    "1.5", "-1", "nan", "yes", "maybe", '"', "a,b", "\n", "\x00", "é",
])  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    header=st.lists(st.sampled_from([*CSV_COLUMNS, "bogus"]), min_size=1, max_size=6),
    rows=st.lists(st.lists(_cells, max_size=7), max_size=5),
    noise=st.binary(max_size=40),
)
def test_fuzz_csv_import_is_items_or_one_content_error(
    header: list[str], rows: list[list[str]], noise: bytes
) -> None:
    import io
    import tempfile

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.csv"
        path.write_bytes(buffer.getvalue().encode("utf-8", "surrogatepass") + noise)
        try:
            items, summary = read_import(path)
        except ContentError as exc:
            assert "fuzz.csv" in str(exc)
            return
    assert items and summary.items == len(items)
    assert all(i.url.startswith("https://youtu.be/") for i in items)


def test_camera_era_profiles_never_become_titles(tmp_path: Path) -> None:
    """The old system described people ("male, 30, asian, ..."); the screen shows titles."""
    source = legacy_db(tmp_path / "old.db", LEGACY_ROWS)
    with Catalogue(tmp_path / "c.db") as cat:
        import_file(cat, source)
        items = cat.items()
    assert [i.title for i in items] == [f"Video {n}" for n in range(1, 6)]
    camera = next(i for i in items if i.url.endswith("Ab3dE5gH7jK"))
    assert camera.description.startswith("male, 30, asian")  # kept, as an unused note


def test_a_catalogue_that_showed_profiles_as_titles_is_mended_on_upgrade(tmp_path: Path) -> None:
    import sqlite_utils

    from heatcast.firmware.catalogue import migrations

    path = tmp_path / "old-import.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, target=4)  # the schema before posters, as an earlier heatcast left it
    profile = "male, 30, asian, no, short, polo shirt"
    db.table("items").insert_all(
        [
            {"title": profile, "url": "https://youtu.be/Ab3dE5gH7jK", "description": profile,
             "people_min": 1, "people_max": 4},
            {"title": "Winter sale", "url": "https://youtu.be/Zx9_yW8-vU7", "description": "Seasonal",
             "people_min": 1, "people_max": 4},
        ]
    )  # fmt: skip
    db.close()
    with Catalogue(path) as cat:
        titles = [i.title for i in cat.items()]
    assert titles[0] == "Video 1" and titles[1] == "Winter sale"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('[{"url": "https://youtu.be/Ab3dE5gH7jK", "weight": ' + "9" * 5000 + "}]", "not valid JSON here"),
        ('{"url": "https://youtu.be/Ab3dE5gH7jK"}\n' + "[" * 100_000 + "\n", "nested too deeply"),
    ],
)
def test_hostile_json_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "items.json"
    path.write_text(text)
    with Catalogue(tmp_path / "c.db") as cat:
        with pytest.raises(ContentError, match=message):
            import_file(cat, path)
        assert cat.count() == 0


@pytest.mark.timeout(600)
def test_an_import_killed_at_moments_spread_over_it_is_all_or_nothing(tmp_path: Path) -> None:
    """SIGKILL of `heatcast content import` of 20,000 rows at 8 moments from its start to its end:
    each time the catalogue passes its integrity check and holds all the rows or none."""
    import random

    db = tmp_path / "content.db"
    with Catalogue.open_or_copy(db) as cat:
        before = cat.count()
    big = tmp_path / "big.csv"
    with open(big, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["title", "url", "people"])
        for n in range(20_000):
            writer.writerow([f"bulk {n}", f"https://youtu.be/{n:011d}", "1-2"])
    command = [sys.executable, "-c", "from heatcast.firmware.cli import main; main()",
               "content", "import", str(big), "--db"]  # fmt: skip
    scratch = tmp_path / "timing.db"
    shutil.copyfile(db, scratch)
    started = time.monotonic()
    subprocess.run([*command, str(scratch)], check=True, capture_output=True, timeout=300)
    whole = time.monotonic() - started
    rng = random.Random(3)
    outcomes = set()
    for moment in sorted(rng.uniform(0.1, 1.0) * whole for _ in range(8)):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        with Catalogue.open_or_copy(db):
            pass
        proc = subprocess.Popen([*command, str(db)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(moment)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with Catalogue(db) as cat:
            assert cat.db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            count = cat.count()
            assert count in (before, before + 20_000), (moment, count)
            outcomes.add(count)
            assert import_file(cat, _small_csv(tmp_path)).added == 1  # and it still takes writes
    assert before in outcomes  # at least one kill landed before the commit
