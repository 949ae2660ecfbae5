"""The shop owner's panel: content, schedules, the live audience and the reports, in a browser.

A second Starlette app in the kiosk process, on its own port (``panel.host`` and
``panel.port``, this machine only by default), apart from the public billboard
page. It is off until the owner sets a password with ``heatcast panel passwd``,
kept as a scrypt hash (random salt, parameters stored with it) in the data
directory, readable by its owner only.

How it is kept to the owner:

* sessions are random server-side tokens in an HttpOnly, SameSite=Strict cookie
  (Secure when served over https); they end after :data:`SESSION_IDLE_S` idle,
  at logout, when the kiosk restarts and when the password changes;
* every POST must come from the panel's own pages: its Origin (else Referer)
  must be the panel's, and it must carry the session's CSRF token;
* :data:`MAX_FAILURES` wrong passwords in a row lock logins for :data:`LOCK_S`
  seconds (attempts are checked one at a time, so parallel guesses gain nothing);
* request bodies are bounded: a form's fields to :data:`FORM_MAX` bytes, an upload
  to the media limits of :mod:`heatcast.firmware.media`, streamed to a temporary
  file in the catalogue's media folder with a running size check (never read into
  memory), then checked and stored by :func:`heatcast.firmware.media.store` under
  its hash; the name the browser gives a file is never used;
* pages are HTML drawn on the server, charts are SVG drawn here: no script at all,
  nothing loaded from elsewhere.

The panel sees the audience only as the kiosk's counts (:class:`Audience`); no
thermal frame ever reaches it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import html
import logging
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import IO, Any, Protocol

from heatcast.classify.audience import EMPTY_AUDIENCE, Audience
from heatcast.errors import ConfigError, ContentError, HeatcastError, UsageError
from heatcast.firmware.catalogue import DAYS, Catalogue, ContentItem, Schedule, Targeting
from heatcast.firmware.config import Config
from heatcast.firmware.media import MAX_BYTES, Kind, mime_of, store
from heatcast.firmware.page import PageHub
from heatcast.firmware.web import WebServer
from heatcast.sensor.trace import ORIENTATIONS, POSTURES

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static") / "panel"
PASSWORD_FILE = "panel-password"
MIN_PASSWORD = 8
#: scrypt's cost: about 16 MB and a tenth of a second on a Raspberry Pi 4.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_HASH = re.compile(r"scrypt\$(\d+)\$(\d+)\$(\d+)\$([0-9a-f]{32})\$([0-9a-f]{64})")
#: Wrong passwords in a row that lock logins, and for how long (s).
MAX_FAILURES = 5
LOCK_S = 300.0
SESSION_IDLE_S = 12 * 3600.0
#: Sessions kept at once (not logged in: one per visit to the login page).
MAX_SESSIONS = 64
COOKIE = "heatcast_panel"
#: A form's fields, all together (an upload's files have the media limits).
FORM_MAX = 64 * 1024
MAX_FIELDS = 200
#: Items the content list shows at once.
LIST_MAX = 500


# -- the password ---------------------------------------------------------------------


def password_path(data_dir: Path) -> Path:
    """Where the panel's password hash is kept."""
    return Path(data_dir) / PASSWORD_FILE


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=2**27, dklen=32)


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$N$r$p$salt$hash`` (hex), with a fresh random salt."""
    salt = secrets.token_bytes(16)
    return f"scrypt${n}${r}${p}${salt.hex()}${_scrypt(password, salt, n, r, p).hex()}"


def _parse_hash(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    match = _HASH.fullmatch(stored.strip())
    if not match:
        return None
    n, r, p = (int(match.group(i)) for i in (1, 2, 3))
    # Bounded, so a tampered file cannot make a login take the Pi's memory.
    if n < 2**10 or n > 2**17 or n & (n - 1) or not 1 <= r <= 16 or not 1 <= p <= 4 or 128 * r * n > 2**26:
        return None
    return n, r, p, bytes.fromhex(match.group(4)), bytes.fromhex(match.group(5))


def verify_password(password: str, stored: str) -> bool:
    parsed = _parse_hash(stored)
    if parsed is None:
        return False
    n, r, p, salt, digest = parsed
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), digest)


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UsageError(
            f"the panel password must have at least {MIN_PASSWORD} characters: choose a longer one"
        )
    if password != password.strip() or not password.isprintable():
        raise UsageError("the panel password must be printable, without spaces at its ends: choose another")


def set_password(data_dir: Path, password: str) -> Path:
    """Keep the hash of ``password`` in the data directory (mode 600, replaced atomically)."""
    check_new_password(password)
    path = password_path(data_dir)
    text = hash_password(password) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{PASSWORD_FILE}-", dir=path.parent)  # created 0600
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(text)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the panel password to {path} ({exc.strerror or exc}): "
            "run as the kiosk's user, or check data_dir"
        ) from None
    return path


def read_password(data_dir: Path) -> str | None:
    """The stored hash, or None when no password is set."""
    path = password_path(data_dir)
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read the panel password {path} ({getattr(exc, 'strerror', None) or exc}): "
            "set it again with `heatcast panel passwd`"
        ) from None
    if _parse_hash(text) is None:
        raise ConfigError(
            f"{path} is not a heatcast panel password: set it again with `heatcast panel passwd`"
        )
    return text


def remove_password(data_dir: Path) -> bool:
    """Turn the panel off (at the kiosk's next start); False if it had no password."""
    try:
        password_path(data_dir).unlink()
    except FileNotFoundError:
        return False
    return True


# -- sessions and logins ------------------------------------------------------------------


@dataclass(slots=True)
class Session:
    token: str
    csrf: str
    seen: float
    #: the password hash it logged in with (None: not logged in); a new password ends it
    password: str | None = None

    @property
    def user(self) -> bool:
        return self.password is not None


class Guard:
    """The panel's sessions and its login lock. Thread-safe; ``clock`` is monotonic seconds."""

    def __init__(
        self,
        data_dir: Path,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_failures: int = MAX_FAILURES,
        lock_s: float = LOCK_S,
        idle_s: float = SESSION_IDLE_S,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.clock = clock
        self.max_failures = max_failures
        self.lock_s = lock_s
        self.idle_s = idle_s
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        #: one password check at a time: parallel guesses wait their turn, and the lock
        self._checking = threading.Lock()
        self._failures = 0
        self._locked_until = 0.0
        self._failed_for: str | None = None
        self._cache: tuple[tuple[int, int, int], str | None] | None = None

    def stored(self) -> str | None:
        """The current password hash (re-read when the file changes), None if there is none."""
        path = password_path(self.data_dir)
        try:
            st = path.stat()
        except OSError:
            return None
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        try:
            value = read_password(self.data_dir)
        except ConfigError as exc:
            log.error("panel: %s", exc)
            value = None
        self._cache = (key, value)
        return value

    def new_session(self, password: str | None = None) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), self.clock(), password)
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                # Drop the longest idle, visitors of the login page first.
                oldest = min(self._sessions.values(), key=lambda s: (s.user, s.seen))
                del self._sessions[oldest.token]
            self._sessions[session.token] = session
        return session

    def session(self, token: str | None) -> Session | None:
        """The live session of a cookie, or None (unknown, idle too long, or of an old password)."""
        if not token:
            return None
        now = self.clock()
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if now - session.seen > self.idle_s:
                del self._sessions[token]
                return None
        if session.user and session.password != self.stored():
            self.end(token)
            return None
        session.seen = now
        return session

    def end(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(token, None)

    def locked_for(self) -> float:
        """Seconds until logins open again (0: open)."""
        self._forget_if_new_password()
        return max(0.0, self._locked_until - self.clock())

    def _forget_if_new_password(self) -> None:
        # Setting a new password on the kiosk opens a locked panel at once.
        if self._failed_for is not None and self._failed_for != self.stored():
            self._failures, self._locked_until, self._failed_for = 0, 0.0, None

    def login(self, password: str) -> tuple[Session | None, str]:
        """A logged-in session, or None and why not (slow on purpose: scrypt)."""
        with self._checking:
            stored = self.stored()
            if stored is None:
                return None, "the panel has no password: set one on the kiosk with `heatcast panel passwd`"
            wait = self.locked_for()
            if wait > 0:
                return None, self.locked_message(wait)
            if verify_password(password, stored):
                self._failures, self._failed_for = 0, None
                return self.new_session(stored), ""
            self._failures += 1
            self._failed_for = stored
            left = self.max_failures - self._failures
            if left <= 0:
                self._failures = 0
                self._locked_until = self.clock() + self.lock_s
                log.warning("panel: %d wrong passwords; logins are locked for %s", self.max_failures,
                            _minutes(self.lock_s))  # fmt: skip
                return None, self.locked_message(self.lock_s)
            return None, (
                f"Wrong password. {left} more wrong {'try' if left == 1 else 'tries'} "
                f"lock logins for {_minutes(self.lock_s)}."
            )

    def locked_message(self, wait: float) -> str:
        return (
            f"Too many wrong passwords: logins are locked for {_minutes(self.lock_s)} "
            f"({_minutes(wait)} left). Wait, or set a new password on the kiosk with `heatcast panel passwd`."
        )


def _minutes(seconds: float) -> str:
    seconds = max(1, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = (seconds + 59) // 60
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


# -- reading requests -----------------------------------------------------------------------


class Refused(Exception):
    """A request the panel will not act on: answered with ``status`` and ``message``."""

    def __init__(self, status: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        #: the body is left unread and may be big: close the connection rather than drain it
        self.close = close


@dataclass
class Form:
    """A POSTed form: its fields, and its files as temporary files in the media folder."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0].strip() if values else default

    def getall(self, name: str) -> list[str]:
        return [v.strip() for v in self.fields.get(name, []) if v.strip()]

    def discard(self) -> None:
        for path in self.files.values():
            with contextlib.suppress(OSError):
                path.unlink()
        self.files.clear()


def own_origin(request: Any) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


def same_origin(request: Any) -> bool:
    """Whether a POST comes from the panel's own pages (Origin, else Referer; neither: refused)."""
    own = own_origin(request)
    origin = request.headers.get("origin")
    if origin is not None:
        return bool(hmac.compare_digest(origin, own))
    referer = request.headers.get("referer")
    return bool(referer) and (referer == own or referer.startswith(own + "/"))


def _declared_length(request: Any, limit: int, what: str) -> None:
    """Refuse a body longer than ``limit`` before reading any of it (browsers always say how long)."""
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise Refused(411, "the panel takes only forms that say how long they are", close=True)
    if int(declared) > limit:
        raise Refused(
            413, f"{what} is {_size(int(declared))}, more than the panel takes ({_size(limit)})",
            close=True,
        )  # fmt: skip


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n / 1024:.0f} KB"


def big_body(request: Any) -> bool:
    """Whether a request's body is too long to drain when it is refused unread."""
    declared = request.headers.get("content-length")
    return declared is None or not declared.isdigit() or int(declared) > FORM_MAX


async def read_urlencoded(request: Any, csrf: str) -> Form:
    from urllib.parse import parse_qs

    _declared_length(request, FORM_MAX, "the form")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_MAX:
            raise Refused(413, f"the form is bigger than {FORM_MAX // 1024} KB")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "the form is not UTF-8") from None
    fields = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    form = Form(fields)
    _check_csrf(form.get("csrf"), csrf)
    return form


def _check_csrf(given: str, expected: str) -> None:
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Refused(403, "this form has expired or came from elsewhere: reload the page and send it again")


class _Multipart:
    """python-multipart's streaming parser, feeding file parts into temporary files with a size check."""

    def __init__(self, csrf: str, folder: Path | None) -> None:
        self.csrf = csrf
        self.folder = folder  # None: this form takes no files
        self.form = Form()
        self.csrf_ok = False
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._name = ""
        self._kind: Kind | None = None
        self._data = bytearray()
        self._file: IO[bytes] | None = None
        self._tmp: Path | None = None
        self._size = 0
        self._field_bytes = 0
        self._parts = 0

    def on_part_begin(self) -> None:
        self._disposition = b""
        self._data = bytearray()
        self._kind = None
        self._size = 0
        self._parts += 1
        if self._parts > MAX_FIELDS:
            raise Refused(413, "the form has too many fields")

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self._disposition)
        try:
            self._name = options[b"name"].decode("utf-8")
        except (KeyError, UnicodeDecodeError):
            raise Refused(400, "a form part has no field name") from None
        if b"filename" not in options:
            return
        # A file: only the poster and video of an item form, only after its CSRF token,
        # once each; the name the browser gives it is never used.
        if self.folder is None or self._name not in MAX_BYTES:
            raise Refused(400, f"this form takes no file {self._name!r}")
        if not self.csrf_ok:
            _check_csrf("", self.csrf)
        if self._name in self.form.files:
            raise Refused(400, f"the form has two {self._name} files; give one")
        self._kind = "poster" if self._name == "poster" else "video"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=self.folder)
        except OSError as exc:
            raise Refused(
                507, f"cannot keep the upload in {self.folder} ({exc.strerror}): free some space"
            ) from None
        self._tmp = Path(tmp)
        self._file = os.fdopen(fd, "wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        size = end - start
        if self._file is not None and self._kind is not None:
            self._size += size
            limit = MAX_BYTES[self._kind]
            if self._size > limit:
                raise Refused(413, f"the {self._kind} is bigger than {_size(limit)}: make it smaller")
            try:
                self._file.write(data[start:end])
            except OSError as exc:
                raise Refused(507, f"no room for the {self._kind} in {self.folder} ({exc.strerror}): "
                                   "free some space on the kiosk") from None  # fmt: skip
            return
        self._field_bytes += size
        if self._field_bytes > FORM_MAX:
            raise Refused(413, f"the form's fields are bigger than {FORM_MAX // 1024} KB")
        self._data += data[start:end]

    def on_part_end(self) -> None:
        if self._file is not None and self._tmp is not None:
            self._file.close()
            self._file = None
            if self._size:
                self.form.files[self._name] = self._tmp
            else:  # the file input was left empty
                self._tmp.unlink()
            self._tmp = None
            return
        try:
            value = self._data.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(400, f"the form's field {self._name!r} is not UTF-8") from None
        self.form.fields.setdefault(self._name, []).append(value)
        if self._name == "csrf":
            _check_csrf(value, self.csrf)
            self.csrf_ok = True

    def abandon(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.unlink()
            self._tmp = None
        self.form.discard()


async def read_multipart(request: Any, csrf: str, folder: Path | None) -> Form:
    """A multipart form; its files (only when ``folder`` is given) streamed into ``folder``."""
    from python_multipart import MultipartParser
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import parse_options_header

    limit = FORM_MAX + (sum(MAX_BYTES.values()) + 64 * 1024 if folder is not None else 0)
    _declared_length(request, limit, "the upload")
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise Refused(400, "the form has no multipart boundary")
    parts = _Multipart(csrf, folder)
    callbacks: Any = {
        name: getattr(parts, name)
        for name in (
            "on_part_begin", "on_part_data", "on_part_end", "on_header_field",
            "on_header_value", "on_header_end", "on_headers_finished",
        )
    }  # fmt: skip
    parser = MultipartParser(boundary, callbacks)
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        if not parts.csrf_ok:
            _check_csrf("", csrf)
    except FormParserError as exc:
        parts.abandon()
        raise Refused(400, f"the form is not valid multipart ({exc})") from None
    except BaseException:
        parts.abandon()
        raise
    return parts.form


# -- the kiosk, as the panel sees it ----------------------------------------------------------


class KioskLike(Protocol):
    """What the panel reads from the kiosk: its configuration, page and audience (counts only)."""

    @property
    def config(self) -> Config: ...

    @property
    def hub(self) -> PageHub: ...

    @property
    def latest(self) -> Audience | None: ...

    @property
    def clock(self) -> Callable[[], datetime]: ...


# -- HTML ----------------------------------------------------------------------------------------


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


NAV = (("/content", "Content"), ("/content/new", "Add"), ("/preview", "Schedule preview"),
       ("/audience", "Audience"), ("/reports", "Reports"))  # fmt: skip


def layout(title: str, body: str, session: Session | None, *, refresh: int | None = None) -> str:
    head = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    nav = ""
    if session is not None and session.user:
        links = "".join(f'<a href="{href}">{esc(text)}</a>' for href, text in NAV)
        nav = (
            f'<nav>{links}<form method="post" action="/logout" class="inline">'
            f"{csrf_input(session)}<button>Log out</button></form></nav>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'{head}<title>{esc(title)} · heatcast panel</title><link rel="stylesheet" href="/panel.css">'
        f'</head><body><header><strong>heatcast</strong> panel</header>{nav}<main><h1>{esc(title)}</h1>'
        f"{body}</main></body></html>"
    )


def csrf_input(session: Session) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(session.csrf)}">'


def security_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": (
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }


