"""Privacy: in run mode no thermal frame is written anywhere.

`heatcast run` runs in a subprocess under an audit hook (PEP 578) that records
every file opened for writing, every rename and every SQLite database opened
(SQLite's own -wal/-shm files are opened by C code, beside the database it
names). Only the catalogue (and its SQLite companions) and the empty room's
background (``room.json``: 64 temperatures of the room with nobody in it) may
appear: heatcast logs to stderr (journald), never to files of its own.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

import pytest
from kiosk_helpers import HEATCAST, SECRET, clean_env, free_port, write_config

SQLITE_SUFFIXES = ("-wal", "-shm", "-journal")
#: The temporary files the catalogue copy and the room memory are written through.
TEMPORARY = r"/\.(content-\w+\.db|room-\w+\.json)"

AUDITED = r"""
import os, sys, traceback
record = open(sys.argv[1], "w", buffering=1)  # opened before the hook: not recorded
WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
NAMED = ("sqlite3.connect", "os.rename", "os.remove", "os.truncate")

def why():
    # nfcpy looks for libcrypto with ctypes.util.find_library at import, which runs
    # ldconfig/gcc with /dev/null and a temporary file: library lookup, not data.
    stack = traceback.extract_stack()
    return "find_library" if any(f.name == "find_library" for f in stack) else "heatcast"

def hook(event, args):
    if event == "open":
        path, mode, flags = args
        if path is None or isinstance(path, int):
            return
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & WRITING
        )
        if writing:
            record.write(f"open\t{why()}\t{os.fsdecode(path)}\n")
    elif event == "shutil.copyfile":
        record.write(f"copy\t{why()}\t{os.fsdecode(args[1])}\n")
    elif event in NAMED:
        paths = [os.fsdecode(a) for a in args if isinstance(a, (str, bytes, os.PathLike))]
        record.write(event + "\t" + why() + "\t" + "\t".join(paths) + "\n")

sys.addaudithook(hook)
sys.argv = ["heatcast", *sys.argv[2:]]
from heatcast.firmware.cli import main
main()
"""


def assert_room_memory_holds_no_person(path: Path, trace: Path) -> None:
    """room.json is the empty room: 64 temperatures (or null) that match the trace's empty frames."""
    import json

    import numpy as np

    from heatcast.classify.tracebatch import read_trace_arrays

    data = json.loads(path.read_text())
    assert set(data) == {"version", "what", "placement", "saved", "pixels"}
    pixels = data["pixels"]
    assert len(pixels) == 64
    known = np.array([v is not None for v in pixels])
    assert known.sum() >= 48
    saved = np.array([np.nan if v is None else v for v in pixels], dtype=float)
    chunk = read_trace_arrays(trace)
    empty = np.median(chunk.pixels[chunk.count == 0], axis=0).ravel()
    # a person in it would be degrees warmer than the room with nobody there
    assert np.abs(saved[known] - empty[known]).max() < 1.0, (saved, empty)


