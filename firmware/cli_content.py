"""``heatcast content ...`` (curate the catalogue) and ``heatcast report``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from heatcast.errors import ContentError, UsageError
from heatcast.firmware.catalogue import (
    FORMATS,
    Catalogue,
    ContentItem,
    Schedule,
    Targeting,
    bundled_catalogue_path,
    format_items,
    import_file,
    item_to_json,
    parse_changes,
    write_atomic,
)
from heatcast.firmware.media import Kind, store
from heatcast.firmware.options import allow_domain_option, db_option, json_option, output_options


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


def _ids(values: tuple[str, ...]) -> list[int]:
    """Item ids from the command line: ``3 5 8`` or ``3,5,8``; one error naming any that are not ids."""
    parts = [p.strip() for value in values for p in value.split(",") if p.strip()]
    if not parts:
        raise UsageError("give one or more item ids, e.g. 3 or 3 5 8 (`heatcast content list` shows them)")
    bad = [p for p in parts if not p.isdigit() or int(p) == 0]
    if bad:
        raise UsageError(
            f"item ids are whole numbers from 1; {', '.join(map(repr, bad))} "
            f"{'is' if len(bad) == 1 else 'are'} not (`heatcast content list` shows them)"
        )
    return list(dict.fromkeys(int(p) for p in parts))


def _archived_filter(archived: bool, everything: bool) -> bool | None:
    if archived and everything:
        raise UsageError("give --archived (only archived items) or --all (every item), not both")
    return None if everything else archived


def archived_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--all", "everything", is_flag=True, help="Archived items too.")(func)
    return click.option("--archived", is_flag=True, help="Only the archived items.")(func)


def _who(item: ContentItem) -> str:
    t = item.targeting
    who = "nobody there (attract)" if t.attract else f"{t.people} people"
    if t.postures:
        who += f", {'/'.join(t.postures)}"
    if t.orientations:
        who += f", {'/'.join(t.orientations)}"
    if t.min_dwell_s:
        who += f", after {t.min_dwell_s:g}s"
    return who


def _when(item: ContentItem) -> str:
    s = item.schedule
    when = " ".join(p for p in (s.days_text, s.hours_text) if p) or "always"
    if s.date_from or s.date_to:
        when += f" {s.date_from or '...'}..{s.date_to or '...'}"
    return when


def _table(items: list[ContentItem], where: Path) -> Iterator[str]:
    """The items as a table to read on screen (not an import format)."""
    from tabulate import tabulate

    rows = [
        (
            item.id,
            item.title[:40],
            item.url,
            _who(item),
            _when(item),
            f"{item.weight:g}",
            "archived" if item.archived else ("on" if item.active else "off"),
        )
        for item in items
    ]
    yield f"{len(items)} items in {where}\n"
    if rows:
        headers = ("id", "title", "url", "for whom", "when", "weight", "state")
        yield tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True) + "\n"


def _list_text(items: list[ContentItem], fmt: str, where: Path) -> Iterator[str]:
    return _table(items, where) if fmt == "table" else format_items(items, fmt)


def _say_items(verb: str, items: list[ContentItem], note: str = "") -> None:
    for item in items:
        click.echo(f"{verb} item {item.id}: {item.title} ({item.url}){note}")


def _item_json(item: ContentItem) -> dict[str, Any]:
    return item_to_json(item)


@click.group()
def content() -> None:
    """Curate the content catalogue: add, edit, list, remove, restore, import and export items.

    Without --db these work on the kiosk's own catalogue (in its data folder,
    copied from the one shipped with heatcast the first time). A running kiosk
    picks up changes at its next choice; no restart needed. Commands that take
    ids take several (3 5 8, or 3,5,8); if any is not there, nothing changes.
    Lists (days, tags, postures) are separated by commas everywhere.
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
    catalogue's media folder. A link on your own domain (--allow-domain) keeps
    that allowance with the item, through export and import.
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


