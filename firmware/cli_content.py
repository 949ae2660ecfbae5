"""``heatcast content ...`` (curate the catalogue) and ``heatcast report``."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from heatcast.errors import ContentError, UsageError
from heatcast.firmware.catalogue import (
    Catalogue,
    ContentItem,
    Schedule,
    Targeting,
    bundled_catalogue_path,
    export_csv,
    import_file,
    item_to_csv_row,
)
from heatcast.firmware.media import store
from heatcast.firmware.options import allow_domain_option, db_option, json_option


def _settings() -> tuple[Path, tuple[str, ...], int]:
    """(catalogue path, allowed shop domains, retention days) from the kiosk configuration."""
    from heatcast.firmware.config import load_config

    config = load_config()
    return config.db_path, config.content.allow_domains, config.content.retention_days


def _is_bundled(path: Path) -> bool:
    try:
        return path.resolve() == bundled_catalogue_path().resolve()
    except OSError:
        return False


def open_catalogue(db: Path | None, *, write: bool, create: bool = False) -> Catalogue:
    """The catalogue named by --db, or the kiosk's own (copied from the shipped one on first use)."""
    if db is None:
        return Catalogue.open_or_copy(_settings()[0])
    if _is_bundled(db):
        if write:
            raise UsageError(
                f"{db} is the catalogue shipped with heatcast and is never changed; "
                "edit the kiosk's copy (leave out --db) or give another --db"
            )
        return Catalogue(db, readonly=True)
    if not db.exists() and not create:
        raise ContentError(
            f"catalogue {db} does not exist; check the path, or leave out --db for the kiosk's"
        )
    return Catalogue(db)



def _domains(extra: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_settings()[1]) + extra


def _item_json(item: ContentItem) -> dict[str, Any]:
    row: dict[str, Any] = item_to_csv_row(item)
    row["id"] = item.id
    row["tags"] = list(item.tags)
    row["weight"] = item.weight
    row["active"] = item.active
    row["min_dwell_s"] = item.targeting.min_dwell_s
    row["attract"] = item.targeting.attract
    return row


@click.group()
def content() -> None:
    """Curate the content catalogue: add, list, remove, import and export items.

    Without --db these work on the kiosk's own catalogue (in its data folder,
    copied from the one shipped with heatcast the first time). A running kiosk
    picks up changes at its next choice; no restart needed.
    """


@content.command()
@click.argument("url")
@click.option("--title", help="A name for the item (default: the URL).")
@click.option("--description", default="", help="Free text for your own notes.")
@click.option(
    "--people",
    metavar="N|MIN-MAX",
    help="People in view: 1, 1-2, 3-4 (4 = four or more); 0-0 = nobody there (attract loop). Default 1-4.",
)
@click.option("--posture", metavar="LIST", help="standing, sitting, lying (comma list; default any).")
@click.option("--orientation", metavar="LIST", help="facing, side, away (comma list; default any).")
@click.option(
    "--dwell",
    type=float,
    default=0.0,
    show_default=True,
    help="Only once the audience has stayed this many seconds.",
)
@click.option("--days", metavar="LIST", help="Days of the week: mon-fri, sat,sun (default every day).")
@click.option(
    "--hours",
    metavar="HH:MM-HH:MM",
    help="Daily window, may pass midnight: 09:00-18:00, 22:00-02:00 (default all day).",
)
@click.option("--from", "start_date", metavar="YYYY-MM-DD", help="First day it may run.")
@click.option("--until", "end_date", metavar="YYYY-MM-DD", help="Last day it may run.")
@click.option("--tags", metavar="LIST", help="Comma list of your own labels.")
@click.option(
    "--weight", type=float, default=1.0, show_default=True, help="How strongly to favour it (0-1000)."
)
@click.option("--inactive", is_flag=True, help="Add it switched off.")
@click.option(
    "--poster",
    type=click.Path(path_type=Path),
    help="An image shown when the video cannot play (PNG, JPEG or WebP, up to 20 MB); "
    "default: a poster heatcast draws from the title.",
)
@click.option(
    "--video",
    type=click.Path(path_type=Path),
    help="A local copy to play instead of YouTube, needing no internet (MP4 or WebM, up to 500 MB).",
)
@allow_domain_option
@db_option
@json_option
def add(
    url: str,
    title: str | None,
    description: str,
    people: str | None,
    posture: str | None,
    orientation: str | None,
    dwell: float,
    days: str | None,
    hours: str | None,
    start_date: str | None,
    end_date: str | None,
    tags: str | None,
    weight: float,
    inactive: bool,
    poster: Path | None,
    video: Path | None,
    allow_domains: tuple[str, ...],
    db: Path | None,
    as_json: bool,
) -> None:
    """Add one YouTube video (https youtube.com/watch?v=, youtu.be/ or /shorts/ link).

    The screen plays a local --video if given, else the YouTube video while the
    internet is there, else the poster; the files are checked and copied into the
    catalogue's media folder.
    """
    item = ContentItem.create(
        url,
        title,
        description=description,
        tags=(tags or "").split(","),
        targeting=Targeting.parse(people, posture, orientation, dwell),
        schedule=Schedule.parse(days, hours, start_date, end_date),
        weight=weight,
        active=not inactive,
        allow_domains=_domains(allow_domains),
    )
    with open_catalogue(db, write=True, create=True) as catalogue:
        folder = catalogue.media_dir
        item = replace(
            item,
            poster=store(poster, "poster", folder) if poster else None,
            video=store(video, "video", folder) if video else None,
        )
        item = catalogue.add(item)
        where = catalogue.path
    if as_json:
        click.echo(json.dumps(_item_json(item)))
    else:
        click.echo(f"added item {item.id}: {item.title} ({item.url}) to {where}")


