"""Classifier benchmarks: per-frame CPU, replay frames/s against the baseline, model load time.

    python benchmarks/bench_classify.py [--frames N] [--repeat R]

Each figure is measured ``repeat`` times and reported as median with min and
max, because the machines are shared and noisy. The baseline's replay speed
is measured in the same run, on the same file.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from heatcast.classify.bgsub import BgSubPipeline
from heatcast.classify.model import default_model_path, load_model
from heatcast.classify.pipeline import Pipeline
from heatcast.sensor.frame import Frame
from heatcast.sensor.trace import TraceWriter


def spread(values: list[float], digits: int = 1) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def sim_frames(n: int, seed: int = 3) -> list[Frame]:
    """A busy simulated scene, repeated to ``n`` frames with continuing time."""
    from heatcast.sensor.sim import Simulator, random_scene

    scene = random_scene(np.random.default_rng([seed, 1]), rate_per_min=4.0)
    sim = Simulator(seed, 10.0, scene)
    base = []
    for record in sim.records():
        base.append(record.frame)
        if len(base) >= min(n, 3000):
            break
    sim.close()
    frames = []
    for i in range(n):
        f = base[i % len(base)]
        frames.append(Frame(f.pixels, f.thermistor, i / 10.0, i))
    return frames


def per_frame(frames: list[Frame], repeat: int) -> dict[str, Any]:
    p50, p99 = [], []
    pipe = Pipeline()
    for _ in range(repeat):
        pipe.reset()
        times = np.empty(len(frames))
        clock = time.perf_counter_ns
        update = pipe.update
        for i, f in enumerate(frames):
            start = clock()
            update(f)
            times[i] = clock() - start
        p50.append(float(np.percentile(times, 50)) / 1000)
        p99.append(float(np.percentile(times, 99)) / 1000)
    return {"p50_us": spread(p50), "p99_us": spread(p99), "frames": len(frames)}


def replay_fps(path: Path, repeat: int) -> dict[str, Any]:
    from heatcast.firmware.cli_classify import replay_trace

    out: dict[str, Any] = {}
    for name, runner in (("heatcast", Pipeline()), ("baseline", BgSubPipeline())):
        rates = []
        for _ in range(repeat):
            sink = io.StringIO()
            start = time.perf_counter()
            _, frames, _ = replay_trace(path, runner, sink, jsonl=True)
            rates.append(frames / (time.perf_counter() - start))
        out[name] = spread(rates, 0)
    out["ratio_heatcast_to_baseline"] = round(out["heatcast"]["median"] / out["baseline"]["median"], 2)
    return out


def cli_replay(path: Path, frames: int) -> dict[str, float]:
    """The real command, start-up included, output to a pipe."""
    start = time.perf_counter()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "heatcast"), "replay", str(path), "--jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    wall = time.perf_counter() - start
    lines = done.stdout.count(b"\n")
    return {"seconds": round(wall, 3), "frames": lines, "frames_per_second_incl_startup": round(lines / wall)}


def stream_memory(path: Path, times: int = 10) -> dict[str, Any]:
    """Peak RSS of `heatcast replay --jsonl` and `heatcast eval` on a trace and on the same
    trace ``times`` as long. Bounded memory means the ratio stays near 1 whatever the length.
    """
    long = path.with_name("long.csv.gz")
    import gzip

    with gzip.open(long, "wt", encoding="utf-8") as sink, path.open(encoding="utf-8") as src:
        lines = src.read().splitlines(keepends=True)
        head = [line for line in lines if line.startswith("#") or line.startswith("t,")]
        body = [line for line in lines if line not in head]
        sink.writelines(head)
        span = len(body) / 10.0
        for k in range(times):
            for line in body:
                t, rest = line.split(",", 1)
                sink.write(f"{float(t) + k * span:.1f},{rest}")
    code = (
        "import resource, sys\n"
        "from heatcast.firmware.cli import main\n"
        "try:\n    main(sys.argv[1:])\n"
        "except SystemExit:\n    pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    )
    out: dict[str, Any] = {"frames_short": len(body), "frames_long": len(body) * times}
    for command, extra in (("replay", ["--jsonl"]), ("eval", ["--json"])):
        peaks = {}
        for name, trace in (("short", path), ("long", long)):
            done = subprocess.run(
                [sys.executable, "-c", code, command, str(trace), *extra], stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True, check=True,
            )  # fmt: skip
            peaks[name] = int(done.stderr.strip().splitlines()[-1]) / 1024
        out[command] = {
            "peak_rss_mb_short": round(peaks["short"], 1), "peak_rss_mb_long": round(peaks["long"], 1),
            "ratio_long_to_short": round(peaks["long"] / peaks["short"], 2),
        }  # fmt: skip
    return out


def load_ms(repeat: int) -> dict[str, Any]:
    path = default_model_path()
    load_model(path)  # the runtime's import is not the model's load
    times = []
    for _ in range(max(repeat, 5)):
        start = time.perf_counter()
        load_model(path)
        times.append((time.perf_counter() - start) * 1000)
    code = (
        "import time; s = time.perf_counter(); from heatcast.classify.pipeline import Pipeline; "
        "m = time.perf_counter(); Pipeline(); e = time.perf_counter(); "
        "print((m - s) * 1000, (e - m) * 1000)"
    )
    imports, first = [], []
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        a, b = (float(v) for v in done.stdout.split())
        imports.append(a)
        first.append(b)
    return {
        "load_ms": spread(times, 2),
        "cold_import_ms": spread(imports),
        "cold_pipeline_ms": spread(first),
        "model_bytes": path.stat().st_size,
    }


def run(frames: int = 20_000, repeat: int = 3) -> dict[str, Any]:
    data = sim_frames(frames)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.csv"
        with TraceWriter(path, {"fps": 10}) as w:
            for f in data:
                w.write(f)
        result = {
            "per_frame": per_frame(data[: min(frames, 5000)], repeat),
            "replay_frames_per_second": replay_fps(path, repeat),
            "cli_replay": cli_replay(path, frames),
            "stream_memory": stream_memory(path),
            "model_load": load_ms(repeat),
        }
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20_000, help="frames in the replay trace")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions per figure")
    args = ap.parse_args()
    print(json.dumps(run(args.frames, args.repeat), indent=1))


if __name__ == "__main__":
    main()
