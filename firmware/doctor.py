"""``heatcast doctor``: check every part of an install, and name the fix for what fails.

Each check returns a :class:`Check`: ``ok`` is True (passed), False (failed:
``remedy`` says exactly what to do) or None (not applicable, or a warning that
does not stop the kiosk). The checks use the same code paths as ``heatcast
run``: the frame source through :func:`open_source` (so the fake I2C bus of
``HEATCAST_I2C_FACTORY=fake`` or :func:`set_bus_factory` works here too), the
NFC :func:`probe`, the catalogue, the classifier.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from heatcast.errors import ConfigError, HeatcastError
from heatcast.firmware.config import NFC_AUTO, NFC_OFF, Config, load_config, reference_path

log = logging.getLogger(__name__)

#: Below this much free space the kiosk may fail to record impressions.
MIN_FREE_MB = 200
#: A clock before this is certainly wrong (no RTC and no network time yet).
EARLIEST_SANE = datetime(2025, 1, 1)
THERMISTOR_RANGE_C = (-20.0, 80.0)  # the AMG88xx's operating range
PIXEL_RANGE_C = (-20.0, 100.0)
STUCK_MIN_FRAMES = 30
#: The audience reading's figures hold in rooms up to this warm (README, "The envelope").
ENVELOPE_ROOM_C = 30.0
ENABLE_I2C = "sudo raspi-config nonint do_i2c 0 && sudo reboot"


@dataclass
class Check:
    name: str
    ok: bool | None
    detail: str
    remedy: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "remedy": self.remedy, **self.data}


def render(checks: list[Check]) -> str:
    lines = []
    for check in checks:
        mark = {True: " ok ", False: "FAIL", None: " -- "}[check.ok]
        lines.append(f"[{mark}] {check.name}: {check.detail}")
        if check.remedy and check.ok is not True:
            lines.append(f"       fix: {check.remedy}")
    failed = sum(c.ok is False for c in checks)
    lines.append(f"{failed} check(s) failed" if failed else "all checks passed")
    return "\n".join(lines)


# -- configuration ----------------------------------------------------------------


def check_config(path: Path | None) -> tuple[Check, Config]:
    try:
        config = load_config(path)
    except ConfigError as exc:
        message = str(exc)
        if message.startswith("environment variable ") or " HEATCAST_" in message.split(":")[0]:
            variable = message.split()[2] if message.startswith("environment variable ") else "it"
            remedy = f"fix or unset {variable} as the message says (systemctl show heatcast -p Environment)"
        else:
            where = str(path) if path else "the configuration file"
            remedy = f"fix {where} as the message says; every key is listed in {reference_path()}"
        return Check("config", False, message, remedy), Config()
    origin = str(config.origin) if config.origin else "none found, built-in defaults"
    return Check("config", True, f"valid ({origin})", data={"origin": origin}), config


# -- sensor -----------------------------------------------------------------------


def check_sensor(config: Config, seconds: float) -> list[Check]:
    from heatcast.sensor.sources import Mount, open_source, parse_source

    checks: list[Check] = []
    text = config.sensor.source
    spec = parse_source(text)
    if spec.scheme == "i2c":
        checks.append(_check_i2c_device(text))
        if checks[-1].ok is False:
            return checks
    else:
        checks.append(Check("i2c", None, f"sensor.source is {text}, not an I2C sensor"))
    try:
        source = open_source(text, mount=Mount(config.sensor.rotate, config.sensor.mirror))
    except HeatcastError as exc:
        remedy = _sensor_remedy(spec.scheme, str(exc))
        checks.append(Check("sensor", False, str(exc), remedy))
        return checks
    try:
        where = _describe_source(source, spec.scheme)
        checks.append(Check("sensor", True, where))
        frames, elapsed, error = _read_frames(source, seconds)
        stats = getattr(source, "stats", None)
    finally:
        source.close()
    if error is not None:
        checks.append(
            Check("frames", False, f"reading frames failed: {error}", _sensor_remedy(spec.scheme, error))
        )
        return checks
    checks.extend(_frame_checks(frames, elapsed, spec, stats))
    return checks


def _check_i2c_device(text: str) -> Check:
    from heatcast.sensor import i2c
    from heatcast.sensor.sources import parse_source

    try:
        bus, address = i2c.parse_target(parse_source(text))
    except HeatcastError as exc:
        return Check("i2c", False, str(exc), "set sensor.source to i2c://1/0x69 (or 0x68)")
    factory = i2c.get_bus_factory()
    if factory is not i2c.linux_bus_factory:
        return Check("i2c", True, f"bus {bus} is heatcast's fake I2C bus (test set-up)", data={"bus": bus})
    device = Path(f"/dev/i2c-{bus}")
    if not device.exists():
        return Check("i2c", False, f"I2C is not enabled: {device} does not exist", ENABLE_I2C)
    if not os.access(device, os.R_OK | os.W_OK):
        user = os.environ.get("USER") or "heatcast"
        return Check(
            "i2c", False, f"no permission to use {device}",
            f"sudo adduser {user} i2c, then log in again (or restart the service)",
        )  # fmt: skip
    return Check("i2c", True, f"{device} present", data={"bus": bus, "address": hex(address)})


def _sensor_remedy(scheme: str, message: str) -> str:
    if scheme == "i2c":
        if "raspi-config" in message:
            return ENABLE_I2C
        if "i2c://" in message and "use i2c://" in message:
            return "set sensor.source as the message says (the sensor answers at the other address)"
        return (
            "check the wiring: VIN to 3.3V (pin 1), GND to pin 6, SDA to GPIO2 (pin 3), SCL to GPIO3 "
            "(pin 5); `i2cdetect -y 1` should show 69 (or 68 with AD_SELECT tied low)"
        )
    if scheme == "serial":
        return "check the cable and sensor.source (port, baud, format); try `heatcast view SOURCE`"
    if scheme == "replay":
        return "check the trace file named in sensor.source"
    return "check sensor.source; try `heatcast view SOURCE`"


def _describe_source(source: Any, scheme: str) -> str:
    if scheme == "i2c":
        address = getattr(source, "address", None)
        bus = getattr(source, "bus_number", None)
        if address is not None:
            return f"AMG88xx answering at {address:#04x} on /dev/i2c-{bus}"
    return f"{scheme}: source opened"


def _read_frames(source: Any, seconds: float) -> tuple[list[Any], float, str | None]:
    frames: list[Any] = []
    start = time.monotonic()
    try:
        for frame in source:
            frames.append(frame)
            if time.monotonic() - start >= seconds or len(frames) >= 2000:
                break
    except (HeatcastError, OSError, ValueError) as exc:
        return frames, time.monotonic() - start, str(exc)
    return frames, time.monotonic() - start, None


def _frame_checks(frames: list[Any], elapsed: float, spec: Any, stats: Any) -> list[Check]:
    checks: list[Check] = []
    if len(frames) < 2:
        checks.append(
            Check(
                "frame rate",
                False,
                f"only {len(frames)} frame(s) in {elapsed:.1f} s",
                _sensor_remedy(spec.scheme, ""),
            )
        )
        return checks
    span = frames[-1].t - frames[0].t
    fps = (len(frames) - 1) / span if span > 0 else float("inf")
    expected = float(spec.options.get("fps", "10")) if spec.scheme in ("i2c", "sim") else None
    if expected is not None and not 0.8 * expected <= fps <= 1.2 * expected:
        checks.append(
            Check(
                "frame rate", False, f"{fps:.1f} frames/s, expected {expected:g}",
                "check for I2C errors in `journalctl -u heatcast` and the wiring; on a busy bus set "
                "dtparam=i2c_arm_baudrate=400000 in /boot/firmware/config.txt",
                {"fps": round(fps, 2)},
            )
        )  # fmt: skip
    else:
        checks.append(Check("frame rate", True, f"{fps:.1f} frames/s", data={"fps": round(fps, 2)}))

    thermistors = [f.thermistor for f in frames if f.thermistor is not None]
    if not thermistors:
        checks.append(Check("thermistor", None, "this source gives no thermistor reading"))
    else:
        therm = statistics.median(thermistors)
        low, high = THERMISTOR_RANGE_C
        if not low <= therm <= high:
            checks.append(
                Check(
                    "thermistor", False,
                    f"{therm:.2f} C is not plausible (the sensor works from {low:g} to {high:g} C)",
                    "the sensor may be faulty or miswired: power it off, check the wiring, try again",
                    {"thermistor_c": therm},
                )
            )  # fmt: skip
        else:
            checks.append(Check("thermistor", True, f"{therm:.2f} C", data={"thermistor_c": therm}))

    stack = np.stack([f.pixels for f in frames]).astype(np.float64)
    checks.append(_pixel_check(stack, stats))
    last = stack[-1]
    row, col = np.unravel_index(int(np.argmax(last)), last.shape)
    summary = (
        f"min {last.min():.1f} C, median {np.median(last):.1f} C, max {last.max():.1f} C "
        f"(warmest at row {row}, column {col})"
    )
    checks.append(
        Check(
            "heat",
            True,
            summary,
            data={"min_c": float(last.min()), "max_c": float(last.max()), "median_c": float(np.median(last))},
        )
    )
    room = float(np.median(last))
    if room > ENVELOPE_ROOM_C:
        checks.append(
            Check(
                "envelope", None,
                f"the room reads {room:.1f} C: above {ENVELOPE_ROOM_C:g} C a person is barely warmer than "
                "the room, so heatcast will miss more people than its figures say",
                "cool the room or move the sensor away from warm surfaces; see README, 'The envelope'",
                {"room_c": room},
            )
        )  # fmt: skip
    return checks


def _pixel_check(stack: np.ndarray[Any, np.dtype[np.float64]], stats: Any) -> Check:
    remedy = "power-cycle the sensor; if it persists, replace the AMG88xx board"
    stuck_resets = getattr(stats, "stuck_resets", 0) or 0
    n = len(stack)
    flat = stack.reshape(n, -1)
    low, high = PIXEL_RANGE_C
    dead = np.flatnonzero(
        ~np.isfinite(flat).all(axis=0) | (flat.min(axis=0) < low) | (flat.max(axis=0) > high)
    )
    if n >= 2 and np.all(flat == flat[0]):
        return Check(
            "pixels", False, f"the sensor sends the identical frame ({n} frames): it is stuck", remedy
        )
    stuck: list[int] = []
    # 0.25 C steps and ~0.15 C noise: a live pixel can repeat a few frames, never 30.
    if n >= STUCK_MIN_FRAMES:
        constant = np.all(flat == flat[0], axis=0)
        moving = ~constant
        if moving.sum() >= flat.shape[1] // 2:
            stuck = [int(i) for i in np.flatnonzero(constant)]
    bad = sorted(set(map(int, dead)) | set(stuck))
    if bad:
        where = ", ".join(f"row {i // 8} col {i % 8}" for i in bad[:8])
        kinds = []
        if len(dead):
            kinds.append(f"{len(dead)} dead (outside {low:g}..{high:g} C)")
        if stuck:
            kinds.append(f"{len(stuck)} stuck (never change)")
        return Check("pixels", False, f"{' and '.join(kinds)}: {where}", remedy, {"bad_pixels": bad})
    if stuck_resets:
        return Check(
            "pixels",
            False,
            f"the sensor got stuck and was reset {stuck_resets} time(s) while checking",
            remedy,
        )
    return Check("pixels", True, f"64 pixels live over {n} frames", data={"frames": n})


# -- NFC --------------------------------------------------------------------------


def check_nfc(config: Config) -> list[Check]:
    from heatcast.nfc.status import auto_device, probe

    if config.nfc.device == NFC_OFF:
        return [Check("nfc reader", None, "nfc.device = off: the kiosk only logs the URLs")]
    device: str | None = config.nfc.device
    if device == NFC_AUTO:
        device = auto_device()
        if device is None:
            return [
                Check(
                    "nfc reader", None, "no USB NFC reader found (nfc.device = auto): NFC is off",
                    "plug in a supported reader (Sony RC-S380, ACR122U, PN533), or set nfc.device "
                    "(e.g. tty:AMA0:pn532) in the config",
                )
            ]  # fmt: skip
    checks: list[Check] = []
    secret = None
    if config.nfc.protect:
        from heatcast.nfc.keys import load_secret

        try:
            secret = load_secret(config.nfc.secret_file)
            checks.append(Check("nfc secret", True, f"from {secret.source} (not shown)"))
        except ConfigError as exc:
            checks.append(
                Check("nfc secret", False, str(exc), "create one: heatcast nfc keygen (then chmod 600 it)")
            )
    result = probe(device, secret=secret)
    problem = result.get("problem")
    if result["reader"] != "ok":
        checks.append(Check("nfc reader", False, f"{device}: {problem}", problem, {"nfc": result}))
        return checks
    name = str(result.get("reader_name") or device)
    checks.append(Check("nfc reader", True, name if str(device) in name else f"{name} at {device}"))
    if result["tag"] != "present":
        checks.append(
            Check("nfc tag", False, problem or "no tag on the reader",
                  "stick an NTAG213/215/216 tag on the reader, under the 'tap here' mark", {"nfc": result})
        )  # fmt: skip
        return checks
    desc = f"{result.get('tag_type')} uid {result.get('uid')}, holds {result.get('url') or 'no URL'}"
    if not result.get("ok", False):
        checks.append(Check("nfc tag", False, f"{desc}: {problem}", problem, {"nfc": result}))
    elif config.nfc.protect and not result.get("protected"):
        checks.append(
            Check(
                "nfc tag", False, f"{desc}; not password-protected (any phone app could rewrite it)",
                "let the kiosk write it once (it protects the tag), or run: heatcast nfc write URL --protect",
                {"nfc": result},
            )
        )  # fmt: skip
    else:
        flags = (
            "writable, protected"
            if result.get("protected")
            else "writable, not protected (nfc.protect = false)"
        )
        checks.append(Check("nfc tag", True, f"{desc}; {flags}", data={"nfc": result}))
    from heatcast.nfc.taps import counting_verdict

    counts, why = counting_verdict(result.get("tag_type"), result.get("counting"), result.get("counter"))
    remedy = None if counts else "taps are not counted; everything else works"
    checks.append(
        Check("nfc taps", True if counts else None, f"counting phone taps: {why}", remedy,
              {"counter": result.get("counter")})
    )  # fmt: skip
    return checks


# -- content, model, disk, clock ------------------------------------------------------


def check_content(config: Config) -> Check:
    from heatcast.firmware.catalogue import Catalogue, bundled_catalogue_path, file_problem

    path = config.db_path
    copied = ""
    if not path.exists():
        copied = " (not created yet: the kiosk copies the shipped catalogue there on first start)"
        path = bundled_catalogue_path()
    fix = (
        f"restore {path} from a backup, or move it away: heatcast run copies the shipped catalogue "
        "again (then re-import your own items with heatcast content import)"
    )
    if not copied:
        problem = file_problem(path)
        if problem is not None:
            return Check("content.db", False, f"{path} {problem[0]}", problem[1])
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return Check(
                "content.db", False, f"{path} is locked by another program ({exc})",
                "wait for it (a long content import?) or stop it; the kiosk waits too",
            )  # fmt: skip
        return Check("content.db", False, f"{path} cannot be read: {exc}", fix)
    verdict = "; ".join(str(r[0]) for r in rows[:3])
    if verdict != "ok":
        return Check("content.db", False, f"{path} fails its integrity check: {verdict}", fix)
    try:
        with Catalogue(path, readonly=True) as catalogue:
            active = len(catalogue.items(active_only=True))
    except HeatcastError as exc:
        return Check("content.db", False, str(exc), fix)
    if active == 0:
        return Check(
            "content.db", False, f"{path} holds no active content",
            "add some: heatcast content add https://youtu.be/VIDEO_ID --title T, "
            "or heatcast content import FILE",
        )  # fmt: skip
    return Check(
        "content.db", True, f"{path}: integrity ok, {active} active items{copied}", data={"active": active}
    )


def check_model(config: Config) -> Check:
    from heatcast.classify.pipeline import Pipeline
    from heatcast.sensor.frame import Frame

    remedy = (
        "reinstall heatcast (the model ships with it), "
        "or set model.path to a model from tools/train_thermal.py"
    )
    start = time.perf_counter()
    try:
        pipeline = Pipeline(config.model.path)
    except HeatcastError as exc:
        return Check("model", False, str(exc), remedy)
    load_ms = (time.perf_counter() - start) * 1000
    rng = np.random.default_rng(0)
    times = []
    for i in range(200):
        pixels = (22.0 + rng.normal(0, 0.15, (8, 8))).astype(np.float32)
        frame = Frame(pixels, 24.0, i / 10, i)
        t0 = time.perf_counter()
        pipeline.update(frame)
        times.append(time.perf_counter() - t0)
    per_frame_us = statistics.median(times[20:]) * 1e6
    name = config.model.path or "shipped model"
    return Check(
        "model", True, f"{name} loads in {load_ms:.0f} ms, {per_frame_us:.0f} µs per frame",
        data={"load_ms": round(load_ms, 1), "frame_us": round(per_frame_us, 1)},
    )  # fmt: skip


def check_disk(config: Config) -> Check:
    where = config.data_dir
    while not where.exists() and where != where.parent:
        where = where.parent
    usage = shutil.disk_usage(where)
    free_mb = usage.free / 2**20
    detail = f"{free_mb:.0f} MB free on the file system of {config.data_dir}"
    if free_mb < MIN_FREE_MB:
        return Check(
            "disk", False, detail,
            f"free at least {MIN_FREE_MB} MB: sudo journalctl --vacuum-size=50M, sudo apt-get clean, "
            "remove old files",
            {"free_mb": round(free_mb)},
        )  # fmt: skip
    return Check("disk", True, detail, data={"free_mb": round(free_mb)})


def check_clock(now: datetime | None = None) -> Check:
    now = now or datetime.now()
    tz = time.strftime("%Z")
    if now < EARLIEST_SANE:
        return Check(
            "clock", False,
            f"{now:%Y-%m-%d %H:%M} ({tz}) is in the past: schedules and reports would be wrong",
            "connect to a network for time sync (sudo timedatectl set-ntp true) or fit a real-time clock",
        )  # fmt: skip
    synced = _ntp_synchronised()
    detail = f"{now:%Y-%m-%d %H:%M} {tz}"
    if synced is False:
        return Check(
            "clock", None, detail + ", not synchronised to network time",
            "sudo timedatectl set-ntp true (content schedules follow the local clock)",
        )  # fmt: skip
    return Check("clock", True, detail + (", synchronised" if synced else ""))


def _ntp_synchronised() -> bool | None:
    if shutil.which("timedatectl") is None:
        return None
    try:
        out = subprocess.run(
            ["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True, text=True, timeout=3, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.strip()
    return {"yes": True, "no": False}.get(value)


def check_page(config: Config, timeout_s: float = 2.0) -> Check:
    """Whether the billboard page answers where the screen's browser looks for it."""
    import json
    import urllib.error
    import urllib.request

    if not config.page.enabled:
        return Check("page", None, "page.enabled = false: no billboard page is served")
    host = "127.0.0.1" if config.page.host in ("0.0.0.0", "::") else config.page.host
    url = f"http://{f'[{host}]' if ':' in host else host}:{config.page.port}/"
    try:
        with urllib.request.urlopen(url + "health", timeout=timeout_s) as response:
            facts = json.loads(response.read(65536))
    except urllib.error.HTTPError as exc:
        return _page_taken(url, f"it answers {exc.code} to /health")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check(
            "page", None, f"nothing answers on {url} ({reason}): the kiosk is not running",
            "start it (sudo systemctl start heatcast); until then the screen's browser shows an error",
        )  # fmt: skip
    except ValueError:
        return _page_taken(url, "its /health is not heatcast's")
    if not isinstance(facts, dict) or "streams" not in facts:
        return _page_taken(url, "its /health is not heatcast's")
    screens = facts.get("streams", 0)
    return Check(
        "page", True, f"answers on {url} ({screens} screen{'s' if screens != 1 else ''} connected)",
        data={"url": url, "screens": screens},
    )  # fmt: skip


