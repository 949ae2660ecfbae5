"""The AMG88xx thermal array on I2C: ``i2c://BUS/ADDR?fps=10&average=0``.

``BUS`` is the number N of ``/dev/i2c-N`` (default 1, the Raspberry Pi's
header pins 3 and 5) and ``ADDR`` the sensor's address, ``0x69`` (default) or
``0x68`` with AD_SELECT tied low. ``fps`` is 10 or 1; ``average=1`` turns on
the sensor's twice moving average output (less noise, a little more lag).

The ``adafruit_amg88xx`` driver does the reset, the power mode, the frame rate
and the thermistor; the pixels are read as the whole 128-byte block at 0x80 in
ONE I2C transaction, where the driver's ``.pixels`` makes 64 two-byte
transactions (about 40 ms per frame on the Pi's default 100 kHz bus). The
thermistor changes slowly and is read once a second.

Which bus
---------
As gpiozero has pin factories, heatcast has an I2C *bus factory*: a callable
``factory(bus_number) -> busio.I2C``-like object. The one in use is, in order:

1. the one given to :func:`set_bus_factory` (tests, doctor, benchmarks);
2. the one the environment variable ``HEATCAST_I2C_FACTORY`` names:
   ``linux`` (the default), ``fake`` (a :mod:`fake AMG8833
   <heatcast.sensor.fake_amg8833>` at 0x69 looking at a room with one person in
   it) or ``fake:SOURCE`` (a fake AMG8833 whose scene is the heatcast frame
   source ``SOURCE``, e.g. ``fake:sim:?seed=2``);
3. :func:`linux_bus_factory`: ``adafruit_extended_bus.ExtendedI2C(N)``, which
   opens ``/dev/i2c-N`` through the kernel's i2c-dev interface. It needs no
   GPIO library and no board detection, so it works the same on a Raspberry Pi
   4 and 5 (and any Linux board with i2c-dev).

Orientation
-----------
Frames come in the sensor's register order: row 0 is T01..T08, column 0 is
T01. Which way that faces depends on how the board is mounted; run
``heatcast view``, raise a hand at the top of the scene, and add ``rotate=``
and ``mirror=1`` to the source string until it shows at the top, on the
correct side.

Faults
------
I2C errors (errno 5 EIO, 121 EREMOTEIO, or any ``OSError``) are retried with
exponential backoff up to one second; after three failures in a row the sensor
is initialised again from scratch (probe, initial reset, mode). A sensor that
returns the identical raw block for ``STUCK_FRAMES`` frames in a row is reset.
None of this ends the iteration: the loop logs and keeps trying, so a sensor
that comes back is read again within about a second. Counters are in
:attr:`AMG88xxSource.stats`.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from heatcast.errors import SensorError, UsageError
from heatcast.sensor.closing import Closing
from heatcast.sensor.fake_amg8833 import (
    ALTERNATE_ADDRESS,
    AVE_UNLOCK,
    DEFAULT_ADDRESS,
    REG_AVE_KEY,
    REG_PIXELS,
    FakeI2CBus,
    decode_pixels,
)
from heatcast.sensor.frame import Frame
from heatcast.sensor.sources import SourceSpec

log = logging.getLogger(__name__)

BusFactory = Callable[[int], Any]
Clock = Callable[[], float]
T = TypeVar("T")

ENV_FACTORY = "HEATCAST_I2C_FACTORY"
ADDRESSES = (DEFAULT_ADDRESS, ALTERNATE_ADDRESS)
#: Identical raw pixel blocks in a row that mean a hung sensor.
STUCK_FRAMES = 20
#: Failed reads in a row after which the sensor is initialised again.
REINIT_AFTER = 3
#: Tries of each initialisation step, and of the whole initialisation at open.
INIT_TRIES = 8
OPEN_TRIES = 5
FIRST_BACKOFF_S = 0.01
MAX_BACKOFF_S = 1.0
THERMISTOR_EVERY_S = 1.0
SETTLE_S = 0.1
#: Errors are logged at most this often while a fault lasts.
LOG_EVERY_S = 30.0

WIRING = "VIN to 3.3V (pin 1), GND to pin 6, SDA to GPIO2 (pin 3), SCL to GPIO3 (pin 5)"
ENABLE_I2C = "I2C is not enabled: run sudo raspi-config nonint do_i2c 0"

_bus_factory: BusFactory | None = None


def set_bus_factory(factory: BusFactory | None) -> BusFactory | None:
    """Use ``factory`` for every I2C bus opened from now on (None: back to the default).

    Returns the factory that was set before, so callers can restore it.
    """
    global _bus_factory
    previous, _bus_factory = _bus_factory, factory
    return previous


def linux_bus_factory(bus: int) -> Any:
    """``/dev/i2c-N`` through adafruit-extended-bus; errors name the fix."""
    device = Path(f"/dev/i2c-{bus}")
    if not device.exists():
        raise SensorError(f"{ENABLE_I2C} ({device} does not exist)")
    if not os.access(device, os.R_OK | os.W_OK):
        raise SensorError(f"no permission to use {device}: run sudo adduser $USER i2c, then log in again")
    from adafruit_extended_bus import ExtendedI2C

    try:
        with warnings.catch_warnings():
            # Blinka warns that Linux ignores the bus frequency; it is set in config.txt instead.
            warnings.simplefilter("ignore", RuntimeWarning)
            return ExtendedI2C(bus)
    except (OSError, RuntimeError, ValueError) as exc:
        raise SensorError(f"cannot open {device}: {exc}") from exc


def fake_bus_factory(scene: Any = None, *, address: int = DEFAULT_ADDRESS, **options: Any) -> BusFactory:
    """A factory whose buses hold one fake AMG8833 (see :mod:`.fake_amg8833`)."""

    def factory(bus: int) -> FakeI2CBus:
        return FakeI2CBus.with_amg8833(scene, address=address, **options)

    return factory


def _factory_from_env() -> BusFactory:
    name = os.environ.get(ENV_FACTORY, "").strip()
    if name in ("", "linux"):
        return linux_bus_factory
    if name == "fake":
        return fake_bus_factory()
    if name.startswith("fake:"):
        from heatcast.sensor.sources import open_source

        text = name[len("fake:") :]

        def from_source(bus: int) -> FakeI2CBus:
            source = open_source(text)
            fake = FakeI2CBus.with_amg8833(iter(source))
            fake.on_deinit.append(source.close)
            return fake

        return from_source
    raise UsageError(f"{ENV_FACTORY}={name!r} is not valid; use linux, fake or fake:SOURCE")


def get_bus_factory() -> BusFactory:
    return _bus_factory or _factory_from_env()


def parse_target(spec: SourceSpec) -> tuple[int, int]:
    """``//1/0x69``, ``1/0x69``, ``//1`` or empty -> (bus number, address)."""
    parts = [part for part in spec.target.strip("/").split("/") if part]
    if len(parts) > 2:
        raise UsageError(f"{spec.text}: use i2c://BUS/ADDRESS, for example i2c://1/0x69")
    bus_text = parts[0] if parts else "1"
    address_text = parts[1] if len(parts) > 1 else hex(DEFAULT_ADDRESS)
    try:
        bus = int(bus_text, 10)
        if bus < 0:
            raise ValueError
    except ValueError:
        raise UsageError(
            f"{spec.text}: bus {bus_text!r} is not valid; use the number N of /dev/i2c-N, e.g. i2c://1/0x69"
        ) from None
    try:
        address = int(address_text, 0)
    except ValueError:
        address = -1
    if address not in ADDRESSES:
        raise UsageError(
            f"{spec.text}: address {address_text!r} is not valid; an AMG88xx answers at 0x69, "
            "or 0x68 with AD_SELECT tied low"
        )
    return bus, address


