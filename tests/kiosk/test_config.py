"""The kiosk configuration: reference file, search order, checks, environment, fuzzing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heatcast.errors import ConfigError, HeatcastError
from heatcast.firmware.config import (
    CHECKS,
    ENV_NOT_KEYS,
    MAX_CONFIG_BYTES,
    SECTIONS,
    Config,
    env_names,
    load_config,
    load_config_text,
    reference_path,
)

REPO = Path(__file__).resolve().parents[2]
#: One error line stays short whatever the input: a value is quoted cut to 60 characters.
MAX_LINE = 600


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
        ("[chooser]\nreward = 'clicks'", r"chooser\.reward = 'clicks' is not valid: .*'attention', 'taps'"),
        ("[nfc]\ncount_every_s = -1", r"nfc\.count_every_s = -1 is not valid"),
        ('[page]\nshop_name = "x\\u0007y"', r"page\.shop_name = .* is not valid: .*on one line"),
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
        "HEATCAST_I2C_FACTORY": "fake",
        "HEATCAST_FUZZ_EXAMPLES": "5000",
        "NOT_HEATCAST_FOO": "not ours",
    }
    config = load_config(path, env=env)
    assert config.page.port == 9001
    assert config.nfc.protect is False
    assert config.nfc.min_interval_s == 2.5
    assert config.content.allow_domains == ("shop.example", "other.example")
    assert config.data_dir == tmp_path / "data"
    assert config.sensor.source == "sim:?seed=3"


def test_environment_errors_name_the_variable():
    with pytest.raises(
        ConfigError,
        match=r"HEATCAST_PAGE_PROT is not a heatcast setting \(did you mean HEATCAST_PAGE_PORT\?\)",
    ):
        load_config_text("", env={"HEATCAST_PAGE_PROT": "1"})
    with pytest.raises(
        ConfigError, match=r"HEATCAST_PAGE_PORT = 'eighty' is not valid: page\.port must be an integer"
    ):
        load_config_text("", env={"HEATCAST_PAGE_PORT": "eighty"})


# -- hostile values: one bounded line that names the source ------------------------


def _one_line(exc: pytest.ExceptionInfo[ConfigError]) -> str:
    message = str(exc.value)
    assert message and "\n" not in message and "\r" not in message
    assert len(message) <= MAX_LINE, f"{len(message)} characters: {message[:200]}"
    return message


def test_unknown_environment_variables_are_refused_like_unknown_keys():
    with pytest.raises(ConfigError) as exc:
        load_config_text("", env={"HEATCAST_FOO": "1"})
    assert "environment variable HEATCAST_FOO is not a heatcast setting: unset it" in _one_line(exc)
    with pytest.raises(
        ConfigError, match=r"HEATCAST_DECISION_SETTLE .*did you mean HEATCAST_DECISION_SETTLE_S\?"
    ):
        load_config_text("", env={"HEATCAST_DECISION_SETTLE": "1"})
    with pytest.raises(ConfigError, match=r"HEATCAST_NFC_SECRT .*did you mean HEATCAST_NFC_SECRET\?"):
        load_config_text("", env={"HEATCAST_NFC_SECRT": "x"})
    # ...while the documented ones that are not keys pass, and their values are never read here.
    load_config_text("", env=dict.fromkeys(ENV_NOT_KEYS, "\x00" * 100))


def test_every_heatcast_variable_read_anywhere_is_a_key_or_listed():
    """grep the code: a HEATCAST_* name read somewhere must be a key's variable or in ENV_NOT_KEYS."""
    known = set(env_names()) | set(ENV_NOT_KEYS)
    found: dict[str, Path] = {}
    for path in REPO.rglob("*.py"):
        parts = set(path.relative_to(REPO).parts)
        if parts & {".venv", ".git", "build", ".hypothesis"} or path.name == "test_config.py":
            continue  # this file spells wrong names on purpose
        for name in re.findall(r"HEATCAST_[A-Z0-9_]*[A-Z0-9]", path.read_text(errors="replace")):
            found.setdefault(name, path)
    stray = {name: str(path) for name, path in found.items() if name not in known}
    assert not stray, f"add these to ENV_NOT_KEYS (and README's Configuration) or make them keys: {stray}"