def _page_taken(url: str, why: str) -> Check:
    return Check(
        "page", False, f"another program holds {url}: {why}",
        "stop that program, or set page.port to a free port (and point the screen's browser there)",
    )  # fmt: skip


def check_videos(hosts: tuple[str, ...] | None = None, timeout_s: float = 3.0) -> Check:
    """Whether this machine reaches the video host; if not, say what the screen shows instead."""
    import socket

    from heatcast.firmware.page import YOUTUBE

    if hosts is None:
        hosts = (YOUTUBE.frame_origin, YOUTUBE.image_origin)
    for origin in hosts:
        scheme, _, rest = origin.partition("://")
        name, _, port = rest.partition(":")
        address = (name, int(port or (443 if scheme == "https" else 80)))
        try:
            socket.create_connection(address, timeout_s).close()
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            return Check(
                "videos", None,
                f"{name} cannot be reached ({why}): the screen shows each item's local video or poster, "
                "not the YouTube videos",
                "connect this machine to the internet for the YouTube videos, or give items a local video "
                "(heatcast content add URL --video FILE)",
                {"reachable": False},
            )  # fmt: skip
    return Check("videos", True, "YouTube is reachable: the screen plays its videos",
                 data={"reachable": True})


# -- all of them --------------------------------------------------------------------


