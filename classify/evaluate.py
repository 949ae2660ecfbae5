"""Scoring the classifier (or the baseline) against labelled traces.

Per label: accuracy, macro F1 and the confusion matrix (rows the truth,
columns the decision; posture and orientation have an extra ``none`` column
for "nobody there" decisions). Also the false presence rate on empty frames,
the arrival latency (frames from the first labelled-present frame of each
arrival to the first presence decision) and frames per second. Frames whose
label cell is empty are left out of that label's scoring. Each file is a
separate recording and starts cold.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from heatcast.classify.audience import COUNT_LABELS, MAX_COUNT, Audience
from heatcast.classify.tracebatch import Chunk, TraceArrays
from heatcast.errors import UsageError
from heatcast.sensor.frame import F64
from heatcast.sensor.trace import ORIENTATIONS, POSTURES

I32 = npt.NDArray[np.int32]

CLASSES: dict[str, tuple[str, ...]] = {
    "presence": ("absent", "present"),
    "count": COUNT_LABELS,
    "posture": POSTURES,
    "orientation": ORIENTATIONS,
}
LABEL_NAMES = tuple(CLASSES)
_POSTURE = {name: i for i, name in enumerate(POSTURES)}
_ORIENTATION = {name: i for i, name in enumerate(ORIENTATIONS)}


class Runner(Protocol):
    """A classifier ``evaluate`` can score; one whose ``decides_orientation`` is False (the bgsub
    yardstick) has its orientation reported as not decided rather than as always wrong."""

    def reset(self) -> None: ...

    def run(self, pixels: Any, t: F64, thermistor: F64) -> list[Audience]: ...


@dataclass
class Decisions:
    """Per-frame decisions and truths of one or more recordings (-1: none / unlabelled)."""

    truth: dict[str, I32] = field(default_factory=dict)
    pred: dict[str, I32] = field(default_factory=dict)
    arrivals: list[int] = field(default_factory=list)  # latency per arrival; -1 missed
    frames: int = 0
    seconds: float = 0.0
    #: band kind -> per-frame band name ("" where the trace does not say)
    bands: dict[str, npt.NDArray[np.str_]] = field(default_factory=dict)
    #: labels the runner does not decide at all: scored as None, not as wrong
    undecided: set[str] = field(default_factory=set)

    def extend(self, other: Decisions) -> None:
        for name in LABEL_NAMES:
            self.truth[name] = np.concatenate([self.truth.get(name, _EMPTY), other.truth[name]])
            self.pred[name] = np.concatenate([self.pred.get(name, _EMPTY), other.pred[name]])
        for kind in BAND_KINDS:
            mine = self.bands.get(kind, np.full(self.frames, "", dtype="<U16"))
            theirs = other.bands.get(kind, np.full(other.frames, "", dtype="<U16"))
            self.bands[kind] = np.concatenate([mine, theirs])
        self.undecided |= other.undecided
        self.arrivals += other.arrivals
        self.frames += other.frames
        self.seconds += other.seconds


_EMPTY = np.zeros(0, dtype=np.int32)

#: The bands issue 15 asks every figure in: how far the primary person is, how warm the room is,
#: and whether the person was there at the cold start. Distance and cold start come from a trace's
#: ``distance_m`` and ``since_start`` columns where it has them (tests/indsim writes both); the
#: room's temperature is the frame's median.
BAND_KINDS = ("distance", "ambient", "cold start")
#: (upper bound m, name); anyone nearer than 0.5 m counts in the first band.
DISTANCE_BANDS = ((1.5, "0.5-1.5 m"), (3.0, "1.5-3 m"), (5.0, "3-5 m"), (math.inf, "over 5 m"))
WARM_ROOM_C = 25.0


def frame_bands(path: Path, chunk: Chunk) -> dict[str, npt.NDArray[np.str_]]:
    """Per-frame band names of a recording ("" where it does not say)."""
    n = len(chunk)
    median = np.median(chunk.pixels.reshape(n, -1), axis=1) if n else np.zeros(0)
    bands = {"ambient": np.where(median < WARM_ROOM_C, "below 25 C", "25 C and above").astype("<U16")}
    distance = np.full(n, "", dtype="<U16")
    cold = np.full(n, "", dtype="<U16")
    from heatcast.sensor.trace import TraceReader

    with TraceReader(path) as reader:
        if {"distance_m", "since_start"} & set(reader.extra_columns):
            for i, record in enumerate(reader):
                if i >= n:
                    break
                d = _number(record.extra.get("distance_m", ""))
                if d is not None:
                    distance[i] = next(name for upper, name in DISTANCE_BANDS if d < upper)
                since = record.extra.get("since_start", "").strip()
                if since in ("1", "true", "True"):
                    cold[i] = "there at start"
                elif since in ("0", "false", "False"):
                    cold[i] = "arrived later"
    bands["distance"] = distance
    bands["cold start"] = cold
    return bands


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value else None


def band_scores(d: Decisions) -> dict[str, dict[str, dict[str, Any]]]:
    """Accuracy per label and false presence within each band that has frames."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for kind in BAND_KINDS:
        names = d.bands.get(kind)
        if names is None:
            continue
        per: dict[str, dict[str, Any]] = {}
        for band in sorted(set(names.tolist()) - {""}):
            keep = names == band
            row: dict[str, Any] = {"frames": int(keep.sum())}
            for label in LABEL_NAMES:
                truth, pred = d.truth[label][keep], d.pred[label][keep]
                labelled = truth >= 0
                decided = label not in d.undecided and labelled.any()
                row[label] = float((truth[labelled] == pred[labelled]).mean()) if decided else None
            empty = d.truth["presence"][keep] == 0
            decided = d.pred["presence"][keep][empty]
            row["false_presence"] = float((decided == 1).mean()) if empty.any() else None
            per[band] = row
        if per:
            out[kind] = per
    return out


