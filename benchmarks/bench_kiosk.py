"""Kiosk benchmarks: startup, memory, page latency and whole-loop throughput.

* ``startup_s``: ``heatcast run --demo`` from process start to its first
  content decision, on a fresh data directory (it copies the catalogue first);
  baseline: ``python -c "import heatcast"`` in the same run.
* ``rss_mb``: resident memory of ``heatcast run --demo`` after 60 s
  (``HEATCAST_BENCH_RSS_SECONDS`` changes the wait); baseline: a bare Python.
* ``page_event_ms``: from ``PageHub.publish`` (the worker choosing) to the
  event arriving at a client of ``/events``, p50 and p99 (the page must update
  within 300 ms); ``browser_update_ms``: the same to the page's DOM in headless
  Chromium (polled through WebDriver: an upper bound).
* ``loop_fps``: frames per second through the whole kiosk loop at full speed
  (replay, classifier, decider, catalogue, page), against the classifier alone
  on the same frames.

Run: ``python benchmarks/bench_kiosk.py`` or ``heatcast bench --only kiosk``.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HEATCAST = str(Path(sys.executable).with_name("heatcast"))
RSS_SECONDS = float(os.environ.get("HEATCAST_BENCH_RSS_SECONDS", "60"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(home: Path, port: int) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("HEATCAST_", "XDG_", "NOTIFY_", "WATCHDOG_"))
    }
    env.update(HOME=str(home), HEATCAST_PAGE_PORT=str(port), PYTHONUNBUFFERED="1")
    if os.environ.get("HEATCAST_MODEL_PATH"):
        env["HEATCAST_MODEL_PATH"] = os.environ["HEATCAST_MODEL_PATH"]
    return env


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _wait_line(proc: subprocess.Popen[bytes], needle: str, timeout: float) -> float:
    """The moment a stdout line holding ``needle`` arrives (raw reads: no buffering delay)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk
            if needle.encode() in seen:
                return time.monotonic()
    raise RuntimeError(f"heatcast run --demo printed no {needle!r} within {timeout} s")


def demo_startup_and_rss() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="heatcast-bench-") as tmp:
        port = _free_port()
        started = time.monotonic()
        proc = subprocess.Popen(
            [HEATCAST, "run", "--demo"], env=_env(Path(tmp), port), cwd=tmp,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0,
        )  # fmt: skip
        try:
            decided = _wait_line(proc, "(start:", 120)
            startup = decided - started
            rss_early = _rss_mb(proc.pid)
            time.sleep(max(0.0, RSS_SECONDS - (time.monotonic() - started)))
            rss = _rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)
    base_start = time.monotonic()
    baseline = subprocess.run([sys.executable, "-c", "import heatcast"], check=True)
    import_s = time.monotonic() - base_start
    assert baseline.returncode == 0
    bare = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3)"])
    time.sleep(1.0)
    bare_rss = _rss_mb(bare.pid)
    bare.wait()
    return {
        "startup_s": round(startup, 3),
        "startup_baseline_import_s": round(import_s, 3),
        "startup_ratio_vs_import": round(startup / import_s, 1),
        "rss_mb": round(rss, 1),
        "rss_at_first_decision_mb": round(rss_early, 1),
        "rss_after_s": RSS_SECONDS,
        "rss_baseline_bare_python_mb": round(bare_rss, 1),
        "rss_ratio_vs_bare_python": round(rss / bare_rss, 1),
    }


def page_event_latency(n: int = 200) -> dict[str, Any]:
    import httpx

    from heatcast.firmware.page import PageHub, PageServer, Shown

    hub = PageHub()
    server = PageServer(hub, "127.0.0.1", 0)
    server.start()
    arrivals: dict[int, float] = {}
    connected = threading.Event()

    def client() -> None:
        with httpx.stream("GET", server.url + "events", timeout=30) as response:
            connected.set()
            for line in response.iter_lines():
                if line.startswith("data: "):
                    seq = json.loads(line[6:])["seq"]
                    arrivals[seq] = time.perf_counter()
                    if seq >= n:
                        return

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    connected.wait(10)
    time.sleep(0.3)
    sent: dict[int, float] = {}
    try:
        for i in range(1, n + 1):
            item = Shown(i, f"item {i}", f"https://youtu.be/{i:011d}")
            sent[hub.publish(item)] = time.perf_counter()
            time.sleep(0.02)  # choices come seconds apart; do not measure coalescing
        thread.join(30)
    finally:
        server.stop()
    lat = sorted((arrivals[s] - t) * 1000 for s, t in sent.items() if s in arrivals)
    return {
        "page_event_ms_p50": round(statistics.median(lat), 2),
        "page_event_ms_p99": round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 2),
        "page_event_ms_max": round(lat[-1], 2),
        "page_events_received": len(lat),
        "page_event_budget_ms": 300,
    }


