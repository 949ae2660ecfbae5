"""``heatcast view`` and ``heatcast snapshot``: look at what the sensor sees.

``view`` draws a live heatmap in the terminal with ANSI 256-colour blocks, so
it works over ssh on a headless Pi: installers aim the sensor with it.
``snapshot`` saves one frame as a PNG heatmap with the values in the cells.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np
import numpy.typing as npt

from heatcast.errors import SourceError, UsageError
from heatcast.firmware.options import SOURCE_HELP, source_argument
from heatcast.sensor.frame import Frame
from heatcast.sensor.sources import open_source

#: A thermal ramp in the xterm 256-colour cube: black, blue, purple, red, orange, yellow, white.
PALETTE = (
    16, 17, 18, 19, 20, 54, 55, 56, 91, 92, 127, 126, 125, 161, 160, 196,
    202, 208, 214, 220, 226, 227, 228, 229, 230, 231,
)  # fmt: skip
CELL_WIDTH = 6
CELL_HEIGHT = 2
RESET = "\x1b[0m"
#: The colour scale eases towards each frame's range, so it does not jump with every frame.
SCALE_EASING = 0.2
MIN_SPAN_C = 4.0


def _rgb_of(index: int) -> tuple[int, int, int]:
    if index < 16:
        return (0, 0, 0)
    if index >= 232:
        grey = 8 + 10 * (index - 232)
        return (grey, grey, grey)
    index -= 16
    levels = (0, 95, 135, 175, 215, 255)
    return levels[index // 36], levels[(index // 6) % 6], levels[index % 6]


def colour_index(value: float, low: float, high: float) -> int:
    """The palette colour for ``value`` on the scale ``low``..``high``."""
    if not math.isfinite(value):
        return PALETTE[0]
    share = (value - low) / (high - low) if high > low else 0.5
    step = round(min(1.0, max(0.0, share)) * (len(PALETTE) - 1))
    return PALETTE[step]


#: Without colour, warmth as ink: cold is blank, the warmest is the densest character.
ASCII_RAMP = " .:-=+*#%@"


def ramp_char(value: float, low: float, high: float) -> str:
    """The ASCII character for ``value`` on the scale ``low``..``high``."""
    if not math.isfinite(value):
        return "?"
    share = (value - low) / (high - low) if high > low else 0.5
    return ASCII_RAMP[round(min(1.0, max(0.0, share)) * (len(ASCII_RAMP) - 1))]


def _ink(index: int) -> str:
    red, green, blue = _rgb_of(index)
    return "\x1b[30m" if 0.299 * red + 0.587 * green + 0.114 * blue > 140 else "\x1b[97m"


class Scale:
    """The view's temperature scale: fixed, or following the frames' range."""

    def __init__(self, low: float | None, high: float | None) -> None:
        if low is not None and high is not None and low >= high:
            raise UsageError(f"--min {low:g} must be below --max {high:g}")
        self.fixed_low, self.fixed_high = low, high
        self.low = low if low is not None else math.nan
        self.high = high if high is not None else math.nan

    def update(self, pixels: npt.NDArray[np.float32]) -> None:
        lo, hi = float(np.nanmin(pixels)), float(np.nanmax(pixels))
        if hi - lo < MIN_SPAN_C:
            mid = (hi + lo) / 2
            lo, hi = mid - MIN_SPAN_C / 2, mid + MIN_SPAN_C / 2
        if self.fixed_low is None:
            self.low = lo if math.isnan(self.low) else self.low + SCALE_EASING * (lo - self.low)
        if self.fixed_high is None:
            self.high = hi if math.isnan(self.high) else self.high + SCALE_EASING * (hi - self.high)


def health(frames: Any) -> str:
    """A source's own fault tally, if it keeps one (I2C errors, serial bytes dropped)."""
    stats = getattr(frames, "stats", None)
    if stats is None:
        return ""
    if hasattr(stats, "errors"):
        return f"  I2C errors {stats.errors}, re-inits {stats.reinits}, stuck resets {stats.stuck_resets}"
    if hasattr(stats, "dropped_bytes"):
        return f"  dropped {stats.dropped_bytes} bytes, {stats.dropped_frames} bad frames"
    return ""


