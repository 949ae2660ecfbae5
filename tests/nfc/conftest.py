"""Shared fixtures: fake readers registered under unique ``fake:`` paths, and a "phone"."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import nfc.clf
import pytest

from heatcast.nfc import fake

_names = itertools.count()

UID = bytes.fromhex("04A1B2C3D4E5F6")


@pytest.fixture
def secret() -> bytes:
    return b"site-secret-for-tests-0123456789"


@pytest.fixture
def make_reader() -> Callable[..., tuple[str, fake.FakeReader]]:
    """make_reader("NTAG213", uid=...) -> (path, FakeReader) on a fresh fake:... path."""

    def _make(product: str | None = "NTAG213", uid: bytes | None = UID) -> tuple[str, fake.FakeReader]:
        path = f"fake:{(product or 'none').lower()}:t{next(_names)}"
        chip = fake.NtagChip(product, uid) if product else None
        return path, fake.register(path, fake.FakeReader(chip, name=path[5:]))

    return _make


@pytest.fixture
def phone() -> Callable[[fake.FakeReader], Any]:
    """phone(reader) -> an nfcpy Tag activated by plain nfcpy, as a passing phone app would."""

    def _tag(reader: fake.FakeReader) -> Any:
        clf = nfc.clf.ContactlessFrontend()
        clf.device = fake.FakeDevice(reader)
        tag = clf.connect(rdwr={"targets": ["106A"], "on-connect": lambda tag: False, "iterations": 1})
        assert tag, "the fake tag should be found"
        return tag

    return _tag