def browser_update_latency(n: int = 30) -> dict[str, Any]:
    """From ``publish`` to the page's DOM showing it, in Debian's headless Chromium.

    Polled through WebDriver, so each figure is an upper bound (a poll costs a few ms).
    """
    from pathlib import Path as _Path

    if not (_Path("/usr/bin/chromium").exists() and _Path("/usr/bin/chromedriver").exists()):
        return {"browser_update_skipped": "no /usr/bin/chromium and /usr/bin/chromedriver"}
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from heatcast.firmware.page import PageHub, PageServer, Shown

    hub = PageHub()
    server = PageServer(hub, "127.0.0.1", 0)
    server.start()
    hub.publish(Shown(0, "item 0", "https://youtu.be/00000000000"))
    with tempfile.TemporaryDirectory(prefix="heatcast-bench-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in (
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}",
        ):  # fmt: skip
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            driver.get(server.url)
            deadline = time.monotonic() + 30
            while driver.execute_script("return document.body.dataset.connected") != "1":
                if time.monotonic() > deadline:
                    raise RuntimeError("the page did not connect")
                time.sleep(0.05)
            lat = []
            for i in range(1, n + 1):
                t0 = time.perf_counter()
                seq = hub.publish(Shown(i, f"item {i}", f"https://youtu.be/{i:011d}"))
                while int(driver.execute_script("return document.body.dataset.seq")) < seq:
                    if time.perf_counter() - t0 > 10:
                        raise RuntimeError("the page did not update within 10 s")
                lat.append((time.perf_counter() - t0) * 1000)
                time.sleep(0.1)
        finally:
            driver.quit()
            server.stop()
    lat.sort()
    return {
        "browser_update_ms_p50": round(statistics.median(lat), 1),
        "browser_update_ms_max": round(lat[-1], 1),
        "browser_updates": len(lat),
    }


def loop_throughput(frames: int = 30_000) -> dict[str, Any]:
    from heatcast.classify.pipeline import Pipeline
    from heatcast.firmware.config import load_config_text
    from heatcast.firmware.kiosk import Kiosk
    from heatcast.nfc.service import TagService
    from heatcast.sensor.sim import Simulator
    from heatcast.sensor.sim_scene import demo_scene
    from heatcast.sensor.sources import open_source
    from heatcast.sensor.trace import TraceWriter

    with tempfile.TemporaryDirectory(prefix="heatcast-bench-") as tmp:
        trace = Path(tmp) / "demo.csv.gz"
        sim = Simulator(3, 10.0, demo_scene())
        with TraceWriter(trace, {"fps": "10"}) as out:
            for record in itertools.islice(sim.records(), 1500):
                out.write(record.frame)
        sim.close()
        source_text = f"replay:{trace}?speed=0&loop=1"

        class Limited:
            def __init__(self) -> None:
                self.inner = open_source(source_text)

            def __iter__(self):  # type: ignore[no-untyped-def]
                return itertools.islice(iter(self.inner), frames)

            def close(self) -> None:
                self.inner.close()

        env = (
            {"HEATCAST_MODEL_PATH": os.environ["HEATCAST_MODEL_PATH"]}
            if os.environ.get("HEATCAST_MODEL_PATH")
            else {}
        )
        config = load_config_text(f'data_dir = "{tmp}/data"\n', env=env)
        # the classifier alone on the same frames (baseline, same process)
        pipeline = Pipeline(config.model.path)
        with open_source(source_text) as src:
            batch = list(itertools.islice(iter(src), 3000))
        t0 = time.perf_counter()
        for frame in itertools.islice(itertools.cycle(batch), frames):
            pipeline.update(frame)
        pipeline_fps = frames / (time.perf_counter() - t0)

        kiosk = Kiosk(config, source_factory=Limited, tag_service=TagService(None), page_port=0,
                      report=lambda line: None, seed=1)  # fmt: skip
        t0 = time.perf_counter()
        kiosk.start()
        kiosk.wait(600)
        loop_s = time.perf_counter() - t0
        kiosk.close()
        assert kiosk.stats.frames == frames
    return {
        "loop_fps": round(frames / loop_s),
        "loop_baseline_pipeline_only_fps": round(pipeline_fps),
        "loop_ratio_vs_pipeline_only": round((frames / loop_s) / pipeline_fps, 2),
        "loop_decisions": kiosk.stats.triggers,
        "loop_frames": frames,
    }


def run() -> dict[str, Any]:
    results: dict[str, Any] = {}
    results.update(page_event_latency())
    results.update(browser_update_latency())
    results.update(loop_throughput())
    results.update(demo_startup_and_rss())
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
