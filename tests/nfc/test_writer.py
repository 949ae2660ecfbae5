"""TagWriter against nfcpy's real NTAG classes on the fake reader."""

from __future__ import annotations

import logging

import nfc.tag.tt2
import pytest

from heatcast.errors import ConfigError, HeatcastError, NfcError, UsageError
from heatcast.nfc.keys import tag_key
from heatcast.nfc.writer import (
    CapacityError,
    ReaderUnavailable,
    ReadOnlyTag,
    TagAbsent,
    TagWriteError,
    TagWriter,
    UnsupportedTag,
    WrongPassword,
    ndef_message,
    url_of,
)

URL_A = "https://www.youtube.com/watch?v=aaaaaaaaaaa"
URL_B = "https://www.youtube.com/watch?v=bbbbbbbbbbb&list=PLshop"


def test_first_write_protects_and_verifies(make_reader, phone, secret):
    path, reader = make_reader("NTAG213")
    report = TagWriter(path).write_url(URL_A, secret=secret)
    assert report.verified and report.changed and report.protected_now and report.protected
    assert report.url == URL_A
    assert report.page_writes == reader.tag.page_writes > 0
    chip = reader.tag
    assert chip.ndef_url() == URL_A
    assert chip.auth0 == 3  # protected from the capability container on
    assert chip.page(3)[3] == 0x08  # CC write access: proprietary, so phones see read-only
    assert chip.pwd + chip.pack == tag_key(secret, chip.uid)
    assert chip.page(2)[2:] == b"\0\0"  # no static lock bits
    assert chip.page(chip.user_end)[:3] == b"\0\0\0"  # no dynamic lock bits
    assert not chip.access & 0x40  # configuration not locked
    assert not reader.field_on  # field switched off afterwards for phones

    tag = phone(reader)  # phones still read it
    assert tag.ndef is not None and url_of(tag.ndef.octets) == URL_A
    assert not tag.ndef.is_writeable


def test_first_record_is_the_uri_record():
    import ndef

    records = list(ndef.message_decoder(ndef_message(URL_A)))
    assert isinstance(records[0], ndef.UriRecord) and records[0].iri == URL_A


def test_unchanged_url_costs_zero_page_writes(make_reader, secret):
    path, reader = make_reader("NTAG215")
    writer = TagWriter(path)
    writer.write_url(URL_A, secret=secret)
    before = reader.tag.page_writes
    report = writer.write_url(URL_A, secret=secret)
    assert report.verified and not report.changed
    assert report.page_writes == 0
    assert reader.tag.page_writes == before
    assert report.exchanges > 0  # it did look


def test_changed_url_writes_only_changed_pages(make_reader, secret):
    path, reader = make_reader("NTAG215")
    writer = TagWriter(path)
    writer.write_url(URL_A, secret=secret)
    report = writer.write_url(URL_B, secret=secret)
    assert report.verified and report.changed and not report.protected_now
    whole = (len(ndef_message(URL_B)) + 2 + 3) // 4 + 1  # every page of the TLV + the length page again
    assert 2 <= report.page_writes <= whole
    assert reader.tag.ndef_url() == URL_B
    assert reader.tag.history == ["", URL_A, "", URL_B]


def test_too_long_url_refused_with_sizes(make_reader, secret):
    path, reader = make_reader("NTAG213")
    url = "https://example.com/" + "x" * 150
    with pytest.raises(CapacityError) as info:
        TagWriter(path).write_url(url, secret=secret, protect=False)
    message = str(info.value)
    size = len(ndef_message(url))
    assert f"{len(url)} characters" in message and f"{size} bytes" in message
    assert "at most 137 bytes" in message and "NTAG215" in message
    assert reader.tag.page_writes == 0
    # the same URL fits an NTAG215
    path215, _ = make_reader("NTAG215")
    assert TagWriter(path215).write_url(url, secret=secret).verified


def test_wrong_password_refused(make_reader, secret):
    path, reader = make_reader("NTAG213")
    TagWriter(path).write_url(URL_A, secret=secret)
    writes = reader.tag.page_writes
    with pytest.raises(WrongPassword, match="does not match this site's secret"):
        TagWriter(path).write_url(URL_B, secret=b"some-other-site-secret-000000")
    assert reader.tag.ndef_url() == URL_A
    assert reader.tag.page_writes == writes


