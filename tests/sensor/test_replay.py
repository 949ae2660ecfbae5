"""replay: sources — pacing by t on a fake clock, looping, labels, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from heatcast.errors import HeatcastError, SourceError, TraceError, UsageError
from heatcast.sensor.fake_amg8833 import FakeClock
from heatcast.sensor.frame import Frame
from heatcast.sensor.replay import ReplaySource
from heatcast.sensor.sources import open_source
from heatcast.sensor.trace import Labels, TraceWriter

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
RECORDING = SHARED / "data" / "occupancy-esp32" / "snapshots-75.csv"


def make_trace(path: Path, times: list[float], fps: float | None = 10, labelled: bool = True) -> Path:
    meta = {"sensor": "amg8833", "fps": fps} if fps else {"sensor": "amg8834"}
    labels = ("count", "posture") if labelled else ()
    with TraceWriter(path, meta, labels=labels) as writer:
        for i, t in enumerate(times):
            pixels = np.full((8, 8), 20.0 + i, dtype=np.float32)
            pixels[0, 1] = 30.0  # top row, second column: shows which way up frames come out
            writer.write(Frame(pixels, 25.0, t, i), Labels(count=i % 3, posture="sitting" if i % 3 else None))
    return path


class Recorder:
    """A fake clock that remembers when each frame was handed out."""

    def __init__(self) -> None:
        self.clock = FakeClock(start=500.0)
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.sleep(seconds)

    def source(self, path: Path, **kwargs: object) -> ReplaySource:
        return ReplaySource(path, clock=self.clock, sleep=self.sleep, **kwargs)  # type: ignore[arg-type]


def take(source: ReplaySource, n: int, clock: FakeClock) -> list[tuple[float, int, float]]:
    """(t, seq, wall time since start) of the first n frames."""
    out = []
    for frame in source:
        out.append((frame.t, frame.seq, clock() - 500.0))
        if len(out) == n:
            break
    return out


def test_real_time_pacing_follows_t(tmp_path: Path) -> None:
    times = [0.0, 0.1, 0.2, 0.5, 0.5, 1.5]
    rec = Recorder()
    got = take(rec.source(make_trace(tmp_path / "a.csv", times)), 10, rec.clock)
    assert [g[0] for g in got] == times
    assert [g[1] for g in got] == list(range(6))
    assert [g[2] for g in got] == pytest.approx(times)


@pytest.mark.parametrize("speed", [0.5, 2.0, 10.0])
def test_speed_scales_the_pacing(tmp_path: Path, speed: float) -> None:
    times = [0.0, 0.1, 0.2, 0.5, 1.5]
    rec = Recorder()
    got = take(rec.source(make_trace(tmp_path / "a.csv", times), speed=speed), 10, rec.clock)
    assert [g[2] for g in got] == pytest.approx([t / speed for t in times])


def test_speed_zero_never_sleeps(tmp_path: Path) -> None:
    rec = Recorder()
    got = take(rec.source(make_trace(tmp_path / "a.csv", [0, 1, 2, 60, 3600]), speed=0), 10, rec.clock)
    assert len(got) == 5 and rec.sleeps == [] and rec.clock() == 500.0


def test_a_slow_consumer_is_not_paid_back_in_a_burst(tmp_path: Path) -> None:
    rec = Recorder()
    source = rec.source(make_trace(tmp_path / "a.csv", [i / 10 for i in range(30)]))
    walls = []
    for frame in source:
        walls.append(rec.clock())
        if frame.seq == 10:
            rec.clock.advance(5.0)  # the consumer stalls for 5 s
    gaps = np.diff(walls[11:])
    assert gaps == pytest.approx([0.1] * len(gaps))  # back to real time, no burst of frames


def test_loop_repeats_with_t_and_seq_carrying_on(tmp_path: Path) -> None:
    rec = Recorder()
    source = rec.source(make_trace(tmp_path / "a.csv", [2.0, 2.1, 2.3]), loop=True)
    got = take(source, 10, rec.clock)
    ts = [g[0] for g in got]
    assert ts == pytest.approx([2.0, 2.1, 2.3, 2.4, 2.5, 2.7, 2.8, 2.9, 3.1, 3.2])  # next pass 1/fps later
    assert [g[1] for g in got] == list(range(10))
    assert [g[2] for g in got] == pytest.approx([t - 2.0 for t in ts])
    assert source.passes == 3
    source.close()


def test_loop_without_fps_uses_the_last_frame_gap(tmp_path: Path) -> None:
    rec = Recorder()
    source = rec.source(make_trace(tmp_path / "a.csv", [0.0, 0.5, 1.5], fps=None), loop=True, speed=0)
    assert [g[0] for g in take(source, 6, rec.clock)] == pytest.approx([0, 0.5, 1.5, 2.5, 3.0, 4.0])


def test_loop_labels_and_pixels_repeat(tmp_path: Path) -> None:
    source = ReplaySource(make_trace(tmp_path / "a.csv", [0, 0.1, 0.2, 0.3]), speed=0, loop=True)
    records = []
    for record in source.records():
        records.append(record)
        if len(records) == 12:
            break
    assert [r.labels.count for r in records] == [0, 1, 2, 0] * 3
    assert [r.labels.posture for r in records[:4]] == [None, "sitting", "sitting", None]
    assert all(np.array_equal(records[i].frame.pixels, records[i + 4].frame.pixels) for i in range(8))
    assert [r.line for r in records[:5]] == [5, 6, 7, 8, 5]
    source.close()


def test_without_loop_the_source_ends(tmp_path: Path) -> None:
    source = ReplaySource(make_trace(tmp_path / "a.csv", [0, 0.1]), speed=0)
    assert [f.seq for f in source] == [0, 1]
    assert list(source) == []


def test_an_empty_trace_with_loop_ends_instead_of_spinning(tmp_path: Path) -> None:
    source = ReplaySource(make_trace(tmp_path / "a.csv", []), speed=0, loop=True)
    assert list(source) == []


def test_gzip_trace_replays(tmp_path: Path) -> None:
    source = ReplaySource(make_trace(tmp_path / "a.csv.gz", [0, 0.1, 0.2]), speed=0)
    assert [f.t for f in source] == [0, 0.1, 0.2]


def test_close_stops_a_loop(tmp_path: Path) -> None:
    source = ReplaySource(make_trace(tmp_path / "a.csv", [0, 0.1]), speed=0, loop=True)
    it = iter(source)
    next(it)
    source.close()
    assert list(it) == []
    assert list(source) == []


def test_open_source_string_options(tmp_path: Path) -> None:
    path = make_trace(tmp_path / "a.csv", [0, 0.1, 0.2])
    with open_source(f"replay:{path}?speed=0&loop=1") as source:
        frames = [f for _, f in zip(range(7), source, strict=False)]
        assert [f.seq for f in frames] == list(range(7))
        assert source.meta == {"heatcast-trace": "1", "sensor": "amg8833", "fps": "10"}
        assert source.fps == 10 and source.sensor == "amg8833"
    with open_source(f"replay://{path}?speed=0") as source:  # URL style: replay:///abs/path
        assert len(list(source)) == 3


def test_default_speed_is_real_time(tmp_path: Path) -> None:
    with open_source(f"replay:{make_trace(tmp_path / 'a.csv', [0])}") as source:
        assert source.speed == 1.0 and source.loop is False


def test_mount_applies_to_frames_and_labelled_records(tmp_path: Path) -> None:
    path = make_trace(tmp_path / "a.csv", [0, 0.1])
    with open_source(f"replay:{path}?speed=0&rotate=90") as source:
        frame = next(iter(source))
        assert frame.pixels[1, 7] == 30.0  # (0, 1) turned a quarter clockwise
    with open_source(f"replay:{path}?speed=0&mirror=1") as source:
        record = next(source.records())
        assert record.frame.pixels[0, 6] == 30.0 and record.labels.count == 0


@pytest.mark.parametrize(
    "text, error, words",
    [
        ("replay:{dir}/missing.csv", SourceError, ["missing.csv", "does not exist"]),
        ("replay:{dir}", SourceError, ["folder"]),
        ("replay:", UsageError, ["no trace file"]),
        ("replay:{good}?speed=-1", UsageError, ["speed=-1"]),
        ("replay:{good}?speed=fast", UsageError, ["speed='fast'"]),
        ("replay:{good}?speed=nan", UsageError, ["speed='nan'"]),
        ("replay:{good}?speed=٢", UsageError, ["speed='٢'"]),  # Arabic-Indic: float() takes it
        ("replay:{good}?speed=１", UsageError, ["speed='１'"]),
        ("replay:{good}?speed=1_0", UsageError, ["speed='1_0'"]),
        ("replay:{good}?loop=maybe", UsageError, ["loop='maybe'"]),
        ("replay:{good}?sped=2", UsageError, ["unknown option", "sped"]),
        ("replay:{bad}", TraceError, ["line 1", "heatcast-trace"]),
    ],
)
def test_bad_replay_strings_give_one_clear_error(
    tmp_path: Path, text: str, error: type, words: list[str]
) -> None:
    good = make_trace(tmp_path / "good.csv", [0])
    bad = tmp_path / "bad.csv"
    bad.write_text("hello\n")
    with pytest.raises(error) as info:
        open_source(text.format(dir=tmp_path, good=good, bad=bad))
    assert isinstance(info.value, HeatcastError)
    for word in words:
        assert word in str(info.value)


def test_a_fault_mid_trace_is_a_trace_error_after_the_good_frames(tmp_path: Path) -> None:
    path = make_trace(tmp_path / "a.csv", [0, 0.1, 0.2])
    path.write_text(path.read_text() + "0.3,oops\n")
    source = ReplaySource(path, speed=0)
    seen = []
    with pytest.raises(TraceError, match="line 8"):
        for frame in source:
            seen.append(frame.seq)
    assert seen == [0, 1, 2]


@pytest.mark.skipif(not RECORDING.is_file(), reason=f"shared recording not found at {RECORDING}")
def test_replays_a_real_recording_at_its_own_rate() -> None:
    rec = Recorder()
    source = rec.source(RECORDING, speed=4, loop=True)
    got = take(source, 80, rec.clock)
    assert [g[0] for g in got] == list(range(80))  # t is the row number, 1 fps
    assert got[-1][2] == pytest.approx(79 / 4)
    assert source.passes == 1
    source.close()
