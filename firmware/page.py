"""The billboard page: what the shop's screen shows, served on this machine.

A Starlette app under uvicorn, in a thread of the kiosk process. The page is
static HTML/JS/CSS (``static/``, nothing fetched from elsewhere) that loads the
current state from ``/state`` and then follows ``/events``, a server-sent event
stream; the browser's EventSource reconnects by itself and every (re)connection
starts with the full current state, so a page that missed events re-syncs.

The kiosk's worker thread calls :meth:`PageHub.publish`; the hub keeps only the
latest state (a slow or stalled browser can never make the kiosk hold a backlog)
and wakes each connected stream through its event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from heatcast.firmware.media import mime_of
from heatcast.firmware.poster import poster_svg
from heatcast.firmware.web import OnceAMinute, WebServer, guard

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
_YOUTU_BE = re.compile(r"https://youtu\.be/([A-Za-z0-9_-]{11})$")
#: Comment lines keep idle connections (and proxies) from timing out.
HEARTBEAT_S = 15.0
#: How long a browser waits before reconnecting after the stream drops.
RETRY_MS = 1000
#: Screens (event streams) one kiosk serves at once; beyond, a 503 and /state still answers.
MAX_STREAMS = 64
#: Where the tag reader sits, as seen by a shopper facing the screen: the tap prompt points there.
READER_POSITIONS = ("below", "left", "right", "none")

PRIVACY_NOTICE = (
    "This screen uses a thermal sensor with 64 temperature points, not a camera. "
    "It only estimates how many people are here and whether they face the screen; "
    "no image, face or identity is recorded. Only anonymous counts per video are kept "
    "(people, attention, taps on the tag), for {days} days."
)


def video_id(url: str) -> str | None:
    """The YouTube id of a normalised ``https://youtu.be/ID`` link, else None."""
    match = _YOUTU_BE.match(url)
    return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class VideoHost:
    """Where embedded videos play from, and how the screen's browser finds out it can.

    The page loads the video's thumbnail before it loads the player: if the
    thumbnail comes (and is not YouTube's small "no such video" placeholder), the
    player will play; if not, the page shows the poster, and tries again.
    """

    embed: str = "https://www.youtube-nocookie.com/embed/"
    thumbnail: str = "https://i.ytimg.com/vi/"

    def embed_url(self, vid: str) -> str:
        """The privacy-enhanced (no-cookie) embed, muted autoplay in a loop, no controls."""
        return (
            f"{self.embed}{vid}?autoplay=1&mute=1&playsinline=1"
            f"&loop=1&playlist={vid}&controls=0&rel=0&modestbranding=1"
        )

    def probe_url(self, vid: str) -> str:
        return f"{self.thumbnail}{vid}/mqdefault.jpg"

    @staticmethod
    def _origin(url: str) -> str:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}"

    @property
    def frame_origin(self) -> str:
        return self._origin(self.embed)

    @property
    def image_origin(self) -> str:
        return self._origin(self.thumbnail)


YOUTUBE = VideoHost()


def embed_url(vid: str) -> str:
    """The YouTube embed of video ``vid``."""
    return YOUTUBE.embed_url(vid)


@dataclass(frozen=True, slots=True)
class Shown:
    """What the page shows: one content item (None: nothing to show)."""

    content_id: int | None
    title: str
    url: str
    #: stored file names in the media folder (see :mod:`heatcast.firmware.media`)
    poster: str | None = None
    video: str | None = None
    example: bool = False

    def to_json(self, host: VideoHost = YOUTUBE, seq: int = 0) -> dict[str, Any]:
        vid = video_id(self.url)
        return {
            "id": self.content_id,
            "title": self.title,
            "url": self.url,
            "video_id": vid,
            "embed": host.embed_url(vid) if vid else None,
            "probe": host.probe_url(vid) if vid else None,
            "poster": f"/media/{self.poster}" if self.poster else f"/poster.svg?seq={seq}",
            "video": f"/media/{self.video}" if self.video else None,
            "example": self.example,
        }


@lru_cache(maxsize=64)
def qr_svg(url: str) -> str:
    """The URL as a QR code, an SVG drawn on the server (no script, no network)."""
    import io

    import segno

    out = io.BytesIO()
    # A standalone SVG document (xmlns, size): what an <img> needs.
    segno.make(url, error="m").save(
        out, kind="svg", scale=8, border=2, xmldecl=False, dark="#000", light="#fff"
    )
    return out.getvalue().decode("ascii")


def security_headers(host: VideoHost) -> dict[str, str]:
    """What the page may load and who may frame it: only itself, and the video host's player.

    No referrer leaves the page, except to the embedded player (the iframe says so
    itself: YouTube refuses to play for an embed that sends none). A privacy product
    tells the browser too that it wants no camera, microphone or location.
    """
    policy = (
        "default-src 'self'; "
        f"frame-src {host.frame_origin}; "
        f"img-src 'self' {host.image_origin}; "
        "media-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), usb=(), serial=()",
    }


