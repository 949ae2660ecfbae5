"""Build the catalogue shipped with heatcast, ``content.db`` at the repository root.

    .venv/bin/python tools/build_content_db.py            # writes ./content.db
    .venv/bin/python tools/build_content_db.py --out x.db

The seed list below is the source of truth: edit it and run this script, then
commit both. The links are examples and say so (``youtu.be/EXAMPLE-001``...):
offline, and online too, the screen shows each item's poster, which heatcast
draws itself from the title. A shop replaces the items with its own
(``heatcast content import``/``add``/``remove``).

The file is written with the rollback journal (not WAL) and vacuumed, so that
reading it never creates ``-wal``/``-shm`` files next to it; the kiosk copies it
to its data folder and switches the copy to WAL.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
from pathlib import Path

from heatcast.firmware.catalogue import Catalogue, ContentItem, Schedule, Targeting

# title, video id, people, postures, orientations, min dwell s, days, hours, tags, weight, description
# fmt: off
SEED: list[tuple[str, str, str, str, str, float, str, str, str, float, str]] = [
    # -- nobody there: the attract loop, eye-catching from a distance
    ("Shop window loop", "EXAMPLE-001", "0-0", "", "", 0, "", "", "attract;brand", 2.0,
     "Bright, silent brand loop that draws people in from across the street."),
    ("Today's offers, big type", "EXAMPLE-002", "0-0", "", "", 0, "", "", "attract;offers", 1.5,
     "Large-print offers readable from five metres."),
    ("Morning coffee teaser", "EXAMPLE-003", "0-0", "", "", 0, "mon-fri", "07:00-10:30",
     "attract;morning;coffee", 1.5, "Warm steam and fresh pastries for the morning commute."),
    ("Evening window glow", "EXAMPLE-004", "0-0", "", "", 0, "", "18:00-02:00", "attract;evening", 1.0,
     "Calm, low-brightness loop for late hours and passers-by at night."),
    ("Weekend market loop", "EXAMPLE-005", "0-0", "", "", 0, "sat-sun", "", "attract;weekend", 1.2,
     "Weekend market atmosphere."),
    # -- one person
    ("Meet the maker (60 s)", "EXAMPLE-006", "1-1", "standing", "", 0, "", "", "single;story", 1.0,
     "A short portrait of the people behind the products."),
    ("Quick tip of the day", "EXAMPLE-007", "1-1", "", "", 0, "", "", "single;tip", 1.0,
     "One useful tip, under a minute."),
    ("Personal shopper invitation", "EXAMPLE-008", "1-1", "standing", "facing", 3, "", "",
     "single;service", 1.2, "Invites a single visitor to ask for a free consultation."),
    ("New arrivals, one by one", "EXAMPLE-009", "1-1", "", "", 0, "", "", "single;new", 1.0,
     "This week's new products, one at a time."),
    ("Loyalty card in 30 seconds", "EXAMPLE-010", "1-2", "", "facing", 0, "", "", "loyalty", 0.8,
     "How to join the loyalty scheme with a tap of the phone on the tag."),
    # -- couples
    ("Dinner for two ideas", "EXAMPLE-011", "2-2", "", "", 0, "", "16:00-21:00", "couple;evening;food", 1.2,
     "Recipes and wine pairings for two."),
    ("Weekend getaway picks", "EXAMPLE-012", "2-2", "", "", 0, "thu-sun", "", "couple;travel", 1.0,
     "Small trips and gift ideas for two."),
    ("Gift wrapping for two", "EXAMPLE-013", "2-2", "standing", "facing", 0, "", "", "couple;gifts", 1.0,
     "Matching gifts, wrapped while you wait."),
    ("Couples' coffee duo", "EXAMPLE-014", "2-2", "sitting", "", 0, "", "08:00-12:00", "couple;coffee", 0.9,
     "Two-cup offer for people sitting down together."),
    # -- groups
    ("Family pack offers", "EXAMPLE-015", "3-4", "", "", 0, "", "", "group;family;offers", 1.2,
     "Bigger packs, better prices, for families and friends."),
    ("Group workshop sign-up", "EXAMPLE-016", "3-4", "standing", "facing", 5, "", "", "group;events", 1.0,
     "Book a workshop for your group; tap the tag for dates."),
    ("Party planner highlights", "EXAMPLE-017", "3-4", "", "", 0, "fri-sat", "12:00-22:00",
     "group;party", 1.0, "Everything for a party, in one minute."),
    ("Team lunch deals", "EXAMPLE-018", "3-4", "", "", 0, "mon-fri", "11:00-14:30", "group;lunch", 1.1,
     "Platters and lunch boxes for teams."),
    # -- people sitting (waiting area, cafe corner)
    ("Slow tour of the shop", "EXAMPLE-019", "1-4", "sitting", "", 0, "", "", "sitting;relax", 1.0,
     "A calm three-minute walk through the shop for people having a seat."),
    ("Behind the scenes (long)", "EXAMPLE-020", "1-4", "sitting", "facing", 10, "", "", "sitting;story", 1.2,
     "A longer story for seated viewers who keep watching."),
    ("Reading corner picks", "EXAMPLE-021", "1-2", "sitting", "", 0, "", "", "sitting;books", 0.9,
     "Staff picks to browse while you wait."),
    ("Kids' corner cartoons", "EXAMPLE-022", "2-4", "sitting", "", 0, "", "09:00-18:00",
     "sitting;family", 0.8,
     "Short, quiet cartoons for families waiting together."),
    # -- passing side-on: short, visual, no sound needed
    ("Five-second flash sale", "EXAMPLE-023", "1-4", "standing", "side", 0, "", "",
     "passing;offers;short", 1.5,
     "One bold offer that reads at a glance while walking by."),
    ("Arrow to the entrance", "EXAMPLE-024", "1-4", "", "side", 0, "", "", "passing;wayfinding;short", 1.0,
     "Animated arrow and the opening hours."),
    ("Shorts: product in motion", "EXAMPLE-025", "1-4", "standing", "side", 0, "", "", "passing;short", 1.0,
     "A vertical short that loops seamlessly."),
    ("Rainy-day special", "EXAMPLE-026", "1-4", "", "side;away", 0, "", "", "passing;weather", 0.7,
     "Umbrellas and hot drinks, at a glance."),
    # -- facing and staying: engaged viewers (dwell >= 5 s)
    ("How it's made (full)", "EXAMPLE-027", "1-2", "standing", "facing", 5, "", "", "engaged;story", 1.5,
     "The full making-of for viewers who stopped to watch."),
    ("Product demo, step by step", "EXAMPLE-028", "1-4", "standing", "facing", 5, "", "", "engaged;demo", 1.5,
     "Shows the product in use; the tag links to the manual."),
    ("Customer stories", "EXAMPLE-029", "1-4", "", "facing", 8, "", "", "engaged;story", 1.2,
     "Three customers, three minutes."),
    ("Tap for the recipe", "EXAMPLE-030", "1-2", "", "facing", 5, "", "10:00-20:00", "engaged;food;nfc", 1.3,
     "A recipe video with the tag inviting a tap for the full recipe."),
    ("Workshop replay", "EXAMPLE-031", "2-4", "", "facing", 10, "", "", "engaged;events", 1.0,
     "Highlights of last month's workshop."),
    ("Sustainability in 3 minutes", "EXAMPLE-032", "1-4", "", "facing", 15, "", "", "engaged;values", 1.0,
     "Where the materials come from, for those who stay."),
    # -- general and seasonal
    ("Store tour", "EXAMPLE-033", "1-4", "", "", 0, "", "", "general", 1.0, "A general introduction."),
    ("Winter sale", "EXAMPLE-034", "1-4", "", "", 0, "", "", "seasonal;offers", 1.5,
     "Seasonal campaign, 20 November to 6 January."),
    ("Late-night opening", "EXAMPLE-035", "0-4", "", "", 0, "thu-fri", "20:00-23:00", "evening;hours", 1.0,
     "Announces late opening on Thursdays and Fridays."),
    ("Opening hours and contact", "EXAMPLE-036", "0-4", "", "", 0, "", "", "info", 0.5,
     "Fallback information card."),
]

# fmt: on

#: Dated campaigns: title -> (start date, end date).
DATES = {"Winter sale": ("2026-11-20", "2027-01-06")}


def items() -> list[ContentItem]:
    out = []
    for title, video, people, postures, orientations, dwell, days, hours, tags, weight, desc in SEED:
        start, end = DATES.get(title, (None, None))
        out.append(
            ContentItem.create(
                f"https://www.youtube.com/watch?v={video}",
                title,
                description=desc,
                tags=[*tags.split(";"), "example"],
                targeting=Targeting.parse(people, postures, orientations, dwell),
                schedule=Schedule.parse(days, hours, start, end),
                weight=weight,
            )
        )
    return out


def build(out: Path) -> int:
    tmp = out.with_name(out.name + ".tmp")
    for stale in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        stale.unlink(missing_ok=True)
    seed = items()
    with Catalogue(tmp) as catalogue:
        catalogue.upsert_many(seed)
    conn = sqlite3.connect(tmp)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("VACUUM")
    conn.close()
    os.replace(tmp, out)
    return len(seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "content.db")
    args = parser.parse_args()
    count = build(args.out)
    print(f"wrote {count} items to {args.out}")


if __name__ == "__main__":
    main()