def targeting_text(t: Targeting) -> str:
    if t.attract:
        return "nobody there (attract loop)"
    who = "1 person" if t.people_min == t.people_max == 1 else f"{t.people_min}-{t.people_max} people"
    if t.people_max == 4:
        who = f"{t.people_min}+ people" if t.people_min > 1 else "anyone"
    parts = [who, *t.postures, *t.orientations]
    if t.min_dwell_s:
        parts.append(f"after {t.min_dwell_s:g} s")
    return ", ".join(parts)


def schedule_text(s: Schedule) -> str:
    parts = [s.days_text or "every day", s.hours_text or "all day"]
    if s.date_from or s.date_to:
        parts.append(f"{s.date_from or '…'} to {s.date_to or '…'}")
    return ", ".join(parts)


def _checkbox(name: str, value: str, checked: bool, label: str) -> str:
    on = " checked" if checked else ""
    box = f'<input type="checkbox" name="{name}" value="{esc(value)}"{on}>'
    return f'<label class="check">{box} {esc(label)}</label>'


def item_values(item: ContentItem | None) -> dict[str, list[str]]:
    """The form's fields for an item (a new item's defaults)."""
    if item is None:
        return {"people": ["1-4"], "weight": ["1"], "active": ["1"]}
    t, s = item.targeting, item.schedule
    to = f"{s.time_to:%H:%M}" if s.time_to else ""
    if s.time_to is not None and s.time_to.second == 59:
        to = "24:00"  # the end of the day, as the owner wrote it
    values = {
        "title": [item.title], "url": [item.url], "description": [item.description],
        "tags": [", ".join(item.tags)], "people": [t.people], "postures": list(t.postures),
        "orientations": list(t.orientations), "dwell": [f"{t.min_dwell_s:g}"],
        "days": [DAYS[d] for d in s.days], "hours_from": [f"{s.time_from:%H:%M}" if s.time_from else ""],
        "hours_to": [to], "date_from": [s.date_from.isoformat() if s.date_from else ""],
        "date_to": [s.date_to.isoformat() if s.date_to else ""], "weight": [f"{item.weight:g}"],
    }  # fmt: skip
    if item.active:
        values["active"] = ["1"]
    return values


