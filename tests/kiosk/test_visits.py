"""Visits, opportunities to see and watchers: defined once, and their invariants on a replayed day."""

from __future__ import annotations

from kiosk_helpers import make_config

from heatcast.firmware.catalogue import Catalogue
from heatcast.firmware.kiosk import Kiosk
from heatcast.firmware.report import build_report
from heatcast.firmware.visits import WATCH_S, ItemMemory, ShowingVisits, VisitBook
from heatcast.nfc.service import TagService
from heatcast.sensor.trace import read_trace


def feed(book: VisitBook, t0: float, seconds: float, count: int, facing: bool = False) -> float:
    t = t0
    for _ in range(round(seconds * 10)):
        book.update(t, count, facing)
        t += 0.1
    return t


def test_each_rise_of_the_count_is_that_many_visits():
    book = VisitBook()
    t = feed(book, 0.0, 1, 0)
    t = feed(book, t, 1, 2)
    t = feed(book, t, 1, 1)  # one of them leaves
    t = feed(book, t, 1, 2)  # someone new
    closed = book.next_showing()
    assert closed.arrived == [1, 2, 3] and closed.at_end == [1, 3] and len(closed.in_view) == 3


def test_a_stretch_of_facing_is_one_watcher_and_never_more_than_are_in_view():
    book = VisitBook()
    t = feed(book, 0.0, WATCH_S - 0.3, 1, facing=True)
    assert book.showing.watched == []  # a glance is no watcher
    t = feed(book, t, 1.0, 1, facing=True)
    assert book.showing.watched == [1]
    for _ in range(5):  # looking away and back again: still the one person in view
        t = feed(book, t, 1, 1, facing=False)
        t = feed(book, t, 3, 1, facing=True)
    assert book.showing.watched == [1]
    t = feed(book, t, 1, 2, facing=False)
    t = feed(book, t, 3, 2, facing=True)  # a second stretch with two in view: the other one
    assert book.showing.watched == [1, 2]


def test_a_visit_counts_once_per_item_however_often_it_sees_it():
    memory = ItemMemory()
    first = ShowingVisits(at_start=[1], arrived=[2], watched=[1], at_end=[1, 2])
    again = ShowingVisits(at_start=[1, 2], arrived=[], watched=[1, 2], at_end=[1, 2])
    a = memory.count(7, first, watchable=True)
    assert (a.at_start, a.arrivals, a.ots, a.watchers) == (1, 1, 2, 1)
    other = memory.count(8, again, watchable=True)
    assert (other.ots, other.watchers) == (2, 2)  # another item: counted again
    back = memory.count(7, again, watchable=True)
    assert (back.ots, back.watchers) == (0, 1)  # item 7 again: no new OTS; visit 2 watches it now
    attract = memory.count(9, ShowingVisits(at_start=[1], watched=[1], at_end=[]), watchable=False)
    assert (attract.ots, attract.watchers) == (1, 0)
    # everyone has left: the memory is empty again, a later visit with the same number is new
    assert memory.count(7, ShowingVisits(at_start=[2], at_end=[2]), watchable=True).ots == 1


def true_visits(trace, settle_s: float) -> int:
    """The visits the labels say, counted like the kiosk's: a count must hold ``settle_s``."""
    visits, settled, candidate, since = 0, 0, 0, 0.0
    with read_trace(trace) as reader:
        for record in reader:
            count = record.labels.count or 0
            if count != candidate:
                candidate, since = count, record.frame.t
            if candidate != settled and record.frame.t - since >= settle_s:
                visits += max(0, candidate - settled)
                settled = candidate
    return visits


def test_invariants_on_a_replayed_scene_with_known_truth(tmp_path, demo_trace):
    """The demo scene (a passer-by, someone who stops and faces the screen, a couple), through
    the real kiosk and classifier: watchers <= OTS <= visits for every item, attract loops
    never watched, and the visits those of the scene."""
    replay = {"source": f"replay:{demo_trace}?speed=20"}
    config = make_config(tmp_path, sensor=replay, page={"enabled": False})
    kiosk = Kiosk(config, tag_service=TagService(None), report=lambda line: None, seed=1)
    kiosk.start()
    try:
        assert kiosk.wait(120) and kiosk.drain(30)
    finally:
        kiosk.close()
    with Catalogue(config.db_path, readonly=True) as catalogue:
        report = build_report(catalogue)
        rows = catalogue.query("SELECT visits_at_start, arrivals, ots, watchers FROM impressions")
    assert rows and all(r["ots"] is not None for r in rows)
    assert report.visits == true_visits(demo_trace, config.decision.settle_s) == 4
    for item, s in report.by_item.items():
        assert s.watchers <= s.ots <= report.visits, (item, s)
        if item in report.attract:
            assert s.watchers == 0 and s.attention_s == 0 and s.hits == s.misses == 0
    assert report.total.watchers >= 1  # someone stopped and faced the screen
    assert report.total.watchers <= report.total.ots
