"""The shop owner's panel over real HTTP: its password, sessions, CSRF, login lock, uploads and pages."""

from __future__ import annotations

import io
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from kiosk_helpers import free_port, make_config

from heatcast.classify.audience import Audience
from heatcast.errors import ConfigError
from heatcast.firmware import media
from heatcast.firmware.catalogue import Catalogue, ContentItem, Impression, Schedule, Targeting
from heatcast.firmware.cli import main
from heatcast.firmware.config import Config
from heatcast.firmware.kiosk import Kiosk
from heatcast.firmware.page import PageHub, Shown
from heatcast.firmware.panel import (
    LOCK_S,
    MAX_FAILURES,
    Guard,
    PanelServer,
    hash_password,
    password_path,
    read_password,
    set_password,
    verify_password,
)
from heatcast.nfc.service import TagService

PASSWORD = "correct horse battery"
#: routes anyone may open: the login page itself and its style sheet
PUBLIC = {"/login", "/panel.css"}


def png(size: int = 64) -> bytes:
    """A real PNG, padded to about ``size`` bytes (media are checked by their bytes)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 120, 200)).save(out, "PNG")
    data = out.getvalue()
    return data + b"\0" * max(0, size - len(data))


@dataclass
class FakeKiosk:
    """What the panel reads from a kiosk."""

    config: Config
    hub: PageHub = field(default_factory=PageHub)
    latest: Audience | None = None
    clock: Callable[[], datetime] = datetime.now


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Panel:
    server: PanelServer
    kiosk: FakeKiosk
    clock: Clock
    catalogue: Catalogue

    @property
    def url(self) -> str:
        return self.server.url.rstrip("/")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=10)


@pytest.fixture
def panel(tmp_path: Path) -> Iterator[Panel]:
    config = make_config(tmp_path)
    config.data_dir.mkdir(parents=True)
    set_password(config.data_dir, PASSWORD)
    catalogue = Catalogue(config.db_path)  # an empty catalogue
    kiosk = FakeKiosk(config)
    clock = Clock()
    server = PanelServer(kiosk, "127.0.0.1", 0, guard=Guard(config.data_dir, clock=clock))
    server.start()
    deadline = time.monotonic() + 10
    while True:
        try:
            httpx.get(server.url + "login", timeout=1).raise_for_status()
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield Panel(server, kiosk, clock, catalogue)
    server.stop()
    catalogue.close()


def csrf_of(text: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', text)
    assert match, text
    return match.group(1)


def login(client: httpx.Client, password: str = PASSWORD) -> httpx.Response:
    page = client.get("/login")
    assert page.status_code == 200
    return client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "password": password},
        headers={"Origin": str(client.base_url)},
    )


def logged_in(panel: Panel) -> tuple[httpx.Client, str]:
    client = panel.client()
    response = login(client)
    assert response.status_code == 303 and response.headers["location"] == "/content", response.text
    return client, csrf_of(client.get("/content").text)


def item_fields(csrf: str, **extra: str | list[str]) -> dict[str, str | list[str]]:
    fields: dict[str, str | list[str]] = {
        "csrf": csrf, "title": "Winter sale", "url": "https://youtu.be/aaaaaaaaaaa", "people": "0-0",
        "weight": "1", "active": "1",
    }  # fmt: skip
    fields.update(extra)
    return fields


def post_item(client: httpx.Client, csrf: str, files: dict[str, tuple[str, bytes, str]] | None = None,
              action: str = "/content/new", **extra: str | list[str]) -> httpx.Response:  # fmt: skip
    return client.post(
        action,
        data=item_fields(csrf, **extra),
        files=files or {"video": ("", b"", "application/octet-stream")},  # always multipart, as a browser
        headers={"Origin": str(client.base_url)},
    )


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


# -- the password ------------------------------------------------------------------------------


def test_the_password_is_a_salted_scrypt_hash_readable_by_its_owner_only(tmp_path):
    path = set_password(tmp_path, PASSWORD)
    assert path == password_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = read_password(tmp_path)
    assert stored is not None and stored.startswith("scrypt$16384$8$1$") and PASSWORD not in stored
    assert verify_password(PASSWORD, stored) and not verify_password(PASSWORD + "x", stored)
    assert hash_password(PASSWORD) != hash_password(PASSWORD)  # a fresh salt each time
    path.write_text("scrypt$1048576$8$1$" + "0" * 32 + "$" + "0" * 64)  # a cost no Pi can pay
    with pytest.raises(ConfigError, match="heatcast panel passwd"):
        read_password(tmp_path)


def test_panel_passwd_asks_twice_or_reads_stdin(tmp_path):
    env = {"HEATCAST_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    typed = f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n"  # a mistake, then twice the same
    result = runner.invoke(main, ["panel", "passwd"], input=typed, env=env)
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output and "panel password set" in result.output
    assert "http://127.0.0.1:8081/" in result.output
    stored = read_password(tmp_path / "data")
    assert stored is not None and verify_password(PASSWORD, stored)
    assert stat.S_IMODE(password_path(tmp_path / "data").stat().st_mode) == 0o600

    result = runner.invoke(main, ["panel", "passwd", "--stdin"], input="another password\n", env=env)
    assert result.exit_code == 0 and "changed" in result.output, result.output
    assert verify_password("another password", read_password(tmp_path / "data") or "")
    result = runner.invoke(main, ["panel", "passwd", "--stdin"], input="short\n", env=env)
    assert result.exit_code == 2 and "at least 8 characters" in result.output
    result = runner.invoke(main, ["panel", "off"], env=env)
    assert result.exit_code == 0 and read_password(tmp_path / "data") is None


def test_panel_keys_are_checked(tmp_path):
    config = make_config(tmp_path, panel={"host": "0.0.0.0", "port": 9000})
    assert (config.panel.host, config.panel.port) == ("0.0.0.0", 9000)
    assert make_config(tmp_path).panel.port == 8081
    with pytest.raises(ConfigError, match=r"panel\.port must be an integer from 1 to 65535"):
        make_config(tmp_path, panel={"port": 70000})
    with pytest.raises(ConfigError, match=r"unknown key panel\.prot"):
        make_config(tmp_path, panel={"prot": 1})


# -- no session, no panel -----------------------------------------------------------------------


def test_every_panel_route_refuses_without_a_session(panel):
    source = panel.kiosk.config.data_dir / "poster.png"
    source.write_bytes(png())
    name = media.store(source, "poster", panel.catalogue.media_dir)  # a file the panel would show
    routes = [(r.path, sorted(r.methods or ())) for r in panel.server.app.routes]
    assert len(routes) >= 15
    checked = 0
    for cookies in ({}, {"heatcast_panel": "forged"}):
        client = panel.client()
        client.cookies.update(cookies)
        for path, methods in routes:
            if path in PUBLIC:
                continue
            url = path.replace("{item_id}", "1").replace("{name}", name)
            if "GET" in methods:
                response = client.get(url)
                assert response.status_code == 303 and response.headers["location"] == "/login", url
                checked += 1
            if "POST" in methods:
                response = client.post(url, data={"csrf": "x", "active": "1"}, headers={"Origin": panel.url})
                assert response.status_code == 401, (url, response.status_code)
                checked += 1
    assert checked == 2 * len([r for r in routes if r[0] not in PUBLIC]) == 30
    assert panel.catalogue.items(archived=None) == []


def test_a_session_ends_at_logout_and_with_a_new_password(panel):
    client, csrf = logged_in(panel)
    assert client.get("/content").status_code == 200
    response = client.post("/logout", data={"csrf": csrf}, headers={"Origin": panel.url})
    assert response.status_code == 303
    assert client.get("/content").status_code == 303

    client, _ = logged_in(panel)
    set_password(panel.kiosk.config.data_dir, "a brand new password")
    assert client.get("/content").status_code == 303  # logged out
    assert login(panel.client()).status_code == 401
    assert login(panel.client(), "a brand new password").status_code == 303


def test_cookies_are_httponly_and_samesite_strict(panel):
    client = panel.client()
    page = client.get("/login")
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain http on this machine; Secure once served over https
    before = client.cookies["heatcast_panel"]
    response = client.post("/login", data={"csrf": csrf_of(page.text), "password": PASSWORD},
                           headers={"Origin": panel.url})  # fmt: skip
    assert response.status_code == 303
    assert client.cookies["heatcast_panel"] != before  # a new token once logged in
    for header in ("content-security-policy", "x-frame-options", "x-content-type-options"):
        assert header in page.headers
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no script
    assert "<script" not in page.text


# -- cross-site forms -----------------------------------------------------------------------------


def test_a_cross_site_form_post_is_refused(panel):
    client, csrf = logged_in(panel)
    evil = {"Origin": "http://evil.example"}
    for headers, data in (
        (evil, item_fields(csrf)),  # another site, with a stolen token even
        ({"Origin": "null"}, item_fields(csrf)),
        # the billboard page on the same machine is the same site (cookies ignore ports): still refused
        ({"Origin": f"http://127.0.0.1:{panel.server.port + 1}"}, item_fields(csrf)),
        ({}, item_fields(csrf)),  # neither Origin nor Referer
        ({"Referer": "http://evil.example/form"}, item_fields(csrf)),
        ({"Origin": panel.url}, item_fields("")),  # no CSRF token
        ({"Origin": panel.url}, item_fields("not-the-token")),
    ):
        response = client.post("/content/new", data=data, headers=headers)
        assert response.status_code == 403, (headers, response.text)
        response = client.post("/content/new", data=data, files={"poster": ("p.png", png(), "image/png")},
                               headers=headers)  # fmt: skip
        assert response.status_code == 403, (headers, response.text)
    assert panel.catalogue.items(archived=None) == []
    assert files_under(panel.catalogue.media_dir) == set()
    # the login form too: a page elsewhere cannot log the owner in
    other = panel.client()
    page = other.get("/login")
    response = other.post("/login", data={"csrf": csrf_of(page.text), "password": PASSWORD}, headers=evil)
    assert response.status_code == 403
    response = other.post("/login", data={"password": PASSWORD}, headers={"Origin": panel.url})
    assert response.status_code == 403

    response = post_item(client, csrf)
    assert response.status_code == 303, response.text
    assert [i.title for i in panel.catalogue.items()] == ["Winter sale"]


# -- the login lock ---------------------------------------------------------------------------------


def test_five_wrong_passwords_lock_logins_for_a_while(panel):
    client = panel.client()
    for n in range(1, MAX_FAILURES):
        response = login(client, "wrong password")
        assert response.status_code == 401
        assert f"{MAX_FAILURES - n} more wrong" in response.text
    response = login(client, "wrong password")
    assert response.status_code == 429
    assert "locked for 5 minutes" in response.text
    # locked: even the right password is refused, and the login page says for how long
    response = login(client)
    assert response.status_code == 429 and "locked for 5 minutes" in response.text
    assert "left" in client.get("/login").text
    panel.clock.now += LOCK_S - 1
    assert login(client).status_code == 429
    panel.clock.now += 2
    assert login(client).status_code == 303


def test_parallel_guesses_gain_nothing(panel):
    results: list[int] = []

    def guess() -> None:
        results.append(login(panel.client(), "wrong password").status_code)

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(401) == MAX_FAILURES - 1 and results.count(429) == 12 - MAX_FAILURES + 1


def test_a_new_password_opens_a_locked_panel(panel):
    client = panel.client()
    for _ in range(MAX_FAILURES):
        login(client, "wrong password")
    assert login(client).status_code == 429
    set_password(panel.kiosk.config.data_dir, "the owner's new password")
    assert login(client, "the owner's new password").status_code == 303


# -- uploads -------------------------------------------------------------------------------------------


def test_an_upload_named_dot_dot_stays_inside_the_data_directory(panel, tmp_path):
    client, csrf = logged_in(panel)
    before = files_under(tmp_path)
    data = png()
    response = post_item(client, csrf, files={"poster": ("../../x", data, "image/png")})
    assert response.status_code == 303, response.text
    new = files_under(tmp_path) - before
    folder = panel.catalogue.media_dir
    assert folder.is_relative_to(panel.kiosk.config.data_dir)
    assert {p.parent for p in new} <= {folder, panel.kiosk.config.db_path.parent}
    stored = [p for p in new if p.parent == folder]
    assert len(stored) == 1 and media.mime_of(stored[0].name) == "image/png"
    assert stored[0].read_bytes() == data
    assert not any(p.name == "x" for p in files_under(tmp_path.parent))
    (item,) = panel.catalogue.items()
    assert item.poster == stored[0].name
    # the poster is shown to the owner, by its stored name only
    assert client.get(f"/media/{item.poster}").content == data
    assert client.get("/media/..%2F..%2Fx").status_code == 404

    # a file that is not an image is refused, whatever its name says
    script = b"<?php evil(); ?>" * 10
    response = post_item(client, csrf, files={"poster": ("../../y.png", script, "image/png")},
                         url="https://youtu.be/bbbbbbbbbbb", title="Other")  # fmt: skip
    assert response.status_code == 400 and "must be a PNG, JPEG or WebP image" in response.text
    assert files_under(folder) == set(stored)
    assert len(panel.catalogue.items()) == 1


def test_an_oversized_upload_is_refused_without_being_stored(panel, monkeypatch):
    monkeypatch.setitem(media.MAX_BYTES, "poster", 200_000)
    client, csrf = logged_in(panel)
    response = post_item(client, csrf, files={"poster": ("big.png", png(600_000), "image/png")})
    assert response.status_code == 413
    assert "the poster is bigger than 195 KB: make it smaller" in response.text
    assert files_under(panel.catalogue.media_dir) == set()  # not even a temporary file
    assert panel.catalogue.items(archived=None) == []
    # a file field on a form that takes none
    response = client.post("/content/1/active", data={"csrf": csrf, "active": "1"},
                           files={"poster": ("p.png", png(), "image/png")},
                           headers={"Origin": panel.url})  # fmt: skip
    assert response.status_code in (400, 409)
    # just under the limit is fine
    response = post_item(client, csrf, files={"poster": ("ok.png", png(190_000), "image/png")})
    assert response.status_code == 303, response.text


def test_a_body_declared_too_big_is_refused_before_it_is_read(panel, monkeypatch):
    monkeypatch.setitem(media.MAX_BYTES, "poster", 50_000)
    monkeypatch.setitem(media.MAX_BYTES, "video", 50_000)
    client, _ = logged_in(panel)
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(2000):  # 128 MB, if anyone read it all
            sent += 65536
            yield b"\0" * 65536

    headers = {"Origin": panel.url, "Content-Type": "multipart/form-data; boundary=x",
               "Content-Length": str(2000 * 65536)}  # fmt: skip
    try:
        response = client.post("/content/new", content=body(), headers=headers)
        assert response.status_code == 413
    except httpx.TransportError:
        pass  # the panel closed the connection without reading it: also a refusal
    assert sent < 2000 * 65536 // 4
    assert files_under(panel.catalogue.media_dir) == set()
    response = client.post("/content/1/active", content=b"csrf=" + b"x" * 100_000, headers={
        "Origin": panel.url, "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert response.status_code == 413


# -- content --------------------------------------------------------------------------------------------


def test_add_edit_schedule_switch_archive_and_restore(panel):
    client, csrf = logged_in(panel)
    response = post_item(
        client, csrf, files={"poster": ("p.png", png(), "image/png")}, people="1-2", postures=["standing"],
        days=["mon", "tue", "sat"], hours_from="09:00", hours_to="18:00", date_from="2026-12-01",
        date_to="2026-12-24", tags="sale, winter", weight="2",
    )  # fmt: skip
    assert response.status_code == 303, response.text
    (item,) = panel.catalogue.items()
    assert item.targeting == Targeting(1, 2, ("standing",))
    assert item.schedule == Schedule.parse("mon,tue,sat", "09:00-18:00", "2026-12-01", "2026-12-24")
    assert item.tags == ("sale", "winter") and item.weight == 2.0 and item.poster
    listing = client.get("/content").text
    assert "Winter sale" in listing and "mon,tue,sat" in listing and f"/media/{item.poster}" in listing

    edit = client.get(f"/content/{item.id}")
    assert edit.status_code == 200 and 'value="09:00"' in edit.text and "checked" in edit.text
    response = post_item(client, csrf, action=f"/content/{item.id}", title="Winter sale, last week",
                         url="https://www.youtube.com/watch?v=ccccccccccc", days=["sun"], hours_from="22:00",
                         hours_to="24:00", people="0-0")  # fmt: skip
    assert response.status_code == 303, response.text
    changed = panel.catalogue.get(item.id)
    assert changed.title == "Winter sale, last week" and changed.url == "https://youtu.be/ccccccccccc"
    assert changed.schedule.days == (6,) and changed.schedule.hours_text == "22:00-23:59"
    assert changed.targeting.attract and changed.poster == item.poster  # the poster stays
    assert 'value="24:00"' in client.get(f"/content/{item.id}").text

    response = post_item(client, csrf, action=f"/content/{item.id}", remove_poster="1",
                         url="https://youtu.be/ccccccccccc")
    assert response.status_code == 303 and panel.catalogue.get(item.id).poster is None

    bad = post_item(client, csrf, hours_from="25:00", hours_to="18:00", url="https://youtu.be/ddddddddddd")
    assert bad.status_code == 400 and "not a time of day" in bad.text and 'value="25:00"' in bad.text
    bad = post_item(client, csrf, url="https://evil.example/video")
    assert bad.status_code == 400 and "evil.example" in bad.text
    duplicate = post_item(client, csrf, url="https://youtu.be/ccccccccccc")
    assert duplicate.status_code == 400 and "already item" in duplicate.text

    origin = {"Origin": panel.url}
    assert client.post(f"/content/{item.id}/active", data={"csrf": csrf, "active": "0"}, headers=origin
                       ).status_code == 303  # fmt: skip
    assert not panel.catalogue.get(item.id).active
    assert client.post(f"/content/{item.id}/archive", data={"csrf": csrf}, headers=origin).status_code == 303
    assert panel.catalogue.items() == [] and panel.catalogue.items(archived=True)[0].id == item.id
    assert "Archived" in client.get("/content").text
    assert client.post(f"/content/{item.id}/restore", data={"csrf": csrf}, headers=origin).status_code == 303
    assert [i.id for i in panel.catalogue.items()] == [item.id]
    missing = client.post("/content/999/active", data={"csrf": csrf, "active": "1"}, headers=origin)
    assert missing.status_code == 409 and "no item 999" in missing.text


def test_preview_shows_what_the_schedule_allows_now_and_next(panel):
    cat = panel.catalogue
    cat.add(ContentItem.create("https://youtu.be/aaaaaaaaaaa", "Morning loop", targeting=Targeting(0, 0),
                               schedule=Schedule.parse(hours="06:00-12:00")))  # fmt: skip
    cat.add(ContentItem.create("https://youtu.be/bbbbbbbbbbb", "Evening loop", targeting=Targeting(0, 0),
                               schedule=Schedule.parse(hours="17:00-23:00")))  # fmt: skip
    cat.add(ContentItem.create("https://youtu.be/ccccccccccc", "For watchers",
                               targeting=Targeting(1, 4, (), ("facing",), 5.0)))  # fmt: skip
    panel.kiosk.hub.publish(Shown(1, "Morning loop", "https://youtu.be/aaaaaaaaaaa"))
    client, _ = logged_in(panel)
    text = client.get("/preview", params={"at": "2026-12-07T09:30"}).text
    assert "Now on screen: <strong>Morning loop</strong>" in text
    nobody = re.search(r"<tr><th>nobody there</th><td>(\d+)</td><td>(.*?)</td>", text)
    assert nobody and nobody.groups() == ("1", "Morning loop")
    watching = re.search(r"<tr><th>1 person watching</th><td>(\d+)</td><td>(.*?)</td>", text)
    assert watching and watching.group(2) == "For watchers"
    passing = re.search(r"<tr><th>1 person passing by</th><td>(\d+)</td>", text)
    assert passing and passing.group(1) == "0"
    assert "Next change <strong>Mon 07 Dec 12:00</strong>: stops: Morning loop" in text
    assert text.count("<rect") >= 24  # the hour-by-hour chart
    evening = client.get("/preview", params={"at": "2026-12-07T18:00"}).text
    assert re.search(r"<tr><th>nobody there</th><td>1</td><td>Evening loop</td>", evening)
    assert client.get("/preview", params={"at": "soon"}).status_code == 400
    cat.add(ContentItem.create("https://youtu.be/ddddddddddd", "Lunch offer",
                               schedule=Schedule.parse("sat", "12:10-13:45")))  # fmt: skip
    saturday = client.get("/preview", params={"at": "2026-12-12T11:00"}).text
    assert "Next change <strong>Sat 12 Dec 12:00</strong>: stops: Morning loop" in saturday
    lunch = client.get("/preview", params={"at": "2026-12-12T12:00"}).text
    assert "Next change <strong>Sat 12 Dec 12:10</strong>: starts: Lunch offer" in lunch


def test_the_live_audience_is_counts_only(panel):
    client, _ = logged_in(panel)
    assert client.get("/audience.json").json()["audience"] == "no reading yet"
    panel.kiosk.latest = Audience(12.0, True, 2, "standing", "facing", dwell_s=8.4, facing_s=6.2)
    panel.kiosk.hub.publish(Shown(1, "Winter sale", "https://youtu.be/aaaaaaaaaaa"))
    facts = client.get("/audience.json").json()
    assert facts == {
        "audience": "2 people, standing, facing (facing for 6 s)", "count": 2, "posture": "standing",
        "orientation": "facing", "dwell_s": 8, "facing_s": 6, "showing": "Winter sale",
    }  # fmt: skip
    page = client.get("/audience").text
    assert "2 people, standing, facing" in page and 'http-equiv="refresh"' in page
    for word in ("frame", "pixel", "thermal image", "temperature"):
        assert word not in page.lower()


def test_reports_are_svg_charts_drawn_here(panel):
    cat = panel.catalogue
    item = cat.add(ContentItem.create("https://youtu.be/aaaaaaaaaaa", "Winter sale"))
    start = datetime.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    for n in range(3):
        cat.record_impression(Impression(
            item.id or 0, 1 + n % 2, "standing", "facing", start + timedelta(minutes=n),
            start + timedelta(minutes=n, seconds=30), 20.0, 5.0 * n, True,
        ))  # fmt: skip
    client, _ = logged_in(panel)
    for days in ("1", "7", "30", "all", "nonsense"):
        response = client.get("/reports", params={"days": days})
        assert response.status_code == 200
        text = response.text
        assert text.count("<svg") >= 3 and "Winter sale" in text and "<script" not in text
        assert "visits;" in text and "conversion" in text and "The last 7 days against the 7 before" in text
        assert "http" not in re.sub(r'xmlns="http://www.w3.org/2000/svg"', "", text.split("<main>")[1])


# -- the kiosk serves it ------------------------------------------------------------------------------


class Idle:
    """A frame source that sends nothing until closed."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[object]:
        self.closed.wait()
        return iter(())

    def close(self) -> None:
        self.closed.set()


