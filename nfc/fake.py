"""A fake NFC reader for nfcpy with NTAG213/215/216 tags emulated at the command level.

The fake sits exactly at the hardware boundary: :class:`FakeDevice` is an
``nfc.clf.device.Device`` driver, so nfcpy's real ``ContactlessFrontend``, its
Type 2 Tag activation and its real NTAG21x classes (``nfc.tag.tt2_nxp``) run
unchanged against it.  How to plug it in without USB::

    clf = nfc.ContactlessFrontend()          # no path: nothing is opened
    clf.device = FakeDevice(FakeReader(NtagChip.ntag215()))
    tag = clf.connect(rdwr={"on-connect": lambda tag: False})

``heatcast.nfc.writer.open_frontend`` does the same for reader paths of the form
``fake:TYPE[:NAME]`` (TYPE is ntag213, ntag215, ntag216, ultralight, unknown or
none), so the CLI, ``doctor`` and the benchmarks can all use the fake.

:class:`NtagChip` models what the writer relies on: READ (0x30) with roll-over,
WRITE (0xA2), GET_VERSION (0x60), PWD_AUTH (0x1B), READ_SIG (0x3C), the
one-time-programmable capability container, static and dynamic lock bits,
AUTH0/ACCESS/PWD/PACK latched at activation (so configuration changes apply at
the next activation, as on the real chip), NAK followed by silence until the
tag is activated again, and a tag that leaves the field after its Nth page write.
Page writes are atomic: a torn write either committed or did not happen.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import ndef

from heatcast.nfc.nfcpy import nfc

ACK = b"\x0a"
NAK = b"\x00"

#: product -> (GET_VERSION response, total pages, CC size byte, factory NDEF area)
_PRODUCTS: dict[str, tuple[bytes, int, int, bytes]] = {
    "NTAG213": (bytes.fromhex("0004040201000F03"), 45, 0x12, bytes.fromhex("0103A00C340300FE")),
    "NTAG215": (bytes.fromhex("0004040201001103"), 135, 0x3E, bytes.fromhex("0300FE00")),
    "NTAG216": (bytes.fromhex("0004040201001303"), 231, 0x6D, bytes.fromhex("0300FE00")),
    # Mifare Ultralight (MF0ICU1): no GET_VERSION, no password
    "ULTRALIGHT": (b"", 16, 0x06, bytes.fromhex("0300FE00")),
    # an NXP Type 2 tag whose version nfcpy does not know
    "UNKNOWN": (bytes.fromhex("0004FF0101000F03"), 45, 0x12, bytes.fromhex("0300FE00")),
}

_uid_counter = itertools.count(1)


def _default_uid() -> bytes:
    n = next(_uid_counter)
    return bytes([0x04]) + (0x5A0000 + n).to_bytes(3, "big") + bytes([0x12, 0x80, n & 0xFF])


@dataclass
class _Latched:
    auth0: int
    access: int
    pwd: bytes
    pack: bytes


class NtagChip:
    """The memory and command state machine of one NTAG21x (or Ultralight) tag."""

    def __init__(self, product: str = "NTAG215", uid: bytes | None = None) -> None:
        product = product.upper()
        if product not in _PRODUCTS:
            raise ValueError(f"unknown fake tag product {product!r}; use one of {', '.join(_PRODUCTS)}")
        self.product = product
        self.version, self.pages, cc_size, factory = _PRODUCTS[product]
        self.uid = bytes(uid) if uid is not None else _default_uid()
        if len(self.uid) != 7:
            raise ValueError("a fake NTAG needs a 7-byte UID")
        self.has_config = product != "ULTRALIGHT"
        mem = bytearray(4 * self.pages)
        u = self.uid
        mem[0:4] = bytes([u[0], u[1], u[2], 0x88 ^ u[0] ^ u[1] ^ u[2]])
        mem[4:8] = u[3:7]
        mem[8:12] = bytes([u[3] ^ u[4] ^ u[5] ^ u[6], 0x48, 0x00, 0x00])
        mem[12:16] = bytes([0xE1, 0x10, cc_size, 0x00])
        mem[16 : 16 + len(factory)] = factory
        if self.has_config:
            cfg = self.cfgpage * 4
            mem[cfg - 4 : cfg] = bytes([0x00, 0x00, 0x00, 0xBD])  # dynamic lock bytes
            mem[cfg : cfg + 16] = bytes.fromhex("0400000000050000FFFFFFFF00000000")
            mem[cfg + 3] = 0xFF  # AUTH0: no protection
        self.memory = mem
        self.signature = hashlib.sha256(b"heatcast fake NTAG signature" + self.uid).digest()
        self.active = False  # powered and selected
        self.powered = False  # in a field since the last power-up
        #: the NFC counter (NTAG213/215/216): +1 at the first READ or FAST_READ after a power-up
        self.nfc_counter = 0
        self._counted = False
        self.muted = False  # silent after a NAK or an unknown command until re-activated
        self.authenticated = False
        self.failed_auths = 0
        self.latched = self._latch()
        self.page_writes = 0
        self.commands = 0
        self.activations = 0
        #: after this many more committed page writes the tag leaves the field
        self.remove_after_writes: int | None = None
        self.on_removed: Any = None
        #: every distinct NDEF state seen after a committed write ("" = empty, "<garbage>")
        self.history: list[str] = [self.ndef_url() or ""]
        self.lock = threading.Lock()

    # -- constructors --------------------------------------------------------------------------
    @classmethod
    def ntag213(cls, uid: bytes | None = None) -> NtagChip:
        return cls("NTAG213", uid)

    @classmethod
    def ntag215(cls, uid: bytes | None = None) -> NtagChip:
        return cls("NTAG215", uid)

    @classmethod
    def ntag216(cls, uid: bytes | None = None) -> NtagChip:
        return cls("NTAG216", uid)

    # -- layout --------------------------------------------------------------------------------
    @property
    def cfgpage(self) -> int:
        return self.pages - 4

    @property
    def user_end(self) -> int:
        """First page after user memory (the dynamic lock page on NTAG21x)."""
        return self.cfgpage - 1 if self.has_config else self.pages

    def page(self, n: int) -> bytes:
        return bytes(self.memory[4 * n : 4 * n + 4])

    @property
    def auth0(self) -> int:
        return self.memory[self.cfgpage * 4 + 3] if self.has_config else 0xFF

    @property
    def access(self) -> int:
        return self.memory[self.cfgpage * 4 + 4] if self.has_config else 0

    @property
    def pwd(self) -> bytes:
        c = self.cfgpage * 4
        return bytes(self.memory[c + 8 : c + 12]) if self.has_config else b""

    @property
    def pack(self) -> bytes:
        c = self.cfgpage * 4
        return bytes(self.memory[c + 12 : c + 14]) if self.has_config else b""

    def _latch(self) -> _Latched:
        return _Latched(self.auth0, self.access, self.pwd, self.pack)

    # -- RF ------------------------------------------------------------------------------------
    def activate(self) -> None:
        """Selection (after a power-up if the tag had none): the configuration is latched at power-up."""
        if not self.powered:
            self.powered, self._counted = True, False
            self.latched = self._latch()
        self.active, self.muted, self.authenticated = True, False, False
        self.activations += 1

    def power_off(self) -> None:
        self.active, self.powered, self.muted, self.authenticated = False, False, False, False

    def idle(self) -> None:
        """A new request in the same field: unselected, unauthenticated, still powered."""
        self.active, self.muted, self.authenticated = False, False, False

    def phone_tap(self) -> str | None:
        """A phone comes near: it powers the tag, reads its NDEF message and goes; the URL it read.

        The tag then powers up afresh in whatever field comes next (heatcast's reader).
        """
        with self.lock:
            self.power_off()
            self.powered, self._counted, self.latched = True, False, self._latch()
            self.active = True
            self._read(4)
            url = self.ndef_url()
            self.power_off()
        return url

    @property
    def counts_taps(self) -> bool:
        return self.product in ("NTAG213", "NTAG215", "NTAG216") and bool(self.latched.access & 0x10)

    def _count(self) -> None:
        if self.counts_taps and not self._counted:
            self._counted = True
            self.nfc_counter = min(0xFFFFFF, self.nfc_counter + 1)

    # -- commands ------------------------------------------------------------------------------
    def handle(self, cmd: bytes) -> bytes | None:
        """Answer one command frame; ``None`` means the tag stays silent."""
        with self.lock:
            if not self.active or self.muted or not cmd:
                return None
            self.commands += 1
            op = cmd[0]
            if op == 0x30 and len(cmd) == 2:
                return self._read(cmd[1])
            if op == 0x3A and len(cmd) == 3:
                return self._fast_read(cmd[1], cmd[2])
            if op == 0x39 and len(cmd) == 2 and self.product in ("NTAG213", "NTAG215", "NTAG216"):
                return self._read_cnt(cmd[1])
            if op == 0xA2 and len(cmd) == 6:
                return self._write(cmd[1], cmd[2:6])
            if op == 0x60 and len(cmd) == 1 and self.version:
                return self.version
            if op == 0x1B and len(cmd) == 5 and self.has_config:
                return self._pwd_auth(cmd[1:5])
            if op == 0x3C and len(cmd) == 2 and self.has_config:
                return self.signature
            # unknown command: a real NTAG falls silent until the next activation
            self.muted = True
            return None

    def _nak(self) -> bytes:
        self.muted = True
        return NAK

    def _protected(self, page: int) -> bool:
        return self.has_config and page >= self.latched.auth0 and not self.authenticated

    def _read(self, start: int) -> bytes:
        if start >= self.pages:
            return self._nak()
        read_protect = bool(self.latched.access & 0x80)
        if read_protect and self._protected(start):
            return self._nak()
        self._count()
        return b"".join(self._page_as_read(page % self.pages) for page in range(start, start + 4))

    def _page_as_read(self, page: int) -> bytes:
        if self.has_config and page in (self.cfgpage + 2, self.cfgpage + 3):
            return b"\0\0\0\0"  # PWD and PACK always read as zero
        if self.latched.access & 0x80 and self._protected(page):
            return b"\0\0\0\0"
        return self.page(page)

    def _fast_read(self, start: int, end: int) -> bytes:
        if start > end or end >= self.pages:
            return self._nak()
        if self.latched.access & 0x80 and any(self._protected(p) for p in range(start, end + 1)):
            return self._nak()
        self._count()
        return b"".join(self._page_as_read(page) for page in range(start, end + 1))

    def _read_cnt(self, address: int) -> bytes:
        if address != 0x02:
            return self._nak()
        if self.latched.access & 0x08 and not self.authenticated:  # NFC_CNT_PWD_PROT
            return self._nak()
        return self.nfc_counter.to_bytes(3, "little")

    def _locked(self, page: int) -> bool:
        lock0, lock1 = self.memory[10], self.memory[11]
        if page == 3:
            return bool(lock0 & 0x08)
        if 4 <= page <= 7:
            return bool(lock0 & (1 << page))
        if 8 <= page <= 15:
            return bool(lock1 & (1 << (page - 8)))
        if self.has_config and 16 <= page < self.user_end:
            dyn = int.from_bytes(self.memory[(self.user_end) * 4 : (self.user_end) * 4 + 2], "little")
            per_bit = 2 if self.product == "NTAG213" else 16
            return bool(dyn & (1 << ((page - 16) // per_bit)))
        if self.has_config and page in (self.cfgpage, self.cfgpage + 1):
            return bool(self.access & 0x40)  # CFGLCK
        return False

    def _write(self, page: int, data: bytes) -> bytes:
        if page >= self.pages or page < 2:
            return self._nak()
        if self._protected(page) or self._locked(page):
            return self._nak()
        if self.remove_after_writes is not None and self.remove_after_writes <= 0:
            return self._nak()  # unreachable: the tag already left the field
        off = 4 * page
        if page == 2:
            self.memory[off + 2] |= data[2]  # lock bits are one-way
            self.memory[off + 3] |= data[3]
        elif page == 3:
            for i in range(4):
                self.memory[off + i] |= data[i]  # the capability container is OTP
        elif self.has_config and page == self.user_end:
            for i in range(3):
                self.memory[off + i] |= data[i]
        else:
            self.memory[off : off + 4] = data
        self.page_writes += 1
        url = self.ndef_url()
        if url is None:
            url = "<garbage>"
        if url != self.history[-1]:
            self.history.append(url)
            if len(self.history) > 1000:  # long soaks: keep memory bounded
                del self.history[1:-999]
        if self.remove_after_writes is not None:
            self.remove_after_writes -= 1
            if self.remove_after_writes <= 0 and self.on_removed is not None:
                self.on_removed()
        return ACK

    def _pwd_auth(self, pwd: bytes) -> bytes:
        limit = self.latched.access & 0x07
        if limit and self.failed_auths >= 2**limit:
            return self._nak()
        if pwd == self.latched.pwd:
            self.authenticated = True
            self.failed_auths = 0
            return self.latched.pack
        self.failed_auths += 1
        return self._nak()

    # -- inspection (independent of nfcpy, for tests) ------------------------------------------
    def ndef_url(self) -> str | None:
        """The URI of the first NDEF record; "" when empty; None when the data are garbage."""
        mem = self.memory
        end = 16 + mem[14] * 8
        off = 16
        try:
            while off < end:
                t = mem[off]
                if t == 0x00:
                    off += 1
                    continue
                if t == 0xFE:
                    return ""
                n = mem[off + 1]
                head = 2
                if n == 0xFF:
                    n = int.from_bytes(mem[off + 2 : off + 4], "big")
                    head = 4
                if t == 0x03:
                    if n == 0:
                        return ""
                    data = bytes(mem[off + head : off + head + n])
                    records = list(ndef.message_decoder(data, errors="strict"))
                    first = records[0]
                    if isinstance(first, ndef.UriRecord):
                        return str(first.iri)
                    return None
                off += head + n
        except Exception:  # any decoding failure is what "garbage" means here
            return None
        return ""


class FakeReader:
    """The reader hardware: a tag slot, a USB plug, and counters."""

    def __init__(self, tag: NtagChip | None = None, name: str = "fake") -> None:
        self.name = name
        self.tag: NtagChip | None = None
        self.tag_in_field = False
        self.plugged = True
        self.generation = 0
        self.exchanges = 0
        self.senses = 0
        self.field_on = False
        #: a phone taps the tag during the next this many exchanges: they collide and fail
        self.collisions = 0
        if tag is not None:
            self.place(tag)

    def place(self, tag: NtagChip) -> None:
        """Put a tag (back) on the reader."""
        self.tag = tag
        self.tag_in_field = True
        tag.power_off()
        tag.on_removed = self.remove

    def remove(self) -> None:
        """Pull the tag away (it keeps its memory)."""
        self.tag_in_field = False
        if self.tag is not None:
            self.tag.power_off()

    def remove_after_writes(self, n: int | None) -> None:
        """Make the tag leave the field right after its next *n* committed page writes."""
        assert self.tag is not None
        self.tag.remove_after_writes = n
        if n is not None and n <= 0:
            self.remove()

    def unplug(self) -> None:
        self.plugged = False
        self.generation += 1
        self.remove_field()

    def replug(self) -> None:
        self.plugged = True

    def remove_field(self) -> None:
        self.field_on = False
        if self.tag is not None:
            self.tag.power_off()

    @property
    def present(self) -> NtagChip | None:
        return self.tag if self.tag is not None and self.tag_in_field else None


class FakeDevice(nfc.clf.device.Device):  # type: ignore[misc]
    """An nfcpy device driver bound to a :class:`FakeReader`."""

    def __init__(self, reader: FakeReader) -> None:
        # nfc.clf.device.Device.__init__ only raises NotImplementedError
        self.reader = reader
        self.generation = reader.generation
        self._path = f"fake:{reader.name}"
        self._vendor_name = "heatcast"
        self._device_name = "Fake NTAG reader"
        self._chipset_name = "fake"

    def _check(self) -> None:
        if not self.reader.plugged or self.generation != self.reader.generation:
            raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))

    def close(self) -> None:
        if self.reader.plugged and self.generation == self.reader.generation:
            self.reader.remove_field()

    def mute(self) -> None:
        self._check()
        self.reader.remove_field()

    def sense_tta(self, target: nfc.clf.RemoteTarget) -> nfc.clf.RemoteTarget | None:
        self._check()
        if target.brty != "106A":
            raise nfc.clf.UnsupportedTargetError(f"the fake reader only senses 106A, not {target.brty}")
        self.reader.senses += 1
        self.reader.field_on = True
        tag = self.reader.present
        if tag is None:
            return None
        if target.sel_req and bytes(target.sel_req) != tag.uid:
            return None
        tag.activate()
        return nfc.clf.RemoteTarget(
            "106A", sens_res=bytearray(b"\x44\x00"), sdd_res=bytearray(tag.uid), sel_res=bytearray(b"\x00")
        )

    def sense_ttb(self, target: nfc.clf.RemoteTarget) -> None:
        self._check()
        return None

    def sense_ttf(self, target: nfc.clf.RemoteTarget) -> None:
        self._check()
        return None

    def sense_dep(self, target: nfc.clf.RemoteTarget) -> None:
        raise nfc.clf.UnsupportedTargetError("the fake reader does not do peer-to-peer")

    def listen_tta(self, target: Any, timeout: float) -> None:
        raise nfc.clf.UnsupportedTargetError("the fake reader does not emulate cards")

    listen_ttb = listen_ttf = listen_dep = listen_tta

    def send_cmd_recv_rsp(self, target: Any, data: bytes, timeout: float) -> bytearray:
        self._check()
        self.reader.exchanges += 1
        tag = self.reader.present
        if tag is None or not self.reader.field_on:
            raise nfc.clf.TimeoutError("no tag")
        if self.reader.collisions > 0:
            self.reader.collisions -= 1
            tag.phone_tap()  # the phone got its read; heatcast's command was lost in the collision
            raise nfc.clf.TimeoutError("collision")
        rsp = tag.handle(bytes(data))
        if rsp is None:
            raise nfc.clf.TimeoutError("no response")
        return bytearray(rsp)

    def send_rsp_recv_cmd(self, target: Any, data: bytes, timeout: float | None = None) -> None:
        raise nfc.clf.UnsupportedTargetError("the fake reader does not emulate cards")

    def get_max_send_data_size(self, target: Any) -> int:
        return 64

    def get_max_recv_data_size(self, target: Any) -> int:
        return 64


_registry: dict[str, FakeReader] = {}
_registry_lock = threading.Lock()

FAKE_TYPES = ("ntag213", "ntag215", "ntag216", "ultralight", "unknown", "none")


def fake_reader(path: str) -> FakeReader:
    """The :class:`FakeReader` behind ``fake:TYPE[:NAME]``, created on first use (per process)."""
    parts = path.split(":")
    if parts[0] != "fake" or len(parts) not in (2, 3) or parts[1].lower() not in FAKE_TYPES:
        kinds = ", ".join(FAKE_TYPES)
        raise ValueError(f"fake reader path must be fake:TYPE[:NAME] with TYPE one of {kinds}")
    key = ":".join(parts).lower()
    with _registry_lock:
        reader = _registry.get(key)
        if reader is None:
            kind = parts[1].lower()
            chip = None if kind == "none" else NtagChip(kind.upper())
            reader = _registry[key] = FakeReader(chip, name=key[5:])
        return reader


def register(path: str, reader: FakeReader) -> FakeReader:
    """Make *reader* answer for ``fake:...`` *path* (tests use this to set up scenarios)."""
    fake_reader_key = path.lower()
    with _registry_lock:
        _registry[fake_reader_key] = reader
    return reader


_devices: dict[str, nfc.clf.device.Device] = {}


def register_device(path: str, device: nfc.clf.device.Device) -> None:
    """Make ``open_fake(path)`` return *device* itself (e.g. one end of an :class:`RfLink`)."""
    with _registry_lock:
        _devices[path.lower()] = device


def open_fake(path: str) -> nfc.clf.device.Device | None:
    """Open a device on the fake reader at *path*; ``None`` while it is unplugged."""
    key = path.lower()
    with _registry_lock:
        if key in _devices:
            return _devices[key]
        reader = _registry.get(key)
    if reader is None:
        reader = fake_reader(path)
    if not reader.plugged:
        return None
    return FakeDevice(reader)


# -- a radio link between a reader and a card-emulating device (tag-less mode tests) ----------
class RfLink:
    """Two fake devices in each other's field: a reader (Type F) and a card emulator.

    Frames cross as bytes with their length byte, as on nfcpy's UDP transport.
    """

    RFOFF = b"RFOFF"

    def __init__(self) -> None:
        import queue

        self.to_card: queue.Queue[bytes] = queue.Queue()
        self.to_reader: queue.Queue[bytes] = queue.Queue()
        self.reader = LinkReaderDevice(self)
        self.card = LinkCardDevice(self)


def _get(q: Any, timeout: float | None) -> bytes | None:
    import queue

    try:
        return bytes(q.get(timeout=timeout))
    except queue.Empty:
        return None


class LinkReaderDevice(nfc.clf.device.Device):  # type: ignore[misc]
    """The phone side of an :class:`RfLink`: senses Type F targets and exchanges frames."""

    def __init__(self, link: RfLink) -> None:
        self.link = link
        self.active = False
        self._path = "fake:link-reader"
        self._chipset_name = "fake"

    def close(self) -> None:
        self.mute()

    def mute(self) -> None:
        if self.active:
            self.link.to_card.put(RfLink.RFOFF)
            self.active = False

    def sense_tta(self, target: Any) -> None:
        return None

    def sense_ttb(self, target: Any) -> None:
        return None

    def sense_ttf(self, target: Any) -> nfc.clf.RemoteTarget | None:
        req = bytes(target.sensf_req) if target.sensf_req else bytes.fromhex("00FFFF0100")
        self.active = True
        self.link.to_card.put(bytes([len(req) + 1]) + req)
        rsp = _get(self.link.to_reader, 1.0)
        if rsp is None or len(rsp) < 18 or rsp[0] != len(rsp) or rsp[1] != 1:
            return None
        return nfc.clf.RemoteTarget(target.brty, sensf_res=bytearray(rsp[1:]))

    def sense_dep(self, target: Any) -> None:
        raise nfc.clf.UnsupportedTargetError("no peer-to-peer on the fake link")

    def send_cmd_recv_rsp(self, target: Any, data: bytes, timeout: float) -> bytearray:
        self.link.to_card.put(bytes(data))
        rsp = _get(self.link.to_reader, max(timeout, 2.0))  # threads, not radio timing
        if rsp is None:
            raise nfc.clf.TimeoutError("no response")
        return bytearray(rsp)

    def get_max_send_data_size(self, target: Any) -> int:
        return 254

    def get_max_recv_data_size(self, target: Any) -> int:
        return 254


class LinkCardDevice(nfc.clf.device.Device):  # type: ignore[misc]
    """The card side of an :class:`RfLink`: listens as a Type 3 tag, as an RC-S380 can."""

    def __init__(self, link: RfLink) -> None:
        self.link = link
        self._path = "fake:link-card"
        self._vendor_name = "heatcast"
        self._device_name = "Fake RC-S380 (card emulation)"
        self._chipset_name = "fake"

    def close(self) -> None:
        pass

    def mute(self) -> None:
        pass

    def sense_tta(self, target: Any) -> None:
        return None

    sense_ttb = sense_ttf = sense_tta

    def listen_tta(self, target: Any, timeout: float) -> None:
        raise nfc.clf.UnsupportedTargetError("the fake card emulates Type F only")

    listen_ttb = listen_dep = listen_tta

    def listen_ttf(self, target: Any, timeout: float) -> nfc.clf.LocalTarget | None:
        ends = time.monotonic() + timeout
        sensf_req = None
        while True:
            data = _get(self.link.to_card, max(0.0, ends - time.monotonic()))
            if data is None:
                return None
            if data == RfLink.RFOFF or len(data) < 2 or data[0] != len(data):
                sensf_req = None
                continue
            if data[1] == 0x00:  # SENSF_REQ: the controller answers it without the host
                sensf_req = data[1:]
                res = bytes(target.sensf_res[0:17])
                if sensf_req[3] == 1:
                    res += bytes(target.sensf_res[17:19])
                self.link.to_reader.put(bytes([len(res) + 1]) + res)
            elif sensf_req is not None and data[2:10] == bytes(target.sensf_res[1:9]):
                return nfc.clf.LocalTarget(
                    "212F",
                    sensf_req=bytearray(sensf_req),
                    sensf_res=target.sensf_res,
                    tt3_cmd=bytearray(data[1:]),
                )

    def send_rsp_recv_cmd(self, target: Any, data: bytes | None, timeout: float | None = None) -> bytearray:
        if data is not None:
            self.link.to_reader.put(bytes(data))
        # without a timeout, give up every 0.2 s anyway so that nfcpy's card loop can check
        # its terminate() callback (it simply waits again after a timeout)
        cmd = _get(self.link.to_card, 0.2 if timeout is None else timeout)
        if cmd == RfLink.RFOFF:
            raise nfc.clf.BrokenLinkError("RFOFF")
        if cmd is None:
            raise nfc.clf.TimeoutError("no command")
        return bytearray(cmd)

    def get_max_send_data_size(self, target: Any) -> int:
        return 254

    def get_max_recv_data_size(self, target: Any) -> int:
        return 254
