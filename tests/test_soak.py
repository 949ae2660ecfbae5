"""Soak: many frames through the whole kiosk loop at full speed.

The demo scene, replayed in a loop as fast as the machine goes, through the
real classifier, decider, catalogue (impressions, learning), billboard page
(its event stream read by a client all along) and the fake NFC tag. Checks:
no exception anywhere, resident memory flat from the first "hour" to the last
(at most 5 MB more), and a database that grows by a bounded amount per showing.

Short by default (``--soak-frames``, see tests/conftest.py); ``make soak`` runs
864,000 frames, a day at 10 fps.
"""

from __future__ import annotations

import itertools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from heatcast.firmware.config import load_config_text
from heatcast.firmware.kiosk import Kiosk
from heatcast.nfc.fake import FakeReader, NtagChip, register
from heatcast.nfc.service import TagService
from heatcast.sensor.frame import Frame
from heatcast.sensor.sources import open_source

FPS = 10
DAY_FRAMES = 864_000
MAX_RSS_GROWTH_MB = 5.0
#: per showing: one impression row, one engagement update, their index entries
MAX_BYTES_PER_IMPRESSION = 400


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


class Limited:
    """The first ``n`` frames of a source."""

    def __init__(self, text: str, n: int) -> None:
        self.inner = open_source(text)
        self.n = n

    def __iter__(self) -> Iterator[Frame]:
        return itertools.islice(iter(self.inner), self.n)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def demo_loop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole scripted demo scene (150 s) as a trace."""
    from heatcast.sensor.sim import Simulator
    from heatcast.sensor.sim_scene import demo_scene
    from heatcast.sensor.trace import TraceWriter

    path = tmp_path_factory.mktemp("soak") / "demo.csv.gz"
    sim = Simulator(7, float(FPS), demo_scene())
    with TraceWriter(path, {"sensor": "amg8833", "fps": str(FPS)}) as out:
        for record in itertools.islice(sim.records(), 150 * FPS):
            out.write(record.frame)
    sim.close()
    return path


def consume_events(url: str, stop: threading.Event, seen: dict[str, Any]) -> None:
    """A browser-like client of the page's event stream, reconnecting when dropped."""
    while not stop.is_set():
        try:
            with httpx.stream("GET", url, timeout=httpx.Timeout(5.0, read=30.0)) as response:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        seen["events"] += 1
                        seen["last"] = line[6:]
                    if stop.is_set():
                        return
        except httpx.HTTPError:
            seen["reconnects"] += 1
            time.sleep(0.2)


def test_soak(
    tmp_path: Path, demo_loop: Path, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    frames = int(request.config.getoption("--soak-frames"))
    assert frames >= 24 * FPS * 60, "soak at least a minute of frames per 'hour' slice"
    caplog.set_level(logging.WARNING)
    model_env = {k: v for k, v in os.environ.items() if k == "HEATCAST_MODEL_PATH"}
    config = load_config_text(f'data_dir = "{tmp_path / "data"}"\n', env=model_env)
    register("fake:ntag215:soak", FakeReader(NtagChip.ntag215()))
    tag = TagService(
        "fake:ntag215:soak", protect=True, secret=b"soak-test-secret-0123456789", min_interval_s=5.0
    )
    source = f"replay:{demo_loop}?speed=0&loop=1"
    kiosk = Kiosk(config, source_factory=lambda: Limited(source, frames), tag_service=tag, page_port=0,
                  report=lambda line: None, seed=11)  # fmt: skip
    thread_errors: list[BaseException] = []
    previous_hook = threading.excepthook
    threading.excepthook = lambda args: thread_errors.append(args.exc_value or RuntimeError(str(args)))
    seen: dict[str, Any] = {"events": 0, "reconnects": 0, "last": None}
    stop = threading.Event()
    samples: list[tuple[int, float]] = []
    kiosk.start()
    assert kiosk.page_url is not None
    client = threading.Thread(
        target=consume_events, args=(kiosk.page_url + "events", stop, seen), daemon=True
    )
    client.start()
    db = config.data_dir / "content.db"
    db_start = db.stat().st_size
    started = time.monotonic()
    try:
        while not kiosk.wait(0.25):
            samples.append((kiosk.stats.frames, rss_mb()))
        samples.append((kiosk.stats.frames, rss_mb()))
        # let the worker, the tag and the stream catch up with the last choice
        assert kiosk.drain(30)
        deadline = time.monotonic() + 30
        final = kiosk.hub.current_url()
        while time.monotonic() < deadline and (seen["last"] is None or final not in seen["last"]):
            time.sleep(0.05)
    finally:
        elapsed = time.monotonic() - started
        stop.set()
        kiosk.close()
        threading.excepthook = previous_hook
    stats = kiosk.stats

    # everything went through, nothing failed
    assert stats.frames == frames
    assert thread_errors == []
    assert stats.pipeline_errors == stats.sensor_errors == stats.content_errors == 0
    assert stats.impressions_failed == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    assert stats.changes > frames / FPS / 600, stats  # the content kept changing with the audience
    assert seen["events"] >= 1 and final is not None and final in (seen["last"] or "")
    assert tag.state().error is None

    # memory: the last "hour" holds no more than the first one did, plus a little
    hour = frames // 24
    first_hour = (
        max(rss for n, rss in samples if n <= hour) if any(n <= hour for n, _ in samples) else samples[0][1]
    )
    last_hour = max(rss for n, rss in samples if n >= frames - hour)
    growth = last_hour - first_hour

    # database: bounded bytes per showing, and the showings bounded by the decider's pace
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT count(*) FROM impressions").fetchone()[0]
    finally:
        conn.close()
    db_growth = db.stat().st_size - db_start
    per_day = db_growth / frames * DAY_FRAMES
    print(
        f"\nsoak: {frames} frames in {elapsed:.1f} s ({frames / elapsed:.0f} frames/s), "
        f"{stats.triggers} decisions, {stats.changes} content changes, {rows} impressions, "
        f"{seen['events']} page events, {seen['reconnects']} reconnects; "
        f"RSS first hour {first_hour:.1f} MB, last hour {last_hour:.1f} MB (growth {growth:+.2f} MB); "
        f"database +{db_growth / 1024:.0f} KB ({per_day / 2**20:.1f} MB per day of frames)"
    )
    assert growth <= MAX_RSS_GROWTH_MB, samples[:: max(1, len(samples) // 40)]
    assert rows == stats.impressions
    assert rows <= stats.triggers and stats.triggers <= frames / FPS / 2.0 + 1  # settle_s = 2 s of frame time
    assert db_growth <= MAX_BYTES_PER_IMPRESSION * rows + 256 * 1024
