"""The billboard page over real HTTP: state, event stream, re-sync, QR code, binding."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from typing import Any

import httpx
import pytest

from heatcast.errors import ConfigError
from heatcast.firmware.page import PageHub, PageServer, Shown, embed_url, qr_svg, video_id

A = Shown(1, "First", "https://youtu.be/aaaaaaaaaaa")
B = Shown(2, "Second", "https://youtu.be/bbbbbbbbbbb")


@pytest.fixture
def server():
    hub = PageHub(nfc=True, retention_days=30)
    srv = PageServer(hub, "127.0.0.1", 0)
    srv.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(srv.url + "health", timeout=1).raise_for_status()
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield srv
    srv.stop()


def read_events(url, n, out, timeout=10.0):
    with httpx.stream("GET", url + "events", timeout=timeout) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        data = None
        for line in response.iter_lines():
            if line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "" and data is not None:
                out.append((time.monotonic(), data))
                data = None
                if len(out) >= n:
                    return


def test_video_embed_is_nocookie_muted_autoplay():
    assert video_id("https://youtu.be/dQw4w9WgXcQ") == "dQw4w9WgXcQ"
    assert video_id("https://shop.example/x") is None
    embed = embed_url("dQw4w9WgXcQ")
    assert embed.startswith("https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?")
    assert "autoplay=1" in embed and "mute=1" in embed


def test_state_and_page(server):
    page = httpx.get(server.url).text
    assert 'src="/static/app.js"' in page and "Tap your phone here" in page
    # nothing loaded from a CDN: every script, style and picture comes from this server
    assert re.findall(r'(?:src|href)="([^"]*)"', page)
    assert all(ref.startswith("/") for ref in re.findall(r'(?:src|href)="([^"]*)"', page))
    state = httpx.get(server.url + "state").json()
    assert state["item"] is None and state["nfc"] is True and "30 days" in state["privacy"]
    assert httpx.get(server.url + "qr.svg").status_code == 404
    server.hub.publish(A)
    state = httpx.get(server.url + "state").json()
    assert state["item"]["video_id"] == "aaaaaaaaaaa" and state["seq"] == 1
    svg = httpx.get(server.url + "qr.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and "<svg" in svg.text
    for name in ("app.js", "style.css"):
        assert httpx.get(server.url + "static/" + name).status_code == 200


def test_tap_prompt_follows_the_tag(server):
    hub = server.hub
    hub.publish(A)
    assert hub.snapshot()["tag_ready"] is None  # nobody said: the page trusts the tag
    seq = hub.seq
    hub.set_tag_ready(True)
    assert hub.snapshot()["tag_ready"] is True and hub.seq == seq + 1
    hub.set_tag_ready(True)
    assert hub.seq == seq + 1  # no change, no event
    hub.publish(B)
    assert hub.snapshot()["tag_ready"] is False  # the tag still holds A's link
    hub.set_tag_ready(True)
    assert httpx.get(server.url + "state").json()["tag_ready"] is True


def test_qr_code_holds_the_url():
    svg = qr_svg("https://youtu.be/aaaaaaaaaaa")
    assert svg.startswith("<svg") and "path" in svg
    assert 'xmlns="http://www.w3.org/2000/svg"' in svg  # an <img> needs a standalone document
    # the same URL gives the same code, another URL another
    assert svg == qr_svg.__wrapped__("https://youtu.be/aaaaaaaaaaa")
    assert svg != qr_svg("https://youtu.be/bbbbbbbbbbb")


def test_event_stream_starts_with_state_and_follows_changes(server):
    server.hub.publish(A)
    got: list[tuple[float, Any]] = []
    reader = threading.Thread(target=read_events, args=(server.url, 3, got))
    reader.start()
    deadline = time.monotonic() + 10
    while server.hub.subscribers == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    assert got[0][1]["item"]["url"] == A.url  # re-sync on (re)connection
    sent = time.monotonic()
    server.hub.publish(B)
    while len(got) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert got[1][1]["item"]["url"] == B.url
    server.hub.publish(None)
    reader.join(10)
    assert got[2][1]["item"] is None
    assert got[1][0] >= sent
    # the stream unsubscribes when the client goes
    while server.hub.subscribers and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.hub.subscribers == 0


def test_a_slow_client_only_gets_the_latest_state(server):
    for i in range(200):
        server.hub.publish(A if i % 2 else B)
    got: list[tuple[float, Any]] = []
    read_events(server.url, 1, got)
    assert got[0][1]["seq"] == 200 and got[0][1]["item"]["url"] == A.url


def test_port_in_use_is_a_clear_error(server):
    with pytest.raises(ConfigError, match=f"page.port {server.port} on 127.0.0.1 is already in use"):
        PageServer(PageHub(), "127.0.0.1", server.port)


def test_binds_loopback_only(server):
    assert server.sock.getsockname()[0] == "127.0.0.1"
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))  # UDP: sends nothing, just picks the outward address
        outward = probe.getsockname()[0]
    except OSError:
        outward = "127.0.0.1"
    finally:
        probe.close()
    if outward.startswith("127."):
        pytest.skip("no non-loopback address on this machine")
    with pytest.raises(OSError):
        socket.create_connection((outward, server.port), timeout=1).close()


def test_every_response_says_what_the_page_may_load_and_that_no_one_may_frame_it(server):
    server.hub.publish(A)
    for method, path, status in [
        ("GET", "", 200), ("GET", "state", 200), ("GET", "qr.svg", 200), ("GET", "poster.svg", 200),
        ("GET", "static/app.js", 200), ("GET", "no-such-page", 404), ("POST", "state", 405),
        ("GET", "media/../content.db", 404),
    ]:  # fmt: skip
        response = httpx.request(method, server.url + path)
        assert response.status_code == status, path
        policy = response.headers["content-security-policy"]
        assert "frame-src https://www.youtube-nocookie.com;" in policy
        assert "img-src 'self' https://i.ytimg.com;" in policy and "frame-ancestors 'none'" in policy
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "camera=()" in response.headers["permissions-policy"]
        assert "microphone=()" in response.headers["permissions-policy"]


def test_a_foreign_host_name_is_refused(server):
    """A DNS-rebinding page on the shop's network reaches the kiosk under a name of its own."""
    refused = httpx.get(server.url + "state", headers={"Host": "evil.example"})
    assert refused.status_code == 421 and "own names" in refused.text
    assert "content-security-policy" in refused.headers
    for host in ("127.0.0.1:8080", "localhost", "[::1]:8080", "192.168.1.20", socket.gethostname()):
        assert httpx.get(server.url + "state", headers={"Host": host}).status_code == 200, host