def decisions_from(audiences: Sequence[Audience], chunk: Chunk, seconds: float = 0.0) -> Decisions:
    """Line up a recording's audiences with its labels."""
    n = len(audiences)
    pres = np.fromiter((a.presence for a in audiences), dtype=np.int32, count=n)
    count = np.fromiter((a.count for a in audiences), dtype=np.int32, count=n)
    posture = np.fromiter((_POSTURE.get(a.posture or "", -1) for a in audiences), dtype=np.int32, count=n)
    orient = np.fromiter(
        (_ORIENTATION.get(a.orientation or "", -1) for a in audiences), dtype=np.int32, count=n
    )
    truth_count = np.where(chunk.count >= 0, np.minimum(chunk.count, MAX_COUNT), -1).astype(np.int32)
    d = Decisions(
        truth={
            "presence": chunk.presence,
            "count": truth_count,
            "posture": chunk.posture,
            "orientation": chunk.orientation,
        },
        pred={"presence": pres, "count": count, "posture": posture, "orientation": orient},
        frames=n,
        seconds=seconds,
    )
    d.arrivals = arrival_latencies(chunk.presence, pres)
    return d


def arrival_latencies(truth: I32, pred: I32) -> list[int]:
    """Frames from each labelled arrival to the first presence decision (-1: never, while present)."""
    out = []
    n = len(truth)
    i = 0
    while i < n:
        if truth[i] == 1 and (i == 0 or truth[i - 1] != 1):
            j = i
            while j < n and truth[j] == 1 and pred[j] != 1:
                j += 1
            out.append(j - i if j < n and truth[j] == 1 else -1)
        i += 1
    return out


def score(d: Decisions) -> dict[str, Any]:
    """The report: per-label scores, false presence, arrival latency, speed."""
    labels: dict[str, Any] = {}
    for name in LABEL_NAMES:
        labels[name] = label_scores(name, d.truth[name], d.pred[name], name not in d.undecided)
    empty = d.truth["presence"] == 0
    n_empty = int(empty.sum())
    false_pres = float((d.pred["presence"][empty] == 1).mean()) if n_empty else None
    caught = [a for a in d.arrivals if a >= 0]
    latency = {
        "arrivals": len(d.arrivals),
        "missed": len(d.arrivals) - len(caught),
        "median": float(statistics.median(caught)) if caught else None,
        "mean": float(statistics.fmean(caught)) if caught else None,
    }
    return {
        "frames": d.frames,
        "labels": labels,
        "empty_frames": n_empty,
        "false_presence_rate": false_pres,
        "arrival_latency_frames": latency,
        "frames_per_second": round(d.frames / d.seconds, 1) if d.seconds > 0 else None,
    }


