"""Opening frame sources by one string, as nfcpy opens readers by path.

====================================  =========================================
``i2c://1/0x69?fps=10``               AMG88xx on I2C bus 1 (:mod:`.i2c`)
``serial:///dev/ttyUSB0?baud=115200`` a microcontroller streaming frames (:mod:`.serial_source`)
``replay:trace.csv?speed=1&loop=1``   a recorded trace, paced by ``t`` (:mod:`.replay`)
``sim:?seed=1``                       the scene simulator (:mod:`.sim`)
====================================  =========================================

Every source also takes ``rotate=0|90|180|270`` and ``mirror=1`` for the way
the sensor is mounted on site; they are applied here, in one place.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import parse_qs

import numpy as np

from heatcast.errors import UsageError
from heatcast.sensor.closing import Closing
from heatcast.sensor.frame import Frame
from heatcast.sensor.trace import TraceRecord

#: scheme -> "module:function"; modules load only when their scheme is used,
#: so that opening ``sim:`` never imports the I2C or serial stacks.
OPENERS: dict[str, str] = {
    "i2c": "heatcast.sensor.i2c:open_i2c",
    "serial": "heatcast.sensor.serial_source:open_serial",
    "replay": "heatcast.sensor.replay:open_replay",
    "sim": "heatcast.sensor.sim:open_sim",
}


class FrameSource(Protocol):
    """An iterator of frames that can be closed."""

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


_ASCII_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,3})?", re.ASCII)


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A parsed source string: ``scheme:target?key=value&...``."""

    text: str
    scheme: str
    target: str
    options: dict[str, str]

    def pop(self, key: str, default: str | None = None) -> str | None:
        return self.options.pop(key, default)

    def number(self, key: str, default: float, allowed: str = "a number") -> float:
        """A finite number option; NaN and infinity are refused like any other typo."""
        text = self.options.pop(key, None)
        if text is None:
            return default
        try:
            # ASCII digits only: float() would also take "١٠", "１０" and "1_0"
            value = float(text) if _ASCII_NUMBER.fullmatch(text) else math.nan
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise UsageError(f"{self.text}: {key}={text!r} is not valid; {key} must be {allowed}")
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        text = self.options.pop(key, None)
        if text is None:
            return default
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise UsageError(f"{self.text}: {key}={text!r} is not valid; use {key}=1 or {key}=0")

    def check_used(self) -> None:
        """Refuse options no part of the source understood (typos, mostly)."""
        if self.options:
            raise UsageError(
                f"{self.text}: unknown option(s) {', '.join(sorted(self.options))} for {self.scheme}:"
            )


def parse_source(text: str) -> SourceSpec:
    scheme, sep, rest = text.partition(":")
    scheme = scheme.strip().lower()
    if not sep or scheme not in OPENERS:
        raise UsageError(
            f"unknown frame source {text!r}: use one of i2c://1/0x69, serial:///dev/ttyUSB0, "
            "replay:trace.csv or sim:"
        )
    target, _, query = rest.partition("?")
    options: dict[str, str] = {}
    for key, values in parse_qs(query, keep_blank_values=True, strict_parsing=False).items():
        options[key] = values[-1]
    return SourceSpec(text, scheme, target, options)


@dataclass(frozen=True, slots=True)
class Mount:
    """How the sensor is mounted: turned by ``rotate`` degrees, then mirrored."""

    rotate: int = 0
    mirror: bool = False

    def __post_init__(self) -> None:
        if self.rotate not in (0, 90, 180, 270):
            raise UsageError(f"rotate={self.rotate} is not valid; use 0, 90, 180 or 270")

    @property
    def identity(self) -> bool:
        return self.rotate == 0 and not self.mirror

    def apply(self, frame: Frame) -> Frame:
        if self.identity:
            return frame
        pixels = np.rot90(frame.pixels, k=-(self.rotate // 90))
        if self.mirror:
            pixels = pixels[:, ::-1]
        return Frame(np.ascontiguousarray(pixels), frame.thermistor, frame.t, frame.seq)


class MountedSource(Closing):
    """Wraps a source so that every frame comes out the right way up."""

    def __init__(self, inner: FrameSource, mount: Mount) -> None:
        self.inner = inner
        self.mount = mount

    def __iter__(self) -> Iterator[Frame]:
        for frame in self.inner:
            yield self.mount.apply(frame)

    def records(self) -> Iterator[TraceRecord]:
        """Frames with their labels, for sources that know them (replay, sim)."""
        inner = getattr(self.inner, "records", None)
        if inner is None:
            raise UsageError(f"{type(self.inner).__name__} has no labels: use replay: or sim:")
        for record in inner():
            yield replace(record, frame=self.mount.apply(record.frame))

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:  # the inner source's own extras (meta, stats, ...)
        if name == "inner":  # not set yet (copy, pickle): don't recurse
            raise AttributeError(name)
        return getattr(self.inner, name)


Opener = Callable[[SourceSpec], FrameSource]


def open_source(text: str, *, mount: Mount | None = None) -> MountedSource:
    """Open a frame source by its string; see the module docstring.

    ``mount`` is the site's mounting from config; ``rotate``/``mirror`` in the
    string override it.
    """
    spec = parse_source(text)
    base = mount or Mount()
    rotate_value = spec.number("rotate", base.rotate, "0, 90, 180 or 270")
    if rotate_value not in (0, 90, 180, 270):
        raise UsageError(f"{spec.text}: rotate={rotate_value:g} is not valid; use 0, 90, 180 or 270")
    rotate = int(rotate_value)
    mirror = spec.flag("mirror", base.mirror)
    chosen = Mount(rotate, mirror)
    module_name, _, func_name = OPENERS[spec.scheme].partition(":")
    opener: Opener = getattr(importlib.import_module(module_name), func_name)
    source = opener(spec)
    try:
        spec.check_used()
    except UsageError:
        source.close()
        raise
    return MountedSource(source, chosen)
