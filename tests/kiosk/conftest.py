"""Fixtures for the kiosk tests: a recorded demo scene and `heatcast run` processes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The test modules import their helpers from kiosk_helpers.py beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kiosk_helpers import DEMO_SECONDS, Running


@pytest.fixture(scope="session")
def demo_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo scene recorded as a trace (what `heatcast record sim:` would write)."""
    from heatcast.sensor.sim import Simulator
    from heatcast.sensor.sim_scene import demo_scene
    from heatcast.sensor.trace import TraceWriter

    path = tmp_path_factory.mktemp("traces") / "demo.csv.gz"
    sim = Simulator(1, 10.0, demo_scene())
    labels = ("count", "presence", "posture", "orientation")
    with TraceWriter(
        path, {"sensor": "amg8833", "fps": "10", "site": "simulator demo"}, labels=labels
    ) as out:
        for n, record in enumerate(sim.records()):
            if n >= DEMO_SECONDS * 10:
                break
            out.write(record.frame, record.labels)
    sim.close()
    return path


@pytest.fixture
def running(tmp_path: Path) -> Iterator[list[Running]]:
    procs: list[Running] = []
    yield procs
    for proc in procs:
        if proc.proc.poll() is None:
            proc.proc.kill()
            proc.proc.wait(10)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    from kiosk_helpers import chromium

    driver = chromium(tmp_path / "chromium-profile")
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
