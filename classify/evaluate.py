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


class BandReader:
    """Per-frame band names of a recording, chunk by chunk ("" where it does not say)."""

    def __init__(self, path: Path) -> None:
        from heatcast.sensor.trace import TraceReader

        self._reader: TraceReader | None = TraceReader(path)
        if not {"distance_m", "since_start"} & set(self._reader.extra_columns):
            self._reader.close()
            self._reader = None
        self._records = iter(self._reader) if self._reader is not None else None

    def take(self, chunk: Chunk) -> dict[str, npt.NDArray[np.str_]]:
        n = len(chunk)
        median = np.median(chunk.pixels.reshape(n, -1), axis=1) if n else np.zeros(0)
        bands = {"ambient": np.where(median < WARM_ROOM_C, "below 25 C", "25 C and above").astype("<U16")}
        distance = np.full(n, "", dtype="<U16")
        cold = np.full(n, "", dtype="<U16")
        if self._records is not None:
            for i, record in zip(range(n), self._records, strict=False):
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

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value else None


def band_scores(d: Decisions) -> dict[str, dict[str, dict[str, Any]]]:
    """Accuracy per label and false presence within each band that has frames."""
    return Tally.of(d).band_report()


def decisions_from(
    audiences: Sequence[Audience], chunk: Chunk, seconds: float = 0.0, *, arrivals: bool = True
) -> Decisions:
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
    if arrivals:
        d.arrivals = arrival_latencies(chunk.presence, pres)
    return d


class ArrivalClock:
    """Frames from each labelled arrival to the first presence decision, fed chunk by chunk.

    -1 for an arrival never decided while the person was there.
    """

    def __init__(self) -> None:
        self._previous = 0
        self._waited: int | None = None

    def feed(self, truth: I32, pred: I32) -> list[int]:
        out = []
        waited, previous = self._waited, self._previous
        for t, p in zip(truth.tolist(), pred.tolist(), strict=True):
            if t == 1:
                if previous != 1:
                    waited = 0
                if waited is not None:
                    if p == 1:
                        out.append(waited)
                        waited = None
                    else:
                        waited += 1
            elif waited is not None:
                out.append(-1)
                waited = None
            previous = t
        self._waited, self._previous = waited, previous
        return out

    def close(self) -> list[int]:
        """The arrival still waiting when the recording ends, if any, as missed."""
        missed = [] if self._waited is None else [-1]
        self._waited = None
        return missed


def arrival_latencies(truth: I32, pred: I32) -> list[int]:
    """Frames from each labelled arrival to the first presence decision (-1: never, while present)."""
    clock = ArrivalClock()
    return clock.feed(truth, pred) + clock.close()


def _confusion(name: str, truth: I32, pred: I32) -> npt.NDArray[np.int64]:
    k = len(CLASSES[name])
    keep = truth >= 0
    t, p = truth[keep], pred[keep]
    with_none = name in ("posture", "orientation")
    p_idx = np.where(p < 0, k, p) if with_none else np.clip(p, 0, k - 1)
    cm = np.zeros((k, k + 1 if with_none else k), dtype=np.int64)
    np.add.at(cm, (t, p_idx), 1)
    return cm


@dataclass
class _BandSums:
    frames: int = 0
    correct: dict[str, int] = field(default_factory=dict)
    labelled: dict[str, int] = field(default_factory=dict)
    empty: int = 0
    false: int = 0


