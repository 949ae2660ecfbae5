"""Simulator speed: labelled frames per CPU-second, on the demo and on random scenes.

CPU time (``time.process_time``) rather than wall time, because the machines
these run on are shared and busy; each figure is measured several times and
reported as the median with its spread. The baseline in the same process is an
empty room (no people), so the ratio shows what people cost.

    python benchmarks/bench_sim.py
"""

from __future__ import annotations

import itertools
import json
import statistics
import time

import numpy as np

from heatcast.sensor.sim import Simulator, demo_scene, random_scene

FRAMES = 1500
REPEATS = 3


def _rate(make, frames: int = FRAMES) -> tuple[float, float, float]:
    """Frames per CPU-second (median, and max-min spread) over REPEATS runs."""
    rates = []
    people = 0.0
    for _ in range(REPEATS):
        sim = make()
        t0 = time.process_time()
        counts = [r.labels.count for r in itertools.islice(sim.records(), frames)]
        dt = max(time.process_time() - t0, 1e-9)
        rates.append(frames / dt)
        people = float(np.mean(counts))
    return statistics.median(rates), max(rates) - min(rates), people


def run() -> dict[str, object]:
    results: dict[str, object] = {}
    bare = random_scene(np.random.default_rng(1), rate_per_min=1e-6, initial_people=0)
    empty, empty_spread, _ = _rate(lambda: Simulator(1, 10.0, bare))
    results["empty_room_fps"] = round(empty)
    results["empty_room_spread"] = round(empty_spread)
    demo, demo_spread, demo_people = _rate(lambda: Simulator(1, 10.0, demo_scene()))
    results["demo_fps"] = round(demo)
    results["demo_spread"] = round(demo_spread)
    results["demo_mean_count"] = round(demo_people, 2)
    rates = []
    people = []
    for seed in range(8):
        scene = random_scene(np.random.default_rng(seed))
        rate, _, mean_count = _rate(lambda s=seed, sc=scene: Simulator(s, 10.0, sc), 800)
        rates.append(rate)
        people.append(mean_count)
    results["random_fps_median"] = round(statistics.median(rates))
    results["random_fps_min"] = round(min(rates))
    results["random_fps_max"] = round(max(rates))
    results["random_mean_count"] = round(float(np.mean(people)), 2)
    one, _, _ = _rate(lambda: Simulator(1, 1.0, random_scene(np.random.default_rng(2))), 400)
    results["random_1fps_fps"] = round(one)
    results["demo_vs_empty_ratio"] = round(demo / empty, 3)
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
