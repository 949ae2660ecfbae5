"""Shared fixtures for the sensor tests (append new fixtures at the end)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from heatcast.sensor import i2c
from heatcast.sensor.fake_amg8833 import FakeClock, FakeI2CBus


@pytest.fixture
def clock() -> FakeClock:
    """A simulated clock: sleeping on it takes no real time."""
    return FakeClock()


@pytest.fixture
def fake_i2c(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[FakeI2CBus]]:
    """Every I2C bus opened during the test is a fake one with an AMG8833 at 0x69.

    Yields the list of buses created, so a test can reach the device behind a source.
    """
    monkeypatch.delenv(i2c.ENV_FACTORY, raising=False)
    created: list[FakeI2CBus] = []

    def factory(bus: int) -> FakeI2CBus:
        fake = FakeI2CBus.with_amg8833(seed=len(created))
        created.append(fake)
        return fake

    previous = i2c.set_bus_factory(factory)
    try:
        yield created
    finally:
        i2c.set_bus_factory(previous)
