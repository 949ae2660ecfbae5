"""Trace files v1: every rule of shared/TRACE_FORMAT.md for readers, the writer, and fuzzing.

The traces here are built as text by hand (``trace_text``), not by the writer,
so that reader and writer are checked against the format, not against each other.
"""

from __future__ import annotations

import gzip
import itertools
import math
import tracemalloc
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heatcast.errors import HeatcastError, TraceError
from heatcast.sensor.frame import Frame
from heatcast.sensor.trace import (
    LABEL_COLUMNS,
    NO_LABELS,
    ORIENTATIONS,
    PIXEL_COLUMNS,
    POSTURES,
    REQUIRED_COLUMNS,
    Labels,
    TraceReader,
    TraceRecord,
    TraceWriter,
    read_trace,
)

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
RECORDINGS = SHARED / "data" / "occupancy-esp32"

HEAD = "# heatcast-trace: 1\n# sensor: amg8833\n# fps: 10\n"
HEADER = ",".join(REQUIRED_COLUMNS)


def pixel_cells(seed: int) -> list[str]:
    """64 plausible AMG8833 values (0.25 C steps) as text."""
    rng = np.random.default_rng(seed)
    return [f"{v:.2f}" for v in (np.round(rng.normal(24, 2, 64) * 4) / 4).clip(-40, 125)]


def frame_line(t: float, seed: int = 0, thermistor: str = "26.1875", tail: Sequence[str] = ()) -> str:
    return ",".join([f"{t:g}", thermistor, *pixel_cells(seed), *tail])


def trace_text(
    rows: Iterable[str],
    *,
    head: str = HEAD,
    header: str = HEADER,
    extra_columns: Sequence[str] = (),
) -> str:
    lines = [header + "".join("," + c for c in extra_columns), *rows]
    return head + "\n".join(lines) + "\n"


def write(tmp_path: Path, text: str | bytes, name: str = "trace.csv") -> Path:
    path = tmp_path / name
    data = text.encode("utf-8") if isinstance(text, str) else text
    if name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def read_all(path: Path) -> tuple[TraceReader, list[TraceRecord]]:
    with TraceReader(path) as reader:
        return reader, list(reader)


def expect_error(path: Path, line: int, *words: str) -> TraceError:
    """Reading ``path`` fails with one TraceError naming the file, the line and the fault."""
    with pytest.raises(TraceError) as info:
        read_all(path)
    message = str(info.value)
    assert str(path) in message
    assert f"line {line}:" in message, message
    for word in words:
        assert word in message, message
    assert "\n" not in message
    return info.value


# -- the file's head ------------------------------------------------------------------------


def test_minimal_trace_reads(tmp_path: Path) -> None:
    path = write(tmp_path, trace_text([frame_line(0.0, 1), frame_line(0.1, 2)]))
    reader, records = read_all(path)
    assert reader.meta == {"heatcast-trace": "1", "sensor": "amg8833", "fps": "10"}
    assert reader.fps == 10
    assert reader.header_line == 4
    assert [r.frame.t for r in records] == [0.0, 0.1]
    assert [r.frame.seq for r in records] == [0, 1]
    assert [r.line for r in records] == [5, 6]
    assert records[0].frame.thermistor == 26.1875
    assert records[0].frame.pixels.dtype == np.float32
    assert records[0].frame.pixels.shape == (8, 8)
    np.testing.assert_array_equal(records[1].frame.pixels.ravel(), np.array(pixel_cells(2), dtype=float))
    assert records[0].labels is NO_LABELS and dict(records[0].extra) == {}


@pytest.mark.parametrize(
    "first",
    ["", "# heatcast-trace: 2", "# heatcast: 1", "heatcast-trace: 1", "# sensor: amg8833", "t,thermistor"],
)
def test_first_line_must_name_version_1(tmp_path: Path, first: str) -> None:
    body = trace_text([frame_line(0)], head="")
    path = write(tmp_path, (first + "\n" if first else "") + body)
    error = expect_error(path, 1)
    assert "heatcast-trace" in str(error) or "version" in str(error)


def test_empty_file(tmp_path: Path) -> None:
    expect_error(write(tmp_path, ""), 1, "heatcast-trace: 1")


def test_version_other_than_1_is_refused_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, trace_text([frame_line(0)], head="# heatcast-trace: 2\n"))
    expect_error(path, 1, "'2'", "version 1")


