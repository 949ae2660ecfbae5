"""The anonymous audience profile: the only thing the classifier hands upwards.

It holds no image, position or track of any person: just how many people are
in view, the primary (nearest) person's posture and orientation, and how long
this audience has been there and has been facing the screen.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from heatcast.sensor.trace import ORIENTATIONS, POSTURES

#: The count head's classes; 4 stands for "4 or more".
MAX_COUNT = 4
COUNT_LABELS = ("0", "1", "2", "3", "4+")

Bucket = tuple[int, str | None, str | None]


@dataclass(frozen=True, slots=True)
class Audience:
    """Who is in front of the screen at time ``t`` (seconds, the frame's ``t``).

    ``count`` is 0..4 (4 meaning four or more). ``posture`` and ``orientation``
    describe the primary person and are None when nobody is there.
    ``dwell_s`` is how long this audience has been in view, ``facing_s`` how
    long, continuously, someone has been facing the screen.
    """

    t: float
    presence: bool
    count: int
    posture: str | None = None
    orientation: str | None = None
    dwell_s: float = 0.0
    facing_s: float = 0.0
    confidence: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.count <= MAX_COUNT:
            raise ValueError(f"count must be 0..{MAX_COUNT}, not {self.count}")
        if self.presence != (self.count > 0):
            raise ValueError("presence must agree with count")
        if self.posture is not None and self.posture not in POSTURES:
            raise ValueError(f"unknown posture {self.posture!r}")
        if self.orientation is not None and self.orientation not in ORIENTATIONS:
            raise ValueError(f"unknown orientation {self.orientation!r}")

    @property
    def bucket(self) -> Bucket:
        """The coarse profile content is targeted and learned by."""
        return (self.count, self.posture, self.orientation)

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["dwell_s"] = round(self.dwell_s, 2)
        out["facing_s"] = round(self.facing_s, 2)
        out["confidence"] = round(self.confidence, 3)
        return out


EMPTY_AUDIENCE = Audience(t=0.0, presence=False, count=0)