def check_fleet(config: Config, timeout_s: float = 4.0) -> list[Check]:
    """The broker answers with the configured credentials, and what the queue holds unsent."""
    from heatcast.firmware.fleet import outbox_backlog, probe

    fleet = config.fleet
    if not fleet.enabled:
        return [Check("fleet", None, "off (fleet.enabled = false): nothing is sent to a broker")]
    checks = []
    try:
        problem = probe(fleet, timeout_s)
    except HeatcastError as exc:
        problem = str(exc)
    if problem is None:
        checks.append(Check("fleet broker", True, f"{fleet.broker} accepts this kiosk"))
    else:
        if "the broker refused" in problem:
            remedy = "check fleet.username and fleet.password_file (or fleet.cert_file and key_file)"
        elif "certificate" in problem.lower() or "ssl" in problem.lower():
            remedy = "set fleet.ca_file to the CA that signed the broker's certificate; check the host name"
        else:
            remedy = "check fleet.broker (host and port) and that this network may reach it (firewall, VPN)"
        checks.append(Check("fleet broker", False, problem, remedy))
    backlog, oldest = outbox_backlog(config)
    detail = f"{backlog} message(s) waiting in the queue"
    if oldest is not None:
        detail += f", the oldest {oldest / 60:.0f} min old"
    stuck = backlog > 0 and oldest is not None and oldest > 3600
    checks.append(Check(
        "fleet queue", not stuck, detail,
        "the broker has not taken the kiosk's aggregates for an hour: fix the fleet broker check above; "
        "nothing is lost meanwhile (the oldest are summarised when the queue is full)" if stuck else None,
        {"backlog": backlog},
    ))  # fmt: skip
    return checks


def run_checks(config_path: Path | None = None, *, seconds: float = 3.5) -> list[Check]:
    """Every check, in the order an installer would fix things."""
    from heatcast.firmware.panel import check_panel

    config_check, config = check_config(config_path)
    checks = [config_check]
    parts: list[Callable[[], list[Check]]] = [
        lambda: check_sensor(config, seconds),
        lambda: check_nfc(config),
        lambda: [check_content(config)],
        lambda: [check_page(config), check_videos()],
        lambda: [check_panel(config)],
        lambda: [check_model(config)],
        lambda: [check_disk(config)],
        lambda: [check_clock()],
        lambda: check_fleet(config),
    ]
    for part in parts:
        try:
            checks.extend(part())
        except Exception as exc:  # doctor must report, never crash
            log.debug("check failed", exc_info=True)
            checks.append(
                Check("internal", False, f"a check crashed: {type(exc).__name__}: {exc}", "report this bug")
            )
    return checks
