"""``heatcast nfc ...`` on the fake reader."""

from __future__ import annotations

import json

from click.testing import CliRunner

from heatcast.firmware.cli import main

URL = "https://www.youtube.com/watch?v=aaaaaaaaaaa"


def run(*args, env=None):
    return CliRunner().invoke(main, ["nfc", *args], env=env or {})


def test_write_read_status(make_reader, secret):
    path, reader = make_reader("NTAG215")
    env = {"HEATCAST_NFC_SECRET": secret.decode()}
    result = run("write", URL, "--device", path, env=env)
    assert result.exit_code == 0, result.output
    assert f"page writes: {reader.tag.page_writes}  " in result.output
    assert "verified: yes" in result.output and "password set now" in result.output

    result = run("write", URL, "--device", path, env=env)
    assert "already held" in result.output and "page writes: 0" in result.output

    result = run("read", "--device", path, env=env)
    assert result.exit_code == 0, result.output
    assert "NTAG215" in result.output and reader.tag.uid.hex().upper() in result.output
    assert "492 bytes" in result.output and "password-protected" in result.output
    assert URL in result.output and "heatcast can write: yes" in result.output

    result = run("status", "--device", path, "--json", env=env)
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["reader"] == "ok" and status["tag"] == "present" and status["protected"] is True
    assert status["writable"] is True and status["url"] == URL


def test_write_no_protect_json(make_reader):
    path, reader = make_reader("NTAG213")
    result = run("write", URL, "--device", path, "--no-protect", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["verified"] and not report["protected"] and report["page_writes"] == reader.tag.page_writes
    assert reader.tag.auth0 == 0xFF


def test_errors_are_one_line_exit_2(make_reader, tmp_path):
    path, _ = make_reader("NTAG213")
    env = {"HEATCAST_NFC_SECRET_FILE": str(tmp_path / "none"), "XDG_CONFIG_HOME": str(tmp_path)}
    result = run("write", URL, "--device", path, env=env)
    assert result.exit_code == 2
    assert "heatcast nfc keygen" in result.output and "Traceback" not in result.output
    result = run("write", "https://x.example/" + "z" * 200, "--device", path, "--no-protect")
    assert result.exit_code == 2 and "holds at most 137 bytes" in result.output
    result = run("read", "--device", "bogus:path")
    assert result.exit_code == 2 and "not an nfcpy reader path" in result.output


def test_status_without_tag_or_reader(make_reader):
    path, reader = make_reader(None)
    result = run("status", "--device", path)
    assert result.exit_code == 1 and "none on the reader" in result.output
    reader.unplug()
    result = run("status", "--device", path)
    assert result.exit_code == 1 and "reader:  missing" in result.output


def test_keygen_and_udev(tmp_path):
    target = tmp_path / "secret"
    result = run("keygen", str(target))
    assert result.exit_code == 0 and target.stat().st_mode & 0o777 == 0o600
    assert run("keygen", str(target)).exit_code == 2
    rules = run("udev").output
    assert 'ATTRS{idVendor}=="054c", ATTRS{idProduct}=="06c1"' in rules
    assert "blacklist port100" in run("udev", "--blacklist").output