def test_metadata_keys_are_kept_including_unknown_ones(tmp_path: Path) -> None:
    head = (
        "# heatcast-trace: 1\n# sensor: amg8834\n# fps: 1\n# mount: ceiling\n# height_m: 2.7\n"
        "# tilt_deg: 0\n# site: Shop: front door\n# source: https://example.org/x\n"
        "# license: CC-BY-4.0\n# note: first\n#note:   second  \n# wind_speed: 3 knots\n"
    )
    reader, records = read_all(write(tmp_path, trace_text([frame_line(0)], head=head)))
    assert reader.meta == {
        "heatcast-trace": "1",
        "sensor": "amg8834",
        "fps": "1",
        "mount": "ceiling",
        "height_m": "2.7",
        "tilt_deg": "0",
        "site": "Shop: front door",  # only the first colon separates key and value
        "source": "https://example.org/x",
        "license": "CC-BY-4.0",
        "note": "first\nsecond",  # a repeated key continues on a new line
        "wind_speed": "3 knots",
    }
    assert reader.fps == 1 and len(records) == 1


@pytest.mark.parametrize("fps", ["", "fast", "0", "-10", "nan", "inf"])
def test_fps_that_is_no_rate_is_none(tmp_path: Path, fps: str) -> None:
    head = f"# heatcast-trace: 1\n# fps: {fps}\n"
    reader, _ = read_all(write(tmp_path, trace_text([frame_line(0)], head=head)))
    assert reader.fps is None and reader.meta["fps"] == fps


@pytest.mark.parametrize(
    "bad, words",
    [("# no colon here", "# key: value"), ("# : empty key", "empty key"), ("# heatcast-trace: 1", "twice")],
)
def test_bad_metadata_lines(tmp_path: Path, bad: str, words: str) -> None:
    path = write(tmp_path, trace_text([frame_line(0)], head=HEAD + bad + "\n"))
    expect_error(path, 4, words)


def test_no_header(tmp_path: Path) -> None:
    expect_error(write(tmp_path, HEAD), 3, "no header")


def test_blank_lines_before_the_header_are_skipped(tmp_path: Path) -> None:
    text = HEAD + "\n\n" + trace_text([frame_line(0)], head="")
    _, records = read_all(write(tmp_path, text))
    assert records[0].line == 7


# -- the header -----------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["t", "thermistor", "p00", "p37", "p77"])
def test_missing_column(tmp_path: Path, missing: str) -> None:
    columns = [c for c in REQUIRED_COLUMNS if c != missing]
    rows = [",".join(["0"] * len(columns))]
    path = write(tmp_path, trace_text(rows, header=",".join(columns)))
    expect_error(path, 4, "missing column", repr(missing))


def test_duplicate_column(tmp_path: Path) -> None:
    path = write(tmp_path, trace_text([frame_line(0, tail=["1", "1"])], extra_columns=["count", "count"]))
    expect_error(path, 4, "'count'", "twice")


def test_header_cells_may_be_padded(tmp_path: Path) -> None:
    header = ", ".join(REQUIRED_COLUMNS) + " , count "
    _, records = read_all(write(tmp_path, trace_text([frame_line(0, tail=["2"])], header=header)))
    assert records[0].labels == Labels(count=2)


def test_pixel_order_prc_is_row_r_column_c(tmp_path: Path) -> None:
    """pRC lands in pixels[R, C] whatever order the columns come in; row 0 is the top."""
    rng = np.random.default_rng(7)
    columns = ["thermistor", *rng.permutation(PIXEL_COLUMNS).tolist(), "t"]
    values = {name: f"{10 * int(name[1]) + int(name[2])}" for name in PIXEL_COLUMNS}
    row = ",".join(["25" if c == "thermistor" else "0" if c == "t" else values[c] for c in columns])
    _, records = read_all(write(tmp_path, trace_text([row], header=",".join(columns))))
    pixels = records[0].frame.pixels
    for r in range(8):
        for c in range(8):
            assert pixels[r, c] == 10 * r + c
    assert pixels[0, 7] == 7 and pixels[7, 0] == 70  # top right, bottom left


# -- frame lines: faults named with file, line and what is wrong ----------------------------


@pytest.mark.parametrize(
    "column, value",
    [("t", "zero"), ("t", ""), ("thermistor", "warm"), ("p00", "x"), ("p45", "2 4"), ("p77", "")],
)
def test_value_not_a_number(tmp_path: Path, column: str, value: str) -> None:
    cells = frame_line(0.1).split(",")
    cells[REQUIRED_COLUMNS.index(column)] = value
    path = write(tmp_path, trace_text([frame_line(0), ",".join(cells)]))
    expect_error(path, 6, column, "not a number")


@pytest.mark.parametrize(
    "column, value",
    [("p00", "125.25"), ("p31", "-40.25"), ("p77", "1000"), ("thermistor", "130"), ("thermistor", "-41")],
)
def test_temperature_outside_the_sensor_range(tmp_path: Path, column: str, value: str) -> None:
    cells = frame_line(0.1).split(",")
    cells[REQUIRED_COLUMNS.index(column)] = value
    path = write(tmp_path, trace_text([frame_line(0), frame_line(0.05), ",".join(cells)]))
    expect_error(path, 7, column, value, "-40..125")


