"""A fake I2C bus with an emulated Panasonic AMG8833 on it.

This is the hardware boundary for tests, ``heatcast doctor`` and the
benchmarks: :class:`FakeI2CBus` offers the ``busio.I2C`` interface that
``adafruit_bus_device.I2CDevice`` uses (``try_lock``, ``unlock``, ``scan``,
``writeto``, ``readfrom_into``, ``writeto_then_readfrom``), and
:class:`FakeAMG8833` answers at its address with the sensor's register map, so
that the real ``adafruit_amg88xx.AMG88XX`` driver runs against it unchanged.

Registers emulated (datasheet numbering):

======  ======  ===============================================================
0x00    PCTL    power control: 0x00 normal, 0x10 sleep, 0x20/0x21 stand-by
0x01    RST     write 0x30 flag reset, 0x3F initial reset; reads 0
0x02    FPSC    bit 0: 0 = 10 fps, 1 = 1 fps
0x03    INTC    bit 0 INTEN, bit 1 INTMOD (0 difference, 1 absolute value)
0x04    STAT    bit 1 INTF, bit 2 OVF_IRS, bit 3 OVF_THS (read only)
0x05    SCLR    write 1s to clear the matching STAT bits; reads 0
0x07    AVE     bit 5 MAMOD: twice moving average output
0x08-0D INTH/INTL/IHYS  interrupt levels, 12-bit two's complement
0x0E-0F TTHL/H  thermistor, 12-bit sign-magnitude, 0.0625 C per LSB
0x10-17 INT0-7  interrupt table, one bit per pixel
0x1F            the datasheet's key register: 0x50, 0x45, 0x57 unlocks AVE,
                0x00 locks it again
0x80-FF T01-T64 pixels, low byte first, 12-bit two's complement, 0.25 C per LSB
======  ======  ===============================================================

Every write's first byte sets the register pointer; further bytes and reads
continue from it with address auto-increment, so the whole pixel block is one
128-byte read at 0x80.

The device makes a new frame every 100 ms (1 s at 1 fps) of its clock. What it
sees comes from a *scene*: an (8, 8) array of degrees C (a fixed scene), a
callable ``scene(t) -> array | Frame`` of the device's time in seconds, or an
iterable of arrays or :class:`Frame` values (a heatcast frame source such as
the simulator), consumed one item per sensor frame. Temporal noise (0.15 C by
default, seeded) is added as on the real part, so that a healthy sensor never
returns the same raw block twice in a row.

Faults: :class:`FakeI2CBus` fails a given fraction of transactions with
``OSError`` errno 5 (EIO) or 121 (EREMOTEIO), seeded; a device can be left off
the bus (no answer: errno 121, as Linux reports a NACK), can :meth:`stick
<FakeAMG8833.stick>` (the same raw block until an initial reset) and can
:meth:`vanish <FakeAMG8833.vanish>` for N seconds (a loose wire), coming back
at power-on defaults. Counters on both objects tell what the driver did.

Time comes from a ``clock`` callable; :class:`FakeClock` is a simulated clock
whose ``sleep`` advances it, so that "gone for 30 seconds" takes no real time.
"""

from __future__ import annotations

import errno
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from heatcast.sensor.frame import COLS, PIXELS, ROWS, Frame

Clock = Callable[[], float]
SceneFn = Callable[[float], "npt.ArrayLike | Frame"]

DEFAULT_ADDRESS = 0x69
ALTERNATE_ADDRESS = 0x68

REG_PCTL = 0x00
REG_RST = 0x01
REG_FPSC = 0x02
REG_INTC = 0x03
REG_STAT = 0x04
REG_SCLR = 0x05
REG_AVE = 0x07
REG_INTHL = 0x08
REG_TTHL = 0x0E
REG_TTHH = 0x0F
REG_INT0 = 0x10
REG_AVE_KEY = 0x1F
REG_PIXELS = 0x80

PCTL_NORMAL = 0x00
PCTL_SLEEP = 0x10
PCTL_STANDBY_60 = 0x20
PCTL_STANDBY_10 = 0x21
RST_FLAG = 0x30
RST_INITIAL = 0x3F
AVE_MAMOD = 0x20
#: The datasheet's write sequence to register 0x1F that unlocks AVE.
AVE_UNLOCK = (0x50, 0x45, 0x57)