def item_form(action: str, session: Session, values: dict[str, list[str]], item: ContentItem | None,
              error: str = "") -> str:  # fmt: skip
    def v(name: str) -> str:
        got = values.get(name)
        return esc(got[0]) if got else ""

    def text(name: str, label: str, hint: str = "", kind: str = "text", required: bool = False) -> str:
        req = " required" if required else ""
        small = f"<small>{esc(hint)}</small>" if hint else ""
        return (
            f'<label>{esc(label)} <input type="{kind}" name="{name}" value="{v(name)}"{req}></label>{small}'
        )

    chosen = {k: set(values.get(k, [])) for k in ("postures", "orientations", "days")}
    media = ""
    if item is not None and (item.poster or item.video):
        have = [f'<img src="/media/{esc(item.poster)}" alt="poster" class="thumb">'] if item.poster else []
        if item.video:
            have.append(f"<span>video {esc(item.video)}</span>")
        removers = [_checkbox(f"remove_{k}", "1", False, f"remove the {k}") for k in ("poster", "video")
                    if getattr(item, k)]  # fmt: skip
        media = f'<p class="have">Now: {" ".join(have)} (a new file replaces it) {"".join(removers)}</p>'
    error_html = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    poster_mb, video_mb = _size(MAX_BYTES["poster"]), _size(MAX_BYTES["video"])
    return (
        f'{error_html}<form method="post" action="{esc(action)}" enctype="multipart/form-data" class="item">'
        f"{csrf_input(session)}"
        "<fieldset><legend>What</legend>"
        + text("title", "Title", "shown on the screen", required=True)
        + text("url", "Link", "https://youtu.be/… or a page of the shop's own site", required=True)
        + text("description", "Description", "for you; never shown")
        + text("tags", "Tags", "comma-separated")
        + f'<label>Poster <input type="file" name="poster" accept="image/png,image/jpeg,image/webp"></label>'
        f"<small>PNG, JPEG or WebP, up to {poster_mb}: shown without the internet</small>"
        f'<label>Video <input type="file" name="video" accept="video/mp4,video/webm"></label>'
        f"<small>MP4 or WebM, up to {video_mb}: played instead of YouTube</small>{media}"
        "</fieldset><fieldset><legend>For whom</legend>"
        + text("people", "People", "1, 1-2, 3-4 (4 means four or more), 0-0 for when nobody is there")
        + "<div>Posture (none ticked: any) "
        + "".join(_checkbox("postures", p, p in chosen["postures"], p) for p in POSTURES)
        + "</div><div>Orientation (none ticked: any) "
        + "".join(_checkbox("orientations", o, o in chosen["orientations"], o) for o in ORIENTATIONS)
        + "</div>"
        + text("dwell", "Minimum dwell (s)", "how long the audience must have stayed", kind="number")
        + "</fieldset><fieldset><legend>When</legend><div>Days (none ticked: every day) "
        + "".join(_checkbox("days", d, d in chosen["days"], d) for d in DAYS)
        + "</div>"
        + text("hours_from", "From (HH:MM)", "empty: all day")
        + text("hours_to", "To (HH:MM)", "may pass midnight: 22:00 to 02:00; 24:00 is the end of the day")
        + text("date_from", "First day", "YYYY-MM-DD, empty: from now", kind="date")
        + text("date_to", "Last day", "YYYY-MM-DD, empty: no end", kind="date")
        + "</fieldset><fieldset><legend>How often</legend>"
        + text("weight", "Weight", "0 to 1000; 2 shows it about twice as often", kind="number")
        + _checkbox("active", "1", bool(values.get("active")), "On (shown when its time comes)")
        + '</fieldset><button type="submit">Save</button></form>'
    )


