"""The kiosk configuration: reference file, search order, checks, environment, fuzzing."""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heatcast.errors import ConfigError, HeatcastError
from heatcast.firmware.config import (
    CHECKS,
    SECTIONS,
    Config,
    load_config,
    load_config_text,
    reference_path,
)


def test_reference_lists_every_key_with_its_default(tmp_path):
    reference = tomllib.loads(reference_path().read_text())
    defaults = Config(data_dir=Path("~/.local/share/heatcast").expanduser()).to_toml_dict()
    defaults["data_dir"] = "~/.local/share/heatcast"
    assert reference == defaults
    # ...and it loads as a config as it stands.
    config = load_config(reference_path(), env={"HOME": str(tmp_path)})
    assert config.data_dir == Path("~/.local/share/heatcast").expanduser()


def test_reference_documents_every_key_with_a_comment():
    lines = reference_path().read_text().splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            assert lines[i - 1].startswith("#"), f"no comment above {line!r}"


def test_checks_and_dataclasses_agree():
    for name, cls in SECTIONS.items():
        assert {f.name for f in fields(cls)} == set(CHECKS[name])


def test_search_order(tmp_path):
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    assert load_config(env=env).origin in (None, Path("/etc/heatcast/heatcast.toml"))
    user = tmp_path / "cfg" / "heatcast" / "heatcast.toml"
    user.parent.mkdir(parents=True)
    user.write_text("[page]\nport = 8123\n")
    config = load_config(env=env)
    assert config.origin == user and config.page.port == 8123
    explicit = tmp_path / "other.toml"
    explicit.write_text("[page]\nport = 8124\n")
    assert load_config(explicit, env=env).page.port == 8124


def test_missing_explicit_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_defaults_and_derived_paths(tmp_path):
    config = load_config_text(f'data_dir = "{tmp_path}"')
    assert config.page.host == "127.0.0.1" and config.page.port == 8080
    assert config.db_path == tmp_path / "content.db"
    assert config.decision.dwell_trigger_s == 5.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sensor]\nrotation = 90", r"unknown key sensor\.rotation \(did you mean sensor\.rotate\?\)"),
        ("[pgae]\nport = 1", r"unknown key pgae \(did you mean page\?\)"),
        ("dat_dir = '/x'", r"unknown key dat_dir \(did you mean data_dir\?\)"),
        ("[sensor]\nrotate = 45", r"sensor\.rotate = 45 is not valid: .* one of 0, 90, 180, 270"),
        ("[sensor]\nmirror = 'yes'", r"sensor\.mirror must be true or false, not a string"),
        ("[sensor]\nsource = 'webcam:0'", r"sensor\.source = 'webcam:0' is not valid: unknown frame source"),
        (
            "[page]\nport = 70000",
            r"page\.port = 70000 is not valid: page\.port must be an integer from 1 to 65535",
        ),
        ("[page]\nport = true", r"page\.port must be an integer"),
        ("[page]\nhost = 'not a host'", r"page\.host = 'not a host' is not valid"),
        ("[page]\nreader_position = 'above'", r"page\.reader_position = 'above' is not valid: .*'below'"),
        ("[page]\nshop_name = \"x\\u0007y\"", r"page\.shop_name = .* is not valid: .*on one line"),
        (f"[page]\nshop_name = '{'x' * 61}'", r"page\.shop_name = .* is not valid: .*at most 60"),
        ("[page]\nshop_name = 3", r"page\.shop_name must be the shop's name"),
        ("[decision]\nsettle_s = -1", r"decision\.settle_s = -1 is not valid"),
        ("[decision]\nsettle_s = nan", r"decision\.settle_s = nan is not valid"),
        ("[content]\nretention_days = 0", r"content\.retention_days = 0 is not valid"),
        ("[content]\nallow_domains = 'shop.example'", r"content\.allow_domains must be a list"),
        ("[content]\nallow_domains = ['https://x']", r"content\.allow_domains = 'https://x' is not valid"),
        ("[nfc]\ndevice = ''", r"nfc\.device = '' is not valid"),
        ("[model]\npath = '~no-such-user-here/m.tflite'", r"model\.path = .* is not valid: .*existing user"),
        ("log_level = 'loud'", r"log_level = 'loud' is not valid: .*'debug', 'info'"),
        ("sensor = 3", r"\[sensor\] must be a table"),
        ("[page\nport=1", r"not valid TOML"),
    ],
)
def test_bad_config_names_key_and_what_is_allowed(text, message):
    with pytest.raises(ConfigError, match=message):
        load_config_text(text)


