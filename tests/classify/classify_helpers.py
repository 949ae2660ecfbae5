"""Helpers for the classifier tests (imported by the test modules via conftest's path)."""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np

from heatcast.sensor.frame import Frame
from heatcast.sensor.trace import Labels, TraceRecord, TraceWriter

#: Scene seeds far from the training tool's (seed 1 and its held-out offset).
TEST_SEEDS = (424242, 515151)
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "occupancy-esp32"
#: Held-out seeds of the envelope scenes and of the independent simulator (never trained or tuned on).
ENVELOPE_SEED = 3300000
INDSIM_SEED = 707
INDSIM = Path(__file__).resolve().parents[1] / "indsim" / "indsim.py"


def load_indsim() -> ModuleType:
    """The independent simulator, loaded by path (tests/ is no package)."""
    if "indsim" in sys.modules:
        return sys.modules["indsim"]
    spec = importlib.util.spec_from_file_location("indsim", INDSIM)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["indsim"] = module
    spec.loader.exec_module(module)
    return module


def room(rng: np.random.Generator, ambient: float = 22.0) -> np.ndarray:
    """A static empty-room picture: vertical gradient plus fixed pattern."""
    rows = np.linspace(1.0, -1.0, 8)[:, None] * np.ones((1, 8))
    return (ambient + rows + rng.normal(0.0, 0.3, (8, 8))).astype(np.float32)


def noisy(base: np.ndarray, rng: np.random.Generator, sigma: float = 0.15) -> np.ndarray:
    return np.round((base + rng.normal(0.0, sigma, base.shape)) * 4) / 4


def frames(pictures: Iterator[np.ndarray] | list[np.ndarray], fps: float = 10.0) -> Iterator[Frame]:
    for i, p in enumerate(pictures):
        yield Frame(np.asarray(p, dtype=np.float32), 25.0, i / fps, i)


def write_trace(path: Path, records: list[TraceRecord], fps: float = 10.0) -> Path:
    with TraceWriter(path, {"sensor": "amg8833", "fps": fps},
                     labels=("count", "presence", "posture", "orientation")) as w:  # fmt: skip
        w.write_all(records)
    return path


def simulate(seed: int, seconds: float, fps: float = 10.0, **overrides: object) -> list[TraceRecord]:
    from heatcast.sensor.sim import Simulator, random_scene

    scene = random_scene(np.random.default_rng([seed, 1]), **overrides)
    sim = Simulator(seed, fps, scene)
    out = []
    for record in sim.records():
        out.append(record)
        if len(out) >= math.ceil(seconds * fps):
            break
    sim.close()
    return out


def labels_of(path: Path) -> list[Labels]:
    from heatcast.sensor.trace import TraceReader

    with TraceReader(path) as r:
        return [rec.labels for rec in r]
