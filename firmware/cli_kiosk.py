"""``heatcast run``, ``heatcast doctor`` and ``heatcast privacy``."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import click

from heatcast.errors import HeatcastError
from heatcast.firmware.options import config_option


def _stamp_echo(line: str) -> None:
    click.echo(f"{time.strftime('%H:%M:%S')} {line}")


def _set_log_level(name: str) -> None:
    root = logging.getLogger()
    wanted = getattr(logging, name.upper(), logging.INFO)
    # -v/-vv on the command line win over the file's log_level
    if root.level > wanted or root.level == logging.WARNING:
        root.setLevel(wanted)


@click.command()
@config_option
@click.option(
    "--demo",
    is_flag=True,
    help="The built-in demo, no hardware needed: the simulator's demo scene in real time, "
    "the bundled content, NFC only if a USB reader is plugged in, the page on http://127.0.0.1:8080.",
)
def run(config_path: Path | None, demo: bool) -> None:
    """Run the billboard: sensor -> audience -> content -> page and NFC tag.

    Shows the audience and the content as they change. Stops cleanly on
    SIGTERM or Ctrl-C (exit status 0).
    """
    from heatcast.firmware.config import load_config
    from heatcast.firmware.demo import demo_overrides
    from heatcast.firmware.kiosk import Kiosk, ensure_data_dir

    config = load_config(config_path, overrides=demo_overrides() if demo else None)
    _set_log_level(config.log_level)
    ensure_data_dir(config.data_dir)
    origin = config.origin or "built-in defaults"
    _stamp_echo(f"heatcast {'demo' if demo else 'run'}: config {origin}, sensor {config.sensor.source}")
    kiosk = Kiosk(config, report=_stamp_echo)
    status = kiosk.run()
    _stamp_echo(f"stopped after {kiosk.stats.frames} frames, {kiosk.stats.changes} content changes")
    sys.exit(status)


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option(
    "--seconds",
    type=click.FloatRange(0.5, 30),
    default=3.5,
    show_default=True,
    help="How long to read the sensor for the frame-rate and pixel checks.",
)
def doctor(config_path: Path | None, as_json: bool, seconds: float) -> None:
    """Check every part of this install and say how to fix what fails.

    Sensor (I2C, address, thermistor, frame rate, dead or stuck pixels, a heat
    summary), NFC reader and tag, content.db, the model, the configuration,
    free disk and the clock. Exits 1 when a check fails.
    """
    from heatcast.firmware.doctor import render, run_checks

    checks = run_checks(config_path, seconds=seconds)
    if as_json:
        click.echo(
            json.dumps(
                {"ok": all(c.ok is not False for c in checks), "checks": [c.to_json() for c in checks]},
                indent=2,
            )
        )
    else:
        click.echo(render(checks))
    if any(c.ok is False for c in checks):
        sys.exit(1)


@click.command()
@config_option
def privacy(config_path: Path | None) -> None:
    """Print what heatcast senses, what it stores, and for how long."""
    from heatcast.firmware.config import Config, load_config
    from heatcast.firmware.privacy import privacy_statement

    try:
        config = load_config(config_path)
    except HeatcastError as exc:
        # The statement is still worth showing: say which defaults it describes.
        click.echo(f"(the configuration is not valid: {exc}; showing the defaults)", err=True)
        config = Config()
    click.echo(privacy_statement(config), nl=False)
