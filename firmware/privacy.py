"""What heatcast senses, stores and for how long: the text ``heatcast privacy`` prints.

Kept beside the code that makes it true (the kiosk writes no frame anywhere;
impressions are aggregates purged after ``content.retention_days``) and filled
in from the running configuration, so the statement matches the install.
"""

from __future__ import annotations

from heatcast.firmware.config import Config
from heatcast.firmware.room_memory import SAVE_EVERY_S, room_file


def privacy_statement(config: Config) -> str:
    days = config.content.retention_days
    nfc = "on" if config.nfc_enabled else "off"
    page = f"http://{config.page.host}:{config.page.port}/" if config.page.enabled else "off"
    f = config.fleet
    if f.enabled:
        fleet = (
            f"With the fleet on (fleet.enabled), to the broker {f.broker} as heatcast/{f.site}/...:\n"
            "  aggregates only: each minute, per audience bucket, the counts of showings, visits,\n"
            "  people who had the chance to see and who watched, and seconds of attention and\n"
            "  dwell; the same per video (by its link) with the taps; every minute the kiosk's\n"
            "  health (sensor working, frames read, tag, page, free disk, queue backlog); online or\n"
            "  offline."
            + (" For Home Assistant, the people count (0 to 4) and presence." if f.homeassistant else "")
            + "\n  Never a frame, a temperature, a position, a track or anything about one person.\n"
            f"  Unsent aggregates wait in {config.data_dir / 'fleet-outbox.db'} till the broker takes them.\n"
            "  From the broker comes only the catalogue, signed with the site secret."
        )
    else:
        fleet = "Nothing leaves this machine (the fleet is off: fleet.enabled = false)."
    return f"""\
heatcast privacy statement

What is sensed
  A Panasonic AMG88xx thermal array: 64 temperatures (8 x 8) of the scene, about
  10 times a second. No camera, no microphone, no radio scanning of phones.
  At 8 x 8 pixels a person is a warm blob of a few pixels: no face, no identity,
  nothing that could recognise anyone, even in principle.
  From each frame the classifier estimates only: is anyone there, how many
  (0 to 4+), the nearest person's posture (standing/sitting/lying) and whether
  they face the screen, side-on or away. Frames live in memory for a fraction
  of a second and are then discarded; `heatcast run` writes no frame to disk,
  logs or network (a test checks every file the kiosk opens for writing).

What is stored ({config.db_path})
  The content catalogue (the videos and who they are for), and one row per
  showing of a video ("impression"): which video, the audience bucket
  (e.g. "2 people, standing, facing"), start and end time, seconds someone was
  in view, seconds someone faced the screen, whether they stayed, how many
  people came into view, had the chance to see it and watched it (counts only),
  and how many phones tapped the NFC tag while it showed: the tag counts its own
  reads, and nothing about a phone is seen or kept.
  No frames, no positions, no tracks of people, no identifiers.
  Learned figures per video and audience bucket (how well it holds attention).

The empty room ({room_file(config.data_dir)})
  64 temperatures of the room with nobody in it: the background the classifier
  learned, kept so that a restart can see someone already standing in view.
  Taken only while nobody is in view; pixels never seen empty are left out.
  Rewritten every {SAVE_EVERY_S / 60:g} minutes while the room is empty; it holds no person.

For how long
  Impressions older than {days} days (content.retention_days) are deleted,
  checked at start and then once a day. The catalogue stays until you change it.

What is sent
  {fleet}
  The billboard page ({page}) embeds the chosen
  YouTube video (youtube-nocookie.com); the screen's browser loads it from
  YouTube like any web page. The NFC tag (NFC: {nfc}) holds only the video's
  link; the QR code on the page holds the same link.

Logs
  The kiosk logs to the system journal: what content was chosen for which
  audience bucket, and errors. No frames and no temperatures.

Check this install: heatcast doctor. Remove all stored data: delete {config.db_path}
and {room_file(config.data_dir)}.
"""