def test_range_limits_themselves_are_fine(tmp_path: Path) -> None:
    cells = frame_line(0).split(",")
    cells[2], cells[65], cells[1] = "-40", "125", "125.0"
    _, records = read_all(write(tmp_path, trace_text([",".join(cells)])))
    assert records[0].frame.pixels[0, 0] == -40 and records[0].frame.pixels[7, 7] == 125


def test_value_a_hair_above_the_range_is_refused_even_where_float32_rounds_it(tmp_path: Path) -> None:
    cells = frame_line(0).split(",")
    cells[10] = "125.000001"  # float32(125.000001) == 125.0
    expect_error(write(tmp_path, trace_text([",".join(cells)])), 5, PIXEL_COLUMNS[8], "-40..125")


def test_empty_thermistor_is_none(tmp_path: Path) -> None:
    _, records = read_all(write(tmp_path, trace_text([frame_line(0, thermistor="")])))
    assert records[0].frame.thermistor is None


def test_t_going_backwards(tmp_path: Path) -> None:
    path = write(tmp_path, trace_text([frame_line(0.0), frame_line(0.2), frame_line(0.1)]))
    expect_error(path, 7, "t goes backwards", "0.1 after 0.2")


def test_t_may_repeat(tmp_path: Path) -> None:
    _, records = read_all(write(tmp_path, trace_text([frame_line(0.5), frame_line(0.5)])))
    assert [r.frame.t for r in records] == [0.5, 0.5]


@pytest.mark.parametrize("width", [1, 65, 66, 67])
def test_wrong_number_of_values(tmp_path: Path, width: int) -> None:
    cells = frame_line(0.1).split(",")
    cells = [*cells, "1", "2"][:width] if width != 66 else cells[:-1]
    path = write(tmp_path, trace_text([frame_line(0), ",".join(cells)]))
    expect_error(path, 6, "expected 66 values", f"found {len(cells)}")


def test_metadata_after_the_header_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, trace_text([frame_line(0), "# sensor: amg8833"]))
    expect_error(path, 6, "before the header")


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "infinity", "1e400", "-1e400"])
def test_nan_and_infinity(tmp_path: Path, value: str) -> None:
    for column in ("t", "thermistor", "p12"):
        cells = frame_line(0.1).split(",")
        cells[REQUIRED_COLUMNS.index(column)] = value
        path = write(tmp_path, trace_text([frame_line(0), ",".join(cells)]), f"{column}.csv")
        expect_error(path, 6, column)


@pytest.mark.parametrize("value", ["1_0", "2_5.5", "٢٥", "２５", "25\u00a0"])
def test_numbers_python_would_take_but_a_csv_number_is_not(tmp_path: Path, value: str) -> None:
    for column in ("t", "thermistor", "p12"):
        cells = frame_line(0).split(",")
        cells[REQUIRED_COLUMNS.index(column)] = value
        path = write(tmp_path, trace_text([",".join(cells)]), f"{column}.csv")
        expect_error(path, 5, column, "not a number")


def test_huge_numbers(tmp_path: Path) -> None:
    cells = frame_line(0).split(",")
    cells[0] = "1e300"  # a finite t, however odd, is a time
    _, records = read_all(write(tmp_path, trace_text([",".join(cells)])))
    assert records[0].frame.t == 1e300
    cells[5] = "9" * 400
    expect_error(write(tmp_path, trace_text([",".join(cells)]), "p.csv"), 5, "p03", "-40..125")
    tail = ["9" * 5000]
    path = write(tmp_path, trace_text([frame_line(0, tail=tail)], extra_columns=["count"]), "c.csv")
    expect_error(path, 5, "count")


def test_exponent_and_sign_forms_are_numbers(tmp_path: Path) -> None:
    cells = frame_line(0).split(",")
    cells[0], cells[1], cells[2], cells[3] = "+0", "2.61875e1", "-.5", " 22.5 "
    _, records = read_all(write(tmp_path, trace_text([",".join(cells)])))
    frame = records[0].frame
    assert (frame.t, frame.thermistor, frame.pixels[0, 0], frame.pixels[0, 1]) == (0, 26.1875, -0.5, 22.5)


# -- labels --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "column, word",
    [
        ("posture", "crouching"),
        ("posture", "Standing"),
        ("orientation", "left"),
        ("orientation", "none"),
        ("count", "-1"),
        ("count", "1.5"),
        ("count", "two"),
        ("count", "²"),
        ("presence", "2"),
        ("presence", "yes"),
    ],
)
def test_unknown_label_word(tmp_path: Path, column: str, word: str) -> None:
    path = write(tmp_path, trace_text([frame_line(0, tail=[word])], extra_columns=[column]))
    expect_error(path, 5, column, repr(word))