def test_protected_tag_without_secret_is_explained(make_reader, secret):
    path, _ = make_reader("NTAG213")
    TagWriter(path).write_url(URL_A, secret=secret)
    with pytest.raises(WrongPassword, match="password-protected"):
        TagWriter(path).write_url(URL_B, secret=None, protect=False)
    with pytest.raises(ConfigError, match="HEATCAST_NFC_SECRET"):
        TagWriter(path).write_url(URL_B, secret=None, protect=True)


def test_phone_cannot_rewrite_protected_tag(make_reader, phone, secret):
    import ndef

    path, reader = make_reader("NTAG215")
    TagWriter(path).write_url(URL_A, secret=secret)
    tag = phone(reader)
    assert tag.ndef is not None and not tag.ndef.is_writeable
    with pytest.raises(AttributeError):
        tag.ndef.records = [ndef.UriRecord("https://evil.example/")]
    for page in (3, 4, 5, reader.tag.cfgpage, reader.tag.cfgpage + 2):
        tag = phone(reader)
        with pytest.raises(nfc.tag.tt2.Type2TagCommandError):
            tag.write(page, b"\x03\x00\xfe\x00")
    # nor can it lock the tag for good with nfcpy's lock-bit protect
    tag = phone(reader)
    tag.protect()
    assert reader.tag.page(reader.tag.user_end)[:3] == b"\0\0\0"
    assert reader.tag.ndef_url() == URL_A
    assert reader.tag.auth0 == 3


def test_locked_tag_is_read_only(make_reader, phone, secret):
    path, reader = make_reader("NTAG213")
    TagWriter(path).write_url(URL_A, secret=secret, protect=False)
    assert phone(reader).protect() is True  # permanent lock bits, as a phone app could set
    with pytest.raises(ReadOnlyTag, match="permanently locked"):
        TagWriter(path).write_url(URL_B, secret=secret)
    assert reader.tag.ndef_url() == URL_A


def test_unsupported_tags(make_reader, secret):
    path, reader = make_reader("ULTRALIGHT")
    with pytest.raises(UnsupportedTag, match="cannot password-protect"):
        TagWriter(path).write_url(URL_A, secret=secret)
    assert reader.tag.page_writes == 0
    assert TagWriter(path).write_url("https://ex.am/p", protect=False).verified  # fine for development
    path, _ = make_reader("UNKNOWN")
    with pytest.raises(UnsupportedTag, match="NTAG213/215/216"):
        TagWriter(path).write_url(URL_A, secret=secret)


def test_no_tag_and_no_reader(make_reader, secret):
    path, reader = make_reader(None)
    with pytest.raises(TagAbsent, match="put the NTAG213/215/216 sticker on the reader"):
        TagWriter(path, connect_timeout=0.2).write_url(URL_A, secret=secret)
    path, reader = make_reader("NTAG213")
    reader.unplug()
    with pytest.raises(ReaderUnavailable, match="unplugged"):
        TagWriter(path).write_url(URL_A, secret=secret)


def test_bad_inputs_are_usage_errors():
    with pytest.raises(UsageError, match="not an nfcpy reader path"):
        TagWriter("serial:/dev/ttyUSB0")
    for url in ("", "no scheme here", "https://a b"):
        with pytest.raises(UsageError):
            ndef_message(url)


def test_errors_are_heatcast_and_oserrors():
    for cls in (CapacityError, ReadOnlyTag, TagAbsent, TagWriteError, UnsupportedTag, WrongPassword):
        assert issubclass(cls, NfcError) and issubclass(cls, HeatcastError) and issubclass(cls, OSError)


def test_keys_never_logged(make_reader, secret, caplog):
    path, reader = make_reader("NTAG213")
    caplog.set_level(logging.DEBUG - 1)
    writer = TagWriter(path)
    writer.write_url(URL_A, secret=secret)
    writer.write_url(URL_B, secret=secret)
    with pytest.raises(WrongPassword):
        writer.write_url(URL_A, secret=b"wrong-secret-wrong-secret-000")
    key = tag_key(secret, reader.tag.uid)
    text = "\n".join(r.getMessage() for r in caplog.records).lower()
    assert "1b" in text or "withheld" in text  # nfcpy did log the traffic...
    assert key[:4].hex() not in text  # ...but never the password
    assert key.hex() not in text
    assert secret.decode() not in text


def _update_sweep_positions(make_reader, secret) -> int:
    """Page writes needed to update URL_A -> URL_B on a protected NTAG213 (a dry run)."""
    path, _reader = make_reader("NTAG213")
    writer = TagWriter(path)
    writer.write_url(URL_A, secret=secret)
    return writer.write_url(URL_B, secret=secret).page_writes


