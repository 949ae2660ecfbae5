"""Tag-less mode: the reader itself answers phones as an NFC Forum Type 3 tag.

A Sony RC-S380 (``usb:054c:06c1`` / ``usb:054c:06c3``) can listen as a FeliCa
card; nfcpy's ``ContactlessFrontend.connect(card=...)`` and
``nfc.tag.tt3.Type3TagEmulation`` do the protocol.  :class:`NdefType3Memory`
supplies the NFC Forum Type 3 NDEF layout (attribute block 0, then 16-byte
data blocks, read-only), and :class:`TaglessService` serves the latest URL in a
background thread with the same ``submit``/``state``/``close`` API as
:class:`heatcast.nfc.service.TagService`.  Nothing wears out, so there is no
rate limit; there is also no tag to tamper with.

Phones read it like a sticker, but only while the reader listens; readers that
cannot emulate a card (PN53x-based ones through nfcpy, the ACR122U) report so
in ``state().error``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from typing import Any

from heatcast.errors import HeatcastError
from heatcast.nfc.nfcpy import nfc
from heatcast.nfc.service import TagState
from heatcast.nfc.writer import check_path, ndef_message, open_frontend

log = logging.getLogger(__name__)

SYSTEM_CODE = b"\x12\xfc"  # NDEF
NDEF_SERVICES = (0x0009, 0x000B)  # NDEF data, read/write and read-only service codes
PMM = bytes.fromhex("FFFFFFFFFFFFFFFF")  # IC code FF: a plain Type 3 tag to nfcpy and phones
BLOCKS_PER_READ = 4


class NdefType3Memory:
    """The NDEF data of a read-only Type 3 tag: attribute block and data blocks."""

    def __init__(self, url: str) -> None:
        self.set_url(url)

    def set_url(self, url: str) -> None:
        self.url = url
        self.message = ndef_message(url)

    @property
    def blocks(self) -> int:
        return (len(self.message) + 15) // 16

    def attribute_block(self) -> bytes:
        ln = len(self.message)
        head = bytearray(16)
        head[0] = 0x10  # mapping version 1.0
        head[1] = BLOCKS_PER_READ  # Nbr
        head[2] = 0  # Nbw: no writing
        head[3:5] = max(self.blocks, 1).to_bytes(2, "big")  # NmaxB
        head[9] = 0x00  # WriteF: not being written
        head[10] = 0x00  # RWFlag: read-only
        head[11:14] = ln.to_bytes(3, "big")
        head[14:16] = sum(head[0:14]).to_bytes(2, "big")
        return bytes(head)

    def read_block(self, number: int, rb: bool = True, re: bool = True) -> bytearray | None:
        if number == 0:
            return bytearray(self.attribute_block())
        if 1 <= number <= self.blocks:
            chunk = self.message[(number - 1) * 16 : number * 16]
            return bytearray(chunk.ljust(16, b"\0"))
        return None


def random_idm() -> bytes:
    """An IDm that is neither NFC-DEP (01FE) nor a fixed, trackable value."""
    return b"\x03\xfe" + os.urandom(6)


class TaglessService:
    """Serve the latest submitted URL as an emulated Type 3 tag on *device*."""

    def __init__(self, device: str, *, listen_s: float = 0.5, retry_s: float = 2.0) -> None:
        self.device = check_path(device)
        self.listen_s = listen_s
        self.retry_s = retry_s
        self.memory: NdefType3Memory | None = None
        self.idm = random_idm()
        self._lock = threading.Lock()
        self._state = TagState(reader=device, tag_type="Type3 emulation", protected=True)
        self._closing = threading.Event()
        self.reads = 0
        self._thread = threading.Thread(target=self._run, name="heatcast-nfc-tt3", daemon=True)
        self._thread.start()

    def submit(self, url: str) -> None:
        """Serve *url* from now on; never blocks."""
        try:
            memory = NdefType3Memory(url)
        except HeatcastError as exc:
            with self._lock:
                self._state.error = str(exc)
            return
        with self._lock:
            self.memory = memory
            self._state.wanted = self._state.url = url
            self._state.verified = True  # the emulation serves it as soon as it is set

    def state(self) -> TagState:
        with self._lock:
            return dataclasses.replace(self._state)

    def close(self, timeout: float = 5.0) -> bool:
        self._closing.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- nfcpy card emulation callbacks --------------------------------------------------------
    def _on_startup(self, target: nfc.clf.LocalTarget) -> nfc.clf.LocalTarget:
        target.brty = "212F"
        target.sensf_res = bytearray(b"\x01" + self.idm + PMM + SYSTEM_CODE)
        return target

    def _read(self, number: int, rb: bool, re: bool) -> bytearray | None:
        with self._lock:
            memory = self.memory
        if memory is None:
            return None
        if number == 0:
            self.reads += 1
        return memory.read_block(number, rb, re)

    def _on_connect(self, tag: Any) -> bool:
        for code in NDEF_SERVICES:
            tag.add_service(code, self._read, None)
        return True

    def _run(self) -> None:
        clf = None
        while not self._closing.is_set():
            try:
                if clf is None:
                    clf = open_frontend(self.device)
                    with self._lock:
                        self._state.reader = str(clf.device)
                options = {
                    "on-startup": self._on_startup,
                    "on-connect": self._on_connect,
                    "timeout": self.listen_s,
                }
                result = clf.connect(card=options, terminate=self._closing.is_set)
                if result is False:
                    raise HeatcastError(
                        f"the reader at {self.device} cannot emulate a Type 3 tag (or was unplugged): "
                        "tag-less mode needs a Sony RC-S380"
                    )
                with self._lock:
                    self._state.error = None
            except Exception as exc:  # nothing may escape into the kiosk
                with self._lock:
                    self._state.error = str(exc)
                log.warning("NFC tag-less mode: %s", exc)
                if clf is not None:
                    try:
                        clf.close()
                    except Exception:
                        pass
                    clf = None
                self._closing.wait(self.retry_s)
        if clf is not None:
            try:
                clf.close()
            except Exception:
                pass


__all__ = ["NdefType3Memory", "TaglessService", "random_idm"]
