"""``heatcast nfc write|read|status|keygen|udev``: the NFC tag by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from heatcast.errors import ConfigError, UsageError
from heatcast.firmware.options import device_option, json_option


def _config_nfc() -> Any:
    from heatcast.firmware.config import load_config

    return load_config().nfc


def _device(device: str | None) -> str:
    """--device, else the configured reader ("auto": the first supported USB reader)."""
    from heatcast.nfc.status import auto_device

    if device:
        return device
    configured = _config_nfc().device
    if configured == "off":
        raise UsageError('NFC is off in the configuration ([nfc] device = "off"): give --device PATH')
    if configured == "auto":
        found = auto_device()
        if found is None:
            raise UsageError(
                "no supported USB NFC reader found: plug one in (Sony RC-S380, ACR122U, SCL3711, PN533) "
                "or give --device PATH, e.g. --device tty:AMA0:pn532"
            )
        return found
    return str(configured)


def _secret(secret_file: Path | None, required: bool) -> Any:
    from heatcast.nfc.keys import load_secret

    path = secret_file
    if path is None:
        try:
            path = _config_nfc().secret_file
        except ConfigError:
            if required:
                raise
            path = None
    try:
        return load_secret(path)
    except ConfigError:
        if required:
            raise
        return None


secret_option = click.option(
    "--secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Site secret file (mode 600). Default: [nfc] secret_file, $HEATCAST_NFC_SECRET, "
    "then ~/.config/heatcast/nfc-secret.",
)


@click.group()
def nfc() -> None:
    """Write, read and check the NFC tag (NTAG213/215/216) shoppers tap."""


@nfc.command()
@click.argument("url")
@device_option
@click.option(
    "--protect/--no-protect",
    default=True,
    show_default=True,
    help="Password-protect the tag against rewriting by phones (per-tag key from the site secret). "
    "--no-protect is for development.",
)
@secret_option
@json_option
def write(url: str, device: str | None, protect: bool, secret_file: Path | None, as_json: bool) -> None:
    """Write URL onto the tag, read it back and report what was done."""
    from heatcast.nfc.writer import TagWriter

    path = _device(device)
    secret = _secret(secret_file, required=protect)
    writer = TagWriter(path)
    try:
        report = writer.write_url(url, secret=secret, protect=protect)
    finally:
        writer.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    what = "wrote" if report.changed else "already held"
    click.echo(f"{report.tag_type} {report.uid} on {report.reader}")
    click.echo(f"  {what} {report.url}")
    click.echo(f"  page writes: {report.page_writes}  reader exchanges: {report.exchanges}")
    click.echo(f"  verified: {'yes' if report.verified else 'NO'}")
    protected = "yes" if report.protected else "no"
    if report.protected_now:
        protected += " (password set now)"
    click.echo(f"  protected: {protected}")


@nfc.command()
@device_option
@secret_option
@json_option
def read(device: str | None, secret_file: Path | None, as_json: bool) -> None:
    """Show the tag's type, UID, capacity, protection, the URL it holds and its tap counter.

    The counter is read with READ_CNT before anything else, so this reading is no tap.
    """
    from heatcast.nfc.writer import TagWriter

    path = _device(device)
    secret = _secret(secret_file, required=False)
    writer = TagWriter(path)
    try:
        report = writer.read(secret=secret)
    finally:
        writer.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    click.echo(f"type:      {report.tag_type}")
    click.echo(f"uid:       {report.uid}")
    click.echo(f"capacity:  {report.capacity if report.capacity is not None else '-'} bytes of NDEF")
    if report.locked:
        protection = "permanently locked"
    elif report.protected:
        protection = "password-protected (phones read only)"
    else:
        protection = "none (any phone can rewrite it)"
    click.echo(f"protection: {protection}")
    if report.writable is not None:
        click.echo(f"heatcast can write: {'yes' if report.writable else 'no'}")
    url = report.url
    click.echo(f"url:       {url if url else ('(no message)' if url == '' else '(not a URL record)')}")
    from heatcast.nfc.taps import counting_verdict

    _, why = counting_verdict(report.tag_type, report.counting, report.counter_before)
    counter = "-" if report.counter_before is None else str(report.counter_before)
    click.echo(f"counter:   {counter} (counts phone taps: {why})")
    for note in report.notes:
        click.echo(f"note:      {note}")


@nfc.command()
@device_option
@secret_option
@json_option
def status(device: str | None, secret_file: Path | None, as_json: bool) -> None:
    """Is a reader there and usable (with the udev rule or group to add if not), and a tag on it?"""
    from heatcast.nfc.status import probe

    path = _device(device)
    result = probe(path, secret=_secret(secret_file, required=False))
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(
            f"reader:  {result['reader']}" + (f" ({result['reader_name']})" if result["reader_name"] else "")
        )
        for seen in result["usb_readers"]:
            click.echo(f"usb:     {seen}")
        if result["tag"] == "present":
            click.echo(f"tag:     {result['tag_type']} {result['uid']}, holds {result['url'] or '(no URL)'}")
            click.echo(
                f"         protected: {'yes' if result['protected'] else 'no'}, "
                f"writable by heatcast: {_yes_no(result['writable'])}"
            )
        elif result["tag"] == "absent":
            click.echo("tag:     none on the reader")
        if result["problem"]:
            click.echo(f"problem: {result['problem']}")
    if not result["ok"]:
        raise SystemExit(1)


def _yes_no(value: bool | None) -> str:
    return "unknown (no site secret)" if value is None else ("yes" if value else "no")


@nfc.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
def keygen(file: Path | None) -> None:
    """Create the site secret FILE (mode 600; default ~/.config/heatcast/nfc-secret). Never overwrites."""
    from heatcast.nfc.keys import create_secret_file, default_secret_path

    path = create_secret_file(file or default_secret_path())
    click.echo(f"created {path} (mode 600). Back it up: tags protected with it need it to be rewritten.")


@nfc.command()
@click.option("--group", default="plugdev", show_default=True, help="Group allowed to use the readers.")
@click.option(
    "--blacklist", is_flag=True, help="Print the modprobe blacklist for kernel NFC drivers instead."
)
def udev(group: str, blacklist: bool) -> None:
    """Print the udev rule that lets GROUP use supported USB NFC readers."""
    from heatcast.nfc import udev as rules

    click.echo(rules.modprobe_blacklist() if blacklist else rules.udev_rules(group), nl=False)