def form_changes(form: Form) -> dict[str, Any]:
    """The item fields a form gives, typed (as :meth:`Catalogue.update` takes them); ContentError
    naming the field."""
    hours_from, hours_to = form.get("hours_from"), form.get("hours_to")
    hours = f"{hours_from}-{hours_to}" if hours_from or hours_to else None
    try:
        weight = float(form.get("weight") or 1)
    except ValueError:
        raise ContentError(f"weight {form.get('weight')!r} is not a number; write e.g. 1 or 2.5") from None
    if not form.get("url"):
        raise ContentError("an item needs a link: give its YouTube (or shop site) address")
    return {
        "title": form.get("title"),
        "url": form.get("url"),
        "description": form.get("description"),
        "tags": tuple(t.strip() for t in re.split(r"[,;]", form.get("tags")) if t.strip()),
        "targeting": Targeting.parse(
            form.get("people") or "1-4",
            form.getall("postures"),
            form.getall("orientations"),
            form.get("dwell") or None,
        ),
        "schedule": Schedule.parse(
            ",".join(form.getall("days")), hours, form.get("date_from") or None, form.get("date_to") or None
        ),
        "weight": weight,
        "active": bool(form.get("active")),
    }


def new_item(changes: dict[str, Any], allow_domains: Sequence[str]) -> ContentItem:
    """A new item from :func:`form_changes`, its link checked by the URL policy."""
    return ContentItem.create(
        changes["url"],
        changes["title"],
        description=changes["description"],
        tags=changes["tags"],
        targeting=changes["targeting"],
        schedule=changes["schedule"],
        weight=changes["weight"],
        active=changes["active"],
        allow_domains=allow_domains,
    )


# -- SVG charts ------------------------------------------------------------------------------------

Series = tuple[str, Sequence[float], str]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def _legend(series: Sequence[Series], x: float, y: float) -> str:
    out = []
    for name, _, colour in series:
        out.append(f'<rect x="{x:.0f}" y="{y - 9:.0f}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{x + 14:.0f}" y="{y:.0f}">{esc(name)}</text>')  # fmt: skip
        x += 24 + 7 * len(name)
    return "".join(out)


def _svg_open(title: str, width: int, height: int, x: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{esc(title)}" class="chart"><text x="{x}" y="18" class="title">{esc(title)}</text>'
    )


def column_chart(title: str, labels: Sequence[str], series: Sequence[Series], *, unit: str = "") -> str:
    """Grouped vertical bars (e.g. per hour), as a standalone SVG element."""
    width, height, left, right, top, bottom = 760, 280, 48, 12, 44, 32
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(max((max(values, default=0) for _, values, _ in series), default=0))
    out = [_svg_open(title, width, height, left), _legend(series, left, 36)]
    for i in range(5):
        value = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')  # fmt: skip
    n = max(1, len(labels))
    group = plot_w / n
    bar = group * 0.8 / max(1, len(series))
    every = max(1, n // 24 + (1 if n > 24 else 0))
    for i, label in enumerate(labels):
        x0 = left + i * group + group * 0.1
        for j, (name, values, colour) in enumerate(series):
            value = values[i] if i < len(values) else 0
            h = plot_h * value / top_value
            out.append(f'<rect x="{x0 + j * bar:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" '
                       f'height="{h:.1f}" fill="{colour}"><title>{esc(label)}: {esc(name)} {value:g}{unit}'
                       "</title></rect>")  # fmt: skip
        if i % every == 0:
            out.append(f'<text x="{left + i * group + group / 2:.1f}" y="{height - 12}" '
                       f'text-anchor="middle">{esc(label)}</text>')  # fmt: skip
    out.append("</svg>")
    return "".join(out)


def bar_chart(title: str, labels: Sequence[str], series: Sequence[Series], *, unit: str = "") -> str:
    """Horizontal bars, stacked when there are several series (e.g. per item), as SVG."""
    row, left, right, top = 26, 260, 60, 44
    width = 760
    height = top + row * max(1, len(labels)) + 12
    plot_w = width - left - right
    totals = [sum(values[i] for _, values, _ in series) for i in range(len(labels))]
    top_value = _nice_max(max(totals, default=0))
    out = [_svg_open(title, width, height, 8), _legend(series, left, 36) if len(series) > 1 else ""]
    if not labels:
        out.append(f'<text x="{left}" y="{top + 16}">nothing yet</text>')
    for i, label in enumerate(labels):
        y = top + i * row
        short = label if len(label) <= 36 else label[:35] + "…"
        out.append(f'<text x="{left - 8}" y="{y + row * 0.65:.1f}" text-anchor="end">{esc(short)}</text>')
        x = float(left)
        for name, values, colour in series:
            w = plot_w * values[i] / top_value
            out.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" fill="{colour}">'
                       f"<title>{esc(label)}: {esc(name)} {values[i]:g}{unit}</title></rect>")  # fmt: skip
            x += w
        out.append(f'<text x="{x + 6:.1f}" y="{y + row * 0.65:.1f}">{totals[i]:g}{unit}</text>')
    out.append("</svg>")
    return "".join(out)


# -- the preview ----------------------------------------------------------------------------------

#: The audiences the preview shows, as the kiosk would see them.
PREVIEW_AUDIENCES: tuple[tuple[str, Audience], ...] = (
    ("nobody there", EMPTY_AUDIENCE),
    ("1 person passing by", Audience(0.0, True, 1, "standing", "side", dwell_s=2.0)),
    ("1 person watching", Audience(0.0, True, 1, "standing", "facing", dwell_s=30.0, facing_s=30.0)),
    ("1 person sitting", Audience(0.0, True, 1, "sitting", "facing", dwell_s=30.0, facing_s=30.0)),
    ("2 people", Audience(0.0, True, 2, "standing", "facing", dwell_s=10.0, facing_s=10.0)),
    ("a group (4 or more)", Audience(0.0, True, 4, "standing", "side", dwell_s=10.0)),
)
#: How far ahead "next" looks for the schedule to change.
NEXT_HORIZON = timedelta(days=2)