@dataclass
class Tally:
    """Running sums of a scoring (confusion matrices, empty frames, arrivals, per band): what
    a report needs, in memory that does not grow with the number of frames."""

    undecided: set[str] = field(default_factory=set)
    confusion: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)
    empty: int = 0
    false: int = 0
    arrivals: list[int] = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0
    bands: dict[str, dict[str, _BandSums]] = field(default_factory=dict)

    @classmethod
    def of(cls, d: Decisions) -> Tally:
        tally = cls(set(d.undecided))
        tally.add(d)
        return tally

    def add(self, d: Decisions) -> None:
        """Take in the decisions of a recording, or of a stretch of one."""
        for name in LABEL_NAMES:
            cm = _confusion(name, d.truth[name], d.pred[name])
            self.confusion[name] = self.confusion[name] + cm if name in self.confusion else cm
        empty = d.truth["presence"] == 0
        self.empty += int(empty.sum())
        self.false += int((d.pred["presence"][empty] == 1).sum())
        self.arrivals += d.arrivals
        self.frames += d.frames
        self.seconds += d.seconds
        for kind, names in d.bands.items():
            per = self.bands.setdefault(kind, {})
            for band in set(names.tolist()) - {""}:
                keep = names == band
                sums = per.setdefault(band, _BandSums())
                sums.frames += int(keep.sum())
                for label in LABEL_NAMES:
                    truth, pred = d.truth[label][keep], d.pred[label][keep]
                    labelled = truth >= 0
                    sums.labelled[label] = sums.labelled.get(label, 0) + int(labelled.sum())
                    hits = int((truth[labelled] == pred[labelled]).sum())
                    sums.correct[label] = sums.correct.get(label, 0) + hits
                gone = d.truth["presence"][keep] == 0
                sums.empty += int(gone.sum())
                sums.false += int((d.pred["presence"][keep][gone] == 1).sum())

    def merge(self, other: Tally) -> None:
        for name, cm in other.confusion.items():
            self.confusion[name] = self.confusion[name] + cm if name in self.confusion else cm.copy()
        self.undecided |= other.undecided
        self.empty += other.empty
        self.false += other.false
        self.arrivals += other.arrivals
        self.frames += other.frames
        self.seconds += other.seconds
        for kind, per in other.bands.items():
            mine = self.bands.setdefault(kind, {})
            for band, theirs in per.items():
                sums = mine.setdefault(band, _BandSums())
                sums.frames += theirs.frames
                sums.empty += theirs.empty
                sums.false += theirs.false
                for label in LABEL_NAMES:
                    sums.correct[label] = sums.correct.get(label, 0) + theirs.correct.get(label, 0)
                    sums.labelled[label] = sums.labelled.get(label, 0) + theirs.labelled.get(label, 0)

    def report(self) -> dict[str, Any]:
        """Per-label scores, false presence, arrival latency, speed."""
        labels = {
            name: label_report(name, self.confusion[name], name not in self.undecided)
            for name in LABEL_NAMES
            if name in self.confusion
        }
        caught = [a for a in self.arrivals if a >= 0]
        latency = {
            "arrivals": len(self.arrivals),
            "missed": len(self.arrivals) - len(caught),
            "median": float(statistics.median(caught)) if caught else None,
            "mean": float(statistics.fmean(caught)) if caught else None,
        }
        return {
            "frames": self.frames,
            "labels": labels,
            "empty_frames": self.empty,
            "false_presence_rate": self.false / self.empty if self.empty else None,
            "arrival_latency_frames": latency,
            "frames_per_second": round(self.frames / self.seconds, 1) if self.seconds > 0 else None,
        }

    def band_report(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Accuracy per label and false presence within each band that has frames."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for kind in BAND_KINDS:
            per = self.bands.get(kind, {})
            rows: dict[str, dict[str, Any]] = {}
            for band in sorted(per):
                sums = per[band]
                row: dict[str, Any] = {"frames": sums.frames}
                for label in LABEL_NAMES:
                    n = sums.labelled.get(label, 0)
                    decided = label not in self.undecided and n > 0
                    row[label] = sums.correct.get(label, 0) / n if decided else None
                row["false_presence"] = sums.false / sums.empty if sums.empty else None
                rows[band] = row
            if rows:
                out[kind] = rows
        return out


def score(d: Decisions) -> dict[str, Any]:
    """The report: per-label scores, false presence, arrival latency, speed."""
    return Tally.of(d).report()


def label_scores(name: str, truth: I32, pred: I32, decided: bool = True) -> dict[str, Any]:
    return label_report(name, _confusion(name, truth, pred), decided)


def label_report(name: str, cm: npt.NDArray[np.int64], decided: bool = True) -> dict[str, Any]:
    classes = CLASSES[name]
    k = len(classes)
    n = int(cm.sum())
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
        "predicted": [*classes, "none"] if name in ("posture", "orientation") else list(classes),
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


def evaluate(
    runner: Runner,
    paths: Sequence[Path],
    progress: Callable[[Path, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Score ``runner`` on every file (each from a cold start), overall and per file.

    Chunk by chunk, into running sums: memory does not grow with the recordings' length.
    """
    undecided = set() if getattr(runner, "decides_orientation", True) else {"orientation"}
    total = Tally(set(undecided))
    files = []
    for path in paths:
        one = _score_file(runner, path, undecided)
        summary: dict[str, Any] = {"path": str(path), "frames": one.frames}
        labels = one.report()["labels"]
        summary.update({name: labels[name]["accuracy"] for name in LABEL_NAMES})
        files.append(summary)
        if progress is not None:
            progress(path, summary)
        total.merge(one)
    report = total.report()
    report["files"] = files
    report["bands"] = total.band_report()
    return report


def _score_file(runner: Runner, path: Path, undecided: set[str]) -> Tally:
    runner.reset()
    tally = Tally(set(undecided))
    clock = ArrivalClock()
    bands = BandReader(path)
    try:
        for chunk in TraceArrays(path):
            start = time.perf_counter()
            audiences = runner.run(chunk.pixels, chunk.t, chunk.thermistor)
            busy = time.perf_counter() - start
            d = decisions_from(audiences, chunk, busy, arrivals=False)
            d.arrivals = clock.feed(chunk.presence, d.pred["presence"])
            d.bands = bands.take(chunk)
            tally.add(d)
    finally:
        bands.close()
    tally.arrivals += clock.close()
    return tally


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
