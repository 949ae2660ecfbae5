"""The ``heatcast`` command.

Subcommands live in one module per area (``cli_sensor``, ``cli_classify``,
``cli_content``, ``cli_nfc``, ``cli_kiosk``) and load only when used, so that
``heatcast view`` never pays for TensorFlow-free but still weighty imports such
as nfcpy or the web server.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import re
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
    "panel": "heatcast.firmware.cli_panel:panel",
    "fleet": "heatcast.firmware.cli_fleet:fleet",
}

log = logging.getLogger(__name__)


def fail(message: str) -> None:
    """Print one clear error line and exit with status 2."""
    click.echo(f"heatcast: error: {message}", err=True)
    sys.exit(2)


#: How heatcast's messages name their fix: "what is wrong: do this" or "...; do this".
_FIX = re.compile(
    r"(?:: |; )((?:check|give|use|run|set|plug|create|install|free|stop|start|remove|make|add|connect|"
    r"retrain|reinstall|copy|leave|open|edit|upgrade|let|replace|point|enable|pass|choose|try|wait|"
    r"unplug|restore|delete|rename|shorten|fix|keep|move|see|ask|put|write|record|sudo)\b.*)$",
    re.IGNORECASE | re.DOTALL,
)


def fix_of(message: str) -> str | None:
    """The remedy an error message names, if it names one."""
    match = _FIX.search(message)
    return match.group(1) if match else None


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

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Kept so that an error can be answered in the form the command was asked for.
        ctx.meta.setdefault("heatcast.args", list(args))
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HeatcastError as exc:
            log.debug("error detail", exc_info=True)
            args = ctx.meta.get("heatcast.args", [])
            asked_json = "--json" in (args[: args.index("--")] if "--" in args else args)
            if asked_json:
                # A monitoring script reads JSON whatever happened: the same exit status, as JSON.
                click.echo(json.dumps({"error": str(exc), "fix": fix_of(str(exc))}))
                sys.exit(2)
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