def allowed_at(items: Sequence[ContentItem], audience: Audience, moment: datetime) -> list[ContentItem]:
    """The active items the targeting and schedule allow for ``audience`` at ``moment`` (heaviest first)."""
    return sorted((i for i in items if i.matches(audience, moment)), key=lambda i: (-i.weight, i.id or 0))


def next_change(
    items: Sequence[ContentItem], moment: datetime
) -> tuple[datetime, list[str], list[str]] | None:
    """When the schedule next starts or stops an item after ``moment``: (when, starting, stopping)."""

    def on(at: datetime) -> set[int]:
        return {i.id or 0 for i in items if i.active and i.schedule.matches(at)}

    # A schedule changes only where an item's hours start or end, or at midnight (days, dates).
    times = {dt_time(0, 0)} | {t for i in items for t in (i.schedule.time_from, i.schedule.time_to) if t}
    end = moment + NEXT_HORIZON
    moments = sorted(
        at
        for day in range(NEXT_HORIZON.days + 1)
        for t in times
        if moment < (at := datetime.combine(moment.date() + timedelta(days=day), t)) <= end
    )
    titles = {i.id or 0: i.title for i in items}
    now_on = on(moment)
    for at in moments:
        later = on(at)
        if later != now_on:
            return at, sorted(titles[i] for i in later - now_on), sorted(titles[i] for i in now_on - later)
    return None


# -- the app -------------------------------------------------------------------------------------------


