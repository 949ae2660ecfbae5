"""heatcast record: labelled v1 traces from any source, limits, clear errors, Ctrl-C keeps the trace."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from heatcast.errors import UsageError
from heatcast.firmware.cli import main
from heatcast.firmware.cli_record import Progress, _Interrupt, parse_labels, parse_meta, record_frames
from heatcast.sensor.fake_amg8833 import FakeClock
from heatcast.sensor.frame import Frame
from heatcast.sensor.trace import Labels, TraceReader, TraceWriter

REPO = Path(__file__).resolve().parents[2]


def make_trace(path: Path, n: int, start: float = 0.0, fps: float = 10) -> Path:
    with TraceWriter(path, {"sensor": "amg8834", "fps": fps, "site": "lab"}, labels=("count",)) as writer:
        for i in range(n):
            pixels = np.full((8, 8), 21.0 + (i % 8) / 4, dtype=np.float32)
            writer.write(Frame(pixels, 24.5, start + i / fps, i), Labels(count=i % 2))
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["record", *args], catch_exceptions=False)


def read(path: Path) -> tuple[TraceReader, list]:  # type: ignore[type-arg]
    with TraceReader(path) as reader:
        return reader, list(reader)


def one_error_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("heatcast: error: ")
    assert "Traceback" not in result.output
    return lines[0]


# -- recording --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.csv", "out.csv.gz"])
def test_records_labels_on_every_frame(tmp_path: Path, name: str) -> None:
    src = make_trace(tmp_path / "src.csv", 30)
    out = tmp_path / name
    result = run(
        f"replay:{src}?speed=0",
        "--out",
        str(out),
        "--label",
        "count=1",
        "--label",
        "posture=standing",
        "--label",
        "orientation=facing",
        "--meta",
        "height_m=1.6",
        "--meta",
        "wind=calm: mostly",
    )
    assert result.exit_code == 0, result.output
    assert "recorded 30 frames" in result.output
    reader, records = read(out)
    assert reader.label_columns == ("count", "posture", "orientation")  # only the labels given
    assert len(records) == 30
    assert all(r.labels == Labels(count=1, posture="standing", orientation="facing") for r in records)
    assert reader.meta["sensor"] == "amg8834" and reader.meta["fps"] == "10" and reader.meta["site"] == "lab"
    assert reader.meta["height_m"] == "1.6" and reader.meta["wind"] == "calm: mostly"
    assert reader.meta["source"].startswith("heatcast record replay:")
    _, original = read(src)
    for mine, theirs in zip(records, original, strict=True):
        assert np.array_equal(mine.frame.pixels, theirs.frame.pixels)
        assert mine.frame.thermistor == theirs.frame.thermistor


def test_without_labels_there_are_no_label_columns(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    assert run(f"replay:{make_trace(tmp_path / 's.csv', 5)}?speed=0", "--out", str(out)).exit_code == 0
    reader, records = read(out)
    assert reader.label_columns == () and len(records) == 5


def test_t_starts_at_zero_and_seq_at_zero(tmp_path: Path) -> None:
    src = make_trace(tmp_path / "src.csv", 20, start=100.0)
    out = tmp_path / "out.csv"
    assert run(f"replay:{src}?speed=0", "-o", str(out), "--frames", "4").exit_code == 0
    _, records = read(out)
    assert [r.frame.t for r in records] == [0.0, 0.1, 0.2, 0.3]
    assert [r.frame.seq for r in records] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "limits, frames",
    [(["--frames", "7"], 7), (["--seconds", "2"], 20), (["--seconds", "2", "--frames", "5"], 5), ([], 50)],
)
def test_limits(tmp_path: Path, limits: list[str], frames: int) -> None:
    src = make_trace(tmp_path / "src.csv", 50)
    out = tmp_path / "out.csv"
    result = run(
        f"replay:{src}?speed=0&loop=1" if limits else f"replay:{src}?speed=0", "-o", str(out), *limits
    )
    assert result.exit_code == 0, result.output
    assert len(read(out)[1]) == frames


def test_loop_recording_stays_monotonic(tmp_path: Path) -> None:
    src = make_trace(tmp_path / "src.csv", 3)
    out = tmp_path / "out.csv"
    assert run(f"replay:{src}?speed=0&loop=1", "-o", str(out), "--frames", "10").exit_code == 0
    assert [r.frame.t for r in read(out)[1]] == pytest.approx([i / 10 for i in range(10)])


def test_records_from_the_fake_i2c_sensor(tmp_path: Path, fake_i2c: list[object]) -> None:
    out = tmp_path / "i2c.csv"
    result = run("i2c://1/0x69?fps=10", "-o", str(out), "--frames", "3", "--label", "count=0")
    assert result.exit_code == 0, result.output
    reader, records = read(out)
    assert reader.meta["sensor"] == "amg88xx" and reader.meta["fps"] == "10"
    assert len(records) == 3 and all(r.labels.count == 0 for r in records)
    assert all(r.frame.thermistor is not None for r in records)


# -- refusing ----------------------------------------------------------------------------------


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    src = make_trace(tmp_path / "src.csv", 5)
    out = tmp_path / "keep.csv"
    out.write_text("precious\n")
    line = one_error_line(run(f"replay:{src}?speed=0", "-o", str(out)))
    assert "already exists" in line and "--force" in line
    assert out.read_text() == "precious\n"
    assert run(f"replay:{src}?speed=0", "-o", str(out), "--force").exit_code == 0
    assert len(read(out)[1]) == 5


@pytest.mark.parametrize(
    "labels, words",
    [
        (["mood=happy"], ["'mood=happy'", "count, presence, posture, orientation"]),
        (["count"], ["KEY=VALUE"]),
        (["count=-1"], ["count", "whole number"]),
        (["count=two"], ["count", "whole number"]),
        (["count=1.5"], ["count"]),
        (["posture=crouching"], ["'crouching'", "standing, sitting, lying"]),
        (["orientation=left"], ["'left'", "facing, side, away"]),
        (["presence=yes"], ["presence", "1", "0"]),
        (["count=0", "presence=1"], ["disagrees"]),
        (["count=0", "posture=standing"], ["count=0"]),
        (["presence=0", "orientation=away"], ["presence=0"]),
        (["count=1", "count=2"], ["twice"]),
    ],
)
def test_bad_labels_exit_2_with_one_line(tmp_path: Path, labels: list[str], words: list[str]) -> None:
    src = make_trace(tmp_path / "src.csv", 5)
    out = tmp_path / "out.csv"
    args = [a for label in labels for a in ("--label", label)]
    line = one_error_line(run(f"replay:{src}?speed=0", "-o", str(out), *args))
    for word in words:
        assert word in line
    assert not out.exists()


@pytest.mark.parametrize(
    "args, word",
    [
        (["--meta", "site"], "KEY=VALUE"),
        (["--meta", "a:b=1"], "KEY=VALUE"),
        (["--meta", "heatcast-trace=2"], "format version"),
        (["--seconds", "0"], "--seconds"),
        (["--seconds", "-3"], "--seconds"),
        (["--seconds", "soon"], "--seconds"),
        (["--seconds", "inf"], "--seconds"),
        (["--frames", "0"], "--frames"),
        (["--frames", "1.5"], "--frames"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path: Path, args: list[str], word: str) -> None:
    src = make_trace(tmp_path / "src.csv", 5)
    out = tmp_path / "out.csv"
    assert word in one_error_line(run(f"replay:{src}?speed=0", "-o", str(out), *args))
    assert not out.exists()


@pytest.mark.parametrize(
    "source, word",
    [
        ("replay:/no/such/trace.csv", "does not exist"),
        ("webcam:0", "unknown frame source"),
        ("replay:{src}?nope=1", "nope"),
        ("replay:{src}?rotate=45", "rotate"),
    ],
)
def test_bad_sources_exit_2_with_one_line(tmp_path: Path, source: str, word: str) -> None:
    src = make_trace(tmp_path / "src.csv", 5)
    out = tmp_path / "out.csv"
    assert word in one_error_line(run(source.format(src=src), "-o", str(out)))
    assert not out.exists()


def test_out_that_is_a_folder(tmp_path: Path) -> None:
    src = make_trace(tmp_path / "src.csv", 5)
    assert "folder" in one_error_line(run(f"replay:{src}?speed=0", "-o", str(tmp_path)))


def test_a_source_failing_midway_keeps_what_was_recorded(tmp_path: Path) -> None:
    src = make_trace(tmp_path / "src.csv", 10)
    src.write_text(src.read_text() + "9,broken\n")
    out = tmp_path / "out.csv.gz"
    line = one_error_line(run(f"replay:{src}?speed=0", "-o", str(out)))
    assert "src.csv, line 16" in line
    assert len(read(out)[1]) == 10


# -- Ctrl-C ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["live.csv", "live.csv.gz"])
def test_ctrl_c_keeps_a_valid_trace(tmp_path: Path, name: str) -> None:
    src = make_trace(tmp_path / "src.csv", 3000, fps=50)  # a minute at real time: Ctrl-C comes first
    out = tmp_path / name
    code = "from heatcast.firmware.cli import main; main()"
    args = ["record", f"replay:{src}", "-o", str(out), "--label", "count=2"]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 60
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.6)  # some frames at 50 fps
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped by Ctrl-C" in err and "Traceback" not in err
    _, records = read(out)
    assert 5 <= len(records) < 3000
    assert all(r.labels.count == 2 for r in records)
    assert [r.frame.seq for r in records] == list(range(len(records)))


def test_interrupt_while_writing_is_deferred_until_the_frame_is_written() -> None:
    state = _Interrupt(writing=True)
    state.handler(signal.SIGINT, None)
    assert state.pending
    state = _Interrupt(writing=False)
    with pytest.raises(KeyboardInterrupt):
        state.handler(signal.SIGINT, None)


def test_record_frames_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    def frames() -> Iterator[Frame]:
        for i in range(100):
            if i == 12:
                os.kill(os.getpid(), signal.SIGINT)  # as a user pressing Ctrl-C while waiting for a frame
                time.sleep(1)
            yield Frame(np.full((8, 8), 22.0, dtype=np.float32), None, i / 10, i)

    previous = signal.getsignal(signal.SIGINT)
    with TraceWriter(tmp_path / "t.csv", labels=("count",)) as writer:
        result = record_frames(frames(), writer, Labels(count=1))
    assert signal.getsignal(signal.SIGINT) is previous
    assert result.interrupted and result.frames == 12 and "Ctrl-C" in result.reason
    assert len(read(tmp_path / "t.csv")[1]) == 12


# -- helpers ---------------------------------------------------------------------------------


def test_parse_labels_and_meta() -> None:
    assert parse_labels(["COUNT=3", " posture = lying "]) == Labels(count=3, posture="lying")
    assert parse_labels([]) == Labels()
    assert parse_labels(["presence=1", "count=2"]) == Labels(count=2, presence=True)
    assert parse_meta(["site=Shop 4", "note=a=b"]) == {"site": "Shop 4", "note": "a=b"}
    with pytest.raises(UsageError):
        parse_meta(["=x"])


def test_progress_line_on_a_terminal() -> None:
    stream = io.StringIO()
    clock = FakeClock()
    progress = Progress(Path("x.csv"), 10.0, None, stream=stream, enabled=True, clock=clock)
    progress.update(1, 0.0)
    progress.update(2, 0.1)  # too soon: not redrawn
    clock.advance(1)
    progress.update(51, 5.0)
    progress.finish()
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n")
    assert "recording x.csv: 51 frames, 5.0 s   50%  10.0 fps" in text
    assert "Ctrl-C" in text


def test_progress_is_silent_off_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(Path("x.csv"), None, 100, stream=stream)
    progress.update(10, 1.0, force=True)
    progress.finish()
    assert stream.getvalue() == ""
    assert "10%" in progress.text(10, 1.0)