def test_file_errors_name_the_file(tmp_path):
    path = tmp_path / "heatcast.toml"
    path.write_text("[page]\nport = 0\n")
    with pytest.raises(ConfigError, match=f"{path}: page.port = 0"):
        load_config(path, env={})
    path.write_bytes(b"\xff\xfe[page]")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path, env={})


def test_environment_overrides(tmp_path):
    path = tmp_path / "heatcast.toml"
    path.write_text("[page]\nport = 8123\n[nfc]\nprotect = true\n")
    env = {
        "HEATCAST_PAGE_PORT": "9001",
        "HEATCAST_NFC_PROTECT": "0",
        "HEATCAST_NFC_MIN_INTERVAL_S": "2.5",
        "HEATCAST_CONTENT_ALLOW_DOMAINS": "shop.example, other.example",
        "HEATCAST_DATA_DIR": str(tmp_path / "data"),
        "HEATCAST_SENSOR_SOURCE": "sim:?seed=3",
        "HEATCAST_NFC_SECRET": "not a key: the NFC secret itself",
        "HEATCAST_UNRELATED": "ignored",
    }
    config = load_config(path, env=env)
    assert config.page.port == 9001
    assert config.nfc.protect is False
    assert config.nfc.min_interval_s == 2.5
    assert config.content.allow_domains == ("shop.example", "other.example")
    assert config.data_dir == tmp_path / "data"
    assert config.sensor.source == "sim:?seed=3"


def test_environment_errors_name_the_variable():
    with pytest.raises(ConfigError, match=r"HEATCAST_PAGE_PROT: .*did you mean HEATCAST_PAGE_PORT"):
        load_config_text("", env={"HEATCAST_PAGE_PROT": "1"})
    with pytest.raises(ConfigError, match=r"page\.port must be an integer .* not a string \('eighty'\)"):
        load_config_text("", env={"HEATCAST_PAGE_PORT": "eighty"})


# -- fuzzing: any text or table is either a Config or one ConfigError ------------

KEYS = [k for keys in CHECKS.values() for k in keys] + ["rotation", "prot", "sorce"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["sim:", "i2c://1/0x69", "auto", "off", "usb", "127.0.0.1", "shop.example", "", "~"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
tables = st.dictionaries(
    st.sampled_from([*KEYS, *SECTIONS]) | st.text(max_size=8),
    values | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), values, max_size=4),
    max_size=6,
)


def _toml_value(value: object) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value).replace("inf", "inf").replace("nan", "nan")
    if isinstance(value, str):
        return (
            '"'
            + value.replace("\\", "\\\\")
            .replace('"', '\\"')
            .encode("unicode_escape")
            .decode()
            .replace("\\\\", "\\")
            + '"'
        )
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}" = {_toml_value(v)}' for k, v in value.items()) + "}"
    raise AssertionError(value)


def _outcome(make):
    try:
        config = make()
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message
        return None
    assert isinstance(config, Config)
    return config


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables)
def test_fuzz_tables(table):
    from heatcast.firmware.config import config_from_dict

    _outcome(lambda: config_from_dict(table))


@settings(max_examples=300, deadline=None)
@given(tables)
def test_fuzz_generated_toml(table):
    text = "\n".join(f'"{k}" = {_toml_value(v)}' for k, v in table.items())
    _outcome(lambda: load_config_text(text))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_fuzz_text(text):
    _outcome(lambda: load_config_text(text))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(reference_path().read_text().splitlines()), st.text(max_size=12), st.integers(0, 80))
def test_fuzz_mutated_reference(line, insert, where):
    base = reference_path().read_text()
    mutated = base.replace(line, line[:where] + insert + line[where:], 1)
    _outcome(lambda: load_config_text(mutated))


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [f"HEATCAST_{s.upper()}_{k.upper()}" for s in SECTIONS for k in CHECKS[s]]
            + ["HEATCAST_DATA_DIR", "HEATCAST_LOG_LEVEL", "HEATCAST_PAGE_X"]
        ),
        st.text(max_size=12),
        max_size=4,
    )
)
def test_fuzz_environment(env):
    try:
        load_config_text("", env=env)
    except HeatcastError as exc:
        assert isinstance(exc, ConfigError)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_fuzz_file_bytes(tmp_path, raw):
    path = tmp_path / "heatcast.toml"
    path.write_bytes(raw)
    _outcome(lambda: load_config(path, env={"HOME": str(tmp_path)}))
