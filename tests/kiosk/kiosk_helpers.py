"""Helpers for the kiosk tests (imported by the test modules; conftest puts this folder on sys.path)."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from heatcast.firmware.config import Config, load_config_text

SECRET = "kiosk-test-site-secret-0123456789"
HEATCAST = str(Path(sys.executable).with_name("heatcast"))
#: Seconds of the simulator's demo scene in the recorded trace: nobody, a passer-by,
#: someone who stops and faces the screen, sits, leaves; a couple arriving.
DEMO_SECONDS = 90


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def toml_text(tmp_path: Path, sections: dict[str, dict[str, object]]) -> str:
    lines = [f"data_dir = {json.dumps(str(tmp_path / 'data'))}"]
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def model_env() -> dict[str, str]:
    """Pass a model override through (a developer testing a freshly trained model)."""
    return {k: v for k, v in os.environ.items() if k == "HEATCAST_MODEL_PATH"}


def make_config(tmp_path: Path, **sections: dict[str, object]) -> Config:
    return load_config_text(toml_text(tmp_path, sections), env=model_env())


def write_config(tmp_path: Path, **sections: dict[str, object]) -> Path:
    path = tmp_path / "heatcast.toml"
    path.write_text(toml_text(tmp_path, sections))
    return path


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment with no user config and no stray HEATCAST_ settings."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("HEATCAST_", "XDG_", "NOTIFY_", "WATCHDOG_"))
    }
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"),
        XDG_DATA_HOME=str(tmp_path / "home" / ".local" / "share"),
        PYTHONUNBUFFERED="1",
        PYTHONFAULTHANDLER="1",
        **model_env(),
    )
    env.update(extra)
    return env


class Running:
    """A `heatcast run` subprocess whose stdout lines are read as they come.

    stdout is read from the raw pipe (a buffered reader would hold lines back from
    select()), stderr goes to a file so that the log can never fill a pipe and stall it.
    """

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.err_path = cwd / f"stderr-{time.monotonic_ns()}.log"
        self._err = self.err_path.open("wb")
        self.proc = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=self._err, bufsize=0
        )
        self.lines: list[str] = []
        self._partial = b""

    def _read(self, wait: float) -> bool:
        """Read what stdout has now (waiting up to ``wait``); False at end of output."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            return True
        chunk = os.read(fd, 65536)
        if not chunk:
            return False
        *done, self._partial = (self._partial + chunk).split(b"\n")
        self.lines += [line.decode("utf-8", "replace") for line in done]
        return True

    def expect(self, needle: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines:
                if needle in line:
                    return line
            if time.monotonic() > deadline or not self._read(0.1):
                break
        raise AssertionError(
            f"no line with {needle!r}; output so far:\n" + "\n".join(self.lines) + "\n" + self.stderr()
        )

    def stderr(self) -> str:
        self._err.flush()
        return self.err_path.read_text(errors="replace")[-6000:]

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        deadline = time.monotonic() + timeout
        while self._read(0.1):
            if time.monotonic() > deadline:
                # PYTHONFAULTHANDLER is set: SIGABRT makes it print every thread's stack.
                self.proc.send_signal(signal.SIGABRT)
                self.proc.wait(10)
                raise AssertionError(f"heatcast did not stop within {timeout} s:\n{self.stderr()}")
        if self._partial:
            self.lines.append(self._partial.decode("utf-8", "replace"))
            self._partial = b""
        code = self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        self._err.close()
        return code


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def chromium(user_data_dir: Path):  # type: ignore[no-untyped-def]
    """Debian's headless Chromium under selenium (the network is closed: YouTube never loads)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        raise AssertionError(
            "the browser tests need Debian's chromium and chromium-driver: "
            "sudo apt-get install chromium chromium-driver (make test installs them)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required",
        f"--user-data-dir={user_data_dir}",
    ):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait_for(predicate, timeout: float = 30.0, every: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll until ``predicate()`` is truthy; returns its value (AssertionError on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {getattr(predicate, '__name__', predicate)}"
            )
        time.sleep(every)


class FakeVideoHost:
    """YouTube as the screen's browser meets it, on this machine (the test network is closed).

    ``/vi/ID/mqdefault.jpg`` is the thumbnail (YouTube's 120x90 placeholder, with a 404,
    for ids in ``missing``) and ``/embed/ID`` the player page. ``online = False`` makes
    every request fail, as a shop's internet going down does.
    """

    def __init__(self) -> None:
        import io
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from PIL import Image

        def picture(size: tuple[int, int]) -> bytes:
            out = io.BytesIO()
            Image.new("RGB", size, (200, 30, 30)).save(out, "PNG")
            return out.getvalue()

        thumbnail, placeholder = picture((320, 180)), picture((120, 90))
        host = self
        self.online = True
        self.missing: set[str] = set()
        self.requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.requests.append(self.path)
                parts = self.path.split("?")[0].strip("/").split("/")
                if not host.online:
                    self.send_error(503)
                elif len(parts) == 3 and parts[0] == "vi":
                    body = placeholder if parts[1] in host.missing else thumbnail
                    self.send_response(404 if parts[1] in host.missing else 200)
                    self._send(body, "image/png")
                elif len(parts) == 2 and parts[0] == "embed":
                    page = f"<!doctype html><title>player</title><body><p id=player>{parts[1]}</p></body>"
                    self.send_response(200)
                    self._send(page.encode(), "text/html")
                else:
                    self.send_error(404)

            def _send(self, body: bytes, kind: str) -> None:
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def video_host(self):  # type: ignore[no-untyped-def]
        from heatcast.firmware.page import VideoHost

        base = f"http://127.0.0.1:{self.port}"
        return VideoHost(embed=f"{base}/embed/", thumbnail=f"{base}/vi/")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def decode_qr(png: bytes) -> list[str]:
    """The texts of the QR codes in a screenshot."""
    import io

    import zxingcpp
    from PIL import Image

    return [code.text for code in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def viewport(driver, width: int, height: int) -> None:  # type: ignore[no-untyped-def]
    """Make the page's viewport exactly ``width`` x ``height`` CSS pixels, as a screen that size."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
