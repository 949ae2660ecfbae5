"""Frames from a microcontroller on a serial line: ``serial:PORT?baud=115200&format=auto``.

The port is opened with pyserial's ``serial_for_url``, so any pyserial URL
works. How the part after ``serial:`` maps to what pyserial is given:

=====================================  ==========================================
``serial:///dev/ttyUSB0``              ``/dev/ttyUSB0`` (``//`` dropped, as in file URLs)
``serial:/dev/ttyACM0``                ``/dev/ttyACM0``
``serial://ttyUSB0``, ``serial:ttyAMA0``  ``/dev/ttyUSB0``, ``/dev/ttyAMA0`` (bare tty names)
``serial:loop://``                     pyserial's loop-back (tests)
``serial:socket://host:7777``          a TCP socket (e.g. ser2net, an ESP32 bridge)
``serial:rfc2217://host:port``         and every other pyserial URL, as written
=====================================  ==========================================

Everything after ``?`` is heatcast's: ``baud`` (default 115200) and
``format``; pyserial's own URL options cannot be given.

Formats (``format=``)
---------------------
``text``
    One frame per line: 64 comma-separated degrees C (``p00`` .. ``p77``,
    row-major), or 65 with the thermistor first (the SparkFun Grid-EYE example
    style). Spaces and a trailing comma are allowed; ``\\r\\n`` or ``\\n``.
``adafruit``
    What Adafruit's examples print: the Arduino sketch's ``[`` + eight lines of
    eight ``v, `` values + ``]``, or the CircuitPython example's eight
    bracketed rows (``['28.5', ...]``) followed by a blank line. A line such as
    ``Thermistor Temperature = 26.50 *C`` sets the next frame's thermistor.
``binary-crc``
    heatcast's checked binary frame, 134 bytes::

        offset  size  content
        0       2     0x55 0xAA                   sync
        2       128   64 x int16 little-endian    pixels p00..p77, 0.25 C per unit
        130     2     int16 little-endian         thermistor, 0.0625 C per unit;
                                                  -32768 (0x8000) = none
        132     2     uint16 little-endian        CRC-16/CCITT-FALSE (poly 0x1021,
                                                  init 0xFFFF) of bytes 2..131

    The CRC is what lets the decoder resynchronise after garbage without ever
    passing on a corrupted frame. An AMG88xx's 12-bit pixel registers are
    already in 0.25 C units: a sketch copies the 128-byte block (sign-extended)
    and appends the thermistor and the CRC, for instance (Arduino)::

        uint16_t crc16(const uint8_t *p, size_t n) {   // CRC-16/CCITT-FALSE
          uint16_t crc = 0xFFFF;
          while (n--) { crc ^= (uint16_t)*p++ << 8;
            for (int b = 0; b < 8; b++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1; }
          return crc;
        }
        uint8_t frame[134] = {0x55, 0xAA};
        // frame[2..129]: the 64 pixel words, low byte first, sign-extended from 12 bits
        // frame[130..131]: thermistor in 1/16 C, or 0x00 0x80 for none
        uint16_t crc = crc16(frame + 2, 130);
        frame[132] = crc & 0xFF; frame[133] = crc >> 8;
        Serial.write(frame, sizeof frame);
``binary``
    The common microcontroller framing: 0x55 0xAA + 64 int16 little-endian
    pixels in 0.25 C units (130 bytes), no thermistor, no check.
    Resynchronisation relies on the sync bytes and the values' range, so a
    corrupted frame can slip through; a sketch that can add four bytes should
    send ``binary-crc``.
``auto`` (default)
    Runs the text, Adafruit and checked binary decoders side by side and keeps
    the first one that yields a good frame. Plain ``binary`` has no check that
    could tell it from line noise, so it must be asked for by name.

:class:`FrameDecoder` does the decoding with no I/O at all (``feed(bytes) ->
list of frames``), so it can be fuzzed: it never raises on any input, skips
garbage, and counts the bytes and frames it dropped.
"""

from __future__ import annotations

import binascii
import logging
import math
import re
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from heatcast.errors import SourceError, UsageError
from heatcast.sensor.closing import Closing
from heatcast.sensor.frame import COLS, MAX_C, MIN_C, PIXELS, ROWS, Frame
from heatcast.sensor.sources import SourceSpec