def label_scores(name: str, truth: I32, pred: I32, decided: bool = True) -> dict[str, Any]:
    classes = CLASSES[name]
    k = len(classes)
    keep = truth >= 0
    t = truth[keep]
    p = pred[keep]
    with_none = name in ("posture", "orientation")
    cols = k + 1 if with_none else k
    p_idx = np.where(p < 0, k, p) if with_none else np.clip(p, 0, k - 1)
    cm = np.zeros((k, cols), dtype=np.int64)
    np.add.at(cm, (t, p_idx), 1)
    n = int(keep.sum())
    f1s = []
    for c in range(k):
        tp = cm[c, c]
        support = cm[c].sum()
        predicted = cm[:, c].sum()
        if support == 0 and predicted == 0:
            continue
        f1s.append(2 * tp / (support + predicted) if support + predicted else 0.0)
    return {
        "frames": n,
        "decided": decided,
        "accuracy": float(np.trace(cm[:, :k]) / n) if n and decided else None,
        "macro_f1": float(np.mean(f1s)) if f1s and decided else None,
        "classes": list(classes),
        "predicted": [*classes, "none"] if with_none else list(classes),
        "confusion": cm.tolist(),
    }


def trace_files(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Expand folders into the trace files they hold (``*.csv``, ``*.csv.gz``), sorted."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.name.endswith((".csv", ".csv.gz")) and q.is_file())
            if not found:
                raise UsageError(f"{p}: no trace files (*.csv, *.csv.gz) in this folder")
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise UsageError(f"{p}: no such trace file or folder")
    return out


def run_trace(runner: Runner, path: Path) -> tuple[list[Audience], Chunk, float]:
    """Run a recording from a cold start: its audiences, arrays and CPU seconds."""
    runner.reset()
    audiences: list[Audience] = []
    chunks = []
    busy = 0.0
    for chunk in TraceArrays(path):
        start = time.perf_counter()
        audiences += runner.run(chunk.pixels, chunk.t, chunk.thermistor)
        busy += time.perf_counter() - start
        chunks.append(chunk)
    return audiences, Chunk.concat(chunks), busy


def evaluate(
    runner: Runner,
    paths: Sequence[Path],
    progress: Callable[[Path, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Score ``runner`` on every file (each from a cold start), overall and per file."""
    total = Decisions()
    files = []
    undecided = set() if getattr(runner, "decides_orientation", True) else {"orientation"}
    for path in paths:
        audiences, chunk, busy = run_trace(runner, path)
        d = decisions_from(audiences, chunk, busy)
        d.bands = frame_bands(path, chunk)
        d.undecided = undecided
        summary = {"path": str(path), "frames": d.frames}
        one = score(d)
        summary.update({name: one["labels"][name]["accuracy"] for name in LABEL_NAMES})
        files.append(summary)
        if progress is not None:
            progress(path, summary)
        total.extend(d)
    report = score(total)
    report["files"] = files
    report["bands"] = band_scores(total)
    return report


def plot_confusions(report: dict[str, Any], out_dir: Path, title: str) -> list[Path]:
    """One confusion-matrix PNG per label with frames, in ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, s in report["labels"].items():
        if not s["frames"] or not s["decided"]:
            continue
        cm = np.array(s["confusion"], dtype=float)
        fig, ax = plt.subplots(figsize=(1.2 + 0.8 * cm.shape[1], 1.0 + 0.8 * cm.shape[0]))
        rows = cm.sum(axis=1, keepdims=True)
        ax.imshow(cm / np.maximum(rows, 1), cmap="Blues", vmin=0, vmax=1)
        for (r, c), v in np.ndenumerate(cm):
            ax.text(c, r, f"{int(v)}", ha="center", va="center", fontsize=8)
        ax.set_xticks(range(cm.shape[1]), s["predicted"], rotation=30)
        ax.set_yticks(range(cm.shape[0]), s["classes"])
        ax.set_xlabel("decided")
        ax.set_ylabel("true")
        ax.set_title(f"{title}: {name} (accuracy {s['accuracy']:.3f})", fontsize=9)
        fig.tight_layout()
        path = out_dir / f"confusion-{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
