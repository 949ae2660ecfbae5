"""Frames in, one :class:`Audience` per frame out: the pipeline the kiosk runs.

Two readings of each frame are fused:

* the **detector and tracker** (:mod:`.people`) decide presence and count:
  an empty-room background that never learns a person, noise-aware blobs and
  tracks that keep people who stand still;
* the **model** (:mod:`.model`, a small int8 TFLite network over a window of
  frames) gives the primary person's posture and orientation, and vouches for
  people the tracker cannot see: someone already standing still in view when
  heatcast started, whom no background can tell from the room. Only when the
  model is very sure (:data:`MODEL_PRESENCE`) does it add to the tracker.

``Pipeline.update`` handles one frame (the kiosk loop); ``Pipeline.run``
handles an array of consecutive frames at once (replay, eval), batching the
model calls, and gives the very same audiences.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from heatcast.classify.audience import MAX_COUNT, Audience
from heatcast.classify.features import FeatureWindow
from heatcast.classify.model import ThermalModel, load_model
from heatcast.classify.people import PeopleCounter
from heatcast.classify.smoothing import Smoother
from heatcast.sensor.frame import F32, F64, Frame

#: The model adds people the tracker does not see only above this P(present).
MODEL_PRESENCE = 0.9
#: Frames this far apart (s) or more are too slow to track people between.
SLOW_FRAME_S = 0.5


class Pipeline:
    """The classifier: detector and tracker, TFLite model, smoothing.

    ``model_path`` defaults to the model shipped with heatcast; a missing or
    corrupt model raises :class:`~heatcast.errors.ModelError` naming the file.
    """

    def __init__(self, model_path: Path | None = None, model: ThermalModel | None = None) -> None:
        self.model = model if model is not None else load_model(model_path)
        m = self.model
        self.window = FeatureWindow(quant=(m.input_scale, m.input_zero_point))
        self.smoother = Smoother()
        self.people = PeopleCounter()
        self._t_last = math.inf
        self._input, self._outputs = m.tensor_views()
        self._invoke = m.interpreter.invoke
        self._dequant = [(float(h.zero_point), float(h.scale)) for h in m.heads]

    def reset(self) -> None:
        """Forget everything: the next frame is a cold start."""
        self.window.reset()
        self.smoother.reset()
        self.people.reset()
        self._t_last = math.inf

    def empty_room(self) -> list[float | None] | None:
        """The empty room's 64 temperatures to keep for the next start, or None while anyone is in view."""
        return self.people.empty_room()

    def remember_room(self, temperatures: list[float | None]) -> None:
        """Start from a saved empty room: people already in view are then seen at once."""
        self.reset()
        self.people.restore(temperatures)

    def update(self, frame: Frame) -> Audience:
        """The audience as of this frame."""
        if self.model._batch != 1:
            self._input, self._outputs = self.model.tensor_views()
        window = self._input()[0]
        self.window.step(frame.pixels, frame.t, frame.thermistor, out=window)
        del window  # the interpreter refuses to run while a view of its memory lives
        self._invoke()
        (pz, ps), (cz, cs), (sz, ss), (oz, os_) = self._dequant
        o = self._outputs
        p = (o[0]()[0, 1].item() - pz) * ps
        count = [(v - cz) * cs for v in o[1]()[0].tolist()]
        posture = [(v - sz) * ss for v in o[2]()[0].tolist()]
        orientation = [(v - oz) * os_ for v in o[3]()[0].tolist()]
        tracked = len(self.people.step(frame.pixels, frame.t))
        return self._fuse(frame.t, tracked, p, count, posture, orientation)

    def _vouch(self, p: float, tracked: int, dt: float) -> bool:
        # The model may add people to those tracked, but it may make the room occupied only where
        # something warm has sat since the cold start, unexplained: a radiator that comes on later
        # is the detector's to judge. At a frame a second or slower (the AMG88xx's 1 fps mode,
        # snapshots) nobody can be followed from frame to frame and the model judges alone.
        if p < MODEL_PRESENCE:
            return False
        return dt >= SLOW_FRAME_S or tracked > 0 or self.people.dormant() > 0

    def _fuse(
        self,
        t: float,
        tracked: int,
        p: float,
        count: list[float],
        posture: list[float],
        orientation: list[float],
    ) -> Audience:
        people = min(tracked, MAX_COUNT)
        dt = t - self._t_last
        self._t_last = t
        if self._vouch(p, tracked, dt):
            rest = count[1:]
            people = max(people, 1 + rest.index(max(rest)))
        confidence = p if people else 1.0 - p
        return self.smoother.decided(t, people, posture, orientation, confidence)

    def probabilities(self, pixels: F32, t: F64, thermistor: F64) -> list[F64]:
        """Head probabilities for (N, 8, 8) consecutive frames (advances the window)."""
        q = self.window.many(pixels, t, thermistor)
        raw = self.model.predict_raw(q)  # type: ignore[arg-type]
        return [(r.astype(np.float64) - z) * s for r, (z, s) in zip(raw, self._dequant, strict=True)]

    def run(self, pixels: F32, t: F64, thermistor: F64) -> list[Audience]:
        """:meth:`update` for (N, 8, 8) consecutive frames; ``thermistor`` is NaN where unknown."""
        probs = self.probabilities(pixels, t, thermistor)
        pres, count, posture, orientation = (p.tolist() for p in probs)
        track = self.people.step
        fuse = self._fuse
        return [
            fuse(ti, len(track(px, ti)), pr[1], c, po, o)
            for px, ti, pr, c, po, o in zip(
                pixels, t.tolist(), pres, count, posture, orientation, strict=True
            )
        ]

    def run_frames(self, frames: list[Frame]) -> list[Audience]:
        """:meth:`run` for a list of frames."""
        if not frames:
            return []
        pixels = np.stack([f.pixels for f in frames])
        t = np.array([f.t for f in frames], dtype=np.float64)
        therm = np.array([math.nan if f.thermistor is None else f.thermistor for f in frames])
        return self.run(pixels, t, therm)
