"""Privacy with the fleet on: everything the kiosk publishes on a replayed demo is aggregates only.

A subscriber on ``#`` captures every message the broker carries while a real Kiosk runs the
recorded demo scene; each payload is held to the documented keys, and none holds pixel data
(no run of 8 or more numbers, let alone 64), temperatures, positions or tracks.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from fleet_broker import Broker, Listener
from kiosk_helpers import make_config, wait_for

from heatcast.firmware.fleet import DOC_KEYS, FIGURES
from heatcast.firmware.kiosk import Kiosk
from heatcast.nfc.service import TagService

#: Every key allowed below the top level of an up message (health's parts, figures, items).
NESTED_KEYS = {*FIGURES, "bucket", "url", "ok", "frames", "errors", "last_frame_age_s", "reader", "verified",
               "error", "enabled", "free_mb", "open", "impressions", "backlog", "oldest_s"}  # fmt: skip
HA_KEYS = {"name", "unique_id", "state_topic", "state_class", "unit_of_measurement", "icon", "device_class",
           "payload_on", "payload_off", "availability_topic", "payload_available", "payload_not_available",
           "device", "identifiers", "manufacturer", "model", "sw_version"}  # fmt: skip
FORBIDDEN = re.compile(r"pixel|temp|therm|frame_data|position|track|coord", re.IGNORECASE)


def walk(value: Any, allowed: set[str], where: str) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            assert key in allowed and not FORBIDDEN.search(key), f"{where}: key {key!r}"
            walk(sub, allowed, f"{where}.{key}")
    elif isinstance(value, list):
        numbers = [v for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
        assert len(numbers) < 8, f"{where}: a run of {len(numbers)} numbers looks like pixel data"
        for n, sub in enumerate(value):
            walk(sub, allowed, f"{where}[{n}]")


def test_everything_published_during_a_replayed_demo_is_aggregates_only(tmp_path, demo_trace):
    broker = Broker(tmp_path / "broker")
    broker.start()
    listener = Listener(broker, ["#"])
    config = make_config(
        tmp_path,
        sensor={"source": f"replay:{demo_trace}?speed=20"},
        nfc={"device": "off"},
        fleet={"enabled": True, "broker": broker.url, "site": "s1", "kiosk": "k1", "homeassistant": True},
    )
    kiosk = Kiosk(config, tag_service=TagService(None), page_port=0, report=lambda line: None, seed=1)
    assert kiosk.fleet is not None
    kiosk.fleet.minute_s = 0.5  # a short minute: many aggregates within the replay
    kiosk.fleet.health_every_s = 1.0
    try:
        kiosk.start()
        assert kiosk.wait(120), "the replay did not end"
        assert kiosk.drain(30)
    finally:
        kiosk.close(timeout=10)
    def went_offline() -> bool:
        return any(t == "heatcast/s1/k1/state" and p == b"offline" for t, p, _r in listener.messages)

    wait_for(went_offline, 20)
    time.sleep(0.3)
    listener.close()
    broker.stop()
    kinds: dict[str, int] = {}
    showings = 0
    for topic, payload, _retained in listener.messages:
        assert len(payload) < 20_000, f"{topic}: {len(payload)} bytes"
        if topic == "heatcast/s1/k1/state":
            assert payload in (b"online", b"offline")
        elif topic == "heatcast/s1/k1/ha/people":
            assert payload.isdigit() and int(payload) <= 4
        elif topic == "heatcast/s1/k1/ha/presence":
            assert payload in (b"ON", b"OFF")
        elif topic.startswith("homeassistant/"):
            walk(json.loads(payload), HA_KEYS, topic)
        else:
            body = json.loads(payload)
            kind = body["kind"]
            assert topic == f"heatcast/s1/k1/{kind}"
            assert set(body) <= DOC_KEYS[kind], f"{topic}: {set(body) - DOC_KEYS[kind]}"
            assert body["schema"] == 1 and isinstance(body["seq"], int)
            for key, value in body.items():
                if key not in ("site", "kiosk", "stream", "start", "end", "at", "kind"):
                    walk(value, NESTED_KEYS, f"{topic}.{key}")
            for bucket in body.get("buckets", ()):
                assert re.fullmatch(r"[0-4]\|[a-z]*\|[a-z-]*", bucket["bucket"]), bucket
            kinds[kind] = kinds.get(kind, 0) + 1
            if kind == "audience":
                showings += body["total"]["showings"]
    assert kinds.get("audience", 0) >= 3 and kinds.get("impressions", 0) >= 1 and kinds.get("health", 0) >= 1
    # what the kiosk recorded is what it reported: every impression in one minute
    assert showings == kiosk.stats.impressions > 0
