"""The serial:// source: the pure decoder (fuzzed) and pyserial through loop:// and a pty."""

from __future__ import annotations

import itertools
import os
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heatcast.errors import SourceError, UsageError
from heatcast.sensor.frame import MAX_C, MIN_C
from heatcast.sensor.serial_source import (
    BINARY_FRAME_LEN,
    MAX_LINE,
    Decoded,
    FrameDecoder,
    encode_adafruit,
    encode_binary,
    encode_text,
    port_name,
)
from heatcast.sensor.sources import open_source


def grid(seed: int, step: float = 0.25) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.integers(int(-10 / step), int(60 / step), 64) * step).reshape(8, 8)


def encoded(fmt: str, pixels: np.ndarray, thermistor: float | None) -> bytes:
    if fmt == "text":
        return encode_text(pixels, thermistor)
    if fmt == "adafruit":
        return encode_adafruit(pixels)
    if fmt == "circuitpython":
        return encode_adafruit(pixels, style="circuitpython")
    return encode_binary(pixels, thermistor, checked=fmt == "binary-crc")


DECODER_FORMAT = {"circuitpython": "adafruit"}
FORMATS = ["text", "adafruit", "circuitpython", "binary-crc", "binary"]


def expected_thermistor(fmt: str, thermistor: float) -> float | None:
    return thermistor if fmt in ("text", "binary-crc") else None


def feed_in_chunks(decoder: FrameDecoder, data: bytes, size: int) -> list[Decoded]:
    out = []
    for i in range(0, len(data), size):
        out += decoder.feed(data[i : i + size])
    return out


# -- the decoder ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("chunk", [1, 7, 134, 10_000])
def test_each_format_round_trips_in_any_chunking(fmt, chunk):
    step = 0.5 if fmt == "circuitpython" else 0.25  # CircuitPython prints one decimal
    frames = [grid(i, step) for i in range(3)]
    data = b"".join(encoded(fmt, f, 21.5 + i) for i, f in enumerate(frames))
    decoder = FrameDecoder(DECODER_FORMAT.get(fmt, fmt))
    out = feed_in_chunks(decoder, data, chunk)
    assert len(out) == 3
    for i, (got, sent) in enumerate(zip(out, frames, strict=True)):
        assert np.array_equal(got.pixels, sent.astype(np.float32))
        assert got.thermistor == expected_thermistor(fmt, 21.5 + i)
    assert decoder.stats.frames == 3 and decoder.stats.dropped_frames == 0


@pytest.mark.parametrize("fmt", ["text", "adafruit", "circuitpython", "binary-crc"])
def test_auto_detects_the_format(fmt):
    decoder = FrameDecoder("auto")
    out = decoder.feed(b"AMG88xx test\r\nboot ok\n" + encoded(fmt, grid(1, 0.5), 20.0) * 2)
    assert len(out) == 2
    assert decoder.format == DECODER_FORMAT.get(fmt, fmt)


def test_text_with_65_values_takes_the_thermistor_first():
    line = b"26.5," + b",".join(b"%d" % v for v in range(64)) + b",\n"  # trailing comma too
    (frame,) = FrameDecoder("text").feed(line)
    assert frame.thermistor == 26.5
    assert frame.pixels[0, 0] == 0 and frame.pixels[7, 7] == 63


def test_text_rejects_wrong_counts_non_numbers_and_impossible_values():
    decoder = FrameDecoder("text")
    good = encode_text(grid(2))
    bad = [
        b",".join([b"20"] * 63) + b"\n",
        b",".join([b"20"] * 66) + b"\n",
        b",".join([b"20"] * 63 + [b"x"]) + b"\n",
        b",".join([b"20"] * 63 + [b"nan"]) + b"\n",
        b",".join([b"20"] * 63 + [b"999"]) + b"\n",
        b",".join([b"20"] * 63 + [b"1e3"]) + b"\n",
    ]
    out = decoder.feed(b"".join(bad) + good)
    assert len(out) == 1
    assert decoder.stats.dropped_frames == len(bad)
    assert decoder.stats.dropped_bytes == sum(len(b) for b in bad)


