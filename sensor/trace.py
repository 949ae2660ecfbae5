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
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import IO, cast

import numpy as np

from heatcast.errors import TraceError
from heatcast.sensor.closing import Closing
from heatcast.sensor.frame import COLS, MAX_C, MIN_C, PIXELS, ROWS, Frame, Pixels

FORMAT_VERSION = "1"
POSTURES = ("standing", "sitting", "lying")
ORIENTATIONS = ("facing", "side", "away")
LABEL_COLUMNS = ("count", "presence", "posture", "orientation")
#: ``pRC`` is row R, column C, in row-major order (as ``Frame.pixels.ravel()``).
PIXEL_COLUMNS = tuple(f"p{r}{c}" for r in range(ROWS) for c in range(COLS))
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
        if self.count is not None and self.presence is not None and self.presence != (self.count > 0):
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


_GZIP_MAGIC = b"\x1f\x8b"
#: What a number cell may hold when a line is not plain ASCII or holds an
#: underscore: Python's float() would also take "1_0" and non-ASCII digits.
_NUMBER = re.compile(
    r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*|\s*[+-]?(?:nan|inf|infinity)\s*", re.I | re.ASCII
)
#: count cells longer than this are refused before int() (which caps digits).
_MAX_COUNT_DIGITS = 6
#: A frame line is well under 1 KiB; a longer "line" is no trace, and reading
#: it whole would break the promise of bounded memory.
MAX_LINE_BYTES = 1 << 20
_NO_EXTRA: Mapping[str, str] = MappingProxyType({})