@content.command()
@click.argument("item_ids", metavar="ID...", nargs=-1)
@click.option("--title", help="A new name.")
@click.option("--description", help="New notes ('' clears them).")
@click.option("--url", help="A new link, checked as `add` checks it.")
@click.option("--people", metavar="N|MIN-MAX", help="People in view: 1, 1-2, 3-4, 0-0 ('' = 1-4).")
@click.option("--posture", metavar="LIST", help="standing, sitting, lying ('' or any = any).")
@click.option("--orientation", metavar="LIST", help="facing, side, away ('' or any = any).")
@click.option("--dwell", metavar="SECONDS", help="Only once the audience has stayed this long ('' = 0).")
@click.option("--days", metavar="LIST", help="Days of the week: mon-fri,sun ('' = every day).")
@click.option("--hours", metavar="HH:MM-HH:MM", help="Daily window, may pass midnight ('' = all day).")
@click.option("--from", "start_date", metavar="YYYY-MM-DD", help="First day it may run ('' = no start).")
@click.option("--until", "end_date", metavar="YYYY-MM-DD", help="Last day it may run ('' = no end).")
@click.option("--no-schedule", is_flag=True, help="Clear days, hours, --from and --until: any time.")
@click.option("--tags", metavar="LIST", help="Comma list of labels, replacing the old ones ('' = none).")
@click.option("--weight", metavar="N", help="How strongly to favour it, 0-1000 ('' = 1).")
@click.option("--active/--inactive", default=None, help="Switch it on or off.")
@click.option(
    "--poster",
    metavar="FILE",
    help="A new poster image (PNG, JPEG or WebP, up to 20 MB); '' = the poster heatcast draws.",
)
@click.option("--video", metavar="FILE", help="A new local video (MP4 or WebM, up to 500 MB); '' = none.")
@allow_domain_option
@db_option
@json_option
def edit(
    item_ids: tuple[str, ...],
    title: str | None,
    description: str | None,
    url: str | None,
    people: str | None,
    posture: str | None,
    orientation: str | None,
    dwell: str | None,
    days: str | None,
    hours: str | None,
    start_date: str | None,
    end_date: str | None,
    no_schedule: bool,
    tags: str | None,
    weight: str | None,
    active: bool | None,
    poster: str | None,
    video: str | None,
    allow_domains: tuple[str, ...],
    db: Path | None,
    as_json: bool,
) -> None:
    """Change some fields of one or more items; only the options given change.

    An empty value clears an optional field (--days '' runs it every day,
    --poster '' goes back to the drawn poster); --no-schedule clears the whole
    schedule. The result is checked as `add` checks a new item, and with several
    ids every item changes or none does.

    \b
    heatcast content edit 12 --title "Winter sale" --until 2026-12-24
    heatcast content edit 3 5 8 --days sat,sun --hours ''
    """
    ids = _ids(item_ids)
    text: dict[str, str | None] = {}
    if no_schedule:
        text.update(days="", hours="", start_date="", end_date="")
    given = {
        "title": title, "description": description, "url": url, "people": people, "postures": posture,
        "orientations": orientation, "min_dwell_s": dwell, "days": days, "hours": hours,
        "start_date": start_date, "end_date": end_date, "tags": tags, "weight": weight,
    }  # fmt: skip
    text.update({k: v for k, v in given.items() if v is not None})
    changes = parse_changes(**text)
    if active is not None:
        changes["active"] = active
    if not changes and poster is None and video is None:
        raise UsageError("nothing to change: give one or more options (see `heatcast content edit --help`)")
    with open_catalogue(db, write=True) as catalogue:
        catalogue.get_many(ids)  # unknown ids first, before any file is stored
        folder = catalogue.media_dir
        pairs: tuple[tuple[Kind, str | None], ...] = (("poster", poster), ("video", video))
        for kind, value in pairs:
            if value is not None:
                changes[kind] = store(Path(value), kind, folder) if value.strip() else None
        items = catalogue.update_many(ids, allow_domains=_domains(allow_domains), **changes)
    if as_json:
        click.echo(json.dumps([_item_json(i) for i in items], indent=1))
    else:
        _say_items("changed", items)


