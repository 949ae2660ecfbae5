"""The site secret and the per-tag NTAG password derived from it.

Each tag gets its own key, HMAC-SHA256(site secret, tag UID), so that a
password sniffed from one tag (NTAG21x sends it in clear over the air) opens no
other tag.  The site secret comes from ``HEATCAST_NFC_SECRET`` or from a file
that only its owner may read; it is never logged and never shown in ``repr``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from heatcast.errors import ConfigError

ENV_SECRET = "HEATCAST_NFC_SECRET"
ENV_SECRET_FILE = "HEATCAST_NFC_SECRET_FILE"
MIN_SECRET_BYTES = 16


class SiteSecret:
    """Secret bytes that never print themselves."""

    __slots__ = ("_value", "source")

    def __init__(self, value: bytes, source: str) -> None:
        if len(value) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"the NFC site secret from {source} is {len(value)} bytes; it needs at least "
                f"{MIN_SECRET_BYTES}: create a new one with `heatcast nfc keygen`"
            )
        self._value = bytes(value)
        self.source = source

    @property
    def value(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return f"SiteSecret(<hidden>, source={self.source!r})"

    __str__ = __repr__


def default_secret_path(env: Mapping[str, str] | None = None) -> Path:
    """``$HEATCAST_NFC_SECRET_FILE``, else ``$XDG_CONFIG_HOME/heatcast/nfc-secret``."""
    env = os.environ if env is None else env
    if env.get(ENV_SECRET_FILE):
        return Path(env[ENV_SECRET_FILE])
    base = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "heatcast" / "nfc-secret"


def read_secret_file(path: Path) -> SiteSecret:
    """Read a secret file, refusing one that anybody but its owner could read."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(
            f"NFC secret file {path} does not exist: create it with `heatcast nfc keygen {path}` "
            f"or set {ENV_SECRET}"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read NFC secret file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"NFC secret {path} is not a regular file")
    if st.st_mode & 0o077:
        raise ConfigError(
            f"NFC secret file {path} is readable by group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"fix it with: chmod 600 {path}"
        )
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise ConfigError(
            f"NFC secret file {path} belongs to another user; it must be owned by the user running heatcast"
        )
    try:
        raw = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read NFC secret file {path}: {exc.strerror}") from None
    return SiteSecret(raw, str(path))


def load_secret(path: Path | None = None, env: Mapping[str, str] | None = None) -> SiteSecret:
    """The site secret: from *path* if given, else ``HEATCAST_NFC_SECRET``, else the default file."""
    env = os.environ if env is None else env
    if path is not None:
        return read_secret_file(Path(path))
    if env.get(ENV_SECRET):
        return SiteSecret(env[ENV_SECRET].strip().encode("utf-8"), f"${ENV_SECRET}")
    return read_secret_file(default_secret_path(env))


def create_secret_file(path: Path) -> Path:
    """Write a new random secret readable only by its owner; never overwrites one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(
            f"NFC secret file {path} already exists; tags protected with it would be lost if it "
            "changed, so it is never overwritten (delete it yourself only if no tag uses it)"
        ) from None
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")
    return path


def tag_key(secret: SiteSecret | bytes, uid: bytes) -> bytes:
    """The 6-byte NTAG21x key for the tag *uid*: 4-byte PWD followed by 2-byte PACK."""
    raw = secret.value if isinstance(secret, SiteSecret) else bytes(secret)
    digest = hmac.new(raw, bytes(uid), hashlib.sha256).digest()
    key = digest[:6]
    if key[:4] == b"\xff\xff\xff\xff":
        # the factory default password would make protection meaningless
        key = digest[6:12]
    return key
