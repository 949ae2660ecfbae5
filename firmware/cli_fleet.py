"""``heatcast fleet``: publish the site's signed catalogue, list the kiosks and their health."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from heatcast.errors import ConfigError, UsageError
from heatcast.firmware.options import config_option


def _fleet_config(config_path: Path | None, broker: str | None, site: str | None) -> Any:
    from dataclasses import replace

    from heatcast.firmware.config import CHECKS, load_config

    config = load_config(config_path)
    fleet = config.fleet
    if broker:
        fleet = replace(fleet, broker=str(CHECKS["fleet"]["broker"]("--broker", broker)))
    if site:
        fleet = replace(fleet, site=str(CHECKS["fleet"]["site"]("--site", site)))
    if not fleet.broker or not fleet.site:
        raise ConfigError(
            "no broker or site: set fleet.broker and fleet.site in the config, or pass --broker and --site"
        )
    return config, fleet


@click.group()
def fleet() -> None:
    """A fleet of shops on MQTT: content from one place, aggregates from every kiosk.

    The kiosks report with fleet.enabled = true (README: A fleet of shops).
    """


@fleet.command("publish-catalogue")
@config_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--broker", help="The broker URL (default: fleet.broker), such as mqtts://broker.example:8883.")
@click.option("--site", help="The site whose kiosks take it (default: fleet.site).")
@click.option("--kiosk", "kiosk", help="Only this kiosk of the site (default: every kiosk of the site).")
def publish_catalogue(config_path: Path | None, file: Path, broker: str | None, site: str | None,
                      kiosk: str | None) -> None:  # fmt: skip
    """Sign FILE (CSV or JSON, as `content export` writes it) and publish it, retained.

    FILE is checked first with the checks of `content import` (URL policy included); it is
    signed with the site secret (nfc.secret_file or HEATCAST_NFC_SECRET, the NFC tags'
    secret), so that the kiosks refuse a catalogue from anyone else on the broker.
    """
    from heatcast.firmware.catalogue import read_import
    from heatcast.firmware.config import CHECKS
    from heatcast.firmware.fleet import MAX_CATALOGUE_BYTES, Names, publish_once, sign_catalogue
    from heatcast.nfc.keys import load_secret

    config, fleet_config = _fleet_config(config_path, broker, site)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {file} ({exc.strerror}): give an export file") from None
    items, _summary = read_import(file, config.content.allow_domains, data=data)
    if kiosk is not None:
        kiosk = str(CHECKS["fleet"]["kiosk"]("--kiosk", kiosk))
    secret = load_secret(config.nfc.secret_file).value
    payload = sign_catalogue(secret, fleet_config.site, data, kiosk=kiosk or None)
    if len(payload) > MAX_CATALOGUE_BYTES:
        raise UsageError(f"{file} signed is {len(payload)} bytes, over the kiosks' {MAX_CATALOGUE_BYTES}: "
                         "split the catalogue per kiosk (--kiosk) or remove archived items")  # fmt: skip
    names = Names(fleet_config.site, kiosk or "-")
    topic = names.kiosk_catalogue if kiosk else names.site_catalogue
    publish_once(fleet_config, topic, payload, retain=True)
    click.echo(f"published {len(items)} items to {topic} (signed, retained)")


@fleet.command()
@config_option
@click.option("--broker", help="The broker URL (default: fleet.broker).")
@click.option("--site", help="The site to list (default: fleet.site); '+' for every site.")
@click.option("--seconds", type=click.FloatRange(0.2, 60), default=2.0, show_default=True,
              help="How long to listen for the kiosks' retained state and health.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the kiosks as JSON.")
def status(config_path: Path | None, broker: str | None, site: str | None, seconds: float,
           as_json: bool) -> None:  # fmt: skip
    """List the site's kiosks: online or offline (the last will), health and queue backlog."""
    from heatcast.firmware.fleet import collect

    if site == "+":
        _config, fleet_config = _fleet_config(config_path, broker, "x")
    else:
        _config, fleet_config = _fleet_config(config_path, broker, site)
        site = fleet_config.site
    got = collect(fleet_config, [f"heatcast/{site}/+/state", f"heatcast/{site}/+/health"], seconds)
    kiosks: dict[str, dict[str, Any]] = {}
    for topic, payload in got:
        parts = topic.split("/")
        entry = kiosks.setdefault(f"{parts[1]}/{parts[2]}", {"state": None, "health": None})
        if parts[3] == "state":
            entry["state"] = payload.decode("utf-8", "replace")[:16]
        else:
            try:
                entry["health"] = json.loads(payload)
            except ValueError:
                entry["health"] = None
    if as_json:
        click.echo(json.dumps(kiosks, indent=2, sort_keys=True))
        return
    if not kiosks:
        click.echo(f"no kiosk has reported on {fleet_config.broker} for site {site}")
        return
    for name, entry in sorted(kiosks.items()):
        h = entry["health"] or {}
        sensor = h.get("sensor", {})
        queue = h.get("queue", {})
        click.echo(
            f"{name:32} {entry['state'] or '?':8} sensor {'ok' if sensor.get('ok') else 'FAULT':5} "
            f"frames {sensor.get('frames', '?')}  backlog {queue.get('backlog', '?')}  at {h.get('at', '?')}"
        )
