"""A command asked for --json answers in JSON, errors included, with the same exit status."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from heatcast.firmware.cli import fix_of, main


@pytest.mark.parametrize(
    "args",
    [
        ["nfc", "status", "--json"],
        ["content", "list", "--json", "--db", "/no/such/catalogue.db"],
        ["eval", "/no/such/trace.csv", "--json"],
    ],
)
def test_errors_of_json_commands_are_json(tmp_path, monkeypatch, args):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HEATCAST_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    answer = json.loads(result.stdout)
    assert set(answer) == {"error", "fix"} and answer["error"]
    assert result.stderr == ""


def test_without_json_an_error_stays_one_line_on_stderr(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    result = CliRunner().invoke(main, ["content", "list", "--db", "/no/such/catalogue.db"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("heatcast: error: ") and len(result.stderr.splitlines()) == 1


def test_the_fix_is_the_remedy_the_message_names():
    assert fix_of("catalogue x.db does not exist; check the path, or leave out --db") == (
        "check the path, or leave out --db"
    )
    assert fix_of("no reader found: plug one in or give --device PATH") == "plug one in or give --device PATH"
    assert fix_of("/x.csv: no such trace file or folder") is None
