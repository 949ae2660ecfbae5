"""The kiosk's configuration: one TOML file, checked as a whole at start.

The file is ``--config FILE``, else ``~/.config/heatcast/heatcast.toml``
(``$XDG_CONFIG_HOME`` honoured), else ``/etc/heatcast/heatcast.toml``, else
the defaults. ``config-reference.toml`` beside this module lists every key
with its default; a test keeps the two in step. Environment variables
``HEATCAST_<SECTION>_<KEY>`` (``HEATCAST_<KEY>`` for top-level keys) override
the file, so a systemd drop-in or a shell can change one key without editing it.

Every fault is one :class:`~heatcast.errors.ConfigError` line that names the
key, where its value came from (the file or the variable) and what is allowed,
quoting the value cut to 60 characters; unknown keys and unknown ``HEATCAST_*``
variables are refused (with a "did you mean"), because a misspelt key silently
left at its default is the hardest fault to find on site. Numbers from the
environment are ASCII digits only, and a file over 1 MB or nested more than 10
deep is refused before it is parsed.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from heatcast.errors import ConfigError, UsageError
from heatcast.firmware.page import READER_POSITIONS

ENV_PREFIX = "HEATCAST_"
#: Every ``HEATCAST_*`` variable that is read somewhere but is not a config key
#: (README's Configuration section lists them); any other unknown one is refused,
#: as an unknown key is, because a misspelt variable silently ignored is as hard
#: to find on site as a misspelt key. A test greps the code to keep this in step.
ENV_NOT_KEYS: dict[str, str] = {
    "HEATCAST_NFC_SECRET": "the NFC site secret itself, instead of a secret file",
    "HEATCAST_I2C_FACTORY": "the I2C bus for i2c:// sources: 'fake' simulates an AMG8833",
    "HEATCAST_FUZZ_EXAMPLES": "tests only: how many examples the serial fuzz tests try",
    "HEATCAST_BENCH_RSS_SECONDS": "benchmarks only: how long bench_kiosk waits before measuring memory",
}
#: A config file is a page of settings: anything bigger, or nested deeper
#: (heatcast's own keys need 2 levels), is refused before the TOML parser sees it.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_CONFIG_NESTING = 10
#: Values are quoted in messages cut to this many characters, so one line stays one line.
SHOWN_CHARS = 60
LOG_LEVELS = ("debug", "info", "warning", "error")
NFC_OFF = "off"
NFC_AUTO = "auto"
_HOST_RE = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$")


def reference_path() -> Path:
    """The reference file documenting every key with its default."""
    return Path(__file__).with_name("config-reference.toml")


def user_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    return Path(base) / "heatcast" / "heatcast.toml"


SYSTEM_CONFIG_PATH = Path("/etc/heatcast/heatcast.toml")


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".local" / "share")
    return Path(base) / "heatcast"


# -- the sections -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SensorConfig:
    source: str = "i2c://1/0x69?fps=10"
    rotate: int = 0
    mirror: bool = False


@dataclass(frozen=True, slots=True)
class ModelConfig:
    #: None: the model shipped with heatcast.
    path: Path | None = None


@dataclass(frozen=True, slots=True)
class ContentConfig:
    #: None: ``<data_dir>/content.db``.
    db: Path | None = None
    retention_days: int = 90
    allow_domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NfcConfig:
    device: str = NFC_AUTO
    protect: bool = True
    #: None: ``$HEATCAST_NFC_SECRET``, else heatcast.nfc.keys' default file.
    secret_file: Path | None = None
    min_interval_s: float = 5.0
    #: seconds between readings of the tag's tap counter while the content stays (0: at changes only)
    count_every_s: float = 60.0


@dataclass(frozen=True, slots=True)
class PageConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    reader_position: str = "below"
    shop_name: str = ""


@dataclass(frozen=True, slots=True)
class PanelConfig:
    """The shop owner's panel (served only once a password is set: ``heatcast panel passwd``)."""

    host: str = "127.0.0.1"
    port: int = 8081


@dataclass(frozen=True, slots=True)
class DecisionConfig:
    settle_s: float = 2.0
    dwell_trigger_s: float = 5.0
    min_show_s: float = 6.0
    rotate_s: float = 180.0


#: what the chooser may learn from (see heatcast.firmware.catalogue.Impression.reward_for)
REWARDS = ("attention", "taps", "both")


