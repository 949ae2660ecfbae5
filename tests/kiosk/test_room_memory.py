"""The empty room kept across restarts: written atomically, refused when it does not fit."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

import pytest

from heatcast.firmware.room_memory import MAX_BYTES, load_room, room_file, save_room

ROOM: list[float | None] = [20.0 + 0.1 * i for i in range(63)] + [None]
NOW = datetime(2026, 12, 3, 9, 30)
HEAD = '{"version": 1, "placement": "sim:|rotate=0|mirror=0", "pixels": ['


def test_round_trip_for_the_same_sensor_and_mounting(tmp_path: Path) -> None:
    path = room_file(tmp_path)
    save_room(path, ROOM, "i2c://1/0x69", 90, False, NOW)
    assert load_room(path, "i2c://1/0x69", 90, False) == ROOM
    assert [p.name for p in tmp_path.iterdir()] == ["room.json"]  # no temporary file left
    assert json.loads(path.read_text())["saved"] == "2026-12-03T09:30:00"


@pytest.mark.parametrize(("source", "rotate", "mirror"), [("sim:", 90, False), ("i2c://1/0x69", 0, False),
                                                         ("i2c://1/0x69", 90, True)])  # fmt: skip
def test_another_sensor_or_mounting_starts_cold(
    tmp_path: Path, source: str, rotate: int, mirror: bool
) -> None:
    path = room_file(tmp_path)
    save_room(path, ROOM, "i2c://1/0x69", 90, False, NOW)
    assert load_room(path, source, rotate, mirror) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "unreadable"),
        ('{"version": 2}', "not a version 1"),
        ('{"version": 1, "placement": "sim:|rotate=0|mirror=0", "pixels": [1, 2]}', "64 pixels"),
        (HEAD + ",".join(["1e999"] * 64) + "]}", "not a temperature"),
        (HEAD + ",".join(["true"] * 64) + "]}", "not a temperature"),
        (HEAD + ",".join(["200"] * 64) + "]}", "not a temperature"),
    ],
)  # fmt: skip
def test_a_bad_file_is_one_warning_and_a_cold_start(
    tmp_path: Path, text: str, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = room_file(tmp_path)
    path.write_text(text)
    with caplog.at_level(logging.WARNING):
        assert load_room(path, "sim:", 0, False) is None
    assert len(caplog.records) == 1 and message in caplog.text and "starting cold" in caplog.text


def test_a_huge_file_is_not_read(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = room_file(tmp_path)
    path.write_bytes(b" " * (MAX_BYTES + 1))
    assert load_room(path, "sim:", 0, False) is None
    assert "larger than" in caplog.text


def test_no_file_is_a_quiet_cold_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert load_room(room_file(tmp_path), "sim:", 0, False) is None
    assert caplog.records == []


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = room_file(tmp_path)
    save_room(path, ROOM, "sim:", 0, False, NOW)
    with pytest.raises(TypeError):
        save_room(path, [object()] * 64, "sim:", 0, False, NOW)  # type: ignore[list-item]
    assert load_room(path, "sim:", 0, False) == ROOM
    assert [p.name for p in tmp_path.iterdir()] == ["room.json"]
