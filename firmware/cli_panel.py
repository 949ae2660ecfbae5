"""``heatcast panel``: the shop owner's browser panel (its password)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from heatcast.firmware.options import config_option


def _data_dir(config_path: Path | None) -> tuple[Path, str]:
    from heatcast.firmware.config import load_config

    config = load_config(config_path)
    host = f"[{config.panel.host}]" if ":" in config.panel.host else config.panel.host
    return config.data_dir, f"http://{host}:{config.panel.port}/"


@click.group()
def panel() -> None:
    """The shop owner's panel: content, schedules, audience and reports in a browser.

    The panel is off until a password is set with `heatcast panel passwd`; the
    kiosk then serves it on panel.host and panel.port (http://127.0.0.1:8081/ by
    default) from its next start.
    """


@panel.command()
@config_option
@click.option(
    "--stdin",
    "from_stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of asking twice.",
)
def passwd(config_path: Path | None, from_stdin: bool) -> None:
    """Set the panel's password (this turns the panel on).

    Asks for it twice without showing it, or reads it with --stdin. Only a
    scrypt hash is kept, in the data directory (mode 600). A new password logs
    out everyone who is logged in; it also opens logins locked by wrong tries.
    """
    from heatcast.firmware.panel import MIN_PASSWORD, check_new_password, read_password, set_password

    data_dir, url = _data_dir(config_path)
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(
            f"New panel password (at least {MIN_PASSWORD} characters)",
            hide_input=True,
            confirmation_prompt="Repeat it",
        )
    check_new_password(password)
    had = read_password(data_dir) is not None
    path = set_password(data_dir, password)
    click.echo(f"panel password {'changed' if had else 'set'} ({path})")
    if not had:
        click.echo(f"restart the kiosk (sudo systemctl restart heatcast) and open {url}")


@panel.command()
@config_option
def off(config_path: Path | None) -> None:
    """Turn the panel off: forget its password (from the kiosk's next start)."""
    from heatcast.firmware.panel import remove_password

    data_dir, _ = _data_dir(config_path)
    if remove_password(data_dir):
        click.echo("panel password removed: the panel is off from the kiosk's next start")
    else:
        click.echo("the panel had no password: it is off")
