"""A fleet of shops on MQTT: aggregates up to the chain's broker, the catalogue down from it.

* **Up, aggregates only.** Every minute the kiosk sums the impressions it recorded into
  per-bucket audience figures (visits, OTS, watchers, attention and dwell seconds) and
  per-item figures (showings, OTS, watchers, attention, dwell, taps), and every minute a
  health message (sensor, tag, page, disk, model). Each is JSON with ``schema`` and ``seq``
  on ``heatcast/<site>/<kiosk>/<kind>``. ``.../state`` is ``online``, or ``offline`` by
  MQTT's last will (retained). No frame, temperature, position or track is ever sent.
* **Nothing lost.** Every message goes through :class:`Outbox`, a store-and-forward queue
  in SQLite (WAL) in the data folder, and leaves it only once the broker acknowledged it
  (QoS 1). A receiver drops duplicates by ``(stream, seq)``. A backlog drains at
  ``fleet.drain_per_s``. When the queue is full its oldest messages are summarised into
  one ``summary`` message (counts added up, never silently dropped), with one log line.
* **Down, signed.** A retained catalogue on ``heatcast/<site>/catalogue`` (or
  ``heatcast/<site>/<kiosk>/catalogue``), signed with HMAC-SHA256 under the site secret
  (the NFC tags' secret), is applied with the checks of ``content import``. An unsigned,
  badly signed, older, foreign or oversized message is refused with one log line.
* **Home Assistant.** With ``fleet.homeassistant`` the people count and presence are
  announced on HA's MQTT discovery topics.

This module never imports click; ``cli_fleet`` holds the commands.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
import logging
import shutil
import socket
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from heatcast import __version__
from heatcast.errors import ConfigError, ContentError, HeatcastError
from heatcast.firmware.config import FLEET_SCHEMES, Config, FleetConfig

log = logging.getLogger(__name__)

SCHEMA = 1
#: A catalogue message larger than this is refused before it is parsed.
MAX_CATALOGUE_BYTES = 1_000_000
#: Asked of the broker at connect (MQTT 5 Maximum Packet Size): it sends nothing bigger,
#: so a hostile publisher can never make the kiosk hold more than this.
MAX_PACKET_BYTES = 4 * 2**20
#: Messages handed to the broker and not yet acknowledged, at most.
INFLIGHT = 20
MINUTE_S = 60.0
HEALTH_EVERY_S = 60.0
#: Home Assistant's people count is re-sent this often even when unchanged.
HA_EVERY_S = 60.0
#: The share of the queue summarised at once when it is full (one summary per chunk).
SUMMARY_SHARE = 0.1
#: What an HMAC signs: a prefix keeps catalogue signatures apart from the NFC tag keys.
SIGN_PREFIX = b"heatcast-fleet-catalogue-v1\x00"
UP_KINDS = ("audience", "impressions", "health", "summary")
#: The keys each message kind may hold (the privacy test holds every payload to these).
ENVELOPE_KEYS = frozenset({"schema", "kind", "seq", "stream", "site", "kiosk", "start", "end"})
FIGURES = ("showings", "visits", "ots", "watchers", "attention_s", "dwell_s", "taps")
DOC_KEYS: dict[str, frozenset[str]] = {
    "audience": ENVELOPE_KEYS | {"buckets", "total"},
    "impressions": ENVELOPE_KEYS | {"items"},
    "health": ENVELOPE_KEYS
    | {"at", "uptime_s", "sensor", "tag", "page", "disk", "model", "content", "queue"},
    "summary": ENVELOPE_KEYS | {"from_seq", "to_seq", "messages", "kinds", "buckets", "total", "items"},
}


def topic_safe(text: str) -> str:
    """A name usable as one MQTT topic level (a host name may hold dots)."""
    out = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in text)[:64]
    return out.strip("-") or "kiosk"


@dataclass(frozen=True, slots=True)
class Names:
    """Where one kiosk publishes and listens."""

    site: str
    kiosk: str

    @classmethod
    def of(cls, fleet: FleetConfig) -> Names:
        return cls(fleet.site, fleet.kiosk or topic_safe(socket.gethostname()))

    @property
    def base(self) -> str:
        return f"heatcast/{self.site}/{self.kiosk}"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    def up(self, kind: str) -> str:
        return f"{self.base}/{kind}"

    @property
    def site_catalogue(self) -> str:
        return f"heatcast/{self.site}/catalogue"

    @property
    def kiosk_catalogue(self) -> str:
        return f"{self.base}/catalogue"

    @property
    def node(self) -> str:
        return f"heatcast_{self.site}_{self.kiosk}"


def client_id_of(fleet: FleetConfig, names: Names) -> str:
    return fleet.client_id or f"heatcast-{names.site}-{names.kiosk}"[:128]


# -- the aggregates -------------------------------------------------------------


def _zero() -> dict[str, float]:
    return {name: 0 for name in FIGURES}


def _add(into: dict[str, float], figures: dict[str, Any]) -> None:
    for name in FIGURES:
        value = figures.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            into[name] = round(into.get(name, 0) + value, 3)


def impression_figures(impression: Any) -> dict[str, float]:
    """An impression's counts (catalogue.Impression): what a minute adds up."""
    return {
        "showings": 1,
        "visits": impression.arrivals or 0,
        "ots": impression.ots or 0,
        "watchers": impression.watchers or 0,
        "attention_s": round(impression.facing_s, 3),
        "dwell_s": round(impression.dwell_s, 3),
        "taps": impression.taps or 0,
    }


