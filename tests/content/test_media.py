"""Posters and local videos: checked by their bytes and size, stored by hash, kept through export."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from heatcast.errors import ContentError
from heatcast.firmware.catalogue import Catalogue, export_csv, import_file
from heatcast.firmware.cli import main
from heatcast.firmware.media import MAX_BYTES, mime_of, store

URL = "https://youtu.be/Ab3dE5gH7jK"


def png(path: Path, width: int = 4, height: int = 3) -> Path:
    """A real PNG (what a browser can draw)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x80\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def mp4(path: Path) -> Path:
    path.write_bytes(struct.pack(">I", 24) + b"ftypisom" + b"\x00\x00\x02\x00isomiso2" + b"\x00" * 64)
    return path


def test_a_poster_is_stored_once_under_its_hash(tmp_path: Path) -> None:
    folder = tmp_path / "media"
    name = store(png(tmp_path / "a poster.png"), "poster", folder)
    assert name.endswith(".png") and (folder / name).read_bytes() == (tmp_path / "a poster.png").read_bytes()
    assert store(png(tmp_path / "copy.PNG"), "poster", folder) == name
    assert [p.name for p in folder.iterdir()] == [name]
    assert mime_of(name) == "image/png"
    assert mime_of("../content.db") is None and mime_of(name.replace(".png", ".svg")) is None


@pytest.mark.parametrize(
    ("content", "kind", "message"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "poster", "not a file type heatcast shows"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "video", "is a poster; a video must be an MP4 or WebM"),
        (struct.pack(">I", 24) + b"ftypisom" + b"\x00" * 20, "poster", "is a video; a poster must be a PNG"),
        (b"", "poster", "not a file type heatcast shows"),
    ],
)
def test_the_wrong_kind_of_file_is_refused_by_its_bytes(tmp_path: Path, content, kind, message) -> None:
    path = tmp_path / "file.png"
    path.write_bytes(content)
    with pytest.raises(ContentError, match=message):
        store(path, kind, tmp_path / "media")
    assert not (tmp_path / "media").exists() or not any((tmp_path / "media").iterdir())


def test_a_poster_too_big_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = png(tmp_path / "huge.png")
    with path.open("r+b") as handle:  # sparse: costs no disk
        handle.truncate(MAX_BYTES["poster"] + 1)
    with pytest.raises(ContentError, match=r"at most 21 MB: make it smaller"):
        store(path, "poster", tmp_path / "media")


def test_missing_files_and_folders_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match="does not exist: give the poster file's path"):
        store(tmp_path / "nope.png", "poster", tmp_path / "media")
    with pytest.raises(ContentError, match="is a folder"):
        store(tmp_path, "video", tmp_path / "media")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_content_add_with_poster_and_video_then_export_and_import(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HEATCAST_DATA_DIR", str(tmp_path / "data"))
    db = tmp_path / "shop" / "content.db"
    db.parent.mkdir()
    code, out = run(
        "content", "add", URL, "--title", "Coffee", "--poster", str(png(tmp_path / "p.png")),
        "--video", str(mp4(tmp_path / "v.mp4")), "--db", str(db),
    )  # fmt: skip
    assert code == 0, out
    with Catalogue(db) as catalogue:
        item = catalogue.items()[0]
        assert item.poster and item.video and item.video.endswith(".mp4")
        assert (catalogue.media_dir / item.poster).is_file()
        export_csv(catalogue, tmp_path / "items.csv")
    # the export names the files; a catalogue beside the same media folder takes them back
    with Catalogue(tmp_path / "shop" / "other.db") as same_folder:
        import_file(same_folder, tmp_path / "items.csv")
        again = same_folder.items()[0]
        assert (again.poster, again.video) == (item.poster, item.video)
    # elsewhere, without the files, the import says what to do and imports nothing
    (tmp_path / "elsewhere").mkdir()
    with Catalogue(tmp_path / "elsewhere" / "content.db") as elsewhere:
        with pytest.raises(ContentError, match=r"is not in .*media; copy that folder along"):
            import_file(elsewhere, tmp_path / "items.csv")
        assert elsewhere.count() == 0


def test_content_add_with_a_bad_poster_is_exit_2_and_adds_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    bad = tmp_path / "poster.png"
    bad.write_text("not an image")
    db = tmp_path / "content.db"
    code, out = run("content", "add", URL, "--poster", str(bad), "--db", str(db))
    assert code == 2
    assert "is not a file type heatcast shows; a poster must be a PNG, JPEG or WebP image" in out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1
    with Catalogue(db) as catalogue:
        assert catalogue.count() == 0