@pytest.mark.parametrize("count, presence", [("0", "1"), ("2", "0")])
def test_presence_and_count_must_agree(tmp_path: Path, count: str, presence: str) -> None:
    rows = [frame_line(0, tail=["1", "1"]), frame_line(0.1, tail=[count, presence])]
    path = write(tmp_path, trace_text(rows, extra_columns=["count", "presence"]))
    expect_error(path, 6, "presence", "count", "disagrees")


def test_empty_label_cell_means_not_labelled(tmp_path: Path) -> None:
    columns = ["count", "presence", "posture", "orientation"]
    rows = [
        frame_line(0, tail=["0", "0", "", ""]),
        frame_line(0.1, tail=["", "", "", ""]),
        frame_line(0.2, tail=["1", "", "sitting", " "]),
        frame_line(0.3, tail=["", "1", "", "away"]),
    ]
    _, records = read_all(write(tmp_path, trace_text(rows, extra_columns=columns)))
    assert [r.labels for r in records] == [
        Labels(count=0, presence=False),
        Labels(),
        Labels(count=1, posture="sitting"),
        Labels(presence=True, orientation="away"),
    ]
    assert records[1].labels.present is None
    assert records[2].labels.present is True
    assert records[0].labels.posture is None  # nobody there: empty, never "none"


LABEL_VALUES = {"count": "2", "presence": "1", "posture": "lying", "orientation": "side"}


@pytest.mark.parametrize(
    "columns",
    [
        perm
        for size in range(len(LABEL_COLUMNS) + 1)
        for combo in itertools.combinations(LABEL_COLUMNS, size)
        for perm in itertools.permutations(combo)
    ],
    ids=lambda cols: "+".join(cols) or "none",
)
def test_label_columns_in_any_subset_and_order(tmp_path: Path, columns: tuple[str, ...]) -> None:
    rows = [frame_line(0, tail=[LABEL_VALUES[c] for c in columns])]
    reader, records = read_all(write(tmp_path, trace_text(rows, extra_columns=columns)))
    assert reader.label_columns == columns
    expected = {
        "count": 2 if "count" in columns else None,
        "presence": True if "presence" in columns else None,
        "posture": "lying" if "posture" in columns else None,
        "orientation": "side" if "orientation" in columns else None,
    }
    assert records[0].labels == Labels(**expected)  # type: ignore[arg-type]


def test_unknown_columns_are_ignored_but_kept_in_extra(tmp_path: Path) -> None:
    columns = ["pir", "count", "door", "posture"]
    rows = [frame_line(0, tail=["1", "1", "open", "standing"]), frame_line(0.1, tail=["0", "0", "", ""])]
    reader, records = read_all(write(tmp_path, trace_text(rows, extra_columns=columns)))
    assert reader.extra_columns == ("pir", "door")
    assert reader.label_columns == ("count", "posture")
    assert dict(records[0].extra) == {"pir": "1", "door": "open"}
    assert dict(records[1].extra) == {"pir": "0", "door": ""}
    assert records[0].labels == Labels(count=1, posture="standing")


def test_quoted_extra_cells(tmp_path: Path) -> None:
    rows = [frame_line(0, tail=['"a, b"', '"say ""hi"""'])]
    _, records = read_all(write(tmp_path, trace_text(rows, extra_columns=["note", "quote"])))
    assert dict(records[0].extra) == {"note": "a, b", "quote": 'say "hi"'}
    path = write(tmp_path, trace_text([frame_line(0, tail=['"open'])], extra_columns=["note"]), "q.csv")
    with pytest.raises(TraceError, match=r"line 5"):
        read_all(path)


# -- text encoding and line ends -----------------------------------------------------------


def test_bom_crlf_blank_lines_and_no_final_newline(tmp_path: Path) -> None:
    text = trace_text([frame_line(0), "", "   ", frame_line(0.1), "", frame_line(0.2)])
    text = "\ufeff" + text.rstrip("\n").replace("\n", "\r\n")
    reader, records = read_all(write(tmp_path, text))
    assert reader.meta["fps"] == "10"
    assert [r.frame.t for r in records] == [0.0, 0.1, 0.2]
    assert [r.line for r in records] == [5, 8, 10]


def test_bare_carriage_returns_are_a_clear_error(tmp_path: Path) -> None:
    text = trace_text([frame_line(0)]).replace("\n", "\r")
    expect_error(write(tmp_path, text), 1, "carriage return")


