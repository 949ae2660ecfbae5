"""``heatcast run``: frames -> audience -> content -> page and NFC tag, in one process.

Three threads, so that nothing ever holds the sensor up:

* the **sensor thread** reads frames, runs the classifier :class:`Pipeline` and
  the :class:`Decider` (both cheap, pure computation) and accumulates the current
  showing's attention figures. It only ever appends to a queue;
* the **worker thread** does everything that may block: choosing from the
  catalogue (SQLite), recording impressions, publishing to the page and handing
  URLs to the NFC :class:`TagService` (which has a thread of its own);
* the **page thread** runs uvicorn (see :mod:`heatcast.firmware.page`).

The main thread waits for SIGTERM/SIGINT, feeds the systemd watchdog while the
threads are healthy, and shuts down in order: sensor, worker (which records the
last impression), tag writer (finishing or abandoning its write), page, database.

No thermal frame is ever written anywhere: frames live only in the sensor thread.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from heatcast.classify.audience import EMPTY_AUDIENCE, Audience
from heatcast.errors import ConfigError, HeatcastError
from heatcast.firmware.config import NFC_AUTO, NFC_OFF, Config
from heatcast.firmware.fleet import Fleet
from heatcast.firmware.media import media_dir
from heatcast.firmware.page import PageHub, PageServer, Shown
from heatcast.firmware.room_memory import SAVE_EVERY_S as ROOM_SAVE_EVERY_S
from heatcast.firmware.room_memory import load_room, room_file, save_room
from heatcast.firmware.visits import ItemMemory, ShowingVisits, VisitBook
from heatcast.sensor.frame import Frame

log = logging.getLogger(__name__)

Key = tuple[int, str | None, str | None]
NOBODY: Key = (0, None, None)
#: A gap between frames longer than this is not counted as attention.
MAX_FRAME_GAP_S = 1.0
PURGE_EVERY_S = 24 * 3600.0
REOPEN_DB_EVERY_S = 30.0
PENDING_MAX = 10_000
#: A sensor that dropped out is tried again at least this often: back within 2 s of its return.
SENSOR_RETRY_MAX_S = 1.5
#: Seconds without any audience after which the page shows the attract content anyway.
NO_SENSOR_YET_S = 3.0
#: The empty room is first kept for the next start this long after the first frame (s).
ROOM_FIRST_SAVE_S = 30.0


# -- systemd --------------------------------------------------------------------


def sd_notify(state: str, env: dict[str, str] | None = None) -> bool:
    """Send ``state`` (``READY=1``, ``WATCHDOG=1``...) to systemd, if it is listening.

    The protocol is one datagram on the unix socket named by ``$NOTIFY_SOCKET``
    (a leading ``@`` means the abstract namespace); small enough to need no library.
    """
    address = (os.environ if env is None else env).get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            # Never block the kiosk on a listener that does not read (a full queue drops the ping).
            sock.setblocking(False)
            sock.send(state.encode())
    except OSError as exc:
        log.debug("sd_notify %s failed: %s", state, exc)
        return False
    return True


def watchdog_interval(env: dict[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings: half of systemd's ``WatchdogSec``, or None."""
    text = (os.environ if env is None else env).get("WATCHDOG_USEC")
    try:
        usec = int(text) if text else 0
    except ValueError:
        return None
    return usec / 2e6 if usec > 0 else None


# -- deciding when to change the content ------------------------------------------


def audience_key(audience: Audience) -> Key:
    if not audience.presence:
        return NOBODY
    return (audience.count, audience.posture, audience.orientation)


def describe(audience: Audience) -> str:
    """One line for the terminal: ``2 people, standing, facing for 6 s``."""
    if not audience.presence:
        return "nobody"
    people = (
        "4+ people"
        if audience.count >= 4
        else f"{audience.count} {'person' if audience.count == 1 else 'people'}"
    )
    parts = [people]
    if audience.posture:
        parts.append(audience.posture)
    if audience.orientation:
        parts.append(audience.orientation)
    text = ", ".join(parts)
    if audience.facing_s >= 1:
        text += f" (facing for {audience.facing_s:.0f} s)"
    return text


@dataclass(frozen=True, slots=True)
class Trigger:
    """A reason to choose content now, with the audience to choose for.

    ``reason`` is ``start``, ``arrived``, ``left``, ``changed``, ``engaged`` or ``rotate``.
    """

    reason: str
    audience: Audience


