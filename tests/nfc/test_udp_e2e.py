"""End to end over nfcpy's own UDP transport, with the NTAG215 in another process."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time

import pytest

from heatcast.errors import NfcError
from heatcast.nfc.keys import tag_key
from heatcast.nfc.status import probe
from heatcast.nfc.writer import TagWriter

URL = "https://www.youtube.com/watch?v=e2e-udp-test"
UID = "04C0FFEE123456"


@pytest.fixture
def emulator():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "heatcast.nfc.emulator",
            "--type",
            "ntag215",
            "--port",
            "0",
            "--lifetime",
            "90",
            "--uid",
            UID,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "the emulator did not start"
        line = proc.stdout.readline()
        assert line.startswith("listening on 127.0.0.1:"), line + proc.stderr.read()
        yield proc, int(line.rsplit(":", 1)[1])
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(10)


def until_done(action, seconds=30.0):
    """UDP between two busy processes may miss nfcpy's 5 ms read timeout; retry like the service."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return action()
        except NfcError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.timeout(120)
def test_write_protect_read_over_udp(emulator, secret):
    proc, port = emulator
    path = f"udp:127.0.0.1:{port}"
    writer = TagWriter(path, connect_timeout=2.0)
    try:
        report = until_done(lambda: writer.write_url(URL, secret=secret))
        assert report.tag_type == "NTAG215" and report.uid == UID
        assert report.verified and report.protected
        again = until_done(lambda: writer.write_url(URL, secret=secret))
        assert again.page_writes == 0 and again.verified and not again.changed
        seen = until_done(lambda: TagWriter(path, connect_timeout=2.0).read())
        assert seen.url == URL and seen.protected and not seen.phone_writable and seen.capacity == 492
    finally:
        writer.close()
    status = probe(path, secret=secret, timeout=2.0)
    if status["ok"]:  # a missed UDP deadline may fail the probe; the writes above are the proof
        assert status["writable"] is True and status["url"] == URL

    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["url"] == URL and summary["auth0"] == 3
    assert set(summary["history"]) <= {"", URL}
    assert summary["page_writes"] >= report.page_writes
    assert tag_key(secret, bytes.fromhex(UID))  # the key the tag now expects
