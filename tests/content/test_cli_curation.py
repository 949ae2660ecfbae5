"""Curation through the CLI: edit, archive/purge/restore, several ids, and export -> import round trips."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from heatcast.firmware.catalogue import Catalogue, Impression
from heatcast.firmware.cli import main

from .test_import import LEGACY_ROWS, legacy_db
from .test_media import mp4, png

SHOP = "https://shop.example/offer"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A catalogue holding the shipped items and one link on the shop's own domain."""
    monkeypatch.setenv("HEATCAST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user config file
    path = tmp_path / "c.db"
    Catalogue.open_or_copy(path).close()
    added = run(
        "content", "add", SHOP, "--allow-domain", "shop.example", "--title", "Offer", "--db", str(path)
    )  # fmt: skip
    assert added[0] == 0
    return path


def run(*args: str, input: bytes | str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def rows(db: Path) -> list[dict[str, object]]:
    with Catalogue(db) as cat:
        return [i.to_row() for i in cat.items(archived=None)]


def one_line_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2 and "Traceback" not in out + err
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize("fmt", ["--csv", "--json", "--nl"])
def test_export_then_import_of_an_unchanged_file_changes_nothing(db: Path, fmt: str) -> None:
    before = rows(db)
    code, exported, _ = run("content", "export", "-", fmt, "--db", str(db))
    assert code == 0
    code, out, err = run("content", "import", "-", "--db", str(db), input=exported)
    assert code == 0, err
    assert "0 added, 0 updated, 37 unchanged" in out  # the shop link's allowance went with it
    kinds = {"--csv": "detected: CSV", "--json": "detected: JSON", "--nl": "newline-delimited JSON"}
    assert kinds[fmt] in out
    assert rows(db) == before


def test_one_changed_row_counts_one_update(db: Path, tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    assert run("content", "export", str(path), "--db", str(db))[0] == 0
    path.write_text(path.read_text().replace("Shop window loop", "Shop window loop (winter)"))
    code, out, _ = run("content", "import", str(path), "--db", str(db))
    assert code == 0 and "0 added, 1 updated, 36 unchanged" in out


def test_an_export_to_a_new_catalogue_keeps_the_shop_link_without_the_option(db: Path, tmp_path) -> None:
    path = tmp_path / "items.json"
    code, out, _ = run("content", "export", str(path), "--db", str(db))
    assert code == 0 and "(JSON)" in out  # by its suffix
    assert json.loads(path.read_text())[-1]["allow_domain"] == "shop.example"
    code, out, _ = run("content", "import", str(path), "--db", str(tmp_path / "new.db"))
    assert code == 0 and "37 added" in out and "shop.example" in out


def test_csv_lists_use_commas_and_old_semicolon_exports_still_import(db: Path, tmp_path: Path) -> None:
    assert run("content", "edit", "37", "--days", "mon-wed,sat", "--tags", "a,b", "--db", str(db))[0] == 0
    code, out, _ = run("content", "export", "-", "--db", str(db))
    assert code == 0 and '"mon,tue,wed,sat"' in out and '"a,b"' in out and ";" not in out.splitlines()[-1]
    old = tmp_path / "old.csv"
    old.write_text("title,url,tags,days,postures\nOld,https://youtu.be/Ab3dE5gH7jK,x;y,mon;fri,standing;sitting\n")
    code, out, _ = run("content", "import", str(old), "--db", str(db), "--json")
    assert code == 0 and json.loads(out)["added"] == 1
    item = json.loads(run("content", "list", "--json", "--db", str(db))[1])[-1]
    assert (item["tags"], item["days"]) == (["x", "y"], ["mon", "fri"])
    assert item["postures"] == ["standing", "sitting"]


def test_import_reads_each_format_from_stdin(tmp_path: Path, db: Path) -> None:
    new = str(tmp_path / "new.db")
    csv_text = "title,url,days\nA,https://youtu.be/Ab3dE5gH7jK,\"sat,sun\"\n"
    json_text = json.dumps([{"title": "A", "url": "https://youtu.be/Ab3dE5gH7jK", "days": ["sat", "sun"]}])
    nl_text = json.dumps({"title": "A", "url": "https://youtu.be/Ab3dE5gH7jK", "days": "sat,sun"}) + "\n\n"
    for text, kind in ((csv_text, "CSV"), (json_text, "JSON"), (nl_text, "newline-delimited JSON")):
        code, out, err = run("content", "import", "-", "--db", new, input=text)
        assert code == 0, err
        assert f"from standard input (detected: {kind})" in out
    assert "0 updated, 1 unchanged" in out
    legacy = legacy_db(tmp_path / "old.db", LEGACY_ROWS).read_bytes()
    code, out, err = run("content", "import", "-", "--db", new, input=legacy)
    assert code == 0 and "(detected: SQLite youtube_urls table)" in out, err


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("hello world\n", ("not in a format heatcast reads", "CSV", "JSON", "newline-delimited", "SQLite")),
        ("36 items in x.db\nid  title\n", ("not in a format heatcast reads",)),
        ('[{"url": "https://youtu.be/Ab3dE5gH7jK", "colour": 1}]', ("item 1: unknown keys 'colour'",)),
        ('[{"url": "https://youtu.be/Ab3dE5gH7jK"', ("line 1: not valid JSON",)),
        ('{"url": "https://youtu.be/Ab3dE5gH7jK"}\n{"url": "javascript:1"}\n', ("line 2: URL",)),
        ('{"url": "https://youtu.be/Ab3dE5gH7jK"}\n' * 2, ("already on line 1",)),
        ('{"url": "https://youtu.be/Ab3dE5gH7jK", "tags": {"a": 1}}\n', ("tags must be text",)),
        ('{"url": "https://shop.example/x", "allow_domain": "https://shop"}\n', ("line 1: allowed domain",)),
        ('"url"\n"https://shop.example/x"\n', ("line 2: URL", "not an allowed host")),
    ],
)
def test_what_import_cannot_read_is_one_clear_error(db: Path, text: str, needles: tuple[str, ...]) -> None:
    before = rows(db)
    one_line_error(*run("content", "import", "-", "--db", str(db), input=text), "standard input", *needles)
    assert rows(db) == before


def test_list_and_export_share_the_output_options(db: Path, tmp_path: Path) -> None:
    code, out, _ = run("content", "list", "--db", str(db))
    assert code == 0 and out.startswith("37 items in") and "for whom" in out  # a table by default
    code, out, _ = run("content", "list", "--nl", "--db", str(db))
    assert code == 0 and len(out.splitlines()) == 37 and json.loads(out.splitlines()[0])["id"] == 1
    code, out, _ = run("content", "list", "--csv", "--db", str(db))
    assert code == 0 and out.startswith("id,title,url")
    code, out, _ = run("content", "export", "-", "--table", "--db", str(db))
    assert code == 0 and "for whom" in out
    code, out, _ = run("content", "export", str(tmp_path / "x.txt"), "--nl", "--db", str(db))
    assert code == 0 and "newline-delimited JSON" in out
    one_line_error(*run("content", "list", "--csv", "--nl", "--db", str(db)), "not --csv and --nl")


def test_edit_changes_only_the_given_fields_for_every_id(db: Path, tmp_path: Path) -> None:
    before = {r["id"]: r for r in rows(db)}
    code, out, _ = run(
        "content", "edit", "5", "6", "--people", "1-2", "--posture", "sitting",
        "--orientation", "facing,side", "--dwell", "4", "--days", "sat,sun", "--hours", "10:00-12:00",
        "--from", "2026-12-01", "--until", "2026-12-24", "--weight", "3", "--inactive", "--db", str(db),
    )  # fmt: skip
    assert code == 0 and "changed item 5" in out and "changed item 6" in out
    after = {r["id"]: r for r in rows(db)}
    for changed in (5, 6):
        new, old = after[changed], before[changed]
        assert (new["people_min"], new["people_max"], new["min_dwell_s"]) == (1, 2, 4.0)
        assert (new["postures"], new["orientations"]) == ("sitting", "facing,side")
        assert (new["days"], new["time_from"], new["date_to"]) == ("sat,sun", "10:00:00", "2026-12-24")
        assert (new["weight"], new["active"]) == (3.0, 0)
        assert (new["title"], new["url"], new["tags"]) == (old["title"], old["url"], old["tags"])
    assert [r for r in after.values() if r["id"] not in (5, 6)] == [
        r for r in before.values() if r["id"] not in (5, 6)
    ]
    code, _, _ = run("content", "edit", "5", "--no-schedule", "--posture", "", "--active", "--db", str(db))
    item = next(r for r in rows(db) if r["id"] == 5)
    assert code == 0 and item["days"] == "" and item["time_from"] is None
    assert item["date_from"] is None and item["date_to"] is None
    assert item["postures"] == "" and item["active"] == 1 and item["orientations"] == "facing,side"


def test_edit_title_url_description_tags_poster_and_video(db: Path, tmp_path: Path) -> None:
    code, out, _ = run(
        "content", "edit", "7", "--title", "Winter", "--description", "notes", "--tags", "x,y",
        "--url", "https://www.youtube.com/watch?v=Zx9_yW8-vU7", "--poster", str(png(tmp_path / "p.png")),
        "--video", str(mp4(tmp_path / "v.mp4")), "--db", str(db), "--json",
    )  # fmt: skip
    assert code == 0
    item = json.loads(out)[0]
    assert (item["title"], item["url"], item["description"], item["tags"]) == (
        "Winter", "https://youtu.be/Zx9_yW8-vU7", "notes", ["x", "y"]
    )
    assert item["poster"].endswith(".png") and item["video"].endswith(".mp4")
    assert (db.parent / "media" / item["poster"]).is_file()
    code, out, _ = run("content", "edit", "7", "--poster", "", "--video", "", "--db", str(db), "--json")
    assert code == 0 and json.loads(out)[0]["poster"] is None and json.loads(out)[0]["video"] is None
    code, out, _ = run("content", "edit", "37", "--url", f"{SHOP}/2", "--db", str(db), "--json")
    assert code == 0 and json.loads(out)[0]["allow_domain"] == "shop.example"  # its own domain allows it
    code, out, _ = run("content", "edit", "1", "--url", "https://other.example/x", "--allow-domain",
                       "other.example", "--db", str(db), "--json")  # fmt: skip
    assert code == 0 and json.loads(out)[0]["allow_domain"] == "other.example"


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["1", "99", "100", "--title", "x"], ("there are no items 99, 100", "nothing was changed")),
        (["1", "--people", "9"], ("people 9-9",)),
        (["1", "--hours", "9-5"], ("HH:MM",)),
        (["1", "--weight", "heavy"], ("weight 'heavy' is not a number",)),
        (["1", "--title", ""], ("needs a title",)),
        (["1", "--url", "https://youtu.be/EXAMPLE-002"], ("already item 2", "content edit 2")),
        (["1", "2", "--url", "https://youtu.be/Ab3dE5gH7jK"], ("one item",)),
        (["1", "--poster", "nofile.png"], ("does not exist",)),
        (["1"], ("nothing to change",)),
        (["x1", "--title", "a"], ("'x1' is not",)),
        (["--title", "a"], ("give one or more item ids",)),
    ],
)
def test_a_bad_edit_is_one_line_and_changes_nothing(db: Path, args: list[str], needles: tuple[str]) -> None:
    before = rows(db)
    one_line_error(*run("content", "edit", *args, "--db", str(db)), *needles)
    assert rows(db) == before


