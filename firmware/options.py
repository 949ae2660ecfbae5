"""Option decorators shared by the CLI commands (as in sqlite-utils)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

F = TypeVar("F", bound=Callable[..., Any])

SOURCE_HELP = (
    "Frame source: i2c://1/0x69?fps=10, serial:///dev/ttyUSB0?baud=115200, "
    "replay:trace.csv?speed=1, or sim:?seed=1. Add rotate=90 or mirror=1 for the mounting."
)


def source_argument(func: F) -> F:
    return click.argument("source", metavar="SOURCE")(func)


def db_option(func: F) -> F:
    return click.option(
        "--db",
        "db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Content catalogue (SQLite). Default: the kiosk's data directory.",
    )(func)


def model_option(func: F) -> F:
    return click.option(
        "--model",
        "model",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="TFLite model file. Default: the model shipped with heatcast.",
    )(func)


def device_option(func: F) -> F:
    return click.option(
        "--device",
        "device",
        default=None,
        metavar="PATH",
        help="nfcpy reader path: usb, usb:054c:06c1, tty:AMA0:pn532, udp:127.0.0.1:54321.",
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Configuration file (TOML). Default: ~/.config/heatcast/heatcast.toml, "
        "else /etc/heatcast/heatcast.toml, else built-in defaults.",
    )(func)


def allow_domain_option(func: F) -> F:
    return click.option(
        "--allow-domain",
        "allow_domains",
        multiple=True,
        metavar="DOMAIN",
        help="Also accept https links on this shop domain (repeatable; adds to content.allow_domains).",
    )(func)


#: The item formats ``content list`` and ``content export`` write (``content import`` reads all but table).
OUTPUT_FORMATS = {
    "csv": "CSV, the columns a spreadsheet and `content import` read.",
    "json": "A JSON array of objects (`content import` reads it back).",
    "nl": "Newline-delimited JSON: one object a line (`content import` reads it back).",
    "table": "A table to read on screen.",
}


def output_options(func: F) -> F:
    """``--csv/--json/--nl/--table`` (as sqlite-utils' output options); the command gets ``fmt``,
    the one chosen or None for its own default. More than one is a usage error."""
    from heatcast.errors import UsageError

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        chosen = [name for name in OUTPUT_FORMATS if kwargs.pop(f"as_{name}")]
        if len(chosen) > 1:
            given = " and ".join(f"--{c}" for c in chosen)
            raise UsageError(f"give one of --csv, --json, --nl or --table, not {given}")
        return func(*args, fmt=chosen[0] if chosen else None, **kwargs)

    command: Callable[..., Any] = wrapper
    for name, text in reversed(OUTPUT_FORMATS.items()):
        command = click.option(f"--{name}", f"as_{name}", is_flag=True, help=text)(command)
    return cast(F, command)
