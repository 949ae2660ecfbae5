"""I2C traffic per frame on the fake AMG8833: heatcast's reader against the driver's ``.pixels``.

    .venv/bin/python benchmarks/bench_i2c.py [--frames 300]

Both run in one process against the same :class:`FakeI2CBus`, which counts
every transaction and byte the real ``adafruit_amg88xx`` stack puts on it:

* ``heatcast_*``: :class:`AMG88xxSource` (one 128-byte write-then-read at 0x80
  per frame, the thermistor's two one-byte reads once a second), averaged over
  ``--frames`` frames at 10 fps, counted after the sensor is initialised;
* ``driver_*``: ``AMG88XX.pixels`` (64 two-byte reads) plus ``.temperature``
  per frame, as the driver's examples read a frame;
* ``*_bus_ms_100k`` / ``*_bus_ms_400k``: the time those bytes take on the wire
  (9 clocks per byte plus start, repeated start and stop) at the Pi's default
  100 kHz and at 400 kHz; Linux adds a per-transaction ioctl cost on top, which
  makes the 64-transaction read worse still;
* ``*_cpu_us``: host CPU per frame through the fake bus (the Python cost of the
  driver stack and decoding; the fake's own cost is in both);
* ``serial_*_decode_fps``: the serial decoder's frames per second on a stream
  of binary and of text frames with 5% garbage between them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import numpy as np
from adafruit_amg88xx import AMG88XX

from heatcast.sensor.fake_amg8833 import BusCounters, FakeClock, FakeI2CBus
from heatcast.sensor.i2c import AMG88xxSource
from heatcast.sensor.serial_source import FrameDecoder, encode_binary, encode_text

FRAMES = 300
REPEATS = 3


def _per_frame(before: BusCounters, after: BusCounters, frames: int) -> dict[str, float]:
    clocks = (after.clocks - before.clocks) / frames
    return {
        "transactions": (after.transactions - before.transactions) / frames,
        "bytes": (after.bytes - before.bytes) / frames,
        "bus_ms_100k": clocks / 100_000 * 1000,
        "bus_ms_400k": clocks / 400_000 * 1000,
    }


def heatcast_reader(frames: int) -> dict[str, float]:
    clock = FakeClock()
    bus = FakeI2CBus.with_amg8833(clock=clock)
    source = AMG88xxSource(bus, clock=clock, sleep=clock.sleep)
    iterator = iter(source)
    next(iterator)  # the first frame also reads the thermistor; start counting in steady state
    before = BusCounters(**vars(bus.counters))
    cpu = time.process_time()
    for _ in range(frames):
        next(iterator)
    cpu = time.process_time() - cpu
    result = _per_frame(before, bus.counters, frames)
    # pixels alone: one transaction
    block_before = BusCounters(**vars(bus.counters))
    source.read_block()
    result["pixel_transactions"] = bus.counters.transactions - block_before.transactions
    result["pixel_bytes"] = bus.counters.bytes - block_before.bytes
    result["cpu_us"] = cpu / frames * 1e6
    source.close()
    return result


def driver_pixels(frames: int) -> dict[str, float]:
    clock = FakeClock()
    bus = FakeI2CBus.with_amg8833(clock=clock)
    sensor = AMG88XX(bus)
    before = BusCounters(**vars(bus.counters))
    cpu = time.process_time()
    for _ in range(frames):
        np.asarray(sensor.pixels, dtype=np.float32)
        sensor.temperature  # noqa: B018 - a property read is an I2C read
        clock.sleep(0.1)
    cpu = time.process_time() - cpu
    result = _per_frame(before, bus.counters, frames)
    block_before = BusCounters(**vars(bus.counters))
    sensor.pixels  # noqa: B018
    result["pixel_transactions"] = bus.counters.transactions - block_before.transactions
    result["pixel_bytes"] = bus.counters.bytes - block_before.bytes
    result["cpu_us"] = cpu / frames * 1e6
    return result


def serial_decode_fps(fmt: str, frames: int = 2000) -> float:
    rng = np.random.default_rng(1)
    parts = []
    for i in range(frames):
        pixels = np.round(rng.normal(23, 2, 64) * 4) / 4
        parts.append(encode_binary(pixels, 24.0) if fmt == "binary-crc" else encode_text(pixels, 24.0))
        if i % 20 == 0:
            parts.append(rng.integers(0, 256, 40, dtype=np.uint8).tobytes() + b"\n")
    data = b"".join(parts)
    decoder = FrameDecoder(fmt)
    start = time.process_time()
    got = 0
    for offset in range(0, len(data), 4096):
        got += len(decoder.feed(data[offset : offset + 4096]))
    return got / (time.process_time() - start)


def run(frames: int = FRAMES) -> dict[str, Any]:
    ours = [heatcast_reader(frames) for _ in range(REPEATS)]
    theirs = [driver_pixels(frames) for _ in range(REPEATS)]
    result: dict[str, Any] = {"frames": frames, "repeats": REPEATS}
    for name, runs in (("heatcast", ours), ("driver", theirs)):
        for key in runs[0]:
            values = [r[key] for r in runs]
            result[f"{name}_{key}"] = statistics.median(values)
    for key in ("transactions", "bytes", "bus_ms_100k", "pixel_transactions", "cpu_us"):
        result[f"driver_vs_heatcast_{key}"] = result[f"driver_{key}"] / result[f"heatcast_{key}"]
    for fmt in ("binary-crc", "text"):
        result[f"serial_{fmt}_decode_fps"] = statistics.median(serial_decode_fps(fmt) for _ in range(REPEATS))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=FRAMES, help="frames per measurement")
    args = parser.parse_args()
    result = run(args.frames)
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}, indent=2))


if __name__ == "__main__":
    main()
