"""The billboard page in a real headless Chromium."""

from __future__ import annotations

import time

import pytest
from kiosk_helpers import make_config, wait_for

from heatcast.firmware.kiosk import Kiosk
from heatcast.firmware.page import PageHub, PageServer, Shown, video_id
from heatcast.nfc.service import TagService

pytestmark = pytest.mark.browser

A = Shown(1, "First video", "https://youtu.be/aaaaaaaaaaa")
B = Shown(2, "Second video", "https://youtu.be/bbbbbbbbbbb")
C = Shown(3, "Third video", "https://youtu.be/ccccccccccc")


def iframe_src(driver) -> str:
    return driver.find_element("id", "video").get_attribute("src") or ""


def test_page_shows_switches_and_reconnects(browser):
    hub = PageHub(nfc=True, retention_days=7)
    server = PageServer(hub, "127.0.0.1", 0)
    server.start()
    hub.publish(A)
    try:
        browser.get(server.url)
        wait_for(lambda: "aaaaaaaaaaa" in iframe_src(browser))
        src = iframe_src(browser)
        assert src.startswith("https://www.youtube-nocookie.com/embed/aaaaaaaaaaa?")
        assert "autoplay=1" in src and "mute=1" in src
        assert browser.find_element("id", "title").text == "First video"
        assert browser.find_element("id", "tap").is_displayed()
        assert "Tap your phone here" in browser.find_element("id", "tap").text
        assert "7 days" in browser.find_element("id", "privacy").text
        # the QR code is drawn by the server, and the browser renders it
        wait_for(lambda: browser.execute_script("return document.getElementById('qr').naturalWidth") > 0)
        wait_for(lambda: browser.find_element("tag name", "body").get_attribute("data-connected") == "1")

        hub.set_tag_ready(True)
        hub.publish(B)
        wait_for(lambda: "bbbbbbbbbbb" in iframe_src(browser), timeout=10)
        assert browser.find_element("id", "title").text == "Second video"
        # until the tag holds the new link, no "tap here" (a phone would get the old video)
        assert not browser.find_element("id", "tap").is_displayed()
        hub.set_tag_ready(True)
        wait_for(lambda: browser.find_element("id", "tap").is_displayed(), timeout=10)
        assert browser.find_element("tag name", "body").get_attribute("data-url") == B.url

        # the server goes away and comes back with news: the page reconnects and re-syncs
        port = server.port
        server.stop()
        wait_for(lambda: browser.find_element("tag name", "body").get_attribute("data-connected") == "0")
        hub2 = PageHub(nfc=False, retention_days=7)
        hub2.publish(C)  # seq 1 of a new boot: the page must not ignore it as "older" than B's
        server = PageServer(hub2, "127.0.0.1", port)
        server.start()
        wait_for(lambda: "ccccccccccc" in iframe_src(browser), timeout=30)
        assert not browser.find_element("id", "tap").is_displayed()  # no NFC reader: no tap prompt
    finally:
        server.stop()


def test_page_follows_the_replayed_audience(browser, tmp_path, demo_trace):
    config = make_config(tmp_path, sensor={"source": f"replay:{demo_trace}?speed=3"}, nfc={"device": "off"})
    kiosk = Kiosk(config, tag_service=TagService(None), page_port=0, report=lambda line: None, seed=5)
    kiosk.start()
    try:
        wait_for(lambda: kiosk.current is not None)
        browser.get(kiosk.page_url)
        first = kiosk.current
        assert first is not None
        first_id = str(video_id(first.url))
        wait_for(lambda: first_id in iframe_src(browser) if kiosk.current == first else True)
        shown = {first_id}
        # as the audience in the trace changes, the page switches to the new choice
        deadline = time.monotonic() + 60
        while len(shown) < 3 and time.monotonic() < deadline and not kiosk.wait(0.05):
            current = kiosk.current
            if current is not None and str(video_id(current.url)) not in shown:
                vid = str(video_id(current.url))
                wait_for(lambda v=vid, c=current: v in iframe_src(browser) or kiosk.current != c, timeout=10)
                if vid in iframe_src(browser):
                    shown.add(vid)
        assert len(shown) >= 3, (shown, kiosk.stats)
    finally:
        kiosk.close()