#: When several triggers wait in one batch, the first of these reasons decides: someone
#: arriving or everyone leaving changes whom the screen is for, which outranks a change
#: of the same audience; engagement only refines a choice made for people already there.
TRIGGER_PRIORITY = ("start", "arrived", "left", "changed", "engaged", "rotate", "no audience yet")


def decisive(triggers: list[Trigger]) -> Trigger:
    """The trigger a batch is decided on: the most important reason, for the freshest audience."""
    rank = {reason: i for i, reason in enumerate(TRIGGER_PRIORITY)}
    best = min(triggers, key=lambda t: rank.get(t.reason, len(rank)))
    return Trigger(best.reason, triggers[-1].audience)


class Decider:
    """Turns the per-frame audience into the few moments the content should change.

    Pure and clocked by the frames' own time ``t``, so it behaves the same on a
    live sensor, in a replay at full speed and in tests.

    * a changed audience (count, posture or orientation of the primary person)
      must stay the same for ``settle_s`` before it counts: a count flickering
      between 1 and 2 never flaps the screen;
    * someone arriving or everyone leaving triggers as soon as it has settled;
      other changes wait until the current choice has been up ``min_show_s``;
    * someone facing the screen for ``dwell_trigger_s`` triggers once ("engaged"),
      so content targeted at engaged viewers (a minimum dwell) can be chosen;
    * the same audience gets a fresh choice every ``rotate_s``.
    """

    def __init__(
        self,
        settle_s: float = 2.0,
        dwell_trigger_s: float = 5.0,
        min_show_s: float = 6.0,
        rotate_s: float = 180.0,
    ) -> None:
        self.settle_s = settle_s
        self.dwell_trigger_s = dwell_trigger_s
        self.min_show_s = min_show_s
        self.rotate_s = rotate_s
        self.shown: Key | None = None
        self.shown_at = 0.0
        self.settled: Key | None = None
        self._candidate: Key | None = None
        self._candidate_since = 0.0
        self._engaged = False
        self._last_t: float | None = None
        #: True after an update in which the settled audience changed.
        self.settled_changed = False

    def update(self, audience: Audience) -> Trigger | None:
        t = audience.t
        key = audience_key(audience)
        self.settled_changed = False
        if self._last_t is not None and t < self._last_t - 1.0:
            # The clock went back (a trace started again): start timing afresh.
            self.shown_at = t
            self._candidate_since = t
        self._last_t = t
        if key != self._candidate:
            self._candidate = key
            self._candidate_since = t
        if self.shown is None:
            return self._fire("start", audience, key)
        stable = t - self._candidate_since >= self.settle_s
        if stable and key != self.settled:
            self.settled = key
            self.settled_changed = True
        if not audience.presence or audience.facing_s < self.dwell_trigger_s:
            self._engaged = False
        if stable and key != self.shown:
            if (key == NOBODY) != (self.shown == NOBODY):
                return self._fire("left" if key == NOBODY else "arrived", audience, key)
            if t - self.shown_at >= self.min_show_s:
                return self._fire("changed", audience, key)
        # Engagement refines a choice made for people: never before their arrival has
        # settled and fired, or it would stand in for the arrival (people who arrive
        # already facing the screen would keep the content chosen for nobody).
        if (
            stable
            and self.shown != NOBODY
            and audience.presence
            and not self._engaged
            and audience.facing_s >= self.dwell_trigger_s
        ):
            self._engaged = True
            return self._fire("engaged", audience, key)
        if t - self.shown_at >= self.rotate_s:
            return self._fire("rotate", audience, self.shown)
        return None

    def _fire(self, reason: str, audience: Audience, key: Key) -> Trigger:
        if self.settled is None:
            self.settled = key
            self.settled_changed = True
        self.shown = key
        self.shown_at = audience.t
        if audience.presence and audience.facing_s >= self.dwell_trigger_s:
            # Chosen for people already engaged: an "engaged" trigger a frame later would
            # only flip the screen again.
            self._engaged = True
        return Trigger(reason, audience)