def test_run_writes_nothing_but_the_catalogue(tmp_path, demo_trace):
    import subprocess

    data = tmp_path / "data"
    config = write_config(
        tmp_path,
        sensor={"source": f"replay:{demo_trace}?speed=0"},
        nfc={"device": "fake:ntag215:privacy", "min_interval_s": 0.0},
        page={"port": free_port()},
    )
    record = tmp_path / "written.tsv"
    env = clean_env(tmp_path, HEATCAST_NFC_SECRET=SECRET, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [sys.executable, "-c", AUDITED, str(record), "-v", "run", "--config", str(config)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "stopped after 900 frames" in proc.stdout  # the whole trace went through
    assert "content  " in proc.stdout

    db = data / "content.db"
    allowed = {str(db), *(f"{db}{suffix}" for suffix in SQLITE_SUFFIXES), str(data / "room.json")}
    events = [line.split("\t") for line in record.read_text().splitlines()]
    assert events, "the audit hook recorded nothing"
    written: set[str] = set()
    lookups: set[str] = set()
    for _event, why, *paths in events:
        for path in paths:
            (lookups if why == "find_library" else written).add(path)
    # the shipped catalogue and the room memory are written atomically through temporary files
    temporary = {p for p in written if re.fullmatch(re.escape(str(data)) + TEMPORARY, p)}
    assert written - temporary <= allowed, sorted(written - temporary - allowed)
    assert str(data / "room.json") in written, "the kiosk kept no empty room for its next start"
    assert_room_memory_holds_no_person(data / "room.json", demo_trace)
    tmp = Path(tempfile.gettempdir())
    assert all(p == "/dev/null" or Path(p) == tmp or Path(p).parent == tmp for p in lookups), lookups
    assert any(e[0] == "sqlite3.connect" and e[2] == str(db) for e in events)

    # nothing frame-like in what it printed either (journald keeps stdout/stderr)
    numbers = re.compile(r"-?\d+\.\d+")
    for line in (proc.stdout + proc.stderr).splitlines():
        assert len(numbers.findall(line)) < 8, line

    # and the catalogue holds aggregates only: no blobs, no pixel columns
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info('{table}')")]
            assert not any(re.fullmatch(r"p\d\d|pixels?|frame|thermistor", c) for c in columns), (
                table,
                columns,
            )
            for column in columns:
                blobs = conn.execute(
                    f"SELECT count(*) FROM '{table}' WHERE typeof(\"{column}\") = 'blob'"
                ).fetchone()[0]
                assert blobs == 0, (table, column)
        rows = conn.execute("SELECT count(*) FROM impressions").fetchone()[0]
    finally:
        conn.close()
    assert rows >= 1
    assert Path(db).stat().st_size < 2_000_000


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (apt-get install strace)")
def test_run_writes_nothing_but_the_catalogue_seen_by_strace(tmp_path, demo_trace):
    """The same at the system-call level: C code (SQLite, TFLite, nfcpy's drivers) included."""
    import subprocess

    data = tmp_path / "data"
    config = write_config(
        tmp_path,
        sensor={"source": f"replay:{demo_trace}?speed=0"},
        nfc={"device": "fake:ntag215:privacy-strace", "min_interval_s": 0.0},
        page={"port": free_port()},
    )
    trace = tmp_path / "strace.txt"
    env = clean_env(tmp_path, HEATCAST_NFC_SECRET=SECRET, PYTHONDONTWRITEBYTECODE="1")
    calls = "open,openat,creat,rename,renameat,renameat2,truncate,link,symlink,mknod,execve"
    proc = subprocess.run(
        ["strace", "-f", "-qq", "-e", f"trace={calls}", "-o", str(trace),
         HEATCAST, "run", "--config", str(config)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if proc.returncode != 0 and "PTRACE" in proc.stderr.upper():
        pytest.skip(f"strace cannot trace here: {proc.stderr.strip()[:200]}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "stopped after 900 frames" in proc.stdout
    db = data / "content.db"
    allowed = {str(db), *(f"{db}{suffix}" for suffix in SQLITE_SUFFIXES), str(data / "room.json")}
    tmp = Path(tempfile.gettempdir())
    written: set[str] = set()
    lines = trace.read_text().splitlines()
    # no program is run: not ldconfig or gcc (nfcpy's library lookup), not a shell
    programs = [m.group(1) for line in lines for m in [re.search(r'execve\("([^"]+)"', line)] if m]
    assert len(programs) == 1 and Path(programs[0]).name == "heatcast", programs
    for line in lines:
        match = re.search(
            r'\b(open|openat|creat|rename\w*|truncate|link|symlink|mknod)\((?:AT_FDCWD, )?"([^"]+)"(.*)', line
        )
        if not match or "= -1" in line:
            continue
        call, path, rest = match.groups()
        if call.startswith(("open", "openat")) and not re.search(
            r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND", rest
        ):
            continue
        written.add(path)
        target = re.search(r'"([^"]+)"', rest)  # rename's destination
        if call.startswith("rename") and target:
            written.add(target.group(1))
    temporary = {p for p in written if re.fullmatch(re.escape(str(data)) + TEMPORARY, p)}
    assert not {p for p in written if Path(p).parent == tmp}, "scratch files in the temp folder"
    assert written - temporary - {"/dev/null"} <= allowed, sorted(written - temporary - allowed)
    assert str(db) in written
