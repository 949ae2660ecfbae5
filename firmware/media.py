"""Posters and local videos: the files a shop owner gives an item, kept beside the catalogue.

A billboard must show something without the internet, so each item may have a
poster image and a video file of its own. They are checked by their first bytes
(never by their names) and by size, then stored in the ``media`` folder next to
the catalogue under a name made from their content's hash: the same file given
twice is stored once, and no name can ever point outside the folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from heatcast.errors import ContentError

Kind = Literal["poster", "video"]

#: Big enough for a 4K poster or a few minutes of 1080p, small enough for a Pi's SD card.
MAX_BYTES: dict[Kind, int] = {"poster": 20 * 1024 * 1024, "video": 500 * 1024 * 1024}
_NAME = re.compile(r"[0-9a-f]{24}\.(png|jpg|webp|mp4|webm)")


@dataclass(frozen=True, slots=True)
class MediaType:
    kind: Kind
    suffix: str
    mime: str


_TYPES = {
    "png": MediaType("poster", "png", "image/png"),
    "jpg": MediaType("poster", "jpg", "image/jpeg"),
    "webp": MediaType("poster", "webp", "image/webp"),
    "mp4": MediaType("video", "mp4", "video/mp4"),
    "webm": MediaType("video", "webm", "video/webm"),
}
_ACCEPTED: dict[Kind, str] = {"poster": "a PNG, JPEG or WebP image", "video": "an MP4 or WebM video"}


def media_dir(db_path: Path) -> Path:
    """The folder of a catalogue's posters and videos."""
    return Path(db_path).parent / "media"


def sniff(head: bytes) -> MediaType | None:
    """The type of a file from its first 16 bytes, or None if it is none heatcast shows."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _TYPES["png"]
    if head.startswith(b"\xff\xd8\xff"):
        return _TYPES["jpg"]
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _TYPES["webp"]
    if head[4:8] == b"ftyp":
        return _TYPES["mp4"]
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _TYPES["webm"]
    return None


def mime_of(name: str) -> str | None:
    """The content type of a stored file's name, or None if the name is not one heatcast made."""
    if not _NAME.fullmatch(name):
        return None
    return _TYPES[name.rsplit(".", 1)[1]].mime


def check_name(name: str, kind: Kind, folder: Path) -> str:
    """A stored file's name, as an import file gives it: well formed, of ``kind``, present."""
    if not _NAME.fullmatch(name) or _TYPES[name.rsplit(".", 1)[1]].kind != kind:
        raise ContentError(
            f"{kind} {name!r} is not the name of a stored {kind}; give the file itself with "
            f"`heatcast content add URL --{kind} FILE`"
        )
    if not (folder / name).is_file():
        raise ContentError(
            f"{kind} {name} is not in {folder}; copy that folder along with the catalogue, "
            f"or give the file again with `heatcast content add URL --{kind} FILE`"
        )
    return name


def store(path: Path, kind: Kind, folder: Path) -> str:
    """Check ``path`` and keep a copy in ``folder``; the stored file's name."""
    path = Path(path)
    try:
        with path.open("rb") as src:
            size = os.fstat(src.fileno()).st_size
            if size > MAX_BYTES[kind]:
                raise ContentError(
                    f"{path} is {size / 1e6:.1f} MB; a {kind} may be at most "
                    f"{MAX_BYTES[kind] / 1e6:.0f} MB: make it smaller"
                )
            found = sniff(src.read(16))
            if found is None or found.kind != kind:
                what = f"a {found.kind}" if found else "not a file type heatcast shows"
                raise ContentError(f"{path} is {what}; a {kind} must be {_ACCEPTED[kind]}")
            src.seek(0)
            return _copy(src, found, folder)
    except FileNotFoundError:
        raise ContentError(f"{path} does not exist: give the {kind} file's path") from None
    except IsADirectoryError:
        raise ContentError(f"{path} is a folder: give the {kind} file's path") from None
    except PermissionError:
        raise ContentError(f"{path} cannot be read (permission denied)") from None


def _copy(src: BinaryIO, found: MediaType, folder: Path) -> str:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".media-", dir=folder)
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:
                limit = MAX_BYTES[found.kind]
                copied = 0
                while chunk := src.read(1 << 20):
                    copied += len(chunk)
                    if copied > limit:  # it grew while being copied
                        raise ContentError(f"the {found.kind} grew past {limit / 1e6:.0f} MB while copied")
                    digest.update(chunk)
                    out.write(chunk)
            name = f"{digest.hexdigest()[:24]}.{found.suffix}"
            os.replace(tmp, folder / name)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        raise ContentError(
            f"cannot store the {found.kind} in {folder} ({exc.strerror or exc}): "
            "check the data folder's space and permissions"
        ) from None
    return name
