"""Traces as arrays, a chunk at a time: the fast path of replay, eval and training.

:class:`~heatcast.sensor.trace.TraceReader` builds a Frame per line, which
costs more than the whole classifier. Here the header is still read and
checked by TraceReader, then the frame lines are parsed a chunk at a time with
numpy and checked with array operations. Anything the fast path does not vouch
for (a quoted cell, an empty thermistor, a value out of range, a bad label)
hands over to TraceReader from that chunk on, so every fault still gets its
exact message with file and line, and the frames are the same either way.
"""

from __future__ import annotations

import gzip
import itertools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt

from heatcast.sensor.frame import COLS, F32, F64, MAX_C, MIN_C, ROWS
from heatcast.sensor.trace import ORIENTATIONS, PIXEL_COLUMNS, POSTURES, TraceReader, TraceRecord

I32 = npt.NDArray[np.int32]

_POSTURE = {name: i for i, name in enumerate(POSTURES)}
_ORIENTATION = {name: i for i, name in enumerate(ORIENTATIONS)}


@dataclass
class Chunk:
    """Consecutive frames of one trace; labels are -1 where not labelled."""

    t: F64
    thermistor: F64  # NaN where the trace has none
    pixels: F32  # (N, 8, 8)
    count: I32
    presence: I32  # 1/0 from presence, else from count
    posture: I32  # index into POSTURES
    orientation: I32  # index into ORIENTATIONS

    def __len__(self) -> int:
        return len(self.t)

    @staticmethod
    def concat(chunks: list[Chunk]) -> Chunk:
        if not chunks:
            return empty_chunk()
        return Chunk(*(np.concatenate([getattr(c, f) for c in chunks]) for f in _FIELDS))


_FIELDS = ("t", "thermistor", "pixels", "count", "presence", "posture", "orientation")


def empty_chunk() -> Chunk:
    z = np.zeros(0, dtype=np.int32)
    return Chunk(
        np.zeros(0), np.zeros(0), np.zeros((0, ROWS, COLS), dtype=np.float32), z, z.copy(), z.copy(), z.copy()
    )


def _open(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


class _Slow(Exception):
    """The fast path hands this chunk to TraceReader."""


class TraceArrays:
    """Iterates a trace as :class:`Chunk` values of up to ``chunk`` frames.

    With ``labels=False`` the label columns are not parsed (all -1): replay
    needs only the frames.
    """

    def __init__(self, path: str | os.PathLike[str], chunk: int = 4096, labels: bool = True) -> None:
        self.path = Path(path)
        self.chunk = chunk
        self.want_labels = labels
        with TraceReader(self.path) as head:
            self.meta = dict(head.meta)
            self.columns = head.columns
            self.header_line = head.header_line
            self.label_columns = head.label_columns
            self.fps = head.fps
        index = {name: i for i, name in enumerate(self.columns)}
        self._numeric = [index["t"], index["thermistor"], *(index[p] for p in PIXEL_COLUMNS)]
        self._labels = {name: index[name] for name in self.label_columns}

    def read_all(self) -> Chunk:
        return Chunk.concat(list(self))

    def __iter__(self) -> Iterator[Chunk]:
        done = 0
        last_t = -math.inf
        try:
            with _open(self.path) as f:
                for _ in range(self.header_line):
                    f.readline()
                while True:
                    lines = [line for line in itertools.islice(f, self.chunk) if line.strip()]
                    if not lines:
                        return
                    chunk = self._parse(lines, last_t)
                    last_t = float(chunk.t[-1])
                    done += len(chunk)
                    yield chunk
        except (_Slow, UnicodeDecodeError, OSError, EOFError):
            pass
        yield from self._slow(done)

    def _parse(self, lines: list[str], last_t: float) -> Chunk:
        width = len(self.columns)
        text = "".join(lines)
        if '"' in text or text.count(",") != len(lines) * (width - 1):
            raise _Slow
        try:
            values = np.loadtxt(lines, delimiter=",", usecols=self._numeric, dtype=np.float64, ndmin=2)
        except ValueError:
            raise _Slow from None
        t = values[:, 0]
        temps = values[:, 1:]
        if not (
            np.isfinite(t).all()
            and t[0] >= last_t
            and (np.diff(t) >= 0).all()
            and ((temps >= MIN_C) & (temps <= MAX_C)).all()
        ):
            raise _Slow
        n = len(lines)
        count = np.full(n, -1, dtype=np.int32)
        presence = np.full(n, -1, dtype=np.int32)
        posture = np.full(n, -1, dtype=np.int32)
        orientation = np.full(n, -1, dtype=np.int32)
        if self._labels and self.want_labels:
            rows = [line.rstrip("\r\n").split(",") for line in lines]
            try:
                for name, i in self._labels.items():
                    cells = [r[i].strip() for r in rows]
                    if name == "count":
                        count[:] = [int(c) if c.isdigit() else (-1 if not c else _fail()) for c in cells]
                    elif name == "presence":
                        presence[:] = [{"1": 1, "0": 0, "": -1}[c] for c in cells]
                    elif name == "posture":
                        posture[:] = [_POSTURE[c] if c else -1 for c in cells]
                    else:
                        orientation[:] = [_ORIENTATION[c] if c else -1 for c in cells]
            except (KeyError, ValueError):
                raise _Slow from None
            from_count = np.where(count >= 0, (count > 0).astype(np.int32), -1)
            if ((presence >= 0) & (from_count >= 0) & (presence != from_count)).any():
                raise _Slow
            presence = np.where(presence >= 0, presence, from_count).astype(np.int32)
        pixels = temps[:, 1:].astype(np.float32).reshape(n, ROWS, COLS)
        return Chunk(t.copy(), temps[:, 0].copy(), pixels, count, presence, posture, orientation)

    def _slow(self, skip: int) -> Iterator[Chunk]:
        with TraceReader(self.path) as reader:
            records = itertools.islice(iter(reader), skip, None)
            while True:
                batch = list(itertools.islice(records, self.chunk))
                if not batch:
                    return
                yield records_to_chunk(batch)


def _fail() -> int:
    raise ValueError


def records_to_chunk(records: list[TraceRecord]) -> Chunk:
    """A chunk from trace records (simulator output, TraceReader)."""
    n = len(records)
    if n == 0:
        return empty_chunk()
    t = np.array([r.frame.t for r in records], dtype=np.float64)
    therm = np.array([math.nan if r.frame.thermistor is None else r.frame.thermistor for r in records])
    pixels = np.stack([r.frame.pixels for r in records]).astype(np.float32, copy=False)
    count = np.array([-1 if r.labels.count is None else r.labels.count for r in records], dtype=np.int32)
    present = [r.labels.present for r in records]
    presence = np.array([-1 if p is None else int(p) for p in present], dtype=np.int32)
    posture = np.array(
        [-1 if r.labels.posture is None else _POSTURE[r.labels.posture] for r in records], dtype=np.int32
    )
    orientation = np.array(
        [-1 if r.labels.orientation is None else _ORIENTATION[r.labels.orientation] for r in records],
        dtype=np.int32,
    )
    return Chunk(t, therm, pixels, count, presence, posture, orientation)


def read_trace_arrays(path: str | os.PathLike[str]) -> Chunk:
    """A whole trace as one chunk (for files that fit in memory: training, tests)."""
    return TraceArrays(path).read_all()
