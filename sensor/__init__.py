"""Frame sources: the AMG88xx on I2C, serial, replayed traces and the simulator.

Every source is opened by one string (see :func:`open_source`) and yields
:class:`Frame` values.
"""

from __future__ import annotations

from heatcast.sensor.frame import Frame
from heatcast.sensor.sources import FrameSource, Mount, open_source

__all__ = ["Frame", "FrameSource", "Mount", "open_source"]
