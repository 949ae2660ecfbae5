"""``probe``: is the NFC reader there, accessible, and is the tag writable and protected?

Used by ``heatcast nfc status`` and by ``heatcast doctor``.  It never raises:
every problem comes back as one line in ``problem`` that names the fix.
"""

from __future__ import annotations

import logging
from typing import Any

from heatcast.errors import HeatcastError, UsageError
from heatcast.nfc import udev
from heatcast.nfc.keys import SiteSecret
from heatcast.nfc.writer import ReaderUnavailable, TagAbsent, TagWriter

log = logging.getLogger(__name__)


def probe(
    device: str | None, *, secret: SiteSecret | bytes | None = None, timeout: float = 1.0
) -> dict[str, Any]:
    """Check the reader at *device* and the tag on it.

    Returns a dict with: ``device``; ``reader`` ("ok", "missing", "denied", "busy",
    "error" or "none" when no reader is configured); ``reader_name``; ``tag``
    ("present", "absent" or None); ``tag_type``, ``uid``, ``capacity``, ``url``;
    ``protected`` (password set), ``locked``, ``writable`` (heatcast can write it:
    None if protected and no *secret* was given); ``usb_readers`` (supported readers
    seen in sysfs); ``ok``; ``problem`` (one line naming the fix, or None).
    """
    result: dict[str, Any] = {
        "device": device,
        "reader": "none",
        "reader_name": None,
        "tag": None,
        "tag_type": None,
        "uid": None,
        "capacity": None,
        "url": None,
        "protected": None,
        "locked": None,
        "writable": None,
        "counter": None,
        "counting": None,
        "usb_readers": [f"{r.model.name} at {r.devnode}" for r in udev.scan_usb()],
        "ok": True,
        "problem": None,
    }
    if device is None:
        result["problem"] = None
        return result
    writer = None
    try:
        writer = TagWriter(device, connect_timeout=timeout)
        writer.open()
        result["reader"] = "ok"
        result["reader_name"] = writer.reader_name
        report = writer.read(secret=secret)
    except UsageError as exc:
        result.update(reader="error", ok=False, problem=str(exc))
        return result
    except ReaderUnavailable as exc:
        text = str(exc)
        kind = "denied" if "denied" in text else "busy" if "busy" in text else "missing"
        result.update(reader=kind, ok=False, problem=text)
        return result
    except TagAbsent as exc:
        result.update(tag="absent", ok=False, problem=str(exc))
        return result
    except HeatcastError as exc:
        result.update(tag="present", ok=False, problem=str(exc))
        return result
    except Exception as exc:  # doctor must always get an answer
        log.debug("probe failed", exc_info=True)
        result.update(reader="error", ok=False, problem=f"unexpected NFC error: {exc!r}")
        return result
    finally:
        if writer is not None:
            writer.close()
    result.update(
        tag="present",
        tag_type=report.tag_type,
        uid=report.uid,
        capacity=report.capacity,
        url=report.url,
        protected=report.protected,
        locked=report.locked,
        writable=report.writable,
        counter=report.counter_before,
        counting=report.counting,
    )
    if report.locked:
        result.update(
            ok=False, problem="the tag is permanently locked: replace it with a new NTAG213/215/216"
        )
    elif report.writable is False:
        problem = "; ".join(report.notes) or "heatcast cannot write this tag"
        result.update(ok=False, problem=problem)
    elif report.notes:
        result.update(ok=False, problem="; ".join(report.notes))
    return result


def auto_device() -> str | None:
    """The nfcpy path of the first supported USB reader plugged in, for ``device = "auto"``."""
    readers = udev.scan_usb()
    if not readers:
        return None
    model = readers[0].model
    return f"usb:{model.vid:04x}:{model.pid:04x}"