class MinuteBook:
    """The impressions of the current minute, summed per audience bucket and per item (worker thread).

    An impression counts in the minute it was recorded (when its content left the screen).
    """

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.buckets: dict[str, dict[str, float]] = {}
        self.items: dict[str, dict[str, Any]] = {}

    def add(self, impression: Any, url: str) -> None:
        from heatcast.firmware.catalogue import bucket_key

        figures = impression_figures(impression)
        _add(self.buckets.setdefault(bucket_key(impression.bucket), _zero()), figures)
        _add(self.items.setdefault(url, {"url": url, **_zero()}), figures)

    def bodies(self, end: datetime) -> list[tuple[str, dict[str, Any]]]:
        """The minute's messages: audience always (a quiet minute is a figure too), impressions if any."""
        total = _zero()
        for figures in self.buckets.values():
            _add(total, figures)
        window = {"start": self.start.isoformat(timespec="seconds"), "end": end.isoformat(timespec="seconds")}
        out: list[tuple[str, dict[str, Any]]] = [
            ("audience", {**window, "buckets": [{"bucket": k, **v} for k, v in self.buckets.items()],
                          "total": total}),
        ]  # fmt: skip
        if self.items:
            out.append(("impressions", {**window, "items": list(self.items.values())}))
        return out


def summarise(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """Many queued messages as one: figures added up per bucket and per item, the span kept."""
    buckets: dict[str, dict[str, float]] = {}
    items: dict[str, dict[str, Any]] = {}
    total = _zero()
    kinds: collections.Counter[str] = collections.Counter()
    starts: list[str] = []
    ends: list[str] = []
    seqs: list[int] = []
    for body in bodies:
        kind = str(body.get("kind"))
        if kind == "summary":
            kinds.update({str(k): int(v) for k, v in body.get("kinds", {}).items()})
            seqs.append(int(body.get("from_seq", body.get("seq", 0))))
        else:
            kinds[kind] += 1
        seqs.append(int(body.get("to_seq", body.get("seq", 0))))
        for key in ("start", "end"):
            if isinstance(body.get(key), str):
                (starts if key == "start" else ends).append(body[key])
        for bucket in body.get("buckets", ()):
            _add(buckets.setdefault(str(bucket.get("bucket")), _zero()), bucket)
        for item in body.get("items", ()):
            url = str(item.get("url"))
            _add(items.setdefault(url, {"url": url, **_zero()}), item)
    for figures in buckets.values():
        _add(total, figures)
    return {
        "kind": "summary",
        "start": min(starts) if starts else None,
        "end": max(ends) if ends else None,
        "from_seq": min(seqs),
        "to_seq": max(seqs),
        "messages": sum(kinds.values()),
        "kinds": dict(kinds),
        "buckets": [{"bucket": k, **v} for k, v in buckets.items()],
        "total": total,
        "items": list(items.values()),
    }


# -- the store-and-forward queue ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Queued:
    seq: int
    topic: str
    payload: bytes
    retain: bool


def outbox_path(config: Config) -> Path:
    return config.data_dir / "fleet-outbox.db"


class Outbox:
    """Messages waiting for the broker's acknowledgement, in SQLite (WAL, one transaction each).

    ``seq`` is the table's AUTOINCREMENT key: never reused, so a receiver can drop
    duplicates by ``(stream, seq)``; ``stream`` is random per queue file, so a new file
    (a kiosk reinstalled) is a new stream rather than a repeat of old numbers.
    Safe across threads (one connection, one lock).
    """

    def __init__(self, path: Path, max_messages: int, *, site: str = "", kiosk: str = "") -> None:
        self.path = path
        self.max_messages = max_messages
        self.site, self.kiosk = site, kiosk
        self._lock = threading.Lock()
        self._full_logged = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=5.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: an acknowledged enqueue survives a power cut, at a few writes a minute.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                "topic TEXT NOT NULL, kind TEXT NOT NULL, payload BLOB NOT NULL, "
                "retain INTEGER NOT NULL, created REAL NOT NULL)"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            if self.meta("stream") is None:
                import secrets

                self.set_meta("stream", secrets.token_hex(8))
        except sqlite3.Error as exc:
            raise ConfigError(
                f"cannot open the fleet queue {path} ({exc}): let heatcast write in data_dir, or delete the "
                "file if it is damaged (unsent aggregates in it are then lost)"
            ) from None
        self.stream = str(self.meta("stream"))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _envelope(self, seq: int, kind: str, body: dict[str, Any]) -> bytes:
        head = {"schema": SCHEMA, "kind": kind, "seq": seq, "stream": self.stream,
                "site": self.site, "kiosk": self.kiosk}  # fmt: skip
        return json.dumps({**head, **body}, separators=(",", ":")).encode()

    def put(self, topic: str, kind: str, body: dict[str, Any], *, retain: bool = False) -> int:
        """Queue one message (atomically); its sequence number."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                cur = db.execute(
                    "INSERT INTO outbox (topic, kind, payload, retain, created) VALUES (?, ?, x'', ?, ?)",
                    (topic, kind, int(retain), time.time()),
                )
                seq = int(cur.lastrowid or 0)
                db.execute(
                    "UPDATE outbox SET payload = ? WHERE seq = ?", (self._envelope(seq, kind, body), seq)
                )
                if self._count() > self.max_messages:
                    self._summarise_oldest()
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return seq

    def _count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def _summarise_oldest(self) -> None:
        # Within put's transaction: the oldest chunk becomes one message at its last seq.
        chunk = max(2, int(self.max_messages * SUMMARY_SHARE))
        rows = self._db.execute(
            "SELECT seq, topic, payload, retain FROM outbox ORDER BY seq LIMIT ?", (chunk,)
        ).fetchall()
        bodies = [json.loads(bytes(row[2])) for row in rows]
        summary = summarise(bodies)
        last = int(rows[-1][0])
        self._db.execute("DELETE FROM outbox WHERE seq <= ?", (last,))
        body = {k: v for k, v in summary.items() if k != "kind"}
        topic = rows[-1][1].rsplit("/", 1)[0] + "/summary"
        self._db.execute(
            "INSERT INTO outbox (seq, topic, kind, payload, retain, created) "
            "VALUES (?, ?, 'summary', ?, 0, ?)",
            (last, topic, self._envelope(last, "summary", body), time.time()),
        )
        if not self._full_logged:
            log.warning(
                "fleet: the queue %s is full (%d messages, fleet.queue_max_messages): the oldest are now "
                "summarised (%d into one); check the broker connection (heatcast doctor)",
                self.path, self.max_messages, len(rows),
            )  # fmt: skip
            self._full_logged = True

    def after(self, seq: int, limit: int) -> list[Queued]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload, retain FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            ).fetchall()
        return [Queued(int(r[0]), str(r[1]), bytes(r[2]), bool(r[3])) for r in rows]

    def ack(self, seqs: Iterable[int]) -> None:
        seqs = list(seqs)
        if not seqs:
            return
        with self._lock:
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
            if self._full_logged and self._count() < self.max_messages // 2:
                self._full_logged = False

    def backlog(self) -> tuple[int, float | None]:
        """Messages waiting, and the age in seconds of the oldest."""
        with self._lock:
            count, oldest = self._db.execute("SELECT count(*), min(created) FROM outbox").fetchone()
        return int(count), (time.time() - float(oldest)) if oldest is not None else None


def outbox_backlog(config: Config) -> tuple[int, float | None]:
    """The queue's backlog for doctor, without creating the file if the kiosk never ran."""
    path = outbox_path(config)
    if not path.exists():
        return 0, None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2.0)
        try:
            count, oldest = db.execute("SELECT count(*), min(created) FROM outbox").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return 0, None
    return int(count), (time.time() - float(oldest)) if oldest is not None else None


