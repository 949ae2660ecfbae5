"""``heatcast record``: write a labelled v1 trace from any frame source.

Installers record on site with the truth given on the command line
(``--label count=1 --label posture=standing``), and train with the result.
Ctrl-C ends a recording cleanly: every frame recorded so far stays in a valid
trace.
"""

from __future__ import annotations

import math
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

import click

from heatcast.errors import UsageError
from heatcast.firmware.options import SOURCE_HELP, source_argument
from heatcast.sensor.frame import Frame
from heatcast.sensor.sources import open_source, parse_source
from heatcast.sensor.trace import LABEL_COLUMNS, ORIENTATIONS, POSTURES, Labels, TraceWriter

#: Metadata a source may know about itself (the replayed trace's head, say).
SOURCE_META_KEYS = ("sensor", "fps", "mount", "height_m", "tilt_deg", "site", "source", "license", "note")
#: ``sensor`` for sources that do not name theirs.
SCHEME_SENSOR = {"i2c": "amg88xx", "sim": "heatcast-sim"}
#: Status line refreshes per second at most.
PROGRESS_HZ = 4.0

LABEL_HELP = (
    "The truth for every frame, as KEY=VALUE: count=N, presence=1|0, "
    f"posture={'|'.join(POSTURES)}, orientation={'|'.join(ORIENTATIONS)}. Repeat for several."
)


def parse_labels(items: Sequence[str]) -> Labels:
    """``("count=1", "posture=standing")`` -> Labels; a bad key or word is a UsageError."""
    found: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or key not in LABEL_COLUMNS:
            raise UsageError(
                f"--label {item!r}: use KEY=VALUE with KEY one of {', '.join(LABEL_COLUMNS)}, "
                "e.g. --label count=1"
            )
        if key in found:
            raise UsageError(f"--label {key} is given twice: give each label once")
        if key == "count":
            if not (value.isascii() and value.isdigit()) or len(value) > 3:
                raise UsageError(
                    f"--label count={value!r}: count must be a whole number of people, 0 or more"
                )
            found[key] = int(value)
        elif key == "presence":
            if value not in ("0", "1"):
                raise UsageError(f"--label presence={value!r}: presence must be 1 (someone there) or 0")
            found[key] = value == "1"
        elif key == "posture":
            if value not in POSTURES:
                raise UsageError(f"--label posture={value!r}: posture must be one of {', '.join(POSTURES)}")
            found[key] = value
        elif value not in ORIENTATIONS:
            raise UsageError(
                f"--label orientation={value!r}: orientation must be one of {', '.join(ORIENTATIONS)}"
            )
        else:
            found[key] = value
    try:
        labels = Labels(**found)  # type: ignore[arg-type]
    except ValueError as exc:
        raise UsageError(f"--label: {exc}: give labels that agree") from None
    if labels.present is False and (labels.posture or labels.orientation):
        # TRACE_FORMAT.md: with nobody in view, posture and orientation are empty
        raise UsageError(
            "--label posture/orientation describe the person in view: "
            "they cannot go with count=0 or presence=0"
        )
    return labels


def parse_meta(items: Sequence[str]) -> dict[str, str]:
    """``("site=Shop 4",)`` -> {"site": "Shop 4"}; bad keys are a UsageError."""
    meta: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or any(ch in key for ch in ":#\r\n") or any(ch in value for ch in "\r\n"):
            raise UsageError(f"--meta {item!r}: use KEY=VALUE on one line, e.g. --meta site='Shop 4'")
        if key == "heatcast-trace":
            raise UsageError("--meta heatcast-trace: the format version is written by heatcast itself")
        meta[key] = value.strip()
    return meta


def source_meta(source: object, text: str) -> dict[str, str]:
    """What the source knows about itself: a replayed trace's head, its sensor, its frame rate."""
    meta: dict[str, str] = {}
    inner = getattr(source, "meta", None)
    if isinstance(inner, Mapping):
        meta.update({k: str(v) for k, v in inner.items() if k in SOURCE_META_KEYS})
    sensor = getattr(source, "sensor", None)
    if isinstance(sensor, str) and sensor:
        meta["sensor"] = sensor
    elif "sensor" not in meta:
        scheme = parse_source(text).scheme
        if scheme in SCHEME_SENSOR:
            meta["sensor"] = SCHEME_SENSOR[scheme]
    fps = getattr(source, "fps", None)
    if isinstance(fps, int | float) and not isinstance(fps, bool) and math.isfinite(fps) and fps > 0:
        meta["fps"] = f"{fps:g}"
    meta.setdefault("source", f"heatcast record {text}")
    return meta