@dataclass(frozen=True, slots=True)
class ChooserConfig:
    #: what the chooser learns from: "attention" (facing the screen), "taps" (phones on the tag), "both"
    reward: str = "attention"


#: site and kiosk names are MQTT topic levels: no "/", "+", "#" or spaces.
_TOPIC_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
FLEET_SCHEMES = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """Reporting to a chain's MQTT broker (heatcast.firmware.fleet); off by default."""

    enabled: bool = False
    #: mqtts://host:8883 (TLS) or mqtt://host:1883 (a lab)
    broker: str = ""
    site: str = ""
    #: "": this machine's host name, made topic-safe
    kiosk: str = ""
    #: "": heatcast-<site>-<kiosk>
    client_id: str = ""
    username: str = ""
    password_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    #: None: the system's certificate authorities
    ca_file: Path | None = None
    homeassistant: bool = False
    #: messages the store-and-forward queue holds before the oldest aggregates are summarised
    queue_max_messages: int = 100_000
    #: messages per second a backlog drains at once the broker is back
    drain_per_s: float = 20.0

    def __post_init__(self) -> None:
        # Keys that only make sense together: checked here, once each key is valid on its own.
        if not self.enabled:
            return
        if not self.broker:
            raise ConfigError("fleet.enabled is true but fleet.broker is empty: set fleet.broker, "
                              "such as 'mqtts://broker.example:8883'")  # fmt: skip
        if not self.site:
            raise ConfigError("fleet.enabled is true but fleet.site is empty: set fleet.site to the shop's "
                              "name as a topic level, such as 'paris-01'")  # fmt: skip
        if (self.cert_file is None) != (self.key_file is None):
            raise ConfigError("fleet.cert_file and fleet.key_file go together: set both, or neither")
        if self.password_file is not None and not self.username:
            raise ConfigError("fleet.password_file is set but fleet.username is empty: set fleet.username")


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration; ``origin`` is the file it came from, if any."""

    data_dir: Path = field(default_factory=default_data_dir)
    log_level: str = "info"
    sensor: SensorConfig = field(default_factory=SensorConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    content: ContentConfig = field(default_factory=ContentConfig)
    nfc: NfcConfig = field(default_factory=NfcConfig)
    page: PageConfig = field(default_factory=PageConfig)
    decision: DecisionConfig = field(default_factory=DecisionConfig)
    panel: PanelConfig = field(default_factory=PanelConfig)
    chooser: ChooserConfig = field(default_factory=ChooserConfig)
    fleet: FleetConfig = field(default_factory=FleetConfig)
    origin: Path | None = None

    @property
    def db_path(self) -> Path:
        return self.content.db if self.content.db is not None else self.data_dir / "content.db"

    @property
    def nfc_enabled(self) -> bool:
        return self.nfc.device != NFC_OFF

    def to_toml_dict(self) -> dict[str, Any]:
        """The configuration as plain TOML values (for ``doctor --json`` and logs)."""
        out: dict[str, Any] = {"data_dir": str(self.data_dir), "log_level": self.log_level}
        for name in SECTIONS:
            section = getattr(self, name)
            values: dict[str, Any] = {}
            for f in fields(section):
                value = getattr(section, f.name)
                if isinstance(value, Path):
                    value = str(value)
                elif value is None:
                    value = ""
                elif isinstance(value, tuple):
                    value = list(value)
                values[f.name] = value
            out[name] = values
        return out


SECTIONS: dict[str, type[Any]] = {
    "sensor": SensorConfig,
    "model": ModelConfig,
    "content": ContentConfig,
    "nfc": NfcConfig,
    "page": PageConfig,
    "decision": DecisionConfig,
    "panel": PanelConfig,
    "chooser": ChooserConfig,
    "fleet": FleetConfig,
}
TOP_KEYS = ("data_dir", "log_level")


# -- checking one value -----------------------------------------------------------

Checker = Callable[[str, object], object]


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _show(value: object) -> str:
    """The value quoted for a message, cut to its first characters (a value may be megabytes)."""
    if isinstance(value, str):
        if len(value) <= SHOWN_CHARS:
            return repr(value)
        head = repr(value[:SHOWN_CHARS])
        return f"{head[:-1]}\u2026{head[-1]} ({len(value)} characters)"
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an int past Python's 4300-digit limit, a deep list
        return f"({_type_name(value)})"
    if len(text) <= SHOWN_CHARS:
        return text
    return f"{text[:SHOWN_CHARS]}\u2026 ({len(text)} characters)"


def _bad(key: str, value: object, allowed: str) -> ConfigError:
    return ConfigError(f"{key} = {_show(value)} is not valid: {key} must be {allowed}")


def _string(key: str, value: object, allowed: str = "a string") -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be {allowed}, not {_type_name(value)} ({_show(value)})")
    if "\x00" in value:
        raise _bad(key, value, f"{allowed} without NUL characters")
    return value


def _bool(key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, not {_type_name(value)} ({_show(value)})")
    return value


class _IntIn:
    """An integer in a range; ``allowed`` also words the environment's conversion errors."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high
        self.allowed = f"an integer from {low} to {high}"

    def __call__(self, key: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be {self.allowed}, not {_type_name(value)} ({_show(value)})")
        if not self.low <= value <= self.high:
            raise _bad(key, value, self.allowed)
        return value


class _FloatIn:
    """A number of seconds in a range (NaN refused)."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high
        self.allowed = f"a number from {low:g} to {high:g}"

    def __call__(self, key: str, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(
                f"{key} must be a number of seconds from {self.low:g} to {self.high:g}, "
                f"not {_type_name(value)} ({_show(value)})"
            )
        try:
            number = float(value)
        except OverflowError:  # an integer too big for a float is out of range anyway
            number = math.inf
        if math.isnan(number) or not self.low <= number <= self.high:
            raise _bad(key, value, self.allowed)
        return number


_int_in = _IntIn
_float_in = _FloatIn


def _one_of(*choices: object) -> Checker:
    allowed = ", ".join(repr(c) if isinstance(c, str) else str(c) for c in choices)

    def check(key: str, value: object) -> object:
        if isinstance(value, str):
            value = value.lower()
        if isinstance(value, bool) or value not in choices:
            raise _bad(key, value, f"one of {allowed}")
        return value

    return check


def _path(allow_empty: bool) -> Checker:
    def check(key: str, value: object) -> Path | None:
        text = _string(key, value, "a path (a string)")
        if not text.strip():
            if allow_empty:
                return None
            raise _bad(key, value, "a path")
        try:
            return Path(text).expanduser()
        except RuntimeError:  # "~someone" with no such user
            raise _bad(key, value, "a path; ~ must be followed by / or an existing user's name") from None

    return check


def _source(key: str, value: object) -> str:
    from heatcast.sensor.sources import parse_source

    text = _string(key, value, "a frame source string")
    try:
        spec = parse_source(text)
    except UsageError as exc:
        # The reader's message quotes the whole string: quote it cut short instead.
        raise ConfigError(
            f"{key} = {_show(value)} is not valid: {str(exc).replace(repr(text), _show(text))}"
        ) from None
    # Options are numbers and flags, converted when the source opens: Unicode digits
    # ("fps=١٠") would pass float() there, so they are refused here.
    for option, option_value in spec.options.items():
        if not (option + option_value).isascii():
            raise _bad(key, value, "a frame source whose options after ? are ASCII, such as fps=10")
    return text


def _nfc_device(key: str, value: object) -> str:
    text = _string(key, value, "'auto', 'off' or an nfcpy reader path").strip()
    if not text:
        raise _bad(key, value, "'auto', 'off' or an nfcpy reader path such as 'usb' or 'tty:AMA0:pn532'")
    if text.lower() in (NFC_AUTO, NFC_OFF):
        return text.lower()
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*(:[^\s:]*)*", text):
        allowed = "'auto', 'off' or an nfcpy reader path such as 'usb', 'usb:054c:06c1' or 'tty:AMA0:pn532'"
        raise _bad(key, value, allowed)
    return text


def _host(key: str, value: object) -> str:
    text = _string(key, value, "a host name or IP address").strip()
    if not text or not (_HOST_RE.match(text) or _is_ip(text)):
        raise _bad(key, value, "a host name or IP address such as '127.0.0.1' or '0.0.0.0'")
    return text


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _shop_name(key: str, value: object) -> str:
    text = " ".join(_string(key, value, "the shop's name (a string)").split())
    if len(text) > 60 or not text.isprintable():
        raise _bad(key, value, "the shop's name on one line, at most 60 characters")
    return text


def _domains(key: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{key} must be a list of domain names, not {_type_name(value)} ({_show(value)})")
    out = []
    for item in value:
        text = _string(key, item, "a list of domain names (strings)").strip().lower()
        if not text.isascii() or not _HOST_RE.match(text) or "." not in text:
            raise _bad(key, item, "a list of plain domain names such as 'shop.example'")
        out.append(text)
    return tuple(out)


def _broker(key: str, value: object) -> str:
    from urllib.parse import urlsplit

    allowed = "'' or a broker URL such as 'mqtts://broker.example:8883' or 'mqtt://127.0.0.1:1883'"
    text = _string(key, value, allowed).strip()
    if not text:
        return ""
    try:
        url = urlsplit(text)
        port = url.port
    except ValueError:
        raise _bad(key, value, allowed) from None
    host = url.hostname or ""
    if (
        url.scheme.lower() not in FLEET_SCHEMES
        or not (_HOST_RE.match(host) or _is_ip(host))
        or url.username is not None
        or url.path not in ("", "/")
        or url.query
        or url.fragment
        or port == 0
    ):
        raise _bad(key, value, allowed + " (no user, path or query: credentials have keys of their own)")
    return text


def _topic_name(key: str, value: object) -> str:
    text = _string(key, value, "a name of letters, digits, - and _").strip()
    if text and not _TOPIC_NAME_RE.fullmatch(text):
        raise _bad(key, value, "'' or 1 to 64 letters, digits, - and _ (it is an MQTT topic level)")
    return text


def _mqtt_word(key: str, value: object) -> str:
    text = _string(key, value)
    if len(text) > 128 or not text.isascii() or not text.isprintable() or " " in text:
        raise _bad(key, value, "at most 128 printable ASCII characters without spaces")
    return text


#: section ("" for top level) -> key -> checker
CHECKS: dict[str, dict[str, Checker]] = {
    "": {"data_dir": _path(allow_empty=False), "log_level": _one_of(*LOG_LEVELS)},
    "sensor": {"source": _source, "rotate": _one_of(0, 90, 180, 270), "mirror": _bool},
    "model": {"path": _path(allow_empty=True)},
    "content": {
        "db": _path(allow_empty=True),
        "retention_days": _int_in(1, 36500),
        "allow_domains": _domains,
    },
    "nfc": {
        "device": _nfc_device,
        "protect": _bool,
        "secret_file": _path(allow_empty=True),
        "min_interval_s": _float_in(0.0, 86400.0),
        "count_every_s": _float_in(0.0, 86400.0),
    },
    "page": {
        "enabled": _bool,
        "host": _host,
        "port": _int_in(1, 65535),
        "reader_position": _one_of(*READER_POSITIONS),
        "shop_name": _shop_name,
    },
    "decision": {
        "settle_s": _float_in(0.0, 600.0),
        "dwell_trigger_s": _float_in(0.5, 3600.0),
        "min_show_s": _float_in(0.0, 3600.0),
        "rotate_s": _float_in(5.0, 86400.0),
    },
    "panel": {"host": _host, "port": _int_in(1, 65535)},
    "chooser": {"reward": _one_of(*REWARDS)},
    "fleet": {
        "enabled": _bool,
        "broker": _broker,
        "site": _topic_name,
        "kiosk": _topic_name,
        "client_id": _mqtt_word,
        "username": _mqtt_word,
        "password_file": _path(allow_empty=True),
        "cert_file": _path(allow_empty=True),
        "key_file": _path(allow_empty=True),
        "ca_file": _path(allow_empty=True),
        "homeassistant": _bool,
        "queue_max_messages": _int_in(1000, 10_000_000),
        "drain_per_s": _float_in(0.1, 10000.0),
    },
}


def _did_you_mean(word: str, choices: list[str]) -> str:
    if len(word) > 2 * SHOWN_CHARS:  # no key is that long; don't diff megabytes
        return ""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _all_keys() -> list[str]:
    return [k if not s else f"{s}.{k}" for s, keys in CHECKS.items() for k in keys]


def _show_name(name: str) -> str:
    """A key or variable name as typed, quoted when it could mislead (spaces, controls, length)."""
    plain = name and name.isprintable() and name.strip() == name and len(name) <= SHOWN_CHARS
    return name if plain else _show(name)


def _unknown(where: str, dotted: str) -> ConfigError:
    known = _all_keys()
    hint = _did_you_mean(dotted, known + list(SECTIONS))
    return ConfigError(
        f"{where}unknown key {_show_name(dotted)}{hint}; the keys are listed in {reference_path().name}"
    )


# -- building ---------------------------------------------------------------------


def config_from_dict(
    data: Mapping[str, object],
    origin: Path | None = None,
    env_names: Mapping[str, str] | None = None,
) -> Config:
    """Check a parsed TOML table and build the :class:`Config`.

    ``env_names`` maps a dotted key to the environment variable that set it, so
    that an error blames the variable, not the file.
    """
    file_where = f"{origin}: " if origin is not None else ""
    env_names = env_names or {}

    def where(dotted: str) -> str:
        name = env_names.get(dotted)
        return f"environment variable {name}: " if name else file_where

    top: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for key, value in data.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{file_where}[{key}] must be a table (a [{key}] section), not {_type_name(value)}"
                )
            for sub, subvalue in value.items():
                dotted = f"{key}.{sub}"
                check = CHECKS[key].get(sub)
                if check is None:
                    raise _unknown(where(dotted), dotted)
                sections[key][sub] = _checked(where(dotted), check, dotted, subvalue)
        elif key in CHECKS[""]:
            top[key] = _checked(where(key), CHECKS[""][key], key, value)
        else:
            raise _unknown(where(key), key)
    built = {name: SECTIONS[name](**values) for name, values in sections.items()}
    return Config(**top, **built, origin=origin)


def _checked(where: str, check: Checker, key: str, value: object) -> object:
    try:
        return check(key, value)
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from None


def _nesting(text: str) -> int:
    """How deeply ``[`` and ``{`` nest outside strings and comments (a cheap pre-parse bound).

    tomllib recurses once per level, so a file of a million ``[`` would reach
    Python's recursion limit: measured here, in one linear pass, instead.
    """
    deepest = depth = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif ch in "\"'":
            quote = ch * 3 if text.startswith(ch * 3, i) else ch
            i += len(quote)
            while i < n and not text.startswith(quote, i):
                i += 2 if ch == '"' and text[i] == "\\" else 1
            i += len(quote)
            continue
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(depth - 1, 0)
        i += 1
    return deepest


def parse_toml(text: str, origin: Path | None = None) -> dict[str, Any]:
    """Parse config text, refusing a huge or deeply nested one first; every fault is one line."""
    name = str(origin) if origin is not None else "config"
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{name}: {len(text)} characters is too big for a config file (at most {MAX_CONFIG_BYTES}): "
            f"give the kiosk's settings file, such as {reference_path().name}"
        )
    if _nesting(text) > MAX_CONFIG_NESTING:
        raise ConfigError(
            f"{name}: not valid here: lists or tables nested more than {MAX_CONFIG_NESTING} deep "
            "(heatcast's keys need at most 2)"
        )
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        detail = " ".join(str(exc).split())[: 4 * SHOWN_CHARS]
        raise ConfigError(f"{name}: not valid TOML: {detail}") from None
    except ValueError:  # tomllib's int() past Python's 4300-digit limit
        raise ConfigError(f"{name}: not valid: an integer with thousands of digits") from None
    except RecursionError:
        raise ConfigError(f"{name}: not valid TOML: nested too deeply") from None


_ENV_INT_RE = re.compile(r"-?[0-9]{1,30}")
_ENV_FLOAT_RE = re.compile(r"-?([0-9]{1,30}(\.[0-9]{0,30})?|\.[0-9]{1,30})([eE][-+]?[0-9]{1,4})?")
_ENV_TRUE = ("1", "true", "yes", "on")
_ENV_FALSE = ("0", "false", "no", "off")


def _env_value(name: str, key: str, text: str, sample: object) -> object:
    """Turn an environment string into the type the key takes, strictly.

    Python's int() and float() take Unicode digits ("١٨٢٢٧") and spaces
    (" 18228 "): a number here is plain ASCII digits, nothing around them.
    """

    def refuse(allowed: str) -> ConfigError:
        return ConfigError(
            f"environment variable {name} = {_show(text)} is not valid: {key} must be {allowed}"
        )

    section, _, short = key.rpartition(".")
    allowed = getattr(CHECKS[section][short], "allowed", "a number")
    if isinstance(sample, bool):
        if text.lower() in _ENV_TRUE:
            return True
        if text.lower() in _ENV_FALSE:
            return False
        raise refuse("true or false (also 1/0, yes/no, on/off), with nothing around it")
    if isinstance(sample, int):
        if not _ENV_INT_RE.fullmatch(text):
            raise refuse(f"{allowed}, in ASCII digits 0-9 with no spaces")
        return int(text)
    if isinstance(sample, float):
        if not _ENV_FLOAT_RE.fullmatch(text):
            raise refuse(f"{allowed}, in ASCII digits 0-9 (such as 2.5) with no spaces")
        return float(text)
    if isinstance(sample, tuple):
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def _samples() -> dict[str, dict[str, object]]:
    defaults = Config(data_dir=Path("/"))
    out: dict[str, dict[str, object]] = {"": {"data_dir": "", "log_level": ""}}
    for name in SECTIONS:
        section = getattr(defaults, name)
        out[name] = {f.name: getattr(section, f.name) for f in fields(section)}
    return out


def env_names() -> dict[str, str]:
    """Every config key's environment variable: ``HEATCAST_PAGE_PORT`` -> ``page.port``."""
    out = {f"{ENV_PREFIX}{k.upper()}": k for k in CHECKS[""]}
    for section in SECTIONS:
        out.update({f"{ENV_PREFIX}{section.upper()}_{k.upper()}": f"{section}.{k}" for k in CHECKS[section]})
    return out


def _unknown_env(name: str) -> ConfigError:
    # Compare what follows the prefix: every name shares "HEATCAST_", which would make any two look close.
    known = [known[len(ENV_PREFIX) :] for known in [*env_names(), *ENV_NOT_KEYS]]
    close = _did_you_mean(name[len(ENV_PREFIX) :].upper(), known)
    hint = close.replace("did you mean ", f"did you mean {ENV_PREFIX}")
    return ConfigError(
        f"environment variable {_show_name(name)} is not a heatcast setting{hint}: unset it; the "
        f"settings are {ENV_PREFIX}<SECTION>_<KEY> for the keys in {reference_path().name}, "
        f"and {', '.join(ENV_NOT_KEYS)}"
    )


def read_env(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """``HEATCAST_*`` variables as a TOML-shaped table, and which variable set each dotted key."""
    samples = _samples()
    keys = {name.upper(): dotted for name, dotted in env_names().items()}
    table: dict[str, Any] = {}
    names: dict[str, str] = {}
    for name, text in env.items():
        if not name.startswith(ENV_PREFIX) or name in ENV_NOT_KEYS:
            continue
        dotted = keys.get(name.upper())
        if dotted is None:
            raise _unknown_env(name)
        section, _, key = dotted.rpartition(".")
        value = _env_value(name, dotted, text, samples[section][key])
        if section:
            table.setdefault(section, {})[key] = value
        else:
            table[key] = value
        names[dotted] = name
    return table, names


def env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """``HEATCAST_<SECTION>_<KEY>`` variables as a TOML-shaped table."""
    return read_env(env)[0]


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        elif isinstance(value, dict) and key in merged:
            continue  # the file's "page = 3" is the fault to report, not hidden by an override
        else:
            merged[key] = value
    return merged


def find_config(explicit: Path | None, env: Mapping[str, str] | None = None) -> Path | None:
    """The file to read: ``explicit`` (which must exist), else the first that exists."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} not found: give an existing file to --config")
        return explicit
    for candidate in (user_config_path(env), SYSTEM_CONFIG_PATH):
        if candidate.is_file():
            return candidate
    return None


def load_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Find, read, override from the environment and check the configuration."""
    env = os.environ if env is None else env
    origin = find_config(path, env)
    data: dict[str, Any] = {}
    if origin is not None:
        try:
            with origin.open("rb") as file:
                raw = file.read(MAX_CONFIG_BYTES + 1)  # never hold more than the bound
        except OSError as exc:
            raise ConfigError(f"config file {origin}: cannot read: {exc.strerror or exc}") from None
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{origin}: more than {MAX_CONFIG_BYTES} bytes is too big for a config file: "
                f"give the kiosk's settings file, such as {reference_path().name}"
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{origin}: not UTF-8 text") from None
        data = parse_toml(text, origin)
    from_env, names = read_env(env)
    data = _merge(data, from_env)
    if overrides:
        data = _merge(data, overrides)
    config = config_from_dict(data, origin, names)
    if "data_dir" not in data:
        config = replace(config, data_dir=default_data_dir(env))
    return config


def load_config_text(text: str, *, env: Mapping[str, str] | None = None) -> Config:
    """Check TOML text as if it were the config file (tests and fuzzing)."""
    env = {} if env is None else env
    from_env, names = read_env(env)
    data = _merge(parse_toml(text), from_env)
    return config_from_dict(data, None, names)
