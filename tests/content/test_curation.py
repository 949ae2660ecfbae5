"""The curation library the CLI and the owner's panel share: update, archive, restore, delete_items."""

from __future__ import annotations

from datetime import datetime, time

import pytest
import sqlite_utils

from heatcast.errors import ContentError
from heatcast.firmware.catalogue import Catalogue, ContentItem, Impression, migrations, parse_changes
from heatcast.firmware.chooser import Chooser


def _impression(item_id: int) -> Impression:
    start = datetime(2026, 12, 1, 10, 0, 0)
    return Impression(item_id, 1, "standing", "facing", start, start.replace(second=10), 10.0, 5.0, True)


def test_update_changes_only_the_given_fields(catalogue: Catalogue, h) -> None:
    item = catalogue.add(h.item(1, people="1-2", postures="sitting", days="mon-fri", hours="09:00-18:00"))
    assert item.id is not None
    new = catalogue.update(item.id, title="Renamed", days=(5, 6), min_dwell_s=5.0)
    assert new == catalogue.get(item.id)
    assert (new.title, new.schedule.days, new.targeting.min_dwell_s) == ("Renamed", (5, 6), 5.0)
    assert new.targeting.postures == ("sitting",) and new.targeting.people == "1-2"
    assert new.schedule.time_from == time(9, 0) and new.url == item.url
    again = catalogue.update(item.id, **parse_changes(hours="", postures="", tags="a, b;c", weight="3"))
    assert again.schedule.time_from is None and again.schedule.days == (5, 6)
    assert again.targeting.postures == () and again.tags == ("a", "b", "c") and again.weight == 3.0


def test_update_checks_like_add_and_changes_nothing_on_error(catalogue: Catalogue, h) -> None:
    one, two = catalogue.add(h.item(1)), catalogue.add(h.item(2))
    assert one.id and two.id
    before = catalogue.items()
    with pytest.raises(ContentError, match="already item"):
        catalogue.update(two.id, url=one.url)
    with pytest.raises(ContentError, match="refused"):
        catalogue.update(two.id, url="javascript:alert(1)")
    with pytest.raises(ContentError, match="people 3-1"):
        catalogue.update(two.id, people_min=3, people_max=1)
    with pytest.raises(ContentError, match="needs a title"):
        catalogue.update(two.id, title=" ")
    with pytest.raises(ContentError, match="cannot change 'colour'"):
        catalogue.update(two.id, colour="red")
    with pytest.raises(ContentError, match="no items 98, 99"):
        catalogue.update_many([one.id, 98, 99], weight=5.0)
    assert catalogue.items() == before


def test_a_new_url_on_the_shop_domain_keeps_its_allowance(catalogue: Catalogue, h) -> None:
    item = catalogue.add(h.item(1))
    assert item.id
    with pytest.raises(ContentError, match="not an allowed host"):
        catalogue.update(item.id, url="https://shop.example/offer")
    new = catalogue.update(item.id, url="https://www.shop.example/offer", allow_domains=["shop.example"])
    assert new.allow_domain == "shop.example"
    assert catalogue.update(item.id, title="Offer").allow_domain == "shop.example"
    assert catalogue.update(item.id, url="https://youtu.be/Ab3dE5gH7jK").allow_domain is None


def test_archive_keeps_impressions_and_restore_brings_the_switch_back(catalogue: Catalogue, h) -> None:
    on, off = catalogue.add(h.item(1, people="1-4")), catalogue.add(h.item(2, people="1-4"))
    assert on.id and off.id
    catalogue.set_active(off.id, False)
    assert catalogue.record_impression(_impression(on.id))
    archived = catalogue.archive([on.id, off.id])
    assert all(i.archived for i in archived) and [i.active for i in archived] == [True, False]
    assert catalogue.items() == [] and len(catalogue.items(archived=True)) == 2
    assert catalogue.items(archived=None, active_only=True) == []
    assert catalogue.query("SELECT count(*) AS n FROM impressions")[0]["n"] == 1
    assert Chooser(catalogue).choose(h.audience(1), datetime(2026, 12, 1, 12)) is None  # never shown
    restored = catalogue.restore([on.id, off.id])
    assert [(i.archived, i.active) for i in restored] == [(False, True), (False, False)]
    assert catalogue.items(active_only=True) == [restored[0]]


def test_delete_items_takes_the_history_too_all_or_nothing(catalogue: Catalogue, h) -> None:
    one, two = catalogue.add(h.item(1)), catalogue.add(h.item(2))
    assert one.id and two.id
    catalogue.record_impression(_impression(one.id))
    with pytest.raises(ContentError, match=r"no item 7 in .*; nothing was changed"):
        catalogue.delete_items([one.id, 7])
    assert catalogue.count() == 2
    assert catalogue.delete_items([one.id]) == [one]
    assert catalogue.count() == 1
    assert catalogue.query("SELECT count(*) AS n FROM impressions")[0]["n"] == 0


def test_a_v5_catalogue_upgrades_and_its_shop_links_keep_their_domain(tmp_path) -> None:
    path = tmp_path / "v5.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, target=5)
    db.table("items").insert_all(
        [
            {"title": "Offer", "url": "https://www.shop.example/offer", "people_min": 1, "people_max": 4},
            {"title": "Video", "url": "https://youtu.be/Ab3dE5gH7jK", "people_min": 1, "people_max": 4},
        ]
    )
    db.close()
    with Catalogue(path) as cat:
        items = cat.items()
    assert [i.allow_domain for i in items] == ["shop.example", None]
    assert not any(i.archived for i in items)


def test_an_archived_item_cannot_be_added_again(catalogue: Catalogue, h) -> None:
    item = catalogue.add(h.item(1))
    assert item.id
    catalogue.archive([item.id])
    with pytest.raises(ContentError, match=f"archived; bring it back with .*restore {item.id}"):
        catalogue.add(h.item(1))
    assert isinstance(catalogue.get(item.id), ContentItem)
