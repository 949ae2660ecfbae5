"""Shared fixtures for the content tests: a fresh catalogue and item/audience helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from heatcast.classify.audience import Audience
from heatcast.firmware.catalogue import Catalogue, ContentItem, Schedule, Targeting

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


def video_id(n: int) -> str:
    """A distinct well-formed 11-character id per number."""
    chars = []
    for _ in range(11):
        n, r = divmod(n, len(ALPHABET))
        chars.append(ALPHABET[r])
    return "".join(chars)


def make_item(n: int, people: str = "1-4", postures: str = "", orientations: str = "", dwell: float = 0,
              days: str = "", hours: str = "", weight: float = 1.0, title: str | None = None) -> ContentItem:
    return ContentItem.create(
        f"https://youtu.be/{video_id(n)}",
        title or f"item {n}",
        targeting=Targeting.parse(people, postures, orientations, dwell),
        schedule=Schedule.parse(days, hours),
        weight=weight,
    )


def audience(count: int, posture: str | None = "standing", orientation: str | None = "facing",
             dwell: float = 10.0, facing: float = 5.0) -> Audience:
    if count == 0:
        return Audience(t=0.0, presence=False, count=0)
    return Audience(t=0.0, presence=True, count=count, posture=posture, orientation=orientation,
                    dwell_s=dwell, facing_s=facing)


@pytest.fixture
def catalogue(tmp_path: Path) -> Iterator[Catalogue]:
    with Catalogue(tmp_path / "content.db") as cat:
        yield cat


class Helpers:
    video_id = staticmethod(video_id)
    item = staticmethod(make_item)
    audience = staticmethod(audience)


@pytest.fixture
def h() -> type[Helpers]:
    """Helpers: h.item(n, people=...), h.audience(count, ...), h.video_id(n)."""
    return Helpers
