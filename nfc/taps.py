"""Phone taps, from the tag's own NFC counter, between heatcast's own sessions.

The NTAG counts the first READ after each power-up: a phone's tap, and also each
of heatcast's own sessions that reads the tag. heatcast reads the counter at the
start of every session (before its own reads) and at its end, so what the
counter gained from the end of one session to the start of the next were
phones. Nothing about a phone is known or kept: only how many taps, per link.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from heatcast.nfc.writer import COUNTER_MAX, COUNTING


@dataclass
class TapLedger:
    """Turns heatcast's counter readings into taps per URL (the one on the tag in between)."""

    uid: str | None = None
    #: the counter at the end of heatcast's last session
    last: int | None = None
    #: the counter reached FFFFFFh: this tag counts no more
    full: bool = False
    pending: dict[str, int] = field(default_factory=dict)
    total: int = 0

    def session(self, uid: str, before: int | None, after: int | None, url_on_tag: str | None) -> int:
        """A session of heatcast's that read the counter ``before`` its own reads and ``after``.

        Returns the taps since the previous session, credited to ``url_on_tag`` (the URL the
        tag held in between). A new tag, or a counter that went back, starts afresh.
        """
        taps = 0
        if before is not None and uid == self.uid and self.last is not None and before >= self.last:
            taps = before - self.last
        if taps and url_on_tag:
            self.pending[url_on_tag] = self.pending.get(url_on_tag, 0) + taps
            self.total += taps
        end = after if after is not None else before
        if end is not None:
            self.uid, self.last = uid, end
            self.full = end >= COUNTER_MAX
        return taps if url_on_tag else 0

    def take(self) -> dict[str, int]:
        """The taps per URL since the last call."""
        out, self.pending = self.pending, {}
        return out


def counting_verdict(tag_type: str | None, counting: bool | None, counter: int | None) -> tuple[bool, str]:
    """Whether taps can be counted on this tag, and why in one line (doctor, ``nfc read``)."""
    if tag_type not in COUNTING:
        return False, (
            f"a {tag_type or 'tag of unknown type'} has no NFC counter: only NTAG213/215/216 count "
            "taps; use one of those to count them"
        )
    if counter is not None and counter >= COUNTER_MAX:
        return False, "its counter is full (16,777,215): replace the sticker to count taps"
    if counting is False:
        return True, "its counter is off: heatcast switches it on at its next write of the tag"
    if counter is None:
        return True, "yes, once heatcast has written it (the counter sits behind the tag's password)"
    return True, f"yes: {counter} reads counted by the tag so far (phones and heatcast's own)"