def test_readme_documents_the_variables_that_are_not_keys():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    for name in ENV_NOT_KEYS:
        assert name in section, f"README's Configuration section does not mention {name}"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("HEATCAST_PAGE_PORT", "\u0661\u0668\u0662\u0662\u0667"),  # Arabic-Indic 18227
        ("HEATCAST_PAGE_PORT", "\uff11\uff18\uff12\uff12\uff19"),  # fullwidth 18229
        ("HEATCAST_PAGE_PORT", " 18228 "),
        ("HEATCAST_PAGE_PORT", "18228\n"),
        ("HEATCAST_PAGE_PORT", "+18228"),
        ("HEATCAST_PAGE_PORT", "18_228"),
        ("HEATCAST_PAGE_PORT", "0x4734"),
        ("HEATCAST_PAGE_PORT", "18228.0"),
        ("HEATCAST_PAGE_PORT", "1" * 5000),
        ("HEATCAST_PANEL_PORT", "\u0968\u0966\u0968\u0966"),  # Devanagari
        ("HEATCAST_CONTENT_RETENTION_DAYS", "\u0669\u0660"),
        ("HEATCAST_DECISION_SETTLE_S", "\u0661.5"),
        ("HEATCAST_DECISION_SETTLE_S", " 2.5"),
        ("HEATCAST_DECISION_SETTLE_S", "nan"),
        ("HEATCAST_DECISION_SETTLE_S", "infinity"),
        ("HEATCAST_DECISION_SETTLE_S", "2,5"),
        ("HEATCAST_NFC_MIN_INTERVAL_S", "\uff15"),
        ("HEATCAST_NFC_PROTECT", " 1"),
        ("HEATCAST_NFC_PROTECT", "\u0661"),
    ],
)
def test_environment_numbers_are_ascii_only(name, text):
    with pytest.raises(ConfigError) as exc:
        load_config_text("", env={name: text})
    message = _one_line(exc)
    assert message.startswith(f"environment variable {name} ")
    assert "ASCII" in message or "true or false" in message


def test_environment_numbers_that_are_fine():
    config = load_config_text(
        "",
        env={
            "HEATCAST_PAGE_PORT": "18228",
            "HEATCAST_DECISION_SETTLE_S": ".5",
            "HEATCAST_NFC_PROTECT": "Off",
        },
    )
    assert (config.page.port, config.decision.settle_s, config.nfc.protect) == (18228, 0.5, False)


def test_environment_errors_blame_the_variable_not_the_file(tmp_path):
    path = tmp_path / "base.toml"
    path.write_text("[page]\nport = 8123\n")
    for text in ("abc", "70000", ""):
        with pytest.raises(ConfigError) as exc:
            load_config(path, env={"HEATCAST_PAGE_PORT": text})
        message = _one_line(exc)
        assert message.startswith("environment variable HEATCAST_PAGE_PORT"), message
        assert "base.toml" not in message
    with pytest.raises(ConfigError) as exc:
        load_config(path, env={"HEATCAST_SENSOR_SOURCE": "webcam:0"})
    assert _one_line(exc).startswith(
        "environment variable HEATCAST_SENSOR_SOURCE: sensor.source = 'webcam:0'"
    )
    # A fault in the file still names the file, though a variable set a neighbouring key.
    path.write_text("[page]\nport = 0\n")
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: page.port = 0"):
        load_config(path, env={"HEATCAST_PAGE_HOST": "0.0.0.0"})
    # ...and a file's "page = 3" is reported, not hidden by HEATCAST_PAGE_PORT.
    path.write_text("page = 3\n")
    with pytest.raises(ConfigError, match=r"\[page\] must be a table"):
        load_config(path, env={"HEATCAST_PAGE_PORT": "8080"})


STRING_KEYS = [(s, k) for s, keys in CHECKS.items() for k in keys]


@pytest.mark.parametrize(("section", "key"), STRING_KEYS)
def test_long_values_are_quoted_cut_short(tmp_path, section, key):
    long = "a" * 900_000  # under the file bound, so each checker sees it
    text = (f"[{section}]\n" if section else "") + f'{key} = "{long}"\n'
    path = tmp_path / "heatcast.toml"
    path.write_text(text)
    try:
        load_config(path, env={})
    except ConfigError as error:
        message = str(error)
        assert "\n" not in message and len(message) <= MAX_LINE, message[:200]
        assert "'" + "a" * 60 + "\u2026' (900000 characters)" in message or "900000" not in message
    # The same 10 MB from the environment.
    name = f"HEATCAST_{section.upper()}_{key.upper()}" if section else f"HEATCAST_{key.upper()}"
    try:
        load_config_text("", env={name: "a" * 10 * 1024 * 1024})
    except ConfigError as error:
        message = str(error)
        assert "\n" not in message and len(message) <= MAX_LINE, message[:200]
        assert message.startswith(f"environment variable {name}")
        assert "'" + "a" * 60 + "\u2026' (10485760 characters)" in message


