"""The ``heatcast`` command.

Subcommands live in one module per area (``cli_sensor``, ``cli_classify``,
``cli_content``, ``cli_nfc``, ``cli_kiosk``) and load only when used, so that
``heatcast view`` never pays for TensorFlow-free but still weighty imports such
as nfcpy or the web server.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from typing import Any

import click

from heatcast import __version__
from heatcast.errors import HeatcastError

#: command name -> "module:attribute"
COMMANDS: dict[str, str] = {
    "view": "heatcast.firmware.cli_sensor:view",
    "record": "heatcast.firmware.cli_record:record",
    "snapshot": "heatcast.firmware.cli_sensor:snapshot",
    "sim": "heatcast.firmware.cli_sim:sim",
    "replay": "heatcast.firmware.cli_classify:replay",
    "eval": "heatcast.firmware.cli_classify:eval_command",
    "content": "heatcast.firmware.cli_content:content",
    "report": "heatcast.firmware.cli_content:report",
    "nfc": "heatcast.firmware.cli_nfc:nfc",
    "run": "heatcast.firmware.cli_kiosk:run",
    "doctor": "heatcast.firmware.cli_kiosk:doctor",
    "privacy": "heatcast.firmware.cli_kiosk:privacy",
    "bench": "heatcast.firmware.cli_bench:bench",
}

log = logging.getLogger(__name__)


def fail(message: str) -> None:
    """Print one clear error line and exit with status 2."""
    click.echo(f"heatcast: error: {message}", err=True)
    sys.exit(2)


class LazyGroup(click.Group):
    """Loads each subcommand's module on first use; turns heatcast errors into one line."""

    def _available(self) -> dict[str, str]:
        found = {}
        for name, target in COMMANDS.items():
            module = target.partition(":")[0]
            if importlib.util.find_spec(module) is not None:
                found[name] = target
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._available()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self._available().get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HeatcastError as exc:
            log.debug("error detail", exc_info=True)
            fail(str(exc))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="heatcast")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """heatcast: a privacy-first smart billboard on an 8x8 thermal sensor.

    A Panasonic AMG88xx thermal array (no camera) tells whether anyone is in
    front of the screen, how many, their posture and whether they face it;
    heatcast picks content to match, shows it on a local page and writes its
    link onto an NFC tag.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
