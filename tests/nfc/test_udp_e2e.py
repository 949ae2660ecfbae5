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


@pytest.mark.timeout(300)
def test_nfc_write_killed_at_any_moment_never_leaves_a_wrong_url(emulator, secret, tmp_path):
    """`heatcast nfc write` as a real process, SIGKILLed at moments spread over a write to the
    tag in another process: the tag holds the old URL, no message or the new one, never a mix,
    and the next write mends it."""
    import os
    import random
    import signal

    proc, port = emulator
    urls = ["https://youtu.be/aaaaaaaaaaa", "https://youtu.be/bbbbbbbbbbb"]
    env = {**os.environ, "HEATCAST_NFC_SECRET": secret.decode(), "XDG_CONFIG_HOME": str(tmp_path)}
    from pathlib import Path

    program = str(Path(sys.executable).with_name("heatcast"))
    heatcast = [program, "nfc", "write", "--device", f"udp:127.0.0.1:{port}"]
    # how long a whole write takes here, to spread the kills over it
    started = time.monotonic()
    done = subprocess.run([*heatcast, urls[0]], env=env, capture_output=True, text=True, timeout=60)
    whole = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    rng = random.Random(7)
    killed = 0
    for trial in range(16):
        writer = subprocess.Popen([*heatcast, urls[(trial + 1) % 2]], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(rng.uniform(0.2, 1.0) * whole)
        if writer.poll() is None:
            writer.send_signal(signal.SIGKILL)
            killed += 1
        writer.wait(30)
    final = subprocess.run([*heatcast, urls[1]], env=env, capture_output=True, text=True, timeout=60)
    assert final.returncode == 0, final.stdout + final.stderr
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    summary = json.loads(out.strip().splitlines()[-1])
    assert set(summary["history"]) <= {"", *urls}, summary["history"]  # never garbage, never a mix
    assert summary["url"] == urls[1]
    assert killed >= 8
