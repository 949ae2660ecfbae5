"""``heatcast replay`` and ``heatcast eval``: the classifier over recorded traces."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import click

from heatcast.classify.audience import Audience
from heatcast.classify.evaluate import LABEL_NAMES, Runner, evaluate, plot_confusions, trace_files
from heatcast.classify.tracebatch import Chunk, TraceArrays
from heatcast.errors import UsageError
from heatcast.firmware.options import json_option, model_option

#: How often replay re-chooses content for an unchanged audience (trace seconds).
RECHOOSE_S = 10.0


#: The yardsticks ``--baseline`` runs (issue 15's background subtraction).
BASELINES = ("bgsub",)


def make_runner(model: Path | None, baseline: str | None) -> Runner:
    """The kiosk's pipeline (or a baseline) for a command."""
    if baseline is not None:
        if model is not None:
            raise UsageError("--baseline and --model do not go together: the baseline uses no model")
        from heatcast.classify.bgsub import BgSubPipeline

        return BgSubPipeline()
    from heatcast.classify.pipeline import Pipeline

    return Pipeline(model)


def baseline_option(f: Any) -> Any:
    return click.option(
        "--baseline",
        type=click.Choice(BASELINES),
        is_flag=False,
        flag_value="bgsub",
        default=None,
        help="Run the plain background-subtraction yardstick (bgsub) instead of heatcast.",
    )(f)


def _null(value: str | None) -> str:
    return "null" if value is None else f'"{value}"'


def jsonl_line(a: Audience, url: str | None = None, with_url: bool = False) -> str:
    """One replay line; hand-formatted because json.dumps per frame would halve replay's speed."""
    text = (
        f'{{"t": {a.t!r}, "presence": {"true" if a.presence else "false"}, "count": {a.count}, '
        f'"posture": {_null(a.posture)}, "orientation": {_null(a.orientation)}, '
        f'"dwell_s": {a.dwell_s:.2f}, "facing_s": {a.facing_s:.2f}, "confidence": {a.confidence:.3f}'
    )
    if with_url:
        text += f', "url": {json.dumps(url)}'
    return text + "}\n"


def describe(a: Audience) -> str:
    if not a.presence:
        return "nobody"
    people = "1 person" if a.count == 1 else ("4+ people" if a.count >= 4 else f"{a.count} people")
    return f"{people}, {a.posture}, {a.orientation}"


class _ContentPicker:
    """Chooses content per audience as the kiosk does (``--content-db``)."""

    def __init__(self, db: Path) -> None:
        from heatcast.firmware.catalogue import Catalogue
        from heatcast.firmware.chooser import Chooser

        if not db.exists():
            raise UsageError(f"{db}: no such content catalogue; give an existing file to --content-db")
        self.chooser = Chooser(Catalogue(db, readonly=True), seed=0)
        self.start = datetime.now().replace(microsecond=0)
        self.bucket: object = None
        self.last_t = -1e18
        self.url: str | None = None

    def url_for(self, a: Audience) -> str | None:
        if a.bucket != self.bucket or a.t - self.last_t >= RECHOOSE_S:
            self.bucket = a.bucket
            self.last_t = a.t
            item = self.chooser.choose(a, self.start + timedelta(seconds=a.t))
            self.url = None if item is None else item.url
        return self.url


def _chunks(path: Path, labels: bool = True) -> Iterator[Chunk]:
    yield from TraceArrays(path, labels=labels)