def test_long_key_names_are_cut_short():
    for text in (f'"{"k" * 500_000}" = 1', f'[page]\n"{"k" * 500_000}" = 1', f'["{"s" * 500_000}"]'):
        with pytest.raises(ConfigError) as exc:
            load_config_text(text)
        assert "unknown key" in _one_line(exc)
    with pytest.raises(ConfigError) as exc:
        load_config_text("", env={"HEATCAST_" + "X" * 1_000_000: "1"})
    assert "characters) is not a heatcast setting" in _one_line(exc)


def test_huge_config_file_is_refused_before_parsing(tmp_path, monkeypatch):
    def no_parse(text: str) -> object:
        raise AssertionError("parsed")

    monkeypatch.setattr(tomllib, "loads", no_parse)
    path = tmp_path / "heatcast.toml"
    path.write_text("# " + "x" * MAX_CONFIG_BYTES + "\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path, env={})
    assert _one_line(exc).startswith(f"{path}: more than {MAX_CONFIG_BYTES} bytes is too big")
    with pytest.raises(ConfigError, match="too big for a config file"):
        load_config_text("#" * (MAX_CONFIG_BYTES + 1))


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 100_000,
        "a = " + "[" * 11 + "]" * 11,
        "a = " + "{b = " * 50_000,
        "[page]\nport = " + "[{x = " * 20,
    ],
)
def test_deep_nesting_is_refused_before_parsing(text, monkeypatch):
    def no_parse(text: str) -> object:
        raise AssertionError("parsed")

    monkeypatch.setattr(tomllib, "loads", no_parse)
    with pytest.raises(ConfigError) as exc:
        load_config_text(text)
    assert "nested more than 10 deep" in _one_line(exc)


def test_brackets_in_strings_and_comments_are_not_nesting():
    text = (
        '# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n[page]\nshop_name = "[[[[[[[[[[[[[[[[[[[[[[[["\n'
        "reader_position = '[[[[[[[[[[[[[[[[[[[[[[[[[[[' # {{{{{{{{{{{{{{{{{\n"
        '[sensor]\nsource = """[[[[[[[[[[[[[[\\"""[[[[[[[[[[[[[["""\n'
    )
    with pytest.raises(ConfigError, match=r"page\.reader_position = '\[\[\[.* is not valid"):
        load_config_text(text)
    config = load_config_text(
        text.replace("reader_position = '[[[[[[[[[[[[[[[[[[[[[[[[[[['", "").replace(
            '"""[[[[[[[[[[[[[[\\"""[[[[[[[[[[[[[["""', '"sim:"'
        )
    )
    assert config.page.shop_name == "[" * 24


@pytest.mark.parametrize(
    "text",
    [
        "[page]\nport = 1" + "0" * 5000,  # past Python's 4300-digit int limit: tomllib raises ValueError
        "[page]\nport = 1" + "0" * 100,
        "[decision]\nsettle_s = 1e999999",
        "[decision]\nsettle_s = " + "9" * 4000,
        "[page\nport = 1",
        "[page]\nport = \u0661",  # TOML itself wants ASCII digits
        "[page]\nport = '\u0661\u0668\u0662\u0662\u0667'",  # a string is not converted
        "[sensor]\nsource = 'sim:?seed=\u0663'",  # ...nor a source's option
        "[sensor]\nsource = 'i2c://1/0x69?fps=\uff11\uff10'",
    ],
)
def test_hostile_numbers_in_the_file_give_one_line(text):
    with pytest.raises(ConfigError) as exc:
        load_config_text(text)
    _one_line(exc)


