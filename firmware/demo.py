"""The built-in demo: what ``heatcast run --demo`` changes in the configuration.

The demo needs no hardware: the scene simulator plays its scripted demo scene
(nobody, someone walking past, someone stopping to face the screen, sitting, a
couple, a group, everyone leaving) in real time, over and over; the catalogue
shipped with heatcast is copied into the data directory on first start; NFC is
used only if a USB reader is plugged in, otherwise the kiosk logs the URL it
would write. Everything else (data_dir, page address...) comes from the usual
configuration, so a demo can run beside a real install on another port.
"""

from __future__ import annotations

from typing import Any

#: The scripted demo scene in real time; the simulator loops it forever.
DEMO_SOURCE = "sim:?scene=demo&seed=1&speed=1"


def demo_overrides() -> dict[str, Any]:
    """The configuration keys ``--demo`` sets (on top of file and environment)."""
    return {"sensor": {"source": DEMO_SOURCE, "rotate": 0, "mirror": False}, "nfc": {"device": "auto"}}
