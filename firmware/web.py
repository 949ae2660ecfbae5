"""The HTTP server under heatcast's pages, hardened for a shop's network.

Anyone's phone can join a shop's Wi-Fi, so the server must not be held, framed
or rebound by a hostile client:

* a request must arrive whole within :data:`HEADER_TIMEOUT_S` (uvicorn times out
  idle keep-alive connections, but not a half-sent request), its headers within
  :data:`MAX_HEADER_BYTES`;
* past :data:`MAX_CONNECTIONS` open connections, new requests get a 503 and
  the kiosk keeps its file descriptors;
* the ``Host`` header must name this machine (an IP literal, ``localhost``, the
  host name or ``NAME.local``): a DNS-rebinding page on the shop's network can
  never reach the kiosk through a name of its own;
* every response carries the security headers it is given;
* a flood of the same error (out of file descriptors, a broken client) is
  logged once a minute with a count, never a traceback per event.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import resource
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from heatcast.errors import ConfigError

log = logging.getLogger(__name__)

HEADER_TIMEOUT_S = 10.0
MAX_HEADER_BYTES = 16 * 1024
MAX_CONNECTIONS = 256
#: Connections accepted in one go (asyncio accepts up to the backlog at once, and the oldest
#: waiting ones it closes free their descriptors a few loop turns later: the reserve holds
#: several such batches).
ACCEPT_BATCH = 16
#: File descriptors kept for the kiosk's own files, the database and the tag, and those batches.
FD_RESERVE = 64 + 4 * ACCEPT_BATCH
#: A repeated error is logged at most this often (with how many times it happened).
LOG_EVERY_S = 60.0

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class OnceAMinute:
    """Logs each kind of message at most once per :data:`LOG_EVERY_S`, with a count."""

    def __init__(self, logger: logging.Logger, every_s: float = LOG_EVERY_S) -> None:
        self._logger = logger
        self._every_s = every_s
        self._last: dict[str, float] = {}
        self._count: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, kind: str, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._count[kind] = self._count.get(kind, 0) + 1
            if now - self._last.get(kind, -self._every_s) < self._every_s:
                return
            self._last[kind] = now
            count, self._count[kind] = self._count[kind], 0
        more = f" ({count} times in the last minute)" if count > 1 else ""
        self._logger.warning("%s%s", message, more)


class BoundedH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for a whole request to arrive, and a bound
    on open connections: past it, the oldest connection still waiting for its request is closed,
    so a flood of half-sent requests can never hold every descriptor and a screen's /state, whose
    request comes at once, is still served."""

    _deadline: asyncio.TimerHandle | None = None
    _born = 0.0
    #: open connections allowed (set per server by :class:`WebServer`)
    bound = MAX_CONNECTIONS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._born = time.monotonic()
        self._arm()
        over = len(self.connections) - self.bound
        if over > 0:
            waiting = sorted(
                (
                    c for c in self.connections
                    if c is not self and isinstance(c, BoundedH11) and c.conn.their_state is h11.IDLE
                    and c.cycle is None and not c.transport.is_closing()
                ),
                key=lambda c: c._born,
            )  # fmt: skip
            # down to a batch below the bound: room for the connections already accepted meanwhile
            for oldest in waiting[: over + ACCEPT_BATCH]:
                oldest.transport.close()
            if waiting:
                _evicted("evicted", "too many open connections: closing the oldest still waiting")

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            if self._deadline is None:
                self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm()  # uvicorn's keep-alive timeout takes over until the next request

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(HEADER_TIMEOUT_S, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


_evicted = OnceAMinute(log)


def local_names() -> set[str]:
    """The names a browser may use for this machine besides IP literals."""
    names = {"localhost", "localhost.localdomain"}
    host = socket.gethostname().lower()
    if host:
        names |= {host, f"{host}.local", host.split(".")[0]}
    return names


def host_allowed(header: str, names: set[str]) -> bool:
    """Whether a ``Host`` header names this machine."""
    host = header.strip().lower()
    if host.startswith("["):  # [v6]:port
        literal = host[1:].split("]", 1)[0]
    else:
        literal = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    try:
        ipaddress.ip_address(literal)
        return True
    except ValueError:
        return literal.rstrip(".") in names


def guard(app: ASGIApp, headers: dict[str, str], names: Iterable[str] | None = None) -> ASGIApp:
    """``app`` refusing foreign ``Host`` headers, with ``headers`` on every response."""
    allowed = set(names) if names is not None else local_names()
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    refused = OnceAMinute(log)

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        if not host_allowed(host, allowed):
            refused("host", f"refused requests for another host ({host[:60]!r}): a DNS-rebinding page?")
            body = b"This server answers only for its own names.\n"
            plain = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
            await send({"type": "http.response.start", "status": 421, "headers": [*plain, *extra]})
            await send({"type": "http.response.body", "body": body})
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in have)]
            await send(message)

        await app(scope, receive, with_headers)

    return guarded


def raise_fd_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if want > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            log.debug("could not raise the open-files limit", exc_info=True)
    return soft


def connection_bound(fd_limit: int) -> int:
    """How many connections the server may hold: what is free of the limit now, less a reserve
    of descriptors for the kiosk's own files (and for /state)."""
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 64
    return max(8, min(MAX_CONNECTIONS, fd_limit - in_use - FD_RESERVE))


def bind(host: str, port: int, section: str) -> socket.socket:
    """Open a listening socket now, so a taken port is a clear error at start.

    ``section`` is the configuration section naming it ("page", "panel"), for the messages.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == 98:  # EADDRINUSE
            raise ConfigError(
                f"{section}.port {port} on {host} is already in use (is another heatcast running?): "
                f"stop the other program or set another {section}.port "
                f"(e.g. HEATCAST_{section.upper()}_PORT={port + 1})"
            ) from None
        raise ConfigError(
            f"cannot serve the {section} on {host}:{port} ({exc.strerror}): check {section}.host"
        ) from None
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


class WebServer:
    """uvicorn serving an ASGI app on ``host:port`` (bound at once), in a background thread."""

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        *,
        section: str,
        name: str,
        http: type[H11Protocol] = BoundedH11,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        import uvicorn

        self.sock = bind(host, port, section)
        bound = min(max_connections, connection_bound(raise_fd_limit()))
        protocol = type(http.__name__, (http,), {"bound": bound})
        self.host = host
        self.port = int(self.sock.getsockname()[1])
        self._errors = OnceAMinute(log)
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            ws="none",
            http=protocol,
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
            # uvicorn's own 503 is only a backstop: connections are bounded by eviction
            limit_concurrency=2 * bound + 16,
            backlog=ACCEPT_BATCH,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def _serve(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:
            log.exception("the %s server stopped", self._thread.name)

    async def _main(self) -> None:
        asyncio.get_running_loop().set_exception_handler(self._on_loop_error)
        await self.server.serve(sockets=[self.sock])

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # "socket.accept() out of system resource" comes once per attempt while out of
        # descriptors: once a minute is enough to say so.
        message = str(context.get("message", "error"))
        exc = context.get("exception")
        kind = f"{message}:{type(exc).__name__}" if exc else message
        self._errors(kind, f"page server: {message}" + (f" ({exc})" if exc else ""))

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 3.0) -> None:
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.sock.close()