def test_adafruit_thermistor_line_sets_the_next_frame():
    decoder = FrameDecoder("adafruit")
    data = b"Thermistor Temperature = 26.50 *C\r\n" + encode_adafruit(grid(3)) + encode_adafruit(grid(4))
    first, second = decoder.feed(data)
    assert first.thermistor == 26.5 and second.thermistor is None


def test_adafruit_frame_cut_short_is_dropped_and_the_next_one_read():
    whole = encode_adafruit(grid(5))
    cut = whole[: len(whole) // 2]
    decoder = FrameDecoder("adafruit")
    out = decoder.feed(cut + whole)
    assert len(out) == 1 and np.array_equal(out[0].pixels, grid(5).astype(np.float32))
    assert decoder.stats.dropped_frames == 1


def test_binary_crc_rejects_any_flipped_byte_and_resyncs():
    frame = encode_binary(grid(6), 23.0)
    assert len(frame) == BINARY_FRAME_LEN == 134
    for position in range(2, len(frame)):
        damaged = bytearray(frame)
        damaged[position] ^= 0x10
        decoder = FrameDecoder("binary-crc")
        out = decoder.feed(bytes(damaged) + frame)
        assert len(out) == 1 and out[0].thermistor == 23.0, position
        assert decoder.stats.dropped_frames >= 1


def test_binary_without_thermistor():
    (frame,) = FrameDecoder("binary-crc").feed(encode_binary(grid(7), None))
    assert frame.thermistor is None


def test_overlong_garbage_lines_do_not_grow_memory():
    decoder = FrameDecoder("text")
    for _ in range(100):
        assert decoder.feed(b"7" * 10_000) == []
    assert decoder.buffered <= MAX_LINE + 10_000
    out = decoder.feed(b"\n" + encode_text(grid(8)))
    assert len(out) == 1  # the tail of the long line is dropped, the next line read
    assert decoder.stats.dropped_bytes >= 1_000_000


def test_bad_format_is_a_usage_error():
    with pytest.raises(UsageError, match="format='csv' is not valid"):
        FrameDecoder("csv")


# -- fuzzing -----------------------------------------------------------------------------------

POISON = b"\x00\x7f\xff#@!~XyzQ"
poison_chunks = st.tuples(
    st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"")),
    st.sampled_from(list(POISON)),
    st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"")),
).map(lambda t: t[0] + bytes([t[1]]) + t[2])
garbage_lines = st.binary(max_size=100).map(lambda b: b.replace(b"\n", b"") + b"\n")


def sent_frames(fmt: str, count: int, seed: int) -> list[tuple[np.ndarray, float | None]]:
    step = 0.5 if fmt == "circuitpython" else 0.25
    return [(grid(seed * 100 + i, step).astype(np.float32), 20.0 + i * 0.0625) for i in range(count)]


def assert_subsequence(out, frames, fmt) -> None:
    """Every frame out is one that was sent, in the order sent."""
    remaining = iter(frames)
    for got in out:
        for pixels, thermistor in remaining:
            if np.array_equal(got.pixels, pixels):
                assert got.thermistor == expected_thermistor(fmt, thermistor)
                break
        else:
            raise AssertionError("a frame came out that was never sent")


def chunked(decoder: FrameDecoder, data: bytes, cuts: list[int]) -> list[Decoded]:
    out = []
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for a, b in itertools.pairwise(points):
        out += decoder.feed(data[a:b])
    return out


