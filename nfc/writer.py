"""Write a URL onto an NTAG21x tag with nfcpy: verified, wear-aware and password-protected.

One :class:`TagWriter` owns one reader (an nfcpy path such as ``usb``,
``usb:054c:06c1``, ``tty:AMA0:pn532``, ``udp:127.0.0.1:54321`` or, for tests,
``fake:ntag215``).  :meth:`TagWriter.write_url` activates the tag, authenticates
with the tag's own key, writes an NDEF message whose first (and only) record is
the URI record, reads it back, and switches the field off so phones can read the
tag undisturbed.  The tag is left untouched (zero page writes) when it already
holds the URL.

Tearing: nfcpy's Type 2 writer sets the NDEF length to 0, writes the changed data
pages, then writes the real length, and a WRITE commits one 4-byte page at a
time; a tag pulled away mid-write therefore holds the old URL, no message, or
the new URL - never a mix.  :class:`heatcast.nfc.service.TagService` retries
until the tag verifies.

Protection (NTAG210/212/213/215/216): ``tag.protect(password=key,
read_protect=False, protect_from=3)``.  ``protect_from`` 3 protects the
capability container too, and nfcpy then sets its write-access nibble to 8, so
phones see a read-only tag instead of a tag that claims to be writable and fails
(which is what 4 or more does).  Reading stays open.  Lock bits are never set.

Taps (NTAG213/215/216; NXP's data sheet, "NFC counter function"): with
``NFC_CNT_EN`` set in the ACCESS byte (CFG1), the tag adds one to a 24-bit
counter at the first valid READ or FAST_READ after each power-up, that is once
per phone tap, and stops at FFFFFFh. ``READ_CNT`` (39h 02h) reads it, least
significant byte first, without a READ, so reading it counts nothing; with
``NFC_CNT_PWD_PROT`` it answers only after PWD_AUTH. nfcpy's activation sends
AUTHENTICATE (which the NTAG ignores) and GET_VERSION, no READ. heatcast enables
the counter (password-protected when it protects the tag) at its first write,
and reads it at the start and at the end of each of its own sessions: whatever
the counter gained between two of heatcast's sessions were phones.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import ndef

from heatcast.errors import ConfigError, NfcError, UsageError
from heatcast.nfc import udev
from heatcast.nfc.keys import SiteSecret, tag_key
from heatcast.nfc.nfcpy import nfc

log = logging.getLogger(__name__)

#: first protected page; see the module docstring for why 3 and not 4
PROTECT_FROM = 3
#: ACCESS byte bits (NTAG213/215/216)
NFC_CNT_EN = 0x10
NFC_CNT_PWD_PROT = 0x08
#: the NFC counter stops here
COUNTER_MAX = 0xFFFFFF
#: the tags with an NFC counter (NTAG210 and 212 have none)
COUNTING = ("NTAG213", "NTAG215", "NTAG216")

#: NTAG21x product -> first configuration page (CFG0), from the NXP data sheets
CFG_PAGE = {"NTAG210": 16, "NTAG212": 37, "NTAG213": 41, "NTAG215": 131, "NTAG216": 227}

#: NDEF capacity of a factory-formatted tag, bytes (what nfcpy reports)
CAPACITY = {"NTAG213": 137, "NTAG215": 492, "NTAG216": 868}

PATH_HELP = "use usb, usb:054c:06c1, tty:USB0:pn532, tty:AMA0:pn532 or udp:127.0.0.1:54321"
_PATH = re.compile(
    r"^(usb(:[0-9a-fA-F]{4}(:[0-9a-fA-F]{4})?|:[0-9]{1,3}(:[0-9]{1,3})?)?"
    r"|tty:[A-Za-z0-9._-]+(:(pn532|arygon))?"
    r"|com:[A-Za-z0-9]+(:(pn532|arygon))?"
    r"|udp(:[A-Za-z0-9.-]*)?(:[0-9]{1,5})?"
    r"|fake:[a-z0-9]+(:[A-Za-z0-9_.-]+)?)$"
)


# -- errors -------------------------------------------------------------------------------------
class ReaderUnavailable(NfcError):
    """The reader is missing, unplugged, busy or not accessible."""


class TagAbsent(NfcError):
    """No tag answered on the reader."""


class TagWriteError(NfcError):
    """The tag stopped answering, or did not verify, during a write."""


class WrongPassword(NfcError):
    """The tag is protected with a key heatcast cannot derive."""


class ReadOnlyTag(NfcError):
    """The tag is permanently locked."""


class UnsupportedTag(NfcError):
    """Not an NDEF Type 2 tag heatcast can write (and protect)."""


class CapacityError(NfcError):
    """The NDEF message does not fit on the tag."""


# -- NDEF ---------------------------------------------------------------------------------------
def check_url(url: str) -> str:
    if not isinstance(url, str) or not url.strip():
        raise UsageError("the URL to write is empty: give a full link such as https://example.com/")
    if url != url.strip() or any(ord(c) < 0x21 or c == "\x7f" for c in url):
        raise UsageError(f"the URL {url!r} contains spaces or control characters: percent-encode them")
    if ":" not in url:
        raise UsageError(f"the URL {url!r} has no scheme: write it in full, e.g. https://{url}")
    return url


def ndef_message(url: str) -> bytes:
    """The NDEF message heatcast writes: the URI record first (phones act on the first record)."""
    return b"".join(ndef.message_encoder([ndef.UriRecord(check_url(url))]))


def capacity_message(url: str, size: int, capacity: int, product: str) -> str:
    bigger = [f"{p} ({c} bytes)" for p, c in CAPACITY.items() if c >= size]
    alternative = f" or use a bigger tag: {', '.join(bigger)}" if bigger else ""
    return (
        f"the URL is {len(url)} characters, {size} bytes as an NDEF message, but this {product} "
        f"holds at most {capacity} bytes: shorten the URL by {size - capacity} bytes{alternative}"
    )


def check_fits(url: str, capacity: int, product: str = "tag") -> bytes:
    message = ndef_message(url)
    if len(message) > capacity:
        raise CapacityError(capacity_message(url, len(message), capacity, product))
    return message


def url_of(octets: bytes) -> str | None:
    """The URI of the first record, "" for an empty message, None if it is not a URI record."""
    if not octets:
        return ""
    try:
        records = list(ndef.message_decoder(octets, errors="relax"))
    except ndef.DecodeError:
        return None
    if records and isinstance(records[0], ndef.UriRecord):
        return str(records[0].iri)
    return None


# -- keys never reach the logs ------------------------------------------------------------------
class _Redactor(logging.Filter):
    """nfcpy logs passwords and frames at debug level; blank out any that carry a tag key."""

    LOGGERS = (
        "nfc.clf",
        "nfc.clf.udp",
        "nfc.clf.pn53x",
        "nfc.clf.pn533",
        "nfc.clf.pn532",
        "nfc.clf.pn531",
        "nfc.clf.rcs380",
        "nfc.clf.rcs956",
        "nfc.clf.acr122",
        "nfc.clf.transport",
        "nfc.tag",
        "nfc.tag.tt2",
        "nfc.tag.tt2_nxp",
    )

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def remember(self, key: bytes) -> None:
        self.secrets.update({key[:4].hex(), key.hex()})

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "nfc.clf" and record.levelno >= logging.ERROR:
            return False  # "no reader on path", "[Errno 19] ...": heatcast reports these itself
        if not self.secrets:
            return True
        try:
            text = record.getMessage().lower()
        except Exception:
            return True
        if "key" in text and ("authenticate with" in text or "protect with" in text):
            record.msg, record.args = "(NTAG key withheld from the log)", ()
        elif any(s in text for s in self.secrets):
            record.msg, record.args = "(frame carrying an NTAG key withheld from the log)", ()
        return True


_redactor = _Redactor()
for _name in _Redactor.LOGGERS:
    logging.getLogger(_name).addFilter(_redactor)
# nfcpy pins its logger to INFO; let the application's level decide instead
logging.getLogger("nfc").setLevel(logging.NOTSET)


# -- the frontend -------------------------------------------------------------------------------
class CountingFrontend(nfc.clf.ContactlessFrontend):  # type: ignore[misc]
    """nfcpy's frontend, counting reader exchanges and page writes (WRITE, 0xA2)."""

    def __init__(self) -> None:
        super().__init__()
        self.exchanges = 0
        self.page_writes = 0

    def exchange(self, send_data: Any, timeout: float) -> Any:
        self.exchanges += 1
        if send_data and send_data[0] == 0xA2:
            self.page_writes += 1
        return super().exchange(send_data, timeout)


