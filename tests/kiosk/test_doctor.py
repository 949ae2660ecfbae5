"""heatcast doctor against the fake I2C bus and the fake NFC reader."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from heatcast.firmware.catalogue import bundled_catalogue_path
from heatcast.firmware.config import load_config_text
from heatcast.firmware.doctor import (
    ENABLE_I2C,
    check_clock,
    check_config,
    check_content,
    check_nfc,
    check_sensor,
    render,
)
from heatcast.nfc.fake import FakeReader, NtagChip, register
from heatcast.nfc.writer import TagWriter
from heatcast.sensor import i2c
from heatcast.sensor.fake_amg8833 import FakeI2CBus

SECRET = b"doctor-test-secret-0123456789"


@pytest.fixture
def fake_bus():
    buses: list[FakeI2CBus] = []

    def use(**options):
        def factory(bus):
            fake = FakeI2CBus.with_amg8833(**options)
            buses.append(fake)
            return fake

        i2c.set_bus_factory(factory)
        return buses

    previous = i2c.set_bus_factory(None)
    yield use
    i2c.set_bus_factory(previous)


def config(tmp_path, **sections):
    lines = [f'data_dir = "{tmp_path}"']
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    return load_config_text("\n".join(lines))


def by_name(checks):
    return {c.name: c for c in checks}


def test_sensor_checks_pass_on_a_healthy_fake_sensor(fake_bus, tmp_path):
    fake_bus()
    checks = by_name(check_sensor(config(tmp_path), seconds=3.5))
    assert checks["i2c"].ok and "fake" in checks["i2c"].detail
    assert checks["sensor"].ok and "0x69" in checks["sensor"].detail
    assert checks["frame rate"].ok and 8 <= checks["frame rate"].data["fps"] <= 12
    assert checks["thermistor"].ok and abs(checks["thermistor"].data["thermistor_c"] - 24.0) < 0.5
    assert checks["pixels"].ok
    assert checks["heat"].ok and checks["heat"].data["max_c"] > checks["heat"].data["median_c"] + 3


def test_sensor_at_the_other_address_is_named(fake_bus, tmp_path):
    fake_bus(address=0x68)
    checks = by_name(check_sensor(config(tmp_path), seconds=0.5))
    assert checks["sensor"].ok is False
    assert "0x68" in checks["sensor"].detail and "i2c://1/0x68" in checks["sensor"].detail


def test_no_sensor_names_the_wiring(tmp_path):
    previous = i2c.set_bus_factory(lambda bus: FakeI2CBus({}))
    try:
        checks = by_name(check_sensor(config(tmp_path), seconds=0.5))
    finally:
        i2c.set_bus_factory(previous)
    assert checks["sensor"].ok is False
    assert "pin 3" in checks["sensor"].remedy and "i2cdetect" in checks["sensor"].remedy


def test_missing_i2c_device_says_enable_i2c(tmp_path):
    previous = i2c.set_bus_factory(None)
    os.environ.pop(i2c.ENV_FACTORY, None)
    try:
        checks = by_name(check_sensor(config(tmp_path, sensor={"source": "i2c://97/0x69"}), seconds=0.5))
    finally:
        i2c.set_bus_factory(previous)
    assert checks["i2c"].ok is False
    assert "/dev/i2c-97 does not exist" in checks["i2c"].detail
    assert checks["i2c"].remedy == ENABLE_I2C


def test_stuck_sensor_is_reported(fake_bus, tmp_path):
    buses = fake_bus()
    cfg = config(tmp_path)
    # A stuck AMG8833 repeats one frame until reset; the source resets it, doctor must say so.
    original = FakeI2CBus.with_amg8833

    def stuck_factory(bus):
        fake = original()
        fake.device.stuck_clears_on_reset = False
        fake.device.stick()
        buses.append(fake)
        return fake

    i2c.set_bus_factory(stuck_factory)
    checks = by_name(check_sensor(cfg, seconds=3.5))
    assert checks["pixels"].ok is False
    assert "stuck" in checks["pixels"].detail and "power-cycle" in checks["pixels"].remedy


def test_dead_pixel_is_named(fake_bus, tmp_path):
    import numpy as np

    def scene(t):
        frame = np.full((8, 8), 22.0) + np.random.default_rng(int(t * 100)).normal(0, 0.3, (8, 8))
        frame[2, 5] = -40.0  # a dead pixel reads the bottom of the range
        return frame

    fake_bus(scene=scene)
    checks = by_name(check_sensor(config(tmp_path), seconds=0.5))
    assert checks["pixels"].ok is False
    assert "row 2 col 5" in checks["pixels"].detail and checks["pixels"].data["bad_pixels"] == [21]


def test_a_room_warmer_than_the_envelope_is_said(fake_bus, tmp_path):
    import numpy as np

    def scene(t):
        return np.full((8, 8), 31.5) + np.random.default_rng(int(t * 100)).normal(0, 0.15, (8, 8))

    fake_bus(scene=scene)
    checks = by_name(check_sensor(config(tmp_path), seconds=0.5))
    assert checks["envelope"].ok is None  # a warning: the kiosk still runs
    assert "31." in checks["envelope"].detail and "miss more people" in checks["envelope"].detail
    fake_bus()
    assert "envelope" not in by_name(check_sensor(config(tmp_path), seconds=0.5))


def test_sim_source_skips_i2c(tmp_path):
    checks = by_name(check_sensor(config(tmp_path, sensor={"source": "sim:?speed=0"}), seconds=0.3))
    assert checks["i2c"].ok is None and checks["sensor"].ok


# -- NFC ------------------------------------------------------------------------


def test_nfc_protected_tag_passes(tmp_path, monkeypatch):
    path = "fake:ntag215:doctor-ok"
    register(path, FakeReader(NtagChip.ntag215()))
    writer = TagWriter(path)
    writer.open()
    writer.write_url("https://youtu.be/aaaaaaaaaaa", secret=SECRET, protect=True)
    writer.close()
    monkeypatch.setenv("HEATCAST_NFC_SECRET", SECRET.decode())
    checks = by_name(check_nfc(config(tmp_path, nfc={"device": path})))
    assert checks["nfc secret"].ok and SECRET.decode() not in checks["nfc secret"].detail
    assert checks["nfc reader"].ok
    assert checks["nfc tag"].ok, checks["nfc tag"].detail
    assert (
        "https://youtu.be/aaaaaaaaaaa" in checks["nfc tag"].detail and "protected" in checks["nfc tag"].detail
    )


def test_nfc_unprotected_tag_fails_with_the_fix(tmp_path, monkeypatch):
    path = "fake:ntag213:doctor-open"
    register(path, FakeReader(NtagChip.ntag213()))
    monkeypatch.setenv("HEATCAST_NFC_SECRET", SECRET.decode())
    checks = by_name(check_nfc(config(tmp_path, nfc={"device": path})))
    assert checks["nfc tag"].ok is False and "not password-protected" in checks["nfc tag"].detail
    assert "heatcast nfc write" in checks["nfc tag"].remedy
    # with protection off by choice, the same tag is fine
    checks = by_name(check_nfc(config(tmp_path, nfc={"device": path, "protect": False})))
    assert checks["nfc tag"].ok


def test_nfc_no_tag_and_no_reader(tmp_path, monkeypatch):
    monkeypatch.setenv("HEATCAST_NFC_SECRET", SECRET.decode())
    checks = by_name(check_nfc(config(tmp_path, nfc={"device": "fake:none:doctor-empty"})))
    assert checks["nfc reader"].ok and checks["nfc tag"].ok is False
    assert "NTAG213/215/216" in checks["nfc tag"].remedy
    reader = register("fake:ntag215:doctor-unplugged", FakeReader(NtagChip.ntag215()))
    reader.unplug()
    checks = by_name(check_nfc(config(tmp_path, nfc={"device": "fake:ntag215:doctor-unplugged"})))
    assert checks["nfc reader"].ok is False and checks["nfc reader"].remedy


def test_nfc_missing_secret_is_a_failure(tmp_path, monkeypatch):
    monkeypatch.delenv("HEATCAST_NFC_SECRET", raising=False)
    register("fake:ntag215:doctor-nosecret", FakeReader(NtagChip.ntag215()))
    cfg = config(
        tmp_path, nfc={"device": "fake:ntag215:doctor-nosecret", "secret_file": str(tmp_path / "none")}
    )
    checks = by_name(check_nfc(cfg))
    assert checks["nfc secret"].ok is False and "keygen" in checks["nfc secret"].remedy


def test_nfc_off_is_not_a_failure(tmp_path):
    checks = by_name(check_nfc(config(tmp_path, nfc={"device": "off"})))
    assert checks["nfc reader"].ok is None


# -- content, config, clock -------------------------------------------------------


def test_content_db_good_empty_and_corrupt(tmp_path):
    db = tmp_path / "content.db"
    check = check_content(config(tmp_path))
    assert check.ok and "not created yet" in check.detail and check.data["active"] > 10
    shutil.copyfile(bundled_catalogue_path(), db)
    assert check_content(config(tmp_path)).ok
    with db.open("r+b") as f:  # wreck the pages after the header
        f.seek(4096)
        f.write(os.urandom(8192))
    check = check_content(config(tmp_path))
    assert check.ok is False
    assert str(db) in check.detail and (
        "integrity" in check.detail or "corrupt" in check.detail or "malformed" in check.detail
    )
    assert check.remedy and "backup" in check.remedy
    db.write_bytes(b"this is not a database at all" * 100)
    check = check_content(config(tmp_path))
    assert check.ok is False and str(db) in check.detail


def test_content_db_without_active_items(tmp_path):
    from heatcast.firmware.catalogue import Catalogue

    db = tmp_path / "content.db"
    shutil.copyfile(bundled_catalogue_path(), db)
    with Catalogue(db) as catalogue:
        for item in catalogue.items():
            assert item.id is not None
            catalogue.set_active(item.id, False)
    check = check_content(config(tmp_path))
    assert check.ok is False and "no active content" in check.detail
    assert check.remedy and "content add" in check.remedy


def test_config_check_names_the_key(tmp_path):
    path = tmp_path / "heatcast.toml"
    path.write_text("[page]\nprot = 1\n")
    check, cfg = check_config(path)
    assert check.ok is False and "page.prot" in check.detail and "did you mean page.port" in check.detail
    assert cfg.page.port == 8080


def test_clock():
    from datetime import datetime

    assert check_clock(datetime(2020, 1, 1)).ok is False
    assert check_clock(datetime(2026, 6, 1)).ok in (True, None)


def test_render():
    from heatcast.firmware.doctor import Check

    text = render([Check("a", True, "fine"), Check("b", False, "broken", "do this")])
    assert "[FAIL] b: broken" in text and "fix: do this" in text and "1 check(s) failed" in text


# -- the command ------------------------------------------------------------------


def run_doctor(tmp_path, *args, **env):
    full = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config"),
        "HEATCAST_DATA_DIR": str(tmp_path / "data"),
        **env,
    }
    return subprocess.run(
        [str(Path(sys.executable).with_name("heatcast")), "doctor", *args],
        capture_output=True, text=True, env=full, timeout=120, check=False,
    )  # fmt: skip


def test_doctor_command_fails_without_i2c(tmp_path):
    out = run_doctor(
        tmp_path,
        "--json",
        "--seconds",
        "0.5",
        HEATCAST_SENSOR_SOURCE="i2c://97/0x69",
        HEATCAST_NFC_DEVICE="off",
    )
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    assert report["ok"] is False
    names = {c["name"]: c for c in report["checks"]}
    assert names["i2c"]["ok"] is False and names["i2c"]["remedy"] == ENABLE_I2C
    assert {"config", "content.db", "model", "disk", "clock", "nfc reader"} <= set(names)


def test_doctor_command_passes_on_fakes(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text(SECRET.decode())
    secret.chmod(0o600)
    out = run_doctor(
        tmp_path, "--seconds", "3.5",
        HEATCAST_I2C_FACTORY="fake", HEATCAST_NFC_DEVICE="fake:ntag215", HEATCAST_NFC_PROTECT="0",
    )  # fmt: skip
    assert "[ ok ] sensor: AMG88xx answering at 0x69" in out.stdout
    assert "[ ok ] nfc tag" in out.stdout
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all checks passed" in out.stdout


def test_page_check_finds_the_running_page_or_says_the_kiosk_is_not_running(tmp_path):
    from heatcast.firmware.doctor import check_page
    from heatcast.firmware.page import PageHub, PageServer

    server = PageServer(PageHub(), "127.0.0.1", 0)
    server.start()
    try:
        check = check_page(config(tmp_path, page={"host": "0.0.0.0", "port": server.port}), timeout_s=5)
        assert check.ok is True and f"answers on http://127.0.0.1:{server.port}/" in check.detail
    finally:
        server.stop()
    stopped = check_page(config(tmp_path, page={"port": server.port}))
    assert stopped.ok is None and "the kiosk is not running" in stopped.detail
    assert "systemctl start heatcast" in (stopped.remedy or "")
    assert check_page(config(tmp_path, page={"enabled": False})).ok is None


def test_page_check_names_another_program_on_the_port(tmp_path):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from heatcast.firmware.doctor import check_page

    class Other(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Other)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        check = check_page(config(tmp_path, page={"port": other.server_address[1]}))
    finally:
        other.shutdown()
        other.server_close()
    assert check.ok is False and "another program holds" in check.detail
    assert "page.port" in (check.remedy or "")


def test_video_check_says_what_the_screen_shows_without_youtube():
    import socket

    from heatcast.firmware.doctor import check_videos

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        assert check_videos((f"http://127.0.0.1:{port}",)).ok is True
    finally:
        listener.close()
    down = check_videos((f"http://127.0.0.1:{port}",), timeout_s=2)
    assert down.ok is None and "local video or poster, not the YouTube videos" in down.detail
    assert "--video FILE" in (down.remedy or "")


def test_content_db_problems_are_named_by_their_real_cause(tmp_path, monkeypatch):
    db = tmp_path / "content.db"
    shutil.copyfile(bundled_catalogue_path(), db)
    size = db.stat().st_size
    with db.open("r+b") as f:
        f.truncate(size // 2)
    check = check_content(config(tmp_path))
    assert check.ok is False and f"is truncated ({size // 2} bytes, its header says {size})" in check.detail
    db.write_bytes(b"")
    assert "is truncated (0 bytes)" in check_content(config(tmp_path)).detail
    db.write_bytes(b"this is not a database at all" * 100)
    assert "is not an SQLite file" in check_content(config(tmp_path)).detail
    shutil.copyfile(bundled_catalogue_path(), db)
    db.chmod(0o444)
    if os.getuid() == 0:  # root writes anywhere: stand in the kernel's answer for the kiosk's user
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == db else real(p, mode))
    check = check_content(config(tmp_path))
    assert check.ok is False and "is read-only for" in check.detail and "chown" in (check.remedy or "")
    monkeypatch.undo()
    db.chmod(0o644)
    assert check_content(config(tmp_path)).ok


def test_a_bad_environment_variable_is_blamed_not_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HEATCAST_PAGE_PORT", "abc")
    check, _ = check_config(None)
    assert check.ok is False and "HEATCAST_PAGE_PORT" in check.detail
    assert check.remedy is not None and check.remedy.startswith("fix or unset HEATCAST_PAGE_PORT")