# HEATCAST_FUZZ_EXAMPLES=5000 fuzzes deeper than the test command's quick run.
fuzz = settings(
    max_examples=int(os.environ.get("HEATCAST_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@fuzz
@given(data=st.binary(max_size=3000), fmt=st.sampled_from(["auto", *FORMATS[:2], *FORMATS[3:]]))
def test_any_bytes_never_raise_and_yield_only_sane_frames(data, fmt):
    decoder = FrameDecoder(fmt)
    out = decoder.feed(data) + decoder.feed(data[::-1])
    for frame in out:
        assert frame.pixels.shape == (8, 8)
        assert float(frame.pixels.min()) >= MIN_C and float(frame.pixels.max()) <= MAX_C
    assert 0 <= decoder.stats.dropped_bytes <= 2 * len(data)


@fuzz
@given(
    seed=st.integers(0, 1000),
    fmt=st.sampled_from(["text", "adafruit", "circuitpython", "binary-crc"]),
    garbage=st.lists(st.tuples(st.integers(0, 10**6), poison_chunks), max_size=6),
    cuts=st.lists(st.integers(0, 10**6), max_size=8),
    auto=st.booleans(),
)
def test_garbage_inside_frames_never_makes_a_frame_that_was_not_sent(seed, fmt, garbage, cuts, auto):
    frames = sent_frames(fmt, 4, seed)
    data = bytearray(b"".join(encoded(fmt, p, t) for p, t in frames))
    for position, chunk in garbage:
        at = position % (len(data) + 1)
        data[at:at] = chunk
    decoder = FrameDecoder("auto" if auto else DECODER_FORMAT.get(fmt, fmt))
    out = chunked(decoder, bytes(data), cuts)
    assert_subsequence(out, frames, fmt)
    if not garbage:
        assert len(out) == len(frames)


@fuzz
@given(
    seed=st.integers(0, 1000),
    fmt=st.sampled_from(["text", "adafruit", "circuitpython"]),
    lines=st.lists(garbage_lines, min_size=5, max_size=5),
    cuts=st.lists(st.integers(0, 10**6), max_size=8),
)
def test_text_garbage_lines_between_frames_lose_nothing(seed, fmt, lines, cuts):
    frames = sent_frames(fmt, 4, seed)
    parts = [lines[0]]
    for (pixels, thermistor), line in zip(frames, lines[1:], strict=True):
        parts += [encoded(fmt, pixels, thermistor), line]
    decoder = FrameDecoder(DECODER_FORMAT.get(fmt, fmt))
    out = chunked(decoder, b"".join(parts), cuts)
    assert len(out) == len(frames)
    assert_subsequence(out, frames, fmt)


@fuzz
@given(
    seed=st.integers(0, 1000),
    garbage=st.lists(st.binary(max_size=300), min_size=5, max_size=5),
    cuts=st.lists(st.integers(0, 10**6), max_size=8),
    auto=st.booleans(),
)
def test_binary_garbage_between_frames_loses_nothing(seed, garbage, cuts, auto):
    frames = sent_frames("binary-crc", 4, seed)
    parts = [garbage[0]]
    for (pixels, thermistor), chunk in zip(frames, garbage[1:], strict=True):
        parts += [encode_binary(pixels, thermistor), chunk]
    decoder = FrameDecoder("auto" if auto else "binary-crc")
    out = chunked(decoder, b"".join(parts), cuts)
    assert len(out) == len(frames)
    assert_subsequence(out, frames, "binary-crc")


@fuzz
@given(
    seed=st.integers(0, 1000),
    garbage=st.lists(st.tuples(st.integers(0, 10**6), st.binary(min_size=1, max_size=40)), max_size=5),
)
def test_binary_random_bytes_inside_frames(seed, garbage):
    frames = sent_frames("binary-crc", 4, seed)
    data = bytearray(b"".join(encode_binary(p, t) for p, t in frames))
    for position, chunk in garbage:
        at = position % (len(data) + 1)
        data[at:at] = chunk
    out = FrameDecoder("binary-crc").feed(bytes(data))
    assert_subsequence(out, frames, "binary-crc")


# -- the source, through pyserial ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "port"),
    [
        ("///dev/ttyUSB0", "/dev/ttyUSB0"),
        ("/dev/ttyACM0", "/dev/ttyACM0"),
        ("//ttyUSB0", "/dev/ttyUSB0"),
        ("ttyAMA0", "/dev/ttyAMA0"),
        ("loop://", "loop://"),
        ("socket://localhost:7777", "socket://localhost:7777"),
    ],
)
def test_port_names(target, port):
    assert port_name(target) == port


@pytest.mark.timeout(30)
def test_loop_url_streams_frames_with_garbage_between():
    source = open_source("serial:loop://?format=text&baud=9600")
    try:
        port = source.port
        sent = [grid(20 + i) for i in range(3)]
        for i, pixels in enumerate(sent):
            port.write(b"debug: hello\n\xff\xfe\n" + encode_text(pixels, 24.0 + i))
            port.write(b"\x00" + encode_text(grid(99)))  # a spoiled frame line
        frames = list(itertools.islice(source, 3))
    finally:
        source.close()
    assert [f.seq for f in frames] == [0, 1, 2]
    for frame, pixels, i in zip(frames, sent, range(3), strict=True):
        assert np.array_equal(frame.pixels, pixels.astype(np.float32))
        assert frame.thermistor == 24.0 + i
    assert frames[0].t == 0.0 and frames[2].t >= frames[1].t >= 0
    stats = source.stats
    assert stats.frames == 3 and stats.format == "text"
    assert stats.dropped_bytes > 0 and stats.dropped_frames >= 2


@pytest.mark.timeout(30)
def test_pty_binary_frames_with_garbage_between():
    master, slave = os.openpty()
    name = os.ttyname(slave)
    source = open_source(f"serial://{name}?baud=115200")  # format=auto
    sent = [grid(40 + i) for i in range(5)]

    def writer() -> None:
        rng = np.random.default_rng(0)
        for i, pixels in enumerate(sent):
            os.write(master, rng.integers(0, 256, 50, dtype=np.uint8).tobytes())
            os.write(master, encode_binary(pixels, 22.0 + i))
            time.sleep(0.01)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        frames = list(itertools.islice(source, 5))
    finally:
        thread.join()
        source.close()
        os.close(master)
        os.close(slave)
    assert [float(f.thermistor or 0) for f in frames] == [22.0, 23.0, 24.0, 25.0, 26.0]
    assert all(np.array_equal(f.pixels, p.astype(np.float32)) for f, p in zip(frames, sent, strict=True))
    assert source.stats.format == "binary-crc"


def test_missing_port_is_one_source_error():
    with pytest.raises(SourceError) as caught:
        open_source("serial:///dev/ttyUSB97")
    message = str(caught.value)
    assert "/dev/ttyUSB97" in message and "\n" not in message
    assert "ls /dev/ttyUSB*" in message


@pytest.mark.parametrize(
    "text",
    [
        "serial:",
        "serial:bogus://x",
        "serial:loop://?baud=fast",
        "serial:loop://?baud=-3",
        "serial:loop://?format=csv",
        "serial:loop://?parity=E",
    ],
)
def test_bad_serial_strings_are_usage_errors(text):
    with pytest.raises(UsageError):
        open_source(text)


@pytest.mark.timeout(30)
def test_socket_url_reads_frames_from_a_tcp_sender():
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    sent = [grid(60 + i) for i in range(3)]

    def sender() -> None:
        connection, _ = server.accept()
        time.sleep(0.3)  # pyserial empties its input right after connecting
        with connection:
            for pixels in sent:
                connection.sendall(b"\x00garbage" + encode_binary(pixels, 21.0))
            time.sleep(1.0)

    thread = threading.Thread(target=sender)
    thread.start()
    source = open_source(f"serial:socket://127.0.0.1:{port}?format=binary-crc")
    try:
        frames = list(itertools.islice(source, 3))
    finally:
        source.close()
        thread.join()
        server.close()
    assert all(np.array_equal(f.pixels, p.astype(np.float32)) for f, p in zip(frames, sent, strict=True))
    assert source.stats.dropped_bytes == 3 * len(b"\x00garbage")


@pytest.mark.timeout(30)
def test_port_that_fails_mid_stream_is_reopened():
    from heatcast.sensor.serial_source import SerialSource, open_port

    first_master, first_slave = os.openpty()
    second_master, second_slave = os.openpty()
    first_name, second_name = os.ttyname(first_slave), os.ttyname(second_slave)
    source = SerialSource(
        open_port(first_name, 115200), name=first_name, format="binary-crc",
        reopen=lambda: open_port(second_name, 115200),
    )  # fmt: skip
    os.write(first_master, encode_binary(grid(70), 20.0))
    iterator = iter(source)
    try:
        assert next(iterator).thermistor == 20.0
        os.close(first_slave)
        os.close(first_master)  # the cable is pulled: reads fail

        def send_when_reopened() -> None:
            # pyserial empties a port's input when it opens it, so send after the reopen
            deadline = time.monotonic() + 10
            while source.stats.reopens == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            os.write(second_master, encode_binary(grid(71), 21.0))

        sender = threading.Thread(target=send_when_reopened)
        sender.start()
        again = next(iterator)
        sender.join()
    finally:
        source.close()
        for fd in (second_master, second_slave):
            os.close(fd)
    assert again.thermistor == 21.0 and again.seq == 1
    assert source.stats.reopens == 1
