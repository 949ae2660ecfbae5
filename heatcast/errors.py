"""The exception hierarchy.

As in gpiozero, every heatcast exception derives from :class:`HeatcastError`
and from the built-in exception that fits, so callers may catch either.
Messages say what is wrong *and* what to do about it; the CLI prints them as one
line and exits with status 2.
"""

from __future__ import annotations


class HeatcastError(Exception):
    """Base of every error heatcast raises on purpose."""


class UsageError(HeatcastError, ValueError):
    """A bad argument, option or source string."""


class TraceError(HeatcastError, ValueError):
    """A trace file that breaks TRACE_FORMAT.md (names file, line and fault)."""


class SourceError(HeatcastError, OSError):
    """A frame source that cannot be opened or read."""


class SensorError(SourceError):
    """The thermal sensor hardware is missing, miswired or failing."""


class ModelError(HeatcastError, RuntimeError):
    """A classifier model that is missing, corrupt or cannot be run."""


class ConfigError(HeatcastError, ValueError):
    """A configuration file or key that is not valid."""


class ContentError(HeatcastError, ValueError):
    """A content catalogue, import file or content item that is not valid."""


class UrlPolicyError(ContentError):
    """A URL refused by the URL policy."""


class NfcError(HeatcastError, OSError):
    """An NFC reader or tag problem."""
