"""End to end: `heatcast run` on a replayed trace, an NTAG215 in another process, the page in Chromium.

The tag is heatcast's NTAG emulator on nfcpy's own UDP transport
(``python -m heatcast.nfc.emulator``), so the kiosk runs nfcpy's real reader
stack against it, exactly as against a USB reader. As the audience in the
trace changes, the page (what Chromium shows) and the tag (what the kiosk
verified, and what the emulator's memory holds at the end) come to hold the
same new URL.
"""

from __future__ import annotations

import json
import re
import select
import subprocess
import sys
import time

import httpx
import pytest
from kiosk_helpers import HEATCAST, SECRET, Running, clean_env, free_port, wait_for, write_config

from heatcast.firmware.page import video_id

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
URL = re.compile(r"https://youtu\.be/[A-Za-z0-9_-]{11}")


def start_emulator() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "heatcast.nfc.emulator", "--type", "ntag215", "--port", "0",
         "--lifetime", "240"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    assert ready, "the NTAG emulator did not start"
    line = proc.stdout.readline()
    assert line.startswith("listening on 127.0.0.1:"), line
    return proc, int(line.rsplit(":", 1)[1])


def test_page_and_tag_follow_the_audience(tmp_path, demo_trace, browser, running):
    emulator, udp_port = start_emulator()
    try:
        port = free_port()
        config = write_config(
            tmp_path,
            sensor={"source": f"replay:{demo_trace}?speed=2"},
            nfc={"device": f"udp:127.0.0.1:{udp_port}", "protect": True, "min_interval_s": 0.5},
            page={"port": port},
        )
        kiosk = Running(
            [HEATCAST, "run", "--config", str(config)],
            clean_env(tmp_path, HEATCAST_NFC_SECRET=SECRET),
            tmp_path,
        )
        running.append(kiosk)
        kiosk.expect("nfc      reader udp:", timeout=60)
        kiosk.expect("content  ", timeout=60)
        base = f"http://127.0.0.1:{port}/"
        browser.get(base)

        def page_url() -> str:
            return browser.find_element("tag name", "body").get_attribute("data-url") or ""

        def health() -> dict[str, object]:
            facts: dict[str, object] = httpx.get(base + "health", timeout=5).json()
            return facts

        agreed: list[str] = []
        deadline = time.monotonic() + 120
        while len(agreed) < 2 and time.monotonic() < deadline and kiosk.proc.poll() is None:
            url = page_url()
            if not url or url in agreed:
                time.sleep(0.1)
                continue
            # the page shows it (offline here: its poster, never a browser error), and the tag
            # comes to hold it too
            frame = browser.find_element("id", "video").get_attribute("src") or ""
            assert frame == "" and video_id(url)
            assert browser.find_element("id", "poster").is_displayed()
            try:
                wait_for(
                    lambda u=url: health().get("tag_url") == u and health().get("tag_verified"), timeout=20
                )
            except AssertionError:
                if page_url() != url:
                    continue  # the audience moved on before the tag was rewritten (rate limit)
                raise
            if page_url() == url:  # and the page invites a tap once the tag holds its link

                def tap_shown(u: str = url) -> bool:
                    return browser.find_element("id", "tap").is_displayed() or page_url() != u

                wait_for(tap_shown, timeout=10)
            agreed.append(url)
        assert len(agreed) >= 2, (agreed, kiosk.lines, health())
        assert health()["tag_protected"] is True
        assert kiosk.stop() == 0, kiosk.lines
        shown = [m.group(0) for line in kiosk.lines if " content  " in line for m in [URL.search(line)] if m]
    finally:
        emulator.terminate()
        out, _ = emulator.communicate(timeout=30)
    tag = json.loads(out.strip().splitlines()[-1])
    # the chip's own memory: it held each agreed URL, and it ends holding one the kiosk showed
    assert set(agreed) <= set(tag["history"]), (agreed, tag["history"])
    assert tag["url"] in shown
    assert tag["auth0"] < 0xFF  # password protection set up on the chip