class Panel:
    """The panel's handlers, over the kiosk's configuration, page hub and audience."""

    def __init__(self, kiosk: KioskLike, guard: Guard) -> None:
        self.kiosk = kiosk
        self.guard = guard
        self.config = kiosk.config
        self._catalogue: Catalogue | None = None
        self._lock = threading.Lock()

    @property
    def catalogue(self) -> Catalogue:
        with self._lock:
            if self._catalogue is None:
                self._catalogue = Catalogue.open_or_copy(self.config.db_path)
            return self._catalogue

    def close(self) -> None:
        with self._lock:
            if self._catalogue is not None:
                self._catalogue.close()
                self._catalogue = None

    # -- plumbing

    def page(self, title: str, body: str, session: Session | None, status: int = 200,
             refresh: int | None = None) -> Any:  # fmt: skip
        from starlette.responses import HTMLResponse

        return HTMLResponse(layout(title, body, session, refresh=refresh), status_code=status,
                            headers=security_headers())  # fmt: skip

    def refusal(
        self, status: int, message: str, session: Session | None = None, *, close: bool = False
    ) -> Any:
        response = self.page("Not done", f'<p class="error" role="alert">{esc(message)}</p>', session, status)
        if close:
            # The server would read and drop the rest of the body to keep the connection: a big
            # one is not worth it. (A body found too big midway is bounded by its declared
            # length: it is drained, so the owner's browser shows why.)
            response.headers["Connection"] = "close"
        return response

    def set_cookie(self, response: Any, request: Any, session: Session) -> None:
        response.set_cookie(
            COOKIE, session.token, httponly=True, samesite="strict", path="/",
            secure=request.url.scheme == "https",
        )  # fmt: skip

    def redirect(self, url: str) -> Any:
        from starlette.responses import RedirectResponse

        return RedirectResponse(url, status_code=303, headers=security_headers())

    def view(self, handler: Callable[..., Any]) -> Callable[[Any], Any]:
        """A page only the logged-in owner sees: without a session, the login page."""

        async def wrapped(request: Any) -> Any:
            session = self.guard.session(request.cookies.get(COOKIE))
            if session is None or not session.user:
                return self.redirect("/login")
            try:
                return await handler(request, session)
            except Refused as exc:
                return self.refusal(exc.status, exc.message, session)
            except HeatcastError as exc:
                return self.refusal(409, str(exc), session)

        return wrapped

    def action(self, handler: Callable[..., Any], *, uploads: bool = False) -> Callable[[Any], Any]:
        """A POST only the owner's own pages may send: session, Origin and CSRF token, bounded body."""

        async def wrapped(request: Any) -> Any:
            session = self.guard.session(request.cookies.get(COOKIE))
            if session is None or not session.user:
                return self.refusal(401, "log in first: open the panel's login page", close=big_body(request))
            if not same_origin(request):
                why = "this form was sent from another site: use the panel's own pages"
                return self.refusal(403, why, session, close=big_body(request))
            form = Form()
            try:
                form = await self.read_form(request, session, uploads)
                return await handler(request, session, form)
            except Refused as exc:
                return self.refusal(exc.status, exc.message, session, close=exc.close)
            except HeatcastError as exc:
                return self.refusal(409, str(exc), session)
            finally:
                form.discard()

        return wrapped

    async def read_form(self, request: Any, session: Session, uploads: bool) -> Form:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/x-www-form-urlencoded":
            return await read_urlencoded(request, session.csrf)
        if kind == "multipart/form-data":
            return await read_multipart(request, session.csrf, self.catalogue.media_dir if uploads else None)
        raise Refused(415, "the panel takes only its own forms")

    # -- logging in

    async def login_page(self, request: Any) -> Any:
        session = self.guard.session(request.cookies.get(COOKIE))
        if session is not None and session.user:
            return self.redirect("/content")
        if session is None:
            session = self.guard.new_session()
        response = self.page("Log in", self.login_form(session), None)
        self.set_cookie(response, request, session)
        return response

    def login_form(self, session: Session, error: str = "") -> str:
        wait = self.guard.locked_for()
        note = esc(error or (self.guard.locked_message(wait) if wait else ""))
        return (
            (f'<p class="error" role="alert">{note}</p>' if note else "")
            + f'<form method="post" action="/login" class="login">{csrf_input(session)}'
            '<label>Password <input type="password" name="password" autocomplete="current-password" '
            'required autofocus></label><button type="submit">Log in</button></form>'
            f"<p><small>{MAX_FAILURES} wrong passwords in a row lock logins for "
            f"{_minutes(self.guard.lock_s)}. "
            "Forgotten it? Set a new one on the kiosk: <code>heatcast panel passwd</code>.</small></p>"
        )

    async def login(self, request: Any) -> Any:
        from starlette.concurrency import run_in_threadpool

        session = self.guard.session(request.cookies.get(COOKIE))
        if session is None:
            why = "your login page has expired: open it again and log in"
            return self.refusal(403, why, close=big_body(request))
        if not same_origin(request):
            why = "this form was sent from another site: use the panel's own login page"
            return self.refusal(403, why, close=big_body(request))
        try:
            form = await read_urlencoded(request, session.csrf)
        except Refused as exc:
            return self.refusal(exc.status, exc.message, close=exc.close)
        user, why = await run_in_threadpool(self.guard.login, form.get("password"))
        if user is None:
            status = 429 if self.guard.locked_for() > 0 else 401
            return self.page("Log in", self.login_form(session, why), None, status)
        self.guard.end(session.token)  # a new token once logged in (no session fixation)
        response = self.redirect("/content")
        self.set_cookie(response, request, user)
        return response

    async def logout(self, request: Any, session: Session, form: Form) -> Any:
        self.guard.end(session.token)
        response = self.redirect("/login")
        response.delete_cookie(COOKIE, path="/")
        return response

    # -- content

    def items(self) -> list[ContentItem]:
        """Every item, archived ones too."""
        return self.catalogue.items(archived=None)

    async def content(self, request: Any, session: Session) -> Any:
        items = self.items()
        archived = [i for i in items if i.archived]
        rows = []
        shown = self.kiosk.hub.current()
        for item in [i for i in items if not i.archived][:LIST_MAX]:
            playing = shown is not None and shown.content_id == item.id
            rows.append(self.item_row(item, session, playing=playing))
        note = ""
        if len(items) - len(archived) > LIST_MAX:
            note = f"<p>Showing the first {LIST_MAX} items; `heatcast content list` shows all.</p>"
        saved = request.query_params.get("saved")
        flash = f'<p class="ok" role="status">Saved item {esc(saved)}.</p>' if saved else ""
        body = (
            f'{flash}<p><a class="button" href="/content/new">Add an item</a></p>{note}'
            '<table class="items"><thead><tr><th></th><th>Title</th><th>For whom</th><th>When</th>'
            "<th>Weight</th><th>State</th><th></th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        )
        if archived:
            body += "<h2>Archived</h2><ul>" + "".join(
                f'<li id="item-{i.id}">{esc(i.title)} <small>{esc(i.url)}</small> '
                f'<form method="post" action="/content/{i.id}/restore" class="inline">'
                f"{csrf_input(session)}<button>Restore</button></form></li>"
                for i in archived
            ) + "</ul>"
        return self.page("Content", body, session)

    def item_row(self, item: ContentItem, session: Session, *, playing: bool) -> str:
        thumb = f'<img src="/media/{esc(item.poster)}" alt="" class="thumb">' if item.poster else ""
        state = "on" if item.active else "off"
        if playing:
            state += " · on screen now"
        toggle = "Switch off" if item.active else "Switch on"
        return (
            f'<tr id="item-{item.id}"><td>{thumb}</td><td><a href="/content/{item.id}">{esc(item.title)}</a>'
            f"<br><small>{esc(item.url)}</small></td><td>{esc(targeting_text(item.targeting))}</td>"
            f"<td>{esc(schedule_text(item.schedule))}</td><td>{item.weight:g}</td><td>{esc(state)}</td><td>"
            f'<form method="post" action="/content/{item.id}/active" class="inline">{csrf_input(session)}'
            f'<input type="hidden" name="active" value="{"0" if item.active else "1"}">'
            f"<button>{toggle}</button></form>"
            f'<form method="post" action="/content/{item.id}/archive" class="inline">{csrf_input(session)}'
            "<button>Archive</button></form></td></tr>"
        )

    async def new_item(self, request: Any, session: Session) -> Any:
        return self.page("Add an item", item_form("/content/new", session, item_values(None), None), session)

    def _item_id(self, request: Any) -> int:
        try:
            return int(request.path_params["item_id"])
        except ValueError:
            raise Refused(404, "there is no such item: pick one from the content list") from None

    async def edit_item(self, request: Any, session: Session) -> Any:
        item = self.catalogue.get(self._item_id(request))
        body = item_form(f"/content/{item.id}", session, item_values(item), item)
        return self.page(f"Item {item.id}: {item.title}", body, session)

    async def store_media(self, form: Form, item: ContentItem) -> ContentItem:
        """Check and keep the form's poster and video (by their bytes, under their hash)."""
        from starlette.concurrency import run_in_threadpool

        kinds: tuple[Kind, ...] = ("poster", "video")
        for kind in kinds:
            path = form.files.get(kind)
            if path is None:
                continue
            try:
                name = await run_in_threadpool(store, path, kind, self.catalogue.media_dir)
            except ContentError as exc:
                # store() names the temporary file; the owner knows it by its field
                raise ContentError(str(exc).replace(str(path), f"the {kind}")) from None
            item = replace(item, poster=name) if kind == "poster" else replace(item, video=name)
        return item

    async def add_item(self, request: Any, session: Session, form: Form) -> Any:
        try:
            item = new_item(form_changes(form), self.config.content.allow_domains)
            item = await self.store_media(form, item)
            added = self.catalogue.add(item)
        except ContentError as exc:
            body = item_form("/content/new", session, form.fields, None, str(exc))
            return self.page("Add an item", body, session, 400)
        log.info("panel: added item %s (%s)", added.id, added.url)
        return self.redirect(f"/content?saved={added.id}")

    async def save_item(self, request: Any, session: Session, form: Form) -> Any:
        old = self.catalogue.get(self._item_id(request))
        try:
            changes = form_changes(form)
            # The item's own files, unless the form replaces or removes them.
            media = await self.store_media(form, replace(old, poster=None, video=None))
            for kind in ("poster", "video"):
                if form.get(f"remove_{kind}"):
                    changes[kind] = None
                if getattr(media, kind) is not None:
                    changes[kind] = getattr(media, kind)
            assert old.id is not None
            self.catalogue.update(old.id, allow_domains=self.config.content.allow_domains, **changes)
        except ContentError as exc:
            body = item_form(f"/content/{old.id}", session, form.fields, old, str(exc))
            return self.page(f"Item {old.id}: {old.title}", body, session, 400)
        log.info("panel: changed item %s", old.id)
        return self.redirect(f"/content?saved={old.id}")

    async def set_active(self, request: Any, session: Session, form: Form) -> Any:
        item_id = self._item_id(request)
        self.catalogue.set_active(item_id, form.get("active") == "1")
        return self.redirect(f"/content#item-{item_id}")

    async def archive(self, request: Any, session: Session, form: Form) -> Any:
        self.catalogue.archive([self._item_id(request)])
        return self.redirect("/content")

    async def restore(self, request: Any, session: Session, form: Form) -> Any:
        self.catalogue.restore([self._item_id(request)])
        return self.redirect("/content")

    async def media(self, request: Any, session: Session) -> Any:
        from starlette.responses import FileResponse, Response

        name = request.path_params["name"]
        mime = mime_of(name)
        path = self.catalogue.media_dir / name
        if mime is None or not path.is_file():
            return Response(status_code=404, headers=security_headers())
        return FileResponse(path, media_type=mime, headers=security_headers())

    # -- the schedule preview

    async def preview(self, request: Any, session: Session) -> Any:
        text = request.query_params.get("at", "")
        now = self.kiosk.clock().replace(second=0, microsecond=0)
        try:
            moment = datetime.fromisoformat(text) if text else now
        except ValueError:
            raise Refused(400, f"{text!r} is not a date and time; pick one with the chooser") from None
        active = self.catalogue.items(active_only=True)
        shown = self.kiosk.hub.current()
        latest = self.kiosk.latest
        playing = (
            f"<p>Now on screen: <strong>{esc(shown.title)}</strong>"
            f" (audience now: {esc(_describe(latest))})</p>"
            if shown is not None
            else "<p>Nothing on screen now.</p>"
        )
        rows = []
        for label, audience in PREVIEW_AUDIENCES:
            allowed = allowed_at(active, audience, moment)
            names = ", ".join(esc(i.title) for i in allowed[:12])
            names = names or (
                "<em>no exact match: the kiosk then shows the closest (ignoring posture and dwell, "
                "then the schedule), else the attract loop</em>"
            )
            more = f" and {len(allowed) - 12} more" if len(allowed) > 12 else ""
            rows.append(f"<tr><th>{esc(label)}</th><td>{len(allowed)}</td><td>{names}{more}</td></tr>")
        change = next_change(active, moment)
        if change is None:
            upcoming = f"<p>Next: no item starts or stops within {NEXT_HORIZON.days} days.</p>"
        else:
            at, starting, stopping = change
            parts = []
            if starting:
                parts.append("starts: " + ", ".join(esc(t) for t in starting))
            if stopping:
                parts.append("stops: " + ", ".join(esc(t) for t in stopping))
            upcoming = f"<p>Next change <strong>{at:%a %d %b %H:%M}</strong>: {'; '.join(parts)}.</p>"
        day = moment.replace(minute=0)
        per_hour = [
            float(len([i for i in active if i.schedule.matches(day.replace(hour=h))])) for h in range(24)
        ]
        chart = column_chart(
            f"Items the schedule allows, hour by hour, {moment:%a %d %b}",
            [f"{h:02d}" for h in range(24)],
            [("items on", per_hour, "#31a354")],
        )
        body = (
            f"{playing}<form method=get action=/preview class=inline><label>At "
            f'<input type="datetime-local" name="at" value="{moment:%Y-%m-%dT%H:%M}"></label>'
            "<button>Show</button></form>"
            f"<h2>What may play {moment:%a %d %b %Y, %H:%M}</h2>"
            "<table class=preview><thead><tr><th>In front of the screen</th><th>Items</th>"
            "<th>Which (heaviest first)</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
            f"{upcoming}{chart}"
        )
        return self.page("Schedule preview", body, session)

    # -- the audience, live

    def audience_facts(self) -> dict[str, Any]:
        """The live audience as counts (what the kiosk's log line says), and what is on screen."""
        a = self.kiosk.latest
        shown = self.kiosk.hub.current()
        return {
            "audience": _describe(a),
            "count": a.count if a else None,
            "posture": a.posture if a else None,
            "orientation": a.orientation if a else None,
            "dwell_s": round(a.dwell_s) if a else None,
            "facing_s": round(a.facing_s) if a else None,
            "showing": shown.title if shown else None,
        }

    async def audience(self, request: Any, session: Session) -> Any:
        facts = self.audience_facts()
        labels = (
            ("count", "people"), ("posture", "posture"), ("orientation", "orientation"),
            ("dwell_s", "in view for (s)"), ("facing_s", "facing the screen for (s)"),
            ("showing", "on screen"),
        )  # fmt: skip
        rows = "".join(
            f"<tr><th>{esc(label)}</th><td>{esc('-' if facts[key] is None else facts[key])}</td></tr>"
            for key, label in labels
        )
        body = (
            f'<p class="big" id="audience">{esc(facts["audience"])}</p><table class=facts>{rows}</table>'
            "<p><small>Counts only, as the kiosk reads them; no image is ever kept or shown. "
            "This page refreshes every 5 s.</small></p>"
        )
        return self.page("Audience now", body, session, refresh=5)

    async def audience_json(self, request: Any, session: Session) -> Any:
        from starlette.responses import JSONResponse

        return JSONResponse(self.audience_facts(), headers=security_headers())

    # -- reports

    async def reports(self, request: Any, session: Session) -> Any:
        from heatcast.firmware.report import bucket_label, build_report, compare_weeks

        choices = {
            "1": "today and yesterday", "7": "the last 7 days", "30": "the last 30 days", "all": "all kept",
        }  # fmt: skip
        days = request.query_params.get("days", "7")
        if days not in choices:
            days = "7"
        now = self.kiosk.clock()
        since = None if days == "all" else now - timedelta(days=int(days))
        report = build_report(self.catalogue, since)
        t = report.total
        picker = "".join(
            f'<a href="/reports?days={k}"{" class=current" if k == days else ""}>{esc(v)}</a> '
            for k, v in choices.items()
        )
        summary = (
            f"<p>{report.visits} visits; {t.shown} showings; {t.ots} opportunities to see; "
            f"{t.watchers} watchers ({_percent(t.conversion)} conversion); "
            f"{t.attention_s / 60:.1f} minutes of attention"
            + (
                f"; {t.taps} phone taps on the tag"
                + (f" ({t.taps_per_watcher:.2f} per watcher)" if t.taps_per_watcher is not None else "")
                if t.taps_counted
                else ""
            )
            + ".</p>"
        )
        this, last = compare_weeks(self.catalogue, now)
        weeks = "".join(
            f"<tr><th>{esc(label)}</th><td>{a}</td><td>{b}</td></tr>"
            for label, a, b in (
                ("visits", this.visits, last.visits),
                ("opportunities to see", this.total.ots, last.total.ots),
                ("watchers", this.total.watchers, last.total.watchers),
                ("conversion", _percent(this.total.conversion), _percent(last.total.conversion)),
                ("attention (min)", f"{this.total.attention_s / 60:.1f}",
                 f"{last.total.attention_s / 60:.1f}"),
            )
        )
        compare = (
            "<h2>The last 7 days against the 7 before</h2><table class=report><thead><tr><th></th>"
            f"<th>last 7 days</th><th>the 7 before</th></tr></thead><tbody>{weeks}</tbody></table>"
        )
        hours = list(range(24))
        by_hour = [report.by_hour.get(h) for h in hours]
        hourly = column_chart(
            "Opportunities to see and watchers, per hour of the day",
            [f"{h:02d}" for h in hours],
            [
                ("opportunities to see", [float(s.ots) if s else 0.0 for s in by_hour], "#9ecae1"),
                ("watchers", [float(s.watchers) if s else 0.0 for s in by_hour], "#08519c"),
            ],
        )
        daily = ""
        per_day: dict[str, list[float]] = {}
        for (kind, start, _item, _bucket), cell in report.cells.items():
            if kind == "day":
                sums = per_day.setdefault(start, [0.0, 0.0])
                sums[0] += cell.ots
                sums[1] += cell.watchers
        if len(per_day) > 1:
            dates = sorted(per_day)[-31:]
            daily = column_chart(
                "Opportunities to see and watchers, per day",
                [d[5:] for d in dates],
                [
                    ("opportunities to see", [per_day[d][0] for d in dates], "#9ecae1"),
                    ("watchers", [per_day[d][1] for d in dates], "#08519c"),
                ],
            )
        # Content for nobody there is meant to draw people in, not to be watched: not ranked.
        ranked = [(i, s) for i, s in sorted(report.by_item.items(), key=lambda kv: -kv[1].attention_s)
                  if i not in report.attract]  # fmt: skip
        per_item = bar_chart(
            "Minutes of attention per item (top 10, attract loops left out)",
            [report.titles[i] for i, _ in ranked[:10]],
            [("attention", [round(s.attention_s / 60, 1) for _, s in ranked[:10]], "#31a354")],
            unit=" min",
        )
        buckets = sorted((k for k in report.by_bucket if not k.startswith("0|")), key=lambda k: k)[:12]
        per_bucket = bar_chart(
            "Hits and misses per audience (hit: watched 2 s or more)",
            [bucket_label(k) for k in buckets],
            [
                ("hits", [float(sum(s.hits for s in report.by_bucket[k].values())) for k in buckets],
                 "#31a354"),
                ("misses", [float(sum(s.misses for s in report.by_bucket[k].values())) for k in buckets],
                 "#bdbdbd"),
            ],
        )  # fmt: skip
        if t.taps_counted:
            per_bucket += bar_chart(
                "Phone taps on the tag per audience",
                [bucket_label(k) for k in buckets],
                [("taps", [float(sum(s.taps for s in report.by_bucket[k].values())) for k in buckets],
                  "#756bb1")],
            )  # fmt: skip
        table = "".join(
            f"<tr><td>{esc(report.titles[i])}{' (attract loop)' if i in report.attract else ''}</td>"
            f"<td>{s.shown}</td><td>{s.ots}</td><td>{s.watchers}</td><td>{_percent(s.conversion)}</td>"
            f"<td>{s.attention_s / 60:.1f}</td><td>{_percent(s.hit_rate)}</td>"
            f"<td>{s.taps if s.taps_counted else '-'}</td></tr>"
            for i, s in sorted(report.by_item.items(), key=lambda kv: -kv[1].attention_s)
        )
        items = (
            "<h2>Per item</h2><table class=report><thead><tr><th>Item</th><th>Showings</th>"
            "<th>Opportunities to see</th><th>Watchers</th><th>Conversion</th><th>Attention (min)</th>"
            f"<th>Hit rate</th><th>Taps</th></tr></thead><tbody>{table}</tbody></table>"
            if table
            else "<p>No showings recorded in this period yet.</p>"
        )
        body = (
            f'<p class="picker">{picker}</p>{summary}{hourly}{daily}{per_item}{per_bucket}{items}{compare}'
            "<p><small>A visit is someone arriving in view and leaving; an item's opportunities to see are "
            "the visits in view while it showed, its watchers those that faced the screen 2 s or more on "
            "end meanwhile (each counted once per item). Taps are read from the tag's own counter at each "
            "change of content and now and then, so a tap near a change may go to the neighbouring "
            "showing.</small></p>"
        )
        return self.page("Reports", body, session)

    async def home(self, request: Any, session: Session) -> Any:
        return self.redirect("/content")

    async def css(self, request: Any) -> Any:
        from starlette.responses import FileResponse

        return FileResponse(STATIC_DIR / "panel.css", media_type="text/css", headers=security_headers())


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.0f}%"


