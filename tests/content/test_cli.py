"""The ``heatcast content`` commands end to end, through the real CLI group."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from heatcast.firmware.catalogue import Catalogue, bundled_catalogue_path
from heatcast.firmware.cli import main


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HEATCAST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user config file

    def run(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(main, list(args))
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr

    return run


def test_add_list_enable_remove_with_db(cli, tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    code, out, _ = cli(
        "content",
        "add",
        "https://www.youtube.com/watch?v=Ab3dE5gH7jK&t=5",
        "--title",
        "Coffee",
        "--people",
        "1-2",
        "--posture",
        "standing,sitting",
        "--orientation",
        "facing",
        "--dwell",
        "5",
        "--days",
        "mon-fri",
        "--hours",
        "22:00-02:00",
        "--tags",
        "a,b",
        "--weight",
        "2",
        "--db",
        db,
        "--json",
    )
    assert code == 0
    added = json.loads(out)
    assert added["url"] == "https://youtu.be/Ab3dE5gH7jK" and added["people"] == "1-2"
    assert added["hours"] == "22:00-02:00" and added["tags"] == ["a", "b"] and added["weight"] == 2.0
    code, out, _ = cli("content", "list", "--db", db)
    assert code == 0 and "Coffee" in out and "standing/sitting, facing, after 5s" in out
    assert cli("content", "enable", "1", "--off", "--db", db)[0] == 0
    assert json.loads(cli("content", "list", "--db", db, "--json")[1])[0]["active"] is False
    assert json.loads(cli("content", "list", "--active", "--db", db, "--json")[1]) == []
    code, out, _ = cli("content", "remove", "1", "--db", db)
    assert code == 0 and "archived item 1" in out and "history is kept" in out
    code, out, _ = cli("content", "remove", "1", "--purge", "--yes", "--db", db)
    assert code == 0 and "deleted item 1" in out
    code, _, err = cli("content", "remove", "1", "--db", db)
    assert code == 2 and "no item 1" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["javascript:alert(1)"], "javascript: scheme"),
        (["https://youtu.be/Ab3dE5gH7jK", "--people", "9"], "people 9-9"),
        (["https://youtu.be/Ab3dE5gH7jK", "--posture", "crouching"], "posture 'crouching'"),
        (["https://youtu.be/Ab3dE5gH7jK", "--days", "someday"], "days 'someday'"),
        (["https://youtu.be/Ab3dE5gH7jK", "--hours", "9-5"], "HH:MM"),
        (["https://youtu.be/Ab3dE5gH7jK", "--weight", "x"], "is not a valid float"),
        (["https://shop.example/x"], "allowlist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, tmp_path: Path, args: list[str], message: str) -> None:
    code, out, err = cli("content", "add", *args, "--db", str(tmp_path / "c.db"))
    assert code == 2 and message in err and "Traceback" not in err + out


def test_allow_domain_admits_the_shop(cli, tmp_path: Path) -> None:
    code, out, _ = cli(
        "content",
        "add",
        "https://shop.example/offer",
        "--allow-domain",
        "shop.example",
        "--db",
        str(tmp_path / "c.db"),
    )
    assert code == 0 and "https://shop.example/offer" in out


def test_without_db_the_kiosk_copy_is_used_and_the_shipped_file_is_untouched(cli, tmp_path: Path) -> None:
    shipped = bundled_catalogue_path().read_bytes()
    code, out, _ = cli("content", "list")
    assert code == 0 and str(tmp_path / "data" / "content.db") in out
    assert cli("content", "add", "https://youtu.be/Zx9_yW8-vU7", "--title", "Mine")[0] == 0
    with Catalogue(tmp_path / "data" / "content.db") as cat:
        assert any(i.title == "Mine" for i in cat.items())
    assert bundled_catalogue_path().read_bytes() == shipped
    code, _, err = cli(
        "content", "add", "https://youtu.be/Zx9_yW8-vU7", "--db", str(bundled_catalogue_path())
    )
    assert code == 2 and "shipped with heatcast" in err
    assert cli("content", "list", "--db", str(bundled_catalogue_path()))[0] == 0  # reading it is fine


def test_export_and_import_through_the_cli(cli, tmp_path: Path) -> None:
    out_csv = tmp_path / "items.csv"
    code, out, _ = cli("content", "export", str(out_csv))
    assert code == 0 and "exported 36 items" in out
    with open(out_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 36 and rows[0]["people"] == "0-0"
    code, out, _ = cli("content", "import", str(out_csv), "--db", str(tmp_path / "new.db"))
    assert code == 0 and "36 added" in out
    code, out, _ = cli("content", "export", "-", "--db", str(tmp_path / "new.db"))
    assert code == 0 and out.splitlines()[0].startswith("id,title,url")
    code, _, err = cli("content", "export", str(tmp_path / "nofolder" / "x.csv"))
    assert code == 2 and "cannot write" in err


def test_every_command_has_help(cli) -> None:
    for command in ("add", "edit", "list", "remove", "restore", "enable", "import", "export"):
        code, out, _ = cli("content", command, "--help")
        assert code == 0 and "--db" in out
    code, out, _ = cli("report", "--help")
    assert code == 0 and "--png" in out and "--since" in out