class NoPipeline:
    def update(self, frame: object) -> Audience:
        raise AssertionError("no frames here")


def test_the_kiosk_serves_the_panel_once_a_password_is_set(tmp_path):
    port = free_port()
    config = make_config(tmp_path, page={"enabled": False}, panel={"port": port})
    lines: list[str] = []

    def kiosk() -> Kiosk:
        return Kiosk(config, source_factory=Idle, pipeline=NoPipeline(), tag_service=TagService(None),  # type: ignore[arg-type]
                     report=lines.append)  # fmt: skip

    off = kiosk()
    assert off.panel is None
    off.close()
    set_password(config.data_dir, PASSWORD)
    on = kiosk()
    on.start()
    try:
        assert any(line == f"panel    http://127.0.0.1:{port}/" for line in lines), lines
        assert httpx.get(f"http://127.0.0.1:{port}/login", timeout=5).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/content", timeout=5).status_code == 303
    finally:
        on.close()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
    # the port taken: one clear line, and the page and tag are let go
    with socket_on(port), pytest.raises(ConfigError, match=f"panel.port {port} .* already in use"):
        kiosk()


class socket_on:
    def __init__(self, port: int) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(1)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def test_panel_files_are_never_world_readable(panel):
    mode = stat.S_IMODE(os.stat(password_path(panel.kiosk.config.data_dir)).st_mode)
    assert mode & 0o077 == 0


