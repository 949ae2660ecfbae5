"""The poster heatcast draws for an item that has none: its title, large, on its own colours.

So the screen always shows something designed, offline and before an owner has
given posters of their own. An SVG, drawn on this machine, no font or image
fetched from anywhere; the same item always gets the same colours.
"""

from __future__ import annotations

import hashlib
import textwrap
from functools import lru_cache
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 1600, 900
#: Everything is drawn inside the middle 4:3 of the poster: a screen's main area is
#: anything from 4:3 to 16:9, and the poster covers it (its sides may be cut off).
LEFT = 240
LINE_CHARS = 16
MAX_LINES = 3


def _hues(key: str) -> tuple[int, int]:
    digest = hashlib.sha256(key.encode()).digest()
    first = digest[0] * 360 // 256
    return first, (first + 40 + digest[1] % 80) % 360


def _lines(title: str) -> list[str]:
    lines = textwrap.wrap(" ".join(title.split()), LINE_CHARS, break_long_words=True) or [""]
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES]
        lines[-1] = lines[-1][: LINE_CHARS - 1].rstrip() + "…"
    return lines


@lru_cache(maxsize=128)
def poster_svg(title: str, key: str, *, example: bool = False) -> str:
    """A 16:9 poster of ``title``; ``key`` (the item's link) picks its colours."""
    hue, second = _hues(key)
    lines = _lines(title)
    size = 150 if max(len(line) for line in lines) <= 11 else 112
    step = size * 1.15
    top = HEIGHT / 2 - step * (len(lines) - 1) / 2 + size * 0.35
    text = "".join(
        f'<text x="{LEFT}" y="{top + i * step:.0f}" font-size="{size}">{escape(line)}</text>'
        for i, line in enumerate(lines)
    )
    badge = (
        f'<rect x="{LEFT}" y="110" width="330" height="76" rx="38" fill="#fff" fill-opacity=".9"/>'
        f'<text x="{LEFT + 165}" y="162" font-size="44" font-weight="700" text-anchor="middle" '
        f'fill="hsl({hue},60%,25%)">EXAMPLE</text>'
        if example
        else ""
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" preserveAspectRatio="xMidYMid slice" role="img" '
        f'aria-label="{escape(title, {chr(34): "&quot;"})}">'
        '<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">'
        f'<stop offset="0" stop-color="hsl({hue},65%,38%)"/>'
        f'<stop offset="1" stop-color="hsl({second},70%,22%)"/>'
        "</linearGradient></defs>"
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="url(#g)"/>'
        f'<circle cx="1380" cy="180" r="420" fill="hsl({second},80%,60%)" fill-opacity=".18"/>'
        f'<circle cx="1500" cy="820" r="260" fill="hsl({hue},80%,70%)" fill-opacity=".14"/>'
        f"{badge}"
        '<g fill="#fff" font-weight="700" font-family="DejaVu Sans, Verdana, sans-serif">'
        f"{text}</g></svg>"
    )
