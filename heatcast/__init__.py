"""heatcast: a privacy-first smart billboard driven by an 8x8 thermal array.

The repository's top-level folders install as this package's subpackages
(``heatcast/`` holds links to them), so only the name ``heatcast`` lands in
site-packages:

* :mod:`heatcast.sensor`   frame sources (I2C, serial, replay, simulator) and trace files
* :mod:`heatcast.classify` background model, TFLite model, smoothing -> :class:`Audience`
* :mod:`heatcast.firmware` kiosk loop, config, CLI, content choice, page, reports
* :mod:`heatcast.nfc`      NTAG tag writer on nfcpy

``nfc/`` deliberately has no ``__init__.py``: as a namespace portion it can never
shadow nfcpy's own regular ``nfc`` package, even when Python runs from the
repository root.
"""

from __future__ import annotations

__version__ = "0.1.0"