def test_doctor_says_whether_the_panel_is_on(tmp_path):
    from heatcast.firmware.panel import check_panel

    config = make_config(tmp_path, panel={"host": "0.0.0.0"})
    assert check_panel(config).ok is None and "heatcast panel passwd" in check_panel(config).detail
    path = set_password(config.data_dir, PASSWORD)
    check = check_panel(config)
    assert check.ok and check.detail == "on at http://0.0.0.0:8081/ (the network) while the kiosk runs"
    path.chmod(0o644)
    check = check_panel(config)
    assert check.ok is False and check.remedy == f"chmod 600 {path}"
    path.write_text("password123\n")
    check = check_panel(config)
    assert check.ok is False and "heatcast panel passwd" in check.detail


def test_a_foreign_host_name_is_refused_and_https_cookies_are_secure(panel):
    client = panel.client()
    # a DNS-rebinding page reaches the panel under a name of its own: refused
    assert client.get("/login", headers={"Host": "evil.example"}).status_code == 421
    # behind an https proxy on this machine the cookie is Secure
    page = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert page.status_code == 200 and "secure" in page.headers["set-cookie"].lower()


def test_what_the_owner_types_is_shown_as_text_never_as_markup(panel):
    client, csrf = logged_in(panel)
    title = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    response = post_item(client, csrf, title=title, description="</textarea><b>bold</b>", tags="<i>a</i>")
    assert response.status_code == 303, response.text
    (item,) = panel.catalogue.items()
    for url in ("/content", f"/content/{item.id}", "/preview", "/reports?days=all"):
        text = client.get(url).text
        assert "<script" not in text and "<img src=x" not in text and "<b>bold" not in text, url
    assert "&lt;script&gt;" in client.get("/content").text
