"""heatcast view and heatcast snapshot, on the fake I2C bus and the simulator."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from heatcast.firmware.cli import main
from heatcast.firmware.cli_sensor import PALETTE, Scale, colour_index, render, snapshot_figure
from heatcast.sensor.frame import Frame

CELL = re.compile(r"\x1b\[48;5;(\d+)m")


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_view_draws_frames_with_colours_scale_rate_and_thermistor(fake_i2c):
    result = run("view", "i2c://1/0x69", "--frames", "3")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.count("frame ") == 3 and "frame 2" in out
    assert "thermistor 24.00 C" in out
    assert "I2C errors 0, re-inits 0, stuck resets 0" in out  # the installer sees bus trouble
    assert re.search(r"\d+\.\d fps", out)  # measured from the second frame on
    colours = [int(c) for c in CELL.findall(out)]
    assert colours and set(colours) <= set(PALETTE)
    assert len(set(colours)) > 5  # a person against the room: many shades
    assert fake_i2c[0].closed  # the source is closed at the end


def test_view_values_and_no_colour(fake_i2c):
    result = run("view", "i2c://1/0x69", "--frames", "1", "--values", "--no-color")
    assert result.exit_code == 0
    assert "\x1b[" not in result.output
    numbers = re.findall(r"-?\d+\.\d\b", result.output.split("mean")[1])
    assert len(numbers) >= 64


def test_view_cells_follow_temperature():
    pixels = np.full((8, 8), 20.0, dtype=np.float32)
    pixels[0, 0] = 35.0
    frame = Frame(pixels, 25.0, 0.0, 0)
    scale = Scale(18.0, 36.0)
    lines = render(frame, scale, fps=10.0, source="x", values=False)
    first_row = [int(c) for c in CELL.findall(lines[2])]
    assert first_row[0] == colour_index(35.0, 18, 36) != first_row[1] == colour_index(20.0, 18, 36)
    assert PALETTE.index(first_row[0]) > PALETTE.index(first_row[1])
    assert lines[-1].startswith("  18.0 C") and lines[-1].endswith("36.0 C")


def test_snapshot_figure_has_every_value_in_its_cell():
    pixels = (np.arange(64).reshape(8, 8) / 4 + 20).astype(np.float32)
    figure = snapshot_figure(Frame(pixels, 23.5, 1.0, 7), title="test")
    (axes, _bar) = figure.axes
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in axes.texts}
    assert len(texts) == 64
    assert texts[(0, 0)] == "20.0" and texts[(7, 7)] == f"{pixels[7, 7]:.1f}"
    assert "thermistor 23.50 C" in axes.get_title()


def test_snapshot_writes_a_png(fake_i2c, tmp_path):
    target = tmp_path / "one.png"
    result = run("snapshot", "i2c://1/0x69", "--png", str(target), "--skip", "2")
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {target}" in result.output
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind


@pytest.mark.parametrize(
    "args",
    [
        ["view", "bogus:"],
        ["view", "i2c://1/0x70"],
        ["view", "i2c://1/0x69?fps=3"],
        ["view", "i2c://1/0x69", "--frames", "0"],
        ["view", "i2c://1/0x69", "--min", "30", "--max", "20", "--frames", "1"],
        ["snapshot", "i2c://1/0x69"],
        ["snapshot", "i2c://1/0x69", "--png", "/nonexistent-folder/x.png"],
        ["snapshot", "serial:///dev/ttyUSB98", "--png", "x.png"],
    ],
)
def test_bad_arguments_and_sources_exit_2_with_one_line(fake_i2c, args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if "rror" in line]
    assert len(errors) == 1


def test_missing_sensor_exits_2_naming_the_wiring(monkeypatch):
    from heatcast.sensor import i2c
    from heatcast.sensor.fake_amg8833 import FakeI2CBus

    previous = i2c.set_bus_factory(lambda bus: FakeI2CBus({}))
    try:
        result = run("view", "i2c://1/0x69", "--frames", "1")
    finally:
        i2c.set_bus_factory(previous)
    assert result.exit_code == 2
    assert "0x68" in result.output and "SDA to GPIO2 (pin 3)" in result.output


def test_snapshot_times_out_on_a_silent_source(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("snapshot", "serial:loop://", "--png", "never.png", "--timeout", "0.5")
    assert result.exit_code == 2
    assert "no frame within 0.5 s" in result.output
    assert not Path("never.png").exists()


@pytest.mark.timeout(60)
def test_ctrl_c_ends_view_cleanly_with_status_0(tmp_path):
    env = dict(os.environ, HEATCAST_I2C_FACTORY="fake")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "heatcast"), "view", "i2c://1/0x69"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + 30
    while b"frame 3" not in seen and time.monotonic() < deadline:
        seen += os.read(process.stdout.fileno(), 4096)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=20)
    assert b"frame 3" in seen
    assert process.returncode == 0, err.decode()
    assert b"Traceback" not in err
    assert re.search(rb"\d+ frames in", err)


def test_without_colour_warmth_still_shows():
    from heatcast.firmware.cli_sensor import ASCII_RAMP

    pixels = np.full((8, 8), 20.0, dtype=np.float32)
    pixels[3, 4] = 35.0
    pixels[3, 5] = 27.0
    frame = Frame(pixels, 25.0, 0.0, 0)
    lines = render(frame, Scale(18.0, 36.0), fps=None, source="x", values=False, colour=False)
    assert all("\x1b[" not in line for line in lines)
    cells = lines[2:-1]
    row = cells[3 * len(cells) // 8]
    width = len(row) // 8
    chars = [row[i * width] for i in range(8)]
    # the person is the densest ink, the lukewarm pixel between, the room faint
    assert ASCII_RAMP.index(chars[4]) > ASCII_RAMP.index(chars[5]) > ASCII_RAMP.index(chars[0])
    assert len(set(cells)) > 1
