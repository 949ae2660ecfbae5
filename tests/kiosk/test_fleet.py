"""The fleet on a real Mosquitto: aggregates up through an outage, signed catalogues down, HA discovery."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fleet_broker import Broker, Listener, publish
from kiosk_helpers import make_config, wait_for

from heatcast.firmware.catalogue import Catalogue, Impression, item_to_json
from heatcast.firmware.fleet import (
    DOC_KEYS,
    MAX_CATALOGUE_BYTES,
    Fleet,
    Outbox,
    probe,
    sign_catalogue,
    summarise,
)
from heatcast.firmware.kiosk import KioskStats

SECRET = b"s" * 32
FLEET_LOG = "heatcast.firmware.fleet"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


def fleet_config(tmp_path: Path, broker: Broker, **more: object) -> Any:
    return make_config(
        tmp_path,
        fleet={"enabled": True, "broker": broker.url, "site": "paris-01", "kiosk": "door", **more},
    )


def impression(content_id: int = 1, count: int = 1, ots: int = 1) -> Impression:
    end = datetime(2026, 12, 3, 12, 0, 0)
    return Impression(content_id, count, "standing", "facing", end - timedelta(seconds=10), end,
                      dwell_s=8.0, facing_s=5.0, stayed=False, visits_at_start=0, arrivals=ots,
                      ots=ots, watchers=1, taps=0)  # fmt: skip


def fake_kiosk(catalogue: Any = None) -> SimpleNamespace:
    tag = SimpleNamespace(state=lambda: SimpleNamespace(reader=None, verified=False, error=None))
    return SimpleNamespace(stats=KioskStats(), last_frame_monotonic=time.monotonic(), tag=tag, page=None,
                           catalogue=catalogue, latest=None)  # fmt: skip


class Ticker:
    """The kiosk's worker thread, in short: ticks the fleet, feeding an impression now and then."""

    def __init__(self, fleet: Fleet, kiosk: Any, feed_every_s: float = 0.0) -> None:
        self.fleet, self.kiosk, self.fed = fleet, kiosk, 0
        self._stop = threading.Event()
        self._feed = feed_every_s
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(0.02):
            if self._feed and time.monotonic() - last >= self._feed:
                last = time.monotonic()
                self.fleet.impression(impression(), "https://www.youtube.com/watch?v=abcdefghijk")
                self.fed += 1
            self.fleet.tick(self.kiosk)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def by_seq(bodies: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {int(b["seq"]): b for b in bodies}


def test_an_outage_loses_nothing_and_the_backlog_arrives_exactly_once(tmp_path, broker):
    config = fleet_config(tmp_path, broker, drain_per_s=50.0)
    listener = Listener(broker, ["heatcast/#"])
    fleet = Fleet(config, minute_s=0.1, health_every_s=0.5, secret=SECRET)
    ticker = Ticker(fleet, fake_kiosk(), feed_every_s=0.05)
    try:
        assert fleet.link.connected.wait(10)
        time.sleep(1.0)
        broker.stop()  # the shop's network goes down
        wait_for(lambda: not fleet.link.connected.is_set(), 10)
        time.sleep(3.0)
        backlog, _ = fleet.outbox.backlog()
        assert backlog >= 20, backlog  # queued on disk meanwhile
        broker.start()
        assert fleet.link.connected.wait(70)
        time.sleep(1.0)
    finally:
        ticker.stop()
        fleet.close(timeout=20)
    up = ("audience", "impressions", "health")
    wait_for(lambda: len(by_seq(listener.json(up))) >= 1 and outbox_empty(config), 30)
    time.sleep(0.5)
    listener.close()
    bodies = listener.json(up)
    seqs = by_seq(bodies)
    assert len({b["stream"] for b in bodies}) == 1
    # every sequence number from the first to the last, each once after de-duplication
    assert sorted(seqs) == list(range(1, max(seqs) + 1)), sorted(set(range(1, max(seqs) + 1)) - set(seqs))
    # and the figures add up: every impression fed is in exactly one minute
    showings = sum(b["total"]["showings"] for b in seqs.values() if b["kind"] == "audience")
    assert showings == ticker.fed
    items = sum(i["showings"] for b in seqs.values() if b["kind"] == "impressions" for i in b["items"])
    assert items == ticker.fed
    for body in seqs.values():
        assert body["schema"] == 1 and set(body) <= DOC_KEYS[body["kind"]], body


def outbox_empty(config: Any) -> bool:
    outbox = Outbox(config.data_dir / "fleet-outbox.db", 1000)
    try:
        return outbox.backlog()[0] == 0
    finally:
        outbox.close()


def test_a_full_queue_summarises_its_oldest_never_drops(tmp_path, caplog):
    outbox = Outbox(tmp_path / "q.db", 100, site="s", kiosk="k")
    caplog.set_level(logging.WARNING, FLEET_LOG)
    for n in range(1000):
        body = {"start": f"t{n:04}", "end": f"t{n + 1:04}",
                "buckets": [{"bucket": "1|standing|facing", "showings": 1, "visits": 2, "ots": 2,
                             "watchers": 1, "attention_s": 1.5, "dwell_s": 3.0, "taps": 0}],
                "total": {"showings": 1}}  # fmt: skip
        outbox.put("heatcast/s/k/audience", "audience", body)
    count, _ = outbox.backlog()
    assert count <= 100
    rows = outbox.after(0, 1000)
    bodies = [json.loads(r.payload) for r in rows]
    # nothing lost: the summaries and the messages left hold all 1000 minutes' figures
    total = summarise(bodies)
    assert total["kinds"] == {"audience": 1000}
    assert total["total"]["showings"] == 1000 and total["total"]["visits"] == 2000
    assert total["from_seq"] == 1 and total["to_seq"] == 1000
    assert [r.seq for r in rows] == sorted(r.seq for r in rows)
    full = [r for r in caplog.records if "is full" in r.getMessage()]
    assert len(full) == 1, [r.getMessage() for r in caplog.records]
    outbox.close()


def catalogue_for(tmp_path: Path) -> Catalogue:
    return Catalogue.open_or_copy(tmp_path / "content.db")


def snapshot(catalogue: Catalogue) -> list[dict[str, Any]]:
    return [item_to_json(i) for i in catalogue.items(archived=None)]


def test_only_a_signed_newer_catalogue_for_this_site_changes_anything(tmp_path, broker, caplog):
    config = fleet_config(tmp_path, broker)
    catalogue = catalogue_for(tmp_path)
    before = snapshot(catalogue)
    fleet = Fleet(config, minute_s=60, health_every_s=60, secret=SECRET)
    ticker = Ticker(fleet, fake_kiosk(catalogue))
    caplog.set_level(logging.INFO, FLEET_LOG)
    site_topic = "heatcast/paris-01/catalogue"
    changed = [dict(before[0], title="Winter sale")]
    good = json.dumps(changed).encode()
    hostile = json.dumps([dict(before[0], url="javascript:alert(1)")]).encode()
    foreign = json.dumps([dict(before[0], url="https://evil.example/x")]).encode()
    try:
        assert fleet.link.connected.wait(10)
        rogue = [
            (b"not json at all", "not valid JSON"),
            (b"[" * 200_000, "nested too deeply"),
            (json.dumps({"schema": 1, "body": 5, "sig": []}).encode(), "must be strings"),
            (b"x" * (MAX_CATALOGUE_BYTES + 500_000), "over the"),
            (json.dumps({"schema": 1, "kind": "catalogue", "body": "{}"}).encode(), "unsigned"),
            (sign_catalogue(b"r" * 32, "paris-01", good), "signature is wrong"),
            (sign_catalogue(SECRET, "lyon-02", good), "not for this topic"),
            (sign_catalogue(SECRET, "paris-01", hostile), "refused, nothing changed"),
            (sign_catalogue(SECRET, "paris-01", foreign), "refused, nothing changed"),
        ]
        for payload, why in rogue:
            caplog.clear()
            publish(broker, site_topic, payload)
            wait_for(lambda why=why: any(why in r.getMessage() for r in caplog.records), 10)
            time.sleep(0.2)
            lines = [r for r in caplog.records if r.name == FLEET_LOG and r.levelno >= logging.WARNING]
            assert len(lines) == 1, [r.getMessage() for r in lines]
            assert not lines[0].exc_info and "Traceback" not in lines[0].getMessage()
            assert len(lines[0].getMessage()) < 400
            assert snapshot(catalogue) == before
        # the real one, signed by head office: applied with content import's checks
        caplog.clear()
        version = int(time.time() * 1000) + 10_000
        publish(broker, site_topic, sign_catalogue(SECRET, "paris-01", good, version=version))
        wait_for(lambda: fleet.applied == [version], 10)
        after = snapshot(catalogue)
        assert after[0]["title"] == "Winter sale" and after[1:] == before[1:]
        # an older one replayed (say a copy kept by a rogue publisher) is refused
        caplog.clear()
        old = sign_catalogue(SECRET, "paris-01", json.dumps(before[:1]).encode(), version=version - 5)
        publish(broker, site_topic, old)
        wait_for(lambda: any("not newer" in r.getMessage() for r in caplog.records), 10)
        # one for another kiosk of the site is refused here
        publish(broker, "heatcast/paris-01/door/catalogue",
                sign_catalogue(SECRET, "paris-01", good, kiosk="window", version=version + 1))  # fmt: skip
        wait_for(lambda: any("not for this topic" in r.getMessage() for r in caplog.records), 10)
        assert snapshot(catalogue) == after
    finally:
        ticker.stop()
        fleet.close()
        catalogue.close()


def test_home_assistant_discovers_people_and_presence(tmp_path, broker):
    config = fleet_config(tmp_path, broker, homeassistant=True)
    topics = ["homeassistant/#", "heatcast/paris-01/door/state", "heatcast/paris-01/door/ha/#"]
    listener = Listener(broker, topics)
    fleet = Fleet(config, minute_s=60, health_every_s=60, secret=SECRET)
    kiosk = fake_kiosk()
    kiosk.latest = SimpleNamespace(count=2, presence=True)
    ticker = Ticker(fleet, kiosk)
    try:

        def got(topic: str) -> list[bytes]:
            return [p for t, p, _r in list(listener.messages) if t == topic]

        node = "heatcast_paris-01_door"
        wait_for(lambda: got(f"homeassistant/sensor/{node}/people/config"), 10)
        wait_for(lambda: got(f"homeassistant/binary_sensor/{node}/presence/config"), 10)
        people = json.loads(got(f"homeassistant/sensor/{node}/people/config")[-1])
        presence = json.loads(got(f"homeassistant/binary_sensor/{node}/presence/config")[-1])
        for entity in (people, presence):
            assert entity["availability_topic"] == "heatcast/paris-01/door/state"
            assert entity["payload_available"] == "online" and entity["payload_not_available"] == "offline"
            assert entity["device"]["identifiers"] == [node] and entity["unique_id"].startswith(node)
        assert presence["device_class"] == "occupancy"
        assert people["state_class"] == "measurement"
        wait_for(lambda: got(people["state_topic"]) == [b"2"], 10)
        wait_for(lambda: got(presence["state_topic"]) == [b"ON"], 10)
        kiosk.latest = SimpleNamespace(count=0, presence=False)
        wait_for(lambda: got(presence["state_topic"])[-1:] == [b"OFF"], 10)
        assert got("heatcast/paris-01/door/state")[-1] == b"online"
        # the configs are retained: a Home Assistant started later finds them
        late = Listener(broker, ["homeassistant/#"], client_id="late-ha")
        wait_for(lambda: len(late.messages) >= 2, 10)
        assert all(retained for _t, _p, retained in late.messages)
        late.close()
        # the kiosk dies without a goodbye: the broker's last will says offline
        ticker.stop()
        fleet.link._stop.set()
        fleet.link.client.loop_stop()
        fleet.link.client.socket().close()
        wait_for(lambda: got("heatcast/paris-01/door/state")[-1:] == [b"offline"], 20)
    finally:
        ticker.stop()
        listener.close()
        fleet.outbox.close()


def test_tls_and_password_probe(tmp_path):
    broker = Broker(tmp_path / "tls", tls=True, password=("kiosk", "correct horse"))
    broker.start()
    try:
        pw = tmp_path / "pw"
        pw.write_text("correct horse\n")
        pw.chmod(0o600)
        base = {"username": "kiosk", "password_file": str(pw), "ca_file": str(broker.ca)}
        good = fleet_config(tmp_path, broker, **base).fleet
        assert probe(good, 5) is None
        pw.write_text("wrong\n")
        assert "refused" in str(probe(good, 5))
        pw.write_text("correct horse\n")
        no_ca = fleet_config(tmp_path, broker, username="kiosk", password_file=str(pw)).fleet
        assert "certificate" in str(probe(no_ca, 5)).lower()
        # and the kiosk's own link works over TLS with the password
        listener = Listener(broker, ["heatcast/#"], ca=broker.ca, auth=("kiosk", "correct horse"))
        fleet = Fleet(fleet_config(tmp_path, broker, **base), minute_s=0.1, health_every_s=60, secret=SECRET)
        try:
            assert fleet.link.connected.wait(10)
            fleet.tick(fake_kiosk())
            time.sleep(0.2)
            fleet.tick(fake_kiosk())
            wait_for(lambda: listener.json(("audience",)), 10)
        finally:
            fleet.close()
            listener.close()
    finally:
        broker.stop()


def test_publish_catalogue_status_and_doctor_on_the_broker(tmp_path, broker, monkeypatch):
    from click.testing import CliRunner

    from heatcast.firmware.cli import main
    from heatcast.firmware.doctor import check_fleet

    monkeypatch.setenv("HEATCAST_NFC_SECRET", SECRET.decode())
    config = fleet_config(tmp_path, broker)
    catalogue = catalogue_for(tmp_path)
    items = snapshot(catalogue)
    export = tmp_path / "hq.json"
    export.write_text(json.dumps([dict(items[0], title="From head office")]))
    fleet = Fleet(config, minute_s=60, health_every_s=0.2, secret=SECRET)
    ticker = Ticker(fleet, fake_kiosk(catalogue))
    try:
        assert fleet.link.connected.wait(10)
        cfg = tmp_path / "heatcast.toml"
        hq = tmp_path / "hq"
        cfg.write_text(f'data_dir = "{hq}"\n[fleet]\nbroker = "{broker.url}"\nsite = "paris-01"\n')
        result = CliRunner().invoke(main, ["fleet", "publish-catalogue", "--config", str(cfg), str(export)])
        assert result.exit_code == 0, result.output
        assert "published 1 items to heatcast/paris-01/catalogue" in result.output
        wait_for(lambda: len(fleet.applied) == 1, 10)
        assert snapshot(catalogue)[0]["title"] == "From head office"
        # a file that fails content import's checks is never published
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps([dict(items[0], url="javascript:alert(1)")]))
        result = CliRunner().invoke(main, ["fleet", "publish-catalogue", "--config", str(cfg), str(bad)])
        assert result.exit_code == 2 and "heatcast: error:" in result.output
        time.sleep(0.5)
        status = ["fleet", "status", "--config", str(cfg), "--seconds", "1", "--json"]
        result = CliRunner().invoke(main, status)
        assert result.exit_code == 0, result.output
        kiosks = json.loads(result.output)
        assert kiosks["paris-01/door"]["state"] == "online"
        assert kiosks["paris-01/door"]["health"]["kind"] == "health"
        checks = check_fleet(config)
        assert [c.ok for c in checks] == [True, True], checks
    finally:
        ticker.stop()
        fleet.close()
        catalogue.close()
    broker.stop()
    down = check_fleet(config, timeout_s=1)
    assert down[0].ok is False and "fleet.broker" in str(down[0].remedy)
