"""A short training run: tiny data, one epoch; the model loads, beats chance, and is not replaced blindly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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


def test_short_training_run_makes_a_model_that_loads_and_beats_chance(
    tmp_path: Path, sim_traces: list[Path]
) -> None:
    out = tmp_path / "tiny.tflite"
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "sim-0123456789ab-1-1-40s-10fps.npz").write_bytes(b"an older simulator's scene")
    (cache / "notes.txt").write_text("not heatcast's")
    done = train(out, cache, "--stride", "2", str(sim_traces[0]))
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
    import importlib.util

    from heatcast.classify import features

    spec = importlib.util.spec_from_file_location("train_thermal_under_test", TOOL)
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = tool  # its dataclasses look their module up there
    spec.loader.exec_module(tool)
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