class PageHub:
    """The page's state, shared between the kiosk (publishes) and the web server (streams)."""

    def __init__(
        self,
        *,
        nfc: bool = False,
        retention_days: int = 90,
        reader_position: str = "below",
        shop_name: str = "",
        media_dir: Path | None = None,
        video_host: VideoHost = YOUTUBE,
    ) -> None:
        self._lock = threading.Lock()
        self.reader_position = reader_position
        self.shop_name = shop_name
        self.media_dir = media_dir
        self.video_host = video_host
        self._seq = 0
        self._item: Shown | None = None
        self._nfc = nfc
        self._tag_ready: bool | None = None
        #: tells a page that the kiosk restarted (its seq starts again from 0)
        self.boot = secrets.token_hex(6)
        self._retention_days = retention_days
        self._changed = datetime.now().isoformat(timespec="seconds")
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._closed = False
        self._status: dict[str, Any] = {}
        self.published = 0

    def publish(self, item: Shown | None) -> int:
        """Show ``item`` from now on; returns the new state's sequence number."""
        with self._lock:
            self._seq += 1
            self._item = item
            self._tag_ready = None if self._tag_ready is None else False  # the tag has yet to follow
            self._changed = datetime.now().isoformat(timespec="seconds")
            seq = self._seq
            waiters = list(self._waiters)
            self.published += 1
        self._wake(waiters)
        return seq

    def set_tag_ready(self, ready: bool | None) -> None:
        """Whether the tag holds what the page shows (None: unknown); the page shows
        the "tap here" prompt only while it does, so no phone is sent to the old video."""
        with self._lock:
            if ready == self._tag_ready:
                return
            self._tag_ready = ready
            self._seq += 1
            waiters = list(self._waiters)
        self._wake(waiters)

    @staticmethod
    def _wake(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]) -> None:
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:
                pass  # that stream's loop is gone; it unsubscribes itself

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            item = self._item
            return {
                "seq": self._seq,
                "boot": self.boot,
                "item": item.to_json(self.video_host, self._seq) if item else None,
                "nfc": self._nfc,
                "reader": self.reader_position,
                "shop": self.shop_name,
                "tag_ready": self._tag_ready,
                "changed": self._changed,
                "privacy": PRIVACY_NOTICE.format(days=self._retention_days),
            }

    @property
    def seq(self) -> int:
        return self._seq

    def set_status(self, **values: Any) -> None:
        """Operational facts for ``/health`` (e.g. what the NFC tag holds); not shown on the page."""
        with self._lock:
            self._status.update(values)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._status)

    def current_url(self) -> str | None:
        with self._lock:
            return self._item.url if self._item else None

    def current(self) -> Shown | None:
        with self._lock:
            return self._item

    def subscribe(self) -> asyncio.Event:
        event = asyncio.Event()
        event.set()  # every new connection starts with the full current state
        with self._lock:
            self._waiters.add((asyncio.get_running_loop(), event))
        return event

    def unsubscribe(self, event: asyncio.Event) -> None:
        with self._lock:
            self._waiters = {w for w in self._waiters if w[1] is not event}

    @property
    def subscribers(self) -> int:
        return len(self._waiters)

    def close(self) -> None:
        """End every stream (shutdown)."""
        with self._lock:
            self._closed = True
            waiters = list(self._waiters)
        self._wake(waiters)

    @property
    def closed(self) -> bool:
        return self._closed


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\nid: {data['seq']}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def create_app(hub: PageHub) -> Any:
    """The Starlette application serving the page, its state, its events and its QR code."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    headers = {"Cache-Control": "no-store"}
    too_many = OnceAMinute(log)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers=headers)

    async def state(request: Request) -> Response:
        return JSONResponse(hub.snapshot(), headers=headers)

    async def qr(request: Request) -> Response:
        url = hub.current_url()
        if url is None:
            return Response(status_code=404)
        return Response(qr_svg(url), media_type="image/svg+xml", headers=headers)

    async def poster(request: Request) -> Response:
        shown = hub.current()
        if shown is None:
            return Response(status_code=404)
        svg = poster_svg(shown.title, shown.url, example=shown.example)
        return Response(svg, media_type="image/svg+xml", headers=headers)

    async def media(request: Request) -> Response:
        name = request.path_params["name"]
        mime = mime_of(name)
        path = hub.media_dir / name if hub.media_dir is not None and mime else None
        if path is None or not path.is_file():
            return Response(status_code=404)
        # Stored by content hash: a name's bytes never change.
        forever = {"Cache-Control": "public, max-age=31536000, immutable"}
        return FileResponse(path, media_type=mime, headers=forever)

    async def stream() -> AsyncIterator[bytes]:
        event = hub.subscribe()
        try:
            yield f"retry: {RETRY_MS}\n\n".encode()
            while not hub.closed:
                try:
                    await asyncio.wait_for(event.wait(), timeout=HEARTBEAT_S)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                event.clear()
                if hub.closed:
                    break
                yield _sse("state", hub.snapshot())
        finally:
            hub.unsubscribe(event)

    async def events(request: Request) -> Response:
        if hub.subscribers >= MAX_STREAMS:
            too_many("streams", f"refused a screen: {MAX_STREAMS} are connected already")
            return Response(
                "Too many screens are connected to this billboard.\n", status_code=503,
                headers={**headers, "Retry-After": "30"},
            )  # fmt: skip
        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={**headers, "X-Accel-Buffering": "no"},
        )

    async def health(request: Request) -> Response:
        facts = {"ok": True, "seq": hub.seq, "url": hub.current_url(), "streams": hub.subscribers}
        return JSONResponse({**facts, **hub.status()}, headers=headers)

    routes = [
        Route("/", index),
        Route("/state", state),
        Route("/events", events),
        Route("/qr.svg", qr),
        Route("/poster.svg", poster),
        Route("/media/{name}", media),
        Route("/health", health),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    return guard(Starlette(routes=routes), security_headers(hub.video_host))


class PageServer(WebServer):
    """The billboard page, served in a background thread (see :mod:`heatcast.firmware.web`)."""

    def __init__(self, hub: PageHub, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.hub = hub
        super().__init__(create_app(hub), host, port, section="page", name="heatcast-page")

    def stop(self, timeout: float = 3.0) -> None:
        self.hub.close()
        super().stop(timeout)
