"""When the content changes: settling, no flapping, arrivals, the dwell trigger, rotation."""

from __future__ import annotations

from heatcast.classify.audience import Audience
from heatcast.firmware.kiosk import Decider, Showing, Trigger, describe

FPS = 10


def aud(t, count=0, posture="standing", orientation="side", facing_s=0.0, dwell_s=0.0):
    if count == 0:
        return Audience(t=t, presence=False, count=0)
    return Audience(
        t=t, presence=True, count=count, posture=posture, orientation=orientation,
        dwell_s=dwell_s, facing_s=facing_s,
    )  # fmt: skip


def feed(decider, audiences):
    out: list[Trigger] = []
    for a in audiences:
        trigger = decider.update(a)
        if trigger:
            out.append(trigger)
    return out


def frames(start, seconds, **kw):
    n = round(seconds * FPS)
    return [aud(start + i / FPS, **kw) for i in range(n)]


def test_first_frame_chooses_at_once():
    d = Decider()
    got = feed(d, frames(0, 1))
    assert [t.reason for t in got] == ["start"]


def test_arrival_waits_for_the_audience_to_settle():
    d = Decider(settle_s=2.0)
    feed(d, frames(0, 10))  # nobody, start
    got = feed(d, frames(10, 1.9, count=1))
    assert got == []
    got = feed(d, frames(11.9, 1.0, count=1))
    assert [t.reason for t in got] == ["arrived"]
    assert abs(got[0].audience.t - 12.0) < 0.11 and got[0].audience.count == 1


def test_flickering_count_never_flaps():
    d = Decider(settle_s=2.0, min_show_s=0.0)
    feed(d, frames(0, 5, count=1))
    flicker = [aud(5 + i / FPS, count=1 + (i // 5) % 2) for i in range(600)]  # 1,2,1,2 every 0.5 s
    assert feed(d, flicker) == []


def test_changed_audience_waits_for_min_show():
    d = Decider(settle_s=1.0, min_show_s=6.0)
    feed(d, frames(0, 3, count=1))  # start at t=0: shown (1, standing, side)
    got = feed(d, frames(3, 2, count=2))  # settled at t=4, but only 4 s shown
    assert got == []
    got = feed(d, frames(5, 2, count=2))
    assert [t.reason for t in got] == ["changed"] and abs(got[0].audience.t - 6.0) < 0.11


def test_leaving_is_not_held_back():
    d = Decider(settle_s=1.0, min_show_s=60.0)
    feed(d, frames(0, 1))
    feed(d, frames(1, 3, count=2))  # arrived at t=2
    got = feed(d, frames(4, 2, count=0))
    assert [t.reason for t in got] == ["left"]


def test_dwell_trigger_fires_once_per_engagement():
    d = Decider(settle_s=1.0, dwell_trigger_s=5.0, min_show_s=60.0)
    feed(d, frames(0, 1))
    got = []
    for i in range(200):  # 20 s of someone facing, facing_s growing
        t = 1 + i / FPS
        got += feed(d, [aud(t, count=1, orientation="facing", facing_s=max(0.0, t - 1), dwell_s=t - 1)])
    assert [t.reason for t in got] == ["arrived", "engaged"]
    engaged = got[1].audience
    assert engaged.facing_s >= 5.0 and engaged.facing_s < 5.2
    # looking away re-arms it
    feed(d, frames(21, 2, count=1, orientation="away", facing_s=0.0))
    again = []
    for i in range(80):
        t = 23 + i / FPS
        again += feed(d, [aud(t, count=1, orientation="away" if i < 1 else "facing", facing_s=i / FPS)])
    assert [t.reason for t in again] == ["engaged"]


def test_same_audience_rotates():
    d = Decider(rotate_s=30.0)
    got = feed(d, frames(0, 95))
    assert [t.reason for t in got] == ["start", "rotate", "rotate", "rotate"]


def test_clock_going_back_restarts_timing():
    d = Decider(settle_s=1.0, rotate_s=30.0)
    feed(d, frames(0, 20))
    got = feed(d, frames(0, 20))  # a trace starting again from t=0
    assert got == []


def test_settled_changes_are_flagged_once():
    d = Decider(settle_s=1.0, min_show_s=100.0)
    feed(d, frames(0, 2, count=1))
    changes = 0
    for a in frames(2, 5, count=2):
        d.update(a)
        changes += d.settled_changed
    assert changes == 1 and d.settled == (2, "standing", "side")


def test_showing_accumulates_attention():
    first = aud(0, count=1, orientation="facing")
    showing = Showing(first, 0.0, 0.0, last_present=True)
    for a in frames(0.1, 3, count=1, orientation="facing") + frames(3.1, 2, count=1, orientation="away"):
        showing.add(a)
    showing.add(aud(10.0, count=0))  # a 5 s gap is not attention
    assert abs(showing.facing_s - 3.0) < 0.15
    assert abs(showing.present_s - 5.0) < 0.15
    assert showing.duration_s == 10.0 and showing.last_present is False


def test_describe():
    assert describe(aud(0)) == "nobody"
    assert describe(aud(0, count=1, orientation="facing", facing_s=6.2)) == (
        "1 person, standing, facing (facing for 6 s)"
    )
    assert describe(aud(0, count=4, posture="sitting")).startswith("4+ people, sitting")


def test_arriving_already_facing_is_an_arrival_first():
    d = Decider(settle_s=2.0, dwell_trigger_s=5.0)
    feed(d, frames(0, 5))
    got = feed(d, [aud(5 + i / FPS, count=2, orientation="facing", facing_s=5 + i / FPS) for i in range(40)])
    # one choice, for people already engaged: no "engaged" a frame later to flip the screen again
    assert [t.reason for t in got] == ["arrived"]
    assert abs(got[0].audience.t - 7.0) < 0.11 and got[0].audience.facing_s >= 5


def test_a_batch_is_decided_on_its_most_important_trigger():
    from heatcast.firmware.kiosk import decisive

    arrived = Trigger("arrived", aud(7.0, count=2, orientation="facing", facing_s=7.0))
    engaged = Trigger("engaged", aud(7.1, count=2, orientation="facing", facing_s=7.1))
    chosen = decisive([arrived, engaged])
    assert chosen.reason == "arrived" and chosen.audience == engaged.audience
    assert decisive([Trigger("rotate", aud(1.0)), Trigger("left", aud(2.0))]).reason == "left"
