"""One ``with`` protocol for everything in the sensor layer that has ``close()``."""

from __future__ import annotations

from typing import Self


class Closing:
    """``with`` support: leaving the block calls ``close()``, even on Ctrl-C."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