def _show(db: Path, item_id: int) -> None:
    start = datetime(2026, 12, 1, 10)
    with Catalogue(db) as cat:
        shown = Impression(item_id, 1, None, None, start, start.replace(second=9), 9, 3, True)
        assert cat.record_impression(shown)


def _impressions(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM impressions").fetchone()[0])


def test_remove_archives_keeping_the_history_and_restore_brings_it_back(db: Path) -> None:
    _show(db, 3)
    assert run("content", "enable", "4", "--off", "--db", str(db))[0] == 0
    code, out, _ = run("content", "remove", "3", "4", "--db", str(db))
    assert code == 0 and "archived item 3" in out and "archived item 4" in out
    assert _impressions(db) == 1
    listed = [i["id"] for i in json.loads(run("content", "list", "--json", "--db", str(db))[1])]
    assert 3 not in listed and 4 not in listed and len(listed) == 35
    archived = json.loads(run("content", "list", "--archived", "--json", "--db", str(db))[1])
    assert [i["id"] for i in archived] == [3, 4] and all(i["archived"] for i in archived)
    assert len(json.loads(run("content", "list", "--all", "--json", "--db", str(db))[1])) == 37
    code, out, _ = run("content", "export", "-", "--all", "--nl", "--db", str(db))
    code, out, _ = run("content", "import", "-", "--db", str(db), input=out)
    assert "0 updated, 37 unchanged" in out  # archived items round-trip too
    code, out, _ = run("content", "restore", "3", "4", "--db", str(db))
    assert code == 0 and "restored item 3" in out and "item 4" in out and "switched off" in out
    by_id = {i["id"]: i for i in json.loads(run("content", "list", "--json", "--db", str(db))[1])}
    assert by_id[3]["active"] is True and by_id[4]["active"] is False  # as they were
    assert _impressions(db) == 1


def test_purge_needs_a_confirmation_or_yes(db: Path) -> None:
    _show(db, 3)
    code, out, err = run("content", "remove", "3", "--purge", "--db", str(db))  # no answer: not deleted
    one_line_error(code, out, err.splitlines()[-1], "nothing deleted", "--yes")
    code, _, err = run("content", "remove", "3", "--purge", "--db", str(db), input="n\n")
    assert code == 2 and "nothing deleted" in err and _impressions(db) == 1
    assert len(rows(db)) == 37
    code, out, err = run("content", "remove", "3", "--purge", "--db", str(db), input="y\n")
    assert code == 0 and "1 recorded showings" in err and "deleted item 3" in out
    assert _impressions(db) == 0 and len(rows(db)) == 36
    code, out, _ = run("content", "remove", "4", "5", "--purge", "--yes", "--db", str(db))
    assert code == 0 and "deleted item 5" in out and len(rows(db)) == 34
    one_line_error(*run("content", "remove", "6", "--yes", "--db", str(db)), "--yes goes with --purge")


@pytest.mark.parametrize(
    "command", [["enable"], ["enable", "--off"], ["remove"], ["remove", "--purge", "--yes"], ["restore"]]
)
def test_unknown_ids_are_one_error_and_change_nothing(db: Path, command: list[str]) -> None:
    run("content", "remove", "2", "--db", str(db))
    before = rows(db)
    one_line_error(*run("content", *command, "2", "3", "98", "99", "--db", str(db)), "no items 98, 99")
    assert rows(db) == before


def test_several_ids_as_arguments_or_a_comma_list(db: Path) -> None:
    code, out, _ = run("content", "enable", "2,3", "4", "--off", "--db", str(db))
    assert code == 0 and [line.split()[1] for line in out.splitlines()] == ["2", "3", "4"]
    listed = json.loads(run("content", "list", "--json", "--db", str(db))[1])
    off = [i["id"] for i in listed if not i["active"]]
    assert off == [2, 3, 4]
