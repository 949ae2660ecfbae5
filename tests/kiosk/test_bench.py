"""heatcast bench: every bench_*.py, each run in a fresh process, figures with their spread."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from heatcast.firmware.cli import main
from heatcast.firmware.cli_bench import aggregate

BENCH = """
import os, time
def run():
    # a different pid each run proves each run is a fresh process
    return {"pid": os.getpid(), "value": 10.0 + (os.getpid() % 3), "nested": {"count": 7}, "label": "x"}
"""


def test_aggregate_reports_median_and_spread():
    out = aggregate(
        [
            {"a": 1.0, "b": {"c": 4}, "s": "k"},
            {"a": 3.0, "b": {"c": 4}, "s": "k"},
            {"a": 2.0, "b": {"c": 4}, "s": "k"},
        ]
    )
    assert out["a"] == {
        "median": 2.0,
        "min": 1.0,
        "max": 3.0,
        "spread": 2.0,
        "spread_pct": 100.0,
        "runs": [1.0, 3.0, 2.0],
    }
    assert out["b.c"]["spread"] == 0 and out["s"] == "k"
    assert aggregate([{"s": "a"}, {"s": "b"}])["s"] == {"runs": ["a", "b"]}


def test_bench_runs_each_benchmark_in_fresh_processes(tmp_path):
    bench_dir = tmp_path / "benchmarks"
    bench_dir.mkdir()
    (bench_dir / "bench_toy.py").write_text(BENCH)
    (bench_dir / "bench_broken.py").write_text("def run():\n    raise RuntimeError('boom')\n")
    (bench_dir / "helper.py").write_text("raise SystemExit('not a benchmark')\n")
    result = CliRunner().invoke(main, ["bench", "--dir", str(bench_dir), "--repeat", "3"])
    assert result.exit_code == 2, result.output
    assert "broken" in result.output and "boom" in result.output
    data = json.loads((bench_dir / "results.json").read_text())
    assert data["repeat"] == 3 and data["machine"]["cpus"] == os.cpu_count()
    toy = data["benchmarks"]["toy"]
    assert len(set(toy["pid"]["runs"])) == 3 and os.getpid() not in toy["pid"]["runs"]
    assert toy["nested.count"]["median"] == 7 and toy["label"] == "x"
    assert "broken" in data["failed"] and "boom" in data["failed"]["broken"]
    assert "broken" not in data["benchmarks"]  # no run of it finished
    assert not list(bench_dir.glob(".*result.json")) and not (bench_dir / "results.json.tmp").exists()

    # --only keeps the other figures
    (bench_dir / "bench_broken.py").unlink()
    result = CliRunner().invoke(main, ["bench", "--dir", str(bench_dir), "--only", "toy", "-n", "1"])
    assert result.exit_code == 0, result.output
    again = json.loads((bench_dir / "results.json").read_text())
    assert again["repeat"] == 1 and len(again["benchmarks"]["toy"]["pid"]["runs"]) == 1


def test_unknown_benchmark_is_one_clear_error(tmp_path):
    (tmp_path / "bench_a.py").write_text("def run():\n    return {}\n")
    result = CliRunner().invoke(main, ["bench", "--dir", str(tmp_path), "--only", "nope"])
    assert (
        result.exit_code == 2
        and "no benchmark named nope" in result.output
        and "there are: a" in result.output
    )


def test_the_real_benchmarks_folder_is_found():
    from heatcast.firmware.cli_bench import default_bench_dir

    assert default_bench_dir() == Path(__file__).resolve().parents[2] / "benchmarks"
