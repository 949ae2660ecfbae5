"""Choosing: targeting, schedule, fallbacks, no repeats, determinism, refresh and learning."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heatcast.classify.audience import Audience
from heatcast.firmware.catalogue import (
    Catalogue,
    ContentItem,
    Impression,
    Schedule,
    Targeting,
    bundled_catalogue_path,
)
from heatcast.firmware.chooser import Chooser
from heatcast.sensor.trace import ORIENTATIONS, POSTURES

WEDNESDAY_NOON = datetime(2026, 11, 25, 12, 0)


def test_attract_items_when_nobody_is_there(catalogue: Catalogue, h) -> None:
    attract = catalogue.add(h.item(1, people="0-0"))
    catalogue.add(h.item(2, people="1-4"))
    chooser = Chooser(catalogue, seed=1)
    assert {chooser.choose(h.audience(0), WEDNESDAY_NOON) for _ in range(10)} == {attract}


def test_targeting_posture_orientation_and_dwell(catalogue: Catalogue, h) -> None:
    couple_sitting = catalogue.add(h.item(1, people="2", postures="sitting"))
    engaged = catalogue.add(h.item(2, people="1-2", orientations="facing", dwell=5))
    passing = catalogue.add(h.item(3, people="1-4", orientations="side"))
    catalogue.add(h.item(4, people="0-0"))
    chooser = Chooser(catalogue, seed=1)
    now = WEDNESDAY_NOON
    assert set(chooser.candidates(h.audience(2, "sitting", "away"), now)) == {couple_sitting.id}
    assert set(chooser.candidates(h.audience(1, "standing", "facing", dwell=2), now)) == set()
    assert set(chooser.candidates(h.audience(1, "standing", "facing", dwell=6), now)) == {engaged.id}
    assert set(chooser.candidates(h.audience(2, "sitting", "facing", dwell=6), now)) == {
        couple_sitting.id,
        engaged.id,
    }
    assert set(chooser.candidates(h.audience(3, "standing", "side"), now)) == {passing.id}


def test_schedule_is_respected(catalogue: Catalogue, h) -> None:
    morning = catalogue.add(h.item(1, days="mon-fri", hours="07:00-10:00"))
    night = catalogue.add(h.item(2, hours="22:00-02:00"))
    chooser = Chooser(catalogue, seed=1)
    who = h.audience(1)
    assert chooser.candidates(who, datetime(2026, 11, 25, 8, 30)) == [morning.id]
    assert chooser.candidates(who, datetime(2026, 11, 28, 8, 30)) == []  # Saturday
    assert chooser.candidates(who, datetime(2026, 11, 26, 1, 0)) == [night.id]
    assert chooser.candidates(who, WEDNESDAY_NOON) == []


def test_fallbacks_so_something_always_shows(catalogue: Catalogue, h) -> None:
    chooser = Chooser(catalogue, seed=1)
    assert chooser.choose(h.audience(1), WEDNESDAY_NOON) is None  # nothing at all
    single = catalogue.add(h.item(1, people="1", postures="sitting", hours="08:00-09:00"))
    assert chooser.choose(h.audience(3), WEDNESDAY_NOON) == single  # off-schedule, wrong count: still shown
    attract = catalogue.add(h.item(2, people="0-0"))
    assert chooser.choose(h.audience(3), WEDNESDAY_NOON) == attract  # no match: the attract loop
    general = catalogue.add(h.item(3, people="1-4", postures="lying"))
    assert chooser.choose(h.audience(3, "standing"), WEDNESDAY_NOON) == general  # right count, any posture
    catalogue.set_active(single.id or 0, False)
    catalogue.set_active(attract.id or 0, False)
    catalogue.set_active(general.id or 0, False)
    assert chooser.choose(h.audience(1), WEDNESDAY_NOON) is None


def test_never_the_same_item_twice_in_a_row_when_another_matches(catalogue: Catalogue, h) -> None:
    catalogue.add(h.item(1, weight=100))
    catalogue.add(h.item(2, weight=0.01))
    chooser = Chooser(catalogue, seed=3)
    picks = [chooser.choose(h.audience(1), WEDNESDAY_NOON).id for _ in range(40)]  # type: ignore[union-attr]
    assert all(a != b for a, b in itertools.pairwise(picks))
    solo = Chooser(catalogue, seed=3)
    catalogue.set_active(2, False)
    assert {solo.choose(h.audience(1), WEDNESDAY_NOON).id for _ in range(5)} == {1}  # type: ignore[union-attr]


def test_weight_biases_the_choice(catalogue: Catalogue, h) -> None:
    for n, weight in enumerate((1.0, 1.0, 1.0, 6.0)):
        catalogue.add(h.item(n, weight=weight))
    chooser = Chooser(catalogue, seed=5, avoid_repeat=False)
    counts = Counter(chooser.choose(h.audience(1), WEDNESDAY_NOON).id for _ in range(400))  # type: ignore[union-attr]
    assert counts.most_common(1)[0][0] == 4
    assert counts[4] > 200


def test_deterministic_under_a_seed(catalogue: Catalogue, h) -> None:
    for n in range(20):
        catalogue.add(h.item(n))

    def run(seed: int) -> list[int | None]:
        chooser = Chooser(catalogue, seed=seed)
        return [chooser.choose(h.audience(1 + n % 4), WEDNESDAY_NOON).id for n in range(30)]  # type: ignore[union-attr]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_changes_by_another_process_are_seen(tmp_path: Path, h) -> None:
    path = tmp_path / "c.db"
    with Catalogue(path) as kiosk, Catalogue(path) as cli:
        cli.add(h.item(1))
        chooser = Chooser(kiosk, seed=1)
        assert chooser.candidates(h.audience(1), WEDNESDAY_NOON) == [1]
        cli.add(h.item(2))
        assert chooser.candidates(h.audience(1), WEDNESDAY_NOON) == [1, 2]
        cli.set_active(1, False)
        assert chooser.candidates(h.audience(1), WEDNESDAY_NOON) == [2]
        cli.remove(2)
        attract = cli.add(h.item(3, people="0-0"))
        assert chooser.choose(h.audience(1), WEDNESDAY_NOON) == attract


def test_a_catalogue_gone_bad_keeps_the_last_good_index(tmp_path: Path, h) -> None:
    path = tmp_path / "c.db"
    with Catalogue(path) as cat:
        cat.add(h.item(1))
        chooser = Chooser(cat, seed=1)
        first = chooser.choose(h.audience(1), WEDNESDAY_NOON)
        cat.db.conn.execute("DROP TRIGGER items_insert_rev")
        cat.db.conn.execute("DROP TABLE meta")  # revision check now fails
        assert chooser.choose(h.audience(1), WEDNESDAY_NOON) == first


def _random_items(n: int, seed: int) -> list[ContentItem]:
    rng = random.Random(seed)
    items = []
    for i in range(n):
        low = rng.choice([0, 0, 1, 1, 2, 3])
        high = rng.randint(low, 4)
        items.append(
            ContentItem.create(
                f"https://youtu.be/{i:011d}",
                f"item {i}",
                targeting=Targeting.parse(
                    f"{low}-{high}",
                    ",".join(rng.sample(POSTURES, rng.randint(0, 2))),
                    ",".join(rng.sample(ORIENTATIONS, rng.randint(0, 2))),
                    rng.choice([0, 0, 3, 5, 10]),
                ),
                schedule=Schedule.parse(
                    rng.choice(["", "", "mon-fri", "sat,sun", "fri-mon", "wed"]),
                    rng.choice(["", "", "09:00-17:00", "22:00-02:00", "06:30-11:15", "18:00-24:00"]),
                    rng.choice([None, None, "2026-06-01"]),
                    rng.choice([None, None, "2027-03-31"]),
                ),
                weight=rng.choice([0.5, 1, 2]),
            )
        )
    return items


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Chooser, list[ContentItem]]]:
    with Catalogue(tmp_path_factory.mktemp("index") / "c.db") as cat:
        cat.upsert_many(_random_items(400, seed=4))
        cat.set_active(7, False)
        yield Chooser(cat, seed=1), cat.items()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    count=st.integers(0, 4),
    posture=st.sampled_from([None, *POSTURES]),
    orientation=st.sampled_from([None, *ORIENTATIONS]),
    dwell=st.floats(0, 20),
    moment=st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31)),
)
def test_the_index_agrees_with_the_item_rules(
    indexed: tuple[Chooser, list[ContentItem]],
    count: int,
    posture: str | None,
    orientation: str | None,
    dwell: float,
    moment: datetime,
) -> None:
    chooser, items = indexed
    present = count > 0
    who = Audience(
        0.0,
        present,
        count,
        posture if present else None,
        orientation if present else None,
        dwell if present else 0.0,
    )
    expected = [i.id for i in items if i.matches(who, moment)]
    assert sorted(chooser.candidates(who, moment)) == expected


def test_learning_converges_on_what_holds_attention(catalogue: Catalogue, h) -> None:
    ids = [catalogue.add(h.item(n)).id for n in range(5)]
    favourite = ids[3]
    assert favourite is not None
    rng = random.Random(11)
    who = h.audience(1, "standing", "facing")

    def run(chooser: Chooser, rounds: int, start: datetime) -> list[int]:
        picks = []
        for n in range(rounds):
            item = chooser.choose(who, start + timedelta(seconds=30 * n))
            assert item is not None and item.id is not None
            picks.append(item.id)
            share = rng.uniform(0.7, 1.0) if item.id == favourite else rng.uniform(0.0, 0.35)
            begin = start + timedelta(seconds=30 * n)
            catalogue.record_impression(
                Impression(
                    item.id,
                    1,
                    "standing",
                    "facing",
                    begin,
                    begin + timedelta(seconds=20),
                    20.0,
                    20.0 * share,
                    share > 0.5,
                )
            )
        return picks

    chooser = Chooser(catalogue, seed=2, avoid_repeat=False)
    picks = run(chooser, 300, WEDNESDAY_NOON)
    assert set(picks[:60]) == set(ids)  # it explored every item
    assert picks[:30].count(favourite) < 20
    assert picks[-100:].count(favourite) >= 85
    # With the no-repeat rule the favourite can show at most every other time: it takes nearly all of those.
    polite = Chooser(catalogue, seed=2)
    late = run(polite, 100, WEDNESDAY_NOON + timedelta(days=1))
    assert late.count(favourite) >= 45
    # Learning is per audience bucket: a group has learned nothing yet.
    assert catalogue.engagement((3, "sitting", "away")) == {}


def test_the_shipped_catalogue_serves_every_profile(tmp_path: Path, h) -> None:
    with Catalogue.open_or_copy(tmp_path / "content.db") as cat:
        chooser = Chooser(cat, seed=1)
        profiles = {
            "nobody": h.audience(0),
            "one passing": h.audience(1, "standing", "side", dwell=1, facing=0),
            "one facing, staying": h.audience(1, "standing", "facing", dwell=8, facing=6),
            "couple": h.audience(2, "standing", "away", dwell=2, facing=0),
            "group": h.audience(4, "standing", "facing", dwell=3, facing=1),
            "sitting": h.audience(1, "sitting", "facing", dwell=30, facing=20),
        }
        for moment in (WEDNESDAY_NOON, datetime(2026, 11, 28, 20, 30), datetime(2026, 11, 26, 7, 45)):
            for name, who in profiles.items():
                found = chooser.candidates(who, moment)
                assert found, f"nothing for {name} at {moment}"
                item = chooser.choose(who, moment)
                assert item is not None and item.id in found
                if name == "nobody":
                    assert item.targeting.people_min == 0
    assert bundled_catalogue_path().exists()