def render(
    frame: Frame,
    scale: Scale,
    *,
    fps: float | None,
    source: str,
    values: bool,
    colour: bool = True,
    status: str = "",
) -> list[str]:
    """The lines that draw one frame: a status line, the 8x8 cells, the scale bar."""
    pixels = frame.pixels
    thermistor = "--" if frame.thermistor is None else f"{frame.thermistor:.2f} C"
    rate = "--" if fps is None else f"{fps:.1f}"
    lines = [
        f"{source}  frame {frame.seq}  t {frame.t:.1f} s  {rate} fps  thermistor {thermistor}",
        f"min {float(pixels.min()):.2f} C  max {float(pixels.max()):.2f} C  "
        f"mean {float(pixels.mean()):.2f} C{status}",
    ]
    for row in pixels:
        for line in range(CELL_HEIGHT):
            cells = []
            for value in row:
                index = colour_index(float(value), scale.low, scale.high)
                text = f"{value:5.1f}".center(CELL_WIDTH) if values and line == 0 else " " * CELL_WIDTH
                if colour:
                    cells.append(f"\x1b[48;5;{index}m{_ink(index)}{text}")
                elif values:
                    cells.append(text)
                else:
                    cells.append(ramp_char(float(value), scale.low, scale.high) * CELL_WIDTH)
            lines.append("".join(cells) + (RESET if colour else ""))
    steps = len(PALETTE)
    bar_width = CELL_WIDTH * 8 - 16
    bar = []
    for i in range(bar_width):
        index = PALETTE[min(steps - 1, i * steps // bar_width)]
        bar.append(f"\x1b[48;5;{index}m " if colour else ASCII_RAMP[i * len(ASCII_RAMP) // bar_width])
    lines.append(f"{scale.low:6.1f} C " + "".join(bar) + (RESET if colour else "") + f" {scale.high:.1f} C")
    return lines


class Rate:
    """Frames per second over the last few seconds of wall time."""

    def __init__(self, window: int = 20) -> None:
        self.times: list[float] = []
        self.window = window

    def tick(self, now: float) -> float | None:
        self.times.append(now)
        del self.times[: -self.window]
        if len(self.times) < 2 or self.times[-1] <= self.times[0]:
            return None
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])


def _frames(source: Any, limit: int | None) -> Iterator[Frame]:
    for count, frame in enumerate(source, start=1):
        yield frame
        if limit is not None and count >= limit:
            return


def _use_colour(no_colour: bool) -> bool:
    return not no_colour and "NO_COLOR" not in os.environ


@click.command(
    help=f"""Show a live heatmap of SOURCE in the terminal.

Each of the 8x8 pixels is a block coloured by temperature (ANSI 256 colours, so
it works over ssh), with the scale, the frame rate and the sensor's thermistor.
Use it to aim the sensor: wave a hand at the top of the scene and check that it
shows at the top. Ctrl-C stops.

{SOURCE_HELP}"""
)
@source_argument
@click.option(
    "--frames",
    "limit",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after N frames (default: run until Ctrl-C).",
)
@click.option(
    "--min",
    "low",
    type=float,
    default=None,
    help="Bottom of the colour scale, C (default: follows the scene).",
)
@click.option(
    "--max", "high", type=float, default=None, help="Top of the colour scale, C (default: follows the scene)."
)
@click.option("--values", is_flag=True, help="Print each pixel's temperature in its cell.")
@click.option(
    "--no-color", "no_colour", is_flag=True, help="Plain text, no colours (also when NO_COLOR is set)."
)
def view(
    source: str, limit: int | None, low: float | None, high: float | None, values: bool, no_colour: bool
) -> None:
    scale = Scale(low, high)
    # Straight to stdout: click.echo would strip the colours whenever stdout is not a terminal.
    stream = sys.stdout
    live = stream.isatty()
    colour = _use_colour(no_colour)
    try:
        frames = open_source(source)
    except KeyboardInterrupt:  # Ctrl-C while a sensor is being found
        click.echo("0 frames", err=True)
        return
    rate = Rate()
    shown = 0
    started = time.monotonic()
    try:
        if live:
            stream.write("\x1b[?25l\x1b[2J")  # hide the cursor, clear the screen
        for frame in _frames(frames, limit):
            scale.update(frame.pixels)
            lines = render(
                frame,
                scale,
                fps=rate.tick(time.monotonic()),
                source=source,
                values=values,
                colour=colour,
                status=health(frames),
            )
            # On a terminal, redraw in place; into a file or pipe, one frame after another.
            stream.write(("\x1b[H" if live else "") + "\n".join(lines) + "\n" + ("" if live else "\n"))
            stream.flush()
            shown += 1
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a view ends
    finally:
        if live:
            stream.write("\x1b[?25h" + RESET)
        frames.close()
    seconds = time.monotonic() - started
    click.echo(f"{shown} frames in {seconds:.1f} s", err=True)


def first_frame(source: str, skip: int, timeout: float) -> Frame:
    """Frame number ``skip`` of ``source``, or a SourceError after ``timeout`` seconds."""
    frames = open_source(source)
    result: list[Frame] = []
    failure: list[BaseException] = []

    def read() -> None:
        try:
            for index, frame in enumerate(frames):
                if index >= skip:
                    result.append(frame)
                    return
        except BaseException as exc:  # handed to the main thread
            failure.append(exc)

    # A source that never delivers (a silent serial line) must not hang the command.
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    frames.close()
    if failure:
        raise failure[0]
    if not result:
        raise SourceError(f"{source}: no frame within {timeout:g} s; check that the sensor is sending")
    return result[0]


def snapshot_figure(frame: Frame, title: str = "") -> Any:
    """A matplotlib Figure (Agg, no display needed) of one frame with the values in the cells."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 5.6), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    pixels = frame.pixels
    image = axes.imshow(pixels, cmap="inferno", interpolation="nearest")
    low, high = float(pixels.min()), float(pixels.max())
    middle = (low + high) / 2
    for (row, col), value in np.ndenumerate(pixels):
        axes.text(
            col, row, f"{value:.1f}", ha="center", va="center", fontsize=8,
            color="black" if value > middle else "white",
        )  # fmt: skip
    axes.set_xticks(range(8))
    axes.set_yticks(range(8))
    axes.set_xlabel("column (left to right, as seen from the sensor)")
    axes.set_ylabel("row (top to bottom)")
    thermistor = "--" if frame.thermistor is None else f"{frame.thermistor:.2f} C"
    axes.set_title(f"{title}\nframe {frame.seq}, t {frame.t:.1f} s, thermistor {thermistor}", fontsize=9)
    figure.colorbar(image, ax=axes, label="C")
    figure.tight_layout()
    return figure


def save_png(figure: Any, path: Path) -> None:
    """Write the PNG through a temporary file, so a failed save never leaves half a file."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"--png {path}: folder {folder} does not exist; create it or choose another path")
    fd, temporary = tempfile.mkstemp(prefix=".snapshot-", suffix=".png", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            figure.savefig(out, format="png")
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise UsageError(f"--png {path}: cannot write it ({exc.strerror or exc})") from exc
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@click.command(
    help=f"""Save one frame of SOURCE as a PNG heatmap, with the values in the cells.

{SOURCE_HELP}"""
)
@source_argument
@click.option(
    "--png",
    "png",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The PNG file to write.",
)
@click.option(
    "--skip",
    type=click.IntRange(min=0),
    default=0,
    help="Frames to skip first, e.g. to let the sensor settle.",
)
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
    help="Seconds to wait for the frame.",
)  # fmt: skip
def snapshot(source: str, png: Path, skip: int, timeout: float) -> None:
    if png.is_dir():
        raise UsageError(f"--png {png} is a folder; give a file name such as {png / 'snapshot.png'}")
    frame = first_frame(source, skip, timeout)
    save_png(snapshot_figure(frame, title=source), png)
    pixels = frame.pixels
    click.echo(f"wrote {png}: {float(pixels.min()):.1f} .. {float(pixels.max()):.1f} C")
