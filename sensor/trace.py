"""Trace files, version 1, exactly as ``shared/TRACE_FORMAT.md`` specifies.

A trace is CSV text (gzip-compressed when the name ends in ``.gz``): ``# key:
value`` metadata lines, the first being ``# heatcast-trace: 1``, then a header,
then one line per frame with ``t``, ``thermistor``, ``p00`` .. ``p77`` and
optional label columns. Reading streams: a day-long trace is never held whole.
Every fault is one :class:`~heatcast.errors.TraceError` naming the file, the
line and what is wrong.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

import numpy as np

from heatcast.errors import TraceError
from heatcast.sensor.frame import MAX_C, MIN_C, ROWS, Frame

FORMAT_VERSION = "1"
POSTURES = ("standing", "sitting", "lying")
ORIENTATIONS = ("facing", "side", "away")
LABEL_COLUMNS = ("count", "presence", "posture", "orientation")
PIXEL_COLUMNS = tuple(f"p{r}{c}" for r in range(ROWS) for c in range(ROWS))
REQUIRED_COLUMNS = ("t", "thermistor", *PIXEL_COLUMNS)
METADATA_KEYS = (
    "heatcast-trace", "sensor", "fps", "mount", "height_m", "tilt_deg",
    "site", "source", "license", "note",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Labels:
    """What was really in front of the sensor; None means "not labelled"."""

    count: int | None = None
    presence: bool | None = None
    posture: str | None = None
    orientation: str | None = None

    def __post_init__(self) -> None:
        if self.count is not None and self.count < 0:
            raise ValueError(f"count must be 0 or more, not {self.count}")
        if self.posture is not None and self.posture not in POSTURES:
            raise ValueError(f"posture must be one of {', '.join(POSTURES)}, not {self.posture!r}")
        if self.orientation is not None and self.orientation not in ORIENTATIONS:
            raise ValueError(
                f"orientation must be one of {', '.join(ORIENTATIONS)}, not {self.orientation!r}"
            )
        if (
            self.count is not None
            and self.presence is not None
            and self.presence != (self.count > 0)
        ):
            raise ValueError(f"presence {int(self.presence)} disagrees with count {self.count}")

    @property
    def present(self) -> bool | None:
        """Presence, from ``presence`` or else from ``count``."""
        if self.presence is not None:
            return self.presence
        if self.count is not None:
            return self.count > 0
        return None

    def cells(self, columns: Sequence[str]) -> list[str]:
        out = []
        for name in columns:
            value = getattr(self, name)
            if value is None:
                out.append("")
            elif isinstance(value, bool):
                out.append("1" if value else "0")
            else:
                out.append(str(value))
        return out


NO_LABELS = Labels()


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One frame line of a trace."""

    frame: Frame
    labels: Labels = NO_LABELS
    extra: Mapping[str, str] = field(default_factory=dict)
    line: int = 0


def _open_text(path: Path, mode: str) -> IO[str]:
    if path.name.endswith(".gz"):
        return gzip.open(path, mode + "t", encoding="utf-8", newline="")
    return open(path, mode, encoding="utf-8", newline="")