@pytest.mark.parametrize("name", ["trace.csv", "trace.csv.gz"])
def test_bad_utf8_names_the_exact_line(tmp_path: Path, name: str) -> None:
    rows = [frame_line(i / 10, i) for i in range(3000)]  # past any decoder's read-ahead
    data = trace_text(rows).encode()
    lines = data.split(b"\n")
    lines[2500] = lines[2500].replace(b"26.1875", b"26.\xff875", 1)
    path = write(tmp_path, b"\n".join(lines), name)
    with TraceReader(path) as reader:
        seen = 0
        with pytest.raises(TraceError) as info:
            for _ in reader:
                seen += 1
    assert seen == 2500 - 4  # every good frame before it was delivered
    assert "line 2501:" in str(info.value) and "UTF-8" in str(info.value)


def test_non_ascii_in_extra_columns_is_fine(tmp_path: Path) -> None:
    rows = [frame_line(0, tail=["Café №5"])]
    _, records = read_all(write(tmp_path, trace_text(rows, extra_columns=["site_note"])))
    assert records[0].extra["site_note"] == "Café №5"


def test_a_huge_line_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = write(tmp_path, trace_text([frame_line(0), "9" * (3 << 20)]))
    expect_error(path, 6, "longer than 1024 KiB")


def test_many_repeated_metadata_lines_join_in_linear_time(tmp_path: Path) -> None:
    head = HEAD + "# note: x\n" * 100_000
    reader, records = read_all(write(tmp_path, trace_text([frame_line(0)], head=head)))
    assert reader.meta["note"] == "\n".join(["x"] * 100_000) and len(records) == 1


# -- gzip by name --------------------------------------------------------------------------