def check_path(path: str) -> str:
    if not isinstance(path, str) or not _PATH.match(path):
        raise UsageError(f"{path!r} is not an nfcpy reader path: {PATH_HELP}")
    return path


def open_frontend(path: str) -> CountingFrontend:
    """Open the reader at *path*, or raise :class:`ReaderUnavailable` naming the fix."""
    check_path(path)
    clf = CountingFrontend()
    if path.startswith("fake:"):
        from heatcast.nfc.fake import open_fake

        try:
            device = open_fake(path)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if device is None:
            raise ReaderUnavailable(f"no NFC reader at {path}: the (fake) reader is unplugged")
        clf.device = device
        return clf
    try:
        found = clf.open(path)
    except OSError as exc:
        raise ReaderUnavailable(udev.explain_open_error(path, exc)) from None
    if not found:
        raise ReaderUnavailable(udev.explain_not_found(path))
    return clf


# -- results ------------------------------------------------------------------------------------
@dataclass
class TagReport:
    """What heatcast knows about the tag after a read or a write."""

    reader: str
    tag_type: str
    uid: str
    capacity: int | None = None
    url: str | None = None
    protected: bool = False
    locked: bool = False
    phone_writable: bool = False
    #: whether heatcast can write it: None when it is protected and no secret was given
    writable: bool | None = None
    verified: bool = False
    changed: bool = False
    protected_now: bool = False
    page_writes: int = 0
    exchanges: int = 0
    notes: list[str] = field(default_factory=list)
    #: the tag's NFC counter (phone taps) at the start and the end of heatcast's session;
    #: None where the tag has none or it cannot be read
    counter_before: int | None = None
    counter_after: int | None = None
    #: whether the tag counts taps (NFC_CNT_EN); None when not known
    counting: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Config:
    auth0: int
    access: int
    cc_access: int
    static_locks: int  # page lock bits of lock bytes 0-1 (block-lock bits left out)
    dynamic_locks: int  # page lock bits of the dynamic lock bytes
    pages: int
    cfg1: bytes = b"\0\0\0\0"  # ACCESS and three reserved bytes

    @property
    def password_protected(self) -> bool:
        return self.auth0 < self.pages

    @property
    def heatcast_protected(self) -> bool:
        return self.auth0 == PROTECT_FROM and not self.access & 0x80 and self.cc_access & 0x0F == 0x08

    @property
    def locked(self) -> bool:
        return bool(self.static_locks or self.dynamic_locks) or self.cc_access & 0x0F == 0x0F