PIXEL_LSB_C = 0.25
THERMISTOR_LSB_C = 0.0625

STAT_INTF = 0x02
STAT_OVF_IRS = 0x04
STAT_OVF_THS = 0x08

#: Writable bits of the settings registers; others read back 0.
_WRITE_MASKS = {
    REG_FPSC: 0x01,
    REG_INTC: 0x03,
    0x08: 0xFF, 0x09: 0x0F, 0x0A: 0xFF, 0x0B: 0x0F, 0x0C: 0xFF, 0x0D: 0x0F,
}  # fmt: skip


class FakeClock:
    """A simulated monotonic clock; :meth:`sleep` advances it instead of waiting."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.now += seconds

    def advance(self, seconds: float) -> None:
        self.sleep(seconds)


def encode_pixels(celsius: npt.ArrayLike) -> tuple[bytes, bool]:
    """Degrees C -> the 128-byte pixel block (and whether any pixel overflowed)."""
    values = np.asarray(celsius, dtype=np.float64).reshape(PIXELS)
    raw = np.rint(values / PIXEL_LSB_C)
    overflow = bool(np.any((raw < -2048) | (raw > 2047)))
    raw = np.clip(raw, -2048, 2047).astype(np.int16)
    # 12-bit two's complement in a little-endian 16-bit word; the top nibble is 0.
    return (raw.astype(np.uint16) & 0x0FFF).astype("<u2").tobytes(), overflow


def decode_pixels(block: bytes | bytearray | memoryview) -> npt.NDArray[np.float32]:
    """The 128-byte pixel block -> (8, 8) float32 degrees C (row-major, T01 first)."""
    words = np.frombuffer(bytes(block), dtype="<u2", count=PIXELS)
    # Move bit 11 to the sign bit and shift back: sign-extends the 12-bit value.
    signed = ((words << 4).astype(np.uint16).view(np.int16) >> 4).astype(np.float32)
    return (signed * np.float32(PIXEL_LSB_C)).reshape(ROWS, COLS)


def encode_thermistor(celsius: float) -> tuple[int, int, bool]:
    """Degrees C -> (TTHL, TTHH) sign-magnitude 12-bit, and overflow."""
    magnitude = round(abs(celsius) / THERMISTOR_LSB_C)
    overflow = magnitude > 0x7FF
    magnitude = min(magnitude, 0x7FF)
    raw = magnitude | (0x800 if celsius < 0 and magnitude else 0)
    return raw & 0xFF, (raw >> 8) & 0x0F, overflow


def decode_thermistor(low: int, high: int) -> float:
    raw = ((high & 0x0F) << 8) | low
    value = (raw & 0x7FF) * THERMISTOR_LSB_C
    return -value if raw & 0x800 else value


def _twelve_bit(low: int, high: int) -> int:
    raw = ((high & 0x0F) << 8) | low
    return raw - 0x1000 if raw & 0x800 else raw


def default_scene(t: float) -> npt.NDArray[np.float64]:
    """A room at 22 C, warmer near the ceiling, with one person walking slowly to and fro."""
    rows, cols = np.mgrid[0:ROWS, 0:COLS].astype(np.float64)
    room = 22.0 + 0.15 * (ROWS - 1 - rows)
    centre = 3.5 + 2.5 * math.sin(2 * math.pi * t / 20.0)
    body = np.exp(-(((cols - centre) / 1.1) ** 2) - (((rows - 4.5) / 2.6) ** 2))
    return np.asarray(room + 9.0 * body, dtype=np.float64)


@dataclass
class DeviceCounters:
    frames: int = 0
    reads: int = 0
    writes: int = 0
    initial_resets: int = 0
    flag_resets: int = 0
    power_ons: int = 0


class FakeAMG8833:
    """The AMG8833's register map and frame timing, fed by a scene."""

    def __init__(
        self,
        scene: Any = None,
        *,
        clock: Clock | None = None,
        thermistor: float = 24.0,
        noise: float = 0.15,
        seed: int = 0,
        strict_average: bool = False,
    ) -> None:
        self.clock: Clock = clock or time.monotonic
        self.thermistor = thermistor
        self.noise = noise
        self.strict_average = strict_average
        self._rng = np.random.default_rng(seed)
        self._scene_fn, self._scene_iter = self._scene(scene)
        self._last_scene: npt.NDArray[np.float64] = np.full((ROWS, COLS), thermistor)
        self._last_thermistor = thermistor
        self.counters = DeviceCounters()
        self._created = self.clock()
        self._absent_until = -math.inf
        self._stuck = False
        self._returning = False
        self.stuck_clears_on_reset = True
        self._power_on()

    # -- scene -----------------------------------------------------------------

    @staticmethod
    def _scene(scene: Any) -> tuple[SceneFn | None, Iterator[Any] | None]:
        if scene is None:
            return default_scene, None
        if callable(scene):
            return scene, None
        if isinstance(scene, Frame):
            return (lambda _t: scene), None
        if isinstance(scene, np.ndarray | list | tuple):
            try:
                fixed = np.asarray(scene, dtype=np.float64)
            except (TypeError, ValueError):  # a list of frames, say
                fixed = None
            if fixed is not None and fixed.size == PIXELS:
                return (lambda _t: fixed), None
        return None, iter(scene)

    def _next_scene(self) -> tuple[npt.NDArray[np.float64], float]:
        item: Any
        if self._scene_fn is not None:
            item = self._scene_fn(self.clock() - self._created)
        else:
            assert self._scene_iter is not None
            item = next(self._scene_iter, None)
            if item is None:  # an exhausted source holds its last view
                return self._last_scene, self._last_thermistor
        thermistor = self.thermistor
        if isinstance(item, Frame):
            if item.thermistor is not None:
                thermistor = item.thermistor
            item = item.pixels
        pixels = np.asarray(item, dtype=np.float64).reshape(ROWS, COLS)
        self._last_scene, self._last_thermistor = pixels, thermistor
        return pixels, thermistor

    # -- state -------------------------------------------------------------------

    def _power_on(self) -> None:
        self.regs = bytearray(256)
        self._pointer = 0
        self._key = 0  # how far into AVE_UNLOCK the 0x1F writes are
        self._previous: npt.NDArray[np.float64] | None = None
        self._epoch = self.clock()
        self._frame_index = -1
        self.counters.power_ons += 1
        self._update(force=True)

    @property
    def present(self) -> bool:
        return self.clock() >= self._absent_until

    @property
    def period(self) -> float:
        return 1.0 if self.regs[REG_FPSC] & 0x01 else 0.1

    @property
    def fps(self) -> int:
        return 1 if self.regs[REG_FPSC] & 0x01 else 10

    @property
    def moving_average(self) -> bool:
        return bool(self.regs[REG_AVE] & AVE_MAMOD)

    @property
    def power_mode(self) -> int:
        return self.regs[REG_PCTL]

    @property
    def stuck(self) -> bool:
        return self._stuck

    def stick(self) -> None:
        """Freeze the pixel registers (a hung sensor) until an initial reset."""
        self._stuck = True

    def vanish(self, seconds: float) -> None:
        """Drop off the bus for ``seconds`` of the clock; it returns at power-on defaults."""
        self._absent_until = self.clock() + seconds
        self._returning = True

    def check_return(self) -> None:
        if self._returning and self.present:
            self._returning = False
            self._power_on()

    def _update(self, force: bool = False) -> None:
        """Latch a new frame into the pixel registers when one is due."""
        index = math.floor((self.clock() - self._epoch) / self.period)
        if not force and index <= self._frame_index:
            return
        self._frame_index = index
        if self._stuck or (not force and self.regs[REG_PCTL] != PCTL_NORMAL):
            return
        scene, thermistor = self._next_scene()
        seen = scene + self._rng.normal(0.0, self.noise, scene.shape) if self.noise else scene
        averaging = self.moving_average and self._previous is not None
        output = (seen + self._previous) / 2.0 if averaging and self._previous is not None else seen
        self._previous = seen
        block, overflow = encode_pixels(output)
        self.regs[REG_PIXELS:] = block
        low, high, t_overflow = encode_thermistor(thermistor)
        self.regs[REG_TTHL], self.regs[REG_TTHH] = low, high
        if overflow:
            self.regs[REG_STAT] |= STAT_OVF_IRS
        if t_overflow:
            self.regs[REG_STAT] |= STAT_OVF_THS
        self._interrupts(output)
        self.counters.frames += 1

    def _interrupts(self, output: npt.NDArray[np.float64]) -> None:
        if not self.regs[REG_INTC] & 0x01:
            return
        high = _twelve_bit(self.regs[0x08], self.regs[0x09]) * PIXEL_LSB_C
        low = _twelve_bit(self.regs[0x0A], self.regs[0x0B]) * PIXEL_LSB_C
        values = output.reshape(PIXELS)
        if not self.regs[REG_INTC] & 0x02 and self._previous is not None:
            values = values - self._previous.reshape(PIXELS)  # difference mode
        hits = (values > high) | (values < low)
        table = np.packbits(hits.astype(np.uint8), bitorder="little")
        self.regs[REG_INT0 : REG_INT0 + 8] = bytes(
            a | b for a, b in zip(self.regs[REG_INT0 : REG_INT0 + 8], table, strict=True)
        )
        if hits.any():
            self.regs[REG_STAT] |= STAT_INTF

    def _flag_reset(self) -> None:
        self.regs[REG_STAT] = 0
        self.regs[REG_INT0 : REG_INT0 + 8] = bytes(8)
        self.counters.flag_resets += 1

    def _initial_reset(self) -> None:
        self._flag_reset()
        for reg in (REG_FPSC, REG_INTC, REG_AVE, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D):
            self.regs[reg] = 0
        self.counters.initial_resets += 1
        if self.stuck_clears_on_reset:
            self._stuck = False
        self._previous = None
        self._epoch = self.clock()
        self._frame_index = -1
        self._update(force=True)

    # -- bus side ---------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """One I2C write: the register pointer, then data with auto-increment."""
        self.counters.writes += 1
        if not data:
            return
        self._pointer = data[0]
        for value in data[1:]:
            self._write_register(self._pointer, value)
            self._pointer = (self._pointer + 1) & 0xFF

    def read(self, count: int) -> bytes:
        """One I2C read of ``count`` bytes from the register pointer on."""
        self.counters.reads += 1
        self._update()
        start = self._pointer
        # RST and SCLR are never stored, so they read 0; past 0xFF reads 0.
        data = bytes(self.regs[start : start + count]).ljust(count, b"\x00")
        self._pointer = (start + count) & 0xFF
        return data

    def _write_register(self, reg: int, value: int) -> None:
        if reg == REG_PCTL:
            if value in (PCTL_NORMAL, PCTL_SLEEP, PCTL_STANDBY_60, PCTL_STANDBY_10):
                waking = self.regs[REG_PCTL] != PCTL_NORMAL and value == PCTL_NORMAL
                self.regs[REG_PCTL] = value
                if waking:
                    self._update(force=True)
        elif reg == REG_RST:
            if value == RST_INITIAL:
                self._initial_reset()
            elif value == RST_FLAG:
                self._flag_reset()
        elif reg == REG_FPSC:
            if (value & 0x01) != (self.regs[REG_FPSC] & 0x01):
                self.regs[REG_FPSC] = value & 0x01
                self._epoch = self.clock()
                self._frame_index = 0
        elif reg == REG_SCLR:
            self.regs[REG_STAT] &= ~(value & 0x0E) & 0xFF
            if value & STAT_INTF:
                self.regs[REG_INT0 : REG_INT0 + 8] = bytes(8)
        elif reg == REG_AVE:
            if not self.strict_average or self._key == len(AVE_UNLOCK):
                self.regs[REG_AVE] = value & AVE_MAMOD
        elif reg == REG_AVE_KEY:
            if self._key < len(AVE_UNLOCK) and value == AVE_UNLOCK[self._key]:
                self._key += 1
            else:
                self._key = 0
        elif reg in _WRITE_MASKS:
            self.regs[reg] = value & _WRITE_MASKS[reg]
        # STAT, thermistor, interrupt table and pixels are read only.

    def raw_pixels(self) -> bytes:
        return bytes(self.regs[REG_PIXELS:])