@content.command(name="list")
@click.option("--active", "active_only", is_flag=True, help="Only the items switched on.")
@db_option
@json_option
def list_command(active_only: bool, db: Path | None, as_json: bool) -> None:
    """List the items with their targeting and schedule."""
    with open_catalogue(db, write=False) as catalogue:
        items = catalogue.items(active_only=active_only)
        where = catalogue.path
    if as_json:
        click.echo(json.dumps([_item_json(i) for i in items], indent=1))
        return
    click.echo(f"{len(items)} items in {where}")
    for item in items:
        t, s = item.targeting, item.schedule
        who = "nobody there (attract)" if t.attract else f"{t.people} people"
        if t.postures:
            who += f", {'/'.join(t.postures)}"
        if t.orientations:
            who += f", {'/'.join(t.orientations)}"
        if t.min_dwell_s:
            who += f", after {t.min_dwell_s:g}s"
        when = " ".join(p for p in (s.days_text, s.hours_text) if p) or "always"
        if s.date_from or s.date_to:
            when += f" {s.date_from or '...'}..{s.date_to or '...'}"
        flag = "" if item.active else " [off]"
        click.echo(
            f"{item.id:5d}  {item.title[:40]:40}  {item.url}  {who}; {when}; weight {item.weight:g}{flag}"
        )


@content.command()
@click.argument("item_id", metavar="ID", type=int)
@db_option
def remove(item_id: int, db: Path | None) -> None:
    """Remove an item (with its impressions and what was learned about it)."""
    with open_catalogue(db, write=True) as catalogue:
        item = catalogue.remove(item_id)
    click.echo(f"removed item {item_id}: {item.title} ({item.url})")


@content.command()
@click.argument("item_id", metavar="ID", type=int)
@click.option("--off", is_flag=True, help="Switch it off instead.")
@db_option
def enable(item_id: int, off: bool, db: Path | None) -> None:
    """Switch an item on (or off with --off) without removing it."""
    with open_catalogue(db, write=True) as catalogue:
        catalogue.set_active(item_id, not off)
    click.echo(f"item {item_id} switched {'off' if off else 'on'}")


@content.command(name="import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@allow_domain_option
@db_option
@json_option
def import_command(file: Path, allow_domains: tuple[str, ...], db: Path | None, as_json: bool) -> None:
    """Import items from CSV (the export columns) or from the old system's SQLite file.

    The old system's file holds a table youtube_urls (description, url) whose
    descriptions are camera-era profiles ("male, 30, asian, no, short, polo
    shirt"). Only what a thermal sensor can see (how many people, sitting or
    standing, facing or passing, staying) becomes targeting; the rest is kept as
    tags, never used, and listed in the summary. The whole file is checked first
    and written in one transaction: a bad row imports nothing.
    """
    domains = _domains(allow_domains)
    with open_catalogue(db, write=True, create=True) as catalogue:

        def progress(done: int) -> None:
            if done == 0:
                click.echo(f"checked {file}; writing to {catalogue.path} ...", err=True)

        summary = import_file(catalogue, file, domains, progress)
    if as_json:
        click.echo(json.dumps(summary.to_json()))
    else:
        for line in summary.lines():
            click.echo(line)


@content.command(name="export")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True))
@db_option
def export_command(file: Path, db: Path | None) -> None:
    """Write every item as CSV (the columns `content import` reads)."""
    with open_catalogue(db, write=False) as catalogue:
        if str(file) == "-":
            import csv

            from heatcast.firmware.catalogue import CSV_COLUMNS

            writer = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for item in catalogue.items():
                writer.writerow(item_to_csv_row(item))
            return
        count = export_csv(catalogue, file)
    click.echo(f"exported {count} items to {file}")


@click.command()
@db_option
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]),
    help="Only showings from this date (YYYY-MM-DD) on.",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the figures as CSV.",
)
@click.option(
    "--png",
    "png_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also draw a one-page chart (PNG).",
)
@click.option("--purge", is_flag=True, help="First delete showings older than content.retention_days.")
@json_option
def report(
    db: Path | None,
    since: datetime | None,
    csv_path: Path | None,
    png_path: Path | None,
    purge: bool,
    as_json: bool,
) -> None:
    """What was shown, who had the chance to see it, and what held attention.

    Per hour and per item: opportunities to see (people in view), watchers
    (someone facing the screen), dwell and attention time; and per audience
    (how many, posture, facing) which items were hits (watched 2 s or more)
    or misses. All anonymous: heatcast records no person, only these counts.
    """
    from heatcast.firmware.report import build_report, format_text, report_rows, write_csv, write_png

    with open_catalogue(db, write=purge) as catalogue:
        if purge:
            removed = catalogue.purge(_settings()[2])
            click.echo(f"purged {removed} showings older than the retention period", err=True)
        result = build_report(catalogue, since)
    if csv_path is not None:
        write_csv(result, csv_path)
    if png_path is not None:
        write_png(result, png_path)
    if as_json:
        click.echo(json.dumps(list(report_rows(result)), indent=1))
    else:
        for line in format_text(result):
            click.echo(line)
    for path in (csv_path, png_path):
        if path is not None:
            click.echo(f"wrote {path}", err=True)