def replay_trace(
    path: Path,
    runner: Runner,
    out: TextIO,
    jsonl: bool,
    picker: _ContentPicker | None = None,
    *,
    steps: bool = False,
) -> tuple[list[tuple[float, int, int]], int, float]:
    """Run a trace from a cold start, in memory that does not grow with its length.

    Returns the (t, presence, count) steps (each change, and the last frame; only
    with ``steps``, for a picture), the number of frames and the busy seconds.
    """
    runner.reset()
    series: list[tuple[float, int, int]] = []
    final: tuple[float, int, int] | None = None
    frames = 0
    busy = 0.0
    last: tuple[object, ...] | None = None
    for chunk in _chunks(path, labels=False):
        started = time.perf_counter()
        audiences = runner.run(chunk.pixels, chunk.t, chunk.thermistor)
        busy += time.perf_counter() - started
        frames += len(audiences)
        if jsonl:
            if picker is None:
                out.write("".join([jsonl_line(a) for a in audiences]))
            else:
                out.write("".join([jsonl_line(a, picker.url_for(a), True) for a in audiences]))
        else:
            for a in audiences:
                key = (a.presence, a.count, a.posture, a.orientation)
                if key != last:
                    last = key
                    line = f"{a.t:9.1f} s  {describe(a)}"
                    if picker is not None:
                        line += f"  -> {picker.url_for(a)}"
                    out.write(line + "\n")
        if steps and audiences:
            for a in audiences:
                if not series or (series[-1][1], series[-1][2]) != (int(a.presence), a.count):
                    series.append((a.t, int(a.presence), a.count))
            last_a = audiences[-1]
            final = (last_a.t, int(last_a.presence), last_a.count)
    if final is not None and series[-1] != final:
        series.append(final)
    return series, frames, busy


def plot_timeline(path: Path, series: list[tuple[float, int, int]], truth: Chunk | None, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    t = np.array([s[0] for s in series])
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True)
    ax1.step(t, [s[1] for s in series], where="post", label="heatcast")
    ax2.step(t, [s[2] for s in series], where="post", label="heatcast")
    if truth is not None and (truth.presence >= 0).any():
        ax1.step(truth.t, truth.presence, where="post", alpha=0.6, label="label", linestyle="--")
    if truth is not None and (truth.count >= 0).any():
        ax2.step(truth.t, np.minimum(truth.count, 4), where="post", alpha=0.6, label="label", linestyle="--")
    ax1.set_ylabel("presence")
    ax1.set_yticks([0, 1], ["no", "yes"])
    ax2.set_ylabel("count")
    ax2.set_yticks(range(5), ["0", "1", "2", "3", "4+"])
    ax2.set_xlabel("t (s)")
    ax1.legend(loc="upper right", fontsize=8)
    ax1.set_title(title, fontsize=10)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the picture: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


@click.command()
@click.argument("trace", type=click.Path(dir_okay=False, path_type=Path))
@model_option
@click.option("--jsonl", is_flag=True, help="One JSON object per frame (t, presence, count, posture, ...).")
@click.option(
    "--png",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also draw presence and count over time into this PNG file.",
)
@baseline_option
@click.option(
    "--content-db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also choose content from this catalogue, as the kiosk would; adds its url.",
)
def replay(
    trace: Path,
    model: Path | None,
    jsonl: bool,
    png: Path | None,
    baseline: str | None,
    content_db: Path | None,
) -> None:
    """Run the kiosk's classifier over a recorded TRACE, from a cold start.

    Prints a timeline of audience changes, or with --jsonl one JSON object per
    frame: t, presence, count, posture and orientation (null when nobody is
    there), dwell_s, facing_s and confidence.
    """
    if not trace.exists():
        raise UsageError(f"{trace}: no such trace file")
    runner = make_runner(model, baseline)
    picker = _ContentPicker(content_db) if content_db is not None else None
    out = sys.stdout
    series, frames, busy = replay_trace(trace, runner, out, jsonl, picker, steps=png is not None)
    if not jsonl:
        rate = f", {frames / busy:,.0f} frames/s" if busy > 0 else ""
        out.write(f"{frames} frames{rate}\n")
    if png is not None:
        truth = Chunk.concat(list(_chunks(trace)))
        plot_timeline(png, series, truth, f"{trace.name}: {baseline or 'heatcast'}")
        if not jsonl:
            out.write(f"wrote {png}\n")


