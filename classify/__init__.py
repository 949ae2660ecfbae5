"""Frames in, anonymous audience profile out: background model, TFLite model, smoothing."""

from __future__ import annotations

from heatcast.classify.audience import EMPTY_AUDIENCE, Audience

__all__ = ["EMPTY_AUDIENCE", "Audience"]
