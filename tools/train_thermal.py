#!/usr/bin/env python3
"""Train heatcast's thermal classifier: one small int8 TFLite model, four heads.

    python tools/train_thermal.py --out classify/model.tflite \\
        [--synthetic-traces N] [--seconds S] [--seed S] [--epochs E] [--force] [TRACE_OR_DIR ...]

Learns from simulated scenes (``heatcast.sensor.sim``: rooms, warm objects,
drift, people standing, sitting, lying, facing, side-on, away) plus any
labelled traces given, e.g. recorded on site with ``heatcast record ... --label
count=1 --label posture=sitting``. Each head learns only from the frames that
carry its label. Held-out scenes (other seeds, so other rooms, sensors and
crowds) and a held-out part of each labelled trace are scored through the full
pipeline; the model, its sidecar ``.json`` and a confusion-matrix ``.png`` are
written next to ``--out``. An existing model that scores better on the same
held-out data is kept unless ``--force`` is given.

Needs the ``[train]`` extra (tensorflow-cpu). Simulated traces are cached in
``--cache`` so that a second run starts training at once; those of older
simulator versions, which are never read again, are deleted.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import io
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from heatcast.classify import features
from heatcast.classify.audience import MAX_COUNT
from heatcast.classify.evaluate import Decisions, decisions_from, score, trace_files
from heatcast.classify.features import FeatureWindow
from heatcast.classify.model import HEADS, LABELS, MAX_MODEL_BYTES, load_model, sidecar_path
from heatcast.classify.pipeline import Pipeline
from heatcast.classify.tracebatch import Chunk, TraceArrays, records_to_chunk
from heatcast.errors import HeatcastError, ModelError, UsageError
from heatcast.sensor.frame import F32

log = logging.getLogger("train_thermal")

I32 = npt.NDArray[np.int32]

#: Held-out simulated scenes come from this seed offset: other rooms, sensors and crowds.
HELDOUT_SEED_OFFSET = 7_000_001
#: Share of simulated traces recorded at 1 fps (AMG88xx's other rate).
SLOW_SHARE = 0.2
#: Someone there since the cold start has shown once a pixel stood this far above the background (C).
UNSEEN_C = 1.0
#: Share of training samples moved one pixel sideways.
SHIFT_SHARE = 0.3
LOSS_WEIGHTS = {"presence": 1.0, "count": 1.0, "posture": 0.6, "orientation": 0.6}


@dataclass
class Recording:
    """One trace: arrays, labels and where it came from."""

    name: str
    chunk: Chunk
    fps: float
    site: bool = False  # recorded on site (not simulated): every frame is kept


# ------------------------------------------------------------------ data
def _sim_trace(args: tuple[int, int, float, float]) -> tuple[str, dict[str, Any]]:
    """Simulate one labelled trace (in a worker process)."""
    from heatcast.sensor.sim import Simulator, random_scene

    seed, i, seconds, fps = args
    scene = random_scene(np.random.default_rng([seed, i]))
    sim = Simulator(seed * 100_003 + i, fps, scene)
    frames = max(1, round(seconds * fps))
    records = []
    for n, record in enumerate(sim.records()):
        if n >= frames:
            break
        records.append(record)
    sim.close()
    c = records_to_chunk(records)
    return scene.describe(), {
        f: getattr(c, f) for f in ("t", "thermistor", "pixels", "count", "presence", "posture", "orientation")
    }


def _cache_file(cache: Path, seed: int, i: int, secs: float, fps: float) -> Path:
    """One simulated trace's cache file, keyed on the simulator's version: stale scenes are never reused."""
    from heatcast.sensor.sim import SIM_VERSION

    return cache / f"sim-{SIM_VERSION}-{seed}-{i}-{secs:g}s-{fps:g}fps.npz"


def prune_stale(cache: Path) -> None:
    """Delete cached scenes of other simulator versions: they are never read again."""
    from heatcast.sensor.sim import SIM_VERSION

    removed = freed = 0
    for path in (*cache.glob("sim-*.npz"), *cache.glob("features-*.npz"), *cache.glob("scores-*.json")):
        if not re.fullmatch(r"(sim|features|scores)-[0-9a-f]{12}-.*", path.name) or (
            path.name.split("-", 2)[1] == SIM_VERSION
        ):
            continue
        try:
            size = path.stat().st_size
            path.unlink()
        except OSError as exc:  # another run pruning too, or a read-only cache: harmless
            log.debug("%s: not removed: %s", path, exc)
            continue
        removed += 1
        freed += size
    if removed:
        log.info("removed %d cached scenes of older simulator versions (%.0f MB)", removed, freed / 1e6)


def simulated(seed: int, traces: int, seconds: float, cache: Path, jobs: int, label: str) -> list[Recording]:
    """``traces`` simulated recordings from ``seed`` (cached on disk)."""
    cache.mkdir(parents=True, exist_ok=True)
    todo = []
    out: list[Recording | None] = [None] * traces
    plan = []
    for i in range(1, traces + 1):
        slow = (i % round(1 / SLOW_SHARE)) == 0
        fps = 1.0 if slow else 10.0
        secs = seconds * 4 if slow else seconds
        path = _cache_file(cache, seed, i, secs, fps)
        plan.append((i, fps, secs, path))
        if not path.exists():
            todo.append((seed, i, secs, fps))
    if todo:
        log.info("simulating %d %s traces (%d cached) ...", len(todo), label, traces - len(todo))
        started = time.monotonic()
        results: Iterator[tuple[str, dict[str, Any]]]
        if jobs > 1:
            import multiprocessing

            pool = multiprocessing.get_context("fork").Pool(jobs)
            results = pool.imap(_sim_trace, todo)
        else:
            pool = None
            results = map(_sim_trace, todo)
        for n, ((s, i, secs, fps), (desc, arrays)) in enumerate(zip(todo, results, strict=True), 1):
            path = _cache_file(cache, s, i, secs, fps)
            tmp = path.with_suffix(".tmp.npz")
            np.savez_compressed(tmp, describe=np.array(desc), **arrays)
            os.replace(tmp, path)
            eta = (time.monotonic() - started) / n * (len(todo) - n)
            _progress(f"  {label}: {n}/{len(todo)} traces simulated, {eta:.0f} s left")
        if pool is not None:
            pool.close()
        _progress("", end="\n")
    recs = []
    for i, fps, _secs, path in plan:
        with np.load(path) as z:
            chunk = Chunk(
                *(z[f] for f in ("t", "thermistor", "pixels", "count", "presence", "posture", "orientation"))
            )
        out[i - 1] = Recording(f"sim seed {seed} #{i}", chunk, fps)
    recs = [r for r in out if r is not None]
    return recs


def labelled(paths: Sequence[Path]) -> list[Recording]:
    """User traces, whole (held-out data is chosen by recording: see :func:`split_recordings`)."""
    recs = []
    for path in paths:
        arrays = TraceArrays(path)
        chunk = arrays.read_all()
        has_label = (chunk.presence >= 0) | (chunk.posture >= 0) | (chunk.orientation >= 0)
        if not has_label.any():
            log.warning("%s has no labels: skipped", path)
            continue
        recs.append(Recording(str(path), chunk, arrays.fps or 10.0, site=True))
    return recs


def label_values(r: Recording) -> set[str]:
    """The ``head=value`` labels that some frame of ``r`` carries."""
    c = r.chunk
    count = np.where(c.count >= 0, np.minimum(c.count, MAX_COUNT), -1)
    out = set()
    for name, y in (("presence", c.presence), ("count", count), ("posture", c.posture),
                    ("orientation", c.orientation)):  # fmt: skip
        out |= {f"{name}={LABELS[name][int(v)]}" for v in np.unique(y) if 0 <= v < len(LABELS[name])}
    return out


def split_recordings(recs: Sequence[Recording]) -> tuple[list[Recording], list[Recording], list[str]]:
    """Training and held-out recordings, and notes on labels that could not be held out.

    Whole recordings are held out, never parts: neighbouring frames of one
    recording are nearly alike, so a held-out block of a recording trained on
    scores what the model remembers, not what it learned. For every label value
    carried by two recordings or more, one of them is held out (the last by
    name, so the choice is stable), unless that would take the last training
    recording of one of its labels.
    """
    values = {r.name: label_values(r) for r in recs}
    held: set[str] = set()
    notes = []
    for value in sorted(set().union(*values.values())) if values else []:
        having = sorted(r.name for r in recs if value in values[r.name])
        if any(name in held for name in having):
            continue
        if len(having) < 2:
            notes.append(f"{value}: only one recording ({having[0]}): trained on, no held-out figure")
            continue
        for name in reversed(having):
            kept = [r.name for r in recs if r.name not in held and r.name != name]
            if all(any(v in values[k] for k in kept) for v in values[name]):
                held.add(name)
                break
        else:
            notes.append(f"{value}: every recording of it is the last of another label: none held out")
    return [r for r in recs if r.name not in held], [r for r in recs if r.name in held], notes


@dataclass
class Dataset:
    x: F32
    y: dict[str, I32]

    def __len__(self) -> int:
        return len(self.x)


def to_dataset(recs: Sequence[Recording], keep_unseen: bool = False, stride: int = 1) -> Dataset:
    """Model inputs (each recording from a cold start) and per-head labels (-1: unlabelled).

    ``stride`` keeps every so many frames of simulated recordings (neighbouring
    frames are nearly alike: more scenes, not more frames, teach the model to generalise).
    """
    xs: list[F32] = []
    ys: dict[str, list[I32]] = {h: [] for h in HEADS}
    for r in recs:
        c = r.chunk
        x: F32 = np.asarray(FeatureWindow().many(c.pixels, c.t, c.thermistor), dtype=np.float32)
        keep = np.ones(len(c), dtype=bool)
        if stride > 1 and not r.site:
            offset = int(hashlib.sha256(r.name.encode()).hexdigest(), 16) % stride
            keep &= np.arange(len(c)) % stride == offset
        unseen = np.zeros(len(c), dtype=bool) if keep_unseen else unseen_at_start(c, x)
        xs.append(x[keep])
        count = np.where(c.count >= 0, np.minimum(c.count, MAX_COUNT), -1)
        for name, y in (("presence", c.presence), ("count", count), ("posture", c.posture),
                        ("orientation", c.orientation)):  # fmt: skip
            ys[name].append(np.where(unseen, -1, y)[keep].astype(np.int32))
    return Dataset(
        np.concatenate(xs) if xs else np.zeros((0, *features.INPUT_SHAPE), np.float32),
        {h: np.concatenate(v).astype(np.int32) if v else np.zeros(0, np.int32) for h, v in ys.items()},
    )


def unseen_at_start(c: Chunk, x: F32) -> npt.NDArray[np.bool_]:
    """Frames of people there since the cold start who never showed against the background.

    Such a person looks just like a warm object that was there from the start,
    which must count as background; these frames are left out (all heads)
    rather than teach the model to see people in every warm thing.
    """
    run = 0
    while run < len(c) and c.presence[run] == 1:
        run += 1
    out = np.zeros(len(c), dtype=bool)
    if run:
        shown = np.maximum.accumulate(x[:run, ..., 0].max(axis=(1, 2)) * features.SCALE_C >= UNSEEN_C)
        out[:run] = ~shown
    return out


def data_hash(*parts: Dataset) -> str:
    """sha256 of the inputs and labels of ``parts``, as if they were one concatenated dataset."""
    h = hashlib.sha256()
    for ds in parts:
        h.update(np.ascontiguousarray(ds.x).tobytes())
    for name in HEADS:
        for ds in parts:
            h.update(np.ascontiguousarray(ds.y[name]).tobytes())
    return h.hexdigest()


def class_counts(ds: Dataset) -> dict[str, dict[str, int]]:
    return {
        name: {label: int((ds.y[name] == i).sum()) for i, label in enumerate(LABELS[name])} for name in HEADS
    }


# ------------------------------------------------------------------ model
def build_model(seed: int) -> Any:
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inp = keras.Input(features.INPUT_SHAPE, name="window")
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(inp)
    x = layers.Conv2D(24, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(48, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    outs = [layers.Dense(len(LABELS[h]), activation="softmax", name=h)(x) for h in HEADS]
    return keras.Model(inp, outs, name="heatcast_thermal")


_YY, _XX = np.mgrid[0:8, 0:8].astype(np.float32)


def add_warm_objects(x: F32, share: float, rng: np.random.Generator) -> None:
    """Body-warm things there since the cold start (radiators, screens, lamps, a sunny patch), in place.

    Such a thing sits in the background, so it shows in the warmth and relief
    channels only, never in the differences; it changes no
    label. Without them the model takes every warm blob for a person.
    """
    pick = np.flatnonzero(rng.random(len(x)) < share)
    if not len(pick):
        return
    k = len(pick)
    cy, cx = rng.uniform(-0.5, 7.5, (2, k, 1, 1)).astype(np.float32)
    sigma = rng.uniform(0.45, 1.3, (k, 1, 1)).astype(np.float32)
    amp = rng.uniform(2.0, 14.0, (k, 1, 1)).astype(np.float32) / np.float32(features.SCALE_C)
    blob = amp * np.exp(-((_YY - cy) ** 2 + (_XX - cx) ** 2) / (2 * sigma * sigma))
    d = len(features.LAGS)
    x[pick, ..., d] += blob
    x[pick, ..., d + 1] += blob


def augment(x: F32, rng: np.random.Generator, warm_objects: float = 0.0) -> F32:
    """Mirroring, sideways steps, noise, gain, offset, ambient shifts (one draw per sample), warm objects."""
    n = len(x)
    x = x.copy()
    add_warm_objects(x, warm_objects, rng)
    flip = rng.random(n) < 0.5
    x[flip] = x[flip][:, :, ::-1, :]
    # the same scene a step to the side: rooms are not learned by where their things stand
    for step, pick in ((1, rng.random(n) < SHIFT_SHARE / 2), (-1, rng.random(n) < SHIFT_SHARE / 2)):
        src = x[pick]
        moved = np.roll(src, step, axis=2)
        edge = 0 if step > 0 else -1
        moved[:, :, edge] = src[:, :, edge]
        x[pick] = moved
    gain = rng.uniform(0.65, 1.35, (n, 1, 1, 1)).astype(np.float32)
    x[..., :-1] *= gain  # the last channel, hidden, is a likelihood, not a temperature
    d = len(features.LAGS)
    s = np.float32(1.0 / features.SCALE_C)
    x[..., :d] += rng.normal(0.0, 0.08, (n, 1, 1, 1)).astype(np.float32) * s
    # the room's own temperature is only roughly known ...
    x[..., d] += rng.normal(0.0, 0.6, (n, 1, 1)).astype(np.float32) * s
    # ... and every sensor has its own fixed pattern: no room is learned by heart
    x[..., d : d + 2] += rng.normal(0.0, 0.3, (n, 8, 8, 1)).astype(np.float32) * s
    x[..., :-1] += rng.normal(0.0, 0.06, (n, 8, 8, x.shape[-1] - 1)).astype(np.float32) * s
    return x


def batches(
    ds: Dataset, batch: int, rng: np.random.Generator, warm_objects: float = 0.0
) -> Iterator[tuple[Any, Any, Any]]:
    order = rng.permutation(len(ds))
    for start in range(0, len(order) - batch + 1, batch):
        idx = np.sort(order[start : start + batch])
        xb = augment(ds.x[idx], rng, warm_objects)
        yb = [np.maximum(ds.y[h][idx], 0) for h in HEADS]
        wb = [(ds.y[h][idx] >= 0).astype(np.float32) for h in HEADS]
        yield xb, yb, wb


def train(ds: Dataset, epochs: int, seed: int, batch: int = 256, warm_objects: float = 0.0) -> Any:
    import keras

    model = build_model(seed)
    steps = max(1, len(ds) // batch)
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=steps * max(epochs, 1), alpha=0.05)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=["sparse_categorical_crossentropy"] * len(HEADS),
        loss_weights=[LOSS_WEIGHTS[h] for h in HEADS],
        weighted_metrics=[["accuracy"] for _ in HEADS],
    )
    rng = np.random.default_rng([seed, 99])
    for epoch in range(1, epochs + 1):
        started = time.monotonic()
        logs: dict[str, float] = {}
        for k, (xb, yb, wb) in enumerate(batches(ds, batch, rng, warm_objects), 1):
            logs = model.train_on_batch(xb, yb, sample_weight=wb, return_dict=True)
            if k % 20 == 0 or k == steps:
                _progress(f"  epoch {epoch}/{epochs} step {k}/{steps} loss {logs.get('loss', math.nan):.3f}")
        accs = " ".join(f"{h} {logs.get(f'{h}_accuracy', math.nan):.3f}" for h in HEADS)
        _progress(
            f"  epoch {epoch}/{epochs}: loss {logs.get('loss', math.nan):.3f}  {accs}"
            f"  ({time.monotonic() - started:.0f} s)",
            end="\n",
        )
    return model


def to_tflite(model: Any, ds: Dataset, seed: int) -> bytes:
    import tensorflow as tf

    rng = np.random.default_rng([seed, 5])
    idx = rng.choice(len(ds), size=min(len(ds), 1000), replace=False)

    def representative() -> Iterator[list[F32]]:
        for i in idx:
            yield [ds.x[i : i + 1]]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return bytes(conv.convert())


# ------------------------------------------------------------------ scoring
def pipeline_scores(model_path: Path, recs: Sequence[Recording]) -> dict[str, Any]:
    """Held-out scores through the full pipeline (background, model, smoothing), cold start per trace."""
    pipe = Pipeline(model_path)
    total = Decisions()
    for r in recs:
        pipe.reset()
        c = r.chunk
        started = time.perf_counter()
        audiences = pipe.run(c.pixels, c.t, c.thermistor)
        total.extend(decisions_from(audiences, c, time.perf_counter() - started))
    return score(total)


def overall(report: dict[str, Any]) -> float:
    """One number to compare models on the same held-out data: mean accuracy over labels."""
    accs = [s["accuracy"] for s in report["labels"].values() if s["accuracy"] is not None]
    return float(np.mean(accs)) if accs else 0.0


def plot(report: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in HEADS if report["labels"][n]["frames"]]
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(4.2 * max(1, len(names)), 3.8))
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, names, strict=False):
        s = report["labels"][name]
        cm = np.array(s["confusion"], dtype=float)
        ax.imshow(cm / np.maximum(cm.sum(axis=1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
        for (r, c), v in np.ndenumerate(cm):
            ax.text(c, r, f"{int(v)}", ha="center", va="center", fontsize=7)
        ax.set_xticks(range(cm.shape[1]), s["predicted"], rotation=30, fontsize=7)
        ax.set_yticks(range(cm.shape[0]), s["classes"], fontsize=7)
        ax.set_title(f"{name}: acc {s['accuracy']:.3f}, F1 {s['macro_f1']:.3f}", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


class Progress:
    """One line that updates in place (carriage returns, never a line per step), with the time left."""

    def __init__(self, total: int, label: str, stream: IO[str] | None = None, every_s: float = 0.2) -> None:
        self.total = max(1, total)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.every_s = every_s
        self.started = time.monotonic()
        self._last = -math.inf
        self._width = 0

    def update(self, done: int, extra: str = "") -> None:
        now = time.monotonic()
        if done < self.total and now - self._last < self.every_s:
            return
        self._last = now
        elapsed = now - self.started
        left = elapsed / done * (self.total - done) if done else math.nan
        bar = "#" * round(20 * done / self.total)
        text = (
            f"{self.label} [{bar:<20}] {done}/{self.total} {_clock(elapsed)} elapsed, "
            f"{_clock(left)} left{'  ' + extra if extra else ''}"
        )
        self._write(text)

    def _write(self, text: str) -> None:
        self.stream.write("\r" + text.ljust(self._width))
        self._width = len(text)
        self.stream.flush()

    def close(self, text: str = "") -> None:
        if text:
            self._write(text)
        self.stream.write("\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--"
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"


def _progress(text: str, end: str = "\r") -> None:
    """One updating line on stderr (carriage returns), ended by ``end="\\n"``."""
    sys.stderr.write(f"\r{text}\x1b[K{end}" if sys.stderr.isatty() else f"\r{text}{end}")
    sys.stderr.flush()


def _fmt(report: dict[str, Any]) -> str:
    lab = report["labels"]
    parts = [f"{n} {lab[n]['accuracy']:.4f}" for n in HEADS if lab[n]["accuracy"] is not None]
    fp = report.get("false_presence_rate")
    lat = report.get("arrival_latency_frames", {}).get("median")
    extra = []
    if fp is not None:
        extra.append(f"false presence {fp:.4f}")
    if lat is not None:
        extra.append(f"median arrival latency {lat:g} frames")
    return ", ".join(parts + extra)


# ------------------------------------------------------------------ site tuning
#: Rehearsal scenes come from a set the shipped model trained on (its ``2:2500:40``): mixed into every
#: fine-tuning batch, they keep the general case in the loss.
REHEARSAL_SEED = 2
#: Guard scenes: the shipped model's held-out seed, trained on neither by it nor by any tune.
GUARD_SEED = 1 + HELDOUT_SEED_OFFSET
#: A tuned model may be at most this much worse than the shipped one on held-out simulated scenes,
#: per label (accuracy) and in false presence.
MARGIN = 0.02
#: Bump when the cached feature sets change meaning (the simulator and input versions are in the key too).
FEATURE_CACHE_VERSION = 1
#: How often cached feature sets were built and reused (the tests read it: no timing involved).
CACHE_STATS = {"built": 0, "reused": 0}
#: Shown where a model's figure is missing (no frames carry that label).
NONE = "-"


def site_recordings(paths: Sequence[str]) -> list[Recording]:
    """The labelled recordings in ``paths``; a folder without traces or labels is one clear error."""
    recs = labelled(trace_files(paths))
    if not recs:
        raise UsageError(
            f"{' '.join(paths)}: no recording carries a label; record with labels, e.g. "
            "heatcast record ... --label count=0 (see README, Site tuning)"
        )
    return recs


def sim_features(
    seed: int, traces: int, seconds: float, stride: int, keep_unseen: bool, cache: Path, jobs: int, label: str
) -> Dataset:
    """Model inputs and labels of ``traces`` simulated scenes, computed once and cached.

    The file is keyed by a hash of the simulator's and the input's versions and of the set's
    seeds and sizes, so a changed simulator never feeds stale features.
    """
    from heatcast.sensor.sim import SIM_VERSION

    versions = [FEATURE_CACHE_VERSION, SIM_VERSION, features.FEATURE_VERSION]
    key = json.dumps([*versions, seed, traces, seconds, stride, keep_unseen, SLOW_SHARE])
    path = cache / f"features-{SIM_VERSION}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
    if path.exists():
        try:
            with np.load(path) as z:
                ds = Dataset(z["x"].astype(np.float32), {h: z[h].astype(np.int32) for h in HEADS})
        except (OSError, ValueError, KeyError) as exc:  # a torn or foreign file: build it again
            log.warning("%s: unreadable (%s): building it again", path, exc)
        else:
            CACHE_STATS["reused"] += 1
            log.info("%s: reusing cached features of %d frames (%s)", label, len(ds), path.name)
            return ds
    recs = simulated(seed, traces, seconds, cache, jobs, label)
    ds = to_dataset(recs, keep_unseen=keep_unseen, stride=stride)
    tmp = path.with_name(path.stem + ".tmp.npz")
    # float16 halves the file; the int8 input the model runs on is far coarser anyway
    arrays: dict[str, Any] = {"x": ds.x.astype(np.float16), **ds.y}
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    CACHE_STATS["built"] += 1
    log.info("%s: cached features of %d frames (%s)", label, len(ds), path.name)
    return ds


def _tensor_weights(path: Path) -> list[tuple[str, F32]]:
    """(name, dequantised float array) of every constant weight and bias tensor of an int8 TFLite model."""
    import tensorflow as tf

    it = tf.lite.Interpreter(model_path=str(path))
    it.allocate_tensors()
    out = []
    for d in it.get_tensor_details():
        q = d["quantization_parameters"]
        name = str(d["name"])
        is_weight = d["dtype"] == np.int8 and name.endswith(("/MatMul", "/convolution"))
        is_bias = d["dtype"] == np.int32 and len(d["shape"]) == 1 and "BiasAdd" in name and len(q["scales"])
        if not (is_weight or is_bias):
            continue
        raw = it.get_tensor(d["index"]).astype(np.float32)
        axis = int(q["quantized_dimension"])
        shape = [1] * raw.ndim
        shape[axis] = -1
        scales = np.asarray(q["scales"], np.float32).reshape(shape)
        zeros = np.asarray(q["zero_points"], np.float32).reshape(shape)
        out.append((name, (raw - zeros) * scales))
    return out


def keras_from_tflite(path: Path, seed: int) -> Any:
    """The float Keras model rebuilt from an int8 TFLite model's dequantised weights.

    Only the int8 model ships (and site models are int8 too), so fine-tuning starts from
    what any heatcast model file holds: per-channel int8 weights are within half a
    quantisation step of the float ones, which a few fine-tuning steps absorb.
    """
    import keras

    model = build_model(seed)
    tensors = _tensor_weights(path)
    heads = {h: re.compile(rf"/{h}(_\d+)?/") for h in HEADS}

    def head_of(name: str) -> str | None:
        return next((h for h, pat in heads.items() if pat.search(name)), None)

    trunk_w = {w.shape: w for n, w in tensors if w.ndim > 1 and head_of(n) is None}
    trunk_b = {w.shape[0]: w for n, w in tensors if w.ndim == 1 and head_of(n) is None}
    head_w = {head_of(n): w for n, w in tensors if w.ndim > 1 and head_of(n)}
    head_b = {head_of(n): w for n, w in tensors if w.ndim == 1 and head_of(n)}
    try:
        for layer in model.layers:
            if isinstance(layer, keras.layers.Conv2D):
                k = layer.kernel.shape  # (h, w, in, out); TFLite holds (out, h, w, in)
                layer.set_weights([trunk_w[(k[3], k[0], k[1], k[2])].transpose(1, 2, 3, 0), trunk_b[k[3]]])
            elif isinstance(layer, keras.layers.Dense):
                k = layer.kernel.shape  # (in, out); TFLite holds (out, in)
                if layer.name in HEADS:
                    layer.set_weights([head_w[layer.name].T, head_b[layer.name]])
                else:
                    layer.set_weights([trunk_w[(k[1], k[0])].T, trunk_b[k[1]]])
    except (KeyError, ValueError) as exc:
        raise ModelError(
            f"{path}: its layers do not match this trainer's network ({exc}); tune from the shipped "
            "model (--base classify/model.tflite) or train anew with --from-scratch"
        ) from None
    return model


def agreement(model: Any, tflite: Path, x: F32) -> dict[str, float]:
    """Share of samples where the Keras model and the TFLite one pick the same class, per head."""
    m = load_model(tflite)
    ref = m.predict(m.quantize(x))
    got = model.predict(x, verbose=0, batch_size=1024)
    return {h: float((r.argmax(1) == g.argmax(1)).mean()) for h, r, g in zip(HEADS, ref, got, strict=True)}


def fine_tune(
    model: Any,
    site: Dataset,
    rehearsal: Dataset,
    steps: int,
    seed: int,
    batch: int = 256,
    lr: float = 1e-4,
    rehearsal_share: float = 0.5,
    distill: float = 1.0,
    warm_objects: float = 0.1,
    stream: IO[str] | None = None,
) -> dict[str, float]:
    """Fine-tune ``model`` in place: each batch mixes site frames with rehearsed simulated ones.

    Site frames learn their labels. Rehearsed frames learn, with weight ``distill``, what the
    model said before tuning (its soft outputs, on every head, labelled or not) and the rest
    their labels: the general case stays in the loss as the model knew it, so a site whose
    labels lean one way (many sitting, say) cannot drag the shipped behaviour after it.
    """
    import keras

    teacher = keras.models.clone_model(model)
    teacher.set_weights(model.get_weights())
    schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps, alpha=0.1)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=["categorical_crossentropy"] * len(HEADS),
        loss_weights=[LOSS_WEIGHTS[h] for h in HEADS],
    )
    rng = np.random.default_rng([seed, 16])
    n_rehearse = round(batch * rehearsal_share) if len(rehearsal) else 0
    n_site = batch - n_rehearse
    bar = Progress(steps, "fine-tuning", stream)
    logs: dict[str, float] = {}
    for k in range(1, steps + 1):
        i = rng.integers(0, len(site), n_site)
        j = rng.integers(0, max(1, len(rehearsal)), n_rehearse)
        xb = augment(np.concatenate([site.x[i], rehearsal.x[j]]), rng, warm_objects)
        soft = [np.asarray(t) for t in teacher(xb[n_site:], training=False)] if n_rehearse else None
        targets, weights = [], []
        for n, h in enumerate(HEADS):
            y = np.concatenate([site.y[h][i], rehearsal.y[h][j]])
            hard = np.eye(len(LABELS[h]), dtype=np.float32)[np.maximum(y, 0)]
            w = (y >= 0).astype(np.float32)
            if soft is not None:
                labelled_share = np.where(y[n_site:, None] >= 0, 1.0 - distill, 0.0).astype(np.float32)
                hard[n_site:] = labelled_share * hard[n_site:] + (1.0 - labelled_share) * soft[n]
                w[n_site:] = np.maximum(w[n_site:], np.float32(distill > 0))
            targets.append(hard)
            weights.append(w)
        logs = model.train_on_batch(xb, targets, sample_weight=weights, return_dict=True)
        bar.update(k, f"loss {logs.get('loss', math.nan):.3f}")
    bar.close(
        f"fine-tuning: {steps} steps of {n_site} site + {n_rehearse} simulated frames in "
        f"{_clock(time.monotonic() - bar.started)}, loss {logs.get('loss', math.nan):.3f}"
    )
    return logs


def _accuracies(report: dict[str, Any] | None) -> dict[str, float | None]:
    """Per-label accuracy and the false presence rate of a pipeline report (None: no such frames)."""
    if report is None:
        return {h: None for h in (*HEADS, "false presence")}
    out: dict[str, float | None] = {h: report["labels"][h]["accuracy"] for h in HEADS}
    out["false presence"] = report.get("false_presence_rate")
    return out


def guard(
    shipped_sim: dict[str, Any],
    tuned_sim: dict[str, Any],
    before_site: dict[str, Any],
    tuned_site: dict[str, Any],
    margin: float = MARGIN,
) -> list[str]:
    """Why the tuned model must not be installed (empty: it may).

    Refused when it is worse than the shipped model on held-out simulated scenes by more than
    ``margin`` on any label (or in false presence), or worse than the model it started from on
    the site's held-out recordings (mean accuracy over the labels they carry, or false presence
    by more than ``margin``).
    """
    reasons = []
    ship, tuned = _accuracies(shipped_sim), _accuracies(tuned_sim)
    for name in HEADS:
        a, b = ship[name], tuned[name]
        if a is not None and b is not None and b < a - margin:
            reasons.append(
                f"held-out simulated scenes: {name} {b:.3f}, the shipped model {a:.3f} "
                f"(more than {margin:g} worse)"
            )
    a, b = ship["false presence"], tuned["false presence"]
    if a is not None and b is not None and b > a + margin:
        reasons.append(f"held-out simulated scenes: false presence {b:.3f}, the shipped model {a:.3f}")
    before, after = overall(before_site), overall(tuned_site)
    if after < before:
        reasons.append(f"held-out site recordings: mean accuracy {after:.3f}, before tuning {before:.3f}")
    a, b = _accuracies(before_site)["false presence"], _accuracies(tuned_site)["false presence"]
    if a is not None and b is not None and b > a + margin:
        reasons.append(f"held-out site recordings: false presence {b:.3f}, before tuning {a:.3f}")
    return reasons


def comparison_table(columns: dict[str, dict[str, Any]]) -> str:
    """Per-label figures side by side, one column per (set, model)."""

    def cell(v: float | None) -> str:
        return NONE if v is None else f"{v:.3f}"

    accs = {k: _accuracies(r) for k, r in columns.items()}
    width = max(14, *(len(k) for k in columns))
    lines = ["label".ljust(16) + "".join(k.rjust(width + 2) for k in columns)]
    for name in (*HEADS, "false presence"):
        lines.append(name.ljust(16) + "".join(cell(accs[k][name]).rjust(width + 2) for k in columns))
    means = "".join(f"{overall(r):.3f}".rjust(width + 2) for r in columns.values())
    lines.append("mean accuracy".ljust(16) + means)
    return "\n".join(lines)


def _scores_cached(model: Path, recs: Sequence[Recording], cache: Path, key: str) -> dict[str, Any]:
    """:func:`pipeline_scores`, cached by the model's bytes, the scene set and the pipeline's code."""
    from heatcast.sensor.sim import SIM_VERSION

    h = hashlib.sha256(model.read_bytes() + key.encode())
    for source in sorted(Path(features.__file__).parent.glob("*.py")):  # the pipeline's code scores too
        h.update(source.read_bytes())
    digest = h.hexdigest()[:16]
    path = cache / f"scores-{SIM_VERSION}-{digest}.json"
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        pass
    report = _slim(pipeline_scores(model, recs))
    assert report is not None
    path.write_text(json.dumps(report), encoding="utf-8")
    return report


def _base_model(args: argparse.Namespace) -> Path:
    """The model to start from: --base, else the site model at --out if it loads, else the shipped one."""
    from heatcast.classify.model import default_model_path

    if args.base is not None:
        load_model(args.base)  # a missing or damaged base is a clear error now, not a traceback later
        return Path(args.base)
    out: Path = args.out
    if out.exists():
        try:
            load_model(out)
        except HeatcastError as exc:
            log.warning("%s cannot be tuned further (%s): starting from the shipped model", out, exc)
        else:
            return out
    return default_model_path()


def tune(args: argparse.Namespace, user: list[Recording]) -> int:
    """Fine-tune a model on site recordings (minutes), refusing one that got worse (exit 1)."""
    from heatcast.classify.model import default_model_path

    started = time.monotonic()
    if len(user) < 2:
        raise UsageError(
            f"only one labelled recording ({user[0].name}): record at least two of some situation "
            "(e.g. two of the empty shop) so that one can be held out"
        )
    train_recs, held_recs, notes = split_recordings(user)
    if not held_recs:
        raise UsageError(
            "too few recordings to hold one out: every label value is carried by one recording only; "
            "record a second recording of at least one situation"
        )
    print(f"site recordings: {len(train_recs)} to train on, {len(held_recs)} held out, whole:")
    for r in held_recs:
        print(f"  held out: {r.name}")
    for note in notes:
        print(f"  {note}")
    shipped = default_model_path()
    base = _base_model(args)
    cache: Path = args.cache
    cache.mkdir(parents=True, exist_ok=True)
    prune_stale(cache)
    keep_unseen = args.keep_unseen or (
        load_model(shipped).sidecar.get("training", {}).get("cold_start_unseen") == "kept"
    )
    rehearsal = sim_features(
        REHEARSAL_SEED, args.rehearsal_traces, args.rehearsal_seconds, args.stride, keep_unseen, cache,
        args.jobs, "rehearsal scenes",
    )  # fmt: skip
    guard_recs = simulated(
        GUARD_SEED, args.guard_traces, args.guard_seconds, cache, args.jobs, "guard scenes"
    )
    site_train = to_dataset(train_recs, keep_unseen=keep_unseen)
    if not len(site_train):
        raise UsageError("the training recordings hold no frames; record longer (a minute or more each)")

    model = keras_from_tflite(base, args.seed)
    rng = np.random.default_rng([args.seed, 3])
    probe = rehearsal.x[rng.choice(len(rehearsal), min(len(rehearsal), 2000), replace=False)]
    agree = agreement(model, base, probe)
    log.info(
        "rebuilt %s as a float model: agrees with the int8 one on %s",
        base, ", ".join(f"{h} {v:.1%}" for h, v in agree.items()),
    )  # fmt: skip
    fine_tune(model, site_train, rehearsal, args.steps, args.seed, lr=args.lr, distill=args.distill,
              rehearsal_share=args.rehearsal_share, warm_objects=args.warm_objects)  # fmt: skip
    calib = Dataset(np.concatenate([site_train.x, probe]), {})
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its saved graph on stdout
        blob = to_tflite(model, calib, args.seed)
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".new")
    tmp_side = sidecar_path(tmp)
    try:
        tmp.write_bytes(blob)
        tmp_side.write_text(json.dumps({"input": features.describe()}), encoding="utf-8")
        guard_key = f"guard {GUARD_SEED} {args.guard_traces} {args.guard_seconds:g}"
        bar = Progress(4 if base == shipped else 5, "scoring held-out data")
        sim_ship = _scores_cached(shipped, guard_recs, cache, guard_key)
        bar.update(1)
        sim_tuned = _slim(pipeline_scores(tmp, guard_recs))
        bar.update(2)
        site_ship = _slim(pipeline_scores(shipped, held_recs))
        bar.update(3)
        site_base = site_ship if base == shipped else _slim(pipeline_scores(base, held_recs))
        site_tuned = _slim(pipeline_scores(tmp, held_recs))
        bar.close(f"scored {len(guard_recs)} simulated scenes and {len(held_recs)} site recordings")
        assert sim_tuned is not None and site_ship is not None
        assert site_base is not None and site_tuned is not None
        cols = {"sim: shipped": sim_ship, "sim: tuned": sim_tuned, "site: shipped": site_ship}
        if base != shipped:
            cols["site: before"] = site_base
        cols["site: tuned"] = site_tuned
        print(
            f"held-out simulated scenes ({len(guard_recs)}, seed {GUARD_SEED}, never trained on) and "
            f"held-out site recordings ({len(held_recs)}, never trained on), through the whole pipeline:"
        )
        print(comparison_table(cols))
        reasons = guard(sim_ship, sim_tuned, site_base, site_tuned, args.margin)
        took = time.monotonic() - started
        if reasons:
            print(f"train_thermal: refused to install the tuned model ({_clock(took)}):", file=sys.stderr)
            for reason in reasons:
                print(f"  {reason}", file=sys.stderr)
            print(
                "  record more (or longer) site recordings, or lower --steps / --lr; "
                f"{out} is unchanged",
                file=sys.stderr,
            )
            return 1
        base_side = load_model(base).sidecar
        sidecar = {
            "format": "heatcast-thermal-model",
            "version": 1,
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "heads": list(HEADS),
            "labels": {h: list(LABELS[h]) for h in HEADS},
            "input": {**features.describe(), "dtype": "int8", "quantization": _input_quant(tmp)},
            "model_bytes": len(blob),
            "model_sha256": hashlib.sha256(blob).hexdigest(),
            "parameters": int(model.count_params()),
            "training": {
                "mode": "site fine-tune",
                "from": {
                    "path": str(base),
                    "sha256": hashlib.sha256(base.read_bytes()).hexdigest(),
                    "date": base_side.get("date"),
                    "rebuilt": "float Keras model from the int8 TFLite model's dequantised weights",
                    "agreement": agree,
                },
                "seed": args.seed,
                "steps": args.steps,
                "learning_rate": args.lr,
                "rehearsal": {
                    "what": "simulated scenes mixed into every batch: the general case stays in the loss",
                    "seed": REHEARSAL_SEED,
                    "traces": args.rehearsal_traces,
                    "seconds_10fps": args.rehearsal_seconds,
                    "frame_stride": args.stride,
                    "frames": len(rehearsal),
                    "share_of_batch": args.rehearsal_share,
                "distillation": args.distill,
                },
                "labelled_traces": [
                    {"path": r.name, "frames": len(r.chunk), "sha256": _file_hash(Path(r.name))}
                    for r in train_recs
                ],
                "frames": len(site_train),
                "cold_start_unseen": "kept" if keep_unseen else "left out",
                "classes": class_counts(site_train),
                "sha256": data_hash(site_train),
                "seconds": round(took, 1),
            },
            "heldout": {
                "simulated": {
                    "traces": len(guard_recs),
                    "seed": GUARD_SEED,
                    "seconds_10fps": args.guard_seconds,
                    "shipped": sim_ship,
                    "tuned": sim_tuned,
                },
                "labelled": {
                    "split": "whole recordings, one per label value that several carry",
                    "recordings": [r.name for r in held_recs],
                    "notes": notes,
                    "shipped": site_ship,
                    **({"before": site_base} if base != shipped else {}),
                    "tuned": site_tuned,
                },
                "guard": {
                    "margin": args.margin,
                    "rule": "at most margin worse than the shipped model on any label of the held-out "
                    "simulated scenes; no worse than before on the held-out site recordings",
                    "passed": True,
                },
                "score": overall(site_tuned),
            },
        }
        os.replace(tmp, out)
        sidecar_path(out).write_text(json.dumps(sidecar, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {out} ({len(blob)} bytes) and {sidecar_path(out).name}; site tune took {_clock(took)}")
        return 0
    finally:
        tmp.unlink(missing_ok=True)
        tmp_side.unlink(missing_ok=True)


# ------------------------------------------------------------------ main
def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="train_thermal.py",
        description="Train heatcast's int8 TFLite classifier on simulated scenes and labelled traces.",
    )
    ap.add_argument(
        "traces", nargs="*", metavar="TRACE_OR_DIR", help="labelled traces (e.g. recorded on site)"
    )
    ap.add_argument(
        "--out", required=True, type=Path, help="model file to write (sidecar .json and .png beside it)"
    )
    ap.add_argument(
        "--synthetic-traces", type=int, default=160, help="simulated training traces (default 160)"
    )
    ap.add_argument(
        "--heldout-traces", type=int, default=None, help="simulated held-out traces (default N/5, min 4)"
    )
    ap.add_argument(
        "--seconds", type=float, default=120.0, help="seconds per simulated trace at 10 fps (default 120)"
    )
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--epochs", type=int, default=12, help="training epochs (default 12)")
    ap.add_argument("--jobs", type=int, default=1, help="processes simulating traces (default 1)")
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "heatcast" / "train",
        help="where simulated traces are cached",
    )
    ap.add_argument(
        "--trace-weight",
        type=int,
        default=20,
        help="how many times each labelled trace frame counts against a simulated one (default 20)",
    )
    ap.add_argument(
        "--more-sim",
        action="append",
        default=[],
        metavar="SEED:N:SECONDS",
        help="another set of simulated training scenes (repeatable), e.g. 2:400:40",
    )
    ap.add_argument(
        "--warm-objects",
        type=float,
        default=None,
        metavar="SHARE",
        help="share of training samples given a body-warm object there since the cold start "
        "(default 0; 0.1 when fine-tuning, as the shipped model was trained)",
    )
    ap.add_argument(
        "--stride",
        type=int,
        default=None,
        metavar="K",
        help="learn from every K-th frame of each simulated trace (default 1: all; 4 when fine-tuning)",
    )
    ap.add_argument(
        "--keep-unseen",
        action="store_true",
        help="also learn from people there since the cold start who never showed against the background "
        "(by their shape and warmth alone)",
    )
    ap.add_argument(
        "--force", action="store_true", help="replace a better model at --out (--from-scratch)"
    )
    tune = ap.add_argument_group(
        "site tuning (labelled traces given): fine-tune a model instead of training anew"
    )
    tune.add_argument(
        "--from-scratch",
        action="store_true",
        help="train anew from random weights (the shipped model's recipe; slow) instead of fine-tuning",
    )
    tune.add_argument(
        "--base", type=Path, default=None, metavar="MODEL",
        help="model to start from (default: the site model at --out if there is one, else the shipped one)",
    )  # fmt: skip
    tune.add_argument("--steps", type=int, default=600, help="fine-tuning steps of 256 frames (default 600)")
    tune.add_argument("--lr", type=float, default=1e-4, help="fine-tuning learning rate (default 1e-4)")
    tune.add_argument(
        "--distill", type=float, default=1.0, metavar="W",
        help="weight of the starting model's own outputs against the labels on rehearsed scenes (default 1)",
    )  # fmt: skip
    tune.add_argument(
        "--rehearsal-traces", type=int, default=120,
        help="simulated scenes rehearsed while tuning (default 120; their features are cached)",
    )  # fmt: skip
    tune.add_argument(
        "--rehearsal-seconds", type=float, default=40.0, help="seconds per rehearsed scene (default 40)"
    )
    tune.add_argument(
        "--rehearsal-share", type=float, default=0.5,
        help="share of every batch taken from the rehearsed scenes (default 0.5)",
    )  # fmt: skip
    tune.add_argument(
        "--guard-traces", type=int, default=20,
        help="held-out simulated scenes the guard scores on (default 20, never trained on)",
    )  # fmt: skip
    tune.add_argument(
        "--guard-seconds", type=float, default=60.0, help="seconds per guard scene (default 60)"
    )
    tune.add_argument(
        "--margin", type=float, default=MARGIN,
        help=f"how much worse than the shipped model on any held-out simulated label is refused "
        f"(default {MARGIN:g})",
    )  # fmt: skip
    ap.add_argument("-q", "--quiet", action="store_true", help="less output")
    args = ap.parse_args(argv)
    tuning = bool(args.traces) and not args.from_scratch
    if args.warm_objects is None:
        args.warm_objects = 0.1 if tuning else 0.0
    if args.stride is None:
        args.stride = 4 if tuning else 1
    shares = 0.0 <= args.rehearsal_share < 1.0 and 0.0 <= args.distill <= 1.0
    if not shares or args.steps < 1 or args.lr <= 0 or args.margin < 0:
        ap.error(
            "--rehearsal-share must be in [0, 1), --distill in [0, 1], --steps 1 or more, --lr positive, "
            "--margin 0 or more"
        )
    if args.rehearsal_traces < 1 or args.guard_traces < 1:
        ap.error("--rehearsal-traces and --guard-traces must be 1 or more")
    if not 0.0 <= args.warm_objects <= 1.0:
        ap.error("--warm-objects must be between 0 and 1")
    if args.synthetic_traces < 0 or args.epochs < 1 or args.seconds <= 0 or args.jobs < 1 or args.stride < 1:
        ap.error(
            "--synthetic-traces must be 0 or more; --epochs, --jobs and --stride 1 or more; "
            "--seconds positive"
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return _main(args)
    except HeatcastError as exc:
        print(f"train_thermal: error: {exc}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace) -> int:
    user = site_recordings(args.traces) if args.traces else []
    if user and not args.from_scratch:
        return tune(args, user)
    return _main_scratch(args, user)


def _main_scratch(args: argparse.Namespace, user: list[Recording]) -> int:
    """Train from random weights on simulated scenes (the shipped model's recipe) plus any site recordings."""
    seed = args.seed
    n_held = args.heldout_traces if args.heldout_traces is not None else max(4, args.synthetic_traces // 5)
    user, user_held, notes = split_recordings(user)
    for note in notes:
        log.info("held-out recordings: %s", note)
    if args.synthetic_traces == 0 and not user:
        print(
            "train_thermal: error: nothing to train on: give --synthetic-traces N or labelled traces",
            file=sys.stderr,
        )
        return 2
    if args.cache.is_dir():
        prune_stale(args.cache)
    sim_train = (
        simulated(seed, args.synthetic_traces, args.seconds, args.cache, args.jobs, "training")
        if args.synthetic_traces
        else []
    )
    for spec in args.more_sim:
        try:
            s_seed, s_n, s_secs = spec.split(":")
            more = (int(s_seed), int(s_n), float(s_secs))
        except ValueError:
            print(f"train_thermal: error: --more-sim {spec!r}: use SEED:N:SECONDS", file=sys.stderr)
            return 2
        if more[0] == seed + HELDOUT_SEED_OFFSET:
            print("train_thermal: error: --more-sim may not use the held-out seed", file=sys.stderr)
            return 2
        sim_train += simulated(more[0], more[1], more[2], args.cache, args.jobs, f"training (seed {more[0]})")
    sim_held = (
        simulated(seed + HELDOUT_SEED_OFFSET, n_held, args.seconds, args.cache, args.jobs, "held-out")
        if args.synthetic_traces
        else []
    )
    train_ds = to_dataset(sim_train, keep_unseen=args.keep_unseen, stride=args.stride)
    n_sim = len(train_ds)
    if user:
        # A few minutes recorded on site would drown among hours of simulation.
        mine = to_dataset(user, keep_unseen=args.keep_unseen)
        reps = max(1, args.trace_weight)
        train_ds = Dataset(
            np.concatenate([train_ds.x, *([mine.x] * reps)]),
            {h: np.concatenate([train_ds.y[h], *([mine.y[h]] * reps)]) for h in HEADS},
        )
    log.info(
        "training on %d frames (%d simulated traces, %d labelled traces)",
        len(train_ds),
        len(sim_train),
        len(user),
    )
    model = train(train_ds, args.epochs, seed, warm_objects=args.warm_objects)
    blob = to_tflite(model, train_ds, seed)
    if len(blob) > MAX_MODEL_BYTES:
        log.warning("model is %d bytes, over the %d byte budget", len(blob), MAX_MODEL_BYTES)
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".new")
    tmp.write_bytes(blob)
    tmp_side = sidecar_path(tmp)
    tmp_side.write_text(json.dumps({"input": features.describe()}), encoding="utf-8")
    try:
        held_sim = pipeline_scores(tmp, sim_held) if sim_held else None
        held_user = pipeline_scores(tmp, user_held) if user_held else None
        if held_sim:
            print(f"held-out simulated ({len(sim_held)} traces): {_fmt(held_sim)}")
        if held_user:
            print(f"held-out site recordings ({len(user_held)}, never trained on): {_fmt(held_user)}")
        primary = held_sim or held_user
        if primary is None:
            raise UsageError(
                "nothing held out to judge the model on: give --synthetic-traces N or two recordings or more"
            )
        new_score = overall(primary)
        if out.exists() and not args.force:
            try:
                old = load_model(out)
                del old
                held_recs = sim_held or user_held
                old_score = overall(pipeline_scores(out, held_recs))
            except HeatcastError as exc:
                log.info("the existing %s cannot be scored (%s): replacing it", out, exc)
                old_score = -1.0
            if old_score > new_score:
                print(
                    f"train_thermal: kept {out}: it scores {old_score:.4f} on this held-out data, the new "
                    f"model {new_score:.4f}; use --force to replace it",
                    file=sys.stderr,
                )
                return 1
        # Simulated traces have no held-out part: their training frames are all of them.
        sim_all = Dataset(train_ds.x[:n_sim], {h: train_ds.y[h][:n_sim] for h in HEADS})
        user_all = to_dataset(user, keep_unseen=args.keep_unseen, stride=args.stride)
        sidecar = {
            "format": "heatcast-thermal-model",
            "version": 1,
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "heads": list(HEADS),
            "labels": {h: list(LABELS[h]) for h in HEADS},
            "input": {
                **features.describe(),
                "dtype": "int8",
                "quantization": _input_quant(tmp),
            },
            "model_bytes": len(blob),
            "model_sha256": hashlib.sha256(blob).hexdigest(),
            "parameters": int(model.count_params()),
            "training": {
                "seed": seed,
                "epochs": args.epochs,
                "synthetic_traces": len(sim_train),
                "synthetic_sets": [f"{seed}:{args.synthetic_traces}:{args.seconds:g}", *args.more_sim],
                "synthetic_seconds_10fps": args.seconds,
                "synthetic_share_1fps": SLOW_SHARE,
                "frame_stride": args.stride,
                "labelled_traces": [
                    {"path": r.name, "frames": len(r.chunk), "sha256": _file_hash(Path(r.name))} for r in user
                ],
                "frames": len(train_ds),
                "trace_weight": args.trace_weight,
                "cold_start_unseen": "kept" if args.keep_unseen else "left out",
                "classes": class_counts(train_ds),
                "sha256": data_hash(sim_all, user_all),
                "augmentation": [
                    "mirror",
                    "sideways step",
                    "noise",
                    "gain 0.65-1.35",
                    "offset",
                    "ambient shift",
                    *([f"static warm objects ({args.warm_objects:g})"] if args.warm_objects else []),
                ],
            },
            "heldout": {
                "simulated": {
                    "traces": len(sim_held),
                    "seed": seed + HELDOUT_SEED_OFFSET,
                    "report": _slim(held_sim),
                },
                "labelled": {
                    "split": "whole recordings, one per label value that several carry",
                    "recordings": [r.name for r in user_held],
                    "notes": notes,
                    "report": _slim(held_user),
                },
                "score": new_score,
            },
        }
        os.replace(tmp, out)
        sidecar_path(out).write_text(json.dumps(sidecar, indent=1) + "\n", encoding="utf-8")
        png = out.with_name(out.stem + "-confusion.png")
        plot(primary, png, f"{out.name}: held-out {'simulated scenes' if held_sim else 'labelled frames'}")
        print(f"wrote {out} ({len(blob)} bytes), {sidecar_path(out).name}, {png.name}")
        return 0
    finally:
        tmp.unlink(missing_ok=True)
        tmp_side.unlink(missing_ok=True)


def _input_quant(path: Path) -> dict[str, float]:
    m = load_model(path)
    return {"scale": m.input_scale, "zero_point": m.input_zero_point}


def _file_hash(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _slim(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {k: v for k, v in report.items() if k != "files"}


if __name__ == "__main__":
    sys.exit(main())
