"""Tag-less mode: nfcpy's card emulation serving the URL as a Type 3 tag, read by nfcpy."""

from __future__ import annotations

import itertools

import nfc.clf
import nfc.tag.tt3
import pytest

from heatcast.nfc import fake
from heatcast.nfc.emulate import NdefType3Memory, TaglessService
from heatcast.nfc.writer import url_of

URL_A = "https://www.youtube.com/watch?v=aaaaaaaaaaa"
URL_B = "https://www.youtube.com/watch?v=bbbbbbbbbbb&list=" + "L" * 60
_n = itertools.count()


def read_as_phone(link: fake.RfLink) -> tuple[object, str | None]:
    clf = nfc.clf.ContactlessFrontend()
    clf.device = link.reader
    tag = clf.connect(
        rdwr={"targets": ["212F"], "on-connect": lambda tag: False, "iterations": 5, "interval": 0.1}
    )
    assert tag, "the emulated tag should be found"
    try:
        assert tag.ndef is not None
        return tag, url_of(tag.ndef.octets)
    finally:
        link.reader.mute()


def test_attribute_block():
    memory = NdefType3Memory(URL_B)
    head = memory.attribute_block()
    assert head[0] == 0x10 and head[10] == 0x00  # version 1.0, read-only
    assert int.from_bytes(head[11:14], "big") == len(memory.message)
    assert int.from_bytes(head[14:16], "big") == sum(head[:14])
    assert memory.read_block(memory.blocks + 1) is None


@pytest.mark.timeout(60)
def test_phone_reads_emulated_tag_and_url_changes():
    link = fake.RfLink()
    path = f"fake:link:t{next(_n)}"
    fake.register_device(path, link.card)
    service = TaglessService(path, listen_s=0.3)
    try:
        service.submit(URL_A)
        tag, url = read_as_phone(link)
        assert isinstance(tag, nfc.tag.tt3.Type3Tag)
        assert url == URL_A
        assert tag.ndef is not None and not tag.ndef.is_writeable
        service.submit(URL_B)
        _, url = read_as_phone(link)
        assert url == URL_B
        state = service.state()
        assert state.url == URL_B and state.verified and state.error is None
        assert service.reads >= 2
    finally:
        assert service.close(5.0)


def test_reader_without_card_emulation_is_reported(make_reader):
    path, _ = make_reader("NTAG213")  # the NTAG fake reader cannot listen
    service = TaglessService(path, listen_s=0.1, retry_s=0.05)
    try:
        service.submit(URL_A)
        for _ in range(100):
            if service.state().error:
                break
            service._closing.wait(0.05)
        assert "RC-S380" in (service.state().error or "")
    finally:
        assert service.close(5.0)