def test_tag_pulled_away_at_every_write_position(make_reader, secret):
    total = _update_sweep_positions(make_reader, secret)
    assert total >= 3
    for k in range(total + 1):
        path, reader = make_reader("NTAG213")
        writer = TagWriter(path, connect_timeout=0.05)
        writer.write_url(URL_A, secret=secret)
        reader.remove_after_writes(k)
        with pytest.raises((TagWriteError, TagAbsent)) as info:
            writer.write_url(URL_B, secret=secret)
        assert "previous URL or no message" in str(info.value) or k == 0
        chip = reader.tag
        held = chip.ndef_url()
        assert held in (URL_A, URL_B, ""), f"garbage after {k} writes: {held!r}"
        assert set(chip.history) <= {URL_A, URL_B, ""}, chip.history
        if k < 1:
            assert held == URL_A
        # the tag comes back: the retry verifies
        chip.remove_after_writes = None
        reader.place(chip)
        report = writer.write_url(URL_B, secret=secret)
        assert report.verified and chip.ndef_url() == URL_B
        assert chip.auth0 == 3 and chip.pwd + chip.pack == tag_key(secret, chip.uid)


def test_tag_pulled_away_while_being_protected(make_reader, secret):
    path, reader = make_reader("NTAG213")
    total = TagWriter(path).write_url(URL_A, secret=secret).page_writes
    for k in range(total + 1):
        path, reader = make_reader("NTAG213")
        writer = TagWriter(path, connect_timeout=0.05)
        reader.remove_after_writes(k)
        try:
            writer.write_url(URL_A, secret=secret)
        except (TagWriteError, TagAbsent):
            pass
        chip = reader.tag
        assert set(chip.history) <= {URL_A, ""}
        chip.remove_after_writes = None
        reader.place(chip)
        report = writer.write_url(URL_A, secret=secret)  # finishes a half-set password too
        assert report.verified and report.protected
        assert chip.auth0 == 3 and chip.page(3)[3] == 0x08
        assert chip.pwd + chip.pack == tag_key(secret, chip.uid)
        assert TagWriter(path).write_url(URL_A, secret=secret).page_writes == 0


def test_dynamic_lock_bits_and_block_lock_bits(make_reader, phone, secret):
    path, reader = make_reader("NTAG215")
    TagWriter(path).write_url(URL_A, secret=secret, protect=False)
    phone(reader).write(2, b"\0\0\x07\x00")  # block-lock bits only: pages stay writable
    assert TagWriter(path).write_url(URL_B, secret=secret, protect=False).verified
    phone(reader).write(reader.tag.user_end, b"\x01\x00\x00\x00")  # locks pages 16..31
    with pytest.raises(ReadOnlyTag, match="permanently locked"):
        TagWriter(path).write_url(URL_A, secret=secret, protect=False)
    assert reader.tag.ndef_url() == URL_B


def test_static_lock_bits_below_auth0_are_reported(make_reader, phone, secret):
    # AUTH0 = 3 leaves page 2 (static lock bits) writable without the password, as on the
    # chip: a vandal can freeze the tag at its current URL but never change it.
    path, reader = make_reader("NTAG213")
    TagWriter(path).write_url(URL_A, secret=secret)
    phone(reader).write(2, b"\0\0\xf8\xff")
    with pytest.raises(ReadOnlyTag, match="replace the sticker"):
        TagWriter(path).write_url(URL_B, secret=secret)
    assert reader.tag.ndef_url() == URL_A


def test_a_torn_first_protection_is_read_as_incomplete_not_as_a_wrong_password(make_reader, secret):
    path, reader = make_reader("NTAG213")
    writer = TagWriter(path, connect_timeout=0.05)
    notes: set[str] = set()
    total = TagWriter(make_reader("NTAG213")[0]).write_url(URL_A, secret=secret).page_writes
    for k in range(1, total):
        path, reader = make_reader("NTAG213")
        writer = TagWriter(path, connect_timeout=0.05)
        reader.remove_after_writes(k)
        try:
            writer.write_url(URL_A, secret=secret)
        except (TagWriteError, TagAbsent):
            pass
        reader.tag.remove_after_writes = None
        reader.place(reader.tag)
        report = TagWriter(path).read(secret=secret)
        notes |= set(report.notes)
        assert not any("wrong password" in n for n in report.notes), (k, report.notes)
        assert writer.write_url(URL_A, secret=secret).verified  # and the next write mends it
    assert any("protection incomplete" in n for n in notes)