class TraceReader:
    """Streams a trace file.

    Metadata and header are read (and checked) on construction, frames as the
    reader is iterated::

        with TraceReader("site.csv.gz") as trace:
            print(trace.meta.get("site"))
            for record in trace:
                ...
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.meta: dict[str, str] = {}
        self._line = 0
        try:
            self._file = _open_text(self.path, "r")
        except OSError as exc:
            raise TraceError(f"{self.path}: cannot open: {exc.strerror or exc}") from None
        try:
            self._read_head()
        except BaseException:
            self._file.close()
            raise

    # -- errors -------------------------------------------------------------
    def _fail(self, message: str, line: int | None = None) -> TraceError:
        where = self._line if line is None else line
        return TraceError(f"{self.path}, line {where}: {message}")

    def _readline(self) -> str:
        try:
            text = self._file.readline()
        except UnicodeDecodeError:
            raise self._fail("not UTF-8 text", self._line + 1) from None
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise self._fail(f"cannot read: {exc}", self._line + 1) from None
        if text:
            self._line += 1
        return text

    # -- head ---------------------------------------------------------------
    def _read_head(self) -> None:
        first = self._readline().lstrip("\ufeff").rstrip("\r\n")
        if not first:
            raise self._fail("empty file: a trace starts with '# heatcast-trace: 1'", 1)
        key, value = self._metadata(first)
        if key != "heatcast-trace":
            raise self._fail("not a heatcast trace: the first line must be '# heatcast-trace: 1'")
        if value != FORMAT_VERSION:
            raise self._fail(
                f"trace format version {value!r} is not supported: this heatcast reads version 1"
            )
        self.meta[key] = value
        while True:
            text = self._readline()
            if not text:
                raise self._fail("no header line: expected 't,thermistor,p00,...,p77'", self._line)
            text = text.rstrip("\r\n")
            if text.startswith("#"):
                key, value = self._metadata(text)
                if key in self.meta:
                    raise self._fail(f"metadata key {key!r} given twice")
                self.meta[key] = value
                continue
            break
        self.header_line = self._line
        self.columns = tuple(next(csv.reader([text])) if text else [])
        self._check_header()

    def _metadata(self, text: str) -> tuple[str, str]:
        if not text.startswith("#") or ":" not in text:
            raise self._fail("metadata lines must read '# key: value'")
        key, _, value = text[1:].partition(":")
        key = key.strip()
        if not key:
            raise self._fail("metadata line has an empty key")
        return key, value.strip()

    def _check_header(self) -> None:
        seen: set[str] = set()
        for name in self.columns:
            if name in seen:
                raise self._fail(f"column {name!r} appears twice in the header")
            seen.add(name)
        for name in REQUIRED_COLUMNS:
            if name not in seen:
                raise self._fail(f"missing column {name!r}: the header needs t, thermistor and p00..p77")
        index = {name: i for i, name in enumerate(self.columns)}
        self._t = index["t"]
        self._thermistor = index["thermistor"]
        pix = [index[name] for name in PIXEL_COLUMNS]
        self._pixel_slice = (
            slice(pix[0], pix[0] + len(pix)) if pix == list(range(pix[0], pix[0] + len(pix))) else None
        )
        self._pixel_index = pix
        self.label_columns = tuple(n for n in self.columns if n in LABEL_COLUMNS)
        self._labels = {n: index[n] for n in self.label_columns}
        self.extra_columns = tuple(
            n for n in self.columns if n not in REQUIRED_COLUMNS and n not in LABEL_COLUMNS
        )
        self._extra = [(n, index[n]) for n in self.extra_columns]

    # -- frames -------------------------------------------------------------
    @property
    def fps(self) -> float | None:
        try:
            fps = float(self.meta.get("fps", ""))
        except ValueError:
            return None
        return fps if math.isfinite(fps) and fps > 0 else None

    def __iter__(self) -> Iterator[TraceRecord]:
        return self._records()

    def frames(self) -> Iterator[Frame]:
        for record in self._records():
            yield record.frame

    def _lines(self) -> Iterator[str]:
        while True:
            text = self._readline()
            if not text:
                return
            yield text

    def _records(self) -> Iterator[TraceRecord]:
        width = len(self.columns)
        last_t = -math.inf
        seq = 0
        reader = csv.reader(self._lines())
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise self._fail(f"not valid CSV: {exc}") from None
            line = self._line
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line carries no frame
            if len(row) != width:
                raise self._fail(f"expected {width} values as in the header, found {len(row)}", line)
            t = self._number(row[self._t], "t", line)
            if not math.isfinite(t):
                raise self._fail(f"t is {row[self._t]!r}: it must be a finite number of seconds", line)
            if t < last_t:
                raise self._fail(f"t goes backwards ({t:g} after {last_t:g})", line)
            last_t = t
            therm_text = row[self._thermistor]
            thermistor = None
            if therm_text.strip():
                thermistor = self._temperature(therm_text, "thermistor", line)
            pixels = self._pixels(row, line)
            labels = self._parse_labels(row, line)
            extra = {name: row[i] for name, i in self._extra}
            yield TraceRecord(Frame(pixels, thermistor, t, seq), labels, extra, line)
            seq += 1

    def _number(self, text: str, column: str, line: int) -> float:
        try:
            return float(text)
        except ValueError:
            raise self._fail(f"{column} is {text!r}, not a number", line) from None

    def _temperature(self, text: str, column: str, line: int) -> float:
        value = self._number(text, column, line)
        if not MIN_C <= value <= MAX_C:
            raise self._fail(
                f"{column} is {text.strip()} C, outside the sensor's range {MIN_C:g}..{MAX_C:g} C", line
            )
        return value

    def _pixels(self, row: list[str], line: int) -> np.ndarray:
        cells = row[self._pixel_slice] if self._pixel_slice else [row[i] for i in self._pixel_index]
        try:
            values = np.array(cells, dtype=np.float64)
        except ValueError:
            for name, text in zip(PIXEL_COLUMNS, cells, strict=True):
                self._number(text, name, line)
            raise self._fail("pixel values are not numbers", line) from None
        bad = ~((values >= MIN_C) & (values <= MAX_C))
        if bad.any():
            i = int(np.argmax(bad))
            self._temperature(cells[i], PIXEL_COLUMNS[i], line)
        return values.astype(np.float32).reshape(ROWS, ROWS)

    def _parse_labels(self, row: list[str], line: int) -> Labels:
        if not self._labels:
            return NO_LABELS
        found: dict[str, object] = {}
        for name, i in self._labels.items():
            text = row[i].strip()
            if not text:
                continue
            if name == "count":
                if not text.isdigit():
                    raise self._fail(f"count is {text!r}: it must be a whole number, 0 or more", line)
                found[name] = int(text)
            elif name == "presence":
                if text not in ("0", "1"):
                    raise self._fail(f"presence is {text!r}: it must be 1 or 0", line)
                found[name] = text == "1"
            elif name == "posture":
                if text not in POSTURES:
                    raise self._fail(
                        f"unknown posture {text!r}: expected one of {', '.join(POSTURES)}", line
                    )
                found[name] = text
            else:
                if text not in ORIENTATIONS:
                    raise self._fail(
                        f"unknown orientation {text!r}: expected one of {', '.join(ORIENTATIONS)}",
                        line,
                    )
                found[name] = text
        try:
            return Labels(**found)  # type: ignore[arg-type]
        except ValueError as exc:
            raise self._fail(str(exc), line) from None

    # -- lifetime -----------------------------------------------------------
    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> TraceReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_trace(path: str | os.PathLike[str]) -> TraceReader:
    """Open a trace for streaming; see :class:`TraceReader`."""
    return TraceReader(path)


def _cell(value: float) -> str:
    text = f"{value:.4f}".rstrip("0")
    return text[:-1] if text.endswith(".") else text


class TraceWriter:
    """Writes a version 1 trace, line by line, flushing as it goes.

    ``labels`` names the label columns to write (any of count, presence,
    posture, orientation) and ``extra`` any further columns, which go after
    them. Closing (or leaving the ``with`` block, even on Ctrl-C) keeps every
    frame written so far.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        meta: Mapping[str, object] | None = None,
        labels: Sequence[str] = (),
        extra: Sequence[str] = (),
    ) -> None:
        self.path = Path(path)
        for name in labels:
            if name not in LABEL_COLUMNS:
                raise TraceError(f"{self.path}: unknown label column {name!r}; use {', '.join(LABEL_COLUMNS)}")
        self.label_columns = tuple(labels)
        self.extra_columns = tuple(extra)
        clash = set(self.extra_columns) & (set(REQUIRED_COLUMNS) | set(LABEL_COLUMNS))
        if clash:
            raise TraceError(f"{self.path}: extra columns may not reuse the names {sorted(clash)}")
        try:
            self._file = _open_text(self.path, "w")
        except OSError as exc:
            raise TraceError(f"{self.path}: cannot write: {exc.strerror or exc}") from None
        self._csv = csv.writer(self._file, lineterminator="\n")
        self.frames_written = 0
        self._last_t = -math.inf
        head = io.StringIO()
        head.write(f"# heatcast-trace: {FORMAT_VERSION}\n")
        for key, value in (meta or {}).items():
            if key == "heatcast-trace":
                continue
            text = str(value)
            if "\n" in text or "\r" in text or ":" in key or "\n" in key or not key.strip():
                raise TraceError(f"{self.path}: metadata {key!r} must be one line with a plain key")
            head.write(f"# {key}: {text}\n")
        self._file.write(head.getvalue())
        self._csv.writerow([*REQUIRED_COLUMNS, *self.label_columns, *self.extra_columns])

    def write(
        self,
        frame: Frame,
        labels: Labels = NO_LABELS,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        if frame.t < self._last_t:
            raise TraceError(f"{self.path}: t goes backwards ({frame.t:g} after {self._last_t:g})")
        self._last_t = frame.t
        row = [_cell(frame.t), "" if frame.thermistor is None else _cell(frame.thermistor)]
        row.extend(_cell(v) for v in frame.pixels.ravel().tolist())
        row.extend(labels.cells(self.label_columns))
        if self.extra_columns:
            extra = extra or {}
            row.extend(str(extra.get(name, "")) for name in self.extra_columns)
        self._csv.writerow(row)
        self.frames_written += 1

    def write_all(self, records: Iterable[TraceRecord]) -> None:
        for record in records:
            self.write(record.frame, record.labels, record.extra)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
