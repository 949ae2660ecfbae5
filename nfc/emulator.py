"""An NTAG21x on nfcpy's UDP transport, for end-to-end tests in another process.

nfcpy's ``udp`` driver (``nfc/clf/udp.py``) sends each frame as one datagram,
``b"<brty> <hex>"`` (e.g. ``b"106A 26"``), and ``b"RFOFF"`` when it switches its
field off; the tag answers to the sender in the same form.  This emulator plays
the tag side: ISO 14443-3 activation (SENS_REQ, cascade-2 SDD/SEL for a 7-byte
UID) and then :class:`heatcast.nfc.fake.NtagChip` for the tag commands.

    python -m heatcast.nfc.emulator --type ntag215 --port 0 --lifetime 60

It binds 127.0.0.1 only, prints ``listening on 127.0.0.1:PORT`` once ready, and
on exit (lifetime over, SIGTERM or SIGINT) prints one JSON line with the page
writes and the URL history seen on the tag.
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import socket
import sys
import time
from functools import reduce
from operator import xor
from typing import Any

from heatcast.nfc.fake import NtagChip


class UdpTag:
    """Answers nfcpy's UDP reader as one tag."""

    def __init__(self, chip: NtagChip) -> None:
        self.chip = chip
        u = chip.uid
        self.cl1 = bytes([0x88, u[0], u[1], u[2]])
        self.cl1 += bytes([reduce(xor, self.cl1)])
        self.cl2 = bytes(u[3:7])
        self.cl2 += bytes([reduce(xor, self.cl2)])
        self.frames = 0

    def answer(self, data: bytes) -> bytes | None:
        if data in (b"\x26", b"\x52"):  # SENS_REQ / ALL_REQ: back to the start, still powered
            self.chip.idle()
            return b"\x44\x00"
        if data == b"\x93\x20":
            return self.cl1
        if data == b"\x93\x70" + self.cl1:
            return b"\x04"  # UID not complete
        if data == b"\x95\x20":
            return self.cl2
        if data == b"\x95\x70" + self.cl2:
            self.chip.activate()
            return b"\x00"  # Type 2 tag, UID complete
        return self.chip.handle(data)

    def datagram(self, packet: bytes) -> bytes | None:
        self.frames += 1
        if packet.startswith(b"RFOFF"):
            self.chip.power_off()
            return None
        try:
            brty, hexdata = packet.split()
            data = bytes.fromhex(hexdata.decode("ascii"))
        except ValueError:
            return None
        rsp = self.answer(data)
        if rsp is None:
            return None
        return brty + b" " + rsp.hex().encode("ascii")


def serve(tag: UdpTag, port: int, lifetime: float, out: Any = sys.stdout) -> dict[str, Any]:
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))  # loopback only: this is a test fixture, not a service
    print(f"listening on 127.0.0.1:{sock.getsockname()[1]}", file=out, flush=True)
    ends = time.monotonic() + lifetime
    try:
        while not stop and time.monotonic() < ends:
            ready, _, _ = select.select([sock], [], [], 0.2)
            if not ready:
                continue
            packet, addr = sock.recvfrom(2048)
            reply = tag.datagram(packet)
            if reply is not None:
                sock.sendto(reply, addr)
    finally:
        sock.close()
    summary = {
        "product": tag.chip.product,
        "uid": tag.chip.uid.hex().upper(),
        "page_writes": tag.chip.page_writes,
        "commands": tag.chip.commands,
        "history": tag.chip.history,
        "url": tag.chip.ndef_url(),
        "auth0": tag.chip.auth0,
    }
    print(json.dumps(summary), file=out, flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    doc = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m heatcast.nfc.emulator", description=doc)
    parser.add_argument("--type", default="ntag215", choices=["ntag213", "ntag215", "ntag216"])
    parser.add_argument("--port", type=int, default=54321, help="UDP port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--lifetime", type=float, default=60.0, help="seconds before the emulator exits")
    parser.add_argument("--uid", default=None, help="7-byte UID in hex (default: generated)")
    args = parser.parse_args(argv)
    uid = bytes.fromhex(args.uid) if args.uid else None
    serve(UdpTag(NtagChip(args.type.upper(), uid)), args.port, args.lifetime)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