@dataclass
class BusCounters:
    transactions: int = 0
    bytes_written: int = 0
    bytes_read: int = 0
    errors_injected: int = 0
    nacks: int = 0
    #: SCL clock cycles the traffic would take: start, 9 per byte incl. address, stop.
    clocks: int = 0

    @property
    def bytes(self) -> int:
        return self.bytes_written + self.bytes_read

    def bus_seconds(self, hz: float = 100_000.0) -> float:
        return self.clocks / hz


class FakeI2CBus:
    """A ``busio.I2C`` look-alike holding fake devices by address.

    ``error_rate`` is the fraction of transactions that fail with an
    ``OSError`` whose errno is drawn from ``errnos`` (seeded by ``seed``).
    """

    def __init__(
        self,
        devices: dict[int, FakeAMG8833] | None = None,
        *,
        error_rate: float = 0.0,
        errnos: tuple[int, ...] = (errno.EIO, errno.EREMOTEIO),
        seed: int = 0,
    ) -> None:
        self.devices: dict[int, FakeAMG8833] = dict(devices or {})
        self.error_rate = error_rate
        self.errnos = errnos
        self._random = random.Random(seed)
        self._locked = False
        self.counters = BusCounters()
        self.closed = False
        #: called on deinit (e.g. to close the frame source feeding the scene)
        self.on_deinit: list[Callable[[], None]] = []

    @classmethod
    def with_amg8833(
        cls,
        scene: Any = None,
        *,
        address: int = DEFAULT_ADDRESS,
        clock: Clock | None = None,
        error_rate: float = 0.0,
        seed: int = 0,
        **device_options: Any,
    ) -> FakeI2CBus:
        device = FakeAMG8833(scene, clock=clock, seed=seed, **device_options)
        return cls({address: device}, error_rate=error_rate, seed=seed)

    @property
    def device(self) -> FakeAMG8833:
        """The one device on the bus (for tests with a single sensor)."""
        (only,) = self.devices.values()
        return only

    # -- busio.I2C ---------------------------------------------------------------

    def try_lock(self) -> bool:
        if self._locked:
            return False
        self._locked = True
        return True

    def unlock(self) -> None:
        self._locked = False

    def deinit(self) -> None:
        if not self.closed:
            self.closed = True
            for close in self.on_deinit:
                close()

    def __enter__(self) -> FakeI2CBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.deinit()

    def scan(self) -> list[int]:
        self._check_lock()
        found = []
        for address, device in sorted(self.devices.items()):
            device.check_return()
            if device.present:
                found.append(address)
        return found

    def writeto(self, address: int, buffer: Any, *, start: int = 0, end: int | None = None) -> None:
        data = bytes(memoryview(buffer)[start:end])
        device = self._begin(address, len(data), 0)
        device.write(data)

    def readfrom_into(self, address: int, buffer: Any, *, start: int = 0, end: int | None = None) -> None:
        view = memoryview(buffer)[start:end]
        device = self._begin(address, 0, len(view))
        view[:] = device.read(len(view))

    def writeto_then_readfrom(
        self,
        address: int,
        buffer_out: Any,
        buffer_in: Any,
        *,
        out_start: int = 0,
        out_end: int | None = None,
        in_start: int = 0,
        in_end: int | None = None,
        stop: bool = False,
    ) -> None:
        data = bytes(memoryview(buffer_out)[out_start:out_end])
        view = memoryview(buffer_in)[in_start:in_end]
        # A repeated start: one combined transaction (one I2C_RDWR ioctl on Linux).
        device = self._begin(address, len(data), len(view))
        device.write(data)
        view[:] = device.read(len(view))

    # -- internals -----------------------------------------------------------------

    def _check_lock(self) -> None:
        if not self._locked:
            raise RuntimeError("I2C bus used without try_lock()")
        if self.closed:
            raise ValueError("I2C bus has been deinitialised")

    def _begin(self, address: int, written: int, read: int) -> FakeAMG8833:
        self._check_lock()
        counters = self.counters
        counters.transactions += 1
        counters.clocks += 2 + 9 * (1 + written) + (9 * (1 + read) if read else 0)
        if self.error_rate and self._random.random() < self.error_rate:
            counters.errors_injected += 1
            code = self._random.choice(self.errnos)
            raise OSError(code, f"{os.strerror(code)} (injected)")
        device = self.devices.get(address)
        if device is not None:
            device.check_return()
        if device is None or not device.present:
            counters.nacks += 1
            raise OSError(errno.EREMOTEIO, "Remote I/O error")
        counters.bytes_written += written
        counters.bytes_read += read
        return device
