"""``heatcast bench``: run every benchmark several times and write ``benchmarks/results.json``.

Each ``benchmarks/bench_*.py`` has a ``run() -> dict`` function. Every run of
every benchmark happens in a fresh Python process (so one benchmark's imports,
caches and memory never colour another's), ``--repeat`` times; each number
the benchmark returns is reported with its median, minimum, maximum and
spread, because the machines heatcast is measured on are noisy.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from heatcast.errors import UsageError

#: Loads one benchmark file by path, runs it, writes its dict as JSON.
RUNNER = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("heatcast_bench_" + sys.argv[3], sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
result = module.run()
with open(sys.argv[2], "w") as out:
    json.dump(result, out, default=str)
"""


def default_bench_dir() -> Path:
    """``benchmarks/`` of the checkout heatcast runs from (or of the current directory)."""
    import heatcast

    candidates = [Path.cwd() / "benchmarks", Path(heatcast.__file__).resolve().parent.parent / "benchmarks"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise UsageError(
        "no benchmarks/ folder found: run heatcast bench from a clone of the heatcast repository, "
        "or give --dir"
    )


def discover(bench_dir: Path, only: tuple[str, ...] = ()) -> list[tuple[str, Path]]:
    found = sorted((p.stem.removeprefix("bench_"), p) for p in bench_dir.glob("bench_*.py"))
    if only:
        unknown = sorted(set(only) - {name for name, _ in found})
        if unknown:
            names = ", ".join(name for name, _ in found) or "none"
            raise UsageError(f"no benchmark named {', '.join(unknown)} in {bench_dir}; there are: {names}")
        found = [(name, path) for name, path in found if name in only]
    if not found:
        raise UsageError(f"no benchmarks (bench_*.py) in {bench_dir}")
    return found


def run_once(path: Path, name: str, timeout: float) -> tuple[dict[str, Any] | None, str]:
    """One run in a fresh interpreter: (its result, or None; its output for the log)."""
    out_file = path.parent / f".{name}.{os.getpid()}.result.json"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", RUNNER, str(path), str(out_file), name],
            cwd=path.parent.parent,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        output = (proc.stdout + proc.stderr).strip()
        if proc.returncode != 0:
            tail = "\n".join(output.splitlines()[-15:])
            return None, f"exit status {proc.returncode}:\n{tail}"
        result = json.loads(out_file.read_text())
        if not isinstance(result, dict):
            return None, f"run() returned {type(result).__name__}, not a dict"
        return result, output
    except subprocess.TimeoutExpired:
        return None, f"did not finish within {timeout:g} s"
    except (OSError, ValueError) as exc:
        return None, f"no result: {exc}"
    finally:
        out_file.unlink(missing_ok=True)


def _leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _leaves(sub, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per metric: median, min, max, spread (max - min), spread in % of the median, the runs."""
    columns: dict[str, list[Any]] = {}
    for result in runs:
        for key, value in _leaves(result):
            columns.setdefault(key, []).append(value)
    out: dict[str, Any] = {}
    for key, values in columns.items():
        numbers = [_number(v) for v in values]
        if values and all(n is not None for n in numbers):
            nums = [n for n in numbers if n is not None]
            median = statistics.median(nums)
            spread = max(nums) - min(nums)
            out[key] = {
                "median": _round(median),
                "min": _round(min(nums)),
                "max": _round(max(nums)),
                "spread": _round(spread),
                "spread_pct": _round(100 * spread / abs(median)) if median else None,
                "runs": [_round(n) for n in nums],
            }
        else:
            distinct = list(dict.fromkeys(json.dumps(v, default=str, sort_keys=True) for v in values))
            out[key] = values[0] if len(distinct) == 1 else {"runs": values}
    return out


def _round(x: float) -> float:
    if x == 0 or not (abs(x) < float("inf")):
        return x
    digits = max(0, 4 - len(str(int(abs(x)))))
    return round(x, digits)


def _git_commit(repo: Path) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() or None


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def write_results(path: Path, results: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


@click.command()
@click.option("--repeat", "-n", type=click.IntRange(1, 50), default=3, show_default=True,
              help="Runs of each benchmark (each in a fresh process).")  # fmt: skip
@click.option("--only", multiple=True, metavar="NAME",
              help="Run only bench_NAME.py (repeatable); the others keep their last figures.")  # fmt: skip
@click.option("--dir", "bench_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of bench_*.py files. Default: benchmarks/ of the checkout.")  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Results file. Default: results.json in the benchmarks folder.")  # fmt: skip
@click.option("--timeout", type=click.FloatRange(1), default=1800.0, show_default=True,
              help="Seconds one run of one benchmark may take.")  # fmt: skip
def bench(
    repeat: int, only: tuple[str, ...], bench_dir: Path | None, out: Path | None, timeout: float
) -> None:
    """Run the benchmarks and write their figures, with their spread, to results.json."""
    import heatcast

    bench_dir = bench_dir or default_bench_dir()
    if not bench_dir.is_dir():
        raise UsageError(f"{bench_dir} is not a folder of benchmarks; give --dir")
    out = out or bench_dir / "results.json"
    found = discover(bench_dir, only)
    previous: dict[str, Any] = {}
    if only and out.exists():
        try:
            previous = json.loads(out.read_text()).get("benchmarks", {})
        except (OSError, ValueError):
            previous = {}
    results: dict[str, Any] = {
        "heatcast": heatcast.__version__,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": _git_commit(bench_dir.parent),
        "machine": machine(),
        "repeat": repeat,
        "benchmarks": dict(previous),
        "failed": {},
    }
    for name, path in found:
        runs: list[dict[str, Any]] = []
        for i in range(repeat):
            click.echo(f"{name}: run {i + 1}/{repeat} ...", err=True)
            started = time.monotonic()
            result, log = run_once(path, name, timeout)
            if result is None:
                click.echo(f"{name}: FAILED: {log}", err=True)
                results["failed"][name] = log
                break
            runs.append(result)
            click.echo(f"{name}: run {i + 1} took {time.monotonic() - started:.1f} s", err=True)
        if runs:  # figures from the runs that finished, even if a later one failed
            results["benchmarks"][name] = aggregate(runs)
            _print_table(name, results["benchmarks"][name])
        write_results(out, results)
    click.echo(f"wrote {out}")
    if results["failed"]:
        raise UsageError(f"benchmark(s) failed: {', '.join(results['failed'])} (details above and in {out})")


def _print_table(name: str, figures: dict[str, Any]) -> None:
    for key, value in figures.items():
        if isinstance(value, dict) and "median" in value:
            pct = f", spread {value['spread_pct']:.1f}%" if value.get("spread_pct") is not None else ""
            click.echo(
                f"  {name}.{key}: {value['median']:g} (min {value['min']:g}, max {value['max']:g}{pct})"
            )
        else:
            click.echo(f"  {name}.{key}: {value}")