def _describe(audience: Audience | None) -> str:
    from heatcast.firmware.kiosk import describe

    return "no reading yet" if audience is None else describe(audience)


def create_panel_app(kiosk: KioskLike, guard: Guard | None = None) -> tuple[Any, Panel]:
    """The panel's Starlette app (and its handlers, to close)."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    panel = Panel(kiosk, guard or Guard(kiosk.config.data_dir))
    view, action = panel.view, panel.action
    routes = [
        Route("/login", panel.login_page, methods=["GET"]),
        Route("/login", panel.login, methods=["POST"]),
        Route("/panel.css", panel.css, methods=["GET"]),
        Route("/logout", action(panel.logout), methods=["POST"]),
        Route("/", view(panel.home), methods=["GET"]),
        Route("/content", view(panel.content), methods=["GET"]),
        Route("/content/new", view(panel.new_item), methods=["GET"]),
        Route("/content/new", action(panel.add_item, uploads=True), methods=["POST"]),
        Route("/content/{item_id}", view(panel.edit_item), methods=["GET"]),
        Route("/content/{item_id}", action(panel.save_item, uploads=True), methods=["POST"]),
        Route("/content/{item_id}/active", action(panel.set_active), methods=["POST"]),
        Route("/content/{item_id}/archive", action(panel.archive), methods=["POST"]),
        Route("/content/{item_id}/restore", action(panel.restore), methods=["POST"]),
        Route("/media/{name}", view(panel.media), methods=["GET"]),
        Route("/preview", view(panel.preview), methods=["GET"]),
        Route("/audience", view(panel.audience), methods=["GET"]),
        Route("/audience.json", view(panel.audience_json), methods=["GET"]),
        Route("/reports", view(panel.reports), methods=["GET"]),
    ]
    return Starlette(routes=routes), panel


# -- serving ---------------------------------------------------------------------------------------


def _protocol() -> type:
    import h11

    from heatcast.firmware.web import BoundedH11

    class UploadH11(BoundedH11):
        """The page server's protocol (a request's headers within 10 s), but an upload may take
        minutes over a shop's Wi-Fi: while its body keeps coming, the deadline moves on."""

        def data_received(self, data: bytes) -> None:
            if self.conn.their_state is h11.SEND_BODY:
                self._disarm()  # re-armed by BoundedH11 once this data is in
            super().data_received(data)

    return UploadH11


