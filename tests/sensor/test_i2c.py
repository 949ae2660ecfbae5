"""The i2c:// source and the fake AMG8833, with the real adafruit_amg88xx driver on top."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from adafruit_amg88xx import AMG88XX

from heatcast.errors import HeatcastError, SensorError, UsageError
from heatcast.sensor import i2c
from heatcast.sensor.fake_amg8833 import (
    FakeAMG8833,
    FakeClock,
    FakeI2CBus,
    decode_pixels,
    decode_thermistor,
    encode_pixels,
    encode_thermistor,
)
from heatcast.sensor.i2c import AMG88xxSource, set_bus_factory
from heatcast.sensor.sources import open_source


def ramp() -> np.ndarray:
    """Exact multiples of 0.25 C from below zero to 80 C, all different."""
    return (np.arange(64, dtype=np.float64).reshape(8, 8) * 1.5 - 15.0).clip(-20, 80)


def quiet_bus(scene, clock=None, **options) -> FakeI2CBus:
    return FakeI2CBus.with_amg8833(scene, clock=clock, noise=0.0, **options)


# -- the fake device, through the real driver ------------------------------------------------


def test_driver_reads_pixels_and_thermistor_unchanged():
    bus = quiet_bus(ramp(), thermistor=26.5625)
    sensor = AMG88XX(bus)
    assert np.array_equal(np.array(sensor.pixels), ramp())
    assert sensor.temperature == 26.5625


def test_negative_values_use_twos_complement_pixels_and_sign_magnitude_thermistor():
    scene = np.full((8, 8), -10.25)
    scene[0, 0] = -0.25
    bus = quiet_bus(scene, thermistor=-5.5)
    sensor = AMG88XX(bus)
    pixels = np.array(sensor.pixels)
    assert pixels[0, 0] == -0.25 and pixels[7, 7] == -10.25
    assert sensor.temperature == -5.5
    # the raw encodings, as the datasheet gives them
    block, _ = encode_pixels(scene)
    assert block[2:4] == (0x1000 - 41).to_bytes(2, "little")  # -10.25 C = -41 LSB, 12-bit
    assert encode_thermistor(-5.5) == (88, 0x08, False)  # 88 LSB, sign bit 11
    assert decode_thermistor(88, 0x08) == -5.5


def test_codecs_round_trip_over_the_whole_range():
    values = np.linspace(-512, 511.75, 64).reshape(8, 8)
    block, overflow = encode_pixels(values)
    assert not overflow
    assert np.array_equal(decode_pixels(block), values.astype(np.float32))
    assert encode_pixels(np.full((8, 8), 600.0))[1]  # beyond 12 bits: overflow


def test_pixel_block_auto_increments_in_one_read():
    bus = quiet_bus(ramp())
    sensor = AMG88XX(bus)
    before = bus.counters.transactions
    block = bytearray(128)
    with sensor.i2c_device as device:
        device.write_then_readinto(bytes([0x80]), block)
    assert bus.counters.transactions == before + 1
    assert np.array_equal(decode_pixels(block), ramp())
    # a read that runs past 0x0F continues into the interrupt table (auto-increment)
    two = bytearray(4)
    with sensor.i2c_device as device:
        device.write_then_readinto(bytes([0x0E]), two)
    assert decode_thermistor(two[0], two[1]) == 24.0 and two[2:] == b"\x00\x00"


def test_driver_pixels_cost_64_transactions():
    bus = quiet_bus(ramp())
    sensor = AMG88XX(bus)
    before = bus.counters.transactions
    sensor.pixels  # noqa: B018 - the property does the I2C traffic
    assert bus.counters.transactions - before == 64


def test_frame_rate_register_and_initial_reset(clock):
    bus = quiet_bus(ramp(), clock=clock)
    sensor = AMG88XX(bus)
    device = bus.device
    assert device.fps == 10 and device.power_mode == 0x00
    sensor._fps = True
    assert device.fps == 1
    frames = device.counters.frames
    clock.sleep(0.5)
    sensor.pixels  # noqa: B018
    assert device.counters.frames == frames  # 1 fps: no new frame after half a second
    clock.sleep(0.6)
    sensor.pixels  # noqa: B018
    assert device.counters.frames == frames + 1
    sensor._rst = 0x3F
    assert device.fps == 10 and device.counters.initial_resets == 2  # the driver's own, and this one


def test_moving_average_needs_the_key_sequence_in_strict_mode():
    bus = quiet_bus(ramp(), strict_average=True)
    sensor = AMG88XX(bus)
    sensor._mamod = True
    assert not bus.device.moving_average
    AMG88xxSource._set_average(sensor, True)
    assert bus.device.moving_average
    AMG88xxSource._set_average(sensor, False)
    assert not bus.device.moving_average


def test_moving_average_halves_the_noise(clock):
    def spread(average: bool) -> float:
        bus = FakeI2CBus.with_amg8833(np.full((8, 8), 22.0), clock=clock, noise=0.5, seed=4)
        source = AMG88xxSource(bus, average=average, clock=clock, sleep=clock.sleep)
        frames = [f.pixels for f in itertools.islice(source, 200)]
        return float(np.std(np.array(frames)))

    assert spread(True) < 0.8 * spread(False)


def test_interrupt_flag_in_absolute_mode():
    scene = np.full((8, 8), 20.0)
    scene[3, 4] = 40.0
    bus = quiet_bus(scene)
    sensor = AMG88XX(bus)
    sensor._inthl, sensor._inthh = 120, 0  # 30 C
    sensor._intll, sensor._intlh = 0, 0x0F & (-40 >> 8)  # about -10 C
    sensor._intmod = True
    sensor._inten = True
    sensor._rst = 0x30  # flag reset; the next frame sets the flags again
    bus.device._update(force=True)
    assert sensor._intf
    table = bytearray(9)
    with sensor.i2c_device as device:
        device.write_then_readinto(bytes([0x10]), table, in_end=8)
    assert table[3] == 1 << 4  # row 3, column 4
    sensor._intclr = True
    assert not sensor._intf


def test_missing_device_gets_no_answer():
    bus = FakeI2CBus({})
    with pytest.raises(ValueError, match="No I2C device"):
        AMG88XX(bus)
    assert bus.counters.nacks >= 1


# -- opening -------------------------------------------------------------------------------


def test_nothing_at_either_address_names_the_other_address_and_the_wiring():
    with pytest.raises(SensorError) as caught:
        AMG88xxSource(FakeI2CBus({}), 0x69, sleep=lambda s: None)
    message = str(caught.value)
    assert "0x69" in message and "0x68" in message
    assert "VIN to 3.3V (pin 1)" in message and "SDA to GPIO2 (pin 3)" in message
    assert "SCL to GPIO3 (pin 5)" in message and "GND to pin 6" in message


def test_sensor_at_the_other_address_is_named():
    bus = FakeI2CBus({0x68: FakeAMG8833(ramp())})
    with pytest.raises(SensorError, match=r"answers at 0x68: use i2c://1/0x68"):
        AMG88xxSource(bus, 0x69, sleep=lambda s: None)


def test_missing_dev_i2c_says_how_to_enable_it(monkeypatch):
    monkeypatch.delenv(i2c.ENV_FACTORY, raising=False)
    previous = set_bus_factory(None)
    try:
        with pytest.raises(SensorError) as caught:
            open_source("i2c://250/0x69")
    finally:
        set_bus_factory(previous)
    assert str(caught.value).startswith("I2C is not enabled: run sudo raspi-config nonint do_i2c 0")
    assert "/dev/i2c-250" in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "i2c://1/0x70",
        "i2c://1/banana",
        "i2c://one/0x69",
        "i2c://1/0x69/extra",
        "i2c://1/0x69?fps=5",
        "i2c://1/0x69?fps=ten",
        "i2c://1/0x69?average=maybe",
        "i2c://1/0x69?speed=2",
    ],
)
def test_bad_source_strings_are_one_usage_error(fake_i2c, text):
    with pytest.raises(UsageError) as caught:
        open_source(text)
    assert text in str(caught.value) or "i2c" in str(caught.value)
    assert all(bus.closed for bus in fake_i2c)  # nothing left open


def test_open_source_sets_frame_rate_and_averaging(fake_i2c):
    source = open_source("i2c://1/0x69?fps=1&average=1")
    try:
        device = fake_i2c[0].device
        assert device.fps == 1 and device.moving_average
        assert source.fps == 1
    finally:
        source.close()
    assert fake_i2c[0].closed


def test_default_target_is_bus_1_address_0x69(fake_i2c):
    for text in ("i2c:", "i2c://1", "i2c:1/105"):
        source = open_source(text)
        assert (source.bus_number, source.address) == (1, 0x69)
        source.close()


def test_env_factory_fake_streams_frames(monkeypatch):
    monkeypatch.setenv(i2c.ENV_FACTORY, "fake")
    previous = set_bus_factory(None)
    try:
        source = open_source("i2c://1/0x69")
        frames = list(itertools.islice(source, 3))
        source.close()
    finally:
        set_bus_factory(previous)
    assert [f.seq for f in frames] == [0, 1, 2]
    assert frames[0].thermistor == 24.0
    assert 20 < float(frames[0].pixels.min()) < float(frames[0].pixels.max()) < 40
    assert frames[2].t >= 0.15  # paced to 10 fps in real time


def test_env_factory_refuses_unknown_names(monkeypatch):
    monkeypatch.setenv(i2c.ENV_FACTORY, "gpio")
    previous = set_bus_factory(None)
    try:
        with pytest.raises(UsageError, match="HEATCAST_I2C_FACTORY"):
            open_source("i2c://1/0x69")
    finally:
        set_bus_factory(previous)


# -- reading and faults -------------------------------------------------------------------


def test_frames_are_paced_and_carry_thermistor_t_and_seq(clock):
    bus = quiet_bus(ramp(), clock=clock, thermistor=25.0)
    # a noiseless scene would look stuck, so the stuck check is off here
    source = AMG88xxSource(bus, clock=clock, sleep=clock.sleep, stuck_frames=10**6)
    after_open = bus.counters.transactions
    frames = list(itertools.islice(source, 30))
    assert [f.seq for f in frames] == list(range(30))
    assert np.allclose(np.diff([f.t for f in frames]), 0.1)
    assert all(np.array_equal(f.pixels, ramp()) and f.thermistor == 25.0 for f in frames)
    # one transaction per frame, plus the thermistor's two once a second
    assert bus.counters.transactions - after_open == 30 + 2 * 3


def test_one_fps_paces_one_second(clock):
    bus = FakeI2CBus.with_amg8833(clock=clock, seed=2)
    source = AMG88xxSource(bus, fps=1, clock=clock, sleep=clock.sleep)
    frames = list(itertools.islice(source, 5))
    assert np.allclose(np.diff([f.t for f in frames]), 1.0)
    assert bus.device.counters.frames >= 5


def test_thermistor_follows_the_board_within_a_second(clock):
    bus = FakeI2CBus.with_amg8833(clock=clock)
    source = AMG88xxSource(bus, clock=clock, sleep=clock.sleep)
    iterator = iter(source)
    assert next(iterator).thermistor == 24.0
    bus.device.thermistor = 31.25
    later = [next(iterator) for _ in range(12)]
    assert later[-1].thermistor == 31.25


def test_ten_percent_i2c_errors_keep_frames_coming(clock):
    scene = ramp()
    bus = FakeI2CBus.with_amg8833(scene, clock=clock, noise=0.0, error_rate=0.10, seed=7)
    source = AMG88xxSource(bus, clock=clock, sleep=clock.sleep, stuck_frames=10**6)
    start = clock()
    frames = list(itertools.islice(source, 300))
    assert bus.counters.errors_injected > 20
    assert source.stats.errors > 20
    assert [f.seq for f in frames] == list(range(300))
    assert all(np.array_equal(f.pixels, scene) for f in frames)  # never a half-read frame
    assert clock() - start < 300 * 0.1 * 1.3  # retries cost little time


def test_sensor_gone_for_30_seconds_comes_back_within_2_seconds(clock):
    bus = FakeI2CBus.with_amg8833(clock=clock, seed=3)
    source = AMG88xxSource(bus, average=True, clock=clock, sleep=clock.sleep)
    iterator = iter(source)
    before = [next(iterator) for _ in range(20)]
    bus.device.vanish(30.0)
    back_at = clock() + 30.0
    after = next(iterator)
    assert back_at <= clock() < back_at + 2.0
    assert after.seq == before[-1].seq + 1
    assert after.t >= before[-1].t + 30
    assert source.stats.reinits >= 1 and source.stats.errors >= 3
    assert bus.device.counters.power_ons == 2
    assert bus.device.moving_average  # re-initialised with the same settings
    more = [next(iterator) for _ in range(10)]
    assert np.allclose(np.diff([f.t for f in more]), 0.1)


def test_gone_while_errors_also_fly_still_recovers(clock):
    bus = FakeI2CBus.with_amg8833(clock=clock, error_rate=0.1, seed=11)
    source = AMG88xxSource(bus, clock=clock, sleep=clock.sleep)
    iterator = iter(source)
    for _ in range(10):
        next(iterator)
    bus.device.vanish(30.0)
    back_at = clock() + 30.0
    next(iterator)
    assert back_at <= clock() < back_at + 3.0


def test_stuck_sensor_is_reset(clock):
    bus = FakeI2CBus.with_amg8833(clock=clock, seed=5)
    source = AMG88xxSource(bus, clock=clock, sleep=clock.sleep, stuck_frames=20)
    iterator = iter(source)
    for _ in range(10):
        next(iterator)
    resets = bus.device.counters.initial_resets
    bus.device.stick()
    frames = [next(iterator) for _ in range(40)]
    assert source.stats.stuck_resets == 1
    assert bus.device.counters.initial_resets == resets + 1
    assert not bus.device.stuck
    tail = frames[-5:]
    assert not np.array_equal(tail[0].pixels, tail[1].pixels)  # live again
    assert [f.seq for f in frames] == list(range(10, 50))


def test_a_still_scene_with_sensor_noise_is_not_mistaken_for_stuck(clock):
    bus = FakeI2CBus.with_amg8833(np.full((8, 8), 21.0), clock=clock, seed=9)
    source = AMG88xxSource(bus, clock=clock, sleep=clock.sleep)
    list(itertools.islice(source, 200))
    assert source.stats.stuck_resets == 0


def test_scene_from_a_frame_iterable(clock):
    from heatcast.sensor.frame import Frame

    feed = (Frame(np.full((8, 8), 20.0 + i), 22.0 + i / 16, i / 10, i) for i in range(100))
    bus = FakeI2CBus.with_amg8833(feed, clock=clock, noise=0.0)
    source = AMG88xxSource(bus, clock=clock, sleep=clock.sleep, stuck_frames=10**6)
    frames = list(itertools.islice(source, 5))
    means = [float(f.pixels.mean()) for f in frames]
    assert means == sorted(means) and len(set(means)) == 5


def test_errors_are_heatcast_errors_and_builtin():
    assert issubclass(SensorError, HeatcastError) and issubclass(SensorError, OSError)
    clock = FakeClock()
    with pytest.raises(OSError):
        AMG88xxSource(FakeI2CBus({}), clock=clock, sleep=clock.sleep)


def test_env_factory_fake_with_a_heatcast_source_as_scene(monkeypatch):
    monkeypatch.setenv(i2c.ENV_FACTORY, "fake:sim:?seed=2&speed=0")
    previous = set_bus_factory(None)
    try:
        source = open_source("i2c://1/0x69")
        frames = list(itertools.islice(source, 3))
        source.close()
    finally:
        set_bus_factory(previous)
    assert [f.seq for f in frames] == [0, 1, 2]
    assert all(f.thermistor is not None and 0 < float(f.pixels.mean()) < 40 for f in frames)


def test_a_noisy_bus_logs_a_line_per_30_seconds_not_per_error(clock, caplog):
    bus = FakeI2CBus.with_amg8833(clock=clock, error_rate=0.1, seed=21)
    source = AMG88xxSource(bus, clock=clock, sleep=clock.sleep)
    with caplog.at_level("WARNING", logger="heatcast.sensor.i2c"):
        list(itertools.islice(source, 600))  # a simulated minute
    assert source.stats.errors > 30
    assert 1 <= len(caplog.records) <= 3
    assert "I2C errors so far" in caplog.records[0].getMessage()