def _text_report(report: dict[str, Any], name: str) -> str:
    lines = [f"{name}: {report['frames']} frames in {len(report['files'])} file(s)"]
    for label in LABEL_NAMES:
        s = report["labels"][label]
        if not s["frames"]:
            lines.append(f"  {label:<12} not labelled")
            continue
        if not s["decided"]:
            lines.append(f"  {label:<12} not decided by this method")
            continue
        lines.append(
            f"  {label:<12} accuracy {s['accuracy']:.4f}  macro F1 {s['macro_f1']:.4f}"
            f"  ({s['frames']} frames)"
        )
        biggest = max((len(str(v)) for row in s["confusion"] for v in row), default=1)
        width = max(max(len(c) for c in s["predicted"]), biggest) + 1
        lines.append("      " + " " * width + "".join(f"{c:>{width}}" for c in s["predicted"]))
        for cls, row in zip(s["classes"], s["confusion"], strict=True):
            lines.append(f"      {cls:>{width}}" + "".join(f"{v:>{width}}" for v in row))
    fp = report["false_presence_rate"]
    lines.append(
        f"  false presence on empty frames: {'n/a' if fp is None else f'{fp:.4f}'} "
        f"({report['empty_frames']} empty frames)"
    )
    lat = report["arrival_latency_frames"]
    med = "n/a" if lat["median"] is None else f"{lat['median']:g}"
    lines.append(
        f"  arrival latency: median {med} frames over {lat['arrivals']} arrivals ({lat['missed']} missed)"
    )
    fps = report["frames_per_second"]
    lines.append(f"  speed: {'n/a' if fps is None else f'{fps:,.0f}'} frames/s")
    return "\n".join(lines)


def _figure(report: dict[str, Any], label: str) -> str:
    if label == "false presence":
        value = report["false_presence_rate"]
    elif label == "arrival latency":
        value = report["arrival_latency_frames"]["median"]
        return "–" if value is None else f"{value:g} frames"
    else:
        value = report["labels"][label]["accuracy"]
    return "–" if value is None else f"{value:.4f}"


def _side_by_side(ours: dict[str, Any], theirs: dict[str, Any], name: str) -> str:
    rows = [*LABEL_NAMES, "false presence", "arrival latency"]
    lines = [
        "beside the yardstick (same files, each from a cold start):",
        f"  {'':<16}{name:>16}{'bgsub':>16}",
    ]
    lines += [f"  {label:<16}{_figure(ours, label):>16}{_figure(theirs, label):>16}" for label in rows]
    return "\n".join(lines)


def _bands_table(ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    """Per band: heatcast / bgsub for each label, so weak bands show."""
    if not ours.get("bands"):
        return ""
    columns = [*LABEL_NAMES, "false_presence"]
    head = "".join(f"{c.replace('_', ' '):>22}" for c in columns)
    lines = ["per band (heatcast / bgsub):", f"  {'':<28}{'frames':>8}{head}"]
    for kind, per in ours["bands"].items():
        for band, row in per.items():
            other = theirs.get("bands", {}).get(kind, {}).get(band, {})
            cells = [f"{_cell(row.get(c))} / {_cell(other.get(c))}".rjust(22) for c in columns]
            lines.append(f"  {kind + ': ' + band:<28}{row['frames']:>8}" + "".join(cells))
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


@click.command("eval")
@click.argument("traces", nargs=-1, required=True, type=click.Path(path_type=Path))
@model_option
@json_option
@click.option(
    "--plots",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write confusion-matrix PNGs into this folder.",
)
@baseline_option
def eval_command(
    traces: tuple[Path, ...], model: Path | None, as_json: bool, plots: Path | None, baseline: str | None
) -> None:
    """Score the classifier against labelled TRACE files or folders of them.

    Per label (presence, count, posture, orientation): accuracy, macro F1 and
    the confusion matrix; the false presence rate on empty frames; the arrival
    latency in frames; frames per second. Each file starts cold. The
    background-subtraction yardstick (bgsub) is scored on the same files and
    printed beside heatcast; --baseline bgsub scores it alone.
    """
    paths = trace_files(traces)
    runner = make_runner(model, baseline)
    report = evaluate(runner, paths)
    name = baseline or str(model or "shipped model")
    report["runner"] = name
    if baseline is None:
        yardstick = evaluate(make_runner(None, "bgsub"), paths)
        yardstick["runner"] = "bgsub"
        report["yardstick"] = yardstick
    if plots is not None:
        try:
            report["plots"] = [str(p) for p in plot_confusions(report, plots, name)]
        except OSError as exc:
            raise UsageError(f"{plots}: cannot write the plots: {exc.strerror or exc}") from None
    if as_json:
        click.echo(json.dumps(report, indent=1))
    else:
        click.echo(_text_report(report, name))
        if "yardstick" in report:
            click.echo(_side_by_side(report, report["yardstick"], name))
            bands = _bands_table(report, report["yardstick"])
            if bands:
                click.echo(bands)
        for p in report.get("plots", []):
            click.echo(f"wrote {p}")
