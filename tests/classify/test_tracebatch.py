"""The array trace reader agrees with TraceReader, and hands every fault to it."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from classify_helpers import SHARED

from heatcast.classify.tracebatch import TraceArrays, read_trace_arrays
from heatcast.errors import TraceError
from heatcast.sensor.frame import Frame
from heatcast.sensor.trace import Labels, TraceReader, TraceWriter

pytestmark = pytest.mark.tflite


def make(path: Path, n: int = 30, thermistor: float | None = 25.0) -> Path:
    rng = np.random.default_rng(3)
    with TraceWriter(path, {"fps": 10}, labels=("count", "posture", "orientation"), extra=("pir",)) as w:
        for i in range(n):
            c = i // 10
            labels = Labels(count=c, posture="sitting" if c else None, orientation="away" if c else None)
            pix = np.round((20 + rng.normal(size=(8, 8))) * 4) / 4
            w.write(Frame(pix.astype(np.float32), thermistor, i / 10, i), labels, {"pir": i % 2})
    return path


def same_as_reader(path: Path, chunk: int = 7) -> None:
    arrays = TraceArrays(path, chunk=chunk).read_all()
    with TraceReader(path) as r:
        recs = list(r)
    assert len(arrays) == len(recs)
    assert np.array_equal(arrays.pixels, np.stack([x.frame.pixels for x in recs]))
    assert arrays.t.tolist() == [x.frame.t for x in recs]
    therm = [x.frame.thermistor for x in recs]
    assert [None if np.isnan(v) else v for v in arrays.thermistor.tolist()] == therm
    assert arrays.count.tolist() == [-1 if x.labels.count is None else x.labels.count for x in recs]
    pres = [x.labels.present for x in recs]
    assert arrays.presence.tolist() == [-1 if p is None else int(p) for p in pres]


def test_plain_and_gzip_traces_read_as_trace_reader_does(tmp_path: Path) -> None:
    same_as_reader(make(tmp_path / "a.csv"))
    same_as_reader(make(tmp_path / "a.csv.gz"))
    a = read_trace_arrays(tmp_path / "a.csv")
    assert a.posture.tolist()[:12] == [-1] * 10 + [1, 1]
    assert a.orientation.tolist()[-1] == 2


def test_traces_without_thermistor_take_the_slow_path(tmp_path: Path) -> None:
    path = make(tmp_path / "b.csv", thermistor=None)
    same_as_reader(path)
    assert np.isnan(read_trace_arrays(path).thermistor).all()


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = make(tmp_path / "c.csv")
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(8, "\n")
    path.write_text("".join(lines))
    same_as_reader(path)


@pytest.mark.parametrize(
    ("fault", "message"),
    [("999", "outside"), ("abc", "not a number"), ("nan", "")],
)
def test_a_fault_in_a_later_chunk_gets_trace_readers_error(tmp_path: Path, fault: str, message: str) -> None:
    path = make(tmp_path / "d.csv")
    lines = path.read_text().splitlines(keepends=True)
    cells = lines[-5].split(",")
    cells[10] = fault
    lines[-5] = ",".join(cells)
    path.write_text("".join(lines))
    with pytest.raises(TraceError, match=rf"d\.csv, line {len(lines) - 4}.*{message}"):
        TraceArrays(path, chunk=4).read_all()


def test_bad_label_gets_trace_readers_error(tmp_path: Path) -> None:
    path = make(tmp_path / "e.csv.gz")
    with gzip.open(path, "rt") as f:
        text = f.read().replace("sitting", "squatting", 1)
    with gzip.open(path, "wt") as f:
        f.write(text)
    with pytest.raises(TraceError, match="squatting"):
        read_trace_arrays(path)


def test_reads_the_real_recordings() -> None:
    a = read_trace_arrays(SHARED / "snapshots.csv")
    assert len(a) == 1209
    assert set(a.count.tolist()) == {0, 1, 2, 3, 4, 5}
    assert (a.posture == -1).all()
    same_as_reader(SHARED / "snapshots-75.csv", chunk=16)