def test_half_sent_requests_are_closed_and_the_page_still_answers(server):
    from heatcast.firmware.web import HEADER_TIMEOUT_S

    host, port = "127.0.0.1", server.port
    hung = []
    for _ in range(50):
        sock = socket.create_connection((host, port))
        sock.sendall(b"GET /state HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # and never the rest
        hung.append(sock)
    try:
        assert httpx.get(server.url + "state", timeout=5).status_code == 200  # meanwhile
        deadline = time.monotonic() + HEADER_TIMEOUT_S + 5
        closed = 0
        for sock in hung:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                if sock.recv(1024) == b"":
                    closed += 1
            except (TimeoutError, ConnectionResetError):
                pass
        assert closed == len(hung)
    finally:
        for sock in hung:
            sock.close()


def test_too_many_screens_get_a_503_and_state_still_answers(server):
    from heatcast.firmware.page import MAX_STREAMS

    streams = [httpx.stream("GET", server.url + "events", timeout=10) for _ in range(MAX_STREAMS)]
    opened = [s.__enter__() for s in streams]
    try:
        wait = time.monotonic() + 10
        while server.hub.subscribers < MAX_STREAMS and time.monotonic() < wait:
            time.sleep(0.05)
        assert server.hub.subscribers == MAX_STREAMS
        extra = httpx.get(server.url + "events", timeout=5)
        assert extra.status_code == 503 and extra.headers["retry-after"] == "30"
        assert httpx.get(server.url + "state", timeout=5).status_code == 200
    finally:
        for stream in streams:
            stream.__exit__(None, None, None)
        assert all(r.status_code == 200 for r in opened)


def test_each_item_has_a_poster_even_without_one_of_its_own(server):
    server.hub.publish(Shown(7, "Fresh <bread> & rolls", "https://youtu.be/ccccccccccc", example=True))
    item = httpx.get(server.url + "state").json()["item"]
    assert item["poster"].startswith("/poster.svg") and item["video"] is None
    assert item["probe"] == "https://i.ytimg.com/vi/ccccccccccc/mqdefault.jpg"
    svg = httpx.get(server.url + item["poster"].lstrip("/"))
    assert svg.headers["content-type"] == "image/svg+xml"
    assert "Fresh &lt;bread&gt; &amp; rolls" in svg.text and "EXAMPLE" in svg.text
    assert "<script" not in svg.text and "href" not in svg.text  # nothing fetched, nothing run


def test_media_are_served_only_by_the_names_heatcast_gave_them(tmp_path):
    from heatcast.firmware.media import store

    (tmp_path / "secret.txt").write_text("not for the screen")
    poster = tmp_path / "p.png"
    poster.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    name = store(poster, "poster", tmp_path / "media")
    hub = PageHub(media_dir=tmp_path / "media")
    srv = PageServer(hub, "127.0.0.1", 0)
    srv.start()
    try:
        hub.publish(Shown(1, "With poster", "https://youtu.be/aaaaaaaaaaa", poster=name))
        item = httpx.get(srv.url + "state", timeout=5).json()["item"]
        assert item["poster"] == f"/media/{name}"
        got = httpx.get(srv.url + f"media/{name}")
        assert got.status_code == 200 and got.headers["content-type"] == "image/png"
        assert got.content == poster.read_bytes()
        for bad in ("../secret.txt", "%2e%2e%2fsecret.txt", "secret.txt", name.replace(".png", ".mp4")):
            assert httpx.get(srv.url + f"media/{bad}").status_code == 404, bad
    finally:
        srv.stop()


@pytest.mark.timeout(120)
def test_a_flood_of_half_sent_requests_at_a_low_open_files_limit_cannot_silence_the_page(tmp_path):
    """600 connections that never finish their request, against a page server allowed 256 open
    files: it keeps its descriptors, /state still answers, and the log says so a few times,
    not once per refused connection."""
    import subprocess
    import sys

    child = (
        "import logging, resource, sys, time\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))\n"
        "logging.basicConfig(level=logging.WARNING, stream=sys.stderr)\n"
        "from heatcast.firmware.page import PageHub, PageServer, Shown\n"
        "hub = PageHub()\n"
        "hub.publish(Shown(1, 'x', 'https://youtu.be/aaaaaaaaaaa'))\n"
        "server = PageServer(hub, '127.0.0.1', 0)\n"
        "server.start()\n"
        "print(server.port, flush=True)\n"
        "time.sleep(float(sys.argv[1]))\n"
        "server.stop()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child, "90"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    held = []
    answered = []
    try:
        for _ in range(600):
            sock = socket.socket()
            sock.settimeout(2)
            try:
                sock.connect(("127.0.0.1", port))
                sock.sendall(b"GET /state HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            except OSError:
                sock.close()
                continue
            held.append(sock)
        for _ in range(5):
            started = time.monotonic()
            response = httpx.get(f"http://127.0.0.1:{port}/state", timeout=5)
            answered.append((response.status_code, time.monotonic() - started))
    finally:
        for sock in held:
            sock.close()
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert [code for code, _ in answered] == [200] * 5, (answered, err[-2000:])
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 6, err[-2000:]
