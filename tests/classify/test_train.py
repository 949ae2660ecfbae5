"""Training and site tuning: tiny data, few steps.

A short training run makes a model that loads, beats chance and is not replaced blindly; site
tuning holds out whole recordings, caches the simulated scenes' features, shows one updating
progress line, and its guard refuses a model that got worse.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from classify_helpers import simulate, write_trace

from heatcast.classify.evaluate import evaluate
from heatcast.classify.model import MAX_MODEL_BYTES, load_model
from heatcast.classify.pipeline import Pipeline
from heatcast.sensor.sim import SIM_VERSION

TOOL = Path(__file__).resolve().parents[2] / "tools" / "train_thermal.py"


def train(out: Path, cache: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("tensorflow")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, str(TOOL), "--out", str(out), "--cache", str(cache), "--synthetic-traces", "6",
           "--heldout-traces", "2", "--seconds", "40", "--epochs", "2", "--seed", "5", *extra]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    """The tool's run, its output decoded as is (text mode would turn the progress line's \\r into \\n)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, timeout=600, env=env)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


def load_tool() -> ModuleType:
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_thermal_under_test", TOOL)
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = tool  # its dataclasses look their module up there
    spec.loader.exec_module(tool)
    return tool


def test_short_training_run_makes_a_model_that_loads_and_beats_chance(
    tmp_path: Path, sim_traces: list[Path]
) -> None:
    out = tmp_path / "tiny.tflite"
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "sim-0123456789ab-1-1-40s-10fps.npz").write_bytes(b"an older simulator's scene")
    (cache / "notes.txt").write_text("not heatcast's")
    done = train(out, cache, "--from-scratch", "--stride", "2", str(sim_traces[0]))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "held-out simulated" in done.stdout
    assert out.stat().st_size <= MAX_MODEL_BYTES
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["labels"]["count"] == ["0", "1", "2", "3", "4+"]
    assert side["training"]["synthetic_traces"] == 6
    assert side["training"]["labelled_traces"][0]["frames"] == 900
    assert side["training"]["frame_stride"] == 2
    assert len(side["training"]["sha256"]) == 64
    assert side["input"]["quantization"]["scale"] > 0
    assert (tmp_path / "tiny-confusion.png").read_bytes()[:4] == b"\x89PNG"
    # a simulator change must never reuse scenes it would no longer render
    # ... nor keep the scenes of older versions
    cached = sorted(p.name for p in cache.glob("*.npz"))
    assert cached and all(name.startswith(f"sim-{SIM_VERSION}-") for name in cached)
    assert (cache / "notes.txt").exists()
    load_model(out)
    report = evaluate(Pipeline(out), [sim_traces[1]])
    s = report["labels"]["presence"]
    truth = np.array(s["confusion"]).sum(axis=1)
    assert s["accuracy"] > truth.max() / truth.sum()


def test_a_better_model_is_kept_unless_forced(tmp_path: Path, shipped_model: Path) -> None:
    out = tmp_path / "model.tflite"
    shutil.copy(shipped_model, out)
    shutil.copy(shipped_model.with_suffix(".json"), out.with_suffix(".json"))
    before = out.read_bytes()
    done = train(out, tmp_path / "cache")
    assert done.returncode == 1, done.stderr[-3000:]
    assert "--force" in done.stderr
    assert out.read_bytes() == before
    done = train(out, tmp_path / "cache", "--force")
    assert done.returncode == 0, done.stderr[-3000:]
    assert out.read_bytes() != before


def test_warm_objects_show_only_where_the_background_holds_them() -> None:
    from heatcast.classify import features

    tool = load_tool()
    x = np.zeros((2000, *features.INPUT_SHAPE), np.float32)
    tool.add_warm_objects(x, 0.3, np.random.default_rng(3))
    d = len(features.LAGS)
    touched = x.max(axis=(1, 2, 3)) > 0
    assert 0.25 < touched.mean() < 0.35
    # there since the cold start: warmth and relief, never a difference from the background
    assert not x[..., :d].any() and not x[..., d + 2 :].any()
    assert np.array_equal(x[..., d], x[..., d + 1])
    peak = x[touched, ..., d].max(axis=(1, 2)) * features.SCALE_C
    assert peak.max() <= 14.0 and np.median(peak) > 3.0


# ------------------------------------------------------------------ site tuning
def recording(tool: ModuleType, name: str, frames: int = 20, **labels: int) -> Any:
    """A recording of ``frames`` frames, every one carrying ``labels`` (-1: not labelled)."""
    from heatcast.classify.tracebatch import Chunk

    def col(key: str) -> np.ndarray:
        return np.full(frames, labels.get(key, -1), np.int32)

    chunk = Chunk(
        np.arange(frames) / 10.0, np.full(frames, 25.0), np.full((frames, 8, 8), 22.0, np.float32),
        col("count"), col("presence"), col("posture"), col("orientation"),
    )  # fmt: skip
    return tool.Recording(name, chunk, 10.0, site=True)