def _is_gzip_name(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _open_text(path: Path, mode: str) -> IO[str]:
    if _is_gzip_name(path):
        # level 6: nearly level 9's size at several times its speed
        return cast(IO[str], gzip.open(path, mode + "t", encoding="utf-8", newline="", compresslevel=6))
    return open(path, mode, encoding="utf-8", newline="")


def _open_binary(path: Path) -> IO[bytes]:
    if _is_gzip_name(path):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


class TraceReader(Closing):
    """Streams a trace file.

    Metadata and header are read (and checked) on construction, frames as the
    reader is iterated, one line at a time::

        with TraceReader("site.csv.gz") as trace:
            print(trace.meta.get("site"))
            for record in trace:
                ...

    A reader is iterated once; ``list(trace)`` holds the whole trace when the
    caller really wants that.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.meta: dict[str, str] = {}
        self._line = 0
        self._iterator: Iterator[TraceRecord] | None = None
        try:
            self._file = _open_binary(self.path)
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
        """The next line without its line end, or "" at the end of the file."""
        try:
            raw = self._file.readline(MAX_LINE_BYTES + 1)
        except (OSError, EOFError, zlib.error) as exc:
            # gzip raises EOFError for a truncated file, zlib.error for corrupt data
            raise self._fail(
                f"cannot read ({exc or type(exc).__name__}): the file is damaged or truncated", self._line + 1
            ) from None
        if not raw:
            return ""
        self._line += 1
        if len(raw) > MAX_LINE_BYTES:
            raise self._fail(f"line longer than {MAX_LINE_BYTES // 1024} KiB: this is not a trace")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            if self._line == 1 and raw.startswith(_GZIP_MAGIC):
                raise self._fail("this is gzip-compressed data: name the file *.csv.gz", 1) from None
            raise self._fail("not UTF-8 text: save the trace as UTF-8") from None
        if text.endswith("\n"):
            text = text[:-2] if text.endswith("\r\n") else text[:-1]
        # a lone "\n" still counts as a line; "" is kept for the end of file only
        return text or "\n"

    # -- head ---------------------------------------------------------------
    def _read_head(self) -> None:
        first = self._readline()
        if first.startswith("\ufeff"):
            first = first[1:]  # some editors start UTF-8 files with a byte-order mark
        if not first or first == "\n":
            raise self._fail("empty first line: a trace starts with '# heatcast-trace: 1'", 1)
        if not first.startswith("#") or ":" not in first:
            raise self._fail("not a heatcast trace: the first line must be '# heatcast-trace: 1'")
        key, value = self._metadata(first)
        if key != "heatcast-trace":
            raise self._fail("not a heatcast trace: the first line must be '# heatcast-trace: 1'")
        if value != FORMAT_VERSION:
            raise self._fail(
                f"trace format version {value!r} is not supported: this heatcast reads version 1"
            )
        self.meta[key] = value
        repeated: dict[str, list[str]] = {}
        while True:
            text = self._readline()
            if not text:
                raise self._fail("no header line: expected 't,thermistor,p00,...,p77'", self._line)
            if text == "\n" or not text.strip():
                continue
            if text.startswith("#"):
                key, value = self._metadata(text)
                if key == "heatcast-trace":
                    raise self._fail("'heatcast-trace' given twice: it belongs on the first line only")
                # a repeated key (a long note, say) continues its value on a new line
                repeated.setdefault(key, []).append(value)
                continue
            break
        self.meta.update((key, "\n".join(values)) for key, values in repeated.items())
        self.header_line = self._line
        try:
            header = next(csv.reader([text]))
        except csv.Error as exc:
            raise self._fail(f"header is not valid CSV: {exc}") from None
        self.columns = tuple(name.strip() for name in header)
        self._check_header()

    def _metadata(self, text: str) -> tuple[str, str]:
        if "\r" in text:
            raise self._fail("a carriage return inside a line: trace lines end with \\n")
        if not text.startswith("#") or ":" not in text:
            raise self._fail("metadata lines must read '# key: value'")
        key, _, value = text[1:].partition(":")
        key = key.strip()
        if not key:
            raise self._fail("metadata line has an empty key: it must read '# key: value'")
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
            slice(pix[0], pix[0] + PIXELS) if pix == list(range(pix[0], pix[0] + PIXELS)) else None
        )
        self._pixel_index = pix
        self._numeric = (self._t, self._thermistor, *pix)
        self.label_columns = tuple(n for n in self.columns if n in LABEL_COLUMNS)
        self._labels = tuple((n, index[n]) for n in self.label_columns)
        self.extra_columns = tuple(
            n for n in self.columns if n not in REQUIRED_COLUMNS and n not in LABEL_COLUMNS
        )
        self._extra = tuple((n, index[n]) for n in self.extra_columns)

    # -- frames -------------------------------------------------------------
    @property
    def fps(self) -> float | None:
        """The ``fps`` metadata as a positive number, or None."""
        try:
            fps = float(self.meta.get("fps", ""))
        except ValueError:
            return None
        return fps if math.isfinite(fps) and fps > 0 else None

    def __iter__(self) -> Iterator[TraceRecord]:
        if self._iterator is None:
            self._iterator = self._records()
        return self._iterator

    def frames(self) -> Iterator[Frame]:
        for record in self:
            yield record.frame

    def _records(self) -> Iterator[TraceRecord]:
        width = len(self.columns)
        last_t = -math.inf
        seq = 0
        readline = self._readline
        t_col, th_col = self._t, self._thermistor
        pixel_slice, pixel_index = self._pixel_slice, self._pixel_index
        label_cols, extra_cols = self._labels, self._extra
        label_cache: dict[tuple[str, ...], Labels] = {}
        while True:
            text = readline()
            if not text:
                return
            line = self._line
            if text == "\n" or not text.strip():
                continue  # a blank line carries no frame
            row = text.split(",") if '"' not in text else self._csv_row(text, line)
            if len(row) != width:
                raise self._row_width_fault(text, row, width, line)
            if not text.isascii() or "_" in text:
                self._check_numbers(row, line)
            t_text = row[t_col]
            try:
                t = float(t_text)
            except ValueError:
                raise self._fail(f"t is {t_text!r}, not a number", line) from None
            if not math.isfinite(t):
                raise self._fail(f"t is {t_text!r}: it must be a finite number of seconds", line)
            if t < last_t:
                raise self._fail(f"t goes backwards ({t:g} after {last_t:g})", line)
            last_t = t
            therm_text = row[th_col]
            thermistor = self._temperature(therm_text, "thermistor", line) if therm_text.strip() else None
            cells = row[pixel_slice] if pixel_slice else [row[i] for i in pixel_index]
            pixels = self._pixels(cells, line)
            if label_cols:
                key = tuple([row[i] for _, i in label_cols])
                labels = label_cache.get(key)
                if labels is None:
                    labels = self._parse_labels(key, line)
                    if len(label_cache) < 4096:
                        label_cache[key] = labels
            else:
                labels = NO_LABELS
            extra = {name: row[i] for name, i in extra_cols} if extra_cols else _NO_EXTRA
            yield TraceRecord(Frame(pixels, thermistor, t, seq), labels, extra, line)
            seq += 1

    def _csv_row(self, text: str, line: int) -> list[str]:
        try:
            rows = list(csv.reader([text], strict=True))
        except csv.Error as exc:
            raise self._fail(f"not valid CSV: {exc}", line) from None
        return rows[0] if rows else []

    def _row_width_fault(self, text: str, row: list[str], width: int, line: int) -> TraceError:
        if text.startswith("#"):
            return self._fail("a '#' line after the header: metadata lines come before the header", line)
        return self._fail(f"expected {width} values as in the header, found {len(row)}", line)

    def _check_numbers(self, row: list[str], line: int) -> None:
        match = _NUMBER.fullmatch
        for i in self._numeric:
            text = row[i]
            if text.strip() and not match(text):
                raise self._fail(f"{self.columns[i]} is {text!r}, not a number", line)

    def _number(self, text: str, column: str, line: int) -> float:
        try:
            return float(text)
        except ValueError:
            raise self._fail(f"{column} is {text!r}, not a number", line) from None

    def _temperature(self, text: str, column: str, line: int) -> float:
        value = self._number(text, column, line)
        if not MIN_C <= value <= MAX_C:
            shown = text.strip() if math.isfinite(value) else repr(text.strip())
            raise self._fail(
                f"{column} is {shown} C, outside the sensor's range {MIN_C:g}..{MAX_C:g} C", line
            )
        return value

    def _pixels(self, cells: list[str], line: int) -> Pixels:
        try:
            # parsed as float64 so that the range check sees the value as written
            values = np.array(cells, dtype=np.float64)
        except ValueError:
            for name, text in zip(PIXEL_COLUMNS, cells, strict=True):
                self._number(text, name, line)
            raise self._fail("pixel values are not numbers", line) from None
        if not (values.min() >= MIN_C and values.max() <= MAX_C):  # NaN fails both
            i = int(np.argmax(~((values >= MIN_C) & (values <= MAX_C))))
            self._temperature(cells[i], PIXEL_COLUMNS[i], line)
        return values.astype(np.float32).reshape(ROWS, COLS)

    def _parse_labels(self, cells: tuple[str, ...], line: int) -> Labels:
        found: dict[str, object] = {}
        for (name, _), raw in zip(self._labels, cells, strict=True):
            text = raw.strip()
            if not text:
                continue  # an empty cell is "not labelled"
            if name == "count":
                if not (text.isascii() and text.isdigit()):
                    raise self._fail(f"count is {text!r}: it must be a whole number, 0 or more", line)
                if len(text) > _MAX_COUNT_DIGITS:
                    raise self._fail(f"count is {text}: too many people for one 8x8 sensor", line)
                found[name] = int(text)
            elif name == "presence":
                if text not in ("0", "1"):
                    raise self._fail(f"presence is {text!r}: it must be 1 or 0", line)
                found[name] = text == "1"
            elif name == "posture":
                if text not in POSTURES:
                    raise self._fail(f"unknown posture {text!r}: expected one of {', '.join(POSTURES)}", line)
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


def read_trace(path: str | os.PathLike[str]) -> TraceReader:
    """Open a trace for streaming; see :class:`TraceReader`."""
    return TraceReader(path)


def _cell(value: float) -> str:
    text = f"{value:.4f}".rstrip("0")
    return text[:-1] if text.endswith(".") else text


def _plain_key(key: str) -> bool:
    return bool(key.strip()) and not any(ch in key for ch in ":\r\n")


class TraceWriter(Closing):
    """Writes a version 1 trace, line by line.

    ``labels`` names the label columns to write (any of count, presence,
    posture, orientation) and ``extra`` any further columns, which go after
    them. A metadata value with line breaks is written as the same key on
    several lines, which readers join again. Values are written to 4 decimal
    places (the sensor's 0.25 C steps exactly). Closing (or leaving the
    ``with`` block, even on Ctrl-C) keeps every frame written so far as a
    valid trace. ``exclusive=True`` refuses to replace an existing file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        meta: Mapping[str, object] | None = None,
        labels: Sequence[str] = (),
        extra: Sequence[str] = (),
        *,
        exclusive: bool = False,
    ) -> None:
        self.path = Path(path)
        for name in labels:
            if name not in LABEL_COLUMNS:
                raise TraceError(
                    f"{self.path}: unknown label column {name!r}; use {', '.join(LABEL_COLUMNS)}"
                )
        self.label_columns = tuple(labels)
        self.extra_columns = tuple(extra)
        if len(set(self.label_columns)) != len(self.label_columns):
            raise TraceError(f"{self.path}: label columns {list(labels)} name one column twice")
        if len(set(self.extra_columns)) != len(self.extra_columns):
            raise TraceError(f"{self.path}: extra columns {list(extra)} name one column twice")
        clash = set(self.extra_columns) & (set(REQUIRED_COLUMNS) | set(LABEL_COLUMNS))
        if clash:
            raise TraceError(f"{self.path}: extra columns may not reuse the names {sorted(clash)}")
        for name in self.extra_columns:
            if not name.strip() or name != name.strip() or any(ch in name for ch in ',"\r\n'):
                raise TraceError(f"{self.path}: extra column name {name!r} must be a plain word")
        head = io.StringIO()
        head.write(f"# heatcast-trace: {FORMAT_VERSION}\n")
        for key, value in (meta or {}).items():
            if key == "heatcast-trace" or value is None:
                continue  # the version is ours to write; None is "not known"
            if not _plain_key(key):
                raise TraceError(
                    f"{self.path}: metadata key {key!r} must be a plain name without ':' or line breaks"
                )
            for part in str(value).replace("\r\n", "\n").replace("\r", "\n").split("\n"):
                head.write(f"# {key.strip()}: {part.strip()}\n")
        try:
            self._file = _open_text(self.path, "x" if exclusive else "w")
        except FileExistsError:
            raise TraceError(f"{self.path} already exists: choose another name or replace it") from None
        except OSError as exc:
            raise TraceError(f"{self.path}: cannot write: {exc.strerror or exc}") from None
        self._csv = csv.writer(self._file, lineterminator="\n")
        self.frames_written = 0
        self._last_t = -math.inf
        self._file.write(head.getvalue())
        self._csv.writerow([*REQUIRED_COLUMNS, *self.label_columns, *self.extra_columns])

    def write(
        self,
        frame: Frame,
        labels: Labels = NO_LABELS,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        """Append one frame; refuses anything a reader would refuse."""
        if not math.isfinite(frame.t):
            raise TraceError(f"{self.path}: t is {frame.t}, not a finite number of seconds")
        if frame.t < self._last_t:
            raise TraceError(f"{self.path}: t goes backwards ({frame.t:g} after {self._last_t:g})")
        pixels = frame.pixels
        if not (pixels.min() >= MIN_C and pixels.max() <= MAX_C):
            raise TraceError(
                f"{self.path}: frame {frame.seq} has pixels outside {MIN_C:g}..{MAX_C:g} C "
                f"(min {pixels.min():g}, max {pixels.max():g})"
            )
        if frame.thermistor is not None and not MIN_C <= frame.thermistor <= MAX_C:
            raise TraceError(
                f"{self.path}: frame {frame.seq} has thermistor {frame.thermistor:g} C, "
                f"outside {MIN_C:g}..{MAX_C:g} C"
            )
        row = [_cell(frame.t), "" if frame.thermistor is None else _cell(frame.thermistor)]
        # rint(x * 1e4) / 1e4 is the double nearest a 4-decimal number, so repr() prints
        # at most 4 decimals: as _cell, at twice the speed
        row.extend(map(repr, np.round(pixels.astype(np.float64), 4).ravel().tolist()))
        row.extend(labels.cells(self.label_columns))
        if self.extra_columns:
            extra = extra or {}
            for name in self.extra_columns:
                text = str(extra.get(name, ""))
                if "\n" in text or "\r" in text:
                    raise TraceError(f"{self.path}: extra column {name!r} value must be one line")
                row.append(text)
        self._csv.writerow(row)
        self._last_t = frame.t
        self.frames_written += 1

    def write_all(self, records: Iterable[TraceRecord]) -> None:
        for record in records:
            self.write(record.frame, record.labels, record.extra)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()