def product_of(tag: Any) -> str:
    """'NTAG215', 'MifareUltralight', 'Type2Tag', 'Type4Tag', ..."""
    name = type(tag).__name__
    return name


# -- the writer ---------------------------------------------------------------------------------
class TagWriter:
    """One reader and the tag on it."""

    def __init__(self, path: str, *, connect_timeout: float = 1.0) -> None:
        self.path = check_path(path)
        self.connect_timeout = connect_timeout
        self.clf: CountingFrontend | None = None
        self._closed_counts = (0, 0)

    # reader ---------------------------------------------------------------------------------
    def open(self) -> None:
        if self.clf is None:
            self.clf = open_frontend(self.path)

    def close(self) -> None:
        clf, self.clf = self.clf, None
        if clf is not None:
            w, e = self._closed_counts
            self._closed_counts = (w + clf.page_writes, e + clf.exchanges)
            try:
                clf.close()
            except Exception as exc:  # a dead USB device may fail in many ways on close
                log.debug("closing %s: %r", self.path, exc)

    @property
    def reader_name(self) -> str:
        if self.clf is not None and self.clf.device is not None:
            try:
                return str(self.clf.device)
            except Exception:
                pass
        return self.path

    @property
    def counters(self) -> tuple[int, int]:
        """(page writes, exchanges) since this writer was made, across reopens."""
        writes, exchanges = self._closed_counts
        if self.clf is not None:
            writes, exchanges = writes + self.clf.page_writes, exchanges + self.clf.exchanges
        return (writes, exchanges)

    def mute(self) -> None:
        """Switch the RF field off so that phones can read the tag in peace."""
        if self.clf is not None and self.clf.device is not None:
            try:
                self.clf.device.mute()
            except Exception as exc:
                log.debug("mute on %s: %r", self.path, exc)

    def _connect(self, timeout: float | None = None) -> Any:
        self.open()
        assert self.clf is not None
        deadline = time.monotonic() + (self.connect_timeout if timeout is None else timeout)
        options = {
            "targets": ["106A"],
            "on-connect": lambda tag: False,
            "iterations": 2,
            "interval": 0.1,
            "beep-on-connect": False,
        }
        try:
            tag = self.clf.connect(rdwr=options, terminate=lambda: time.monotonic() > deadline)
        except OSError as exc:
            self.close()
            raise ReaderUnavailable(f"NFC reader {self.path} stopped answering ({exc})") from None
        if tag is False:
            self.close()
            raise ReaderUnavailable(f"NFC reader {self.path} stopped answering (unplugged?); reopening it")
        if tag is None:
            raise TagAbsent(
                f"no tag on the NFC reader {self.path}: put the NTAG213/215/216 sticker on the reader"
            )
        return self._identify(tag)

    def _identify(self, tag: Any) -> Any:
        """Repeat nfcpy's GET_VERSION with a longer timeout when its 10 ms one was too short."""
        generic = (nfc.tag.tt2.Type2Tag, nfc.tag.tt2_nxp.MifareUltralight)
        if type(tag) in generic and tag.identifier[:1] == b"\x04":
            assert self.clf is not None
            try:
                rsp = bytes(self.clf.exchange(b"\x60", timeout=0.1))
            except nfc.clf.CommunicationError:
                rsp = b""
            cls = nfc.tag.tt2_nxp.VERSION_MAP.get(rsp)
            if cls is not None:
                return cls(self.clf, self.clf.target or tag.target)
            if self.clf.sense(tag.target) is None:  # the tag is silent after an unknown command
                raise TagAbsent(f"the tag left the NFC reader {self.path} while it was identified")
        return tag

    # tag details ----------------------------------------------------------------------------
    def _config(self, tag: Any) -> _Config | None:
        product = product_of(tag)
        cfg_page = CFG_PAGE.get(product)
        head = tag.read(0)
        static = (head[10] & 0xF8) | head[11] << 8  # bits 0-2 of lock byte 0 only lock the lock bits
        if cfg_page is None:
            return _Config(0xFF, 0, head[15], static, 0, 0)
        # one READ returns the dynamic lock page, CFG0 and CFG1 (4 pages from cfg_page - 1)
        data = tag.read(cfg_page - 1)
        dynamic = 0 if product == "NTAG210" else data[0] | data[1] << 8
        return _Config(data[7], data[8], head[15], static, dynamic, cfg_page + 4, bytes(data[8:12]))

    def _read_cnt(self, tag: Any, key: bytes | None) -> tuple[Any, int | None]:
        """READ_CNT, no READ (so it is no tap): the counter, authenticating first if it needs it.

        Returns the tag (a new activation after a refusal) and the value, None if it cannot be read.
        """
        if product_of(tag) not in COUNTING:
            return tag, None
        for attempt in range(2):
            try:
                rsp = bytes(tag.transceive(b"\x39\x02", timeout=0.1))
                if len(rsp) >= 3:
                    return tag, int.from_bytes(rsp[:3], "little")
            except (nfc.tag.TagCommandError, nfc.clf.CommunicationError):
                pass
            # a NAK: the counter is password-protected (or the reading collided with a phone);
            # the tag is idle after a NAK, so select it again (and authenticate, once)
            uid = bytes(tag.identifier)
            tag = self._connect()
            if bytes(tag.identifier) != uid:
                raise TagWriteError("the tag on the reader was swapped while its counter was read; retrying")
            if key is None or attempt:
                return tag, None
            _redactor.remember(key)
            if not tag.authenticate(key):
                return self._connect(), None
        return tag, None

    def count(self, secret: SiteSecret | bytes | None = None) -> TagReport:
        """A short session that reads the tag's NFC counter and nothing else (no tap counted)."""
        start = self.counters
        tag = self._connect()
        with self._session("its counter was read"):
            report = TagReport(self.reader_name, product_of(tag), bytes(tag.identifier).hex().upper())
            key = tag_key(secret, bytes(tag.identifier)) if secret is not None else None
            tag, value = self._read_cnt(tag, key)
            report.counter_before = report.counter_after = value
        end = self.counters
        report.page_writes, report.exchanges = end[0] - start[0], end[1] - start[1]
        return report

    def _enable_counter(self, tag: Any, conf: _Config, protected: bool) -> _Config:
        """Set NFC_CNT_EN (and NFC_CNT_PWD_PROT on a protected tag) in CFG1, once."""
        want = conf.access | NFC_CNT_EN | (NFC_CNT_PWD_PROT if protected else 0)
        if want == conf.access:
            return conf
        cfg_page = CFG_PAGE[product_of(tag)]
        tag.write(cfg_page + 1, bytes([want]) + conf.cfg1[1:4])
        fresh = self._config(tag)
        assert fresh is not None
        if fresh.access != want:
            raise TagWriteError("could not switch the tag's tap counter on; retrying")
        return fresh

    def _authenticate(self, tag: Any, key: bytes) -> tuple[Any, bool]:
        """Authenticate; returns (tag, repair) where repair means a torn protect() must be redone."""
        _redactor.remember(key)
        if tag.authenticate(key):
            return tag, False
        uid = tag.identifier
        # A protect() torn between its page writes leaves AUTH0 set with the factory password,
        # or our password with the factory PACK: accept those to finish the job.
        for candidate in (b"", key[:4] + b"\0\0"):
            tag = self._connect()
            if tag.identifier != uid:
                raise TagWriteError("the tag on the reader was swapped during the write; retrying")
            if tag.authenticate(candidate):
                log.warning("tag %s had half-finished protection; finishing it", uid.hex().upper())
                return tag, True
        raise WrongPassword(
            f"tag {uid.hex().upper()} is password-protected with a key that does not match this "
            "site's secret: use the secret that protected it (HEATCAST_NFC_SECRET or the secret "
            "file), or replace the sticker with a new NTAG213/215/216"
        )

    @contextlib.contextmanager
    def _session(self, doing: str) -> Iterator[None]:
        """A session with the tag: its failures as heatcast's errors, and the field off after."""
        try:
            yield
        except NfcError:
            raise
        except (nfc.tag.TagCommandError, nfc.clf.CommunicationError) as exc:
            raise TagWriteError(f"the tag stopped answering while {doing} ({exc})") from None
        except OSError as exc:
            self.close()
            raise ReaderUnavailable(f"NFC reader {self.path} stopped answering ({exc})") from None
        finally:
            self.mute()

    def _torn_protection(self, tag: Any, key: bytes) -> bool:
        """Whether a protect() torn between its page writes left the factory password, or ours
        with the factory PACK (what :meth:`_authenticate` accepts to finish the job)."""
        uid = bytes(tag.identifier)
        for candidate in (b"", key[:4] + b"\0\0"):
            tag = self._connect()  # idle after the refused password
            if bytes(tag.identifier) != uid:
                return False
            if tag.authenticate(candidate):
                return True
        return False

    # operations -----------------------------------------------------------------------------
    def read(self, secret: SiteSecret | bytes | None = None) -> TagReport:
        """Read the tag as a phone would and report what it holds.

        With *secret*, also check that heatcast's key opens a protected tag (``writable``).
        """
        start = self.counters
        tag = self._connect()
        with self._session("it was read"):
            key = tag_key(secret, bytes(tag.identifier)) if secret is not None else None
            tag, counter = self._read_cnt(tag, key)  # before any READ: this reading is no tap
            report = self._describe(tag)
            report.counter_before = report.counter_after = counter
            if report.protected and secret is not None and report.tag_type in CFG_PAGE:
                key = tag_key(secret, bytes(tag.identifier))
                _redactor.remember(key)
                report.writable = bool(tag.authenticate(key)) and not report.locked
                if not report.writable and self._torn_protection(tag, key):
                    report.writable = not report.locked
                    report.notes.append(
                        "protection incomplete (a write was interrupted): the next write finishes it"
                    )
                elif not report.writable:
                    report.notes.append("the site secret does not open this tag (wrong password)")
        end = self.counters
        report.page_writes, report.exchanges = end[0] - start[0], end[1] - start[1]
        return report

    def _describe(self, tag: Any) -> TagReport:
        product = product_of(tag)
        report = TagReport(self.reader_name, product, bytes(tag.identifier).hex().upper())
        if not isinstance(tag, nfc.tag.tt2.Type2Tag):
            report.notes.append(f"{product} is not a Type 2 tag; heatcast writes NTAG213/215/216")
            return report
        conf = self._config(tag)
        if conf is not None:
            report.protected = conf.password_protected
            report.locked = conf.locked
            if product in COUNTING:
                report.counting = bool(conf.access & NFC_CNT_EN)
        ndef_area = tag.ndef
        if ndef_area is None:
            report.notes.append("the tag is not NDEF formatted")
            return report
        report.capacity = ndef_area.capacity
        report.url = url_of(ndef_area.octets)
        report.phone_writable = bool(ndef_area.is_writeable) and not report.protected
        if not report.protected:
            report.writable = bool(ndef_area.is_writeable) and not report.locked
        return report

    def write_url(
        self, url: str, *, secret: SiteSecret | bytes | None = None, protect: bool = True
    ) -> TagReport:
        """Make the tag hold *url*, verified; zero page writes if it already does."""
        message = ndef_message(url)
        if protect and secret is None:
            raise ConfigError(
                "protecting the tag needs the site secret: set HEATCAST_NFC_SECRET or create the "
                "secret file with `heatcast nfc keygen`, or write with --no-protect for development"
            )
        start = self.counters
        tag = self._connect()
        try:
            report = self._write(tag, url, message, secret, protect)
        except NfcError:
            raise
        except (nfc.tag.TagCommandError, nfc.clf.CommunicationError) as exc:
            raise TagWriteError(
                f"the tag stopped answering during the write ({exc}); it holds its previous URL "
                "or no message until the write is retried"
            ) from None
        except OSError as exc:
            self.close()
            raise ReaderUnavailable(f"NFC reader {self.path} stopped answering mid-write ({exc})") from None
        finally:
            self.mute()
        end = self.counters
        report.page_writes, report.exchanges = end[0] - start[0], end[1] - start[1]
        return report

    def _write(
        self, tag: Any, url: str, message: bytes, secret: SiteSecret | bytes | None, protect: bool
    ) -> TagReport:
        product = product_of(tag)
        uid = bytes(tag.identifier)
        report = TagReport(self.reader_name, product, uid.hex().upper())
        if not isinstance(tag, nfc.tag.tt2.Type2Tag):
            raise UnsupportedTag(
                f"the tag on the reader is a {product}, not an NFC Forum Type 2 tag: "
                "use an NTAG213/215/216 sticker"
            )
        ntag = product in CFG_PAGE
        if protect and not ntag:
            raise UnsupportedTag(
                f"the tag is a {getattr(tag, 'product', product)}, which heatcast cannot password-protect: "
                "use an NTAG213/215/216 sticker, or --no-protect for development"
            )
        key = tag_key(secret, uid) if secret is not None else None
        tag, report.counter_before = self._read_cnt(tag, key)  # before any READ of the session
        conf = self._config(tag)
        assert conf is not None
        if conf.locked:
            raise ReadOnlyTag(
                f"tag {report.uid} is permanently locked (lock bits set) and can never be rewritten: "
                "replace the sticker with a new NTAG213/215/216"
            )
        repair = False
        if ntag and conf.password_protected:
            if key is None:
                raise WrongPassword(
                    f"tag {report.uid} is password-protected: give heatcast the site secret that "
                    "protected it (HEATCAST_NFC_SECRET or the secret file)"
                )
            tag, repair = self._authenticate(tag, key)
        elif ntag and key is not None and conf.cc_access & 0x0F == 0x08:
            # unprotected but marked proprietary-writable (a torn protect, or protection removed)
            _redactor.remember(key)
            if not tag.authenticate(key):
                tag = self._connect()
                tag.authenticate(b"")
        if protect and (repair or not conf.heatcast_protected):
            assert key is not None
            _redactor.remember(key)
            if not tag.protect(password=key, read_protect=False, protect_from=PROTECT_FROM):
                raise TagWriteError(f"could not set the password on tag {report.uid}; retrying")
            conf = self._config(tag)
            assert conf is not None
            if not conf.heatcast_protected:
                raise TagWriteError(f"password protection on tag {report.uid} did not verify; retrying")
            report.protected_now = True
        report.protected = conf.password_protected

        area = tag.ndef
        if area is None:
            raise UnsupportedTag(
                f"tag {report.uid} is not NDEF formatted: format it once with a phone app "
                "(e.g. NXP TagWriter) or use a new NTAG213/215/216"
            )
        report.capacity = area.capacity
        if len(message) > area.capacity:
            raise CapacityError(capacity_message(url, len(message), area.capacity, product))
        if not area.is_writeable:
            if conf.password_protected or conf.cc_access & 0x0F == 0x08:
                raise WrongPassword(
                    f"tag {report.uid} is read-only without its password and authentication failed: "
                    "use the site secret that protected it"
                )
            raise ReadOnlyTag(f"tag {report.uid} is marked read-only: replace it with a new NTAG213/215/216")
        if product in COUNTING and (protect or not conf.password_protected):
            conf = self._enable_counter(tag, conf, conf.password_protected)
            report.counting = True
        if area.octets == message:
            report.url, report.verified = url, True
            report.counter_after = self._counter_now(tag, report.counter_before)
            return report
        area.octets = message
        report.changed = True
        if area.has_changed:  # a fresh read of the tag memory, compared with what was written
            fresh = tag.ndef  # read once more: was it gone, or does it hold something else?
            if fresh is None:
                raise TagWriteError(
                    f"tag {report.uid} could not be read back after the write; it holds the new URL, "
                    "its previous URL or no message until the write is retried"
                )
            if fresh.octets != message:
                raise TagWriteError(
                    f"tag {report.uid} did not verify after the write (it holds "
                    f"{url_of(fresh.octets)!r}, the previous URL or no message); retrying"
                )
        report.url, report.verified = url, True
        report.counter_after = self._counter_now(tag, report.counter_before)
        return report

    def _counter_now(self, tag: Any, before: int | None) -> int | None:
        """The counter at the end of a session (its own READs may have added one)."""
        if before is None:
            return None
        try:
            rsp = bytes(tag.transceive(b"\x39\x02", timeout=0.1))
        except (nfc.tag.TagCommandError, nfc.clf.CommunicationError):
            return None
        return int.from_bytes(rsp[:3], "little") if len(rsp) >= 3 else None


__all__ = [
    "CAPACITY",
    "COUNTER_MAX",
    "COUNTING",
    "PROTECT_FROM",
    "CapacityError",
    "CountingFrontend",
    "ReadOnlyTag",
    "ReaderUnavailable",
    "TagAbsent",
    "TagReport",
    "TagWriteError",
    "TagWriter",
    "UnsupportedTag",
    "WrongPassword",
    "check_fits",
    "check_path",
    "ndef_message",
    "open_frontend",
    "url_of",
]
