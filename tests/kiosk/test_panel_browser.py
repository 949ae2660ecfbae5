"""The shop owner's panel in a real headless Chromium: log in, add an item with a poster, schedule it,
and see it on the billboard page."""

from __future__ import annotations

import io
import time
from datetime import datetime
from pathlib import Path

import pytest
from kiosk_helpers import free_port, make_config, wait_for

from heatcast.classify.audience import EMPTY_AUDIENCE
from heatcast.firmware.catalogue import DAYS, Catalogue
from heatcast.firmware.kiosk import Kiosk, Trigger
from heatcast.firmware.panel import set_password
from heatcast.nfc.service import TagService

pytestmark = pytest.mark.browser

PASSWORD = "the shop's own password"


def poster_file(folder: Path) -> Path:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (320, 180), (200, 40, 40)).save(out, "PNG")
    path = folder / "winter poster.png"
    path.write_bytes(out.getvalue())
    return path


def test_a_shop_owner_adds_and_schedules_an_item_and_sees_it_on_the_screen(browser, tmp_path):
    config = make_config(tmp_path, sensor={"source": "sim:"}, panel={"port": free_port()})
    config.data_dir.mkdir(parents=True)
    Catalogue(config.db_path).close()  # an empty catalogue: only what the owner adds can show
    set_password(config.data_dir, PASSWORD)
    kiosk = Kiosk(config, tag_service=TagService(None), page_port=0, report=lambda line: None, seed=1)
    assert kiosk.panel is not None and kiosk._open_catalogue()
    kiosk.page.start()  # type: ignore[union-attr]
    kiosk.panel.start()
    panel = kiosk.panel.url.rstrip("/")
    try:
        # every panel page wants the password first
        browser.get(f"{panel}/content/new")
        wait_for(lambda: browser.current_url == f"{panel}/login")
        browser.find_element("name", "password").send_keys("not the password")
        browser.find_element("css selector", "form.login button").click()
        wait_for(lambda: "Wrong password. 4 more wrong tries" in browser.page_source)
        browser.find_element("name", "password").send_keys(PASSWORD)
        browser.find_element("css selector", "form.login button").click()
        wait_for(lambda: browser.current_url == f"{panel}/content")
        cookie = browser.get_cookie("heatcast_panel")
        assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"

        # add an item for when nobody is there, with a poster, scheduled for today all day
        browser.find_element("link text", "Add an item").click()
        wait_for(lambda: browser.current_url == f"{panel}/content/new")
        form = browser.find_element("css selector", "form.item")
        form.find_element("name", "title").send_keys("Winter sale")
        form.find_element("name", "url").send_keys("https://www.youtube.com/watch?v=aaaaaaaaaaa")
        form.find_element("name", "poster").send_keys(str(poster_file(tmp_path)))
        people = form.find_element("name", "people")
        people.clear()
        people.send_keys("0-0")
        today = DAYS[datetime.now().weekday()]
        form.find_element("css selector", f'input[name="days"][value="{today}"]').click()
        form.find_element("name", "hours_from").send_keys("00:00")
        form.find_element("name", "hours_to").send_keys("24:00")
        form.find_element("css selector", "button[type=submit]").click()
        wait_for(lambda: "Saved item" in browser.page_source)
        row = browser.find_element("css selector", "table.items tbody tr")
        assert "Winter sale" in row.text and today in row.text and "nobody there" in row.text
        thumb = row.find_element("css selector", "img.thumb")
        wait_for(lambda: browser.execute_script("return arguments[0].naturalWidth", thumb) == 320)
        (item,) = kiosk.catalogue.items()
        assert item.poster and item.url == "https://youtu.be/aaaaaaaaaaa"

        # the preview says it may play now, for nobody there
        browser.find_element("link text", "Schedule preview").click()
        wait_for(lambda: "What may play" in browser.page_source)
        nobody = browser.find_element("xpath", "//tr[th='nobody there']")
        assert "Winter sale" in nobody.text

        # the kiosk's next choice puts it on the billboard page, with the owner's poster
        kiosk._choose(Trigger("rotate", EMPTY_AUDIENCE))
        assert kiosk.current is not None and kiosk.current.title == "Winter sale"
        browser.get(kiosk.page_url)
        wait_for(lambda: browser.find_element("id", "title").text == "Winter sale", timeout=15)
        poster = browser.find_element("id", "poster")
        wait_for(lambda: (poster.get_attribute("src") or "").endswith(f"/media/{item.poster}"), timeout=15)
        drawn = "return arguments[0].naturalWidth"
        wait_for(lambda: browser.execute_script(drawn, poster) == 320, timeout=15)

        # switched off in the panel, it never comes back
        browser.get(f"{panel}/content")
        browser.find_element("xpath", "//button[text()='Switch off']").click()
        wait_for(lambda: "Switch on" in browser.page_source)
        assert not kiosk.catalogue.get(item.id).active
        time.sleep(0.1)
        kiosk._choose(Trigger("rotate", EMPTY_AUDIENCE))
        assert kiosk.current is None

        # the live audience: counts only
        browser.get(f"{panel}/audience")
        assert browser.find_element("id", "audience").text == "no reading yet"
    finally:
        kiosk.close()
