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
import datetime as dt
import hashlib
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
from typing import Any

import numpy as np
import numpy.typing as npt

from heatcast.classify import features
from heatcast.classify.audience import MAX_COUNT
from heatcast.classify.evaluate import Decisions, decisions_from, score, trace_files
from heatcast.classify.features import FeatureWindow
from heatcast.classify.model import HEADS, LABELS, MAX_MODEL_BYTES, load_model, sidecar_path
from heatcast.classify.pipeline import Pipeline
from heatcast.classify.tracebatch import Chunk, TraceArrays, records_to_chunk
from heatcast.errors import HeatcastError
from heatcast.sensor.frame import F32

log = logging.getLogger("train_thermal")

I32 = npt.NDArray[np.int32]

#: Held-out simulated scenes come from this seed offset: other rooms, sensors and crowds.
HELDOUT_SEED_OFFSET = 7_000_001
#: Share of simulated traces recorded at 1 fps (AMG88xx's other rate).
SLOW_SHARE = 0.2
#: A labelled trace's frames are split into blocks of this many frames; every
#: fourth block is held out.
SPLIT_BLOCK = 50
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
    heldout: npt.NDArray[np.bool_] | None = None  # frames held out (labelled traces)


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
    for path in cache.glob("sim-*.npz"):
        if not re.fullmatch(r"sim-[0-9a-f]{12}-.*", path.name) or path.name.startswith(f"sim-{SIM_VERSION}-"):
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
    """User traces; every fourth block of frames is held out."""
    recs = []
    for path in paths:
        arrays = TraceArrays(path)
        chunk = arrays.read_all()
        has_label = (chunk.presence >= 0) | (chunk.posture >= 0) | (chunk.orientation >= 0)
        if not has_label.any():
            log.warning("%s has no labels: skipped", path)
            continue
        held = (np.arange(len(chunk)) // SPLIT_BLOCK) % 4 == 3
        recs.append(Recording(str(path), chunk, arrays.fps or 10.0, held))
    return recs


@dataclass
class Dataset:
    x: F32
    y: dict[str, I32]

    def __len__(self) -> int:
        return len(self.x)


def to_dataset(
    recs: Sequence[Recording], part: str = "all", keep_unseen: bool = False, stride: int = 1
) -> Dataset:
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
        if r.heldout is not None and part != "all":
            keep = r.heldout if part == "heldout" else ~r.heldout
        if stride > 1 and r.heldout is None:
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
        d = decisions_from(audiences, c, time.perf_counter() - started)
        if r.heldout is not None:
            d = _subset(d, r.heldout)
        total.extend(d)
    return score(total)


def _subset(d: Decisions, keep: npt.NDArray[np.bool_]) -> Decisions:
    return Decisions(
        truth={k: v[keep] for k, v in d.truth.items()},
        pred={k: v[keep] for k, v in d.pred.items()},
        arrivals=[],
        frames=int(keep.sum()),
        seconds=d.seconds * float(keep.mean()) if len(keep) else 0.0,
    )


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


def _progress(text: str, end: str = "\r") -> None:
    sys.stderr.write(f"\x1b[2K{text}{end}" if sys.stderr.isatty() else (text + "\n" if text else ""))
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
        default=0.0,
        metavar="SHARE",
        help="share of training samples given a body-warm object there since the cold start (default 0)",
    )
    ap.add_argument(
        "--stride",
        type=int,
        default=1,
        metavar="K",
        help="learn from every K-th frame of each simulated trace (default 1: all)",
    )
    ap.add_argument(
        "--keep-unseen",
        action="store_true",
        help="also learn from people there since the cold start who never showed against the background "
        "(by their shape and warmth alone)",
    )
    ap.add_argument(
        "--force", action="store_true", help="replace the model at --out even if it scores better"
    )
    ap.add_argument("-q", "--quiet", action="store_true", help="less output")
    args = ap.parse_args(argv)
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
    seed = args.seed
    n_held = args.heldout_traces if args.heldout_traces is not None else max(4, args.synthetic_traces // 5)
    user = labelled(trace_files(args.traces)) if args.traces else []
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
    train_ds = to_dataset(sim_train, part="train", keep_unseen=args.keep_unseen, stride=args.stride)
    n_sim = len(train_ds)
    if user:
        # A few minutes recorded on site would drown among hours of simulation.
        mine = to_dataset(user, part="train", keep_unseen=args.keep_unseen)
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
        held_user = pipeline_scores(tmp, user) if user else None
        if held_sim:
            print(f"held-out simulated ({len(sim_held)} traces): {_fmt(held_sim)}")
        if held_user:
            print(f"held-out part of labelled traces: {_fmt(held_user)}")
        primary = held_sim or held_user
        assert primary is not None
        new_score = overall(primary)
        if out.exists() and not args.force:
            try:
                old = load_model(out)
                del old
                held_recs = sim_held or user
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
                "labelled": {"split": f"every 4th block of {SPLIT_BLOCK} frames", "report": _slim(held_user)},
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
