"""nfcpy, loaded without running a compiler.

At import, nfcpy's LLCP (peer-to-peer) security looks for OpenSSL 1.0's
libcrypto with ``ctypes.util.find_library``, which on Linux runs ``ldconfig``
and then ``gcc``, writing scratch files in ``/tmp``. A kiosk should spawn no
compiler, and heatcast only reads and writes tags, never LLCP: so while nfcpy
loads, that one lookup is answered "not here". Import nfcpy from here::

    from heatcast.nfc.nfcpy import nfc
"""

from __future__ import annotations

import ctypes.util
import threading
from types import ModuleType
from typing import TYPE_CHECKING

_lock = threading.Lock()


def _load() -> ModuleType:
    with _lock:
        real = ctypes.util.find_library

        def lookup(name: str) -> str | None:
            return None if name.startswith("crypto") else real(name)

        ctypes.util.find_library = lookup
        try:
            import nfc.clf
            import nfc.clf.device
            import nfc.tag
            import nfc.tag.tt2
            import nfc.tag.tt2_nxp

            import nfc
        finally:
            ctypes.util.find_library = real
        return nfc


if TYPE_CHECKING:
    import nfc.clf
    import nfc.clf.device
    import nfc.tag
    import nfc.tag.tt2
    import nfc.tag.tt2_nxp
else:
    nfc = _load()

__all__ = ["nfc"]