class PanelServer(WebServer):
    """The panel, served in a background thread, hardened as the page is
    (:mod:`heatcast.firmware.web`: foreign Host names refused, bounded headers and connections)."""

    def __init__(self, kiosk: KioskLike, host: str, port: int, guard: Guard | None = None) -> None:
        from heatcast.firmware import web

        self.app, self.panel = create_panel_app(kiosk, guard)
        super().__init__(
            web.guard(self.app, security_headers()), host, port, section="panel", name="heatcast-panel",
            http=_protocol(), max_connections=32,
        )  # fmt: skip

    def stop(self, timeout: float = 3.0) -> None:
        super().stop(timeout)
        self.panel.close()


def open_panel(kiosk: KioskLike) -> PanelServer | None:
    """The kiosk's panel server, bound now; None (off) until a password is set."""
    data_dir = kiosk.config.data_dir
    try:
        if read_password(data_dir) is None:
            return None
    except ConfigError as exc:
        log.error("panel off: %s", exc)
        return None
    return PanelServer(kiosk, kiosk.config.panel.host, kiosk.config.panel.port)


def check_panel(config: Config) -> Any:
    """``heatcast doctor``'s line for the panel: off, on (where), or a password file to mend."""
    from heatcast.firmware.doctor import Check

    path = password_path(config.data_dir)
    try:
        on = read_password(config.data_dir) is not None
    except ConfigError as exc:
        return Check("panel", False, str(exc), "heatcast panel passwd")
    if not on:
        return Check("panel", None, "off: `heatcast panel passwd` sets its password and turns it on")
    if path.stat().st_mode & 0o077:
        return Check("panel", False, f"{path} may be read by others", f"chmod 600 {path}")
    host = f"[{config.panel.host}]" if ":" in config.panel.host else config.panel.host
    where = "this machine only" if config.panel.host in ("127.0.0.1", "localhost", "::1") else "the network"
    url = f"http://{host}:{config.panel.port}/"
    return Check("panel", True, f"on at {url} ({where}) while the kiosk runs", data={"url": url})
