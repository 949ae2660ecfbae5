"""The Raspberry Pi deployment files: systemd unit, udev rule, install script, config template."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from heatcast.firmware.config import load_config
from heatcast.nfc.udev import modprobe_blacklist, udev_rules

DEPLOY = Path(__file__).resolve().parents[2] / "firmware" / "deploy"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "heatcast.service")
    return parser


def test_unit_runs_heatcast_as_a_watched_dedicated_user():
    service = unit()["Service"]
    assert service["Type"] == "notify" and int(service["WatchdogSec"]) > 0
    assert service["Restart"] == "always"
    assert service["User"] == "heatcast" and service["User"] != "root"
    assert service["ExecStart"].startswith(
        "/opt/heatcast/venv/bin/heatcast run --config /etc/heatcast/heatcast.toml"
    )
    assert service["StandardOutput"] == "journal" and service["StandardError"] == "journal"
    assert "i2c" in service["SupplementaryGroups"] and "plugdev" in service["SupplementaryGroups"]
    assert service["StateDirectory"] == "heatcast" and service["KillSignal"] == "SIGTERM"
    assert unit()["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_unit_verifies():
    out = subprocess.run(
        ["systemd-analyze", "verify", str(DEPLOY / "heatcast.service")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    problems = [
        line for line in (out.stdout + out.stderr).splitlines()
        if line.strip() and "/opt/heatcast/venv/bin/heatcast" not in line  # not installed here
    ]  # fmt: skip
    assert problems == []


def test_udev_rule_and_blacklist_match_the_nfc_code():
    assert (DEPLOY / "60-heatcast-nfc.rules").read_text() == udev_rules("plugdev")
    assert (DEPLOY / "heatcast-nfc-blacklist.conf").read_text() == modprobe_blacklist()
    assert 'ATTRS{idVendor}=="054c", ATTRS{idProduct}=="06c1"' in udev_rules("plugdev")  # RC-S380


def test_config_template_is_valid(tmp_path):
    config = load_config(DEPLOY / "heatcast.toml", env={"HOME": str(tmp_path)})
    assert config.data_dir == Path("/var/lib/heatcast")
    assert config.sensor.source.startswith("i2c://1/0x69")
    assert config.nfc.secret_file == Path("/etc/heatcast/nfc-secret")
    assert config.page.host == "127.0.0.1"


def test_install_script_dry_run():
    script = DEPLOY / "install.sh"
    assert script.stat().st_mode & 0o111
    subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)
    out = subprocess.run(
        [str(script), "--dry-run"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    steps = [
        "apt-get install",
        "useradd --system",
        "usermod -a -G i2c,plugdev,dialout heatcast",
        "python3 -m venv /opt/heatcast/venv",
        "/opt/heatcast/venv/bin/pip install --quiet --upgrade",
        "/etc/udev/rules.d/60-heatcast-nfc.rules",
        "/etc/systemd/system/heatcast.service",
        "systemctl enable --now heatcast.service",
        "heatcast doctor --config /etc/heatcast/heatcast.toml",
    ]
    for step in steps:
        assert step in out, step
    # I2C: enabled through raspi-config where it exists, by hand elsewhere (like this machine)
    assert "raspi-config nonint do_i2c 0" in out or "dtparam=i2c_arm=on" in out or "already enabled" in out
    bad = subprocess.run([str(script), "--bogus"], capture_output=True, text=True, timeout=30, check=False)
    assert bad.returncode == 2 and "unknown option --bogus" in bad.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="no shellcheck")
def test_install_script_shellcheck():
    subprocess.run(["shellcheck", str(DEPLOY / "install.sh")], check=True, timeout=60)
