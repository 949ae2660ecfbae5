"""The URL policy: which links heatcast will show and write onto an NFC tag.

Only https links to one YouTube video are accepted, in the forms
``youtube.com/watch?v=ID``, ``youtu.be/ID`` and ``youtube.com/shorts/ID`` (also
on ``www.`` and ``m.``), with an 11-character id of ``[A-Za-z0-9_-]``. They are
stored in one short form, ``https://youtu.be/ID`` (28 characters), which fits
an NTAG213 tag with room to spare. A shop may allow its own https domains too.

Everything else is refused with a :class:`~heatcast.errors.UrlPolicyError`
saying why: a tag or a kiosk page must never carry ``javascript:``, a look-alike
host or a link that hides its real destination.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit

from heatcast.errors import UrlPolicyError

YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com"})
SHORT_HOST = "youtu.be"
VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
SHORT_FORM = "https://youtu.be/{}"
NORMALISED = re.compile(r"https://youtu\.be/[A-Za-z0-9_-]{11}")

# NTAG213 holds 144 bytes: TLV (2) + record header (4) + URI prefix code (1) +
# terminator (1) leave 136 bytes after the abbreviated "https://".
MAX_URL_CHARS = len("https://") + 136

# RFC 3986 characters only: no spaces, backslashes, quotes or control codes,
# which browsers "repair" in ways that change where a link goes.
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def _refuse(url: str, reason: str) -> UrlPolicyError:
    shown = url if len(url) <= 80 else url[:77] + "..."
    return UrlPolicyError(
        f"URL {shown!r} refused: {reason}. Use an https YouTube video link such as "
        "https://www.youtube.com/watch?v=VIDEO_ID or https://youtu.be/VIDEO_ID"
    )


def _video_id(url: str, candidate: str | None) -> str:
    if not candidate:
        raise _refuse(url, "it names no video id")
    if not VIDEO_ID.fullmatch(candidate):
        raise _refuse(url, f"{candidate!r} is not a video id (11 characters of A-Z, a-z, 0-9, _ and -)")
    return candidate


def check_domain(domain: str) -> str:
    """Validate one allowlisted shop domain (lower-case ASCII host name)."""
    host = domain.strip().lower()
    if not _DOMAIN.fullmatch(host) or len(host) > 253:
        raise UrlPolicyError(
            f"allowed domain {domain!r} is not a plain host name such as shop.example; "
            "give the host only, without https:// or a path"
        )
    return host


def normalise_url(url: str, allow_domains: Iterable[str] = ()) -> str:
    """Return ``url`` in its normalised form, or raise UrlPolicyError saying why not.

    YouTube video links become ``https://youtu.be/ID``. Links on an allowlisted
    domain (or its ``www.``) stay as they are, with scheme and host lower-cased.
    """
    if not isinstance(url, str):
        raise UrlPolicyError(f"URL must be text, not {type(url).__name__}")
    text = url.strip()
    if not text:
        raise _refuse(url, "it is empty")
    if not text.isascii():
        raise _refuse(url, "it contains non-ASCII characters, as look-alike host names do")
    if not _URL_CHARS.fullmatch(text):
        bad = next(ch for ch in text if not _URL_CHARS.fullmatch(ch))
        raise _refuse(url, f"it contains the character {bad!r}, which a link must not hold")
    if len(text) > 2048:
        raise _refuse(url, "it is longer than 2048 characters")
    scheme, colon, _ = text.partition(":")
    if not colon or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        raise _refuse(url, "it has no scheme; it must start with https://")
    scheme = scheme.lower()
    if scheme == "http":
        raise _refuse(url, "http: is not encrypted; only https: links are accepted")
    if scheme != "https":
        raise _refuse(url, f"the {scheme}: scheme is not allowed; only https: links are accepted")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise _refuse(url, f"it is malformed ({exc})") from None
    if not text[len(scheme) + 1 :].startswith("//"):
        raise _refuse(url, "it has no host; it must start with https://")
    if "@" in parts.netloc:
        raise _refuse(url, "it holds user information before '@', which hides the real host")
    if port not in (None, 443) or parts.netloc.endswith(":"):
        raise _refuse(url, "it names a port; YouTube links never do")
    host = (parts.hostname or "").lower()
    if host in YOUTUBE_HOSTS:
        if parts.path in ("/watch", "/watch/"):
            values = parse_qs(parts.query, keep_blank_values=True).get("v", [])
            if len(values) > 1:
                raise _refuse(url, "it names more than one video (v=) id")
            return SHORT_FORM.format(_video_id(url, values[0] if values else None))
        match = re.fullmatch(r"/shorts/([^/]*)/?", parts.path)
        if match:
            return SHORT_FORM.format(_video_id(url, match.group(1)))
        raise _refuse(url, "it is not a link to one video (/watch?v=ID or /shorts/ID)")
    if host == SHORT_HOST:
        match = re.fullmatch(r"/([^/]*)/?", parts.path)
        if not match:
            raise _refuse(url, "it is not a link to one video (https://youtu.be/ID)")
        return SHORT_FORM.format(_video_id(url, match.group(1)))
    allowed = {check_domain(d) for d in allow_domains}
    if host and (host in allowed or (host.startswith("www.") and host[4:] in allowed)):
        rest = text[len(scheme) + 3 + len(parts.netloc) :]
        normal = f"https://{host}{rest or '/'}"
        if len(normal) > MAX_URL_CHARS:
            raise _refuse(url, f"it is longer than {MAX_URL_CHARS} characters, too long for an NTAG213 tag")
        return normal
    if host.endswith(".youtube.com") or "youtube" in host or "youtu" in host:
        raise _refuse(
            url,
            f"{host!r} is not one of YouTube's hosts (youtube.com, www., m., youtu.be); "
            "look-alikes are refused",
        )
    hint = " (add the shop's own domain to the allowlist to permit it)" if host else ""
    raise _refuse(url, f"{host or 'no host'!r} is not an allowed host{hint}")


def is_normalised(url: str) -> bool:
    """True if ``url`` is already in the stored short YouTube form."""
    return NORMALISED.fullmatch(url) is not None