def test_gzip_by_name(tmp_path: Path) -> None:
    text = trace_text([frame_line(i / 10, i) for i in range(50)])
    plain = read_all(write(tmp_path, text, "a.csv"))[1]
    packed = read_all(write(tmp_path, text, "a.csv.gz"))[1]
    assert (tmp_path / "a.csv.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert [r.frame for r in plain] == [r.frame for r in packed]


def test_plain_text_named_gz_and_gzip_named_csv(tmp_path: Path) -> None:
    text = trace_text([frame_line(0)])
    path = tmp_path / "plain.csv.gz"
    path.write_text(text)
    expect_error(path, 1, "damaged")
    path = tmp_path / "packed.csv"
    path.write_bytes(gzip.compress(text.encode()))
    expect_error(path, 1, ".csv.gz")


def test_truncated_gzip(tmp_path: Path) -> None:
    text = trace_text([frame_line(i / 10, i) for i in range(2000)])
    data = gzip.compress(text.encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with TraceReader(path) as reader:
        seen = 0
        with pytest.raises(TraceError) as info:
            for _ in reader:
                seen += 1
    assert 0 < seen < 2000
    assert str(path) in str(info.value) and "truncated" in str(info.value)
    assert f"line {seen + 5}:" in str(info.value) or f"line {seen + 6}:" in str(info.value)


def test_corrupt_gzip(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(trace_text([frame_line(i / 10, i) for i in range(500)]).encode()))
    for i in range(200, 260):
        data[i] ^= 0x5A
    path = tmp_path / "bad.csv.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(TraceError, match="damaged"):
        read_all(path)


def test_missing_file_is_a_trace_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match=r"nope\.csv: cannot open"):
        TraceReader(tmp_path / "nope.csv")


# -- streaming -------------------------------------------------------------------------------


def write_big_gzip(path: Path, frames: int) -> int:
    """A gzip trace of ``frames`` frames, written as a stream; returns its decoded size."""
    cells = ",".join(pixel_cells(3))
    size = 0
    with gzip.open(path, "wt", compresslevel=1) as out:
        out.write(HEAD + HEADER + ",count,pir\n")
        size += len(HEAD) + len(HEADER) + 11
        for i in range(frames):
            line = f"{i / 10:.1f},26.5,{cells},{i % 3},{i % 2}\n"
            out.write(line)
            size += len(line)
    return size


def test_reading_streams_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "day.csv.gz"
    frames = 12_000
    decoded = write_big_gzip(path, frames)
    tracemalloc.start()
    try:
        count = 0
        last = -1.0
        with TraceReader(path) as reader:
            for record in reader:
                count += 1
                last = record.frame.t
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == frames and last == pytest.approx((frames - 1) / 10)
    # the whole trace would take far more than decoded text; the reader holds lines, not files
    assert decoded > 4_000_000
    assert peak < decoded / 20, (peak, decoded)


def test_reading_is_lazy(tmp_path: Path) -> None:
    """Opening reads only the head; a fault far down the file shows only when reached."""
    rows = [frame_line(i / 10, i % 7) for i in range(1000)]
    rows[900] = rows[900].replace("26.1875", "hot")
    path = write(tmp_path, trace_text(rows))
    reader = TraceReader(path)  # no error: frame lines not read yet
    first = next(iter(reader))
    assert first.frame.seq == 0 and first.line == 5
    assert reader._line < 50  # only a few lines in
    seen = 1
    with pytest.raises(TraceError, match="line 905: thermistor"):
        for _ in reader:
            seen += 1
    assert seen == 900
    reader.close()


def test_a_reader_is_one_pass(tmp_path: Path) -> None:
    path = write(tmp_path, trace_text([frame_line(i / 10) for i in range(5)]))
    with read_trace(path) as reader:
        it = iter(reader)
        next(it)
        assert [f.seq for f in reader.frames()] == [1, 2, 3, 4]  # carries on, never restarts
        assert list(reader) == []


# -- the writer, and round trips -------------------------------------------------------------


def sample_records(n: int, seed: int = 0) -> list[TraceRecord]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        pixels = (np.round(rng.uniform(-40, 125, (8, 8)) * 4) / 4).astype(np.float32)
        count = int(rng.integers(0, 5))
        labels = Labels(
            count=count if i % 5 else None,
            presence=count > 0 if i % 3 else None,
            posture=str(rng.choice(POSTURES)) if count and i % 2 else None,
            orientation=str(rng.choice(ORIENTATIONS)) if count else None,
        )
        thermistor = None if i % 7 == 0 else float(rng.integers(-40 * 16, 80 * 16)) / 16
        out.append(TraceRecord(Frame(pixels, thermistor, i * 0.1, i), labels, {"pir": str(i % 2)}))
    return out


@pytest.mark.parametrize("name", ["rt.csv", "rt.csv.gz"])
@pytest.mark.parametrize("labels", [(), ("count",), ("orientation", "presence", "posture", "count")])
def test_round_trip(tmp_path: Path, name: str, labels: tuple[str, ...]) -> None:
    records = sample_records(40)
    meta = {"sensor": "amg8833", "fps": 10, "site": "test: bench", "note": "two\nlines", "custom": "kept"}
    with TraceWriter(tmp_path / name, meta, labels=labels, extra=("pir",)) as writer:
        writer.write_all(records)
    assert writer.frames_written == 40
    reader, back = read_all(tmp_path / name)
    assert reader.meta == {"heatcast-trace": "1", **{k: str(v) for k, v in meta.items()}}
    assert reader.label_columns == labels and reader.extra_columns == ("pir",)
    for mine, theirs in zip(records, back, strict=True):
        assert theirs.frame == Frame(
            mine.frame.pixels, mine.frame.thermistor, round(mine.frame.t, 4), mine.frame.seq
        )
        kept = {c: getattr(mine.labels, c) for c in labels}
        assert theirs.labels == Labels(**kept)  # type: ignore[arg-type]
        assert dict(theirs.extra) == dict(mine.extra)


def test_writer_output_matches_the_format_text(tmp_path: Path) -> None:
    pixels = (np.arange(64).reshape(8, 8) / 4).astype(np.float32)
    with TraceWriter(tmp_path / "x.csv", {"sensor": "amg8833"}, labels=("count", "posture")) as writer:
        writer.write(Frame(pixels, 26.1875, 0.0, 0), Labels(count=0))
        writer.write(Frame(pixels, None, 0.1, 1), Labels(count=1, posture="standing"))
    lines = (tmp_path / "x.csv").read_text().split("\n")
    assert lines[0] == "# heatcast-trace: 1"
    assert lines[1] == "# sensor: amg8833"
    assert lines[2] == HEADER + ",count,posture"
    assert lines[3].startswith("0,26.1875,0.0,0.25,0.5,0.75,1.0,") and lines[3].endswith(",15.75,0,")
    assert lines[4].startswith("0.1,,0.0,") and lines[4].endswith(",1,standing")
    assert lines[5] == "" and len(lines) == 6


def test_writer_refuses_what_a_reader_would_refuse(tmp_path: Path) -> None:
    good = np.full((8, 8), 22.0, dtype=np.float32)
    with TraceWriter(tmp_path / "w.csv", extra=("pir",)) as writer:
        writer.write(Frame(good, 25.0, 1.0, 0))
        for bad in (
            Frame(good, 25.0, 0.5, 1),  # backwards
            Frame(good, 25.0, math.nan, 1),
            Frame(np.full((8, 8), math.nan, dtype=np.float32), 25.0, 2.0, 1),
            Frame(np.full((8, 8), 200.0, dtype=np.float32), 25.0, 2.0, 1),
            Frame(good, 300.0, 2.0, 1),
        ):
            with pytest.raises(TraceError):
                writer.write(bad)
        with pytest.raises(TraceError, match="one line"):
            writer.write(Frame(good, 25.0, 2.0, 1), extra={"pir": "a\nb"})
        writer.write(Frame(good, 25.0, 3.0, 1))
    _, records = read_all(tmp_path / "w.csv")
    assert [r.frame.t for r in records] == [1.0, 3.0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"meta": {"a:b": 1}},
        {"meta": {"": 1}},
        {"meta": {"x\ny": 1}},
        {"labels": ("mood",)},
        {"labels": ("count", "count")},
        {"extra": ("t",)},
        {"extra": ("count",)},
        {"extra": ("a,b",)},
        {"extra": ("pir", "pir")},
    ],
)
def test_writer_refuses_bad_columns_and_metadata(tmp_path: Path, kwargs: dict[str, object]) -> None:
    with pytest.raises(TraceError):
        TraceWriter(tmp_path / "w.csv", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "w.csv").exists()


