"""Keep the NFC tag in step with the content on screen, in the background.

:class:`TagService` is what the kiosk uses: ``submit(url)`` returns at once, a
worker thread writes the most recent URL (older ones are dropped: coalescing),
no sooner than ``min_interval_s`` after the previous rewrite (wear), retries
with backoff until the tag verifies, and reopens a reader that was unplugged.
Nothing it meets - a missing reader, a pulled tag, a wrong password, a bug in a
driver - escapes into the caller; it lands in :meth:`TagService.state`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from heatcast.errors import ConfigError, HeatcastError, NfcError
from heatcast.nfc.keys import SiteSecret, load_secret
from heatcast.nfc.taps import TapLedger
from heatcast.nfc.writer import (
    CapacityError,
    ReaderUnavailable,
    ReadOnlyTag,
    TagReport,
    TagWriteError,
    TagWriter,
    UnsupportedTag,
    WrongPassword,
    check_path,
    check_url,
)

log = logging.getLogger(__name__)


@dataclass
class TagState:
    """What the service knows about the reader and the tag."""

    reader: str | None = None
    tag_type: str | None = None
    uid: str | None = None
    #: the URL the tag holds as last read or verified ("" = no message, None = unknown)
    url: str | None = None
    #: the tag was verified holding the latest submitted URL
    verified: bool = False
    protected: bool = False
    error: str | None = None
    #: page writes (WRITE commands) sent since the service started
    page_writes: int = 0
    #: the latest URL submitted
    wanted: str | None = None
    exchanges: int = 0
    #: write attempts that failed since the last success
    failures: int = 0
    #: the tag's NFC counter as last read; whether it counts taps (None: not known)
    counter: int | None = None
    counting: bool | None = None
    #: phone taps counted since the service started
    taps: int = 0


class TagService:
    """A background writer for one reader (``device=None``: only log the URLs)."""

    def __init__(
        self,
        device: str | None,
        *,
        protect: bool = True,
        secret: bytes | SiteSecret | None = None,
        min_interval_s: float = 5.0,
        retry_s: float = 0.5,
        max_backoff_s: float = 30.0,
        recheck_s: float | None = 600.0,
        count_every_s: float | None = 60.0,
        connect_timeout_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device = check_path(device) if device is not None else None
        self.protect = protect
        self.min_interval_s = float(min_interval_s)
        self.retry_s = float(retry_s)
        self.max_backoff_s = float(max_backoff_s)
        self.recheck_s = recheck_s
        #: how often the tap counter is read while the content stays the same (None: only at changes)
        self.count_every_s = count_every_s
        self._taps = TapLedger()
        self._counted_at: float | None = None
        #: the URL the tag held at the end of heatcast's last session: taps until the next are its
        self._on_tag: str | None = None
        self._clock = clock
        self._cond = threading.Condition()
        self._state = TagState(reader=self.device)
        self._closing = False
        self._secret_error: str | None = None
        self._secret: bytes | SiteSecret | None = secret
        if protect and secret is None and device is not None:
            try:
                self._secret = load_secret()
            except ConfigError as exc:
                self._secret_error = str(exc)
                self._state.error = self._secret_error
        self._writer = TagWriter(device, connect_timeout=connect_timeout_s) if device is not None else None
        self._last_change: float | None = None  # clock time of the last write that changed the tag
        self._retry_at = 0.0
        self._verified_at: float | None = None
        self._given_up: str | None = None  # a URL that can never fit this tag
        self._last_logged: str | None = None
        self._thread: threading.Thread | None = None
        if self._writer is not None:
            self._thread = threading.Thread(target=self._run, name="heatcast-nfc", daemon=True)
            self._thread.start()
        else:
            log.info("NFC: no reader configured; tag URLs are only logged")

    # -- API -----------------------------------------------------------------------------------
    def submit(self, url: str) -> None:
        """Ask for *url* to be on the tag. Never blocks; only the latest URL counts."""
        try:
            check_url(url)
        except HeatcastError as exc:
            with self._cond:
                self._state.error = str(exc)
            log.warning("NFC: %s", exc)
            return
        if self._writer is None:
            with self._cond:
                changed = self._state.wanted != url
                self._state.wanted = url
            if changed:
                log.info("NFC (no reader): would write %s", url)
            return
        with self._cond:
            if url != self._state.wanted:
                self._state.wanted = url
                self._state.verified = self._state.url == url and self._verified_at is not None
                self._cond.notify_all()

    def state(self) -> TagState:
        with self._cond:
            return dataclasses.replace(self._state)

    def take_taps(self) -> dict[str, int]:
        """Phone taps per URL (the one on the tag when they happened) since the last call."""
        with self._cond:
            return self._taps.take()

    def count_now(self) -> None:
        """Read the tap counter at the next chance (a content change, a test)."""
        with self._cond:
            self._counted_at = None
            self._cond.notify_all()

    def wait(self, predicate: Callable[[TagState], bool], timeout: float) -> TagState:
        """Wait until *predicate(state)* holds or *timeout* passes; returns the last state."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self._state):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.05))
            return dataclasses.replace(self._state)

    def close(self, timeout: float = 5.0) -> bool:
        """Stop the worker; True if it finished within *timeout* (else it is abandoned)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("NFC: the writer thread did not stop within %.1f s; abandoning it", timeout)
            return False
        return True

    def __enter__(self) -> TagService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- worker --------------------------------------------------------------------------------
    def _due(self, now: float) -> float | None:
        """When the next attempt should run, or None when there is nothing to do."""
        st = self._state
        if st.wanted is None or st.wanted == self._given_up:
            return None
        if st.verified and st.url == st.wanted:
            due_at = []
            if self.recheck_s is not None and self._verified_at is not None:
                due_at.append(max(self._verified_at + self.recheck_s, self._retry_at))
            if self._counting_due() is not None:
                due_at.append(max(self._counting_due() or 0.0, self._retry_at))
            return min(due_at) if due_at else None
        due = self._retry_at
        if self._last_change is not None and st.url != st.wanted:
            due = max(due, self._last_change + self.min_interval_s)
        return due

    def _counting_due(self) -> float | None:
        if self._state.counting is False or self._taps.full:
            return None
        if self._counted_at is None:
            return 0.0  # asked for (count_now), or never read yet
        if self.count_every_s is None:
            return None
        return self._counted_at + self.count_every_s

    def _run(self) -> None:
        assert self._writer is not None
        try:
            while True:
                with self._cond:
                    while not self._closing:
                        now = self._clock()
                        due = self._due(now)
                        if due is not None and due <= now:
                            break
                        # poll a few times a second so an injected clock is honoured too
                        wait = 0.25 if due is None else min(max(due - now, 0.005), 0.25)
                        self._cond.wait(wait)
                    if self._closing:
                        return
                    url = self._state.wanted
                    st = self._state
                    recheck = (
                        self.recheck_s is not None
                        and self._verified_at is not None
                        and self._clock() >= self._verified_at + self.recheck_s
                    )
                    count_only = st.verified and st.url == url and not recheck
                assert url is not None
                if count_only:
                    self._count()
                else:
                    self._attempt(url)
        finally:
            self._writer.close()

    def _count(self) -> None:
        """A short session that reads the tap counter only (no READ: it counts nothing itself)."""
        assert self._writer is not None
        before = self._writer.counters
        try:
            report = self._writer.count(secret=self._secret)
        except HeatcastError as exc:
            report = None
            log.debug("NFC: reading the tap counter: %s (tried again later)", exc)
        except Exception:
            report = None
            log.exception("NFC: unexpected error while reading the tap counter")
            self._writer.close()
        after = self._writer.counters
        with self._cond:
            self._state.exchanges += after[1] - before[1]
            self._counted_at = self._clock()
            if report is not None:
                self._book(report)
            self._cond.notify_all()

    def _book(self, report: TagReport) -> None:
        """Credit the taps a session saw to the URL the tag held before it (lock held)."""
        st = self._state
        if report.counter_before is None and report.counter_after is None:
            return
        taps = self._taps.session(report.uid, report.counter_before, report.counter_after, self._on_tag)
        st.counter = report.counter_after if report.counter_after is not None else report.counter_before
        st.taps += taps
        if report.counting is not None:
            st.counting = report.counting
        if self._taps.full and st.counting is not False:
            log.warning("NFC: the tag's tap counter is full (16,777,215): replace the sticker to count taps")
            st.counting = False

    def _attempt(self, url: str) -> None:
        assert self._writer is not None
        started = self._clock()
        before = self._writer.counters
        report: TagReport | None = None
        error: BaseException | None = None
        try:
            if self._secret_error is not None and self.protect:
                raise ConfigError(self._secret_error)
            report = self._writer.write_url(url, secret=self._secret, protect=self.protect)
        except HeatcastError as exc:
            error = exc
        except Exception as exc:  # a driver bug must not take the kiosk down
            log.exception("NFC: unexpected error while writing the tag")
            error = NfcError(f"unexpected NFC error: {exc!r}")
            self._writer.close()
        after = self._writer.counters
        with self._cond:
            st = self._state
            st.page_writes += after[0] - before[0]
            st.exchanges += after[1] - before[1]
            if after[0] > before[0]:
                self._last_change = started
            if report is not None:
                self._book(report)
                self._on_tag = report.url
                self._counted_at = self._clock()
                st.reader = report.reader
                st.tag_type, st.uid, st.url = report.tag_type, report.uid, report.url
                st.protected = report.protected
                st.verified = report.verified and report.url == st.wanted
                st.error = None
                st.failures = 0
                self._verified_at = self._clock()
                self._retry_at = 0.0
                if report.changed:
                    log.info(
                        "NFC: tag %s now holds %s (%d page writes, verified)",
                        report.uid,
                        url,
                        after[0] - before[0],
                    )
                self._last_logged = None
            else:
                assert error is not None
                self._record_failure(url, error)
            self._cond.notify_all()

    def _record_failure(self, url: str, error: BaseException) -> None:
        st = self._state
        st.failures += 1
        st.verified = False
        message = str(error)
        if isinstance(error, TagWriteError):
            st.url = None  # the previous URL or no message, until the tag is read again
        if isinstance(error, ReaderUnavailable):
            st.tag_type = st.uid = None
        st.error = message
        if isinstance(error, CapacityError):
            self._given_up = url  # retrying cannot help until the URL changes
        backoff = min(self.max_backoff_s, self.retry_s * 2 ** min(st.failures - 1, 16))
        if isinstance(error, (WrongPassword, ReadOnlyTag, UnsupportedTag, ConfigError)):
            backoff = self.max_backoff_s  # needs a person; check now and then
        self._retry_at = self._clock() + backoff
        if message != self._last_logged:
            log.warning("NFC: %s", message)
            self._last_logged = message
