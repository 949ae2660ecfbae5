"""Replaying a recorded trace as a frame source: ``replay:trace.csv?speed=1&loop=1``.

Frames come out paced by their ``t``: ``speed=1`` is real time, ``speed=2``
twice as fast, ``speed=0`` as fast as the consumer takes them. ``loop=1``
starts again at the end, with ``t`` and ``seq`` carrying on so that consumers
see one continuous, monotonic stream. The file is streamed, never held whole,
and reopened on every pass.

:meth:`ReplaySource.records` gives the frames with their labels (for eval and
end-to-end tests); iterating the source gives just the frames.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

from heatcast.errors import SourceError, UsageError
from heatcast.sensor.closing import Closing
from heatcast.sensor.frame import Frame
from heatcast.sensor.sources import SourceSpec
from heatcast.sensor.trace import TraceReader, TraceRecord

log = logging.getLogger(__name__)

#: Gap between the last frame of one pass and the first of the next when the
#: trace gives neither an ``fps`` nor two frames to measure a period from.
DEFAULT_PERIOD_S = 0.1
#: Falling further behind than this (a slow consumer, a suspended process)
#: re-anchors the pacing instead of bursting frames to catch up.
MAX_LAG_S = 1.0

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class ReplaySource(Closing):
    """Frames from a trace file, paced by their ``t``.

    ``clock`` and ``sleep`` are the time base (``time.monotonic`` and
    ``time.sleep``; tests pass a fake clock).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        speed: float = 1.0,
        loop: bool = False,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.path = Path(path)
        if not math.isfinite(speed) or speed < 0:
            raise UsageError(f"replay speed {speed!r} is not valid: use 0 (as fast as possible) or more")
        if not self.path.is_file():
            what = "is a folder, not a trace file" if self.path.is_dir() else "does not exist"
            raise SourceError(f"replay: {self.path} {what}: give the path of a .csv or .csv.gz trace")
        self.speed = speed
        self.loop = loop
        self.clock = clock
        self.sleep = sleep
        # read the head now, so a file that is no trace fails at open, not mid-run
        self._reader: TraceReader | None = TraceReader(self.path)
        self.meta: dict[str, str] = dict(self._reader.meta)
        self.label_columns = self._reader.label_columns
        self.extra_columns = self._reader.extra_columns
        self.fps: float | None = self._reader.fps
        self.sensor: str | None = self.meta.get("sensor")
        self.passes = 0
        self._closed = False
        self._iterator: Generator[TraceRecord, None, None] | None = None

    # -- reading --------------------------------------------------------------
    def records(self) -> Iterator[TraceRecord]:
        """The trace's records, paced, looped, with continuous ``t`` and ``seq``."""
        if self._iterator is None:
            self._iterator = self._paced(self._looped())
        return self._iterator

    def __iter__(self) -> Iterator[Frame]:
        for record in self.records():
            yield record.frame

    def _looped(self) -> Iterator[TraceRecord]:
        seq = 0
        offset = 0.0  # added to each pass's t to keep time moving forward
        while not self._closed:
            # the first pass reuses the reader opened (and checked) in __init__
            reader = self._reader or TraceReader(self.path)
            self._reader = reader
            first_t: float | None = None
            last_t = prev_t = None
            try:
                for record in reader:
                    t = record.frame.t
                    if first_t is None:
                        first_t = t
                        # the first pass keeps the trace's own times
                        if self.passes:
                            offset -= t
                    prev_t, last_t = last_t, t
                    frame = record.frame
                    if offset or seq != frame.seq:
                        frame = Frame(frame.pixels, frame.thermistor, t + offset, seq)
                    yield TraceRecord(frame, record.labels, record.extra, record.line)
                    seq += 1
            finally:
                reader.close()
                self._reader = None
            self.passes += 1
            if last_t is None:
                if self.passes == 1:
                    log.warning("replay: %s holds no frames", self.path)
                return  # an empty trace would loop forever without a frame
            if not self.loop:
                return
            offset += last_t + self._period(prev_t, last_t)
            log.debug("replay: %s pass %d done, looping", self.path, self.passes)

    def _period(self, prev_t: float | None, last_t: float) -> float:
        if self.fps:
            return 1.0 / self.fps
        if prev_t is not None and last_t > prev_t:
            return last_t - prev_t
        return DEFAULT_PERIOD_S

    def _paced(self, records: Iterator[TraceRecord]) -> Generator[TraceRecord, None, None]:
        if self.speed == 0:
            yield from records
            return
        anchor_wall: float | None = None
        anchor_t = 0.0
        for record in records:
            t = record.frame.t
            now = self.clock()
            if anchor_wall is None:
                anchor_wall, anchor_t = now, t
            due = anchor_wall + (t - anchor_t) / self.speed
            if due > now:
                self.sleep(due - now)
            elif now - due > MAX_LAG_S:
                anchor_wall, anchor_t = now, t
            yield record

    # -- lifetime ---------------------------------------------------------------
    def close(self) -> None:
        self._closed = True
        if self._iterator is not None:
            try:
                self._iterator.close()
            except ValueError:
                pass  # running in another thread: it stops at the next pass (_closed)
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def replay_path(spec: SourceSpec) -> Path:
    """The file a ``replay:`` string names; ``replay:///abs/x.csv`` works as a URL would."""
    target = spec.target
    if target.startswith("//"):
        target = target[2:]
    if not target:
        raise UsageError(f"{spec.text}: no trace file given; use replay:path/to/trace.csv")
    return Path(target).expanduser()


def open_replay(spec: SourceSpec) -> ReplaySource:
    """Open ``replay:PATH?speed=1&loop=0`` (see the module docstring)."""
    speed = spec.number("speed", 1.0, "0 (as fast as possible) or a positive number, 1 for real time")
    if speed < 0:
        raise UsageError(
            f"{spec.text}: speed={speed:g} is not valid; use 0 (as fast as possible) or more, 1 for real time"
        )
    loop = spec.flag("loop", False)
    return ReplaySource(replay_path(spec), speed=speed, loop=loop)