def test_the_heldout_split_never_shares_a_recording_with_training() -> None:
    tool = load_tool()
    recs = [
        *(recording(tool, f"empty-{k}", count=0, presence=0) for k in range(3)),
        *(recording(tool, f"sitting-{k}", count=1, presence=1, posture=1) for k in range(2)),
        recording(tool, "lying-0", count=1, presence=1, posture=2),
    ]
    train, held, notes = tool.split_recordings(recs)
    train_names, held_names = {r.name for r in train}, {r.name for r in held}
    assert not train_names & held_names
    assert train_names | held_names == {r.name for r in recs}
    # one recording out per label value that several carry ...
    assert any(n.startswith("empty-") for n in held_names)
    assert any(n.startswith("sitting-") for n in held_names)
    # ... never the only one of a value, and the training side keeps every value
    assert "lying-0" in train_names
    assert any("posture=lying" in n and "only one recording" in n for n in notes)
    trained = set().union(*(tool.label_values(r) for r in train))
    assert set().union(*(tool.label_values(r) for r in recs)) == trained
    # the training frames are exactly the training recordings' frames
    ds = tool.to_dataset(train, keep_unseen=True)
    assert len(ds) == sum(len(r.chunk) for r in train)


def test_the_simulated_features_are_cached_once_and_reused(tmp_path: Path) -> None:
    tool = load_tool()
    args = (31, 2, 6.0, 2, False, tmp_path, 1, "rehearsal scenes")
    first = tool.sim_features(*args)
    assert tool.CACHE_STATS == {"built": 1, "reused": 0}
    again = tool.sim_features(*args)
    assert tool.CACHE_STATS == {"built": 1, "reused": 1}
    assert len(first) == len(again) > 0
    assert np.allclose(first.x, again.x, atol=2e-3)
    assert all(np.array_equal(first.y[h], again.y[h]) for h in first.y)
    # another set (another seed) is another file, built anew
    tool.sim_features(32, *args[1:])
    assert tool.CACHE_STATS == {"built": 2, "reused": 1}
    assert len(list(tmp_path.glob("features-*.npz"))) == 2


def test_progress_is_one_line_that_updates_with_the_time_left() -> None:
    import io

    tool = load_tool()
    out = io.StringIO()
    bar = tool.Progress(40, "fine-tuning", out, every_s=0.0)
    for k in range(1, 41):
        bar.update(k, f"loss {1 / k:.3f}")
    bar.close("fine-tuning: done")
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.count("\r") == 41
    assert "left" in text and "40/40" in text


def test_the_guard_refuses_a_model_with_shuffled_weights_and_says_why(
    tmp_path: Path, sim_traces: list[Path], shipped_model: Path
) -> None:
    pytest.importorskip("tensorflow")
    import json as json_

    from heatcast.classify import features

    tool = load_tool()
    recs = tool.labelled(sim_traces)
    calib = tool.to_dataset(recs, keep_unseen=True)
    model = tool.keras_from_tflite(shipped_model, 1)
    # the float model rebuilt from the int8 one decides as it does
    agree = tool.agreement(model, shipped_model, calib.x[::3])
    assert min(agree.values()) > 0.9, agree
    rng = np.random.default_rng(0)
    model.set_weights([rng.permutation(w.ravel()).reshape(w.shape) for w in model.get_weights()])
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(tool.to_tflite(model, calib, 1))
    bad.with_suffix(".json").write_text(json_.dumps({"input": features.describe()}))
    shipped = tool.pipeline_scores(shipped_model, recs)
    tuned = tool.pipeline_scores(bad, recs)
    reasons = tool.guard(shipped, tuned, shipped, tuned)
    assert reasons
    assert any("held-out simulated scenes" in r and "shipped model" in r for r in reasons), reasons
    # the shipped model against itself passes
    assert tool.guard(shipped, shipped, shipped, shipped) == []


def test_bad_site_folders_are_one_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = run_tool("--out", str(tmp_path / "m.tflite"), str(empty))
    assert done.returncode == 2
    assert "no trace files" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    one = tmp_path / "one"
    one.mkdir()
    write_trace(one / "a.csv.gz", simulate(11, 5.0))
    done = run_tool("--out", str(tmp_path / "m.tflite"), str(one))
    assert done.returncode == 2
    assert "only one labelled recording" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_site_tune_end_to_end_fine_tunes_guards_and_reuses_its_cache(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    site = tmp_path / "site"
    site.mkdir()
    for k in range(4):
        write_trace(site / f"rec-{k}.csv.gz", simulate(9100 + k, 12.0))
    out, cache = tmp_path / "site-model" / "model.tflite", tmp_path / "cache"
    args = ("--out", str(out), "--cache", str(cache), "--steps", "15", "--rehearsal-traces", "3",
            "--rehearsal-seconds", "10", "--guard-traces", "2", "--guard-seconds", "10",
            str(site))  # fmt: skip
    done = run_tool(*args)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "held out: " in done.stdout
    assert "sim: shipped" in done.stdout and "site: tuned" in done.stdout
    # the progress bar: one line, updated in place, ended once
    bar = done.stderr[done.stderr.index("fine-tuning [") :]
    bar = bar[: bar.index("\n")]
    assert "left" in bar and "fine-tuning: 15 steps" in bar
    if done.returncode == 0:
        side = json.loads(out.with_suffix(".json").read_text())
        assert side["training"]["mode"] == "site fine-tune"
        assert side["heldout"]["guard"]["passed"] is True
        held = set(side["heldout"]["labelled"]["recordings"])
        assert held and not held & {t["path"] for t in side["training"]["labelled_traces"]}
        assert side["heldout"]["simulated"]["shipped"]["labels"]["presence"]["accuracy"] is not None
        load_model(out)
    else:
        assert "refused to install" in done.stderr and not out.exists()
    assert "cached features" in done.stderr and "reusing cached features" not in done.stderr
    again = run_tool(*args, "--base", str(Path(str(TOOL)).parents[1] / "classify" / "model.tflite"))
    assert again.returncode in (0, 1), again.stderr[-3000:]
    assert "reusing cached features" in again.stderr
