"""The site secret: owner-only files, the environment, per-tag keys, never shown."""

from __future__ import annotations

import os

import pytest

from heatcast.errors import ConfigError
from heatcast.nfc.keys import SiteSecret, create_secret_file, load_secret, tag_key


def test_group_readable_file_refused_with_chmod_fix(tmp_path):
    path = tmp_path / "nfc-secret"
    path.write_text("0123456789abcdef0123456789abcdef\n")
    os.chmod(path, 0o640)
    with pytest.raises(ConfigError, match=f"chmod 600 {path}"):
        load_secret(path, env={})
    os.chmod(path, 0o604)
    with pytest.raises(ConfigError, match="readable by group or others"):
        load_secret(path, env={})
    os.chmod(path, 0o600)
    assert load_secret(path, env={}).value == b"0123456789abcdef0123456789abcdef"


def test_environment_and_default_file(tmp_path):
    env = {"HEATCAST_NFC_SECRET": "from-the-environment-1234"}
    assert load_secret(env=env).value == b"from-the-environment-1234"
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    with pytest.raises(ConfigError, match="heatcast nfc keygen"):
        load_secret(env=env)
    created = create_secret_file(tmp_path / "heatcast" / "nfc-secret")
    assert created.stat().st_mode & 0o777 == 0o600
    assert len(load_secret(env=env).value) == 64
    with pytest.raises(ConfigError, match="never overwritten"):
        create_secret_file(created)


def test_short_secret_refused():
    with pytest.raises(ConfigError, match="at least 16"):
        load_secret(env={"HEATCAST_NFC_SECRET": "short"})


def test_secret_never_shown():
    secret = SiteSecret(b"very-secret-value-0123", "test")
    assert "very-secret" not in repr(secret) and "very-secret" not in str(secret)


def test_per_tag_keys():
    uid1, uid2 = bytes.fromhex("04A1B2C3D4E5F6"), bytes.fromhex("04A1B2C3D4E5F7")
    k1 = tag_key(b"0123456789abcdef", uid1)
    assert len(k1) == 6 and k1 == tag_key(SiteSecret(b"0123456789abcdef", "x"), uid1)
    assert k1 != tag_key(b"0123456789abcdef", uid2)
    assert k1 != tag_key(b"0123456789abcdeX", uid1)
    assert k1[:4] != b"\xff\xff\xff\xff"