@dataclass(slots=True)
class Showing:
    """Attention figures for one showing, accumulated frame by frame (sensor thread)."""

    audience: Audience
    start_t: float
    last_t: float
    present_s: float = 0.0
    facing_s: float = 0.0
    last_present: bool = False
    visits: ShowingVisits = field(default_factory=ShowingVisits)

    def add(self, audience: Audience) -> None:
        dt = audience.t - self.last_t
        if 0 < dt <= MAX_FRAME_GAP_S and audience.presence:
            self.present_s += dt
            if audience.orientation == "facing":
                self.facing_s += dt
        self.last_t = audience.t
        self.last_present = audience.presence

    @property
    def duration_s(self) -> float:
        return max(0.0, self.last_t - self.start_t)

    def extend(self, later: Showing) -> None:
        """Take in the next stretch of the same content (a trigger that changed nothing)."""
        self.present_s += later.present_s
        self.facing_s += later.facing_s
        self.last_t = max(self.last_t, later.last_t)
        self.last_present = later.last_present
        self.visits.extend(later.visits)


# -- the parts the kiosk joins ------------------------------------------------------


class FrameSourceLike(Protocol):
    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class TagServiceLike(Protocol):
    def submit(self, url: str) -> None: ...

    def state(self) -> Any: ...

    def take_taps(self) -> dict[str, int]: ...

    def close(self, timeout: float = ...) -> object: ...


class PipelineLike(Protocol):
    def update(self, frame: Frame) -> Audience: ...


def resolve_nfc_device(config: Config) -> str | None:
    """The nfcpy path to use: None for no reader (the kiosk then only logs URLs)."""
    device = config.nfc.device
    if device == NFC_OFF:
        return None
    if device != NFC_AUTO:
        return device
    from heatcast.nfc.status import auto_device

    try:
        found = auto_device()
    except OSError:
        found = None
    if found is None:
        log.info("no NFC reader found: NFC is off, the URLs are logged instead")
    return found


def make_tag_service(config: Config, device: str | None) -> TagServiceLike:
    """The real NFC tag service for ``device`` (None: log-only)."""
    from heatcast.nfc.service import TagService

    secret: bytes | None = None
    if device is not None and config.nfc.protect:
        from heatcast.nfc.keys import ENV_SECRET, create_secret_file, default_secret_path, load_secret

        path = config.nfc.secret_file
        if path is None and not os.environ.get(ENV_SECRET) and config.nfc.device == NFC_AUTO:
            default = default_secret_path()
            if not default.exists():
                create_secret_file(default)
                log.warning("created a new NFC site secret in %s (keep a copy: it opens your tags)", default)
        secret = load_secret(path).value
    service: TagServiceLike = TagService(
        device,
        protect=config.nfc.protect,
        secret=secret,
        min_interval_s=config.nfc.min_interval_s,
        count_every_s=config.nfc.count_every_s or None,
    )
    return service


def _tag_summary(state: Any) -> tuple[Any, ...]:
    return tuple(getattr(state, name, None) for name in ("reader", "url", "verified", "protected", "error"))


# -- the kiosk ------------------------------------------------------------------------


@dataclass
class KioskStats:
    frames: int = 0
    triggers: int = 0
    changes: int = 0
    impressions: int = 0
    impressions_failed: int = 0
    sensor_errors: int = 0
    pipeline_errors: int = 0
    content_errors: int = 0
    reasons: collections.Counter[str] = field(default_factory=collections.Counter)