def test_writer_exclusive_refuses_to_replace(tmp_path: Path) -> None:
    path = tmp_path / "keep.csv"
    path.write_text("precious")
    with pytest.raises(TraceError, match="already exists"):
        TraceWriter(path, exclusive=True)
    assert path.read_text() == "precious"


def test_writer_interrupted_midway_leaves_a_valid_trace(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv.gz"
    with pytest.raises(KeyboardInterrupt), TraceWriter(path) as writer:
        for record in sample_records(30):
            if record.frame.seq == 17:
                raise KeyboardInterrupt
            writer.write(record.frame)
    _, back = read_all(path)
    assert len(back) == 17


def test_errors_are_heatcast_and_value_errors() -> None:
    assert issubclass(TraceError, HeatcastError) and issubclass(TraceError, ValueError)


# -- the real recordings ------------------------------------------------------------------------


@pytest.mark.skipif(not RECORDINGS.is_dir(), reason=f"shared recordings not found at {RECORDINGS}")
@pytest.mark.parametrize("name, frames", [("snapshots.csv", 1209), ("snapshots-75.csv", 75)])
def test_real_recordings(name: str, frames: int) -> None:
    reader, records = read_all(RECORDINGS / name)
    assert reader.meta["sensor"] == "amg8833" and reader.fps == 1
    assert "license" in reader.meta and "source" in reader.meta
    assert reader.label_columns == ("count",) and reader.extra_columns == ("pir",)
    assert len(records) == frames
    counts = {r.labels.count for r in records}
    assert counts <= set(range(10)) and len(counts) >= 3
    assert all(r.labels.present == (r.labels.count > 0) for r in records if r.labels.count is not None)
    assert {r.extra["pir"] for r in records} <= {"0", "1"}
    pixels = np.stack([r.frame.pixels for r in records])
    assert 15 < float(np.median(pixels)) < 35  # room temperature in degrees C
    assert np.all(np.isclose(pixels * 4, np.round(pixels * 4)))  # the AMG8833's 0.25 C steps
    assert all(r.frame.thermistor is not None for r in records)
    # more people, more warm pixels: the labels belong to these frames
    warm = [(r.labels.count, float(np.mean(r.frame.pixels > np.median(r.frame.pixels) + 2))) for r in records]
    few = np.mean([w for c, w in warm if c is not None and c <= 1])
    many = np.mean([w for c, w in warm if c is not None and c >= 3])
    assert many > few


# -- fuzzing ------------------------------------------------------------------------------------


def check_read(path: Path, text_lines: int) -> None:
    """Either a clean read that keeps the format's promises, or one TraceError naming file and line."""
    try:
        with TraceReader(path) as reader:
            last = -math.inf
            for i, record in enumerate(reader):
                frame = record.frame
                assert frame.seq == i
                assert math.isfinite(frame.t) and frame.t >= last
                last = frame.t
                assert frame.pixels.shape == (8, 8) and frame.pixels.dtype == np.float32
                assert bool(np.all((frame.pixels >= -40) & (frame.pixels <= 125)))
                assert frame.thermistor is None or -40 <= frame.thermistor <= 125
                labels = record.labels
                assert labels.posture in (None, *POSTURES)
                assert labels.orientation in (None, *ORIENTATIONS)
                if labels.count is not None and labels.presence is not None:
                    assert labels.presence == (labels.count > 0)
                assert record.line >= 1
    except TraceError as exc:
        message = str(exc)
        assert message.startswith(f"{path}, line "), message
        line = int(message[len(f"{path}, line ") :].split(":")[0])
        assert 1 <= line <= text_lines + 1, message


LABEL_CELLS = st.sampled_from(["", "0", "1", "2", "4", *POSTURES, *ORIENTATIONS, "x", "-1", " 1"])


@st.composite
def valid_traces(draw: st.DrawFn) -> str:
    labels = draw(st.permutations(LABEL_COLUMNS).flatmap(lambda p: st.integers(0, 4).map(lambda k: p[:k])))
    extra = draw(st.sampled_from([(), ("pir",)]))
    columns = [*labels, *extra]
    rows = []
    t = 0.0
    for i in range(draw(st.integers(0, 6))):
        t += draw(st.sampled_from([0.0, 0.1, 1.0]))
        count = draw(st.integers(0, 4))
        cells = {
            "count": str(count),
            "presence": str(int(count > 0)),
            "posture": draw(st.sampled_from(POSTURES)) if count else "",
            "orientation": draw(st.sampled_from(ORIENTATIONS)) if count else "",
            "pir": draw(st.sampled_from(["0", "1", ""])),
        }
        rows.append(frame_line(round(t, 1), i, tail=[cells[c] for c in columns]))
    return trace_text(rows, extra_columns=columns)


def mutate(data: bytes, draw: Callable[[st.SearchStrategy[Any]], Any]) -> bytes:
    kind = draw(st.sampled_from(["bytes", "cell", "line", "truncate", "insert"]))
    if kind == "bytes" and data:
        at = draw(st.integers(0, len(data) - 1))
        junk: bytes = draw(st.binary(min_size=0, max_size=8))
        cut: int = draw(st.integers(0, 8))
        return data[:at] + junk + data[at + cut :]
    if kind == "truncate":
        end: int = draw(st.integers(0, len(data)))
        return data[:end]
    lines = data.split(b"\n")
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "line":
        op = draw(st.sampled_from(["drop", "dup", "swap"]))
        j = draw(st.integers(0, len(lines) - 1))
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(j, lines[i])
        else:
            lines[i], lines[j] = lines[j], lines[i]
    elif kind == "insert":
        lines.insert(i, draw(st.text(max_size=30)).encode("utf-8", "surrogatepass"))
    else:
        cells = lines[i].split(b",")
        k = draw(st.integers(0, len(cells) - 1))
        cells[k] = draw(
            st.sampled_from(
                [
                    "", "nan", "inf", "-inf", "1_0", "1e400", "-41", "126", "9" * 500, "x", '"', '"a,b"',
                    "standing", "facing", "-1", "\ufeff", "\r", "#", " 1 ", "0x10", "١",
                ]
            )
            | st.text(max_size=6)
        ).encode("utf-8", "surrogatepass")  # fmt: skip
        lines[i] = b",".join(cells)
    return b"\n".join(lines)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(data=st.data(), text=valid_traces(), packed=st.booleans())
def test_fuzz_mutated_traces(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, text: str, packed: bool
) -> None:
    raw = text.encode()
    for _ in range(data.draw(st.integers(1, 3))):
        raw = mutate(raw, data.draw)
    path = tmp_path_factory.getbasetemp() / ("fuzz.csv.gz" if packed else "fuzz.csv")
    if packed:
        raw = gzip.compress(raw)
        if data.draw(st.booleans()):  # damage the compressed bytes too
            raw = mutate(raw, data.draw)
    path.write_bytes(raw)
    check_read(path, raw.count(b"\n") if not packed else 10_000)


@FUZZ
@given(
    text=valid_traces(),
    crlf=st.booleans(),
    bom=st.booleans(),
    final_newline=st.booleans(),
    packed=st.booleans(),
)
def test_fuzz_valid_traces_read_back_exactly(
    tmp_path_factory: pytest.TempPathFactory,
    text: str,
    crlf: bool,
    bom: bool,
    final_newline: bool,
    packed: bool,
) -> None:
    lines = text.split("\n")
    columns = lines[3].split(",")
    variant = text if final_newline else text.rstrip("\n")
    variant = ("\ufeff" if bom else "") + (variant.replace("\n", "\r\n") if crlf else variant)
    path = write(tmp_path_factory.getbasetemp(), variant, "valid.csv.gz" if packed else "valid.csv")
    with TraceReader(path) as reader:
        records = list(reader)
    assert len(records) == len(lines) - 5
    parse: dict[str, Callable[[str], object]] = {
        "count": int,
        "presence": lambda c: c == "1",
        "posture": str,
        "orientation": str,
        "pir": str,
    }
    for record in records:
        cells = lines[record.line - 1].split(",")
        assert record.frame.t == float(cells[0])
        np.testing.assert_array_equal(record.frame.pixels.ravel(), np.array(cells[2:66], dtype=np.float32))
        for name in ("count", "presence", "posture", "orientation"):
            value = getattr(record.labels, name)
            if name not in columns or cells[columns.index(name)] == "":
                assert value is None
            else:
                assert value == parse[name](cells[columns.index(name)])
        if "pir" in columns:
            assert record.extra["pir"] == cells[columns.index("pir")]


@FUZZ
@given(raw=st.binary(max_size=400), prefix=st.booleans())
def test_fuzz_random_bytes(tmp_path_factory: pytest.TempPathFactory, raw: bytes, prefix: bool) -> None:
    if prefix:
        raw = (HEAD + HEADER + "\n").encode() + raw
    path = tmp_path_factory.getbasetemp() / "random.csv"
    path.write_bytes(raw)
    check_read(path, raw.count(b"\n"))
