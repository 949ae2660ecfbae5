"""``heatcast replay`` and ``heatcast eval`` through the real command group."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from classify_helpers import SHARED, labels_of
from click.testing import CliRunner

from heatcast.firmware.cli import main

pytestmark = pytest.mark.tflite


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_replay_jsonl_one_object_per_frame(sim_traces: list[Path]) -> None:
    code, out, err = run("replay", str(sim_traces[0]), "--jsonl")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    labels = labels_of(sim_traces[0])
    assert len(lines) == len(labels)
    ts = [x["t"] for x in lines]
    assert ts == sorted(ts) and ts[0] == 0.0
    for x in lines:
        assert {"t", "presence", "count", "posture", "orientation"} <= set(x)
        assert isinstance(x["presence"], bool) and isinstance(x["count"], int)
        assert x["presence"] == (x["count"] > 0)
        if x["presence"]:
            assert x["posture"] in ("standing", "sitting", "lying")
            assert x["orientation"] in ("facing", "side", "away")
        else:
            assert x["posture"] is None and x["orientation"] is None
    agree = sum(x["presence"] == lab.present for x, lab in zip(lines, labels, strict=True))
    assert agree / len(lines) > 0.8


def test_replay_timeline_and_png(sim_traces: list[Path], tmp_path: Path) -> None:
    png = tmp_path / "timeline.png"
    code, out, err = run("replay", str(sim_traces[1]), "--png", str(png))
    assert code == 0, err
    assert "nobody" in out or "person" in out
    assert "frames/s" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_replay_baseline(sim_traces: list[Path]) -> None:
    code, out, err = run("replay", str(sim_traces[0]), "--baseline", "--jsonl")
    assert code == 0, err
    assert len(out.splitlines()) == len(labels_of(sim_traces[0]))


def test_eval_json_shape_and_values(sim_traces: list[Path], tmp_path: Path) -> None:
    plots = tmp_path / "plots"
    code, out, err = run("eval", str(sim_traces[0].parent), "--json", "--plots", str(plots))
    assert code == 0, err
    report = json.loads(out)
    total = sum(len(labels_of(p)) for p in sim_traces)
    assert report["frames"] == total
    assert len(report["files"]) == len(sim_traces)
    for name in ("presence", "count", "posture", "orientation"):
        s = report["labels"][name]
        assert 0.0 <= s["accuracy"] <= 1.0 and 0.0 <= s["macro_f1"] <= 1.0
        assert sum(map(sum, s["confusion"])) == s["frames"]
        assert len(s["confusion"]) == len(s["classes"])
    assert report["labels"]["presence"]["frames"] == total
    assert 0.0 <= report["false_presence_rate"] <= 1.0
    assert report["empty_frames"] == report["labels"]["presence"]["confusion"][0][0] + \
        report["labels"]["presence"]["confusion"][0][1]  # fmt: skip
    assert report["arrival_latency_frames"]["arrivals"] >= 1
    assert report["frames_per_second"] > 0
    assert sorted(p.name for p in plots.iterdir()) == [
        "confusion-count.png", "confusion-orientation.png", "confusion-posture.png", "confusion-presence.png",
    ]  # fmt: skip


def test_eval_text_and_baseline_on_real_recordings() -> None:
    code, out, err = run("eval", str(SHARED / "snapshots-75.csv"), "--baseline")
    assert code == 0, err
    assert "bgsub" in out and "count" in out and "posture      not labelled" in out
    assert "beside the yardstick" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "no-such.csv"], "no such trace"),
        (["eval", "no-such-dir"], "no such trace"),
        (["replay", "{shared}", "--model", "missing.tflite"], "missing.tflite"),
        (["replay", "{shared}", "--baseline", "--model", "x.tflite"], "--baseline"),
        (["replay", "{bad}"], "line"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("# heatcast-trace: 1\nt,thermistor\n")
    args = [a.format(shared=SHARED / "snapshots-75.csv", bad=bad) for a in args]
    code, _, err = run(*args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_replay_with_content_db_adds_the_chosen_url(sim_traces: list[Path]) -> None:
    from heatcast.firmware.catalogue import bundled_catalogue_path

    code, out, err = run(
        "replay", str(sim_traces[0]), "--jsonl", "--content-db", str(bundled_catalogue_path())
    )
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == len(labels_of(sim_traces[0]))
    assert all(x["url"].startswith("https://") for x in lines)
    code, _, err = run("replay", str(sim_traces[0]), "--content-db", "no-such.db")
    assert code == 2 and "no-such.db" in err


def test_eval_prints_bgsub_beside_heatcast_and_the_bands(indsim_scenes: list[Path]) -> None:
    code, out, err = run("eval", *(str(p) for p in indsim_scenes[:3]))
    assert code == 0, err
    assert "beside the yardstick" in out and "bgsub" in out
    for band in ("distance: ", "ambient: ", "cold start: "):
        assert band in out, band
    code, out, err = run("eval", *(str(p) for p in indsim_scenes[:3]), "--json")
    report = json.loads(out)
    assert report["yardstick"]["runner"] == "bgsub"
    # bgsub has no orientation rule: not decided, rather than scored as always wrong
    theirs = report["yardstick"]["labels"]["orientation"]
    assert theirs["decided"] is False and theirs["accuracy"] is None and theirs["frames"] > 0
    assert report["labels"]["orientation"]["decided"] is True
    bands = report["bands"]
    assert sum(row["frames"] for row in bands["ambient"].values()) == report["frames"]
    assert set(bands["distance"]) <= {"0.5-1.5 m", "1.5-3 m", "3-5 m", "over 5 m"}
