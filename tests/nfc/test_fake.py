"""The fake reader answers nfcpy's real NTAG21x classes like the chips do."""

from __future__ import annotations

import nfc.tag.tt2
import nfc.tag.tt2_nxp
import pytest

from heatcast.nfc import fake


@pytest.mark.parametrize(
    ("product", "cls", "capacity"),
    [
        ("NTAG213", nfc.tag.tt2_nxp.NTAG213, 137),
        ("NTAG215", nfc.tag.tt2_nxp.NTAG215, 492),
        ("NTAG216", nfc.tag.tt2_nxp.NTAG216, 868),
        ("ULTRALIGHT", nfc.tag.tt2_nxp.MifareUltralight, 46),
    ],
)
def test_nfcpy_identifies_products(make_reader, phone, product, cls, capacity):
    _, reader = make_reader(product)
    tag = phone(reader)
    assert type(tag) is cls
    assert tag.identifier == reader.tag.uid
    assert tag.ndef is not None
    assert tag.ndef.capacity == capacity
    assert tag.ndef.is_writeable
    assert tag.ndef.octets == b""


def test_signature_and_hidden_password(make_reader, phone):
    _, reader = make_reader("NTAG215")
    tag = phone(reader)
    assert tag.signature == reader.tag.signature
    assert len(tag.signature) == 32
    cfg = tag.read(reader.tag.cfgpage)
    assert cfg[3] == 0xFF  # AUTH0: unprotected from the factory
    assert cfg[8:16] == bytes(8)  # PWD and PACK always read as zero
    assert reader.tag.pwd == b"\xff\xff\xff\xff"


def test_configuration_latched_at_activation(make_reader, phone):
    _, reader = make_reader("NTAG213")
    tag = phone(reader)
    cfg = reader.tag.cfgpage
    tag.write(cfg, bytes([0x04, 0x00, 0x00, 0x04]))  # AUTH0 = 4
    tag.write(4, b"\x03\x00\xfe\x00")  # still allowed: the old AUTH0 is latched
    assert reader.tag.page(4) == b"\x03\x00\xfe\x00"
    tag = phone(reader)  # a new activation latches AUTH0 = 4
    with pytest.raises(nfc.tag.tt2.Type2TagCommandError):
        tag.write(4, b"\x03\x00\xfe\x01")
    assert reader.tag.page(4) == b"\x03\x00\xfe\x00"
    assert reader.tag.muted  # a NAK leaves the tag silent
    tag = phone(reader)
    assert tag.authenticate(b"")  # factory password FFFFFFFF, PACK 0000
    assert tag.write(4, b"\x03\x00\xfe\x01")


def test_wrong_password_is_nak_and_silence(make_reader, phone):
    _, reader = make_reader("NTAG213")
    tag = phone(reader)
    assert not tag.authenticate(b"\x01\x02\x03\x04\x05\x06")
    assert reader.tag.muted
    assert not tag.is_present  # silent until activated again
    assert phone(reader).is_present


def test_lock_bits_and_otp(make_reader, phone):
    _, reader = make_reader("NTAG213")
    tag = phone(reader)
    tag.write(3, b"\x00\x00\x00\x0f")
    assert reader.tag.page(3) == bytes.fromhex("E110120F")  # one-time programmable: ORed in
    tag.write(2, b"\xff\xff\xf0\x00")  # lock pages 4..7
    assert reader.tag.page(2)[2:] == b"\xf0\x00"
    assert reader.tag.page(0) != b"\xff\xff\xff\xff"  # UID pages cannot change
    tag = phone(reader)
    with pytest.raises(nfc.tag.tt2.Type2TagCommandError):
        tag.write(5, b"\x01\x02\x03\x04")
    assert phone(reader).write(8, b"\x01\x02\x03\x04")


def test_tag_leaves_after_nth_write(make_reader, phone):
    _, reader = make_reader("NTAG215")
    reader.remove_after_writes(2)
    tag = phone(reader)
    assert tag.write(10, b"\x01\x01\x01\x01")
    assert tag.write(11, b"\x02\x02\x02\x02")
    with pytest.raises(nfc.tag.tt2.Type2TagCommandError):
        tag.write(12, b"\x03\x03\x03\x03")
    assert reader.tag.page_writes == 2
    assert reader.tag.page(12) == bytes(4)
    reader.tag.remove_after_writes = None
    reader.place(reader.tag)
    assert phone(reader).write(12, b"\x03\x03\x03\x03")


def test_unknown_command_silences_until_reactivation(make_reader, phone):
    _, reader = make_reader("NTAG213")
    tag = phone(reader)
    with pytest.raises(nfc.tag.tt2.Type2TagCommandError):
        tag.transceive(b"\x1a\x00", retries=0)
    with pytest.raises(nfc.tag.tt2.Type2TagCommandError):
        tag.transceive(b"\x30\x00", retries=0)
    assert len(phone(reader).read(0)) == 16


def test_unplugged_reader_raises_oserror(make_reader):
    path, reader = make_reader("NTAG213")
    device = fake.open_fake(path)
    assert device is not None
    reader.unplug()
    with pytest.raises(OSError):
        device.mute()
    assert fake.open_fake(path) is None
    reader.replug()
    replugged = fake.open_fake(path)
    assert replugged is not None
    with pytest.raises(OSError):
        device.mute()  # the old handle stays dead, as a real USB handle does


def test_bad_fake_path():
    with pytest.raises(ValueError, match="fake:TYPE"):
        fake.fake_reader("fake:ntag999")