def _heatcast(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HEATCAST_", "XDG_"))}
    clean.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "cfg"), **env)
    return subprocess.run(
        [str(Path(sys.executable).with_name("heatcast")), *args],
        capture_output=True,
        text=True,
        env=clean,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("body", "env", "expect"),
    [
        ("[page]\nshop_name = '" + "a" * 500_000 + "'\n", {}, "(500000 characters)"),
        ("# " + "x" * (MAX_CONFIG_BYTES + 10) + "\n", {}, "too big for a config file"),
        ("a = " + "[" * 100_000 + "\n", {}, "nested more than 10 deep"),
        ("[page]\nport = 1" + "0" * 5000 + "\n", {}, "an integer with thousands of digits"),
        (
            "[page]\nport = 8123\n",
            {"HEATCAST_PAGE_PORT": "abc"},
            "environment variable HEATCAST_PAGE_PORT = 'abc'",
        ),
        ("[page]\nport = 8123\n", {"HEATCAST_PAGE_PORT": "\uff11\uff18\uff12\uff12\uff19"}, "ASCII digits"),
        ("[page]\nport = 8123\n", {"HEATCAST_FOO": "1"}, "HEATCAST_FOO is not a heatcast setting"),
    ],
)
def test_cli_run_gives_one_line_and_exit_2(tmp_path, body, env, expect):
    path = tmp_path / "base.toml"
    path.write_text(body)
    result = _heatcast(tmp_path, "run", "--config", str(path), **env)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("heatcast: error: "), result.stderr[:2000]
    assert expect in lines[0] and len(lines[0]) <= MAX_LINE + 20
    assert "Traceback" not in result.stderr and not result.stdout
    if env:
        assert "base.toml" not in lines[0]


def test_cli_doctor_names_the_variable(tmp_path):
    path = tmp_path / "base.toml"
    path.write_text("[page]\nport = 8123\n")
    result = _heatcast(tmp_path, "doctor", "--config", str(path), "--json", HEATCAST_PAGE_PORT=" 18228 ")
    assert "Traceback" not in result.stderr and result.returncode != 0
    import json

    check = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "config")
    assert check["ok"] is False
    assert check["detail"].startswith("environment variable HEATCAST_PAGE_PORT = ' 18228 ' is not valid")


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


# -- fuzzing the hostile shapes: huge integers, Unicode digits, long strings, deep nesting --

ENV_KEYS = sorted(env_names().items())
unicode_digits = st.text(
    st.characters(categories=["Nd", "No", "Zs"]) | st.sampled_from("0123456789.-+e "), max_size=12
)
huge_numbers = st.integers(1, 6000).map(lambda n: "1" + "0" * n)
long_text = st.integers(61, 200_000).map(lambda n: "x" * n)


def _bounded_error(make: Callable[[], Config], source: str) -> Config | None:
    try:
        return make()
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) <= MAX_LINE, message[:300]
        assert source in message, message[:300]
        return None


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ENV_KEYS), unicode_digits | huge_numbers | long_text)
def test_fuzz_environment_hostile_values(key, text):
    name, dotted = key
    config = _bounded_error(lambda: load_config_text("", env={name: text}), f"environment variable {name}")
    section, _, short = dotted.rpartition(".")
    value = getattr(getattr(config, section) if section else config, short) if config else None
    if config is not None and isinstance(value, int | float) and not isinstance(value, bool):
        # Accepted as a number only when written in plain ASCII.
        assert text.isascii() and text.strip() == text and text, repr(text)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([(s, k) for s, keys in CHECKS.items() for k in keys]),
    huge_numbers
    | unicode_digits.map(lambda t: f'"{t}"')
    | long_text.map(lambda t: f'"{t}"')
    | st.integers(1, 5000).map(lambda n: "[" * n + "]" * n)
    | st.integers(1, 5000).map(lambda n: "{a = " * n + "1" + "}" * n),
)
def test_fuzz_file_hostile_values(key, literal):
    section, name = key
    text = (f"[{section}]\n" if section else "") + f"{name} = {literal}\n"
    _bounded_error(lambda: load_config_text(text), "")


def test_security_md_names_only_tests_that_exist():
    """SECURITY.md's probe table names a test for each probe held: each must exist."""
    named = 0
    for line in (REPO / "SECURITY.md").read_text().splitlines():
        current = None
        for match in re.finditer(r"`(tests/[\w/]+\.py)::(\w+)`|`::(\w+)`", line):
            current = match.group(1) or current
            assert current is not None, line
            name = match.group(2) or match.group(3)
            assert re.search(rf"^(async )?def {name}\(", (REPO / current).read_text(), re.M), (current, name)
            named += 1
    assert named >= 40
