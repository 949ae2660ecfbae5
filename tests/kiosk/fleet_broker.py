"""A real Mosquitto for the fleet tests: started on a free loopback port with a generated config.

Never the system service: each test gets its own broker, its own files, its own port.
"""

from __future__ import annotations

import getpass
import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kiosk_helpers import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def need_mosquitto() -> None:
    if not Path(MOSQUITTO).exists():
        pytest.fail("mosquitto is not installed: run `make test` (it installs Debian's mosquitto)")


class Broker:
    """One mosquitto process; ``stop()`` and ``start()`` again keep the port and the persistence."""

    def __init__(self, folder: Path, *, tls: bool = False, password: tuple[str, str] | None = None) -> None:
        need_mosquitto()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tls = tls
        lines = [
            # run as root, mosquitto would switch to a user that cannot read the test's files
            f"user {getpass.getuser()}",
            "per_listener_settings false",
            "persistence true",
            f"persistence_location {folder}/",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            f"listener {self.port} 127.0.0.1",
            "max_packet_size 8000000",
        ]
        if tls:
            self.ca = make_ca(folder)
            lines += [f"cafile {self.ca}", f"certfile {folder / 'server.pem'}"]
            lines += [f"keyfile {folder / 'server.key'}"]
        if password is not None:
            pw = folder / "passwd"
            command = ["mosquitto_passwd", "-b", "-c", str(pw), *password]
            subprocess.run(command, check=True, capture_output=True)
            pw.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines.append("allow_anonymous true")
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.folder / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"mosquitto exited: {(self.folder / 'mosquitto.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("mosquitto did not listen within 10 s")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


def make_ca(folder: Path) -> Path:
    """A self-signed CA and a server certificate for 127.0.0.1, made with openssl."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=heatcast test CA",
        "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
        "-out", "server.csr")  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "san.ext", "-out", "server.pem")  # fmt: skip
    return folder / "ca.pem"


class Listener:
    """A subscriber that keeps its session (QoS 1) across broker restarts and records everything."""

    def __init__(self, broker: Broker, topics: list[str], *, ca: Path | None = None,
                 auth: tuple[str, str] | None = None, client_id: str = "test-listener") -> None:  # fmt: skip
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                             protocol=mqtt.MQTTv311)  # fmt: skip
        if auth:
            client.username_pw_set(*auth)
        if ca:
            client.tls_set(ca_certs=str(ca))

        def connected(c: Any, u: Any, f: Any, reason: Any, p: Any) -> None:
            c.subscribe([(t, 1) for t in topics])

        def subscribed(c: Any, u: Any, mid: Any, codes: Any, p: Any) -> None:
            self.subscribed.set()

        def message(c: Any, u: Any, msg: Any) -> None:
            with self.lock:
                self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

        client.on_connect = connected
        client.on_subscribe = subscribed
        client.on_message = message
        client.reconnect_delay_set(1, 1)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        self.client = client
        assert self.subscribed.wait(10), "the test listener could not subscribe"

    def json(self, kinds: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        out = []
        with self.lock:
            copy = list(self.messages)
        for _topic, payload, _retain in copy:
            try:
                body = json.loads(payload)
            except ValueError:
                continue
            if isinstance(body, dict) and (not kinds or body.get("kind") in kinds):
                out.append(body)
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish(broker: Broker, topic: str, payload: bytes, *, retain: bool = True) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="rogue-or-hq")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    info = client.publish(topic, payload, qos=1, retain=retain)
    info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()