class Kiosk:
    """The running billboard. ``start()``, then ``wait()``/``stop()``; or ``run()`` from main.

    ``source_factory`` opens the frame source (default: ``config.sensor.source``
    with the configured mounting); it is called again after a sensor failure.
    ``tag_service`` defaults to heatcast's :class:`TagService` on the configured
    reader; ``pipeline`` to the classifier with ``config.model.path``.
    ``report`` receives the lines the terminal shows (default: the log).
    """

    def __init__(
        self,
        config: Config,
        *,
        source_factory: Callable[[], FrameSourceLike] | None = None,
        pipeline: PipelineLike | None = None,
        tag_service: TagServiceLike | None = None,
        page_port: int | None = None,
        report: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = datetime.now,
        seed: int | None = None,
    ) -> None:
        self.config = config
        self.report = report or (lambda line: log.info("%s", line))
        self.clock = clock
        self.seed = seed
        self.stats = KioskStats()
        self._source_factory = source_factory or self._open_configured_source
        self._source: FrameSourceLike | None = None
        if pipeline is None:
            from heatcast.classify.pipeline import Pipeline

            pipeline = Pipeline(config.model.path)
        self.pipeline = pipeline
        d = config.decision
        self.decider = Decider(d.settle_s, d.dwell_trigger_s, d.min_show_s, d.rotate_s)
        self._tag_given = tag_service is not None
        self.nfc_device: str | None = None
        if tag_service is None:
            self.nfc_device = resolve_nfc_device(config)
            tag_service = make_tag_service(config, self.nfc_device)
        self.tag = tag_service
        #: a reader is in use (the given service may be a log-only one)
        self.nfc_active = getattr(self.tag, "device", None) is not None
        self.hub = PageHub(
            nfc=self.nfc_active,
            retention_days=config.content.retention_days,
            reader_position=config.page.reader_position,
            shop_name=config.page.shop_name,
            media_dir=media_dir(config.db_path),
        )
        self.page: PageServer | None = None
        if config.page.enabled:
            port = config.page.port if page_port is None else page_port
            try:
                self.page = PageServer(self.hub, config.page.host, port)
            except BaseException:
                if not self._tag_given:
                    self.tag.close(timeout=1.0)
                raise
        self.panel = self._open_panel()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._wake = threading.Event()
        self._pending: collections.deque[tuple[str, Any]] = collections.deque()
        self._dropped = 0
        self._showing: Showing | None = None
        self.latest: Audience | None = None
        self.last_frame_monotonic: float | None = None
        self.current: Shown | None = None
        #: the audience the current content was chosen for: its impression's bucket
        self.chosen_for: Audience = EMPTY_AUDIENCE
        #: what the screen has shown since the content last changed, not yet recorded
        self._on_screen: Showing | None = None
        self._left = False
        #: the visits in view (sensor thread) and what each has seen (worker thread)
        self.visit_book = VisitBook()
        self._item_memory = ItemMemory()
        #: taps counted for what is on screen, and the impressions of the links shown last
        self._screen_taps = 0
        self._recorded: dict[str, int] = {}
        self._db_identity: tuple[int, int] | None = None
        self.catalogue: Any = None
        self.chooser: Any = None
        self._sensor = threading.Thread(target=self._sense, name="heatcast-sensor", daemon=True)
        self._worker = threading.Thread(target=self._work, name="heatcast-worker", daemon=True)
        self.first_decision = threading.Event()
        self._db_error: str | None = None
        self._room_path = room_file(config.data_dir)
        self._room_due: float | None = None
        self._room_error = False
        #: reporting to the chain's MQTT broker (fleet.enabled), else None
        self.fleet: Fleet | None = Fleet.for_kiosk(config)

    # -- lifecycle

    @property
    def page_url(self) -> str | None:
        return self.page.url if self.page else None

    def start(self) -> None:
        """Open the source (a bad one is an error now, not a retry loop), then start the threads."""
        if self._source is None:
            try:
                self._source = self._source_factory()
            except BaseException:
                self.close(timeout=2.0)
                raise
        self._open_catalogue()
        self._remember_room()
        if self.page:
            self.page.start()
            self.report(f"page     {self.page.url}")
        if self.panel:
            self.panel.start()
            self.report(f"panel    {self.panel.url}")
        if self.nfc_device is None and not self._tag_given:
            self.report("nfc      off: no reader (the URL is logged instead of written)")
        elif self.nfc_device is not None:
            self.report(f"nfc      reader {self.nfc_device}")
        self._worker.start()
        self._sensor.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until asked to stop or the frame source ended; True if so."""
        return self._stop.wait(timeout)

    def drain(self, timeout: float | None = None) -> bool:
        """Once stopping, wait for the worker to finish what the sensor handed it; True if done."""
        if not self._stop.is_set():
            return False
        if self._worker.is_alive():
            self._worker.join(timeout)
        return not self._worker.is_alive()

    def healthy(self) -> bool:
        alive = self._sensor.is_alive() and self._worker.is_alive()
        return alive and (self.page is None or self.page.alive)

    def close(self, timeout: float = 5.0) -> None:
        """Stop everything in order; safe to call more than once."""
        self.stop()
        deadline = time.monotonic() + timeout
        if self._sensor.is_alive():
            self._sensor.join(0.5)
        if self._sensor.is_alive():
            # Stuck waiting for a frame that does not come (a sensor off the bus):
            # closing the source from here ends its wait.
            self._close_source()
            self._sensor.join(max(0.1, deadline - time.monotonic()))
        if self._worker.is_alive():
            self._worker.join(max(0.1, deadline - time.monotonic()))
        fleet, self.fleet = self.fleet, None
        if fleet is not None:  # after the worker: the last impression is in the last minute sent
            fleet.close(timeout=max(0.5, min(3.0, deadline - time.monotonic())))
        try:
            self.tag.close(timeout=max(0.5, min(3.0, deadline - time.monotonic())))
        except Exception:
            log.exception("closing the NFC tag service")
        if self.page:
            self.page.stop(timeout=max(0.5, deadline - time.monotonic()))
        if self.panel:
            self.panel.stop(timeout=max(0.5, deadline - time.monotonic()))
        if self._source is not None:
            try:
                self._source.close()
            except Exception:
                log.debug("closing the frame source", exc_info=True)
        if self.catalogue is not None:
            try:
                self.catalogue.close()
            except Exception:
                log.debug("closing the catalogue", exc_info=True)
            self.catalogue = None
        self._done.set()

    def run(self, *, handle_signals: bool = True) -> int:
        """Run until SIGTERM/SIGINT or the end of the frame source; the exit status."""
        previous: dict[signal.Signals, Any] = {}
        if handle_signals:

            def on_signal(signum: int, frame: FrameType | None) -> None:
                log.info("signal %d: stopping", signum)
                self.stop()

            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, on_signal)
        try:
            self.start()
            sd_notify("READY=1")
            ping = watchdog_interval()
            stale_logged = False
            while not self._stop.wait(min(ping or 1.0, 1.0)):
                if self._done.is_set():
                    break
                if ping and self.healthy():
                    sd_notify("WATCHDOG=1")
                last = self.last_frame_monotonic
                stale = last is not None and time.monotonic() - last > 10.0
                if stale and not stale_logged:
                    log.warning("no frame from the sensor for 10 s; showing the last choice meanwhile")
                stale_logged = stale
            sd_notify("STOPPING=1")
        finally:
            self.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def _open_panel(self) -> Any:
        """The shop owner's panel (None until `heatcast panel passwd`), bound now like the page."""
        from heatcast.firmware.panel import open_panel

        try:
            return open_panel(self)
        except BaseException:
            if self.page:
                self.page.stop(timeout=0.5)
            if not self._tag_given:
                self.tag.close(timeout=1.0)
            raise

    # -- the empty room, kept across restarts

    def _remember_room(self) -> None:
        remember = getattr(self.pipeline, "remember_room", None)
        if remember is None:
            return
        s = self.config.sensor
        values = load_room(self._room_path, s.source, s.rotate, s.mirror)
        if values is None:
            return
        try:
            remember(values)
        except ValueError as exc:
            log.warning("room memory %s ignored: %s; starting cold", self._room_path, exc)
            return
        self.report(f"room     remembered from {self._room_path}")

    def _offer_room(self, t: float) -> None:
        # Sensor thread: take the empty room when it is due and the room is empty; the worker writes it.
        if self._room_due is None:
            self._room_due = t + ROOM_FIRST_SAVE_S
        if t < self._room_due:
            return
        empty_room = getattr(self.pipeline, "empty_room", None)
        values = empty_room() if empty_room is not None else None
        if values is not None:
            self._room_due = t + ROOM_SAVE_EVERY_S
            self._push("room", values)

    def _save_room(self, values: list[float | None]) -> None:
        s = self.config.sensor
        try:
            save_room(self._room_path, values, s.source, s.rotate, s.mirror, self.clock())
        except OSError as exc:
            if not self._room_error:
                log.warning("cannot keep the empty room in %s (%s); a restart will start cold",
                            self._room_path, exc.strerror or exc)  # fmt: skip
            self._room_error = True
            return
        self._room_error = False

    # -- sensor thread

    def _open_configured_source(self) -> FrameSourceLike:
        from heatcast.sensor.sources import Mount, open_source

        mount = Mount(self.config.sensor.rotate, self.config.sensor.mirror)
        source: FrameSourceLike = open_source(self.config.sensor.source, mount=mount)
        return source

    def _push(self, kind: str, payload: Any) -> None:
        if len(self._pending) >= PENDING_MAX:
            self._pending.popleft()
            self._dropped += 1
        self._pending.append((kind, payload))
        self._wake.set()

    def _sense(self) -> None:
        backoff = 0.5
        error_streak = 0
        pipeline_streak = 0
        try:
            while not self._stop.is_set():
                try:
                    if self._source is None:
                        self._source = self._source_factory()
                    for frame in self._source:
                        self.last_frame_monotonic = time.monotonic()
                        self.stats.frames += 1
                        try:
                            audience = self.pipeline.update(frame)
                        except Exception:
                            self.stats.pipeline_errors += 1
                            if pipeline_streak == 0:
                                log.exception("the classifier failed on a frame; skipping such frames")
                            pipeline_streak += 1
                            continue
                        pipeline_streak = 0
                        error_streak = 0
                        backoff = 0.5
                        self._on_audience(audience)
                        if self._stop.is_set():
                            break
                    else:
                        if not self._stop.is_set():
                            self.report("sensor   the frame source ended; stopping")
                        break
                except (HeatcastError, OSError, ValueError) as exc:
                    self.stats.sensor_errors += 1
                    if error_streak == 0:
                        log.error("sensor: %s; retrying", exc)
                    error_streak += 1
                    self._close_source()
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, SENSOR_RETRY_MAX_S)
        except Exception:
            log.exception("the sensor loop failed")
        finally:
            self._stop.set()
            self._wake.set()

    def _close_source(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            try:
                source.close()
            except Exception:
                log.debug("closing the frame source", exc_info=True)

    def _on_audience(self, audience: Audience) -> None:
        self.latest = audience
        self._offer_room(audience.t)
        showing = self._showing
        if showing is not None:
            showing.add(audience)
        trigger = self.decider.update(audience)
        settled = self.decider.settled
        self.visit_book.update(audience.t, settled[0] if settled else 0, audience.orientation == "facing")
        if self.decider.settled_changed:
            self._push("audience", audience)
        if trigger is not None:
            if showing is not None:
                showing.visits = self.visit_book.next_showing()
            else:
                self.visit_book.next_showing()
            self.stats.triggers += 1
            self.stats.reasons[trigger.reason] += 1
            self._showing = Showing(audience, audience.t, audience.t, last_present=audience.presence)
            self._push("trigger", (trigger, showing))

    # -- worker thread

    def _open_catalogue(self) -> bool:
        from heatcast.firmware.catalogue import Catalogue
        from heatcast.firmware.chooser import Chooser

        try:
            self.catalogue = Catalogue.open_or_copy(self.config.db_path)
            self.catalogue.reward_mode = self.config.chooser.reward
            self.chooser = Chooser(self.catalogue, seed=self.seed)
            self._db_identity = _file_identity(self.config.db_path)
        except HeatcastError as exc:
            self._content_error(str(exc))
            return False
        self._db_error = None
        self.report(f"database {self.config.db_path}")
        return True

    def _check_catalogue_file(self) -> None:
        """A catalogue deleted or replaced under the running kiosk is noticed and opened again
        (SQLite would go on writing into the deleted file, and those impressions would be lost)."""
        if self.catalogue is None:
            return
        now = _file_identity(self.config.db_path)
        if now == self._db_identity:
            return
        path = self.config.db_path
        if now is None:
            cause = "was deleted: a new one is made from the catalogue shipped with heatcast"
        else:
            cause = "was replaced by another file: that one is used from now on"
        self.report(f"content  {path} {cause}")
        try:
            self.catalogue.close()
        except Exception:
            log.debug("closing the old catalogue", exc_info=True)
        self.catalogue = self.chooser = None
        self._recorded.clear()
        self._open_catalogue()

    def _content_error(self, message: str) -> None:
        self.stats.content_errors += 1
        if message != self._db_error:
            log.error("content: %s; keeping the last good choice", message)
            self._db_error = message

    def _work(self) -> None:
        last_purge = -float("inf")  # purge at start, then daily
        last_reopen = time.monotonic()
        last_tag: tuple[Any, ...] | None = None
        last_tag_check = 0.0
        started = time.monotonic()
        try:
            while True:
                self._wake.wait(1.0)
                self._wake.clear()
                now_mono = time.monotonic()
                if self.catalogue is None and now_mono - last_reopen >= REOPEN_DB_EVERY_S:
                    last_reopen = now_mono
                    self._open_catalogue()
                if self.catalogue is not None and now_mono - last_purge >= PURGE_EVERY_S:
                    last_purge = now_mono
                    self._purge()
                if now_mono - last_tag_check >= 0.5:
                    last_tag_check = now_mono
                    last_tag = self._watch_tag(last_tag)
                    self._check_catalogue_file()
                if self.fleet is not None:
                    self.fleet.tick(self)
                if not self._handle_pending() and (
                    self.stats.triggers == 0
                    and self.hub.seq == 0
                    and now_mono - started >= NO_SENSOR_YET_S
                    and not self._stop.is_set()
                ):
                    # No audience yet (a slow or failing sensor): show the attract content
                    # rather than a blank screen; the first audience decides as usual.
                    self._choose(Trigger("no audience yet", EMPTY_AUDIENCE))
                if self._stop.is_set() and not self._pending:
                    break
            self._finish_showing()
        except Exception:
            log.exception("the kiosk worker failed")
            self._stop.set()

    def _finish_showing(self) -> None:
        """The kiosk stops: what is on screen becomes its impression."""
        self._credit_taps()
        if self._showing is not None and self.latest is not None:
            self._showing.visits = self.visit_book.next_showing()
            self._watched(self._showing, left=not self.latest.presence)
            self._showing = None
        self._record_on_screen()

    def _handle_pending(self) -> bool:
        """Act on what the sensor thread queued since last time; False if it held no trigger.

        Every trigger of the batch is considered: the content is chosen once, on the most
        important of them (:func:`decisive`), so a batch never flips the screen twice.
        """
        triggers: list[Trigger] = []
        while self._pending:
            kind, payload = self._pending.popleft()
            if kind == "audience":
                self.report(f"audience {describe(payload)}")
            elif kind == "room":
                self._save_room(payload)
            else:
                trigger, closed = payload
                if closed is not None:
                    self._watched(closed, left=trigger.reason == "left")
                triggers.append(trigger)
        if self._dropped:
            log.warning("the worker fell behind: %d sensor events dropped", self._dropped)
            self._dropped = 0
        if triggers:
            self._choose(decisive(triggers))
        return bool(triggers)

    def _purge(self) -> None:
        try:
            self.catalogue.purge(self.config.content.retention_days, now=self.clock())
        except HeatcastError as exc:
            self._content_error(str(exc))

    def _watched(self, showing: Showing, *, left: bool) -> None:
        """A stretch of the current content has ended: add it to what the screen showed."""
        self._left = left
        if self._on_screen is None:
            self._on_screen = showing
        else:
            self._on_screen.extend(showing)

    def _record_on_screen(self) -> None:
        """The content changes (or the kiosk stops): its showing becomes one impression,
        in the bucket of the audience it was chosen for."""
        showing, self._on_screen = self._on_screen, None
        if showing is None or self.current is None or self.current.content_id is None:
            return
        if self.catalogue is None:
            return
        from heatcast.firmware.catalogue import Impression

        end = self.clock()
        duration = showing.duration_s
        start = end - timedelta(seconds=duration)
        a = self.chosen_for
        present = a.presence
        visits = self._item_memory.count(self.current.content_id, showing.visits, watchable=present)
        self._credit_taps()
        counting = self.nfc_active and getattr(self.tag.state(), "counting", None) is True
        taps, self._screen_taps = self._screen_taps, 0
        impression = Impression(
            content_id=self.current.content_id,
            count=a.count if present else 0,
            posture=a.posture if present else None,
            orientation=a.orientation if present else None,
            start=start,
            end=end,
            # Content chosen for nobody is never counted as watched: whoever arrived
            # during it is the audience of what was chosen for them next.
            dwell_s=min(showing.present_s, duration) if present else 0.0,
            facing_s=min(showing.facing_s, duration) if present else 0.0,
            stayed=present and showing.last_present and not self._left,
            visits_at_start=visits.at_start,
            arrivals=visits.arrivals,
            ots=visits.ots,
            watchers=visits.watchers,
            taps=taps if counting or taps else None,
        )
        try:
            ok = self.catalogue.record_impression(impression)
        except HeatcastError as exc:  # record_impression logs and returns False; belt and braces
            self._content_error(str(exc))
            ok = False
        if not ok:
            from heatcast.firmware.catalogue import file_problem

            problem = file_problem(self.config.db_path)
            if problem is not None:  # say what is really wrong, once, with its fix
                self._content_error(f"{self.config.db_path} {problem[0]}: {problem[1]}")
        if ok:
            self.stats.impressions += 1
            if self.fleet is not None:
                self.fleet.impression(impression, self.current.url)
            if self.catalogue.last_impression_id is not None:
                self._recorded[self.current.url] = self.catalogue.last_impression_id
                while len(self._recorded) > 8:  # only the last few links can still get taps
                    del self._recorded[next(iter(self._recorded))]
        else:
            self.stats.impressions_failed += 1

    def _choose(self, trigger: Trigger) -> None:
        if self.chooser is None and not self._open_catalogue():
            return
        try:
            # Cheap, and where a corrupt or vanished file shows first: then keep what is shown.
            self.catalogue.revision()
            item = self.chooser.choose(trigger.audience, self.clock())
        except Exception as exc:  # a corrupt or vanished file: keep showing what we have
            self._content_error(
                str(exc) if isinstance(exc, HeatcastError) else f"{type(exc).__name__}: {exc}"
            )
            return
        if self._db_error is not None:
            self.report("content  the catalogue works again")
            self._db_error = None
        self.first_decision.set()
        if item is None:
            if self.current is not None or self.hub.seq == 0:
                self._record_on_screen()
                self.current = None
                self.hub.publish(None)
                self.report("content  nothing to show: the catalogue has no active item")
            return
        shown = Shown(item.id, item.title, item.url, item.poster, item.video, "example" in item.tags)
        if self.current is not None and shown == self.current:
            return
        if (
            trigger.reason == "engaged"
            and self.current is not None
            and self.chosen_for.presence
            and item.targeting.min_dwell_s <= 0
        ):
            # Someone is watching what was chosen for them: switch only to content made for
            # engaged viewers, never away from what holds their attention to more of the same.
            self.chooser.last_id = self.current.content_id
            return
        self._record_on_screen()
        self.current = shown
        self.chosen_for = trigger.audience
        self.stats.changes += 1
        self.hub.publish(shown)
        self.tag.submit(shown.url)
        self.report(f"content  {shown.title} {shown.url} ({trigger.reason}: {describe(trigger.audience)})")

    def _credit_taps(self) -> None:
        """Taps the tag counted go to the showing whose link the tag held: the one on screen, or
        one just recorded (the count of a content change comes after its impression)."""
        try:
            taps = self.tag.take_taps()
        except Exception:
            return
        for url, n in taps.items():
            if self.current is not None and url == self.current.url:
                self._screen_taps += n
            elif url in self._recorded and self.catalogue is not None:
                self.catalogue.add_taps(self._recorded[url], n)
            else:
                log.debug("%d taps for %s, shown too long ago to credit", n, url)

    def _watch_tag(self, last: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
        self._credit_taps()
        try:
            state = self.tag.state()
        except Exception:
            return last
        summary = _tag_summary(state)
        if self.nfc_active:
            shown = self.current.url if self.current else None
            self.hub.set_tag_ready(bool(shown) and summary[1] == shown and bool(summary[2]))
        if summary != last:
            self.hub.set_status(
                tag_reader=summary[0], tag_url=summary[1], tag_verified=bool(summary[2]),
                tag_protected=bool(summary[3]), tag_error=summary[4],
            )  # fmt: skip
        if summary != last and (last is not None or any(summary[1:])):
            _reader, url, verified, protected, error = summary
            if error:
                self.report(f"tag      {error}")
            elif url:
                flags = ", ".join(
                    word for word, on in (("verified", verified), ("protected", protected)) if on
                )
                self.report(f"tag      holds {url}" + (f" ({flags})" if flags else ""))
        return summary


def _file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of a file, None if it is not there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def ensure_data_dir(path: Path) -> None:
    """The data folder exists and this user may write in it: else the kiosk stops at start,
    rather than run a screen that can never record anything."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create data_dir {path} ({exc.strerror}): set data_dir to a folder heatcast may write"
        ) from None
    from heatcast.firmware.catalogue import current_user

    # Asked of the kernel, not tried: the kiosk writes nothing but its own files there.
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(
            f"cannot write in data_dir {path} (permission denied): let the user {current_user()} write "
            f"there (sudo chown {current_user()} {path}), or set data_dir to a folder it may write"
        )