# -- the signed catalogue -----------------------------------------------------------


def sign_catalogue(
    secret: bytes, site: str, content: bytes, *, kiosk: str | None = None, version: int | None = None
) -> bytes:
    """The retained message ``fleet publish-catalogue`` sends: the import file, signed."""
    body = json.dumps(
        {
            "site": site,
            "kiosk": kiosk,
            "version": version if version is not None else time.time_ns() // 1_000_000,
            "published": datetime.now().astimezone().isoformat(timespec="seconds"),
            "content": content.decode("utf-8"),
        },
        separators=(",", ":"),
    )
    sig = hmac.new(secret, SIGN_PREFIX + body.encode(), hashlib.sha256).hexdigest()
    return json.dumps({"schema": SCHEMA, "kind": "catalogue", "body": body, "sig": sig}).encode()


@dataclass(frozen=True, slots=True)
class SignedCatalogue:
    version: int
    content: bytes
    target: str


class Refused(Exception):
    """A catalogue message that changes nothing; its text is the one log line."""


def _loads(data: bytes | str, what: str) -> Any:
    try:
        return json.loads(data)
    except RecursionError:
        raise Refused(f"{what} is JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused(f"{what} is not valid JSON ({str(exc)[:80]})") from None


def verify_catalogue(
    payload: bytes, topic: str, names: Names, secret: bytes | None, seen_version: int
) -> SignedCatalogue:
    """Check a catalogue message before anything reads its content; :class:`Refused` if bad."""
    if len(payload) > MAX_CATALOGUE_BYTES:
        raise Refused(f"{len(payload)} bytes is over the {MAX_CATALOGUE_BYTES} bytes a catalogue may be")
    if secret is None:
        raise Refused("no site secret to check its signature: set nfc.secret_file or HEATCAST_NFC_SECRET")
    envelope = _loads(payload, "it")
    if not isinstance(envelope, dict):
        raise Refused(f"it is JSON {type(envelope).__name__}, not a signed catalogue object")
    body, sig = envelope.get("body"), envelope.get("sig")
    if sig is None:
        raise Refused("it is unsigned (no sig): publish it with `heatcast fleet publish-catalogue`")
    if envelope.get("schema") != SCHEMA or not isinstance(body, str) or not isinstance(sig, str):
        raise Refused(f"it is not a schema {SCHEMA} catalogue (body and sig must be strings)")
    expected = hmac.new(
        secret, SIGN_PREFIX + body.encode("utf-8", "surrogatepass"), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, sig):
        raise Refused("its signature is wrong (not signed with this site's secret)")
    data = _loads(body, "its body")
    if not isinstance(data, dict):
        raise Refused("its body is not a JSON object")
    version, site, kiosk, content = (data.get(k) for k in ("version", "site", "kiosk", "content"))
    if isinstance(version, bool) or not isinstance(version, int) or not isinstance(content, str):
        raise Refused("its body needs an integer version and the content as a string")
    want_kiosk = names.kiosk if topic == names.kiosk_catalogue else None
    if site != names.site or kiosk != want_kiosk:
        raise Refused(f"it is signed for site {site!r} kiosk {kiosk!r}, not for this topic (a replay)")
    if version <= seen_version:
        raise Refused(f"version {version} is not newer than {seen_version}, already applied (a replay)")
    return SignedCatalogue(version, content.encode(), "kiosk" if want_kiosk else "site")


def apply_catalogue(catalogue: Any, signed: SignedCatalogue, allow_domains: Iterable[str]) -> str:
    """Import a verified catalogue with ``content import``'s checks (URL policy included)."""
    from heatcast.firmware.catalogue import detect_format, import_file

    name = f"fleet catalogue v{signed.version}"
    if detect_format(signed.content, name) == "sqlite":
        raise ContentError(f"{name} is an SQLite file: publish CSV or JSON (content export writes them)")
    summary = import_file(catalogue, name, tuple(allow_domains), data=signed.content)
    return f"{summary.added} added, {summary.updated} updated, {summary.unchanged} unchanged"


# -- the MQTT link --------------------------------------------------------------------


def _read_password(path: Path) -> str:
    try:
        st = path.stat()
        if st.st_mode & 0o077:
            raise ConfigError(
                f"fleet.password_file {path} is readable by group or others: fix it with chmod 600 {path}"
            )
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(
            f"cannot read fleet.password_file {path} ({exc.strerror}): check the path"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"fleet.password_file {path} is not text: write the password in it") from None


def make_client(fleet: FleetConfig, client_id: str) -> Any:
    """A paho-mqtt 2.x client (MQTT 5) with the configured credentials and TLS; not yet connected."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if fleet.username:
        password = _read_password(fleet.password_file) if fleet.password_file else None
        client.username_pw_set(fleet.username, password)
    if urlsplit(fleet.broker).scheme.lower() == "mqtts":
        try:
            client.tls_set(
                ca_certs=str(fleet.ca_file) if fleet.ca_file else None,
                certfile=str(fleet.cert_file) if fleet.cert_file else None,
                keyfile=str(fleet.key_file) if fleet.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"fleet TLS files cannot be used ({exc}): "
                "check fleet.ca_file, fleet.cert_file and fleet.key_file"
            ) from None
    client.max_inflight_messages_set(INFLIGHT)
    client.reconnect_delay_set(1, 60)
    return client


def broker_address(fleet: FleetConfig) -> tuple[str, int]:
    url = urlsplit(fleet.broker)
    return url.hostname or "", url.port or FLEET_SCHEMES[url.scheme.lower()]


def connect_properties() -> Any:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.MaximumPacketSize = MAX_PACKET_BYTES
    return props


class Link:
    """The kiosk's connection: drains the :class:`Outbox`, listens for catalogues, keeps the will.

    paho's network thread only sets flags and appends to deques; a sender thread of our own
    publishes at ``drain_per_s`` and deletes what the broker acknowledged (paho calls
    on_publish holding its own lock, so it must not wait on ours).
    """

    def __init__(
        self,
        fleet: FleetConfig,
        names: Names,
        outbox: Outbox,
        *,
        on_catalogue: Callable[[bytes, str], None] | None = None,
        on_connect: Callable[[], None] | None = None,
        extra_topics: tuple[str, ...] = (),
    ) -> None:
        import paho.mqtt.client as mqtt

        self.fleet, self.names, self.outbox = fleet, names, outbox
        self._on_catalogue = on_catalogue
        self._on_connect_hook = on_connect
        self._extra = extra_topics
        self.client = make_client(fleet, client_id_of(fleet, names))
        self.client.will_set(names.state, "offline", qos=1, retain=True)
        self.client.on_connect = self._connected
        self.client.on_disconnect = self._disconnected
        self.client.on_publish = self._published
        self.client.on_message = self._message
        self.connected = threading.Event()
        self.last_error: str | None = None
        self.sent = 0
        self._acks: collections.deque[int] = collections.deque()
        self._reset = False
        self._stop = threading.Event()
        self._mqtt = mqtt
        host, port = broker_address(fleet)
        self.client.connect_async(host, port, keepalive=30, clean_start=True, properties=connect_properties())
        self.client.loop_start()
        self._sender = threading.Thread(target=self._send_loop, name="heatcast-fleet", daemon=True)
        self._sender.start()

    # paho's thread

    def _connected(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self.last_error = f"the broker refused the connection: {reason}"
            log.warning("fleet: %s (%s); check fleet.username and fleet.password_file", self.last_error,
                        self.fleet.broker)  # fmt: skip
            return
        self.last_error = None
        log.info("fleet: connected to %s as %s", self.fleet.broker, self.names.base)
        client.publish(self.names.state, "online", qos=1, retain=True)
        topics = [self.names.site_catalogue, self.names.kiosk_catalogue, *self._extra]
        client.subscribe([(t, 1) for t in topics])
        self._reset = True
        self.connected.set()
        if self._on_connect_hook is not None:
            self._on_connect_hook()

    def _disconnected(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if self.connected.is_set() and not self._stop.is_set():
            log.warning(
                "fleet: lost the broker %s (%s); queueing until it is back", self.fleet.broker, reason
            )
        self.connected.clear()
        self._reset = True

    def _published(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        if not getattr(reason, "is_failure", False):
            self._acks.append(mid)

    def _message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            if self._on_catalogue is not None:
                self._on_catalogue(bytes(message.payload), str(message.topic))
        except Exception as exc:  # one line, never a traceback in paho's thread
            log.warning("fleet: message on %s ignored: %s: %s", message.topic, type(exc).__name__, exc)

    # the sender thread

    def _send_loop(self) -> None:
        inflight: dict[int, int] = {}  # mid -> seq
        cursor = 0
        tokens = float(INFLIGHT)
        last = time.monotonic()
        rate = self.fleet.drain_per_s
        step = max(0.005, min(0.2, 1.0 / rate))
        while not self._stop.wait(step):
            now = time.monotonic()
            tokens = min(float(INFLIGHT), tokens + (now - last) * rate)
            last = now
            if self._reset:
                self._reset = False
                inflight.clear()
                self._acks.clear()
                cursor = 0  # resend whatever was not acknowledged: the receiver drops repeats
            done = []
            while self._acks:
                seq = inflight.pop(self._acks.popleft(), None)
                if seq is not None:
                    done.append(seq)
            try:
                self.outbox.ack(done)
                self.sent += len(done)
                if not self.connected.is_set() or tokens < 1 or len(inflight) >= INFLIGHT:
                    continue
                room = min(int(tokens), INFLIGHT - len(inflight))
                for item in self.outbox.after(cursor, room):
                    info = self.client.publish(item.topic, item.payload, qos=1, retain=item.retain)
                    if info.rc != self._mqtt.MQTT_ERR_SUCCESS:
                        break
                    inflight[info.mid] = item.seq
                    cursor = item.seq
                    tokens -= 1
            except (sqlite3.Error, ValueError) as exc:
                log.warning("fleet: the queue failed (%s); retrying", exc)
                self._stop.wait(1.0)

    def publish_now(self, topic: str, payload: str | bytes, *, retain: bool = True, qos: int = 0) -> None:
        """A live state (Home Assistant): sent if connected, else skipped, never queued."""
        if self.connected.is_set():
            self.client.publish(topic, payload, qos=qos, retain=retain)

    def close(self, timeout: float = 2.0) -> None:
        """Send what is queued for up to ``timeout``, say offline, disconnect (the rest waits on disk)."""
        deadline = time.monotonic() + timeout
        while self.connected.is_set() and self.outbox.backlog()[0] and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stop.set()
        self._sender.join(1.0)
        if self.connected.is_set():
            info = self.client.publish(self.names.state, "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(max(0.2, deadline - time.monotonic()))
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()


# -- Home Assistant -------------------------------------------------------------------


def ha_discovery(names: Names) -> list[tuple[str, dict[str, Any]]]:
    """HA MQTT discovery: ``homeassistant/<component>/<node_id>/<object_id>/config`` (retained)."""
    device = {
        "identifiers": [names.node],
        "name": f"heatcast {names.site} {names.kiosk}",
        "manufacturer": "heatcast",
        "model": "thermal billboard",
        "sw_version": __version__,
    }
    common = {
        "availability_topic": names.state,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": device,
    }
    return [
        (
            f"homeassistant/sensor/{names.node}/people/config",
            {**common, "name": "People", "unique_id": f"{names.node}_people",
             "state_topic": f"{names.base}/ha/people", "state_class": "measurement",
             "unit_of_measurement": "people", "icon": "mdi:account-group"},
        ),
        (
            f"homeassistant/binary_sensor/{names.node}/presence/config",
            {**common, "name": "Presence", "unique_id": f"{names.node}_presence",
             "state_topic": f"{names.base}/ha/presence", "device_class": "occupancy",
             "payload_on": "ON", "payload_off": "OFF"},
        ),
    ]  # fmt: skip


# -- the kiosk's side -------------------------------------------------------------------


def site_secret(config: Config) -> bytes | None:
    from heatcast.nfc.keys import load_secret

    try:
        return load_secret(config.nfc.secret_file).value
    except HeatcastError as exc:
        log.warning("fleet: catalogue messages will be refused: %s", exc)
        return None


class Fleet:
    """What the kiosk creates when ``fleet.enabled``: fed each impression, ticked by the worker thread.

    ``monotonic`` and ``wall`` are the clocks (tests pass their own); ``minute_s`` the aggregate
    period. Never raises into the kiosk: a fault is a log line.
    """

    def __init__(
        self,
        config: Config,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = datetime.now,
        minute_s: float = MINUTE_S,
        health_every_s: float = HEALTH_EVERY_S,
        secret: bytes | None = None,
    ) -> None:
        self.config = config
        self.names = Names.of(config.fleet)
        self.monotonic, self.wall = monotonic, wall
        self.minute_s, self.health_every_s = minute_s, health_every_s
        self.outbox = Outbox(outbox_path(config), config.fleet.queue_max_messages,
                             site=self.names.site, kiosk=self.names.kiosk)  # fmt: skip
        self.secret = secret if secret is not None else site_secret(config)
        self._book = MinuteBook(wall())
        self._minute_at = monotonic()
        self._health_at = -float("inf")
        self._started = monotonic()
        self._pending: SignedCatalogue | None = None
        self._pending_lock = threading.Lock()
        self._pending_digest = ""
        self._ha_state: tuple[int, bool] | None = None
        self._ha_at = -float("inf")
        self._ha_announce = threading.Event()
        self._failed = False
        self.applied: list[int] = []
        extra = ("homeassistant/status",) if config.fleet.homeassistant else ()
        self.link = Link(config.fleet, self.names, self.outbox, on_catalogue=self._received,
                         on_connect=self._ha_announce.set, extra_topics=extra)  # fmt: skip

    @classmethod
    def for_kiosk(cls, config: Config) -> Fleet | None:
        if not config.fleet.enabled:
            return None
        return cls(config)

    def _seen_version(self) -> int:
        text = self.outbox.meta("catalogue_version")
        return int(text) if text and text.isdigit() else 0

    # paho's thread: check only; the worker thread applies

    def _received(self, payload: bytes, topic: str) -> None:
        if topic == "homeassistant/status":
            if payload[:16] == b"online":
                self._ha_announce.set()  # HA restarted: announce again
            return
        with self._pending_lock:
            seen = max(self._seen_version(), self._pending.version if self._pending else 0)
            try:
                signed = verify_catalogue(payload, topic, self.names, self.secret, seen)
            except Refused as exc:
                # The retained catalogue handled last comes again at every reconnect: no warning for that.
                again = self.outbox.meta("catalogue_digest") == hashlib.sha256(payload).hexdigest()
                log.log(logging.DEBUG if again else logging.WARNING,
                        "fleet: catalogue on %s refused, nothing changed: %s", topic, exc)  # fmt: skip
                return
            self._pending = signed
            self._pending_digest = hashlib.sha256(payload).hexdigest()

    # the worker thread

    def impression(self, impression: Any, url: str) -> None:
        try:
            self._book.add(impression, url)
        except Exception as exc:
            self._fault("counting an impression", exc)

    def tick(self, kiosk: Any) -> None:
        try:
            now = self.monotonic()
            if now - self._minute_at >= self.minute_s:
                self._minute_at = now
                self.flush_minute()
            if now - self._health_at >= self.health_every_s:
                self._health_at = now
                self.outbox.put(self.names.up("health"), "health", self.health(kiosk), retain=True)
            self._apply_pending(kiosk)
            if self.config.fleet.homeassistant:
                self._ha(kiosk, now)
        except Exception as exc:
            self._fault("the fleet tick", exc)

    def flush_minute(self) -> None:
        end = self.wall()
        for kind, body in self._book.bodies(end):
            self.outbox.put(self.names.up(kind), kind, body)
        self._book = MinuteBook(end)

    def _fault(self, doing: str, exc: Exception) -> None:
        if not self._failed:
            log.warning("fleet: %s failed (%s: %s); the kiosk goes on", doing, type(exc).__name__, exc)
            self._failed = True

    def _apply_pending(self, kiosk: Any) -> None:
        with self._pending_lock:
            signed, self._pending = self._pending, None
        if signed is None or kiosk is None or getattr(kiosk, "catalogue", None) is None:
            if signed is not None:
                with self._pending_lock:
                    self._pending = self._pending or signed  # no catalogue open yet: keep it for later
            return
        try:
            result = apply_catalogue(kiosk.catalogue, signed, self.config.content.allow_domains)
        except HeatcastError as exc:
            log.warning("fleet: catalogue v%d refused, nothing changed: %s", signed.version, exc)
        else:
            log.info("fleet: catalogue v%d (%s) applied: %s", signed.version, signed.target, result)
            self.applied.append(signed.version)
        # Applied or refused, this version is done: a redelivery does not try it again.
        self.outbox.set_meta("catalogue_version", str(signed.version))
        self.outbox.set_meta("catalogue_digest", self._pending_digest)

    def _ha(self, kiosk: Any, now: float) -> None:
        if self._ha_announce.is_set() and self.link.connected.is_set():
            self._ha_announce.clear()
            for topic, body in ha_discovery(self.names):
                self.link.publish_now(topic, json.dumps(body), retain=True, qos=1)
            self._ha_state = None
        audience = getattr(kiosk, "latest", None)
        state = (int(audience.count), bool(audience.presence)) if audience is not None else (0, False)
        due = state != self._ha_state or now - self._ha_at >= HA_EVERY_S
        if due and self.link.connected.is_set():
            self._ha_state, self._ha_at = state, now
            self.link.publish_now(f"{self.names.base}/ha/people", str(state[0]))
            self.link.publish_now(f"{self.names.base}/ha/presence", "ON" if state[1] else "OFF")

    def health(self, kiosk: Any) -> dict[str, Any]:
        """The kiosk's health, counts and flags only."""
        stats = getattr(kiosk, "stats", None)
        last = getattr(kiosk, "last_frame_monotonic", None)
        age = None if last is None else round(time.monotonic() - last, 1)
        tag: dict[str, Any] = {"reader": None, "verified": False, "error": None}
        try:
            state = kiosk.tag.state()
            tag = {"reader": getattr(state, "reader", None),
                   "verified": bool(getattr(state, "verified", False)),
                   "error": getattr(state, "error", None)}  # fmt: skip
        except Exception:
            pass
        page = getattr(kiosk, "page", None)
        try:
            free_mb = round(shutil.disk_usage(self.config.data_dir).free / 2**20)
        except OSError:
            free_mb = None
        backlog, oldest = self.outbox.backlog()
        catalogue = getattr(kiosk, "catalogue", None)
        return {
            "at": self.wall().isoformat(timespec="seconds"),
            "uptime_s": round(self.monotonic() - self._started),
            "sensor": {"ok": age is not None and age < 10, "frames": getattr(stats, "frames", 0),
                       "errors": getattr(stats, "sensor_errors", 0), "last_frame_age_s": age},
            "tag": tag,
            "page": {"ok": page is None or bool(getattr(page, "alive", False)), "enabled": page is not None},
            "disk": {"free_mb": free_mb},
            "model": {"errors": getattr(stats, "pipeline_errors", 0)},
            "content": {"open": catalogue is not None, "errors": getattr(stats, "content_errors", 0),
                        "impressions": getattr(stats, "impressions", 0)},
            "queue": {"backlog": backlog, "oldest_s": None if oldest is None else round(oldest)},
        }  # fmt: skip

    def close(self, timeout: float = 2.0) -> None:
        try:
            self.flush_minute()
        except Exception as exc:
            self._fault("keeping the last minute", exc)
        self.link.close(timeout)
        self.outbox.close()


# -- probes for doctor and `fleet status` ------------------------------------------------


def probe(fleet: FleetConfig, timeout_s: float = 5.0) -> str | None:
    """Connect once with the configured credentials: None if the broker accepted, else why not."""
    names = Names.of(fleet)
    client = make_client(fleet, client_id_of(fleet, names) + "-probe")
    answer: dict[str, str | None] = {}
    done = threading.Event()

    def connected(client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        answer["error"] = f"the broker refused the connection: {reason}" if reason.is_failure else None
        done.set()

    client.on_connect = connected
    host, port = broker_address(fleet)
    try:
        client.connect(host, port, keepalive=10, properties=connect_properties())
    except (OSError, ssl.SSLError, ValueError) as exc:
        return f"cannot reach {fleet.broker}: {exc}"
    client.loop_start()
    try:
        if not done.wait(timeout_s):
            return f"no answer from {fleet.broker} within {timeout_s:g} s"
        return answer.get("error")
    finally:
        client.disconnect()
        client.loop_stop()


def collect(fleet: FleetConfig, topics: list[str], seconds: float) -> list[tuple[str, bytes]]:
    """Subscribe for ``seconds`` (retained messages arrive at once); what came, bounded in number."""
    names = Names.of(fleet)
    client = make_client(fleet, client_id_of(fleet, names) + "-status")
    got: list[tuple[str, bytes]] = []

    def message(client: Any, userdata: Any, msg: Any) -> None:
        if len(got) < 100_000 and len(msg.payload) <= MAX_CATALOGUE_BYTES:
            got.append((str(msg.topic), bytes(msg.payload)))

    def connected(client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not reason.is_failure:
            client.subscribe([(t, 1) for t in topics])

    client.on_message = message
    client.on_connect = connected
    host, port = broker_address(fleet)
    try:
        client.connect(host, port, keepalive=10, properties=connect_properties())
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise HeatcastError(f"cannot reach the broker {fleet.broker} ({exc}): check fleet.broker") from None
    client.loop_start()
    time.sleep(seconds)
    client.disconnect()
    client.loop_stop()
    return got


def publish_once(
    fleet: FleetConfig, topic: str, payload: bytes, *, retain: bool, timeout_s: float = 10.0
) -> None:
    """Publish one message with QoS 1 and wait for the broker's acknowledgement."""
    names = Names.of(fleet)
    client = make_client(fleet, client_id_of(fleet, names) + "-publish")
    host, port = broker_address(fleet)
    try:
        client.connect(host, port, keepalive=10, properties=connect_properties())
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise HeatcastError(f"cannot reach the broker {fleet.broker} ({exc}): check fleet.broker") from None
    client.loop_start()
    try:
        info = client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout_s)
        if not info.is_published():
            raise HeatcastError(f"the broker {fleet.broker} did not acknowledge within {timeout_s:g} s: "
                                "check the broker (heatcast doctor)")  # fmt: skip
    finally:
        client.disconnect()
        client.loop_stop()
