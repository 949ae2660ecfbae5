"""The empty room, kept across restarts: ``<data_dir>/room.json``.

A kiosk that restarts (an update, a power cut, the watchdog) would otherwise
start cold and could not see anyone who is already standing still in view.
So the kiosk keeps the classifier's learned empty-room background: 64
temperatures of the room with nobody in it, taken only while nobody is in
view, never a frame with a person. Pixels never seen empty are stored as
``null``. The file is tied to the frame source and the mounting it was
learned with; with another sensor or mounting it is ignored.

A file that cannot be read or does not fit is ignored with one log line: the
kiosk then starts cold, as it always could.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from datetime import datetime
from pathlib import Path

from heatcast.sensor.frame import MAX_C, MIN_C, PIXELS

log = logging.getLogger(__name__)

FILE_NAME = "room.json"
VERSION = 1
#: The kiosk keeps the empty room this often while it is empty (s).
SAVE_EVERY_S = 600.0
#: A file larger than this is not a room memory.
MAX_BYTES = 16 * 1024

Temperatures = list[float | None]


def room_file(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def _placement(source: str, rotate: int, mirror: bool) -> str:
    return f"{source}|rotate={rotate}|mirror={int(mirror)}"


def load_room(path: Path, source: str, rotate: int, mirror: bool) -> Temperatures | None:
    """The saved empty room for this sensor and mounting, or None (logged) when there is none that fits."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"larger than {MAX_BYTES} bytes")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("room memory %s unreadable (%s): starting cold; it is rewritten once the room is empty",
                    path, exc)  # fmt: skip
        return None
    problem = _problem(data)
    if problem is not None:
        log.warning("room memory %s ignored: %s; starting cold", path, problem)
        return None
    if data["placement"] != _placement(source, rotate, mirror):
        log.info("room memory %s is for another sensor or mounting: starting cold", path)
        return None
    values: Temperatures = data["pixels"]
    return values


def _problem(data: object) -> str | None:
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return f"not a version {VERSION} room memory"
    pixels = data.get("pixels")
    if not isinstance(pixels, list) or len(pixels) != PIXELS:
        return f"it needs {PIXELS} pixels"
    for v in pixels:
        if v is None:
            continue
        number = isinstance(v, int | float) and not isinstance(v, bool)
        if not number or not math.isfinite(v) or not MIN_C <= v <= MAX_C:
            return f"a pixel is not a temperature from {MIN_C:g} to {MAX_C:g} C"
    if not isinstance(data.get("placement"), str):
        return "it names no sensor"
    return None


def save_room(path: Path, temperatures: Temperatures, source: str, rotate: int, mirror: bool,
              now: datetime) -> None:  # fmt: skip
    """Write the empty room atomically (a crash mid-write leaves the old file)."""
    body = {
        "version": VERSION,
        "what": "the empty room's temperatures as heatcast's background (C, row by row); no person",
        "placement": _placement(source, rotate, mirror),
        "saved": now.replace(microsecond=0).isoformat(),
        "pixels": temperatures,
    }
    fd, tmp = tempfile.mkstemp(prefix=".room-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(body, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