@content.command(name="list")
@click.option("--active", "active_only", is_flag=True, help="Only the items switched on.")
@archived_options
@db_option
@output_options
def list_command(
    active_only: bool, archived: bool, everything: bool, db: Path | None, fmt: str | None
) -> None:
    """List the items with their targeting and schedule (archived ones with --archived or --all).

    A table by default; --csv, --json and --nl write what `content import` reads.
    """
    which = _archived_filter(archived, everything)
    with open_catalogue(db, write=False) as catalogue:
        items = catalogue.items(active_only=active_only, archived=which)
        where = catalogue.path
    for piece in _list_text(items, fmt or "table", where):
        click.echo(piece, nl=False)


@content.command()
@click.argument("item_ids", metavar="ID...", nargs=-1)
@click.option("--purge", is_flag=True, help="Delete them for good, with their impressions (asks first).")
@click.option("--yes", "-y", is_flag=True, help="With --purge: do not ask.")
@db_option
def remove(item_ids: tuple[str, ...], purge: bool, yes: bool, db: Path | None) -> None:
    """Archive items: off the screen, their impressions and history kept.

    `heatcast content restore ID` brings an archived item back. With --purge the
    items, their impressions and what was learned about them are deleted after
    a confirmation (or --yes).
    """
    ids = _ids(item_ids)
    if yes and not purge:
        raise UsageError("--yes goes with --purge; without it, remove only archives (nothing to confirm)")
    with open_catalogue(db, write=True) as catalogue:
        if not purge:
            items = catalogue.archive(ids)
            _say_items("archived", items, "; its history is kept")
            return
        items = catalogue.get_many(ids)
        marks = ", ".join("?" * len(ids))
        shown = catalogue.query(f"SELECT count(*) AS n FROM impressions WHERE content_id IN ({marks})", ids)
        what = f"{len(items)} item{'s' if len(items) > 1 else ''} ({', '.join(str(i.id) for i in items)})"
        question = f"Delete {what} and {shown[0]['n']} recorded showings for good?"
        if not yes:
            try:
                confirmed = click.confirm(question, default=False, err=True)
            except click.Abort:
                confirmed = False
            if not confirmed:
                raise UsageError(f"nothing deleted; to delete without asking add --yes ({what})")
        items = catalogue.delete_items(ids)
    _say_items("deleted", items)


@content.command()
@click.argument("item_ids", metavar="ID...", nargs=-1)
@db_option
def restore(item_ids: tuple[str, ...], db: Path | None) -> None:
    """Bring archived items back, switched on or off as they were."""
    ids = _ids(item_ids)
    with open_catalogue(db, write=True) as catalogue:
        items = catalogue.restore(ids)
    for item in items:
        state = "on" if item.active else "off"
        click.echo(f"restored item {item.id}: {item.title} ({item.url}), switched {state}")


@content.command()
@click.argument("item_ids", metavar="ID...", nargs=-1)
@click.option("--off", is_flag=True, help="Switch them off instead.")
@db_option
def enable(item_ids: tuple[str, ...], off: bool, db: Path | None) -> None:
    """Switch items on (or off with --off) without removing them."""
    ids = _ids(item_ids)
    with open_catalogue(db, write=True) as catalogue:
        items = catalogue.set_active(ids, not off)
    state = "off" if off else "on"
    for item in items:
        note = " (archived: it shows once restored)" if item.archived and not off else ""
        click.echo(f"item {item.id} switched {state}{note}")