class Progress:
    """A one-line status display on a terminal; silent elsewhere (logs, pipes, tests)."""

    def __init__(
        self,
        out: Path,
        seconds: float | None,
        frames: int | None,
        stream: IO[str] | None = None,
        enabled: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out
        self.seconds = seconds
        self.frames = frames
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.clock = clock
        self._last = -math.inf
        self._width = 0

    def text(self, count: int, elapsed: float) -> str:
        parts = [f"recording {self.out}: {count} frames, {elapsed:.1f} s"]
        done = []
        if self.seconds:
            done.append(elapsed / self.seconds)
        if self.frames:
            done.append(count / self.frames)
        if done:
            parts.append(f"{min(1.0, max(done)) * 100:3.0f}%")
        if elapsed > 0 and count > 1:
            parts.append(f"{(count - 1) / elapsed:.1f} fps")
        return "  ".join(parts) + "  (Ctrl-C stops and keeps what is recorded)"

    def update(self, count: int, elapsed: float, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if not force and now - self._last < 1.0 / PROGRESS_HZ:
            return
        self._last = now
        line = self.text(count, elapsed)
        pad = " " * max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write(f"\r{line}{pad}")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()


@dataclass
class _Interrupt:
    """Ctrl-C: raised at once while waiting for frames, deferred while a frame is being written."""

    writing: bool = False
    pending: bool = False

    def handler(self, signum: int, frame: FrameType | None) -> None:
        if self.writing:
            self.pending = True  # a half-written gzip block would spoil the file
        else:
            raise KeyboardInterrupt


@contextmanager
def _catch_interrupt(state: _Interrupt) -> Iterator[None]:
    try:
        previous = signal.signal(signal.SIGINT, state.handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass
class RecordResult:
    frames: int
    seconds: float
    interrupted: bool
    reason: str


def record_frames(
    frames: Iterator[Frame],
    writer: TraceWriter,
    labels: Labels,
    *,
    seconds: float | None = None,
    max_frames: int | None = None,
    progress: Progress | None = None,
) -> RecordResult:
    """Copy frames into ``writer`` until a limit, the source's end, or Ctrl-C.

    ``t`` is rewritten as seconds since the first frame recorded and ``seq``
    counts from 0, as a trace needs.
    """
    state = _Interrupt()
    t0: float | None = None
    elapsed = written_t = 0.0
    reason = "the source ended"
    interrupted = False
    with _catch_interrupt(state):
        try:
            for frame in frames:
                if t0 is None:
                    t0 = frame.t
                elapsed = frame.t - t0
                if seconds is not None and elapsed >= seconds:
                    reason = f"{seconds:g} s recorded"
                    break
                state.writing = True
                try:
                    writer.write(
                        Frame(frame.pixels, frame.thermistor, elapsed, writer.frames_written), labels
                    )
                finally:
                    state.writing = False
                written_t = elapsed
                if progress is not None:
                    progress.update(writer.frames_written, elapsed)
                if state.pending:
                    raise KeyboardInterrupt
                if max_frames is not None and writer.frames_written >= max_frames:
                    reason = f"{max_frames} frames recorded"
                    break
        except KeyboardInterrupt:
            interrupted = True
            reason = "stopped by Ctrl-C"
    if progress is not None:
        progress.update(writer.frames_written, written_t, force=True)
        progress.finish()
    return RecordResult(writer.frames_written, written_t, interrupted, reason)


def _positive_seconds(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise UsageError(f"--seconds {value!r}: give a number of seconds greater than 0, e.g. --seconds 60")
    return seconds


def _positive_frames(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    if not (value.strip().isascii() and value.strip().isdigit()) or int(value) < 1:
        raise UsageError(f"--frames {value!r}: give a whole number of frames, 1 or more, e.g. --frames 600")
    return int(value)


@click.command(
    "record",
    help=f"""Record frames from SOURCE into a trace file (format v1), with labels.

    Every frame gets the labels given with --label, so record one situation at
    a time, e.g. one person standing and facing the sensor:
    --label count=1 --label posture=standing --label orientation=facing.
    Ctrl-C stops the recording and keeps every frame recorded so far.

    SOURCE: {SOURCE_HELP}
    """,
)
@source_argument
@click.option(
    "--out",
    "-o",
    "out",
    required=True,
    type=click.Path(path_type=Path),  # a folder is refused in one line below
    metavar="FILE",
    help="Trace file to write: FILE.csv, or FILE.csv.gz to compress it.",
)
@click.option(
    "--seconds",
    callback=_positive_seconds,
    metavar="N",
    help="Stop after N seconds of frames (by the frames' own time). Default: until Ctrl-C.",
)
@click.option(
    "--frames",
    "max_frames",
    callback=_positive_frames,
    metavar="N",
    help="Stop after N frames. With --seconds too, whichever comes first.",
)
@click.option("--label", "label_items", multiple=True, metavar="KEY=VALUE", help=LABEL_HELP)
@click.option(
    "--meta",
    "meta_items",
    multiple=True,
    metavar="KEY=VALUE",
    help="Metadata for the trace's head, e.g. --meta site='Shop 4' --meta height_m=1.6. Repeat for several.",
)
@click.option("--force", is_flag=True, help="Replace FILE if it already exists.")
def record(
    source: str,
    out: Path,
    seconds: float | None,
    max_frames: int | None,
    label_items: tuple[str, ...],
    meta_items: tuple[str, ...],
    force: bool,
) -> None:
    """Record a labelled trace (help text above)."""
    labels = parse_labels(label_items)
    extra_meta = parse_meta(meta_items)
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder: give a file name such as {out / 'trace.csv.gz'}")
    if out.exists() and not force:
        raise UsageError(f"{out} already exists: add --force to replace it, or choose another --out")
    columns = [name for name in LABEL_COLUMNS if getattr(labels, name) is not None]
    frames = open_source(source)
    try:
        meta = {**source_meta(frames, source), **extra_meta}
        with TraceWriter(out, meta, labels=columns, exclusive=not force) as writer:
            progress = Progress(out, seconds, max_frames)
            result = record_frames(
                iter(frames), writer, labels, seconds=seconds, max_frames=max_frames, progress=progress
            )
    finally:
        frames.close()
    click.echo(
        f"recorded {result.frames} frames ({result.seconds:.1f} s) to {out}: {result.reason}",
        err=True,
    )