log = logging.getLogger(__name__)

FORMATS = ("auto", "text", "adafruit", "binary-crc", "binary")
SYNC = b"\x55\xaa"
BINARY_FRAME_LEN = 2 + 2 * PIXELS + 2 + 2
PLAIN_FRAME_LEN = 2 + 2 * PIXELS
NO_THERMISTOR = -32768
#: A line longer than this is garbage (a text frame is at most ~600 bytes).
MAX_LINE = 2048
REOPEN_EVERY_S = 1.0

_NUMBER = re.compile(r"[+-]?\d{1,3}(?:\.\d{1,6})?")
_THERMISTOR = re.compile(r"thermistor[^0-9+-]*([+-]?\d{1,3}(?:\.\d{1,6})?)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Decoded:
    """One decoded frame: (8, 8) degrees C and the thermistor (or None)."""

    pixels: npt.NDArray[np.float32]
    thermistor: float | None


@dataclass
class DecoderStats:
    frames: int = 0
    #: bytes skipped that were not part of a good frame (blank lines aside)
    dropped_bytes: int = 0
    #: things that looked like frames but were malformed, out of range or failed the CRC
    dropped_frames: int = 0


def _in_range(values: Sequence[float]) -> bool:
    return all(MIN_C <= v <= MAX_C for v in values)


def _numbers(text: str) -> list[float] | None:
    """Comma-separated numbers, strictly; None if any token is not one."""
    tokens = [token.strip().strip("'\"") for token in text.split(",")]
    if tokens and tokens[-1] == "":
        tokens.pop()  # a trailing comma
    if not all(_NUMBER.fullmatch(token) for token in tokens):
        return None
    return [float(token) for token in tokens]


class _Decoder:
    def __init__(self) -> None:
        self.stats = DecoderStats()

    def feed(self, data: bytes) -> list[Decoded]:
        raise NotImplementedError

    @property
    def buffered(self) -> int:
        """Bytes held while waiting for the rest of a line or frame."""
        buffer: bytearray | None = getattr(self, "_buffer", None)
        return 0 if buffer is None else len(buffer)

    def _emit(self, out: list[Decoded], values: Sequence[float], thermistor: float | None) -> None:
        pixels = np.asarray(values, dtype=np.float32).reshape(ROWS, COLS)
        out.append(Decoded(pixels, thermistor))
        self.stats.frames += 1


class _LineDecoder(_Decoder):
    def __init__(self) -> None:
        super().__init__()
        self._buffer = bytearray()
        self._overlong = False

    def feed(self, data: bytes) -> list[Decoded]:
        out: list[Decoded] = []
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_LINE:
                    self.stats.dropped_bytes += len(self._buffer)
                    self._buffer.clear()
                    self._overlong = True
                break
            raw = bytes(self._buffer[: end + 1])
            del self._buffer[: end + 1]
            if self._overlong:  # the tail of a line already thrown away
                self._overlong = False
                self.stats.dropped_bytes += len(raw)
                self._garbage(raw, out)
                continue
            try:
                line = raw.decode("ascii").strip()
            except UnicodeDecodeError:
                self.stats.dropped_bytes += len(raw)
                self._garbage(raw, out)
                continue
            if not line.isprintable():
                self.stats.dropped_bytes += len(raw)
                self._garbage(raw, out)
                continue
            self._line(line, len(raw), out)
        return out

    def _line(self, line: str, size: int, out: list[Decoded]) -> None:
        raise NotImplementedError

    def _garbage(self, raw: bytes, out: list[Decoded]) -> None:
        """A line that could not be read at all (not ASCII, control bytes, too long)."""


class TextDecoder(_LineDecoder):
    """64 comma-separated values per line, or 65 with the thermistor first."""

    def _garbage(self, raw: bytes, out: list[Decoded]) -> None:
        if raw.count(b",") >= ROWS:
            self.stats.dropped_frames += 1

    def _line(self, line: str, size: int, out: list[Decoded]) -> None:
        if not line:
            return
        values = _numbers(line)
        if values is not None and len(values) in (PIXELS, PIXELS + 1) and _in_range(values):
            thermistor = values.pop(0) if len(values) == PIXELS + 1 else None
            self._emit(out, values, thermistor)
            return
        self.stats.dropped_bytes += size
        if line.count(",") >= ROWS:
            self.stats.dropped_frames += 1


class AdafruitDecoder(_LineDecoder):
    """Adafruit's Arduino (``[`` 8 lines ``]``) and CircuitPython (8 ``[row]`` lines) prints."""

    def __init__(self) -> None:
        super().__init__()
        self._values: list[float] | None = None  # an Arduino-style frame being read
        self._rows: list[list[float]] = []  # CircuitPython-style rows being read
        self._pending = 0  # bytes of the frame being read
        self._thermistor: float | None = None

    def _drop(self) -> None:
        if self._values is not None or self._rows:
            self.stats.dropped_frames += 1
            self.stats.dropped_bytes += self._pending
        self._values = None
        self._rows = []
        self._pending = 0

    def _garbage(self, raw: bytes, out: list[Decoded]) -> None:
        self._drop()

    def _finish(self, out: list[Decoded], values: list[float]) -> None:
        if len(values) == PIXELS and _in_range(values):
            self._emit(out, values, self._thermistor)
            self._values, self._rows, self._pending = None, [], 0
        else:
            self._drop()
        self._thermistor = None

    def _line(self, line: str, size: int, out: list[Decoded]) -> None:
        if not line:
            if self._rows:  # a blank line ends a CircuitPython frame early
                self._drop()
            return
        start = line.rfind("[")
        if start > 0:  # the tail of a line cut short, then a new frame or row: resync there
            self._drop()
            self.stats.dropped_bytes += start
            size -= start
            line = line[start:]
        opens, closes = line.startswith("["), line.endswith("]")
        if opens and closes:
            if self._values is not None:  # an Arduino-style frame cut short by a row
                self._drop()
            row = _numbers(line[1:-1])
            if row is None or len(row) != COLS:
                self._drop()
                self.stats.dropped_bytes += size
                return
            self._rows.append(row)
            self._pending += size
            if len(self._rows) == ROWS:
                self._finish(out, [v for r in self._rows for v in r])
            return
        if opens:
            self._drop()
            first = _numbers(line[1:])
            if first is None or len(first) not in (0, COLS):
                self.stats.dropped_bytes += size
                return
            self._values = first
            self._pending = size
            return
        if self._values is not None:
            body = line[:-1] if closes else line
            more = _numbers(body)
            if more is None or len(more) not in ((0, COLS) if closes else (COLS,)):
                self._drop()
                self.stats.dropped_bytes += size
                return
            self._values.extend(more)
            self._pending += size
            if closes:
                self._finish(out, self._values)
            elif len(self._values) > PIXELS:
                self._drop()
            return
        match = _THERMISTOR.search(line)
        if match and not self._rows:
            value = float(match.group(1))
            self._thermistor = value if MIN_C <= value <= MAX_C else None
            return
        self._drop()
        self.stats.dropped_bytes += size


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor."""
    return binascii.crc_hqx(data, 0xFFFF)


class BinaryDecoder(_Decoder):
    """``0x55 0xAA`` frames, checked (heatcast's layout) or plain."""

    def __init__(self, checked: bool = True) -> None:
        super().__init__()
        self.checked = checked
        self.length = BINARY_FRAME_LEN if checked else PLAIN_FRAME_LEN
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Decoded]:
        out: list[Decoded] = []
        buffer = self._buffer
        buffer += data
        while True:
            start = buffer.find(SYNC)
            if start < 0:
                keep = 1 if buffer[-1:] == SYNC[:1] else 0
                self.stats.dropped_bytes += len(buffer) - keep
                del buffer[: len(buffer) - keep]
                break
            if start:
                self.stats.dropped_bytes += start
                del buffer[:start]
            if len(buffer) < self.length:
                break
            decoded = self._decode(bytes(buffer[: self.length]))
            if decoded is None:
                # A false sync inside garbage or a damaged frame: look again one byte on.
                self.stats.dropped_frames += 1
                self.stats.dropped_bytes += 1
                del buffer[:1]
                continue
            del buffer[: self.length]
            out.append(decoded)
            self.stats.frames += 1
        return out

    def _decode(self, frame: bytes) -> Decoded | None:
        raw = np.frombuffer(frame, dtype="<i2", count=PIXELS, offset=2)
        thermistor: float | None = None
        if self.checked:
            (crc,) = struct.unpack_from("<H", frame, BINARY_FRAME_LEN - 2)
            if crc != crc16(frame[2:-2]):
                return None
            (therm_raw,) = struct.unpack_from("<h", frame, 2 + 2 * PIXELS)
            if therm_raw != NO_THERMISTOR:
                thermistor = therm_raw * 0.0625
                if not MIN_C <= thermistor <= MAX_C:
                    return None
        pixels = raw.astype(np.float32) * np.float32(0.25)
        if pixels.min() < MIN_C or pixels.max() > MAX_C:
            return None
        return Decoded(pixels.reshape(ROWS, COLS), thermistor)


class FrameDecoder:
    """Bytes in, frames out, for one ``format``; never raises on any input."""

    def __init__(self, format: str = "auto") -> None:
        if format not in FORMATS:
            raise UsageError(f"format={format!r} is not valid; use one of {', '.join(FORMATS)}")
        self.requested = format
        self._candidates: dict[str, _Decoder]
        if format == "auto":
            self._candidates = {
                "text": TextDecoder(),
                "adafruit": AdafruitDecoder(),
                "binary-crc": BinaryDecoder(checked=True),
            }
        else:
            self._candidates = {format: self._make(format)}
        self.format: str | None = None if format == "auto" else format

    @staticmethod
    def _make(format: str) -> _Decoder:
        if format == "text":
            return TextDecoder()
        if format == "adafruit":
            return AdafruitDecoder()
        return BinaryDecoder(checked=format == "binary-crc")

    @property
    def stats(self) -> DecoderStats:
        if self.format is not None:
            return self._candidates[self.format].stats
        # Not yet known: everything seen so far was dropped by every decoder.
        return max((d.stats for d in self._candidates.values()), key=lambda s: s.dropped_bytes)

    @property
    def buffered(self) -> int:
        return max(d.buffered for d in self._candidates.values())

    def feed(self, data: bytes) -> list[Decoded]:
        if self.format is not None:
            return self._candidates[self.format].feed(data)
        for name, decoder in self._candidates.items():
            frames = decoder.feed(data)
            if frames:
                log.info("serial: frames are in the %s format", name)
                self.format = name
                self._candidates = {name: decoder}
                return frames
        return []


# -- encoders: what a sender writes (tests, benchmarks, and the format's reference) ------------


def encode_binary(pixels: npt.ArrayLike, thermistor: float | None = None, *, checked: bool = True) -> bytes:
    raw = np.rint(np.asarray(pixels, dtype=np.float64).reshape(PIXELS) / 0.25).astype("<i2")
    body = raw.tobytes()
    if not checked:
        return SYNC + body
    therm = NO_THERMISTOR if thermistor is None else round(thermistor / 0.0625)
    body += struct.pack("<h", therm)
    return SYNC + body + struct.pack("<H", crc16(body))


def encode_text(pixels: npt.ArrayLike, thermistor: float | None = None) -> bytes:
    values = [f"{v:.2f}" for v in np.asarray(pixels, dtype=np.float64).reshape(PIXELS)]
    if thermistor is not None:
        values.insert(0, f"{thermistor:.4f}")
    return (",".join(values) + "\r\n").encode()


def encode_adafruit(pixels: npt.ArrayLike, *, style: str = "arduino") -> bytes:
    grid = np.asarray(pixels, dtype=np.float64).reshape(ROWS, COLS)
    if style == "circuitpython":
        rows = ["[" + ", ".join(f"'{v:.1f}'" for v in row) + "]" for row in grid]
        return ("\n".join(rows) + "\n\n").encode()
    lines = ["".join(f"{v:.2f}, " for v in row) for row in grid]
    return ("[" + "\r\n".join(lines) + "\r\n]\r\n\r\n").encode()


# -- the source ------------------------------------------------------------------------------


def port_name(target: str) -> str:
    """The part of ``serial:...`` before ``?`` -> what pyserial's serial_for_url gets."""
    name = target[2:] if target.startswith("//") else target
    if name and "/" not in name and ":" not in name and name.startswith("tty"):
        name = "/dev/" + name
    return name


@dataclass
class SerialStats:
    frames: int = 0
    dropped_bytes: int = 0
    dropped_frames: int = 0
    reopens: int = 0
    format: str | None = None


def open_port(name: str, baud: int) -> Any:
    import serial

    try:
        return serial.serial_for_url(name, baudrate=baud, timeout=0.2)
    except ValueError as exc:  # unknown URL scheme, bad baud rate
        raise UsageError(f"serial port {name!r}: {exc}") from exc
    except (serial.SerialException, OSError) as exc:
        reason = str(exc)
        if isinstance(exc, PermissionError) or "ermission denied" in reason:
            fix = "add the user to the dialout group: sudo adduser $USER dialout, then log in again"
        elif "No such file" in reason or "could not open port" in reason:
            fix = "check the cable and the name (ls /dev/ttyUSB* /dev/ttyACM*)"
        else:
            fix = "check the port name, the cable and that nothing else is using it"
        raise SourceError(f"cannot open serial port {name}: {fix}") from exc


class SerialSource(Closing):
    """Frames decoded from a serial port; ``t`` is the arrival time since the first frame.

    Reading is paced by the sender. When the port fails mid-stream (a USB
    cable pulled), it is reopened every second until it comes back.
    """

    def __init__(
        self,
        port: Any,
        *,
        name: str,
        baud: int = 115200,
        format: str = "auto",
        clock: Callable[[], float] = time.monotonic,
        reopen: Callable[[], Any] | None = None,
    ) -> None:
        self.port = port
        self.name = name
        self.baud = baud
        self.decoder = FrameDecoder(format)
        self.clock = clock
        self._reopen = reopen
        self._closed = False
        self._reopens = 0

    @property
    def stats(self) -> SerialStats:
        s = self.decoder.stats
        return SerialStats(s.frames, s.dropped_bytes, s.dropped_frames, self._reopens, self.decoder.format)

    def _read(self) -> bytes:
        waiting = getattr(self.port, "in_waiting", 0) or 1
        data: bytes = self.port.read(min(max(waiting, 1), 4096))
        return data

    def __iter__(self) -> Iterator[Frame]:
        start: float | None = None
        seq = 0
        while not self._closed:
            try:
                data = self._read()
            except (OSError, ValueError, TypeError, AttributeError) as exc:
                if self._closed:
                    break
                self._recover(exc)
                continue
            if not data:
                continue
            for decoded in self.decoder.feed(data):
                now = self.clock()
                if start is None:
                    start = now
                yield Frame(decoded.pixels, decoded.thermistor, now - start, seq)
                seq += 1

    def _recover(self, exc: Exception) -> None:
        log.warning("serial port %s failed (%s): reopening", self.name, exc)
        try:
            self.port.close()
        except Exception:  # the port is already broken
            log.debug("close failed", exc_info=True)
        while not self._closed:
            time.sleep(REOPEN_EVERY_S)
            if self._reopen is None:
                continue
            try:
                self.port = self._reopen()
            except SourceError:
                continue
            self._reopens += 1
            log.warning("serial port %s is back", self.name)
            return

    def close(self) -> None:
        self._closed = True
        try:
            self.port.close()
        except Exception:
            log.debug("close failed", exc_info=True)


def open_serial(spec: SourceSpec) -> SerialSource:
    """Open ``serial:PORT?baud=115200&format=auto`` (see the module docstring)."""
    name = port_name(spec.target)
    if not name:
        raise UsageError(f"{spec.text}: name the port, e.g. serial:///dev/ttyUSB0 or serial:loop://")
    baud_value = spec.number("baud", 115200, "a baud rate such as 115200")
    if baud_value <= 0 or not math.isfinite(baud_value) or baud_value != int(baud_value):
        raise UsageError(f"{spec.text}: baud={baud_value:g} is not valid; use a rate such as 115200")
    baud = int(baud_value)
    fmt = (spec.pop("format", "auto") or "auto").lower()
    if fmt not in FORMATS:
        raise UsageError(f"{spec.text}: format={fmt!r} is not valid; use one of {', '.join(FORMATS)}")
    port = open_port(name, baud)
    return SerialSource(port, name=name, baud=baud, format=fmt, reopen=lambda: open_port(name, baud))