@content.command(name="import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True))
@allow_domain_option
@db_option
@json_option
def import_command(file: Path, allow_domains: tuple[str, ...], db: Path | None, as_json: bool) -> None:
    """Import items from a file, or - for standard input, matched by URL.

    The format is found from the content: CSV, a JSON array or newline-delimited
    JSON (as `content export --csv/--json/--nl` writes them), or the old
    system's SQLite file. Items already there with every field the same are
    left alone and counted unchanged.

    The old system's file holds a table youtube_urls (description, url) whose
    descriptions are camera-era profiles ("male, 30, asian, no, short, polo
    shirt"). Only what a thermal sensor can see (how many people, sitting or
    standing, facing or passing, staying) becomes targeting; the rest is kept as
    tags, never used, and listed in the summary. The whole file is checked first
    and written in one transaction: a bad row imports nothing.
    """
    domains = _domains(allow_domains)
    data = sys.stdin.buffer.read() if str(file) == "-" else None
    source = Path("standard input") if data is not None else file
    with open_catalogue(db, write=True, create=True) as catalogue:

        def progress(done: int) -> None:
            if done == 0:
                click.echo(f"checked {source}; writing to {catalogue.path} ...", err=True)

        summary = import_file(catalogue, source, domains, progress, data=data)
    if as_json:
        click.echo(json.dumps(summary.to_json()))
    else:
        for line in summary.lines():
            click.echo(line)


def _export_format(file: Path, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    return {".json": "json", ".jsonl": "nl", ".ndjson": "nl"}.get(file.suffix.lower(), "csv")


@content.command(name="export")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True))
@archived_options
@db_option
@output_options
def export_command(file: Path, archived: bool, everything: bool, db: Path | None, fmt: str | None) -> None:
    """Write the items to a file, or - for standard output (archived ones with --archived or --all).

    CSV by default (JSON for a .json file, newline-delimited JSON for .jsonl or
    .ndjson); --csv, --json and --nl are what `content import` reads back.
    """
    which = _archived_filter(archived, everything)
    chosen = _export_format(file, fmt)
    with open_catalogue(db, write=False) as catalogue:
        items = catalogue.items(archived=which)
        where = catalogue.path
    pieces = _list_text(items, chosen, where)
    if str(file) == "-":
        for piece in pieces:
            click.echo(piece, nl=False)
        return
    write_atomic(file, pieces)
    click.echo(f"exported {len(items)} items to {file} ({FORMATS.get(chosen, chosen)})")


_WHEN = click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"])


@click.command()
@db_option
@click.option(
    "--since", type=_WHEN, metavar="DATE[ HH:MM]",
    help="Only showings from then on (YYYY-MM-DD or YYYY-MM-DD HH:MM, the shop's local time).",
)  # fmt: skip
@click.option(
    "--until", type=_WHEN, metavar="DATE[ HH:MM]",
    help="Only showings before then (same forms; a date means its midnight).",
)  # fmt: skip
@click.option(
    "--by", "periods", type=click.Choice(["hour", "day", "week"]), multiple=True,
    help="The periods of the CSV and JSON rows (repeat for several; default day).",
)  # fmt: skip
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the figures as CSV: one row per period, item and audience.",
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
    until: datetime | None,
    periods: tuple[str, ...],
    csv_path: Path | None,
    png_path: Path | None,
    purge: bool,
    as_json: bool,
) -> None:
    """What was shown, who had the chance to see it, and what held attention.

    Visits (people who came into view), opportunities to see (visits in view
    while an item showed, once per item), watchers (visits that faced the
    screen 2 s or more, once per item), conversion (watchers / OTS), dwell and
    attention time; per hour, per item, and per audience (how many, posture,
    facing) which items were hits or misses, with the last 7 days against the
    7 before. Attract loops (content for nobody there) are listed apart and
    never count as watched. All anonymous: heatcast records no person.
    """
    from heatcast.firmware.report import (
        build_report,
        compare_weeks,
        format_text,
        report_rows,
        write_csv,
        write_png,
    )

    if since is not None and until is not None and until <= since:
        raise UsageError(f"--until {until:%Y-%m-%d %H:%M} is not after --since {since:%Y-%m-%d %H:%M}")
    chosen = periods or ("day",)
    with open_catalogue(db, write=purge) as catalogue:
        if purge:
            removed = catalogue.purge(_settings()[2])
            click.echo(f"purged {removed} showings older than the retention period", err=True)
        result = build_report(catalogue, since, until)
        weeks = compare_weeks(catalogue, until or datetime.now()) if not as_json else None
    if csv_path is not None:
        write_csv(result, csv_path, chosen)
    if png_path is not None:
        write_png(result, png_path)
    if as_json:
        summary = {
            "visits": result.visits, "showings": result.total.shown, "ots": result.total.ots,
            "watchers": result.total.watchers, "attention_s": round(result.total.attention_s, 1),
            "dwell_s": round(result.total.dwell_s, 1),
        }  # fmt: skip
        click.echo(json.dumps({"total": summary, "rows": list(report_rows(result, chosen))}, indent=1))
    else:
        for line in format_text(result, weeks):
            click.echo(line)
    for path in (csv_path, png_path):
        if path is not None:
            click.echo(f"wrote {path}", err=True)
