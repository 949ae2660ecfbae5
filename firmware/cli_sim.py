"""``heatcast sim``: labelled synthetic traces from the scene simulator."""

from __future__ import annotations

from pathlib import Path

import click

from heatcast.errors import UsageError


@click.command("sim")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the traces into (created if missing).",
)
@click.option("--traces", type=int, default=10, show_default=True, help="How many traces to write.")
@click.option(
    "--seconds", type=float, default=120.0, show_default=True, help="Length of each trace in seconds."
)
@click.option(
    "--seed", type=int, default=1, show_default=True, help="Seed: the same seed writes the same traces."
)
@click.option(
    "--fps",
    type=float,
    default=10.0,
    show_default=True,
    help="Frame rate of the simulated sensor (the AMG8833 runs at 1 or 10).",
)
@click.option(
    "--envelope",
    is_flag=True,
    help="Only scenes inside the billboard envelope: wall mounts 1.0-2.2 m high, tilted down 0-30 degrees.",
)
def sim(out: Path, traces: int, seconds: float, seed: int, fps: float, envelope: bool) -> None:
    """Write labelled synthetic traces (sim-0001.csv.gz, ...) for training and tests.

    Each trace is a different random scene: mount, room, warm and cold objects,
    air drift, sensor noise and a crowd of people coming and going, labelled
    with count, presence, posture and orientation frame by frame.
    """
    # write_traces' work one trace at a time, so that the progress bar moves
    from heatcast.sensor.sim import envelope_placement, write_trace

    if traces < 1:
        raise UsageError(f"--traces {traces} is not valid; write at least 1 trace")
    if not seconds > 0 or seconds > 7 * 86400:
        raise UsageError(f"--seconds {seconds:g} is not valid; give a length from 0 to 604800 seconds")
    if not 0.1 <= fps <= 100:
        raise UsageError(
            f"--fps {fps:g} is not valid; use a frame rate from 0.1 to 100 (1 or 10 as the AMG8833)"
        )
    if seed < 0:
        raise UsageError(f"--seed {seed} is not valid; use a whole number, 0 or more")
    with click.progressbar(range(1, traces + 1), label="simulating") as bar:
        for index in bar:
            placement = envelope_placement(seed, index) if envelope else {}
            write_trace(out, index, seconds, seed, fps, **placement)
    click.echo(f"wrote {traces} traces of {seconds:g} s at {fps:g} fps to {out}")