def open_i2c(spec: SourceSpec) -> AMG88xxSource:
    """Open ``i2c://BUS/ADDR?fps=10&average=0`` (see the module docstring)."""
    bus_number, address = parse_target(spec)
    fps = spec.number("fps", 10, "1 or 10")
    if fps not in (1, 10):
        raise UsageError(f"{spec.text}: fps={fps:g} is not valid; an AMG88xx runs at fps=1 or fps=10")
    average = spec.flag("average", False)
    bus = get_bus_factory()(bus_number)
    try:
        return AMG88xxSource(bus, address, fps=int(fps), average=average, bus_number=bus_number)
    except BaseException:
        _deinit(bus)
        raise


def _deinit(bus: Any) -> None:
    try:
        bus.deinit()
    except Exception:  # closing a broken bus must not hide the real error
        log.debug("deinit failed", exc_info=True)


@dataclass
class I2CStats:
    frames: int = 0
    errors: int = 0
    reinits: int = 0
    stuck_resets: int = 0
    last_error: str | None = None


class AMG88xxSource(Closing):
    """Frames from an AMG88xx on an I2C bus, paced to ``fps``.

    ``clock`` and ``sleep`` are the time base (a :class:`FakeClock
    <heatcast.sensor.fake_amg8833.FakeClock>` in tests). The sensor is
    initialised here, so a missing or miswired sensor fails at open with a
    :class:`SensorError` that names the fix.
    """

    def __init__(
        self,
        bus: Any,
        address: int = DEFAULT_ADDRESS,
        *,
        fps: int = 10,
        average: bool = False,
        bus_number: int = 1,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        stuck_frames: int = STUCK_FRAMES,
        own_bus: bool = True,
    ) -> None:
        self.bus = bus
        self.address = address
        self.fps = fps
        self.period = 1.0 / fps
        self.average = average
        self.bus_number = bus_number
        self.clock = clock
        self.sleep = sleep
        self.stuck_frames = stuck_frames
        self.own_bus = own_bus
        self.stats = I2CStats()
        self.thermistor: float | None = None
        self._driver: Any = None
        self._block = bytearray(128)
        self._register = bytes([REG_PIXELS])
        self._closed = False
        self._answered = False
        self._thermistor_due = -float("inf")
        self._open()

    # -- set-up ------------------------------------------------------------------

    def _open(self) -> None:
        last: Exception | None = None
        for attempt in range(OPEN_TRIES):
            try:
                self._initialise()
                return
            except (OSError, ValueError) as exc:
                last = exc
                self.sleep(FIRST_BACKOFF_S * 2 ** min(attempt, 3))
        raise SensorError(self._no_answer(last))

    def _initialise(self) -> None:
        """Probe, initial reset, normal mode, interrupts off, frame rate, averaging.

        Each step is retried on a bus error, so that a noisy bus still comes up;
        a ValueError from the driver's probe means nothing answered at all.
        """
        from adafruit_amg88xx import AMG88XX

        self._driver = None
        driver = self._retry(lambda: AMG88XX(self.bus, self.address))
        self._answered = True
        self._retry(lambda: setattr(driver, "_fps", self.fps == 1))
        self._retry(lambda: self._set_average(driver, self.average))
        self._driver = driver
        self._thermistor_due = -float("inf")
        # The datasheet's start-up wait: the first frame after a reset is not yet valid.
        self.sleep(SETTLE_S)

    def _retry(self, step: Callable[[], T], tries: int = INIT_TRIES) -> T:
        for attempt in range(tries - 1):
            try:
                return step()
            except OSError:
                self.sleep(FIRST_BACKOFF_S * 2 ** min(attempt, 3))
        return step()

    @staticmethod
    def _set_average(driver: Any, on: bool) -> None:
        # The datasheet's sequence: unlock with 0x50 0x45 0x57 at 0x1F, set AVE, lock.
        with driver.i2c_device as device:
            for value in AVE_UNLOCK:
                device.write(bytes([REG_AVE_KEY, value]))
        driver._mamod = on  # AVE (0x07) bit 5
        with driver.i2c_device as device:
            device.write(bytes([REG_AVE_KEY, 0x00]))

    def _no_answer(self, cause: Exception | None) -> str:
        other = ALTERNATE_ADDRESS if self.address == DEFAULT_ADDRESS else DEFAULT_ADDRESS
        where = f"I2C bus {self.bus_number} (/dev/i2c-{self.bus_number})"
        found: list[int] = []
        try:
            while not self.bus.try_lock():
                pass
            try:
                found = list(self.bus.scan())
            finally:
                self.bus.unlock()
        except (OSError, RuntimeError, ValueError):
            log.debug("scan failed", exc_info=True)
        if other in found:
            return (
                f"no AMG88xx answers at {self.address:#04x} on {where}, but a device answers at "
                f"{other:#04x}: use i2c://{self.bus_number}/{other:#04x}"
            )
        if self.address in found:
            return f"the AMG88xx at {self.address:#04x} on {where} does not respond properly ({cause})"
        seen = f" (devices seen: {', '.join(f'{a:#04x}' for a in found)})" if found else ""
        return (
            f"no AMG88xx answers at {self.address:#04x} or {other:#04x} on {where}{seen}: "
            f"check the wiring: {WIRING}; `i2cdetect -y {self.bus_number}` should show 69 "
            "(or 68 with AD_SELECT tied low)"
        )

    # -- reading -----------------------------------------------------------------

    def read_block(self) -> bytes:
        """The 128-byte pixel block in one write-then-read transaction at 0x80."""
        with self._driver.i2c_device as device:
            device.write_then_readinto(self._register, self._block)
        return bytes(self._block)

    def __iter__(self) -> Iterator[Frame]:
        start = self.clock()
        due = start
        failures = 0
        glitches = 0  # failures since the last good frame while the sensor answered its probe
        logged_at = -float("inf")
        previous: bytes | None = None
        same = 0
        seq = 0
        while not self._closed:
            now = self.clock()
            if due > now:
                self.sleep(due - now)
            elif now - due > self.period:
                due = now  # fell behind (a fault): start afresh rather than burst
            try:
                self._answered = False
                if self._driver is None:
                    self.stats.reinits += 1
                    self._initialise()
                block = self.read_block()
                now = self.clock()
                if now >= self._thermistor_due:
                    self.thermistor = float(self._driver.temperature)
                    self._thermistor_due = now + THERMISTOR_EVERY_S
            except (OSError, ValueError, RuntimeError) as exc:
                failures += 1
                self.stats.errors += 1
                self.stats.last_error = str(exc)
                now = self.clock()
                # A noisy bus fails now and then for days: one line per LOG_EVERY_S, with the tally.
                if now - logged_at >= LOG_EVERY_S:
                    logged_at = now
                    log.warning(
                        "AMG88xx at %#04x on /dev/i2c-%d: %s (%d I2C errors so far, retrying)",
                        self.address, self.bus_number, exc, self.stats.errors,
                    )  # fmt: skip
                if self._answered:
                    # It answered its probe: it is back, so retry soon rather than after the
                    # long backoff of its absence, unless it keeps failing.
                    glitches += 1
                    failures = glitches
                if failures >= REINIT_AFTER:
                    self._driver = None
                self.sleep(min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (failures - 1)))
                due = self.clock()
                continue
            if failures >= REINIT_AFTER:
                log.warning("AMG88xx at %#04x is answering again", self.address)
            failures = 0
            glitches = 0
            same = same + 1 if block == previous else 0
            previous = block
            if same >= self.stuck_frames:
                log.warning(
                    "AMG88xx at %#04x returned the same frame %d times: resetting it",
                    self.address, same + 1,
                )  # fmt: skip
                self.stats.stuck_resets += 1
                self._driver = None
                same = 0
                previous = None
                continue
            frame = Frame(decode_pixels(block), self.thermistor, now - start, seq)
            seq += 1
            self.stats.frames += 1
            due += self.period
            yield frame

    def close(self) -> None:
        self._closed = True
        if self.own_bus:
            _deinit(self.bus)
